//! PyTorch models in and out. The fixtures in `tests/fixtures/pytorch/` were written by
//! `tests/fixtures/make_pytorch_fixtures.py` (PyTorch 2.15, fixed seeds): two networks saved
//! with `torch.save(model.state_dict())` and as .safetensors, 16 inputs and PyTorch's logits
//! for them. CI does not need Python.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use mnist_workbench::interop::{ArchChoice, export, import_checkpoint, write_imported_run};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::run::RunDir;

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

fn inputs(device: &Device) -> Tensor<4> {
    let bytes = std::fs::read(fixture("inputs.f32")).unwrap();
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    Tensor::from_data(TensorData::new(values, [16, 1, 28, 28]), device)
}

fn torch_logits(net: &str) -> Vec<f32> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("logits.json")).unwrap()).unwrap();
    json["logits"][net]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32))
        .collect()
}

fn arch(text: &str) -> ArchChoice {
    text.parse().unwrap()
}

#[test]
fn imported_networks_give_pytorchs_logits() {
    let device = Device::flex();
    let cases = [
        ("cnn.pt", "cnn", "cnn:8,16:k3:bn:dense16:drop0.25"),
        ("cnn.safetensors", "cnn", "auto"),
        ("mlp.pt", "mlp", "mlp:16,12"),
        ("mlp.safetensors", "mlp", "auto"),
        ("cnn_nobias.pt", "cnn_nobias", "auto"),
    ];
    for (file, net, choice) in cases {
        let imported =
            import_checkpoint(&fixture(file), &arch(choice), &[]).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got: Vec<f32> = imported
            .model(&device)
            .forward(inputs(&device))
            .into_data()
            .iter()
            .collect();
        let want = torch_logits(net);
        assert_eq!(got.len(), want.len());
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{file} logit {i}: {a} vs PyTorch {b}"
            );
        }
    }
    // Auto inference read the architecture the script built.
    let cnn = import_checkpoint(&fixture("cnn.pt"), &ArchChoice::Auto, &[]).unwrap();
    assert!(cnn.inferred);
    assert_eq!(cnn.spec.arch_string(), "cnn:8,16:k3:bn:dense16");
    assert_eq!(cnn.mapping[0].theirs, "features.0");
    assert!(cnn.mapping[0].note.contains("folded"), "{:?}", cnn.mapping[0]);
    assert_eq!(cnn.source.skipped.len(), 2, "num_batches_tracked left out");
}

#[test]
fn export_then_import_gives_identical_weights() {
    let dir = common::temp_dir("export");
    let device = Device::flex();
    for (file, choice) in [("cnn.pt", "auto"), ("mlp.safetensors", "auto")] {
        let imported = import_checkpoint(&fixture(file), &arch(choice), &[]).unwrap();
        let to = dir.join(format!("{}.safetensors", file.replace('.', "_")));
        let written = export(&imported.spec, &imported.weights, &to, false).unwrap();
        assert!(written.module.ends_with("model.py"));
        let back = import_checkpoint(&to, &ArchChoice::Spec(imported.spec.clone()), &[]).unwrap();
        assert_eq!(back.weights, imported.weights, "{file}");
        // Our names come back to our layers one to one.
        assert!(
            back.mapping.iter().all(|m| m.theirs == m.ours),
            "{:?}",
            back.mapping
        );
        std::fs::remove_file(&written.module).unwrap();
    }
    // A freshly built network of every family, with and without BatchNorm.
    for name in ["tiny-cnn", "seed3-cnn", "mlp"] {
        let spec = ModelSpec::preset(name).unwrap();
        let weights = spec.init(&device).to_plain();
        let to = dir.join(format!("{name}.safetensors"));
        export(&spec, &weights, &to, false).unwrap();
        let back = import_checkpoint(&to, &ArchChoice::Spec(spec.clone()), &[]).unwrap();
        assert_eq!(back.weights, weights, "{name}");
        std::fs::remove_file(to.with_file_name("model.py")).unwrap();
    }
}

#[test]
fn model_py_defines_the_exported_layers() {
    let spec = ModelSpec::preset("seed3-cnn").unwrap();
    let text = mnist_workbench::interop::export::module_source(&spec, "model.safetensors");
    for line in [
        "self.conv1 = nn.Conv2d(1, 32, 3, padding=1, bias=False)",
        "self.bn2 = nn.BatchNorm2d(64)",
        "self.fc = nn.Linear(3136, 320)",
        "self.out = nn.Linear(320, 10)",
        "self.dropout = nn.Dropout(0.4)",
        "x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)",
        "return self.out(x)",
    ] {
        assert!(text.contains(line), "model.py lacks {line:?}:\n{text}");
    }
}

