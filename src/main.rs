//! The `oobgate` command: serve the bastion, and operate it locally.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
