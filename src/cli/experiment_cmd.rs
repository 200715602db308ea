//! `experiment <study>` and `probe <study>`: every registered study
//! ([`mnist_workbench::study::STUDIES`]) without a window, in the group of its
//! [`Lane`], writing the same results files the app's panels write and read. The
//! subcommands and their flags come from the registry: each study's own flags plus the
//! shared ones its needs ask for (`--run`, `--out`, `--overwrite`, `--device`, the data
//! flags).

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use mnist_workbench::data::load_dataset;
use mnist_workbench::device::{DeviceChoice, DeviceList, select_devices};
use mnist_workbench::run::RunDir;
use mnist_workbench::study::{
    AnyStudy, Home, Lane, Progress, Reporter, STUDIES, StudyError, StudyInputs, find, run_study,
};

use super::DataArgs;
use super::progress::ProgressBar;

/// A CLI group of studies: the studies of one [`Lane`].
pub trait LaneGroup: std::fmt::Debug {
    /// The lane whose studies the group lists.
    const LANE: Lane;
}

/// `experiment <study>`.
#[derive(Debug)]
pub struct Experiments;

impl LaneGroup for Experiments {
    const LANE: Lane = Lane::Experiment;
}

/// `probe <study>`.
#[derive(Debug)]
pub struct Probes;

impl LaneGroup for Probes {
    const LANE: Lane = Lane::Probe;
}

/// The chosen study of group `L` and its parsed flags (clap's `Subcommand`, built from the
/// registry).
#[derive(Debug)]
pub struct StudyAction<L: LaneGroup> {
    study: &'static str,
    matches: ArgMatches,
    group: PhantomData<L>,
}

/// The study `name` of group `L`.
fn find_in<L: LaneGroup>(name: &str) -> Option<&'static dyn AnyStudy> {
    find(name).filter(|s| s.lane() == L::LANE)
}

/// `--run` of a study that reads a trained run.
#[derive(Debug, Args)]
struct RunFlag {
    /// The trained run folder (`bundled`: the model built into the program).
    #[arg(long, value_name = "DIR", value_parser = super::run_folder)]
    run: PathBuf,
}

