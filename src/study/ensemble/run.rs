//! Running the ensemble group by group over one device or several ([`crate::experiment::pool`]): the models
//! are cut into groups of [`GROUP_MODELS`] fixed by their number alone; each group trains as
//! one stack and is evaluated on whichever device takes it. With a results folder, every
//! finished group is kept in `ensemble-groups/models-<first>.json` (its models' steps and
//! predictions, where and how long it ran), so a run that lost all its devices continues from
//! the groups it finished when run again into the same folder; the folder is removed once
//! `ensemble.json` is written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::members::{
    EnsembleConfig, EnsembleResults, GROUPS_FOLDER, GroupPlacement, MemberResult, eval_plan, predict_members,
    stats_of, train_members,
};
use crate::experiment::pool::{ItemContext, ItemFailure, ItemWork, spread};
use super::stats::Correctness;
use crate::data::{Dataset, NUM_CLASSES};
use crate::device::SelectedDevice;
use crate::model::plain::PlainWeights;
use crate::study::{DataInfo, Reporter, StudyError, read_json, write_json};

/// Models per work item. The groups are fixed by the number of models alone, so every model's
/// weights and predictions are the same on one device or many.
pub const GROUP_MODELS: usize = 10;

/// One model of a finished group: what the results need of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GroupMember {
    member: usize,
    steps: usize,
    train_accuracy: f64,
}

/// A finished group (`ensemble-groups/models-<first>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GroupFile {
    config: EnsembleConfig,
    data: DataInfo,
    members: Vec<GroupMember>,
    /// Each model's predicted digit for every test image, as a string of digits.
    predictions: Vec<String>,
    train_seconds: f64,
    eval_seconds: f64,
    placement: Option<GroupPlacement>,
}

/// Runs the whole experiment on `data` on one device, keeping nothing on disk while it runs.
pub fn run_ensemble(
    config: &EnsembleConfig,
    data: &Dataset,
    selected: &SelectedDevice,
    reporter: &mut Reporter,
) -> Result<EnsembleResults, StudyError> {
    run_ensemble_on(config, data, std::slice::from_ref(selected), None, reporter)
}

/// Runs the whole experiment on `data`, its groups of models spread over `devices`; with
/// `dir`, the groups already finished there (same settings, same data) are taken as they are
/// and every newly finished one is kept there.
pub fn run_ensemble_on(
    config: &EnsembleConfig,
    data: &Dataset,
    devices: &[SelectedDevice],
    dir: Option<&Path>,
    reporter: &mut Reporter,
) -> Result<EnsembleResults, StudyError> {
    config.validate()?;
    crate::memory::check_ensemble(&config.model, config.models, config.per_digit, GROUP_MODELS, data)
        .map_err(|e| StudyError::Config(e.to_string()))?;
    let started = Instant::now();
    let info = DataInfo::of(data);
    let groups: Vec<std::ops::Range<usize>> = (0..config.models)
        .step_by(GROUP_MODELS)
        .map(|s| s..(s + GROUP_MODELS).min(config.models))
        .collect();
    let folder = dir.map(|d| d.join(GROUPS_FOLDER));
    let mut retrained = Vec::new();
    let mut finished: Vec<Option<GroupFile>> = groups
        .iter()
        .map(|g| {
            let kept = folder.as_deref().map(|f| earlier_group(f, g, config, &info, data.test.len()));
            match kept {
                Some(Ok(group)) => group,
                Some(Err(why)) => {
                    retrained.push(why);
                    None
                }
                None => None,
            }
        })
        .collect();
    let todo: Vec<std::ops::Range<usize>> =
        groups.iter().zip(&finished).filter(|(_, f)| f.is_none()).map(|(g, _)| g.clone()).collect();
    if let Some(f) = &folder
        && !todo.is_empty()
    {
        std::fs::create_dir_all(f).map_err(|e| StudyError::io(f, e))?;
    }
    let work = GroupWork { config, data, info: &info };
    let report = spread(&work, &todo, devices, reporter, &mut |done| {
        let mut group = done.output;
        group.placement = Some(GroupPlacement {
            models: todo[done.index].start,
            count: todo[done.index].len(),
            device: done.placement.device,
            seconds: done.placement.seconds,
        });
        if let Some(f) = &folder {
            write_json(&group_path(f, &todo[done.index]), &group)?;
        }
        let index = todo[done.index].start / GROUP_MODELS;
        finished[index] = Some(group);
        Ok(())
    })?;
    let groups: Vec<GroupFile> = finished.into_iter().flatten().collect();
    let mut results = assemble(config, data, info, groups, report.devices, started.elapsed().as_secs_f64());
    results.retrained = retrained;
    Ok(results)
}

