//! `.safetensors` files that used to kill or stall the import: one truncated while it is read
//! (the reader mapped it, so the process died of SIGBUS), tens of thousands of tiny tensors
//! (quadratic work), a key listed twice (the last silently won), a file of another container,
//! and weights that make the network's outputs non-finite.

use std::path::{Path, PathBuf};

use mnist_workbench::interop::{ArchChoice, import_checkpoint, read_checkpoint};

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

/// Serializes f32 tensors (name, shape, values) with the `safetensors` crate.
fn serialize(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
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
    safetensors::serialize(views, None).unwrap()
}

/// The f32 tensors of a fixture, by name (BatchNorm's integer counters left out).
fn fixture_tensors(name: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = file
        .iter()
        .filter(|(_, v)| v.dtype() == safetensors::Dtype::F32)
        .map(|(n, v)| {
            let values = v
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (n.to_string(), v.shape().to_vec(), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn refused(path: &Path) -> String {
    match import_checkpoint(path, &ArchChoice::Auto, &[]) {
        Ok(i) => panic!("{} imported as {}", path.display(), i.spec.describe()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_file_truncated_while_it_is_read_gives_an_error_not_a_crash() {
    let dir = common::temp_dir("st-shrink");
    let path = dir.join("shrinking.safetensors");
    // Many megabytes, so the read is under way when the file is cut.
    let big: Vec<(String, Vec<usize>, Vec<f32>)> = (0..8)
        .map(|i| (format!("layer{i}.weight"), vec![1024, 1024], vec![0.5; 1 << 20]))
        .collect();
    let bytes = serialize(&big);
    let (mut ok, mut errors) = (0, 0);
    for round in 0..30 {
        std::fs::write(&path, &bytes).unwrap();
        let reader = {
            let path = path.clone();
            std::thread::spawn(move || read_checkpoint(&path).map(|c| c.tensors.len()))
        };
        // Cut the file at a different point of the read each round.
        std::thread::sleep(std::time::Duration::from_micros(200 * (round % 10)));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4096)
            .unwrap();
        match reader.join().expect("the reader thread did not panic") {
            Ok(count) => {
                assert_eq!(count, 8, "a complete read has every tensor");
                ok += 1;
            }
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains("shrinking.safetensors"),
                    "names the file: {message}"
                );
                errors += 1;
            }
        }
    }
    assert_eq!(ok + errors, 30);
    // The cut file itself is refused cleanly too.
    assert!(read_checkpoint(&path).is_err());
}

#[test]
fn tens_of_thousands_of_tiny_tensors_are_refused_with_the_cap() {
    let dir = common::temp_dir("st-many");
    let path = dir.join("many.safetensors");
    let tiny: Vec<(String, Vec<usize>, Vec<f32>)> = (0..20_000)
        .map(|i| (format!("t{i}.weight"), vec![1], vec![0.0]))
        .collect();
    std::fs::write(&path, serialize(&tiny)).unwrap();
    let message = refused(&path);
    assert!(
        message.contains("many.safetensors") && message.contains("4096") && message.contains("tensors"),
        "{message}"
    );
}

#[test]
fn a_key_listed_twice_is_refused_naming_it() {
    let dir = common::temp_dir("st-duplicate");
    let path = dir.join("twice.safetensors");
    let header = r#"{"fc1.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"fc1.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(1.0f32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let message = refused(&path);
    assert!(
        message.contains("twice.safetensors")
            && message.contains("\"fc1.weight\"")
            && message.contains("twice"),
        "{message}"
    );
}

#[test]
fn a_safetensors_file_named_pt_is_told_to_be_renamed() {
    let dir = common::temp_dir("st-misnamed");
    let path = dir.join("model.pt");
    std::fs::copy(fixture("mlp.safetensors"), &path).unwrap();
    let message = refused(&path);
    assert!(
        message.contains("model.pt") && message.contains("rename it .safetensors"),
        "{message}"
    );
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let dir = common::temp_dir("st-finite");
    // NaN in one tensor.
    let mut tensors = fixture_tensors("mlp.safetensors");
    let (name, _, values) = &mut tensors[1];
    values[3] = f32::NAN;
    let named = name.clone();
    let path = dir.join("nan.safetensors");
    std::fs::write(&path, serialize(&tensors)).unwrap();
    let message = refused(&path);
    assert!(
        message.contains("nan.safetensors") && message.contains(&named) && message.contains("NaN"),
        "{message}"
    );
    // A negative running variance.
    let mut tensors = fixture_tensors("cnn.safetensors");
    let var = tensors
        .iter_mut()
        .find(|(n, _, _)| n.ends_with("running_var"))
        .expect("the CNN has BatchNorm");
    var.2[0] = -1.0;
    let named = var.0.clone();
    let path = dir.join("negative.safetensors");
    std::fs::write(&path, serialize(&tensors)).unwrap();
    let message = refused(&path);
    assert!(
        message.contains("negative.safetensors") && message.contains(&named) && message.contains("negative"),
        "{message}"
    );
    // Values near f32's limit: every value finite, the logits not.
    let mut tensors = fixture_tensors("mlp.safetensors");
    let weight = tensors
        .iter_mut()
        .find(|(n, s, _)| n.ends_with("weight") && s[1] == 784)
        .expect("a first layer");
    weight.2.iter_mut().for_each(|v| *v = 3.0e38);
    let named = weight.0.clone();
    let path = dir.join("overflow.safetensors");
    std::fs::write(&path, serialize(&tensors)).unwrap();
    let message = refused(&path);
    assert!(
        message.contains("overflow.safetensors")
            && message.contains("non-finite")
            && message.contains(&named),
        "{message}"
    );
}

#[test]
fn integer_tensors_other_than_batch_counters_are_reported() {
    let dir = common::temp_dir("st-integer");
    let tensors = fixture_tensors("mlp.safetensors");
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let steps = 12i64.to_le_bytes().to_vec();
    let mut views: Vec<(String, safetensors::tensor::TensorView)> = raw
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    views.push((
        "training_steps".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![1], &steps).unwrap(),
    ));
    let path = dir.join("with-steps.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let imported = import_checkpoint(&path, &ArchChoice::Auto, &[]).unwrap();
    assert_eq!(imported.source.skipped, vec!["training_steps".to_string()]);
    let lines = imported.mapping_lines();
    assert!(
        lines.iter().any(|l| l.contains("skipped training_steps")),
        "the report names it: {lines:?}"
    );
    // BatchNorm's counters are left out without a line each.
    let cnn = import_checkpoint(&fixture("cnn.pt"), &ArchChoice::Auto, &[]).unwrap();
    assert!(cnn.mapping_lines().iter().all(|l| !l.contains("skipped")));
}

#[test]
fn tensors_that_make_no_architecture_are_refused_naming_the_file() {
    // Found by a hostile-input review: these messages named neither the file nor, for an
    // output layer of 0 units, the count in words ("end in Some(0) outputs").
    let dir = common::temp_dir("st-no-arch");
    let mut extra = fixture_tensors("mlp.safetensors");
    extra.push(("x".into(), vec![1], vec![0.5]));
    let path = dir.join("extra.safetensors");
    std::fs::write(&path, serialize(&extra)).unwrap();
    let message = refused(&path);
    assert!(message.contains("extra.safetensors") && message.contains("x (shape [1])"), "{message}");

    let mut empty_out = fixture_tensors("mlp.safetensors");
    let last_weight = empty_out
        .iter()
        .rposition(|(name, shape, _)| name.ends_with("weight") && shape.len() == 2)
        .unwrap();
    let in_features = empty_out[last_weight].1[1];
    empty_out[last_weight].1 = vec![0, in_features];
    empty_out[last_weight].2.clear();
    let bias = empty_out[last_weight].0.replace("weight", "bias");
    empty_out.retain(|(name, _, _)| name != &bias);
    let path = dir.join("no-outputs.safetensors");
    std::fs::write(&path, serialize(&empty_out)).unwrap();
    let message = refused(&path);
    assert!(message.contains("no-outputs.safetensors") && !message.contains("Some("), "{message}");
}
