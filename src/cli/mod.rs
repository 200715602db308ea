//! Command-line interface (clap): argument types and dispatch to one module per subcommand.
#![allow(clippy::print_stdout, reason = "the command line's output is its interface")]

mod bench_cmd;
mod data_cmd;
mod desktop_cmd;
mod eval_cmd;
mod experiment_cmd;
mod interop_cmd;
mod progress;
mod report_cmd;
mod serve_cmd;
mod train_cmd;

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use mnist_workbench::data::sources::DataRequest;

/// MNIST Workbench: train, inspect and probe small digit classifiers.
#[derive(Debug, Parser)]
#[command(name = "mnist-workbench", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// The token of a remote server (`--device remote://HOST:PORT`, `serve`), read from this
    /// file's first line; default: $MNIST_WORKBENCH_TOKEN.
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

impl Cli {
    /// Parses the command line. `--token-file` is accepted everywhere (it is global), but
    /// listed only in the help of the commands that can reach a server: `serve`, those with
    /// `--device` and the groups holding them, and the app itself.
    pub fn try_parse_args() -> Result<Self, clap::Error> {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let mut cmd = Self::command();
        let flag = cmd.get_arguments().find(|a| a.get_id() == "token_file").cloned();
        if let Some(flag) = flag {
            cmd = hide_where_no_server_is_reached(cmd, &flag.hide(true));
        }
        let matches = cmd.try_get_matches_from_mut(std::env::args_os())?;
        Self::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
    }

    /// Whether this is `serve`.
    pub fn serves(&self) -> bool {
        matches!(self.command, Some(Cmd::Serve(_)))
    }
}

/// `cmd` with `hidden` (a hidden copy of the global `--token-file`) given to every subcommand
/// that cannot reach a server; clap then propagates that copy, not the listed one, below it.
fn hide_where_no_server_is_reached(cmd: clap::Command, hidden: &clap::Arg) -> clap::Command {
    cmd.mut_subcommands(|sub| {
        if reaches_a_server(&sub) {
            hide_where_no_server_is_reached(sub, hidden)
        } else {
            sub.arg(hidden.clone())
        }
    })
}

/// Whether `cmd` or a subcommand of it serves or takes `--device`.
fn reaches_a_server(cmd: &clap::Command) -> bool {
    cmd.get_name() == "serve"
        || cmd.get_arguments().any(|a| a.get_id() == "device")
        || cmd.get_subcommands().any(reaches_a_server)
}

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Train a model; writes a run folder (config, metrics, checkpoint, summary).
    Train(train_cmd::TrainArgs),
    /// Evaluate a run's checkpoint on the test set.
    Eval(eval_cmd::EvalArgs),
    /// Predict the digit in a picture (any size PNG) with a run's model.
    Predict(eval_cmd::PredictArgs),
    /// Inspect, verify or download MNIST.
    Data {
        #[command(subcommand)]
        action: data_cmd::DataAction,
    },
    /// Write seed S3's figures (PNG plus CSV/JSON) for a run, without a window.
    Report(report_cmd::ReportArgs),
    /// Experiments over many models or a run's history: every registered experiment study
    /// (`experiment --help` lists them), written to a results folder.
    Experiment {
        #[command(subcommand)]
        action: experiment_cmd::StudyAction<experiment_cmd::Experiments>,
    },
    /// Probe a trained model: every registered probe study (`probe --help` lists them).
    Probe {
        #[command(subcommand)]
        action: experiment_cmd::StudyAction<experiment_cmd::Probes>,
    },
    /// Run the benchmark tasks (one JSON line each).
    Bench(bench_cmd::BenchArgs),
    /// Import a PyTorch model (torch.save state_dict or .safetensors) as a run folder.
    Import(interop_cmd::ImportArgs),
    /// Export a run's model for PyTorch: .safetensors plus a model.py that loads it.
    Export(interop_cmd::ExportArgs),
    /// Serve this machine's device to workbenches elsewhere (they use --device remote://HOST:PORT).
    Serve(serve_cmd::ServeArgs),
    /// Open the desktop workbench (the default without a subcommand).
    App(AppArgs),
    /// Add the workbench to the desktop's application menu (a desktop entry and its icon under
    /// ~/.local/share); --uninstall removes them.
    InstallDesktop(desktop_cmd::InstallDesktopArgs),
}

/// Flags of `app`.
#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// Folder with the four MNIST files; default: $MNIST_DIR, then the cache, then the
    /// built-in synthetic digits (the app says which it uses).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Start with the built-in synthetic digits.
    #[arg(long)]
    synthetic: bool,
    /// Folder for run folders.
    #[arg(long, default_value = "runs", value_name = "DIR")]
    runs: PathBuf,
    /// Start with the default layout and settings instead of the saved ones.
    #[arg(long)]
    reset_layout: bool,
    /// What "auto" means in the app: auto (wgpu on a hardware GPU, else the CPU), wgpu (any
    /// adapter, software ones too; the window then renders on burn's wgpu device), flex. More
    /// devices after a comma (remote://HOST:PORT) fill the "Also on" list: the ensemble, size
    /// curve, sweep, stability test and batch sweep spread their work over them too.
    #[arg(long, default_value = "auto")]
    device: mnist_workbench::device::DeviceList,
    /// A PyTorch checkpoint (.pt, .pth, .safetensors) to import: the app opens with the
    /// import window for it.
    #[arg(long, value_name = "FILE")]
    import: Option<PathBuf>,
}

