// The writer's lock on `<dir>/LOCK`, held the way every Veles host holds it: an exclusive
// advisory flock, released when the process exits (so a crashed writer never blocks the next).
// Node has no flock of its own: util-linux's flock(1) takes it and holds it while its stdin
// stays open. Readers take none (they read beside the writer).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { VelesError } from './convert.js';

/**
 * Resolves to a function that releases the lock and returns a promise of its release (the
 * helper's exit); rejects with kind 'locked' when another process or handle holds it.
 */
export function lockDirectory(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['-xn', '-E', '75', join(dir, 'LOCK'),
      'sh', '-c', 'echo held; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.on('error', (e) => reject(new VelesError('io',
      `cannot lock ${dir}: flock(1) from util-linux is needed for a writer (${e.message}); open it read-only instead`)));
    child.stdout.once('data', () => {
      child.unref();
      child.stdout.destroy();
      const released = new Promise((done) => child.once('exit', done));
      resolve(() => {
        // Held while the program waits for the release.
        child.ref();
        child.stdin.end();
        return released;
      });
    });
    child.once('exit', (code) => reject(code === 75
      ? new VelesError('locked', `database '${dir}' is already open (its lock is held by another handle)`)
      : new VelesError('io', `cannot lock ${dir}: flock exited with ${code}`)));
  });
}