/// The results from every group, in model order.
fn assemble(
    config: &EnsembleConfig,
    data: &Dataset,
    info: DataInfo,
    groups: Vec<GroupFile>,
    devices: Vec<crate::experiment::pool::DeviceTally>,
    seconds: f64,
) -> EnsembleResults {
    let labels = data.test.labels.clone();
    let train_seconds = groups.iter().map(|g| g.train_seconds).sum();
    let eval_seconds = groups.iter().map(|g| g.eval_seconds).sum();
    let placements: Vec<GroupPlacement> = groups.iter().filter_map(|g| g.placement.clone()).collect();
    let (members, rows): (Vec<GroupMember>, Vec<Vec<bool>>) = groups
        .into_iter()
        .flat_map(|g| g.members.into_iter().zip(g.predictions))
        .map(|(m, p)| {
            let row = p.bytes().zip(&labels).map(|(d, l)| d - b'0' == *l).collect();
            (m, row)
        })
        .unzip();
    let correctness = Correctness::from_rows(&rows);
    let members: Vec<MemberResult> = members
        .iter()
        .enumerate()
        .map(|(row, m)| MemberResult {
            seed: config.member_seed(m.member),
            train_indices: config.member_sample(&data.train.labels, m.member),
            steps: m.steps,
            train_accuracy: m.train_accuracy,
            reached_target: m.train_accuracy >= config.target_train_accuracy,
            test_accuracy: correctness.right_count(row) as f64 / labels.len().max(1) as f64,
        })
        .collect();
    let stats = stats_of(&members, &correctness, &labels);
    EnsembleResults {
        config: config.clone(),
        data: info,
        train_seconds,
        eval_seconds,
        seconds,
        placements,
        devices,
        retrained: Vec::new(),
        members,
        test_labels: labels,
        correctness,
        stats,
    }
}

fn group_path(folder: &Path, group: &std::ops::Range<usize>) -> PathBuf {
    folder.join(format!("models-{}.json", group.start))
}

/// The group kept in `folder`: `Ok(None)` when there is none, `Ok(Some)` when it is this
/// group of these settings on these data and its figures make sense, else `Err` with why it
/// is trained again (the file is left alone until the results replace it).
fn earlier_group(
    folder: &Path,
    group: &std::ops::Range<usize>,
    config: &EnsembleConfig,
    info: &DataInfo,
    images: usize,
) -> Result<Option<GroupFile>, String> {
    let path = group_path(folder, group);
    if !path.is_file() {
        return Ok(None);
    }
    let name = format!("{GROUPS_FOLDER}/{}", path.file_name().unwrap_or_default().to_string_lossy());
    let file: GroupFile = read_json(&path).map_err(|e| format!("{name}: {e}"))?;
    let members_match = file.members.len() == group.len()
        && file.members.iter().zip(group.clone()).all(|(m, i)| m.member == i)
        && file.members.iter().all(|m| (0.0..=1.0).contains(&m.train_accuracy));
    let predictions_match = file.predictions.len() == group.len()
        && file
            .predictions
            .iter()
            .all(|p| p.len() == images && p.bytes().all(|b| b.is_ascii_digit()));
    let seconds_match = [file.train_seconds, file.eval_seconds].iter().all(|s| s.is_finite() && *s >= 0.0);
    if file.config != *config || file.data != *info {
        return Err(format!("{name}: from other settings or data"));
    }
    if !(members_match && predictions_match && seconds_match) {
        return Err(format!("{name}: its models, predictions or seconds do not fit this group"));
    }
    Ok(Some(file))
}

/// Training and evaluating the ensemble's groups, as pool work.
struct GroupWork<'a> {
    config: &'a EnsembleConfig,
    data: &'a Dataset,
    info: &'a DataInfo,
}

impl ItemWork for GroupWork<'_> {
    type Item = std::ops::Range<usize>;
    type Output = GroupFile;

    fn label(&self, group: &std::ops::Range<usize>) -> String {
        format!("models {}-{}", group.start + 1, group.end)
    }

    fn weight(&self, group: &std::ops::Range<usize>) -> f64 {
        group.len() as f64
    }

    fn run(&self, group: &std::ops::Range<usize>, device: &SelectedDevice, ctx: &ItemContext) -> Result<GroupFile, ItemFailure> {
        let mut on_progress = |p: crate::jobs::Progress| ctx.progress(p.fraction);
        let stopping = || ctx.stopping();
        let mut reporter = Reporter::new(&mut on_progress, &stopping);
        let started = Instant::now();
        let trained = train_members(self.config, &self.data.train, group.clone(), group.len(), &device.device, &mut reporter)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let steps: usize = trained.iter().map(|f| f.steps).sum();
        ctx.add_samples((steps * self.config.per_digit * NUM_CLASSES) as u64);
        let eval_started = Instant::now();
        let weights: Vec<&PlainWeights> = trained.iter().map(|f| &f.weights).collect();
        let predictions = predict_members(
            &self.config.model,
            &weights,
            &self.data.test,
            eval_plan(device),
            &device.device,
            &mut reporter,
        )?;
        ctx.add_samples((trained.len() * self.data.test.len()) as u64);
        Ok(GroupFile {
            config: self.config.clone(),
            data: self.info.clone(),
            members: trained
                .iter()
                .map(|f| GroupMember {
                    member: f.member,
                    steps: f.steps,
                    train_accuracy: f.train_accuracy,
                })
                .collect(),
            predictions: predictions
                .iter()
                .map(|p| p.iter().map(|d| char::from(b'0' + d)).collect())
                .collect(),
            train_seconds,
            eval_seconds: eval_started.elapsed().as_secs_f64(),
            placement: None,
        })
    }
}
