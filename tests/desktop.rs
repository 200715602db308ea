//! The workbench installs like a desktop app (issue 26, point 3): `install-desktop` writes a
//! desktop entry that runs this very program and the icon under a prefix, does it again
//! without change, refuses to replace or remove a file it did not write unless `--force`
//! (leaving it byte for byte), and `--uninstall` removes exactly its two files. The shipped
//! entry and every installed one pass `desktop-file-validate` with nothing to say.
//!
//! The validator check is `ignored` in a plain `cargo test --release` (it needs
//! desktop-file-utils); `.ci/run` installs that and runs it with `--include-ignored`, where a
//! missing validator fails, saying to install it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DESKTOP: &str = "applications/mnist-workbench.desktop";
const ICON: &str = "icons/hicolor/256x256/apps/mnist-workbench.png";

/// Runs the program at `exe` with `args`, without a display.
fn run_exe(exe: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args).env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary starts")
}

/// Runs the test build of the binary.
fn cli(args: &[&str]) -> Output {
    run_exe(Path::new(env!("CARGO_BIN_EXE_mnist-workbench")), args, &[])
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `install-desktop --prefix PREFIX` plus `extra`; asserts success, returns stdout.
fn install_ok(exe: &Path, prefix: &Path, extra: &[&str]) -> String {
    let mut args = vec!["install-desktop", "--prefix", prefix.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run_exe(exe, &args, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

/// `install-desktop --prefix PREFIX` plus `extra`; asserts failure, returns stderr.
fn install_refused(prefix: &Path, extra: &[&str]) -> String {
    let mut args = vec!["install-desktop", "--prefix", prefix.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = cli(&args);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{args:?} succeeded:\n{stdout}\n{stderr}");
    stderr
}

/// Runs `desktop-file-validate` on `path`; fails unless it passes with no output at all (no
/// error, warning or hint). A missing validator fails the test, saying what to install.
fn validate(path: &Path) {
    let out = match Command::new("desktop-file-validate").arg(path).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "desktop-file-validate is not installed: install desktop-file-utils \
             (apt-get install desktop-file-utils; .ci/run does) to check the desktop entry"
        ),
        Err(e) => panic!("cannot run desktop-file-validate: {e}"),
    };
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "desktop-file-validate {}:\n{stdout}{stderr}",
        path.display()
    );
}

/// The `Exec=` lines of a desktop entry.
fn exec_lines(entry: &Path) -> Vec<String> {
    std::fs::read_to_string(entry)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("Exec="))
        .map(str::to_owned)
        .collect()
}

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_shipped_entry_validates_and_names_the_window_and_icon() {
    let entry = manifest("assets/mnist-workbench.desktop");
    let text = std::fs::read_to_string(&entry).unwrap();
    for line in [
        "Type=Application",
        "Name=MNIST Workbench",
        "Icon=mnist-workbench",
        "Terminal=false",
        // The app id the window sets (src/ui/mod.rs, APP_ID).
        "StartupWMClass=mnist-workbench",
        "Exec=mnist-workbench app",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in {}",
            entry.display()
        );
    }
}

#[test]
fn the_shipped_icon_is_a_256_pixel_square_with_transparent_corners() {
    let bytes = std::fs::read(manifest("assets/mnist-workbench.png")).unwrap();
    let icon = image::load_from_memory(&bytes).unwrap().to_rgba8();
    assert_eq!(icon.dimensions(), (256, 256));
    assert_eq!(
        icon.get_pixel(0, 0)[3],
        0,
        "the corners outside the rounded square are clear"
    );
    assert_eq!(icon.get_pixel(128, 128)[3], 255, "the middle is opaque");
}

