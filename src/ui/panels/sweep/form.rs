//! The Sweep panel's form: what `experiment sweep` takes as flags, the swept parameters one a
//! line as `--param` takes them, each line checked as typed (its problem beside it), and what
//! the settings plan (settings, trials, epochs).

use serde::{Deserialize, Serialize};

use crate::model::{ModelSpec, PRESET_NAMES};
use crate::study::sweep::{
    HALVING_ETA, PARAMS, ParamSpec, ParamValues, Scale, SweepConfig, apply_param, planned_epochs,
};

/// The form (kept across restarts): what `experiment sweep` takes as flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct SweepSettings {
    /// Architecture preset every trial starts from (`--model`).
    pub(super) preset: String,
    /// One swept parameter a line, as `--param` takes it; blank lines are skipped.
    params: Vec<String>,
    /// Random search (`--random`) over `trials` sampled settings.
    random: bool,
    /// Settings a random search samples (`--trials`).
    trials: usize,
    /// Successive halving (`--halving`).
    halving: bool,
    /// Epochs of a full trial.
    epochs: usize,
    /// Training seeds per setting.
    seeds: usize,
    /// Share of each digit's training images held out for validation.
    val_fraction: f64,
    /// Seed of the random search and the validation split.
    seed: u64,
}

impl Default for SweepSettings {
    fn default() -> Self {
        let c = SweepConfig::default();
        Self {
            preset: "mlp".into(),
            params: vec!["lr=1e-4,1e-3,1e-2".into(), "batch-size=64,128".into()],
            random: false,
            trials: 20,
            halving: c.halving,
            epochs: c.epochs,
            seeds: c.seeds,
            val_fraction: c.val_fraction,
            seed: c.seed,
        }
    }
}

impl SweepSettings {
    /// Each line's problem (None for a line that parses and whose values apply), checked in
    /// order on one configuration as the sweep's validation does (so `optimizer=sgd` before
    /// `momentum=…` is fine).
    fn line_errors(&self) -> Vec<Option<String>> {
        let mut probe = crate::train::TrainConfig::default();
        self.params
            .iter()
            .map(|line| {
                if line.trim().is_empty() {
                    return None;
                }
                let spec = match line.trim().parse::<ParamSpec>() {
                    Ok(spec) => spec,
                    Err(e) => return Some(e),
                };
                spec.sample_values().iter().find_map(|v| {
                    apply_param(&mut probe, &spec.name, v)
                        .err()
                        .map(|e| e.to_string())
                        .or_else(|| {
                            probe
                                .validate()
                                .err()
                                .map(|e| format!("{}={v}: {}", spec.name, e.message))
                        })
                })
            })
            .collect()
    }

    /// The sweep these settings describe, or the first problem.
    pub(super) fn config(&self) -> Result<SweepConfig, String> {
        let mut params = Vec::new();
        for line in self.params.iter().filter(|l| !l.trim().is_empty()) {
            params.push(line.trim().parse::<ParamSpec>()?);
        }
        let mut config = SweepConfig {
            params,
            random_trials: self.random.then_some(self.trials),
            halving: self.halving,
            epochs: self.epochs,
            seeds: self.seeds,
            val_fraction: self.val_fraction,
            seed: self.seed,
            ..SweepConfig::default()
        };
        config.base.model =
            ModelSpec::preset(&self.preset).ok_or_else(|| format!("model {}: not a preset", self.preset))?;
        config.base.augment = false;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Settings a sweep tries (random samples, or the grid's combinations).
fn settings_count(c: &SweepConfig) -> usize {
    c.random_trials.unwrap_or_else(|| {
        c.params
            .iter()
            .map(ParamSpec::grid_len)
            .fold(1, usize::saturating_mul)
    })
}

/// Trials a complete sweep has trained, every rung counted.
pub(super) fn planned_trials(c: &SweepConfig) -> usize {
    let mut alive = settings_count(c).saturating_mul(c.seeds);
    let mut sum = 0usize;
    for _ in c.rungs() {
        sum = sum.saturating_add(alive);
        alive = alive.div_ceil(HALVING_ETA).max(1);
    }
    sum
}

impl SweepSettings {
    /// The form, with what it plans or its first problem (`built`: [`SweepSettings::config`]).
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, built: &Result<SweepConfig, String>) {
        let s = self;
        egui::Grid::new("sweep-settings").num_columns(4).show(ui, |ui| {
            ui.label("Model");
            egui::ComboBox::from_id_salt("sweep-model")
                .selected_text(&s.preset)
                .show_ui(ui, |ui| {
                    for name in PRESET_NAMES {
                        ui.selectable_value(&mut s.preset, name.to_string(), name);
                    }
                })
                .response
                .on_hover_text(
                    "The architecture every trial starts from (a model=… line varies it); settings \
                     not swept are the train command's defaults, without augmentation",
                );
            ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut s.epochs).range(1..=1000))
                .on_hover_text("Epochs of a full trial (with halving, of the last rung)");
            ui.end_row();
            ui.checkbox(&mut s.random, "Random search").on_hover_text(
                "Sample settings instead of trying every combination; needed for ranges (a:b)",
            );
            ui.add_enabled(
                s.random,
                egui::DragValue::new(&mut s.trials)
                    .range(1..=10_000)
                    .suffix(" settings"),
            )
            .on_hover_text("How many settings the random search samples")
            .on_disabled_hover_text("A grid tries every combination of the listed values");
            ui.label("Seeds");
            ui.add(egui::DragValue::new(&mut s.seeds).range(1..=100))
                .on_hover_text("Training seeds per setting, each its own trial (1, 2, …)");
            ui.end_row();
            ui.checkbox(&mut s.halving, "Successive halving").on_hover_text(
                "Every trial trains a ninth of the epochs, the best third by validation accuracy \
                 a third, the best third of those all the epochs",
            );
            ui.label("");
            ui.label("Validation share");
            ui.add(
                egui::DragValue::new(&mut s.val_fraction)
                    .range(0.01..=0.49)
                    .speed(0.005)
                    .max_decimals(3),
            )
            .on_hover_text(
                "Share of each digit's training images held out to choose by (never the test set)",
            );
            ui.end_row();
            ui.label("");
            ui.label("");
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut s.seed))
                .on_hover_text("Seeds the random search and the validation split");
            ui.end_row();
        });
        let names = params_help();
        ui.label("Swept parameters, one a line:").on_hover_text(&names);
        let errors = s.line_errors();
        let mut remove = None;
        for (i, (line, error)) in s.params.iter_mut().zip(&errors).enumerate() {
            ui.horizontal(|ui| {
                let mut edit = egui::TextEdit::singleline(line)
                    .desired_width(240.0)
                    .hint_text("lr=1e-4,1e-3,1e-2");
                if error.is_some() {
                    edit = edit.text_color(ui.visuals().error_fg_color);
                }
                ui.add(edit).on_hover_text(&names);
                if ui
                    .small_button("−")
                    .on_hover_text("Remove this parameter")
                    .clicked()
                {
                    remove = Some(i);
                }
                match (error, line.trim().parse::<ParamSpec>()) {
                    (Some(e), _) => ui.colored_label(ui.visuals().error_fg_color, e),
                    (None, Ok(spec)) => ui.weak(spec_text(&spec)),
                    (None, Err(_)) => ui.weak(""),
                };
            });
        }
        if let Some(i) = remove {
            s.params.remove(i);
        }
        if ui.button("+ Parameter").on_hover_text(&names).clicked() {
            s.params.push(String::new());
        }
        match built {
            Ok(c) => ui.weak(plan_text(c)),
            Err(e) if errors.iter().all(Option::is_none) => ui.colored_label(ui.visuals().error_fg_color, e),
            Err(_) => ui.weak(""),
        };
    }
}

