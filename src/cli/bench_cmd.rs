//! `bench`: the benchmark tasks, one JSON line each.

use std::sync::Arc;

use clap::Args;
use clap::builder::TypedValueParser as _;
use mnist_workbench::bench;
use mnist_workbench::data::load_dataset;
use mnist_workbench::data::worker::LoadedData;
use mnist_workbench::device::{DeviceList, select_devices};
use mnist_workbench::model::ModelSpec;
use mnist_workbench::study::find;
use mnist_workbench::ui::frame_bench;

/// Tasks that measure the app rather than the engine.
const APP_TASKS: [&str; 2] = ["frame", "pad"];

/// A scratch runs folder for the frame task (removed afterwards).
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mnist-workbench-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

use super::DataArgs;

/// Flags of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Tasks to run, the flag repeated for several (default: all).
    #[arg(long = "task", value_name = "TASK", value_parser = clap::builder::PossibleValuesParser::new(all_tasks()))]
    tasks: Vec<String>,
    /// Models in the ensemble task (1 to 1000).
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=1000).map(|n| n as usize))]
    models: usize,
    /// Seconds the frame task watches the app while small-cnn trains (1 to 3600).
    #[arg(long, default_value_t = 60.0,
          value_parser = clap::value_parser!(u64).range(1..=3600).map(|n| n as f64))]
    seconds: f64,
    /// Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere);
    /// the ensemble task takes a comma-separated list and spreads its models over them.
    #[arg(long, default_value = "auto")]
    device: DeviceList,
    #[command(flatten)]
    data: DataArgs,
}

/// The engine's tasks (among them each study registered with a benchmark) and the app's.
fn all_tasks() -> Vec<&'static str> {
    bench::tasks().into_iter().chain(APP_TASKS).collect()
}

/// Runs `bench`.
pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let all = all_tasks();
    let tasks: Vec<String> = if a.tasks.is_empty() {
        all.iter().map(|t| t.to_string()).collect()
    } else {
        a.tasks
    };
    let spreading: Vec<&str> = all.iter().copied().filter(|t| find(t).is_some_and(|s| s.spreads())).collect();
    if a.device.0.len() > 1 && tasks.iter().any(|t| !spreading.contains(&t.as_str())) {
        anyhow::bail!(
            "--device {}: only the {} task{} on a list of devices; add --task {}",
            a.device,
            spreading.join(", "),
            if spreading.len() == 1 { " runs" } else { "s run" },
            spreading.first().copied().unwrap_or("…")
        );
    }
    let devices = select_devices(&a.device, &mut |note| eprintln!("device {note}"))?;
    let device = devices[0].clone();
    let data = Arc::new(load_dataset(&a.data.request())?);
    eprintln!(
        "data: {}; device: {} ({})",
        data.source, device.name, device.reason
    );
    for task in tasks {
        let line = match task.as_str() {
            "epoch" => bench::epoch(&data, &device),
            "frame" => {
                let runs = tempfile_dir()?;
                let loaded = LoadedData::shared(data.clone());
                let line = frame_bench::frame(loaded, a.seconds, runs.clone());
                std::fs::remove_dir_all(&runs).ok();
                line
            }
            "pad" => frame_bench::pad(&ModelSpec::preset("small-cnn").expect("preset"), 500),
            "latency" => bench::latency(&data, &device),
            study => match find(study) {
                Some(s) => bench::study_task(s, &data, &devices, a.models),
                None => anyhow::bail!("unknown task '{study}'"),
            },
        };
        println!("{line}");
    }
    Ok(())
}
