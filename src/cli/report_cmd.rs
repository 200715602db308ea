//! `report`: seed S3's figures for a run, written without a window.

use anyhow::Context as _;
use mnist_workbench::data::load_dataset;
use mnist_workbench::device::select_device;
use mnist_workbench::report::write_run_report;
use mnist_workbench::run::RunDir;

/// Flags of `report`: the run and the folder for its figures.
pub type ReportArgs = super::RunOutArgs;

/// Runs `report`.
pub fn run(a: ReportArgs) -> anyhow::Result<()> {
    a.check_out()?;
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
