//! The bad-input corpus: damaged, truncated, mislabelled and absurd inputs of every kind the
//! workbench reads, each tried as a user would (the CLI, or the library the app calls). Every
//! case must end with a clear message naming the file or the field, a non-zero exit without a
//! panic on the CLI, and nothing written into the input's folder. README's Reliability
//! section counts the cases by kind; `CASES_BY_KIND` below is where those counts come from.

mod common;
#[path = "bad_input/flags.rs"]
mod flags;
#[path = "bad_input/results_files.rs"]
mod results_files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mnist_workbench::data::idx::{encode_images, encode_labels};
use mnist_workbench::data::sources::MNIST_FILES;

/// Every file under `dir` with its length and content digest, to prove nothing was written.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.insert(p, (bytes.len() as u64, mnist_workbench::data::sha256_hex(&bytes)));
            }
        }
    }
    out
}

/// Runs the CLI and checks the refusal: non-zero exit, no panic, `needle` in the message, and
/// `watched` unchanged. Returns the message.
fn refused(case: &str, args: &[&str], needle: &str, watched: &Path) -> String {
    let before = snapshot(watched);
    let (ok, out, err) = common::cli(args, &[], &["MNIST_DIR", "DISPLAY", "WAYLAND_DISPLAY"]);
    assert!(!ok, "{case}: accepted\n{out}\n{err}");
    assert!(!err.contains("panicked"), "{case}: panicked\n{err}");
    assert!(
        err.contains(needle),
        "{case}: the message does not name `{needle}`:\n{err}"
    );
    assert_eq!(
        snapshot(watched),
        before,
        "{case}: something was written into {}",
        watched.display()
    );
    err
}