/// `--out` of a study that makes its own folder.
#[derive(Debug, Args)]
struct NewFolderOut {
    /// Results folder (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// `--out` of a study that writes into a folder it shares with others.
#[derive(Debug, Args)]
struct SharedOut {
    /// Folder for the figures and their numbers (created if missing; files of the same name
    /// are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// `--out` of a study that writes into the run's folder.
#[derive(Debug, Args)]
struct RunFolderOut {
    /// Results folder (default: the run folder).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// The subcommand of `study`, with the shared flags its needs ask for.
fn subcommand(study: &dyn AnyStudy) -> Command {
    let needs = study.needs();
    let mut cmd = study.command();
    if needs.run() {
        cmd = RunFlag::augment_args(cmd);
    }
    cmd = match study.home() {
        Home::NewFolder if study.resumes() => NewFolderOut::augment_args(cmd).mut_arg("out", |out| {
            out.help("Results folder (created if missing; what an earlier run left there is continued)")
        }),
        Home::NewFolder => NewFolderOut::augment_args(cmd),
        Home::RunFolder => RunFolderOut::augment_args(cmd),
        Home::SharedFolder => SharedOut::augment_args(cmd),
    };
    if keeps_earlier(study) {
        cmd = cmd.arg(
            Arg::new("overwrite")
                .long("overwrite")
                .action(clap::ArgAction::SetTrue)
                .help("Replace results of this kind already in the results folder (refused otherwise)"),
        );
    }
    if needs.device {
        cmd = cmd.arg(
            Arg::new("device")
                .long("device")
                .default_value(study.default_device())
                .value_parser(clap::value_parser!(DeviceList))
                .help(if study.spreads() {
                    "Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere); \
                     a comma-separated list spreads the work over several, e.g. flex,remote://gpu1:3950"
                } else {
                    "Device: auto, wgpu, flex, or remote://HOST:PORT (a `mnist-workbench serve` elsewhere)"
                }),
        );
    }
    if needs.data {
        cmd = DataArgs::augment_args(cmd);
    }
    // Flattened `Args` types set their own doc comment as the help text: the study's wins.
    cmd.about(study.about()).long_about(None)
}

/// Whether earlier results of the study are refused without `--overwrite` (not for one that
/// resumes them, nor in a shared folder, where files are redrawn like figures).
fn keeps_earlier(study: &dyn AnyStudy) -> bool {
    !study.resumes() && study.home() != Home::SharedFolder
}

impl<L: LaneGroup> FromArgMatches for StudyAction<L> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, sub)) = matches.subcommand() else {
            return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
        };
        let study =
            find_in::<L>(name).ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
        Ok(Self {
            study: study.id(),
            matches: sub.clone(),
            group: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<L: LaneGroup> clap::Subcommand for StudyAction<L> {
    fn augment_subcommands(cmd: Command) -> Command {
        STUDIES
            .iter()
            .filter(|s| s.lane() == L::LANE)
            .fold(cmd.subcommand_required(true), |cmd, study| cmd.subcommand(subcommand(*study)))
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        find_in::<L>(name).is_some()
    }
}

fn check_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        anyhow::bail!("--out {} is a file; give a folder for the results", out.display());
    }
    Ok(())
}

/// Refuses, before any work, to replace earlier results of the same kind in `out`. Anything
/// at that name counts, a symbolic link too, even one whose target is missing
/// (`symlink_metadata` does not follow links): the write would replace the link.
fn keep_earlier(out: &Path, file: &str, overwrite: bool) -> anyhow::Result<()> {
    let existing = out.join(file);
    match std::fs::symlink_metadata(&existing) {
        Ok(m) if !overwrite => {
            let what = if m.file_type().is_symlink() {
                "is a symbolic link, which the results would replace"
            } else {
                "already holds results"
            };
            anyhow::bail!(
                "{} {what}; choose another --out or pass --overwrite to replace it",
                existing.display()
            )
        }
        _ => Ok(()),
    }
}

/// Runs `experiment <study>` or `probe <study>`.
pub fn run<L: LaneGroup>(action: StudyAction<L>) -> anyhow::Result<()> {
    let study = find(action.study).context("unknown study")?;
    let m = &action.matches;
    let needs = study.needs();
    let run = match needs.run() {
        true => {
            let path = RunFlag::from_arg_matches(m)?.run;
            let (dir, config) = RunDir::open(&path)?;
            Some((path, dir, config))
        }
        false => None,
    };
    let config = study.config_from_matches(m, run.as_ref().map(|(_, _, c)| c))?;
    study.validate(&config)?;
    let out = match study.home() {
        Home::NewFolder => NewFolderOut::from_arg_matches(m)?.out,
        Home::RunFolder => match (RunFolderOut::from_arg_matches(m)?.out, &run) {
            (Some(out), _) => out,
            (None, Some((path, _, _))) => path.clone(),
            (None, None) => anyhow::bail!("--out is needed: {} reads no run folder", study.id()),
        },
        Home::SharedFolder => SharedOut::from_arg_matches(m)?.out,
    };
    check_out(&out)?;
    // Results this command writes where none were: taken back if their figures cannot be
    // written, so a retry is not refused for "results already there".
    let mut written_here = Vec::new();
    if keeps_earlier(study) {
        keep_earlier(&out, study.results_file(), m.get_flag("overwrite"))?;
        for file in [study.results_file().to_string(), study.record_file()] {
            if std::fs::symlink_metadata(out.join(&file)).is_err() {
                written_here.push(out.join(file));
            }
        }
    }
    let mut devices = match needs.device {
        true => {
            let list = m
                .get_one::<DeviceList>("device")
                .cloned()
                .unwrap_or(DeviceList(vec![DeviceChoice::Flex]));
            if list.0.len() > 1 && !study.spreads() {
                let spreading: Vec<&str> =
                    mnist_workbench::study::STUDIES.iter().filter(|s| s.spreads()).map(|s| s.id()).collect();
                anyhow::bail!(
                    "--device {list}: {} runs on one device (a list spreads the work of {})",
                    study.id(),
                    spreading.join(", ")
                );
            }
            select_devices(&list, &mut |note| eprintln!("device {note}"))?
        }
        false => Vec::new(),
    };
    let more_devices = devices.split_off(devices.len().min(1));
    let device = devices.pop();
    let data = match needs.data && study.reads_data(&config) {
        true => {
            let flags = DataArgs::from_arg_matches(m)?;
            let request = match &run {
                Some((_, _, config)) => flags.request_for_run(config),
                None => flags.request(),
            };
            Some(Arc::new(load_dataset(&request)?))
        }
        false => None,
    };
    for d in device.iter().chain(&more_devices) {
        eprintln!("device: {}", d.name);
    }
    if let Some(d) = &data {
        eprintln!("data: {}", d.source);
    }
    let model = match (&run, &device, needs.model) {
        (Some((_, dir, config)), Some(device), true) => Some(dir.load_model(&config.train.model, &device.device)?),
        (Some((_, dir, config)), None, true) => {
            Some(dir.load_model(&config.train.model, &mnist_workbench::device::flex().device)?)
        }
        _ => None,
    };
    let inputs = StudyInputs {
        model,
        run_dir: run.as_ref().map(|(path, _, _)| path.clone()),
        run_config: run.map(|(_, _, config)| config),
        data,
        device,
        more_devices,
        more_device_choices: Vec::new(),
        out: Some(out.clone()),
    };
    let mut bar = ProgressBar::new(study.title());
    let mut on_progress = |p: Progress| {
        // Several devices report a line each: the bar shows them on its one line, after the
        // time left (which a narrow terminal must not cut).
        let stage = p.stage.replace('\n', " · ");
        let note = match p.eta_secs() {
            Some(s) if stage.contains(" · ") => {
                format!("about {} left · {stage}", mnist_workbench::ui::widgets::format_duration(s))
            }
            Some(s) => format!("{stage}, about {} left", mnist_workbench::ui::widgets::format_duration(s)),
            None => stage,
        };
        bar.update((p.fraction * 1000.0) as u64, 1000, &note);
    };
    let never = || false;
    let outcome = run_study(study, &config, &inputs, &mut Reporter::new(&mut on_progress, &never));
    bar.finish();
    let results = match outcome {
        Ok(r) => r,
        Err(StudyError::Cancelled) => anyhow::bail!("cancelled"),
        Err(e) => return Err(e.into()),
    };
    println!("{}", study.summary(&results));
    // All figures or none (`save_figures`), so a failure leaves only what was there before.
    let paths = mnist_workbench::report::save_figures(&study.figures(&results), &out).map_err(|e| {
        for path in &written_here {
            let _ = std::fs::remove_file(path);
        }
        let kept = if written_here.is_empty() {
            "the results themselves are saved"
        } else {
            "the results were not kept either, so the command can simply be run again"
        };
        anyhow::anyhow!("writing the figures into {}: {e}; {kept}", out.display())
    })?;
    for path in paths {
        println!("{}", path.display());
    }
    println!("results: {}", out.display());
    Ok(())
}
