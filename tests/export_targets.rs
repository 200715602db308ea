//! Nothing is replaced unasked: `export` (library and `export --to`) and the experiment
//! `--out` results refuse a name that is a symbolic link, dangling or not, unless overwriting
//! is asked for; with it the link itself is replaced by the file and its target is left alone.
//! The same holds for the `model.py` written beside the weights.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};

use mnist_workbench::interop::{ArchChoice, ExportError, export, import_checkpoint, write_imported_run};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::model::plain::{Architecture, PlainWeights};
use mnist_workbench::rng::Rng;

fn tiny() -> (ModelSpec, PlainWeights) {
    let spec = ModelSpec::Mlp {
        hidden: vec![4],
        dropout: 0.0,
    };
    let weights = Architecture::of(&spec).init(&mut Rng::new(5));
    (spec, weights)
}

fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

fn is_link_to(path: &Path, target: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::read_link(path).is_ok_and(|t| t == target)
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// The folder's entries, sorted (to show nothing else, such as a temporary file, was left).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_dangling_link_as_the_weights_file_is_refused_and_kept() {
    let (spec, weights) = tiny();
    let dir = common::temp_dir("export-dangling");
    let (to, target) = (dir.join("model.safetensors"), dir.join("missing-target"));
    link(&target, &to);
    let err = export(&spec, &weights, &to, false).unwrap_err();
    assert!(matches!(err, ExportError::Symlink { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&to.display().to_string())
            && message.contains("symbolic link")
            && message.contains(&target.display().to_string()),
        "{message}"
    );
    assert!(is_link_to(&to, &target), "the link is kept as it was");
    assert!(!target.exists(), "nothing written through the link");
    assert_eq!(
        entries(&dir),
        ["model.safetensors"],
        "no model.py, no temporary file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_link_to_a_file_is_refused_and_the_file_is_untouched() {
    let (spec, weights) = tiny();
    let dir = common::temp_dir("export-link-file");
    let (to, target) = (dir.join("w.safetensors"), dir.join("precious.bin"));
    std::fs::write(&target, b"keep me").unwrap();
    link(&target, &to);
    let err = export(&spec, &weights, &to, false).unwrap_err();
    assert!(matches!(err, ExportError::Symlink { .. }), "{err:?}");
    assert!(is_link_to(&to, &target));
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    // Asked to overwrite, the link itself is replaced; its target still is not written.
    let written = export(&spec, &weights, &to, true).unwrap();
    assert!(
        is_regular_file(&written.weights),
        "the link became the exported file"
    );
    assert!(is_regular_file(&written.module));
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    assert_eq!(entries(&dir), ["model.py", "precious.bin", "w.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dangling_link_named_model_py_is_refused_before_anything_is_written() {
    let (spec, weights) = tiny();
    let dir = common::temp_dir("export-model-py-link");
    let (to, module, target) = (
        dir.join("w.safetensors"),
        dir.join("model.py"),
        dir.join("elsewhere.py"),
    );
    link(&target, &module);
    let err = export(&spec, &weights, &to, false).unwrap_err();
    assert!(
        matches!(&err, ExportError::Symlink { path, .. } if path == &module),
        "{err:?}"
    );
    assert!(!to.exists() && !target.exists(), "nothing written");
    assert!(is_link_to(&module, &target));
    let written = export(&spec, &weights, &to, true).unwrap();
    assert!(is_regular_file(&written.module) && !target.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_existing_file_is_still_refused_unasked() {
    let (spec, weights) = tiny();
    let dir = common::temp_dir("export-existing");
    let to = dir.join("w.safetensors");
    std::fs::write(&to, b"old").unwrap();
    let err = export(&spec, &weights, &to, false).unwrap_err();
    assert!(matches!(&err, ExportError::Exists(p) if p == &to), "{err:?}");
    assert_eq!(std::fs::read(&to).unwrap(), b"old");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_folder_is_made_but_not_for_a_refused_name() {
    let (spec, weights) = tiny();
    let dir = common::temp_dir("export-new-folder");
    let refused = dir.join("never").join("w.bin");
    assert!(matches!(export(&spec, &weights, &refused, false), Err(ExportError::NotSafetensors(_))));
    assert!(!dir.join("never").exists(), "a refusal makes no folder");
    // A dangling link where the folder should be is refused, naming it; nothing is made.
    link(&dir.join("nowhere"), &dir.join("linked"));
    let err = export(&spec, &weights, &dir.join("linked").join("w.safetensors"), false).unwrap_err();
    assert!(err.to_string().contains("linked"), "{err}");
    assert!(!dir.join("nowhere").exists());
    let to = dir.join("made").join("deeper").join("w.safetensors");
    let written = export(&spec, &weights, &to, false).unwrap();
    assert!(is_regular_file(&to) && is_regular_file(&written.module));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A run folder holding the tiny network (exported, then imported as a run).
fn tiny_run(root: &Path) -> PathBuf {
    let (spec, weights) = tiny();
    let staging = root.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let file = staging.join("tiny.safetensors");
    export(&spec, &weights, &file, false).unwrap();
    let imported = import_checkpoint(&file, &ArchChoice::Spec(spec), &[]).unwrap();
    write_imported_run(&imported, &root.join("runs")).unwrap().path
}

#[test]
fn export_to_a_dangling_link_is_refused_on_the_command_line() {
    let root = common::temp_dir("cli-export-link");
    let run = tiny_run(&root);
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (to, target) = (out.join("net.safetensors"), root.join("nowhere"));
    link(&target, &to);
    let args = [
        "export",
        "--run",
        run.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ];
    let (ok, _, err) = common::cli(&args, &[], &[]);
    assert!(!ok, "refused");
    assert!(
        err.contains(&to.display().to_string())
            && err.contains("symbolic link")
            && err.contains("--overwrite"),
        "{err}"
    );
    assert!(is_link_to(&to, &target) && !target.exists());
    assert_eq!(entries(&out), ["net.safetensors"]);
    let overwrite: Vec<&str> = args.iter().copied().chain(["--overwrite"]).collect();
    let (ok, stdout, err) = common::cli(&overwrite, &[], &[]);
    assert!(ok, "{stdout}\n{err}");
    assert!(is_regular_file(&to) && is_regular_file(&out.join("model.py")));
    assert!(!target.exists(), "the link's target is never written");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn experiment_results_behind_a_dangling_link_are_not_replaced_unasked() {
    let out = common::temp_dir("cli-experiment-link");
    let results = out.join(mnist_workbench::study::ensemble::RESULTS_FILE);
    let target = out.join("gone.json");
    link(&target, &results);
    let (ok, _, err) = common::cli(
        &[
            "experiment",
            "ensemble",
            "--synthetic",
            "--models",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(!ok, "refused");
    assert!(
        err.contains(&results.display().to_string())
            && err.contains("symbolic link")
            && err.contains("--overwrite"),
        "{err}"
    );
    assert!(is_link_to(&results, &target) && !target.exists());
    std::fs::remove_dir_all(&out).unwrap();
}
