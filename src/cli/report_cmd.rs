//! `report`: seed S3's figures for a run, written without a window.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use mnist_workbench::data::load_dataset;
use mnist_workbench::device::{DeviceChoice, select_device};
use mnist_workbench::report::write_run_report;
use mnist_workbench::train::RunDir;

use super::DataArgs;

/// Flags of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Folder for the figures (created if missing; existing figures are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Device: auto, wgpu, flex.
    #[arg(long, default_value = "flex")]
    device: DeviceChoice,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `report`.
pub fn run(a: ReportArgs) -> anyhow::Result<()> {
    if a.out.exists() && !a.out.is_dir() {
        anyhow::bail!(
            "--out {} is a file; give a folder for the figures",
            a.out.display()
        );
    }
    let (_, run_config) = RunDir::open(&a.run)?;
    let device = select_device(a.device)?;
    let data = load_dataset(&a.data.request_for_run(&run_config))?;
    eprintln!("data: {}", data.source);
    let written = write_run_report(&a.run, &data, &a.out, &device.device, |step| eprintln!("{step}"))
        .with_context(|| format!("report for {}", a.run.display()))?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(())
}
