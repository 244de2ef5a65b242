// Debian's Chromium under playwright-core, as the browser tests and the browser benchmark
// start it: headless, with a profile of their own (OPFS persists in it across reloads).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export async function missing() {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm ci --prefix js)';
  }
  return undefined;
}

/**
 * A browser context with a fresh profile (`close()` also removes it), or with `profile`, a
 * directory the caller keeps (to start the browser again on the same OPFS).
 */
export async function launch({ profile: kept } = {}) {
  const { chromium } = await import('playwright-core');
  const profile = kept ?? mkdtempSync(join(tmpdir(), 'veles-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    profile,
    async close() {
      await context.close();
      if (!kept) rmSync(profile, { recursive: true, force: true });
    },
  };
}
