//! `bench`: the benchmark tasks, one JSON line each.

use std::sync::Arc;

use clap::Args;
use clap::builder::TypedValueParser as _;
use mnist_workbench::bench;
use mnist_workbench::data::load_dataset;
use mnist_workbench::device::{DeviceChoice, select_device};

use super::DataArgs;

/// Flags of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Tasks to run (default: all): epoch, ensemble, latency.
    #[arg(long = "task", value_name = "TASK")]
    tasks: Vec<String>,
    /// Models in the ensemble task (1 to 1000).
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=1000).map(|n| n as usize))]
    models: usize,
    /// Device: auto, wgpu, flex.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `bench`.
pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let tasks: Vec<String> = if a.tasks.is_empty() {
        bench::TASKS.map(String::from).to_vec()
    } else {
        a.tasks
    };
    if let Some(bad) = tasks.iter().find(|t| !bench::TASKS.contains(&t.as_str())) {
        anyhow::bail!("unknown task '{bad}': use {}", bench::TASKS.join(", "));
    }
    let device = select_device(a.device)?;
    let data = Arc::new(load_dataset(&a.data.request())?);
    eprintln!(
        "data: {}; device: {} ({})",
        data.source, device.name, device.reason
    );
    for task in tasks {
        let line = match task.as_str() {
            "epoch" => bench::epoch(&data, &device),
            "ensemble" => bench::ensemble(&data, &device, a.models),
            _ => bench::latency(&data, &device),
        };
        println!("{line}");
    }
    Ok(())
}