fn refused(path: &Path, choice: &str, maps: &[(&str, &str)]) -> String {
    let maps: Vec<(String, String)> = maps.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    match import_checkpoint(path, &arch(choice), &maps) {
        Ok(i) => panic!("{} imported as {}", path.display(), i.spec.describe()),
        Err(e) => e.to_string(),
    }
}

/// Writes a safetensors file of the given f32 tensors with the `safetensors` crate itself.
fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.to_string(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = raw
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn damaged_and_foreign_checkpoints_are_refused_with_the_reason() {
    let dir = common::temp_dir("refuse");
    for (file, cut) in [("cnn.pt", 3), ("cnn.safetensors", 2), ("mlp.pt", 200)] {
        let bytes = std::fs::read(fixture(file)).unwrap();
        let damaged = dir.join(format!("cut-{file}"));
        std::fs::write(&damaged, &bytes[..bytes.len() / cut]).unwrap();
        let message = refused(&damaged, "auto", &[]);
        assert!(
            message.contains(&damaged.display().to_string()),
            "names the file: {message}"
        );
    }
    let noise = dir.join("noise.pt");
    std::fs::write(
        &noise,
        (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(refused(&noise, "auto", &[]).contains("noise.pt"));
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a model").unwrap();
    assert!(refused(&text, "auto", &[]).contains("unknown file type"));
    assert!(refused(&dir.join("missing.pt"), "auto", &[]).contains("missing.pt"));
    // Over the size limit: refused from its length, before anything is read.
    let huge = dir.join("huge.safetensors");
    std::fs::File::create(&huge).unwrap().set_len(600 << 20).unwrap();
    assert!(refused(&huge, "auto", &[]).contains("limit"));
    // NaN in the weights.
    let nan = dir.join("nan.safetensors");
    write_safetensors(
        &nan,
        &[
            ("fc1.weight", vec![10, 784], vec![f32::NAN; 7840]),
            ("fc1.bias", vec![10], vec![0.0; 10]),
        ],
    );
    assert!(refused(&nan, "auto", &[]).contains("NaN"));
}

#[test]
fn checkpoints_of_another_architecture_name_the_key_and_shapes() {
    // An MLP read as seed3-cnn: nothing fits the first convolution.
    let message = refused(&fixture("mlp.pt"), "seed3-cnn", &[]);
    assert!(
        message.contains("conv1") && message.contains("[32, 1, 3, 3]"),
        "{message}"
    );
    // One block too many: conv3 finds nothing.
    let message = refused(&fixture("cnn.pt"), "cnn:8,16,32:k3:bn:dense16", &[]);
    assert!(message.contains("conv3"), "{message}");
    // Right layers, wrong widths.
    let message = refused(&fixture("cnn.safetensors"), "cnn:8,16:k3:bn:dense32", &[]);
    assert!(
        message.contains("fc") && message.contains("[32, 784]") && message.contains("classifier.1 [16, 784]"),
        "{message}"
    );
    // Without BatchNorm, the checkpoint's BatchNorm layers are left over.
    let message = refused(&fixture("cnn.pt"), "cnn:8,16:k3:dense16", &[]);
    assert!(
        message.contains("features.1") && message.contains("another"),
        "{message}"
    );
}

#[test]
fn ambiguous_layers_are_refused_until_mapped() {
    let dir = common::temp_dir("ambiguous");
    let path = dir.join("twins.safetensors");
    let layer = |rows: usize, cols: usize| vec![0.01f32; rows * cols];
    write_safetensors(
        &path,
        &[
            ("first.weight", vec![16, 784], layer(16, 784)),
            ("left.weight", vec![16, 16], layer(16, 16)),
            ("right.weight", vec![16, 16], layer(16, 16)),
            ("last.weight", vec![10, 16], layer(10, 16)),
        ],
    );
    let message = refused(&path, "mlp:16,16,16", &[]);
    assert!(
        message.contains("left") && message.contains("right") && message.contains("--map fc2="),
        "{message}"
    );
    // Auto cannot choose either.
    assert!(refused(&path, "auto", &[]).contains("several"));
    let maps = vec![
        ("fc2".to_string(), "right".to_string()),
        ("fc3".to_string(), "left".to_string()),
    ];
    let imported = import_checkpoint(&path, &arch("mlp:16,16,16"), &maps).unwrap();
    assert_eq!(imported.mapping[1].theirs, "right");
    assert!(
        imported.mapping[3].note.contains("no bias"),
        "missing biases are zeros: {:?}",
        imported.mapping[3]
    );
    // A map naming what does not exist, or of the wrong shape.
    assert!(refused(&path, "mlp:16,16,16", &[("fc9", "left")]).contains("no layer fc9"));
    assert!(refused(&path, "mlp:16,16,16", &[("fc2", "middle")]).contains("no middle"));
    assert!(refused(&path, "mlp:16,16,16", &[("fc1", "left")]).contains("[16, 784]"));
}

#[test]
fn an_import_becomes_a_run_folder_and_writes_nothing_next_to_the_input() {
    let input_dir = common::temp_dir("input");
    let input = input_dir.join("cnn.pt");
    std::fs::copy(fixture("cnn.pt"), &input).unwrap();
    let runs = common::temp_dir("runs");
    let imported = import_checkpoint(&input, &ArchChoice::Auto, &[]).unwrap();
    let dir = write_imported_run(&imported, &runs).unwrap();
    assert_eq!(
        std::fs::read_dir(&input_dir).unwrap().count(),
        1,
        "nothing written next to the input"
    );
    let (run, config) = RunDir::open(&dir.path).unwrap();
    let from = config.imported_from.expect("imported_from recorded");
    assert_eq!(from.file, "cnn.pt");
    assert_eq!(from.sha256, imported.source.sha256);
    let device = Device::flex();
    let model = run.load_model(&config.train.model, &device).unwrap();
    assert_eq!(model.to_plain(), imported.weights);
    let listing = mnist_workbench::run::RunListing::read(&dir.path);
    assert_eq!(listing.state.to_string(), "imported");
    // No leftovers of the staging folder.
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 1);
}

#[test]
fn export_keeps_existing_files_unless_asked() {
    let dir = common::temp_dir("keep");
    let spec = ModelSpec::preset("mlp").unwrap();
    let weights = spec.init(&Device::flex()).to_plain();
    let to = dir.join("model.safetensors");
    std::fs::write(&to, "precious").unwrap();
    let err = export(&spec, &weights, &to, false).unwrap_err().to_string();
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&to).unwrap(), "precious");
    assert!(!dir.join("model.py").exists());
    export(&spec, &weights, &to, true).unwrap();
    assert!(dir.join("model.py").exists());
    let wrong = export(&spec, &weights, &dir.join("model.pt"), false)
        .unwrap_err()
        .to_string();
    assert!(wrong.contains(".safetensors"), "{wrong}");
}