/// Four valid raw IDX files of synthetic digits (40 training, 20 test images).
fn idx_folder(tag: &str) -> PathBuf {
    let dir = common::temp_dir(tag);
    let train = mnist_workbench::data::synthetic::generate(40, 3);
    let raw = [
        encode_images(&train.pixels),
        encode_labels(&train.labels),
        encode_images(&train.pixels[..784 * 20]),
        encode_labels(&train.labels[..20]),
    ];
    for (name, bytes) in MNIST_FILES.iter().zip(raw) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

fn set_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// One damaged IDX folder: `edit` changes file `which` (an index into MNIST_FILES).
struct IdxCase {
    name: &'static str,
    which: usize,
    edit: fn(&mut Vec<u8>),
    needle: &'static str,
}

const IDX_CASES: &[IdxCase] = &[
    IdxCase {
        name: "images magic",
        which: 0,
        edit: |b| set_u32(b, 0, 0x0803 + 1),
        needle: "magic",
    },
    IdxCase {
        name: "labels magic",
        which: 1,
        edit: |b| set_u32(b, 0, 0x0803),
        needle: "magic",
    },
    IdxCase {
        name: "images count zero",
        which: 0,
        edit: |b| set_u32(b, 4, 0),
        needle: "header claims 0 images",
    },
    IdxCase {
        name: "images count 10 million over 40 images",
        which: 0,
        edit: |b| set_u32(b, 4, 10_000_000),
        needle: "train-images-idx3-ubyte",
    },
    IdxCase {
        name: "images count beyond the limit",
        which: 0,
        edit: |b| set_u32(b, 4, u32::MAX),
        needle: "header claims",
    },
    IdxCase {
        name: "rows 27",
        which: 0,
        edit: |b| set_u32(b, 8, 27),
        needle: "27×28",
    },
    IdxCase {
        name: "columns 29",
        which: 2,
        edit: |b| set_u32(b, 12, 29),
        needle: "28×29",
    },
    IdxCase {
        name: "labels count 10 million",
        which: 1,
        edit: |b| set_u32(b, 4, 10_000_000),
        needle: "train-labels-idx1-ubyte",
    },
    IdxCase {
        name: "labels count zero",
        which: 3,
        edit: |b| set_u32(b, 4, 0),
        needle: "header claims 0 labels",
    },
    IdxCase {
        name: "images payload truncated",
        which: 0,
        edit: |b| b.truncate(b.len() - 100),
        needle: "train-images-idx3-ubyte",
    },
    IdxCase {
        name: "labels payload truncated",
        which: 3,
        edit: |b| b.truncate(b.len() - 3),
        needle: "t10k-labels-idx1-ubyte",
    },
    IdxCase {
        name: "header cut short",
        which: 2,
        edit: |b| b.truncate(10),
        needle: "t10k-images-idx3-ubyte",
    },
    IdxCase {
        name: "empty images file",
        which: 0,
        edit: |b| b.clear(),
        needle: "train-images-idx3-ubyte",
    },
    IdxCase {
        name: "label 10",
        which: 1,
        edit: |b| b[8 + 5] = 10,
        needle: "label",
    },
    IdxCase {
        name: "labels fewer than images",
        which: 1,
        edit: |b| {
            set_u32(b, 4, 39);
            b.truncate(8 + 39)
        },
        needle: "train",
    },
    IdxCase {
        name: "gzip stream damaged",
        which: 0,
        edit: |b| {
            *b = common::gzip(b);
            let mid = b.len() / 2;
            for x in &mut b[mid..mid + 16] {
                *x ^= 0x5a
            }
        },
        needle: "train-images-idx3-ubyte",
    },
    IdxCase {
        name: "gzip stream truncated",
        which: 2,
        edit: |b| {
            *b = common::gzip(b);
            b.truncate(b.len() / 2)
        },
        needle: "t10k-images-idx3-ubyte",
    },
    IdxCase {
        name: "gzip of text",
        which: 1,
        edit: |b| *b = common::gzip(b"hello, not an IDX file"),
        needle: "train-labels-idx1-ubyte",
    },
];

#[test]
fn damaged_idx_files_are_refused_naming_the_file() {
    for case in IDX_CASES {
        let dir = idx_folder("bad-idx");
        let path = dir.join(MNIST_FILES[case.which]);
        let mut bytes = std::fs::read(&path).unwrap();
        (case.edit)(&mut bytes);
        std::fs::write(&path, bytes).unwrap();
        refused(
            case.name,
            &["data", "info", "--data", dir.to_str().unwrap()],
            case.needle,
            &dir,
        );
    }
    // A folder where a file should be.
    let dir = idx_folder("bad-idx-dir");
    std::fs::remove_file(dir.join(MNIST_FILES[0])).unwrap();
    std::fs::create_dir(dir.join(MNIST_FILES[0])).unwrap();
    refused(
        "a folder named like the images file",
        &["data", "info", "--data", dir.to_str().unwrap()],
        "train-images-idx3-ubyte",
        &dir,
    );
    // `data check` streams a gzip bomb's worth of zeros only up to the IDX limit.
    let dir = idx_folder("bad-idx-check");
    refused(
        "data check of synthetic files",
        &["data", "check", "--data", dir.to_str().unwrap()],
        "damaged",
        &dir,
    );
}

/// A small trained run (mlp, synthetic digits) in its own runs folder.
fn trained_run(tag: &str, model: &str) -> PathBuf {
    let runs = common::temp_dir(tag);
    let (ok, out, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "300",
            "--model",
            model,
            "--device",
            "flex",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path()
}

fn eval_args(run: &Path) -> Vec<String> {
    [
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--synthetic",
        "--synthetic-size",
        "300",
        "--device",
        "flex",
    ]
    .map(String::from)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn damaged_run_folders_are_refused_naming_the_file_and_field() {
    let good = trained_run("bad-run-src", "mlp");
    let other = trained_run("bad-run-other", "tiny-cnn");
    type Edit = Box<dyn Fn(&Path)>;
    let config_edit = |from: &'static str, to: &'static str| -> Edit {
        Box::new(move |run: &Path| {
            let p = run.join("config.json");
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.contains(from), "{from} in {text}");
            std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
        })
    };
    let other_model = other.join("model.bpk");
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "config.json not JSON",
            Box::new(|r: &Path| std::fs::write(r.join("config.json"), "{ not json").unwrap()),
            "config.json",
        ),
        (
            "config.json empty",
            Box::new(|r: &Path| std::fs::write(r.join("config.json"), "").unwrap()),
            "config.json",
        ),
        (
            "config.json without its model",
            config_edit("\"model\"", "\"modle\""),
            "config.json",
        ),
        (
            "config.json dropout 1",
            config_edit("\"dropout\": 0.0", "\"dropout\": 1.0"),
            "dropout",
        ),
        (
            "config.json batch size 0",
            config_edit("\"batch_size\": 64", "\"batch_size\": 0"),
            "batch-size",
        ),
        (
            "config.json hidden width 0",
            config_edit("\"hidden\": [\n", "\"hidden\": [\n 0,"),
            "hidden",
        ),
        (
            "config.json learning rate negative",
            config_edit("\"learning_rate\": 0.001", "\"learning_rate\": -1.0"),
            "lr",
        ),
        (
            "config.json epochs absurd",
            config_edit("\"epochs\": 1", "\"epochs\": 99999999"),
            "epochs",
        ),
        (
            "model.bpk random bytes",
            Box::new(|r: &Path| std::fs::write(r.join("model.bpk"), [7u8; 999]).unwrap()),
            "model.bpk",
        ),
        (
            "model.bpk truncated",
            Box::new(|r: &Path| {
                let b = std::fs::read(r.join("model.bpk")).unwrap();
                std::fs::write(r.join("model.bpk"), &b[..b.len() / 2]).unwrap()
            }),
            "model.bpk",
        ),
        (
            "model.bpk empty",
            Box::new(|r: &Path| std::fs::write(r.join("model.bpk"), []).unwrap()),
            "model.bpk",
        ),
        (
            "model.bpk of another architecture",
            Box::new(move |r: &Path| {
                std::fs::copy(&other_model, r.join("model.bpk")).unwrap();
            }),
            "model.bpk",
        ),
        (
            "model.bpk missing",
            Box::new(|r: &Path| std::fs::remove_file(r.join("model.bpk")).unwrap()),
            "model.bpk",
        ),
    ];
    for (name, edit, needle) in cases {
        let root = common::temp_dir("bad-run");
        let run = root.join("run");
        copy_dir(&good, &run);
        edit(&run);
        refused(name, &strs(&eval_args(&run)), needle, &root);
    }
    // A run whose optimiser state is not the model's pair: resuming is refused, naming both.
    let root = common::temp_dir("bad-run-pair");
    let run = root.join("run");
    copy_dir(&good, &run);
    std::fs::write(run.join("optimizer.bpk"), b"another epoch's state").unwrap();
    refused(
        "model.bpk and optimizer.bpk from different epochs",
        &[
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--synthetic",
            "--synthetic-size",
            "300",
            "--device",
            "flex",
            "--runs",
            root.join("new").to_str().unwrap(),
        ],
        "optimizer.bpk",
        &run,
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn damaged_pictures_are_refused_naming_the_file() {
    let run = trained_run("bad-png-run", "mlp");
    let dir = common::temp_dir("bad-png");
    let mut valid = Vec::new();
    image::GrayImage::from_pixel(20, 20, image::Luma([255]))
        .write_to(&mut std::io::Cursor::new(&mut valid), image::ImageFormat::Png)
        .unwrap();
    let mut huge_header = valid.clone();
    // IHDR width and height (bytes 16..24) claim 100000 × 100000.
    huge_header[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    huge_header[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text named .png", b"not a picture".to_vec()),
        ("empty file", Vec::new()),
        ("truncated PNG", valid[..valid.len() / 2].to_vec()),
        ("PNG claiming 100000 × 100000", huge_header),
        ("blank white picture", valid),
    ];
    for (name, bytes) in cases {
        let png = dir.join("digit.png");
        std::fs::write(&png, bytes).unwrap();
        refused(
            name,
            &["predict", "--run", run.to_str().unwrap(), png.to_str().unwrap()],
            "digit.png",
            &dir,
        );
    }
    refused(
        "missing picture",
        &[
            "predict",
            "--run",
            run.to_str().unwrap(),
            dir.join("none.png").to_str().unwrap(),
        ],
        "none.png",
        &dir,
    );
}
