//! The batch sweep's computation: the first device screens each class's candidates for
//! correctly predicted images, then every image is one work item of the device pool
//! ([`crate::experiment::pool`]), so a device list spreads the images. An image's answer does
//! not depend on where it ran: the dropout masks of each image come from the sweep's own seed.

use burn::module::Module as _;
use burn::tensor::Device;

use super::{BatchSweep, BatchSweepConfig, ImageFlip};
use crate::analysis::rows::{Bar, ROWS, RowRange, erase_rows, paint_bar};
use crate::data::{Digits, IMAGE_PIXELS};
use crate::device::SelectedDevice;
use crate::experiment::pool::{ItemContext, ItemFailure, ItemWork, spread};
use crate::jobs::Reporter;
use crate::model::Model;
use crate::model::mc::{McDropout, logits_of_intensities};
use crate::study::StudyError;
use crate::study::shared::ModelOnDevices;
use crate::train::metrics::argmax;

/// A flip: rows (or bar thickness), where, and what the image became.
type Flip = (Option<usize>, Option<RowRange>, Option<u8>);

/// The first (fewest rows) flipping erasure of one image, trying short ranges first.
fn first_erase_flip(
    model: &Model,
    image: &[f32],
    original: u8,
    mc: Option<McDropout>,
    device: &Device,
) -> Flip {
    // Widths are tried in growing groups, so an image that flips early costs few passes.
    for widths in [1..=3, 4..=8, 9..=16, 17..=ROWS] {
        let mut tried = Vec::new();
        let mut batch = Vec::new();
        for w in widths {
            for a in 0..=ROWS - w {
                tried.push((a, a + w - 1));
                batch.extend(erase_rows(image, (a, a + w - 1)));
            }
        }
        let logits = logits_of_intensities(model, &batch, mc, device);
        if let Some((range, l)) = tried
            .iter()
            .zip(&logits)
            .find(|(_, l)| argmax(&l[..]) != original)
        {
            return (Some(range.1 - range.0 + 1), Some(*range), Some(argmax(l)));
        }
    }
    (None, None, None)
}

fn first_bar_flip(
    model: &Model,
    image: &[f32],
    original: u8,
    max_bar: usize,
    mc: Option<McDropout>,
    device: &Device,
) -> Flip {
    let mut tried = Vec::new();
    let mut batch = Vec::new();
    for thickness in 1..=max_bar.clamp(1, ROWS) {
        let bar = Bar::for_image(image, thickness);
        for row in 0..=ROWS - thickness {
            tried.push((thickness, row));
            batch.extend(paint_bar(image, row, bar));
        }
    }
    let logits = logits_of_intensities(model, &batch, mc, device);
    tried
        .iter()
        .zip(&logits)
        .find(|(_, l)| argmax(&l[..]) != original)
        .map_or((None, None, None), |(&(t, row), l)| {
            (Some(t), Some((row, row + t - 1)), Some(argmax(l)))
        })
}
/// For each of the two classes, the first `per_class` correctly predicted test images: erase
/// rows of the target class until the prediction changes, paint a bar on the rival class. The
/// images are spread over `devices` (the first screens the candidates); the answers equal
/// those of one device (bit for bit between devices of one kind).
pub fn batch_sweep(
    model: &Model,
    test: &Digits,
    config: &BatchSweepConfig,
    devices: &[SelectedDevice],
    reporter: &mut Reporter,
) -> Result<BatchSweep, StudyError> {
    if config.per_class == 0 || config.classes.target == config.classes.rival {
        return Err(StudyError::Config(
            "choose two different classes and at least one image".into(),
        ));
    }
    let first = devices
        .first()
        .ok_or_else(|| StudyError::Config("no device to run on".into()))?;
    let mut work = FlipWork {
        config,
        groups: [(config.classes.target, true), (config.classes.rival, false)].map(|(class, erase)| Group {
            class,
            erase,
            candidates: Vec::new(),
            images: Vec::new(),
        }),
        on_devices: ModelOnDevices::new(model),
    };
    let mut items = Vec::new();
    for (g, group) in work.groups.iter_mut().enumerate() {
        reporter.check()?;
        reporter.progress(format!("finding correctly predicted {}s", group.class), 0.0);
        let candidates: Vec<usize> = (0..test.len())
            .filter(|&i| test.labels[i] == group.class)
            .take(config.per_class * 2)
            .collect();
        let mut images = Vec::with_capacity(candidates.len() * IMAGE_PIXELS);
        for &i in &candidates {
            images.extend(test.intensities(i));
        }
        let on_first = model.clone().to_device(&first.device);
        let logits = logits_of_intensities(&on_first, &images, config.mc, &first.device);
        let correct = (0..candidates.len()).filter(|&k| argmax(&logits[k]) == group.class);
        items.extend(correct.take(config.per_class).map(|k| (g, k)));
        group.candidates = candidates;
        group.images = images;
    }
    let mut found: Vec<Option<ImageFlip>> = vec![None; items.len()];
    let report = spread(&work, &items, devices, reporter, &mut |done| {
        let (g, k) = items[done.index];
        let (rows, at, became) = done.output;
        found[done.index] = Some(ImageFlip {
            index: work.groups[g].candidates[k],
            rows,
            at,
            became,
            device: done.placement.device,
            seconds: done.placement.seconds,
        });
        Ok(())
    })?;
    let mut out = BatchSweep {
        config: config.clone(),
        erased: Vec::new(),
        painted: Vec::new(),
        devices: if devices.len() > 1 { report.devices } else { Vec::new() },
    };
    for (&(g, _), flip) in items.iter().zip(found) {
        let flip = flip.ok_or_else(|| StudyError::Training("an image of the batch sweep gave no answer".into()))?;
        match work.groups[g].erase {
            true => out.erased.push(flip),
            false => out.painted.push(flip),
        }
    }
    reporter.progress("done", 1.0);
    Ok(out)
}

/// One class of the sweep: its candidates (test-set indices) and their intensities.
struct Group {
    class: u8,
    /// Rows are erased (the target class) rather than a bar painted (the rival).
    erase: bool,
    candidates: Vec<usize>,
    images: Vec<f32>,
}

/// The images of a batch sweep as pool work: an item is `(group, candidate)`.
struct FlipWork<'a> {
    config: &'a BatchSweepConfig,
    groups: [Group; 2],
    on_devices: ModelOnDevices<'a>,
}

impl ItemWork for FlipWork<'_> {
    type Item = (usize, usize);
    type Output = Flip;

    fn label(&self, &(g, k): &(usize, usize)) -> String {
        let group = &self.groups[g];
        let what = if group.erase { "erasing rows of" } else { "painting a bar on" };
        format!("{what} test image {}", group.candidates[k])
    }

    fn run(&self, &(g, k): &(usize, usize), device: &SelectedDevice, ctx: &ItemContext) -> Result<Flip, ItemFailure> {
        if ctx.stopping() {
            return Err(ItemFailure::Study(StudyError::Cancelled));
        }
        let model = self.on_devices.on(device);
        let group = &self.groups[g];
        let image = &group.images[k * IMAGE_PIXELS..(k + 1) * IMAGE_PIXELS];
        let (mc, on) = (self.config.mc, &device.device);
        let flip = if group.erase {
            first_erase_flip(&model, image, group.class, mc, on)
        } else {
            first_bar_flip(&model, image, group.class, self.config.max_bar, mc, on)
        };
        ctx.add_samples(1);
        Ok(flip)
    }
}
