//! `torch.save` files written byte by byte here (a ZIP archive around a protocol-2 pickle, as
//! PyTorch writes them), so hostile shapes and the wrappers notebooks save can be tested
//! without Python: a one-element storage viewed with a huge shape and zero strides, a
//! deflated entry that expands far beyond its size, `{'model_state_dict': …,
//! 'optimizer_state_dict': …, 'epoch': …}`, `DataParallel`'s `module.` prefix.

use std::io::Write;
use std::path::{Path, PathBuf};

use mnist_workbench::interop::{ArchChoice, import_checkpoint};

mod common;

/// A value of the pickled object.
enum Value {
    Int(i64),
    Str(String),
    /// A float32 tensor: storage key, storage element count, shape, stride.
    Tensor {
        key: String,
        numel: usize,
        shape: Vec<usize>,
        stride: Vec<usize>,
    },
    /// A dict, entries in order.
    Dict(Vec<(Value, Value)>),
}

fn s(text: &str) -> Value {
    Value::Str(text.into())
}

/// A contiguous f32 tensor over the whole of storage `key`.
fn tensor(key: usize, shape: &[usize]) -> Value {
    let mut stride = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        stride[i] = stride[i + 1] * shape[i + 1];
    }
    Value::Tensor {
        key: key.to_string(),
        numel: shape.iter().product(),
        shape: shape.to_vec(),
        stride,
    }
}

fn pickle_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'X');
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(text.as_bytes());
}

fn pickle_int(out: &mut Vec<u8>, v: i64) {
    out.push(b'J');
    out.extend((v as i32).to_le_bytes());
}

fn pickle_tuple(out: &mut Vec<u8>, items: &[usize]) {
    out.push(b'(');
    items.iter().for_each(|&v| pickle_int(out, v as i64));
    out.push(b't');
}

fn pickle_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Int(v) => pickle_int(out, *v),
        Value::Str(text) => pickle_str(out, text),
        Value::Dict(entries) => {
            out.push(b'}');
            if !entries.is_empty() {
                out.push(b'(');
                for (k, v) in entries {
                    pickle_value(out, k);
                    pickle_value(out, v);
                }
                out.push(b'u');
            }
        }
        Value::Tensor {
            key,
            numel,
            shape,
            stride,
        } => {
            out.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
            // Persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel).
            out.push(b'(');
            pickle_str(out, "storage");
            out.extend(b"ctorch\nFloatStorage\n");
            pickle_str(out, key);
            pickle_str(out, "cpu");
            pickle_int(out, *numel as i64);
            out.extend(b"tQ");
            pickle_int(out, 0);
            pickle_tuple(out, shape);
            pickle_tuple(out, stride);
            out.push(0x89); // requires_grad False
            out.extend(b"ccollections\nOrderedDict\n)R");
            out.extend(b"tR");
        }
    }
}

fn pickle(root: &Value) -> Vec<u8> {
    let mut out = vec![0x80, 2];
    pickle_value(&mut out, root);
    out.push(b'.');
    out
}

/// One ZIP entry: name, the bytes as they lie in the archive, method (0 stored, 8
/// deflated), the size it declares uncompressed, its CRC-32.
struct Entry {
    name: String,
    data: Vec<u8>,
    method: u16,
    size: u64,
    crc: u32,
}

fn stored(name: &str, data: Vec<u8>) -> Entry {
    let mut crc = flate2::Crc::new();
    crc.update(&data);
    Entry {
        name: format!("archive/{name}"),
        size: data.len() as u64,
        data,
        method: 0,
        crc: crc.sum(),
    }
}