impl Default for AppArgs {
    fn default() -> Self {
        Self {
            data: None,
            synthetic: false,
            runs: PathBuf::from("runs"),
            reset_layout: false,
            device: mnist_workbench::device::DeviceList(vec![mnist_workbench::device::DeviceChoice::Auto]),
            import: None,
        }
    }
}

fn open_app(a: AppArgs) -> anyhow::Result<()> {
    let mut options = mnist_workbench::ui::AppOptions {
        runs_root: a.runs,
        restore: !a.reset_layout,
        import: a.import,
        bundled_model: true,
        ..Default::default()
    };
    options.data.folder = a.data;
    options.data.force_synthetic = a.synthetic;
    let mut list = a.device.0.into_iter();
    let first = list.next().unwrap_or(mnist_workbench::device::DeviceChoice::Auto);
    options.device = Some(mnist_workbench::device::select_device(first)?);
    // Opened when an experiment that spreads its work starts, on its own thread.
    options.more_devices = list.collect();
    mnist_workbench::ui::run_native(options)
}

/// Where to take the data from (shared by the subcommands that need data).
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Folder with the four MNIST files (raw or .gz); default: $MNIST_DIR, then the cache.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Use the built-in synthetic digits instead of MNIST.
    #[arg(long)]
    synthetic: bool,
    /// Training images generated with --synthetic (10 to 1,000,000).
    #[arg(long, default_value_t = 12_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(10..=1_000_000).map(|n| n as usize))]
    synthetic_size: usize,
}

/// A trained run and a folder for what is written from it (`report`, `probe`).
#[derive(Debug, Args)]
pub struct RunOutArgs {
    /// The trained run folder (`bundled`: the model built into the program).
    #[arg(long, value_name = "DIR", value_parser = run_folder)]
    run: PathBuf,
    /// Folder for the figures and their numbers (created if missing; files of the same name are
    /// replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere).
    #[arg(long, default_value = "flex")]
    device: mnist_workbench::device::DeviceChoice,
    #[command(flatten)]
    data: DataArgs,
}

/// A `--run` value: a run folder, or `bundled` for the model built into the program (written
/// out as a run folder under the cache folder; `./bundled` names a folder called that).
fn run_folder(value: &str) -> Result<PathBuf, String> {
    mnist_workbench::run::bundled::resolve_run(std::path::Path::new(value))
        .map_err(|e| format!("cannot write out the bundled model: {e}"))
}

impl RunOutArgs {
    /// Refuses an `--out` that is a file.
    fn check_out(&self) -> anyhow::Result<()> {
        if self.out.exists() && !self.out.is_dir() {
            anyhow::bail!(
                "--out {} is a file; give a folder for the results",
                self.out.display()
            );
        }
        Ok(())
    }
}

impl DataArgs {
    /// The request for data to use a run with: without `--data`, a run trained on the
    /// synthetic digits regenerates the very digits it was trained and tested on.
    fn request_for_run(&self, run: &mnist_workbench::run::RunConfig) -> DataRequest {
        let mut request = self.request();
        if let mnist_workbench::data::DataSource::Synthetic { train_size, seed, .. } = run.data_source
            && self.data.is_none()
        {
            request.force_synthetic = true;
            request.synthetic_train_size = train_size;
            request.synthetic_seed = seed;
        }
        request
    }

    fn request(&self) -> DataRequest {
        DataRequest {
            folder: self.data.clone(),
            force_synthetic: self.synthetic,
            allow_synthetic_fallback: false,
            synthetic_train_size: self.synthetic_size,
            synthetic_seed: 2024,
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // Named now, read only when a remote device is used (or by `serve`); a token file others
    // can read is a log line on `serve`, a note on stderr elsewhere.
    let token_note: fn(&str) = match cli.command {
        Some(Cmd::Serve(_)) => serve_cmd::log,
        _ => |line: &str| eprintln!("note: {line}"),
    };
    mnist_workbench::remote::set_token_file(cli.token_file.clone(), token_note);
    match cli.command {
        None => open_app(AppArgs::default()),
        Some(Cmd::App(a)) => open_app(a),
        Some(Cmd::Train(a)) => train_cmd::run(a),
        Some(Cmd::Eval(a)) => eval_cmd::eval(a),
        Some(Cmd::Predict(a)) => eval_cmd::predict(a),
        Some(Cmd::Data { action }) => data_cmd::run(action),
        Some(Cmd::Bench(a)) => bench_cmd::run(a),
        Some(Cmd::Report(a)) => report_cmd::run(a),
        Some(Cmd::Experiment { action }) => experiment_cmd::run(action),
        Some(Cmd::Probe { action }) => experiment_cmd::run(action),
        Some(Cmd::Import(a)) => interop_cmd::import(a),
        Some(Cmd::Export(a)) => interop_cmd::export_run(a),
        Some(Cmd::Serve(a)) => serve_cmd::run(a),
        Some(Cmd::InstallDesktop(a)) => desktop_cmd::run(a),
    }
}
