//! Saliency maps for one image and one class: which pixels move the class's logit. A probe:
//! `probe saliency`, the probe lane in the app (the Saliency panel follows the pad), results
//! in a shared `--out`.
//!
//! All maps are in intensity units (the pad's 0-1 pixels), so they read the same for every
//! model: the gradient is ∂logit/∂intensity; gradient × input multiplies it by the
//! intensity; integrated gradients average the gradient along the straight path from a blank
//! image (`steps` midpoints) and multiply by the intensity, so they add up to
//! `logit(image) − logit(blank)`; occlusion is the logit's drop when a patch (or a row) is
//! blanked, averaged over the patches covering each pixel.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::image::{ImageArgs, ImageChoice, PickedImage};
use super::{Home, Lane, Needs, Study, StudyError, StudyInputs, Tie, check_figure, read_json, write_json};
use crate::analysis::colormap::{overlay, symmetric_limit};
use crate::analysis::pixels::intensities_to_grey;
use crate::analysis::rows::erase_rows;
use crate::data::{
    IMAGE_PIXELS, IMAGE_SIDE, MNIST_STD, NUM_CLASSES, batch::images_tensor, normalize_intensity,
};
use crate::figure::plot::{INK, MUTED, PAPER};
use crate::figure::{Anchor, Canvas};
use crate::jobs::Reporter;
use crate::model::Model;
use crate::model::mc::logits_of_intensities;
use crate::report::{Figure, json_text, title};
use crate::run::RunConfig;
use crate::train::metrics::argmax;

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

    fn reads_data(config: &SaliencySettings) -> bool {
        config.image.reads_data()
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
        vec![figure(&results.image.pixels, &results.maps)]
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

/// Settings of [`saliency`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SaliencyConfig {
    /// The class whose logit is explained.
    pub class: u8,
    /// Steps of integrated gradients.
    pub ig_steps: usize,
    /// Side of the occlusion patch.
    pub patch: usize,
    /// Step between occlusion patches.
    pub stride: usize,
}

impl Default for SaliencyConfig {
    fn default() -> Self {
        Self {
            class: 0,
            ig_steps: 32,
            patch: 4,
            stride: 2,
        }
    }
}

/// The four maps (784 values each, row-major) and what they explain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaliencyMaps {
    /// Settings.
    pub config: SaliencyConfig,
    /// Logits of the image.
    pub logits: [f32; NUM_CLASSES],
    /// ∂logit/∂intensity.
    pub gradient: Vec<f32>,
    /// Gradient × intensity.
    pub gradient_x_input: Vec<f32>,
    /// Integrated gradients from a blank image.
    pub integrated: Vec<f32>,
    /// Logit drop when a patch covering the pixel is blanked (mean over patches).
    pub occlusion: Vec<f32>,
    /// Logit drop when each single row is blanked (28 values).
    pub row_occlusion: Vec<f32>,
    /// `logit(image) − logit(blank)`, which integrated gradients should sum to.
    pub blank_gap: f32,
}

