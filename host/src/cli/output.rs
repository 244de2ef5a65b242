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

/// A refusal the CLI itself makes, with the kind `--json` reports for it (a WIT error
/// variant's name, as the engine's own refusals have): a database or point that is not there
/// is `not-found`, a file that cannot be read is `io`.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(kind: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// The refusal for a directory that holds no database: `not-found` either way, and the
/// message says whether the directory is there at all.
pub(crate) fn no_database(dir: &std::path::Path) -> Refusal {
    let message = match dir.exists() {
        true => format!("{} is not a veles database", dir.display()),
        false => format!("{} does not exist", dir.display()),
    };
    Refusal::new(
        "not-found",
        format!("{message} (make one with `veles create`)"),
    )
}
