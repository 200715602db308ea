//! `mnist-workbench`: without a subcommand it opens the desktop workbench; every subcommand
//! is in `cli/`.

mod cli;

use clap::Parser;

/// mimalloc keeps freed pages mapped for reuse: every training step allocates and frees the
/// same large buffers, which glibc's allocator hands back to the kernel and faults in again
/// (measured: about a fifth of an epoch's time in page faults and TLB shootdowns without it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
