//! The platform, outside storage: CPU features, cache hints, cores and threads. Storage's
//! platform code is in [`crate::region`]; nothing else in the crate asks the platform anything.
//!
//! Nothing here reads the environment: choices a user makes (threads, kernels, traversal) are
//! [`crate::Options`] fields, which a host may fill from its environment.

/// True when the CPU runs AVX2 (x86-64; probed once, a fact of the hardware).
#[cfg(target_arch = "x86_64")]
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

/// A hint that `bytes[at..]` is about to be read (x86-64; nothing elsewhere).
#[inline]
pub(crate) fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at..) {
        // SAFETY: a prefetch is a hint; the address is inside the slice.
        unsafe {
            std::arch::x86_64::_mm_prefetch(b.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

/// The threads a parallel step may use when the caller did not choose: every core natively,
/// one in WebAssembly (the component has no threads).
pub(crate) fn cores() -> usize {
    if cfg!(target_family = "wasm") {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f(i)` for `i` in `0..n`, in order, on up to `threads` threads (contiguous shares; each
/// thread has its own `S`, the calling thread uses `scratch`).
pub(crate) fn par_map<T: Send, S: Default>(
    n: usize,
    threads: usize,
    scratch: &mut S,
    f: impl Fn(usize, &mut S) -> T + Sync,
) -> Vec<T> {
    if threads <= 1 || n < 2 || cfg!(target_family = "wasm") {
        return (0..n).map(|i| f(i, scratch)).collect();
    }
    let per = n.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let rest: Vec<_> = (1..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut own = S::default();
                    (t * per..((t + 1) * per).min(n))
                        .map(|i| f(i, &mut own))
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        let mut out: Vec<T> = (0..per.min(n)).map(|i| f(i, scratch)).collect();
        for part in rest {
            // A panic in `f` is a bug; it propagates as it would on one thread.
            out.extend(part.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}
