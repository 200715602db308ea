//! `mnist-workbench`: without a subcommand it opens the desktop workbench; every subcommand
//! is in `cli/`.

mod cli;

/// mimalloc keeps freed pages mapped for reuse: every training step allocates and frees the
/// same large buffers, which glibc's allocator hands back to the kernel and faults in again
/// (measured: about a fifth of an epoch's time in page faults and TLB shootdowns without it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mnist_workbench::panics::install_hook();
    mnist_workbench::burn_settings::ignore_setting_files();
    let own_runtime_dir = give_mesa_a_runtime_dir();
    let args = cli::Cli::try_parse_args().unwrap_or_else(|e| {
        if e.kind() == clap::error::ErrorKind::InvalidUtf8
            && let Some(message) = name_the_non_utf8_argument()
        {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
        e.exit()
    });
    if args.serves() {
        quiet_burn_server_log();
    }
    let code = match mnist_workbench::panics::catch(|| cli::run(args)) {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
        // The reader of a pipe (`… | head`) has gone: stop without a word, as Unix tools do
        // (128 + SIGPIPE).
        Err(panic) if panic.message.starts_with("failed printing to stdout") => std::process::ExitCode::from(141),
        Err(panic) => {
            eprintln!("error: internal error: {}", panic.with_location());
            std::process::ExitCode::FAILURE
        }
    };
    if let Some(dir) = own_runtime_dir {
        let _ignored = std::fs::remove_dir_all(dir);
    }
    code
}

/// clap says only "invalid UTF-8 was detected in one or more arguments": find the argument,
/// and the flag it belongs to, so the message names them.
fn name_the_non_utf8_argument() -> Option<String> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let at = args.iter().position(|a| a.to_str().is_none())?;
    let shown = args[at].to_string_lossy().into_owned();
    let (flag, value) = match shown.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (Some(flag.to_string()), value.to_string()),
        _ => (
            at.checked_sub(1).and_then(|i| args[i].to_str()).filter(|a| a.starts_with('-')).map(String::from),
            shown.clone(),
        ),
    };
    Some(match flag {
        Some(flag) => format!("{flag}: the value {value:?} is not valid UTF-8 text"),
        None => format!("argument {at} ({shown:?}) is not valid UTF-8 text"),
    })
}

/// Mesa's Vulkan drivers, probed when `auto` looks for a GPU, print "XDG_RUNTIME_DIR is
/// invalid" on headless machines without one. Give them a private folder: one per user
/// (`mnist-workbench-runtime-<uid>` in the temporary folder, reused by every run, taken only
/// when it is this user's own real folder with mode 0700), else one for this process, which
/// is removed again on exit (the returned path).
fn give_mesa_a_runtime_dir() -> Option<std::path::PathBuf> {
    let valid = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if valid {
        return None;
    }
    let (dir, remove_on_exit) = match per_user_runtime_dir() {
        Some(dir) => (dir, false),
        None => {
            let dir = std::env::temp_dir().join(format!("mnist-workbench-runtime-pid{}", std::process::id()));
            if private_folder(&dir).is_err() {
                return None;
            }
            (dir, true)
        }
    };
    // SAFETY: called first thing in `main`, before any other thread exists, so nothing
    // reads the environment concurrently.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("XDG_RUNTIME_DIR", &dir)
    };
    remove_on_exit.then_some(dir)
}

/// burn's server logs through `RUST_LOG`, `info` when it is unset: a colour-coded "Server
/// started" naming `serve`'s internal port (not the one clients dial, which `serve` announces
/// itself), and a warning after every session a client ends without a closing handshake,
/// which is how every session of a finished run ends. `serve` logs who connects and why a
/// session ended on its own, so burn's own log keeps to errors unless `RUST_LOG` asks for more.
fn quiet_burn_server_log() {
    if std::env::var_os("RUST_LOG").is_some() {
        return;
    }
    // SAFETY: called from `main` before any thread is started (only argument parsing and the
    // runtime folder came before), so nothing reads the environment concurrently.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("RUST_LOG", "warn,burn_remote=error,burn_communication=error")
    };
}

/// `mnist-workbench-runtime-<uid>` under the temporary folder, made if missing; `None` when
/// it cannot be had safely (another user's folder, a link, a file, wider permissions).
#[cfg(unix)]
fn per_user_runtime_dir() -> Option<std::path::PathBuf> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let dir = std::env::temp_dir().join(format!("mnist-workbench-runtime-{uid}"));
    if std::fs::symlink_metadata(&dir).is_err() {
        // Another process may make it at the same moment; the checks below decide.
        let _ignored = private_folder(&dir);
    }
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let ours = meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0;
    ours.then_some(dir)
}

#[cfg(not(unix))]
fn per_user_runtime_dir() -> Option<std::path::PathBuf> {
    None
}

/// Creates `dir` readable by this user only.
fn private_folder(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
