//! The platform, outside storage: CPU features, cache hints, cores and threads. Storage's
//! platform code is in [`crate::region`]; nothing else in the crate asks the platform anything.
//!
//! Nothing here reads the environment: choices a user makes (threads, kernels, traversal) are
//! [`crate::Options`] fields, which a host may fill from its environment.

/// True when the CPU runs AVX2 (x86-64; probed once, a fact of the hardware).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    // 0 = not probed yet, 1 = no, 2 = yes.
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let yes = std::is_x86_feature_detected!("avx2");
            STATE.store(1 + yes as u8, Ordering::Relaxed);
            yes
        }
        s => s == 2,
    }
}

/// A hint that `bytes[at..]` is about to be read: a prefetch on x86-64; in WebAssembly (no
/// prefetch instruction) a load of the byte whose value is dropped; nothing elsewhere.
#[inline]
pub(crate) fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at..) {
        // SAFETY: a prefetch is a hint; the address is inside the slice.
        unsafe {
            std::arch::x86_64::_mm_prefetch(b.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0)
        };
    }
    #[cfg(target_family = "wasm")]
    if let Some(b) = bytes.get(at) {
        // SAFETY: a read of a byte inside the slice.
        unsafe { core::ptr::read_volatile(b) };
    }
    #[cfg(not(any(target_arch = "x86_64", target_family = "wasm")))]
    let _ = (bytes, at);
}

/// A hint that `bytes[range]` is about to be read: every cache line it touches (the first
/// only, in WebAssembly).
#[inline(always)]
pub(crate) fn prefetch_range(bytes: &[u8], range: std::ops::Range<usize>) {
    // WebAssembly: the first line only. A load waits where a prefetch would not, so touching
    // every line of a row costs more than it saves; the first line (with the row's header)
    // starts the miss, and the hardware's stream prefetch follows the rest.
    #[cfg(target_family = "wasm")]
    if !range.is_empty() {
        return prefetch(bytes, range.start);
    }
    // Lines are aligned in memory, not in the slice: step by address.
    let base = bytes.as_ptr() as usize;
    let end = base + range.end.min(bytes.len());
    let mut line = (base + range.start) & !63;
    while line < end {
        prefetch(bytes, line.saturating_sub(base).max(range.start));
        line += 64;
    }
}

/// A hint that all of `bytes[range]` will be read soon, where a prefetch does not wait: every
/// line it touches natively, nothing in WebAssembly (whose only prefetch is a load).
#[inline(always)]
pub(crate) fn prefetch_range_native(bytes: &[u8], range: std::ops::Range<usize>) {
    #[cfg(not(target_family = "wasm"))]
    prefetch_range(bytes, range);
    #[cfg(target_family = "wasm")]
    let _ = (bytes, range);
}

/// `f` for each of `items` (fewer than eight), in order, shaped for the target. In
/// WebAssembly without a loop (a four, then a match on what is left): the host's compiler
/// checks its deadline at every loop back-edge, which costs more than a short loop's work.
/// Natively a loop, whose one exit branch predicts better than that match on a length that
/// varies call to call.
#[inline(always)]
pub(crate) fn for_each_few<T: Copy>(items: &[T], mut f: impl FnMut(T)) {
    debug_assert!(items.len() < 8);
    if cfg!(target_family = "wasm") {
        let mut rest = items;
        if let Some((four, after)) = rest.split_first_chunk::<4>() {
            four.iter().for_each(|&x| f(x));
            rest = after;
        }
        match *rest {
            [a, b, c] => [a, b, c].into_iter().for_each(f),
            [a, b] => [a, b].into_iter().for_each(f),
            [a] => f(a),
            _ => {}
        }
    } else {
        items.iter().for_each(|&x| f(x));
    }
}

/// The threads a parallel step may use when the caller did not choose: every core natively,
/// one in WebAssembly (the component has no threads).
pub(crate) fn cores() -> usize {
    if cfg!(target_family = "wasm") {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f(i)` for `i` in `0..n`, in order, on up to `threads` threads. Items are handed out from
/// a shared counter as they are done (their costs differ: a node's level, a busy core), so no
/// thread idles while another has a backlog; each thread has its own `S`, the calling thread
/// uses `scratch`. The result depends only on `f`, never on the threads.
pub(crate) fn par_map<T: Send, S: Default>(
    n: usize,
    threads: usize,
    scratch: &mut S,
    f: impl Fn(usize, &mut S) -> T + Sync,
) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    if threads <= 1 || n < 2 || cfg!(target_family = "wasm") {
        return (0..n).map(|i| f(i, scratch)).collect();
    }
    // Items are handed out in runs of `run`: one at a time when there are few (each is then
    // a large piece of work, and a thread left holding a long run would finish late), more
    // when there are many small ones, where one shared counter per item would bounce its
    // cache line between the cores at every item.
    let run = (n / (threads * 256)).max(1);
    let next = AtomicUsize::new(0);
    let work = |s: &mut S| {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(run, Ordering::Relaxed);
            if start >= n {
                return done;
            }
            for i in start..(start + run).min(n) {
                done.push((i, f(i, s)));
            }
        }
    };
    let work = &work;
    let parts = std::thread::scope(|sc| {
        let rest: Vec<_> = (1..threads.min(n))
            .map(|_| sc.spawn(move || work(&mut S::default())))
            .collect();
        let mut parts = vec![work(scratch)];
        for part in rest {
            // A panic in `f` is a bug; it propagates as it would on one thread.
            parts.push(part.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        parts
    });
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for (i, t) in parts.into_iter().flatten() {
        out[i] = Some(t);
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::par_map;

    #[test]
    fn par_map_returns_every_result_in_order_on_any_number_of_threads() {
        let serial: Vec<u64> = (0..10_000u64).map(|i| i * i).collect();
        for threads in [1, 2, 3, 8] {
            // 10,000: items handed out in runs of more than one.
            for n in [0usize, 1, 2, 7, 1000, 10_000] {
                let mut scratch = 0u32;
                let got = par_map(n, threads, &mut scratch, |i, s: &mut u32| {
                    *s += 1;
                    // Uneven costs, so threads finish out of order.
                    if i % 97 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    (i as u64) * (i as u64)
                });
                assert_eq!(got, serial[..n], "{threads} threads, {n} items");
            }
        }
    }
}