#[test]
fn import_and_export_subcommands() {
    let runs = common::temp_dir("cli-runs");
    let runs_s = runs.to_str().unwrap();
    let file = fixture("cnn.safetensors");
    let (ok, out, err) = common::cli(
        &[
            "import",
            file.to_str().unwrap(),
            "--arch",
            "auto",
            "--runs",
            runs_s,
        ],
        &[],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("conv1  <- features.0") && out.contains("inferred"),
        "{out}"
    );
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    // Into a folder that does not exist yet: export makes it.
    let to = runs.join("exported").join("model.safetensors");
    let (ok, out, err) = common::cli(
        &[
            "export",
            "--run",
            run.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    assert!(to.exists() && to.with_file_name("model.py").exists());
    // Refusals exit non-zero with the reason, and no panic.
    let (ok, _, err) = common::cli(
        &[
            "export",
            "--run",
            run.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
        &[],
        &[],
    );
    assert!(
        !ok && err.contains("exists") && !err.contains("panicked"),
        "{err}"
    );
    let (ok, _, err) = common::cli(
        &[
            "import",
            fixture("mlp.pt").to_str().unwrap(),
            "--arch",
            "seed3-cnn",
            "--runs",
            runs_s,
        ],
        &[],
        &[],
    );
    assert!(!ok && err.contains("conv1") && !err.contains("panicked"), "{err}");
    let (ok, _, err) = common::cli(
        &[
            "import",
            file.to_str().unwrap(),
            "--arch",
            "cnn:8,16:k4",
            "--runs",
            runs_s,
        ],
        &[],
        &[],
    );
    assert!(!ok && err.contains("kernel size"), "{err}");
    let (ok, _, err) = common::cli(
        &[
            "import",
            file.to_str().unwrap(),
            "--arch",
            "auto",
            "--map",
            "conv1",
            "--runs",
            runs_s,
        ],
        &[],
        &[],
    );
    assert!(!ok && err.contains("OURS=THEIRS"), "{err}");
}
