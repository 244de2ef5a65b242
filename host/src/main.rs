//! The `veles` command-line tool (its modules are in `cli/`).

mod cli;

fn main() {
    cli::main()
}
