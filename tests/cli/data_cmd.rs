//! `data` subcommands and damaged data folders: every problem named, nothing half-written.

use super::*;

#[test]
fn intact_folder_is_accepted() {
    let dir = mnist_like_folder("ok", |_, _| {});
    let (ok, out, err) = common::cli(&["data", "info", "--data", dir.to_str().unwrap()], &[], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("train: 40 images"), "{out}");
}

#[test]
fn truncated_gz_is_reported() {
    let dir = mnist_like_folder("trunc-gz", |_, _| {});
    let path = dir.join("t10k-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, err) = data_info(&dir);
    assert!(!ok);
    assert!(
        err.contains("t10k-images-idx3-ubyte.gz") && (err.contains("gzip") || err.contains("truncated")),
        "{err}"
    );
}

#[test]
fn wrong_magic_is_reported() {
    let dir = mnist_like_folder("magic", |i, raw| {
        if i == 0 {
            raw[3] = 0x01
        }
    });
    let (ok, err) = data_info(&dir);
    assert!(!ok);
    assert!(
        err.contains("train-images-idx3-ubyte.gz") && err.contains("wrong magic number 0x00000801"),
        "{err}"
    );
}

#[test]
fn image_label_count_mismatch_is_reported() {
    let dir = mnist_like_folder("count", |i, raw| {
        if i == 1 {
            raw.truncate(raw.len() - 5);
            raw[4..8].copy_from_slice(&35u32.to_be_bytes());
        }
    });
    let (ok, err) = data_info(&dir);
    assert!(!ok);
    assert!(
        err.contains("40 images but") && err.contains("35 labels"),
        "{err}"
    );
}

#[test]
fn zero_and_huge_dimensions_are_reported() {
    for (tag, side) in [("dims0", 0u32), ("dims-huge", 100_000u32)] {
        let dir = mnist_like_folder(tag, |i, raw| {
            if i == 2 {
                raw[8..12].copy_from_slice(&side.to_be_bytes());
                raw[12..16].copy_from_slice(&side.to_be_bytes());
            }
        });
        let (ok, err) = data_info(&dir);
        assert!(!ok);
        assert!(
            err.contains(&format!("{side}×{side}")) && err.contains("expected 28×28"),
            "{err}"
        );
    }
}

#[test]
fn label_eleven_is_reported() {
    let dir = mnist_like_folder("label11", |i, raw| {
        if i == 3 {
            raw[8 + 4] = 11
        }
    });
    let (ok, err) = data_info(&dir);
    assert!(!ok);
    assert!(err.contains("label 11 at item 4"), "{err}");
}

#[test]
fn missing_data_offline_says_what_to_do() {
    let home = common::temp_dir("empty-home");
    let (ok, _, err) = common::cli(
        &[
            "train",
            "--model",
            "tiny-cnn",
            "--runs",
            home.join("runs").to_str().unwrap(),
        ],
        &[("HOME", &home), ("XDG_CACHE_HOME", &home.join("cache"))],
        &["MNIST_DIR"],
    );
    assert!(!ok);
    assert!(
        err.contains("no MNIST data found") && err.contains("data download"),
        "{err}"
    );
    assert!(
        !home.join("runs").exists(),
        "a run folder was created for a run that never started"
    );
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn data_check_verifies_real_mnist_digests() {
    let dir = common::mnist_dir();
    let (ok, out, err) = common::cli(&["data", "check", "--data", dir.to_str().unwrap()], &[], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("all four files are intact MNIST"));
}

#[test]
fn data_check_flags_a_damaged_folder() {
    let dir = mnist_like_folder("check-bad", |_, _| {});
    let (ok, out, err) = common::cli(&["data", "check", "--data", dir.to_str().unwrap()], &[], &[]);
    assert!(!ok);
    assert!(
        out.contains("BAD") && err.contains("4 of 4 files missing or damaged"),
        "{out}{err}"
    );
}

#[test]
fn download_subcommand_uses_given_mirrors_and_fails_cleanly() {
    let server = common::LocalServer::start(Vec::new());
    let dest = common::temp_dir("cli-dl");
    let (ok, _, err) = common::cli(
        &[
            "data",
            "download",
            "--dest",
            dest.to_str().unwrap(),
            "--mirror",
            &server.base_url,
        ],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(
        err.contains("could not download train-images-idx3-ubyte.gz") && err.contains("404"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn corrupted_download_exits_non_zero_and_leaves_nothing() {
    let dir = common::mnist_dir();
    // The real files with a few bytes flipped in the middle: gzip or the digest must refuse them.
    let files = MNIST_FILES
        .iter()
        .map(|n| {
            let mut bytes = std::fs::read(dir.join(format!("{n}.gz"))).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xFF;
            bytes[mid + 7] ^= 0x55;
            (format!("{n}.gz"), bytes)
        })
        .collect();
    let server = common::LocalServer::start(files);
    let dest = common::temp_dir("cli-dl-corrupt");
    let (ok, _, err) = common::cli(
        &[
            "data",
            "download",
            "--dest",
            dest.to_str().unwrap(),
            "--mirror",
            &server.base_url,
        ],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(
        err.contains("could not download train-images-idx3-ubyte.gz")
            && (err.contains("checksum mismatch") || err.contains("not a valid gzip")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&dest).unwrap().count(),
        0,
        "a partial file was left behind"
    );
}

#[test]
fn absurd_synthetic_size_is_refused() {
    let (ok, _, err) = common::cli(
        &["data", "info", "--synthetic", "--synthetic-size", "10000000000"],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("--synthetic-size"), "{err}");
}
