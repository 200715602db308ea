//! Saliency maps of one image as a study ([`crate::probe::saliency`]): gradient, gradient ×
//! input, integrated gradients and occlusion for one class. A probe: `probe saliency`, the
//! probe lane in the app (the Saliency panel follows the pad), results in a shared `--out`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::image::{ImageArgs, ImageChoice, PickedImage};
use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use crate::jobs::Reporter;
use crate::probe::saliency::{SaliencyConfig, SaliencyMaps, saliency};
use crate::probe::{argmax, logits_of_intensities};
use crate::report::Figure;
use crate::run::RunConfig;

/// The `probe saliency` study.
pub struct Saliency;

/// Settings: the image, the class explained and the maps' resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SaliencySettings {
    /// The image explained.
    pub image: ImageChoice,
    /// The class whose logit is explained; None: the one the model predicts.
    pub class: Option<u8>,
    /// Integrated-gradients steps (1 to 512).
    pub ig_steps: usize,
    /// Side of the occlusion patch (1 to 28).
    pub patch: usize,
    /// Step between occlusion patches (1 to 28).
    pub stride: usize,
}

impl Default for SaliencySettings {
    fn default() -> Self {
        let maps = SaliencyConfig::default();
        Self {
            image: ImageChoice::default(),
            class: None,
            ig_steps: maps.ig_steps,
            patch: maps.patch,
            stride: maps.stride,
        }
    }
}

/// Flags of `probe saliency`.
#[derive(Debug, clap::Args)]
pub struct SaliencyArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// Class to explain (default: the prediction).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..10))]
    class: Option<u8>,
    /// Integrated-gradients steps.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=512))]
    steps: u64,
    /// Occlusion patch side.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=28))]
    patch: u64,
}

/// The maps and the image they explain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaliencyResults {
    /// The image.
    pub image: PickedImage,
    /// The maps.
    pub maps: SaliencyMaps,
}

/// Results file (the figure's numbers are `saliency.json`).
pub const RESULTS_FILE: &str = "saliency_results.json";

impl Study for Saliency {
    const ID: &'static str = "saliency";
    const TITLE: &'static str = "Saliency";
    const ABOUT: &'static str = "Gradient, gradient × input, integrated gradients and occlusion for one image.";
    const RESULTS_FILE: &'static str = RESULTS_FILE;
    const NEEDS: Needs = Needs::MODEL_AND_DATA;
    const HOME: Home = Home::SharedFolder;
    const TIE: Tie = Tie::Model;
    const LANE: Lane = Lane::Probe;
    const DEFAULT_DEVICE: &'static str = "flex";

    type Config = SaliencySettings;
    type Args = SaliencyArgs;
    type Results = SaliencyResults;

    fn config_from_args(args: SaliencyArgs, _run: Option<&RunConfig>) -> Result<SaliencySettings, StudyError> {
        Ok(SaliencySettings {
            image: args.image.choice(7),
            class: args.class,
            ig_steps: args.steps as usize,
            patch: args.patch as usize,
            ..SaliencySettings::default()
        })
    }

    fn quick_config(_run: Option<&RunConfig>) -> SaliencySettings {
        SaliencySettings {
            image: ImageChoice::TestIndex { index: 0 },
            ig_steps: 4,
            ..SaliencySettings::default()
        }
    }

    fn validate(config: &SaliencySettings) -> Result<(), StudyError> {
        config.image.validate("image")?;
        let side = 1..=IMAGE_SIDE;
        if let Some(c) = config.class.filter(|&c| c as usize >= NUM_CLASSES) {
            return Err(StudyError::Config(format!("class: {c} is not a digit (0 to 9)")));
        }
        if !(1..=512).contains(&config.ig_steps) {
            return Err(StudyError::Config(format!("ig_steps: {} is not in 1..=512", config.ig_steps)));
        }
        for (name, value) in [("patch", config.patch), ("stride", config.stride)] {
            if !side.contains(&value) {
                return Err(StudyError::Config(format!("{name}: {value} is not in 1..={IMAGE_SIDE}")));
            }
        }
        Ok(())
    }

    fn folder_label(_config: &SaliencySettings) -> String {
        "saliency".into()
    }

    fn run(
        config: &SaliencySettings,
        inputs: &StudyInputs,
        reporter: &mut Reporter,
    ) -> Result<SaliencyResults, StudyError> {
        let (model, device) = inputs.model_on_device()?;
        let image = config.image.pick(inputs.data.as_deref())?;
        reporter.progress("saliency", 0.0);
        let class = match config.class {
            Some(c) => c,
            None => argmax(&logits_of_intensities(model, &image.pixels, None, &device)[0]),
        };
        let maps_config = SaliencyConfig {
            class,
            ig_steps: config.ig_steps,
            patch: config.patch,
            stride: config.stride,
        };
        let maps = saliency(model, &image.pixels, &maps_config, &device)?;
        reporter.progress("done", 1.0);
        Ok(SaliencyResults { image, maps })
    }

    fn save(results: &SaliencyResults, dir: &Path) -> Result<(), StudyError> {
        write_json(&dir.join(RESULTS_FILE), results)
    }

    fn load(dir: &Path) -> Result<SaliencyResults, StudyError> {
        let path = dir.join(RESULTS_FILE);
        let r: SaliencyResults = read_json(&path)?;
        let m = &r.maps;
        let maps = [
            ("image.pixels", &r.image.pixels),
            ("maps.gradient", &m.gradient),
            ("maps.gradient_x_input", &m.gradient_x_input),
            ("maps.integrated", &m.integrated),
            ("maps.occlusion", &m.occlusion),
        ];
        for (field, values) in maps {
            if values.len() != IMAGE_PIXELS {
                let n = values.len();
                return Err(StudyError::format(&path, format!("field `{field}` has {n} values, not {IMAGE_PIXELS}")));
            }
            if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                return Err(StudyError::format(&path, format!("field `{field}` holds {v}")));
            }
        }
        if r.image.pixels.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(StudyError::format(&path, "field `image.pixels` holds an intensity outside [0, 1]"));
        }
        if m.config.class as usize >= NUM_CLASSES {
            return Err(StudyError::format(&path, format!("field `maps.config.class` is {}", m.config.class)));
        }
        if m.row_occlusion.len() != IMAGE_SIDE {
            return Err(StudyError::format(&path, "field `maps.row_occlusion` does not hold 28 rows"));
        }
        for (i, v) in m.logits.iter().chain(&m.row_occlusion).chain([&m.blank_gap]).enumerate() {
            check_figure(&path, &format!("maps (logit or drop {i})"), v.abs() as f64, false)?;
        }
        Ok(r)
    }

    fn figures(results: &SaliencyResults) -> Vec<Figure> {
        vec![crate::report::probes::saliency(&results.image.pixels, &results.maps)]
    }

    fn summary(results: &SaliencyResults) -> String {
        let m = &results.maps;
        format!(
            "{}, class {}: integrated gradients sum {:.3}, logit − blank logit {:.3}",
            results.image.label,
            m.config.class,
            m.integrated.iter().sum::<f32>(),
            m.blank_gap
        )
    }
}
