//! SplitMix64: the crate's one small seeded generator (graph levels, the crash simulator's
//! choices, the test kit). The same seed gives the same sequence on every target.

/// Advances `state` and returns the next value.
pub(crate) fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in `0..n` (`n > 0`) from one value of [`next`].
pub(crate) fn below(state: &mut u64, n: u64) -> u64 {
    ((next(state) as u128 * n as u128) >> 64) as u64
}