impl SaliencyMaps {
    /// The named maps, in display order.
    pub fn named(&self) -> [(&'static str, &[f32]); 4] {
        [
            ("Gradient", &self.gradient),
            ("Gradient × input", &self.gradient_x_input),
            ("Integrated gradients", &self.integrated),
            ("Occlusion", &self.occlusion),
        ]
    }
}

/// ∂logit(class)/∂intensity for each image (784 intensities per image), and the logits.
pub fn input_gradients(model: &Model, images: &[f32], class: u8, device: &Device) -> Vec<f32> {
    let n = images.len() / IMAGE_PIXELS;
    let model = model.valid();
    let ad = device.clone().without_autodiff().autodiff();
    let inputs: Vec<f32> = images.iter().map(|&v| normalize_intensity(v)).collect();
    let x = images_tensor(inputs, &ad).require_grad(); // [n, 1, 28, 28]
    let logits = model.forward(x.clone()); // [n, 10]
    let c = class as usize;
    let grads = logits.slice([0..n, c..c + 1]).sum().backward();
    let g = x.grad(&grads).expect("the input takes part in the logits"); // [n, 1, 28, 28]
    // x = (v − mean) / std, so ∂/∂v = ∂/∂x / std.
    g.into_data().iter::<f32>().map(|v| v / MNIST_STD).collect()
}

/// Occlusion map and per-row drops of `class`'s logit.
pub fn occlusion(
    model: &Model,
    image: &[f32],
    config: &SaliencyConfig,
    device: &Device,
) -> (Vec<f32>, Vec<f32>) {
    let side = IMAGE_SIDE;
    let p = config.patch.clamp(1, side);
    let s = config.stride.clamp(1, side);
    let mut starts: Vec<usize> = (0..=side - p).step_by(s).collect();
    if starts.last() != Some(&(side - p)) {
        starts.push(side - p);
    }
    let mut batch = image.to_vec();
    let mut patches = Vec::new();
    for &y in &starts {
        for &x in &starts {
            let mut img = image.to_vec();
            for r in y..y + p {
                img[r * side + x..r * side + x + p].fill(0.0);
            }
            batch.extend(img);
            patches.push((y, x));
        }
    }
    for r in 0..side {
        batch.extend(erase_rows(image, (r, r)));
    }
    let logits = logits_of_intensities(model, &batch, None, device);
    let c = config.class as usize;
    let base = logits[0][c];
    let mut sum = vec![0.0f32; IMAGE_PIXELS];
    let mut count = vec![0u32; IMAGE_PIXELS];
    for (&(y, x), l) in patches.iter().zip(&logits[1..]) {
        let drop = base - l[c];
        for r in y..y + p {
            for col in x..x + p {
                sum[r * side + col] += drop;
                count[r * side + col] += 1;
            }
        }
    }
    let map = sum
        .iter()
        .zip(&count)
        .map(|(s, &n)| s / n.max(1) as f32)
        .collect();
    let rows = logits[1 + patches.len()..].iter().map(|l| base - l[c]).collect();
    (map, rows)
}

/// All four maps of `image` (784 intensities) for `config.class`.
pub fn saliency(
    model: &Model,
    image: &[f32],
    config: &SaliencyConfig,
    device: &Device,
) -> Result<SaliencyMaps, StudyError> {
    if image.len() != IMAGE_PIXELS {
        return Err(StudyError::Config(format!(
            "an image has {IMAGE_PIXELS} pixels, got {}",
            image.len()
        )));
    }
    if config.class as usize >= NUM_CLASSES || !(1..=512).contains(&config.ig_steps) {
        return Err(StudyError::Config(
            "the class must be 0-9 and integrated gradients need 1 to 512 steps".into(),
        ));
    }
    let device = device.clone().without_autodiff();
    let gradient = input_gradients(model, image, config.class, &device);
    let gradient_x_input = gradient.iter().zip(image).map(|(g, v)| g * v).collect();
    // Midpoints α = (k + ½) / steps of the path from blank (0) to the image.
    let steps = config.ig_steps;
    let mut path = Vec::with_capacity(steps * IMAGE_PIXELS);
    for k in 0..steps {
        let alpha = (k as f32 + 0.5) / steps as f32;
        path.extend(image.iter().map(|v| v * alpha));
    }
    let path_grads = input_gradients(model, &path, config.class, &device);
    let mut integrated = vec![0.0f32; IMAGE_PIXELS];
    for chunk in path_grads.chunks(IMAGE_PIXELS) {
        for (acc, g) in integrated.iter_mut().zip(chunk) {
            *acc += g / steps as f32;
        }
    }
    for (acc, v) in integrated.iter_mut().zip(image) {
        *acc *= v;
    }
    let (occlusion, row_occlusion) = occlusion(model, image, config, &device);
    let mut pair = image.to_vec();
    pair.extend(vec![0.0; IMAGE_PIXELS]);
    let ends = logits_of_intensities(model, &pair, None, &device);
    let c = config.class as usize;
    Ok(SaliencyMaps {
        config: *config,
        logits: ends[0],
        gradient,
        gradient_x_input,
        integrated,
        occlusion,
        row_occlusion,
        blank_gap: ends[0][c] - ends[1][c],
    })
}

/// The four saliency maps over the digit, with the image itself.
pub fn figure(image: &[f32], maps: &SaliencyMaps) -> Figure {
    let mut c = Canvas::new(1060, 330, PAPER);
    title(
        &mut c,
        &format!(
            "Saliency for class {} (logit {:.2}; integrated gradients add up to {:.2}, logit − blank logit = {:.2})",
            maps.config.class,
            maps.logits[maps.config.class as usize],
            maps.integrated.iter().sum::<f32>(),
            maps.blank_gap
        ),
    );
    let scale = 6.5;
    let side = IMAGE_SIDE as f32 * scale;
    c.text(30.0 + side / 2.0, 62.0, 13.0, INK, Anchor::Center, "Image");
    c.grey(
        30.0,
        74.0,
        IMAGE_SIDE,
        IMAGE_SIDE,
        scale,
        &intensities_to_grey(image),
    );
    for (k, (name, values)) in maps.named().into_iter().enumerate() {
        let x = 30.0 + (k + 1) as f32 * (side + 20.0);
        let lim = symmetric_limit(values);
        c.text(x + side / 2.0, 62.0, 13.0, INK, Anchor::Center, name);
        c.image(x, 74.0, IMAGE_SIDE, IMAGE_SIDE, scale, |i| {
            overlay(values[i] / lim, image[i])
        });
        c.text(
            x + side / 2.0,
            74.0 + side + 16.0,
            11.0,
            MUTED,
            Anchor::Center,
            &format!("±{lim:.3}"),
        );
    }
    c.text(
        30.0,
        74.0 + side + 40.0,
        12.0,
        MUTED,
        Anchor::Left,
        "red raises the logit, blue lowers it; occlusion: drop when a 4×4 patch is blanked",
    );
    Figure {
        name: "saliency".into(),
        canvas: c,
        data: json_text(maps),
        data_ext: "json",
    }
}