/// Every sweepable name with what it sets and how a range is sampled (hover text).
fn params_help() -> String {
    let mut out =
        String::from("NAME=v1,v2,… (listed values) or NAME=a:b (a range, random search only). Names:");
    for p in PARAMS {
        let range = match p.scale {
            Scale::Log => "range sampled log-uniformly",
            Scale::Integer => "range of whole numbers",
            Scale::Listed => "listed values only",
            Scale::Linear => "range sampled uniformly",
        };
        out.push_str(&format!("\n{}: {} ({range})", p.name, p.help));
    }
    out
}

/// What a parsed line means: "3 values" or "range 0.0001 to 0.1".
fn spec_text(spec: &ParamSpec) -> String {
    match &spec.values {
        ParamValues::List { values } if values.len() == 1 => "1 value".into(),
        ParamValues::List { values } => format!("{} values", values.len()),
        ParamValues::Range { lo, hi } => format!("range {lo} to {hi}"),
    }
}

/// "6 settings × 1 seed = 6 trials · 6 epochs in all".
fn plan_text(c: &SweepConfig) -> String {
    let settings = settings_count(c);
    let trials = settings.saturating_mul(c.seeds);
    let epochs = planned_epochs(trials, &c.rungs());
    let rungs = if c.halving {
        let r: Vec<String> = c.rungs().iter().map(usize::to_string).collect();
        format!(" (rungs of {} epochs)", r.join(", "))
    } else {
        String::new()
    };
    format!(
        "{settings} settings × {} seed{} = {trials} trials · {epochs} epochs in all{rungs}",
        c.seeds,
        if c.seeds == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings_build_a_six_trial_grid_and_bad_lines_are_named() {
        let s = SweepSettings::default();
        let c = s.config().unwrap();
        assert_eq!(settings_count(&c), 6);
        assert_eq!(planned_trials(&c), 6);
        assert!(s.line_errors().iter().all(Option::is_none));
        let bad = SweepSettings {
            params: vec!["lr=abc".into(), "colour=red".into(), String::new()],
            ..SweepSettings::default()
        };
        let errors = bad.line_errors();
        assert!(
            errors[0].as_deref().is_some_and(|e| e.contains("lr")),
            "{errors:?}"
        );
        assert!(
            errors[1].as_deref().is_some_and(|e| e.contains("colour")),
            "{errors:?}"
        );
        assert_eq!(errors[2], None);
        assert!(bad.config().is_err());
    }

    #[test]
    fn halving_counts_every_rung() {
        let c = SweepConfig {
            halving: true,
            epochs: 9,
            ..SweepSettings::default().config().unwrap()
        };
        // 6 trials, then 2, then 1.
        assert_eq!(planned_trials(&c), 9);
    }
}
