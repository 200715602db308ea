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
    give_mesa_a_runtime_dir();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Mesa's Vulkan drivers, probed when `auto` looks for a GPU, print "XDG_RUNTIME_DIR is
/// invalid" on headless machines without one. Give them a private folder of their own.
fn give_mesa_a_runtime_dir() {
    let valid = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if valid {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mnist-workbench-runtime-{}", std::process::id()));
    let made = std::fs::create_dir_all(&dir).and_then(|()| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    });
    if made.is_ok() {
        // SAFETY: called first thing in `main`, before any other thread exists, so nothing
        // reads the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("XDG_RUNTIME_DIR", &dir)
        };
    }
}
