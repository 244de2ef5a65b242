//! Printing for the CLI.

/// `println!` that returns an error instead of panicking when stdout is closed or full
/// (`veles info | head -1`, `> /dev/full`); the CLI ends quietly on a closed pipe.
macro_rules! out {
    () => {{
        use std::io::Write as _;
        writeln!(std::io::stdout())?
    }};
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($t)*)?
    }};
}

pub(crate) use out;
