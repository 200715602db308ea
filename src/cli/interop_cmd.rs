//! `import` and `export`: PyTorch checkpoints in, workbench models out.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mnist_workbench::interop::{ArchChoice, ExportError, export, import_checkpoint, write_imported_run};
use mnist_workbench::run::RunDir;

/// Flags of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The checkpoint: a `state_dict` saved with `torch.save` (.pt, .pth) or a .safetensors file.
    file: PathBuf,
    /// Its architecture: a preset (mlp, tiny-cnn, small-cnn, seed3-cnn), `mlp:128,64`,
    /// `cnn:32,64:k3:bn:dense320[:drop0.4]`, or `auto` to infer it from the tensors.
    #[arg(long, value_name = "ARCH")]
    arch: ArchChoice,
    /// Give one of our layers (conv1, bn1, …, fc or fc1, …, out) a module of the checkpoint by
    /// its name prefix, e.g. `--map conv1=features.0`; repeat as needed.
    #[arg(long = "map", value_name = "OURS=THEIRS", value_parser = parse_map)]
    maps: Vec<(String, String)>,
    /// Folder for run folders.
    #[arg(long, default_value = "runs", value_name = "DIR")]
    runs: PathBuf,
}

fn parse_map(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((ours, theirs)) if !ours.is_empty() && !theirs.is_empty() => {
            Ok((ours.trim().into(), theirs.trim().into()))
        }
        _ => Err(format!("{text:?}: expected OURS=THEIRS, e.g. conv1=features.0")),
    }
}

/// Runs `import`.
pub fn import(a: ImportArgs) -> anyhow::Result<()> {
    let imported = import_checkpoint(&a.file, &a.arch, &a.maps)?;
    println!(
        "read {} ({}, SHA-256 {})",
        a.file.display(),
        imported.source.format,
        &imported.source.sha256[..16]
    );
    let how = if imported.inferred { "inferred" } else { "as asked" };
    println!(
        "architecture ({how}): {} = {}",
        imported.spec.describe(),
        imported.spec.arch_string()
    );
    if imported.inferred {
        println!(
            "  (dropout cannot be read from weights: 0; give --arch with :dropP to fine-tune with dropout)"
        );
    }
    println!("mapping (ours <- theirs):");
    for line in imported.mapping_lines() {
        println!("  {line}");
    }
    if !imported.source.skipped.is_empty() {
        println!(
            "left out (integer buffers): {}",
            imported.source.skipped.join(", ")
        );
    }
    let dir = write_imported_run(&imported, &a.runs)?;
    println!("run: {}", dir.path.display());
    println!("next: mnist-workbench eval --run {}", dir.path.display());
    Ok(())
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run folder whose model to export (`bundled`: the model built into the program).
    #[arg(long, value_name = "DIR", value_parser = super::run_folder)]
    run: PathBuf,
    /// The .safetensors file to write; model.py is written beside it.
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
    /// Replace the file and model.py when they exist. A name that is a symbolic link (even a
    /// dangling one) is refused without this; with it the link itself is replaced by the file
    /// and its target is left alone.
    #[arg(long)]
    overwrite: bool,
}

/// Runs `export`.
pub fn export_run(a: ExportArgs) -> anyhow::Result<()> {
    let (dir, config) = RunDir::open(&a.run)?;
    let device = mnist_workbench::device::flex().device;
    let model = dir.load_model(&config.train.model, &device)?;
    let written = match export(&config.train.model, &model.to_plain(), &a.to, a.overwrite) {
        Ok(written) => written,
        Err(e @ (ExportError::Exists(_) | ExportError::Symlink { .. })) => {
            anyhow::bail!("exporting {}: {e} (--overwrite allows it)", a.run.display())
        }
        Err(e) => return Err(e).with_context(|| format!("exporting {}", a.run.display())),
    };
    println!(
        "wrote {} and {}",
        written.weights.display(),
        written.module.display()
    );
    println!("in Python: from model import load; net = load(); logits = net(x)");
    Ok(())
}
