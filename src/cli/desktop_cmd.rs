//! `install-desktop`: puts the workbench in the desktop's application menu (freedesktop.org
//! desktops: GNOME, KDE, Xfce…) by writing a desktop entry and the icon under the user's data
//! folder; `--uninstall` removes exactly those two files.
//!
//! Both files are written atomically (temporary sibling, then rename) and carry a mark (a key
//! in the entry, a PNG text chunk in the icon), so a file at either place that this command did
//! not write is never replaced or removed without `--force`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use mnist_workbench::fsutil::{atomic_write, read_capped};

/// The desktop entry shipped in the repository (for packagers); its `Exec` line is rewritten
/// to the running program's path on install.
const DESKTOP_TEMPLATE: &str = include_str!("../../assets/mnist-workbench.desktop");
/// The 256×256 icon (drawn by assets/make_icon.py).
const ICON_PNG: &[u8] = include_bytes!("../../assets/mnist-workbench.png");
/// The line added to the installed entry that marks it as this command's.
const DESKTOP_MARK: &str = "X-MNIST-Workbench-Installed-By=mnist-workbench install-desktop";
/// The PNG text chunk (type, keyword, NUL, text) that marks the icon as the workbench's.
const ICON_MARK: &[u8] = b"tEXtSoftware\0mnist-workbench";
/// Where the entry goes, under the prefix.
const DESKTOP_FILE: &str = "applications/mnist-workbench.desktop";
/// Where the icon goes, under the prefix (the hicolor theme every desktop falls back to).
const ICON_FILE: &str = "icons/hicolor/256x256/apps/mnist-workbench.png";
/// No file of ours is larger: anything bigger is someone else's and is not read whole.
const MAX_OURS: u64 = 1 << 20;

/// Flags of `install-desktop`.
#[derive(Debug, Args)]
pub struct InstallDesktopArgs {
    /// Folder to install under: the entry goes to DIR/applications/, the icon to
    /// DIR/icons/hicolor/256x256/apps/; default: the user's data folder ($XDG_DATA_HOME, else
    /// ~/.local/share).
    #[arg(long, value_name = "DIR")]
    prefix: Option<PathBuf>,
    /// Replace (with --uninstall: remove) a file at either place that this command did not
    /// write.
    #[arg(long)]
    force: bool,
    /// Remove the entry and the icon written by an earlier install-desktop.
    #[arg(long)]
    uninstall: bool,
}

/// What is at one of the two places.
enum Found {
    /// Nothing.
    Missing,
    /// A file this command wrote, with its bytes.
    Ours(Vec<u8>),
    /// Something else; the words say what.
    Foreign(String),
}

/// Runs `install-desktop`.
pub fn run(a: InstallDesktopArgs) -> anyhow::Result<()> {
    let into_the_menu = a.prefix.is_none();
    let prefix = match a.prefix {
        Some(p) => p,
        None => dirs::data_dir()
            .context("no user data folder (neither $XDG_DATA_HOME nor a home folder); give --prefix DIR")?,
    };
    if prefix.exists() && !prefix.is_dir() {
        bail!("--prefix {} is a file; give a folder", prefix.display());
    }
    let desktop = prefix.join(DESKTOP_FILE);
    let icon = prefix.join(ICON_FILE);
    if a.uninstall {
        return uninstall(&[desktop, icon], a.force);
    }
    let exe = std::env::current_exe().context("cannot find the running program's path")?;
    let entry = desktop_entry(&exe)?;
    install(&[(desktop, entry.as_bytes()), (icon, ICON_PNG)], a.force)?;
    if into_the_menu {
        println!(
            "MNIST Workbench is in the application menu now (some desktops list it only after the \
             next login); `mnist-workbench install-desktop --uninstall` takes it out"
        );
    } else {
        // A prefix the desktop may not read (a staging folder, a package's root): the files
        // are written (each said above), but the menu may not have them.
        println!(
            "a desktop lists MNIST Workbench when {0} is one of its data folders \
             ($XDG_DATA_DIRS); `mnist-workbench install-desktop --prefix {0} --uninstall` takes \
             it out",
            prefix.display()
        );
    }
    Ok(())
}

