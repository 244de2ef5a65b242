//! Progress on stderr for long work: one bar style, hidden under `--json` or when stderr is
//! not a terminal (indicatif's default), and the graph's catch-up shown in steps.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use veles_host::backend::{Backend, HostResult};

/// Points linked per `optimize` call while a bar is shown: each call is short, so the bar
/// keeps moving (and a component call stays far from its deadline).
pub const LINK_STEP: u32 = 1024;

/// A bar over `len` units with `template` (indicatif's syntax), hidden when `hidden`.
pub fn bar(len: u64, template: &str, hidden: bool) -> ProgressBar {
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(len).with_style(style);
    if hidden {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

/// A bar counting units with rate and time left.
pub fn counter(len: u64, what: &str, hidden: bool) -> ProgressBar {
    bar(
        len,
        &format!("{what} {{bar:30}} {{pos}}/{{len}} {{msg}} ({{per_sec}}, {{eta}} left)"),
        hidden,
    )
}

/// A spinner that ticks on its own while one long call runs (a check, a compaction, a
/// copy), with the time so far.
pub fn spinner(msg: String, hidden: bool) -> ProgressBar {
    let bar = self::bar(0, "{spinner} {msg} ({elapsed})", hidden);
    bar.set_message(msg);
    if !hidden {
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
    }
    bar
}

/// Links every point of `name` waiting for the graph, in steps, saying so in `bar`'s
/// message (`prefix` first). Returns how many were linked.
pub fn catch_up(
    db: &mut dyn Backend,
    name: &str,
    bar: &ProgressBar,
    prefix: &str,
) -> HostResult<u64> {
    let waiting = db.optimize(name, Some(0))?;
    let mut left = waiting;
    while left > 0 {
        bar.set_message(format!("{prefix}linking {left} points into the graph"));
        left = db.optimize(name, Some(LINK_STEP))?;
    }
    Ok(waiting)
}
