//! Bounded property tests standing in for a fuzzer: seeded random damage (bit flips, byte
//! overwrites, truncations, insertions, random header words) applied to valid IDX files, PNG
//! pictures and every results file the workbench reads. Each damaged input must be refused
//! with an error or read as something valid, never panic. The iteration counts are what
//! README reports; the seeds make every failure reproducible.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use mnist_workbench::data::idx::{encode_images, encode_labels, read_images, read_labels};
use mnist_workbench::rng::Rng;

/// One random damage of `bytes`.
fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let len = out.len().max(1);
    match rng.below(6) {
        0 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(len).min(out.len().saturating_sub(1));
                if let Some(b) = out.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        1 => out.truncate(rng.below(len)),
        2 => {
            let at = rng.below(len).min(out.len());
            let extra: Vec<u8> = (0..rng.below(64) + 1).map(|_| rng.below(256) as u8).collect();
            out.splice(at..at, extra);
        }
        3 => {
            // A random big-endian word in the first 16 bytes (IDX headers, PNG's IHDR start).
            let at = (rng.below(4) * 4).min(out.len().saturating_sub(4));
            if out.len() >= 4 {
                out[at..at + 4].copy_from_slice(&(rng.below(u32::MAX as usize) as u32).to_be_bytes());
            }
        }
        4 => {
            let at = rng.below(len).min(out.len());
            let n = rng.below(32).min(out.len() - at);
            for b in &mut out[at..at + n] {
                *b = rng.below(256) as u8;
            }
        }
        _ => out = (0..rng.below(200)).map(|_| rng.below(256) as u8).collect(),
    }
    out
}

/// Calls `read` on `cases` damaged copies of `valid` written to `path`; returns how many were
/// refused. A panic fails the test with the seed and iteration.
fn fuzz(
    name: &str,
    valid: &[u8],
    path: &Path,
    cases: usize,
    seed: u64,
    read: impl Fn(&Path) -> bool,
) -> usize {
    let mut rng = Rng::new(seed);
    let mut refused = 0;
    for i in 0..cases {
        let damaged = mutate(valid, &mut rng);
        std::fs::write(path, &damaged).unwrap();
        match catch_unwind(AssertUnwindSafe(|| read(path))) {
            Ok(accepted) => refused += usize::from(!accepted),
            Err(_) => panic!(
                "{name}: panic on case {i} of seed {seed} ({} bytes)",
                damaged.len()
            ),
        }
    }
    eprintln!(
        "{name}: {cases} damaged inputs, {refused} refused, {} read as valid, no panic",
        cases - refused
    );
    refused
}

#[test]
fn damaged_idx_files_never_panic_the_reader() {
    let dir = common::temp_dir("fuzz-idx");
    let digits = mnist_workbench::data::synthetic::generate(12, 5);
    let images = encode_images(&digits.pixels);
    let labels = encode_labels(&digits.labels);
    let refused = fuzz("IDX images", &images, &dir.join("images"), 1500, 1, |p| {
        read_images(p).is_ok_and(|i| i.pixels.len() == i.count * 784)
    });
    assert!(refused > 0);
    fuzz(
        "IDX images, gzip",
        &common::gzip(&images),
        &dir.join("images.gz"),
        1000,
        2,
        |p| read_images(p).is_ok(),
    );
    fuzz("IDX labels", &labels, &dir.join("labels"), 1500, 3, |p| {
        read_labels(p).is_ok_and(|l| l.iter().all(|&v| v < 10))
    });
    fuzz(
        "IDX labels, gzip",
        &common::gzip(&labels),
        &dir.join("labels.gz"),
        1000,
        4,
        |p| read_labels(p).is_ok(),
    );
}

#[test]
fn damaged_pictures_never_panic_the_preprocessing() {
    use mnist_workbench::preprocess::{load_grey, mnist_style};
    let dir = common::temp_dir("fuzz-png");
    let mut img = image::GrayImage::from_pixel(40, 50, image::Luma([255]));
    for y in 10..40 {
        for x in 18..22 {
            img.put_pixel(x, y, image::Luma([0]));
        }
    }
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    fuzz("PNG", &png, &dir.join("digit.png"), 600, 5, |p| {
        load_grey(p)
            .and_then(|(g, w, h)| mnist_style(&g, w, h))
            .is_ok_and(|v| v.len() == 784 && v.iter().all(|x| x.is_finite()))
    });
}

#[test]
fn damaged_run_and_results_files_never_panic_their_readers() {
    use mnist_workbench::run::RunDir;
    use mnist_workbench::run::step_log::read_steps;
    let data = common::synthetic_dataset(200, 40, 41);
    let runs = common::temp_dir("fuzz-runs");
    let run = common::gui::trained_run(&runs, &data, "mlp");
    let config = std::fs::read(run.join("config.json")).unwrap();
    let steps = std::fs::read(run.join("steps.csv")).unwrap();
    let metrics = std::fs::read(run.join("metrics.jsonl")).unwrap();
    let summary = std::fs::read(run.join("summary.json")).unwrap();
    let model = std::fs::read(run.join("model.bpk")).unwrap();
    let restore = |name: &str, bytes: &[u8]| std::fs::write(run.join(name), bytes).unwrap();
    let flex = mnist_workbench::device::flex().device;
    fuzz("config.json", &config, &run.join("config.json"), 800, 6, |_| {
        RunDir::open(&run).is_ok()
    });
    restore("config.json", &config);
    fuzz("steps.csv", &steps, &run.join("steps.csv"), 800, 7, |p| {
        read_steps(p).is_ok()
    });
    restore("steps.csv", &steps);
    fuzz(
        "metrics.jsonl",
        &metrics,
        &run.join("metrics.jsonl"),
        800,
        8,
        |_| RunDir::open(&run).is_ok_and(|(d, _)| d.read_history().is_ok()),
    );
    restore("metrics.jsonl", &metrics);
    fuzz(
        "summary.json",
        &summary,
        &run.join("summary.json"),
        500,
        9,
        |_| RunDir::open(&run).is_ok_and(|(d, _)| d.read_summary().is_ok()),
    );
    restore("summary.json", &summary);
    fuzz("model.bpk", &model, &run.join("model.bpk"), 400, 10, |_| {
        RunDir::open(&run).is_ok_and(|(d, c)| d.load_model(&c.train.model, &flex).is_ok())
    });
    restore("model.bpk", &model);
    let matrix = mnist_workbench::study::ensemble::matrix_bytes(
        &mnist_workbench::study::ensemble::Correctness::from_bits(3, 20, vec![0xa5; 3 * 3]).unwrap(),
    );
    let dir = common::temp_dir("fuzz-matrix");
    fuzz(
        "correctness.bin",
        &matrix,
        &dir.join("correctness.bin"),
        1000,
        11,
        |p| mnist_workbench::study::ensemble::parse_matrix(&std::fs::read(p).unwrap()).is_ok(),
    );
}