#[test]
fn install_is_idempotent_refuses_foreign_files_and_uninstalls_exactly_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("share dir");
    let exe = Path::new(env!("CARGO_BIN_EXE_mnist-workbench"));
    let desktop = prefix.join(DESKTOP);
    let icon = prefix.join(ICON);

    // First install: both files, announced.
    let stdout = install_ok(exe, &prefix, &[]);
    for path in [&desktop, &icon] {
        assert!(path.is_file(), "{} missing after install", path.display());
        assert!(
            stdout.contains(&format!("wrote {}", path.display())),
            "install does not say it wrote {}:\n{stdout}",
            path.display()
        );
    }
    assert_eq!(
        std::fs::read(&icon).unwrap(),
        std::fs::read(manifest("assets/mnist-workbench.png")).unwrap()
    );
    let program = std::fs::canonicalize(exe).unwrap();
    assert_eq!(
        exec_lines(&desktop),
        [format!("Exec={} app", program.display())],
        "the entry runs this program"
    );

    // Again: nothing changes.
    let entry_before = std::fs::read(&desktop).unwrap();
    let stdout = install_ok(exe, &prefix, &[]);
    assert_eq!(stdout.matches("unchanged ").count(), 2, "{stdout}");
    assert_eq!(std::fs::read(&desktop).unwrap(), entry_before);

    // A foreign entry is refused, named, kept byte for byte; the icon is not touched either.
    let foreign = b"[Desktop Entry]\nType=Application\nName=Someone else's\nExec=true\n".to_vec();
    std::fs::write(&desktop, &foreign).unwrap();
    std::fs::remove_file(&icon).unwrap();
    let stderr = install_refused(&prefix, &[]);
    assert!(
        stderr.contains(&desktop.display().to_string()) && stderr.contains("--force"),
        "the refusal names the file and --force:\n{stderr}"
    );
    assert_eq!(std::fs::read(&desktop).unwrap(), foreign);
    assert!(!icon.exists(), "a refused install writes nothing");
    // …and so is a foreign icon (a PNG without the workbench's mark).
    let other_png = {
        let mut png = Vec::new();
        image::RgbaImage::new(4, 4)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    };
    std::fs::write(&icon, &other_png).unwrap();
    std::fs::remove_file(&desktop).unwrap();
    let stderr = install_refused(&prefix, &[]);
    assert!(stderr.contains(&icon.display().to_string()), "{stderr}");
    assert_eq!(std::fs::read(&icon).unwrap(), other_png);
    assert!(!desktop.exists());
    // Uninstall refuses it too.
    let stderr = install_refused(&prefix, &["--uninstall"]);
    assert!(stderr.contains(&icon.display().to_string()), "{stderr}");
    assert_eq!(std::fs::read(&icon).unwrap(), other_png);

    // --force replaces it.
    install_ok(exe, &prefix, &["--force"]);
    assert_eq!(
        std::fs::read(&icon).unwrap(),
        std::fs::read(manifest("assets/mnist-workbench.png")).unwrap()
    );

    // --uninstall removes exactly the two files, leaving everything else.
    let neighbour = prefix.join("applications/other.desktop");
    std::fs::write(&neighbour, "keep me").unwrap();
    let stdout = install_ok(exe, &prefix, &["--uninstall"]);
    for path in [&desktop, &icon] {
        assert!(!path.exists(), "{} left after --uninstall", path.display());
        assert!(
            stdout.contains(&format!("removed {}", path.display())),
            "{stdout}"
        );
    }
    assert_eq!(std::fs::read_to_string(&neighbour).unwrap(), "keep me");
    // Uninstalling again is fine.
    let stdout = install_ok(exe, &prefix, &["--uninstall"]);
    assert_eq!(stdout.matches("not there ").count(), 2, "{stdout}");
}

#[test]
fn a_prefix_that_is_a_file_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let stderr = install_refused(&file, &[]);
    assert!(
        stderr.contains(&file.display().to_string()) && stderr.contains("--prefix"),
        "{stderr}"
    );
}

/// Without `--prefix`, the user's data folder: `$XDG_DATA_HOME` where it is set.
#[cfg(target_os = "linux")]
#[test]
fn the_default_prefix_is_the_users_data_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_mnist-workbench"));
    let out = run_exe(exe, &["install-desktop"], &[("XDG_DATA_HOME", tmp.path())]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(tmp.path().join(DESKTOP).is_file() && tmp.path().join(ICON).is_file());
    let out = run_exe(
        exe,
        &["install-desktop", "--uninstall"],
        &[("XDG_DATA_HOME", tmp.path())],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!tmp.path().join(DESKTOP).exists() && !tmp.path().join(ICON).exists());
}

/// A program whose path holds a space and quotes gets an `Exec` quoted by the desktop entry
/// rules, which the validator accepts. The binary is linked (or copied) to such a path.
#[cfg(unix)]
/// Installs a hard link (or copy) of the program from a folder named `it's a "test"` into a
/// fresh prefix; returns the scratch folder (kept alive), the folder and the entry's path.
fn install_from_quoted_path() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = scratch.path().join("it's a \"test\"");
    std::fs::create_dir(&dir).unwrap();
    let exe = dir.join("mnist-workbench");
    let original = env!("CARGO_BIN_EXE_mnist-workbench");
    if std::fs::hard_link(original, &exe).is_err() {
        std::fs::copy(original, &exe).unwrap();
    }
    let prefix = scratch.path().join("prefix");
    install_ok(&exe, &prefix, &[]);
    let desktop = prefix.join(DESKTOP);
    (scratch, dir, desktop)
}

#[test]
fn a_program_path_with_a_space_and_quotes_is_quoted_in_exec() {
    let (_scratch, dir, desktop) = install_from_quoted_path();
    let canonical = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(
        exec_lines(&desktop),
        [format!(
            r#"Exec="{}/it's a \\"test\\"/mnist-workbench" app"#,
            canonical.parent().unwrap().display()
        )]
    );
}

#[test]
#[ignore = "needs desktop-file-validate (apt-get install desktop-file-utils; .ci/run installs it): cargo test --release -- --include-ignored"]
fn the_shipped_and_installed_entries_pass_desktop_file_validate() {
    validate(&manifest("assets/mnist-workbench.desktop"));
    let (_scratch, _, desktop) = install_from_quoted_path();
    validate(&desktop);
    let prefix = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    install_ok(Path::new(env!("CARGO_BIN_EXE_mnist-workbench")), prefix.path(), &[]);
    validate(&prefix.path().join(DESKTOP));
}