/// Writes each `(path, bytes)`; checks every place first, so a refusal writes nothing.
fn install(files: &[(PathBuf, &[u8])], force: bool) -> anyhow::Result<()> {
    let mut found = Vec::with_capacity(files.len());
    for (path, _) in files {
        let f = inspect(path)?;
        if let Found::Foreign(what) = &f
            && !force
        {
            bail!(
                "{} {what}; not replacing it (nothing was written; --force replaces it)",
                path.display()
            );
        }
        found.push(f);
    }
    for ((path, bytes), f) in files.iter().zip(found) {
        if matches!(&f, Found::Ours(old) if old == bytes) {
            println!("unchanged {}", path.display());
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        atomic_write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Removes each path that holds a file of ours (any file with `force`); checks every place
/// first, so a refusal removes nothing.
fn uninstall(paths: &[PathBuf], force: bool) -> anyhow::Result<()> {
    let mut found = Vec::with_capacity(paths.len());
    for path in paths {
        let f = inspect(path)?;
        if let Found::Foreign(what) = &f
            && !force
        {
            bail!(
                "{} {what}; not removing it (nothing was removed; --force removes it)",
                path.display()
            );
        }
        found.push(f);
    }
    for (path, f) in paths.iter().zip(found) {
        if matches!(f, Found::Missing) {
            println!("not there {}", path.display());
            continue;
        }
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
        println!("removed {}", path.display());
    }
    Ok(())
}

/// What is at `path`: nothing, a file of ours (by its mark), or something else. Never follows
/// a symbolic link and never reads a special file or a large one.
fn inspect(path: &Path) -> anyhow::Result<Found> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => bail!("cannot look at {}: {e}", path.display()),
    };
    if meta.file_type().is_symlink() {
        return Ok(Found::Foreign("is a symbolic link".into()));
    }
    if meta.is_dir() {
        return Ok(Found::Foreign("is a folder".into()));
    }
    if !meta.is_file() {
        return Ok(Found::Foreign("is not a plain file".into()));
    }
    if meta.len() > MAX_OURS {
        return Ok(Found::Foreign("is not one this command wrote (too large)".into()));
    }
    let bytes = read_capped(path, MAX_OURS).with_context(|| format!("cannot read {}", path.display()))?;
    let ours = if path.extension().is_some_and(|e| e == "png") {
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.windows(ICON_MARK.len()).any(|w| w == ICON_MARK)
    } else {
        String::from_utf8_lossy(&bytes)
            .lines()
            .any(|l| l.trim_end() == DESKTOP_MARK)
    };
    Ok(if ours {
        Found::Ours(bytes)
    } else {
        Found::Foreign("is not one this command wrote".into())
    })
}

/// The shipped entry with `Exec` running `exe`, plus the mark.
fn desktop_entry(exe: &Path) -> anyhow::Result<String> {
    let program = exec_quote(exe)?;
    let mut out = String::with_capacity(DESKTOP_TEMPLATE.len() + 200);
    for line in DESKTOP_TEMPLATE.lines() {
        if line.starts_with("Exec=") {
            out.push_str(&format!("Exec={program} app\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(DESKTOP_MARK);
    out.push('\n');
    Ok(out)
}

/// Characters the desktop entry specification reserves in `Exec`: an argument holding any of
/// them must be quoted.
const RESERVED: &[char] = &[
    ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(', ')', '`',
];

/// `path` as the program of a desktop entry's `Exec` value (desktop entry specification 1.4,
/// "The Exec key"): `%` doubled (a literal percent sign, not a field code); a path holding a
/// reserved character is put in double quotes, inside which `"`, `` ` ``, `$` and `\` take a
/// backslash; then every backslash is doubled, since `Exec` is also a string value whose own
/// escape rule applies first when it is read. A path that is not UTF-8, holds a control
/// character or an `=` (which the program of `Exec` may not contain) is refused, naming it.
fn exec_quote(path: &Path) -> anyhow::Result<String> {
    let Some(text) = path.to_str() else {
        bail!(
            "the program's path {} is not UTF-8, which a desktop entry cannot hold; move the \
             program and run install-desktop again",
            path.display()
        );
    };
    if text.chars().any(char::is_control) {
        bail!(
            "the program's path {text:?} holds a control character, which a desktop entry's Exec \
             cannot hold; move the program and run install-desktop again"
        );
    }
    if text.contains('=') {
        bail!(
            "the program's path {text} holds an '=', which a desktop entry's Exec may not hold \
             in the program; move the program and run install-desktop again"
        );
    }
    let text = text.replace('%', "%%");
    if !text.contains(RESERVED) {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    out.push('"');
    for c in text.chars() {
        match c {
            // Quoting rule `\\` → string rule `\\\\`; quoting rule `\"` → string rule `\\"`.
            '\\' => out.push_str("\\\\\\\\"),
            '"' | '`' | '$' => {
                out.push_str("\\\\");
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a desktop reads back from an `Exec` value's first argument: the string escape rule
    /// (`\\` → `\`), then the quoting rule, then `%%` → `%`.
    fn unquote(exec: &str) -> String {
        let mut string = String::new();
        let mut chars = exec.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('s') => string.push(' '),
                    Some(n) => string.push(n),
                    None => string.push('\\'),
                }
            } else {
                string.push(c);
            }
        }
        let mut out = String::new();
        if let Some(inner) = string.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
        } else {
            out = string;
        }
        out.replace("%%", "%")
    }

    #[test]
    fn a_plain_path_is_left_as_it_is() {
        let q = exec_quote(Path::new("/home/ada/.cargo/bin/mnist-workbench")).unwrap();
        assert_eq!(q, "/home/ada/.cargo/bin/mnist-workbench");
    }

    #[test]
    fn a_path_with_a_space_and_a_quote_is_quoted_and_escaped() {
        let path = "/opt/my apps/ada\"s/mnist-workbench";
        let q = exec_quote(Path::new(path)).unwrap();
        assert_eq!(q, r#""/opt/my apps/ada\\"s/mnist-workbench""#);
        assert_eq!(unquote(&q), path);
    }

    #[test]
    fn backslash_dollar_backtick_and_percent_survive_the_round_trip() {
        for path in [
            r"/tmp/back\slash/mnist-workbench",
            "/tmp/$HOME/mnist-workbench",
            "/tmp/`id`/mnist-workbench",
            "/tmp/100%/mnist-workbench",
            "/tmp/50% off (new)/it's/mnist-workbench",
        ] {
            let q = exec_quote(Path::new(path)).unwrap();
            assert_eq!(unquote(&q), path, "{path} quoted as {q}");
        }
        assert_eq!(exec_quote(Path::new("/tmp/100%/x")).unwrap(), "/tmp/100%%/x");
        assert_eq!(exec_quote(Path::new(r"/a b/\x")).unwrap(), r#""/a b/\\\\x""#);
    }

    #[test]
    fn paths_a_desktop_entry_cannot_hold_are_refused_naming_them() {
        let e = exec_quote(Path::new("/tmp/a=b/mnist-workbench")).unwrap_err();
        assert!(e.to_string().contains("/tmp/a=b/mnist-workbench"), "{e}");
        let e = exec_quote(Path::new("/tmp/new\nline/mnist-workbench")).unwrap_err();
        assert!(e.to_string().contains("control character"), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt as _;
            let bad = std::ffi::OsStr::from_bytes(b"/tmp/\xff/mnist-workbench");
            let e = exec_quote(Path::new(bad)).unwrap_err();
            assert!(e.to_string().contains("not UTF-8"), "{e}");
        }
    }

    #[test]
    fn the_entry_runs_the_program_and_carries_the_mark() {
        let entry = desktop_entry(Path::new("/opt/mw/mnist-workbench")).unwrap();
        let exec: Vec<&str> = entry.lines().filter(|l| l.starts_with("Exec=")).collect();
        assert_eq!(exec, ["Exec=/opt/mw/mnist-workbench app"]);
        assert!(entry.lines().any(|l| l == DESKTOP_MARK));
        assert!(
            !DESKTOP_TEMPLATE.contains(DESKTOP_MARK),
            "the shipped entry is not an installed one"
        );
    }

    #[test]
    fn the_shipped_icon_carries_the_mark() {
        assert!(ICON_PNG.windows(ICON_MARK.len()).any(|w| w == ICON_MARK));
    }
}