/// A ZIP archive of `entries` (sizes under 4 GiB, no ZIP64).
fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let common = |buf: &mut Vec<u8>| {
            buf.extend(20u16.to_le_bytes()); // version needed
            buf.extend(0u16.to_le_bytes()); // flags
            buf.extend(e.method.to_le_bytes());
            buf.extend([0u8; 4]); // time, date
            buf.extend(e.crc.to_le_bytes());
            buf.extend((e.data.len() as u32).to_le_bytes());
            buf.extend((e.size as u32).to_le_bytes());
            buf.extend((e.name.len() as u16).to_le_bytes());
            buf.extend(0u16.to_le_bytes()); // extra
        };
        out.extend(0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend(e.name.as_bytes());
        out.extend(&e.data);
        directory.extend(0x0201_4b50u32.to_le_bytes());
        directory.extend(20u16.to_le_bytes()); // version made by
        common(&mut directory);
        directory.extend([0u8; 6]); // comment, disk, internal attributes
        directory.extend(0u32.to_le_bytes()); // external attributes
        directory.extend(offset.to_le_bytes());
        directory.extend(e.name.as_bytes());
    }
    let directory_at = out.len() as u32;
    out.extend(&directory);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((directory.len() as u32).to_le_bytes());
    out.extend(directory_at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// A `torch.save` archive: `root` pickled, storages `data/0`, `data/1`, … from `storages`.
fn torch_file(root: &Value, storages: Vec<Entry>) -> Vec<u8> {
    let mut entries = vec![stored("data.pkl", pickle(root))];
    entries.extend(storages);
    entries.push(stored("byteorder", b"little".to_vec()));
    entries.push(stored("version", b"3".to_vec()));
    zip(&entries)
}

fn f32_storage(key: usize, values: &[f32]) -> Entry {
    stored(
        &format!("data/{key}"),
        values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

/// A small MLP (`mlp:16`) state dict with the given name prefix, and its storages from `first`.
fn mlp_state(prefix: &str, first: usize) -> (Value, Vec<Entry>) {
    let shapes: [(&str, Vec<usize>); 4] = [
        ("fc1.weight", vec![16, 784]),
        ("fc1.bias", vec![16]),
        ("fc2.weight", vec![10, 16]),
        ("fc2.bias", vec![10]),
    ];
    let mut entries = Vec::new();
    let mut storages = Vec::new();
    for (i, (name, shape)) in shapes.iter().enumerate() {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|j| ((j * 7 + i) % 13) as f32 * 0.01 - 0.06).collect();
        storages.push(f32_storage(first + i, &values));
        entries.push((s(&format!("{prefix}{name}")), tensor(first + i, shape)));
    }
    (Value::Dict(entries), storages)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn refused(path: &Path, arch: &str) -> String {
    match import_checkpoint(path, &arch.parse().unwrap(), &[]) {
        Ok(i) => panic!("{} imported as {}", path.display(), i.spec.describe()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_hand_written_archive_imports_like_a_real_one() {
    // The writer itself is right: a plain state dict imports.
    let dir = common::temp_dir("torch-plain");
    let (state, storages) = mlp_state("", 0);
    let path = write(&dir, "plain.pt", &torch_file(&state, storages));
    let imported = import_checkpoint(&path, &ArchChoice::Auto, &[]).unwrap();
    assert_eq!(imported.spec.arch_string(), "mlp:16");
    assert_eq!(imported.source.taken_from, None);
}

#[test]
fn a_one_element_storage_viewed_huge_with_zero_strides_is_refused_before_reading() {
    let dir = common::temp_dir("torch-broadcast");
    // 48000 x 48000 f32 views of one element: 9.2 GB, under the reader's own 10 GiB limit.
    let root = Value::Dict(vec![(
        s("fc1.weight"),
        Value::Tensor {
            key: "0".into(),
            numel: 1,
            shape: vec![48_000, 48_000],
            stride: vec![0, 0],
        },
    )]);
    let path = write(
        &dir,
        "broadcast.pt",
        &torch_file(&root, vec![f32_storage(0, &[1.0])]),
    );
    let message = refused(&path, "auto");
    assert!(message.contains("broadcast.pt"), "names the file: {message}");
    assert!(
        message.contains("fc1.weight")
            && message.contains("[48000, 48000]")
            && message.contains("more than the whole"),
        "names the tensor and its shape: {message}"
    );
}

#[test]
fn a_deflated_entry_that_expands_past_the_cap_is_refused_naming_it() {
    let dir = common::temp_dir("torch-bomb");
    // 600 MB of zeros deflate to under a megabyte.
    let size: usize = 600 << 20;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        encoder.write_all(&chunk).unwrap();
    }
    let data = encoder.finish().unwrap();
    assert!(data.len() < 1 << 20, "{} bytes deflated", data.len());
    let bomb = Entry {
        name: "archive/data/0".into(),
        data,
        method: 8,
        size: size as u64,
        crc: 0,
    };
    let root = Value::Dict(vec![(s("fc1.weight"), tensor(0, &[size / 4]))]);
    let path = write(&dir, "bomb.pt", &torch_file(&root, vec![bomb]));
    let message = refused(&path, "auto");
    assert!(
        message.contains("bomb.pt") && message.contains("archive/data/0") && message.contains("limit"),
        "names the file and the entry: {message}"
    );
}

#[test]
fn notebook_checkpoints_import_from_their_model_state_dict() {
    let dir = common::temp_dir("torch-wrapped");
    for key in ["model_state_dict", "state_dict", "model"] {
        let (state, mut storages) = mlp_state("", 0);
        // Adam's state for one parameter, and the epoch, as notebooks save them.
        storages.push(f32_storage(4, &[0.5; 10]));
        let optimizer = Value::Dict(vec![
            (
                s("state"),
                Value::Dict(vec![(
                    Value::Int(0),
                    Value::Dict(vec![(s("exp_avg"), tensor(4, &[10]))]),
                )]),
            ),
            (s("param_groups"), Value::Dict(vec![(s("lr"), Value::Int(1))])),
        ]);
        let root = Value::Dict(vec![
            (s(key), state),
            (s("optimizer_state_dict"), optimizer),
            (s("epoch"), Value::Int(7)),
        ]);
        let path = write(&dir, &format!("{key}.pt"), &torch_file(&root, storages));
        let imported =
            import_checkpoint(&path, &ArchChoice::Auto, &[]).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(imported.spec.arch_string(), "mlp:16");
        assert_eq!(imported.source.taken_from.as_deref(), Some(key));
        let lines = imported.mapping_lines();
        assert!(
            lines[0].contains(&format!("state dict taken from '{key}'")),
            "the report says where: {lines:?}"
        );
        assert_eq!(imported.mapping[0].theirs, "fc1");
    }
}

#[test]
fn data_parallel_prefixes_are_removed_and_flat_model_names_are_not_a_wrapper() {
    let dir = common::temp_dir("torch-prefix");
    let (state, storages) = mlp_state("module.", 0);
    let path = write(&dir, "parallel.pt", &torch_file(&state, storages));
    let imported = import_checkpoint(&path, &ArchChoice::Auto, &[]).unwrap();
    assert_eq!(imported.source.removed_prefix.as_deref(), Some("module."));
    assert_eq!(imported.mapping[0].theirs, "fc1");
    assert!(imported.mapping_lines()[0].contains("'module.' prefix removed"));
    // A flat state dict whose modules live under `self.model`: the names start with `model.`
    // but the file has no `model` key, so nothing is unwrapped.
    let (state, storages) = mlp_state("model.", 0);
    let path = write(&dir, "flat.pt", &torch_file(&state, storages));
    let imported = import_checkpoint(&path, &ArchChoice::Auto, &[]).unwrap();
    assert_eq!(imported.source.taken_from, None);
    assert_eq!(imported.mapping[0].theirs, "model.fc1");
}

#[test]
fn a_torch_file_named_safetensors_is_told_to_be_renamed() {
    let dir = common::temp_dir("torch-misnamed");
    let (state, storages) = mlp_state("", 0);
    let path = write(&dir, "model.safetensors", &torch_file(&state, storages));
    let message = refused(&path, "auto");
    assert!(
        message.contains("model.safetensors")
            && message.contains("torch.save")
            && message.contains("rename it .pt"),
        "{message}"
    );
    // A legacy (non-ZIP) pickle too.
    let path = write(&dir, "legacy.safetensors", &pickle(&s("x")));
    assert!(refused(&path, "auto").contains("rename it .pt"));
}

#[test]
fn weights_beyond_the_f32_range_are_refused_by_the_forward_check() {
    let dir = common::temp_dir("torch-huge");
    let (state, mut storages) = mlp_state("", 0);
    // Every first-layer weight near f32's limit: finite values, infinite logits.
    storages[0] = f32_storage(0, &vec![3.0e38; 16 * 784]);
    let path = write(&dir, "huge.pt", &torch_file(&state, storages));
    let message = refused(&path, "auto");
    assert!(
        message.contains("huge.pt") && message.contains("non-finite") && message.contains("fc1.weight"),
        "{message}"
    );
}
