//! Figures as files: each figure is a picture ([`Canvas`]) plus its numbers (CSV or JSON),
//! drawn without a window. [`figures`] has one function per figure (shared by the panels'
//! Export buttons); [`write_run_report`] writes seed [S3](crate#seed-studies)'s whole set for a
//! run.

pub mod figures;

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::analysis::worker::evaluate_with_progress;
use crate::data::Dataset;
use crate::figure::Canvas;
use crate::model::inspect::{filter_banks, inspect_intensities};
use crate::run::RunDir;
use crate::train::history::RunHistory;

/// A figure's title line, top left.
pub(crate) fn title(canvas: &mut Canvas, text: &str) {
    canvas.text(
        20.0,
        22.0,
        18.0,
        crate::figure::plot::INK,
        crate::figure::Anchor::Left,
        text,
    );
}

/// `value` as pretty JSON, the numbers file of a figure (an error object if it cannot be
/// written, which a figure's plain data never hits).
pub(crate) fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
}

/// A picture and the numbers behind it.
pub struct Figure {
    /// File stem, e.g. `07_confusion_matrix`.
    pub name: String,
    pub canvas: Canvas,
    /// The numbers drawn, as CSV or JSON text.
    pub data: String,
    /// Extension of the numbers file (`csv` or `json`).
    pub data_ext: &'static str,
}

impl Figure {
    /// The two files of this figure in `dir`, `<name>.png` and `<name>.<ext>`, with their bytes.
    pub fn files(&self, dir: &Path) -> [(PathBuf, Vec<u8>); 2] {
        [
            (dir.join(format!("{}.png", self.name)), self.canvas.to_png()),
            (dir.join(format!("{}.{}", self.name, self.data_ext)), self.data.as_bytes().to_vec()),
        ]
    }

    /// Writes `<name>.png` and `<name>.<ext>` into `dir`, both or neither
    /// ([`crate::fsutil::write_files_together`]), returning both paths.
    pub fn save(&self, dir: &Path) -> std::io::Result<[PathBuf; 2]> {
        std::fs::create_dir_all(dir)?;
        let files = self.files(dir);
        crate::fsutil::write_files_together(&files)?;
        Ok(files.map(|(path, _)| path))
    }
}

/// Writes every figure's two files into `dir` (created if missing), all or none of them
/// ([`crate::fsutil::write_files_together`]), returning the paths in the figures' order.
pub fn save_figures(figures: &[Figure], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files: Vec<(PathBuf, Vec<u8>)> = figures.iter().flat_map(|figure| figure.files(dir)).collect();
    crate::fsutil::write_files_together(&files)?;
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// Errors of [`write_run_report`].
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run folder or its checkpoint could not be read.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// A figure could not be written.
    #[error("cannot write into {0}: {1}")]
    Write(PathBuf, std::io::Error),
    /// The test set is empty.
    #[error("the test set is empty; nothing to report")]
    NoTestImages,
}

/// Writes seed S3's figures for the run in `run_dir` into `out`, evaluating its checkpoint
/// on `data`'s test set: training history, sample data, predictions, filters, feature maps,
/// confusion matrix, confidence analysis, the errors gallery and the dataset overview.
/// `progress` hears one line per figure drawn. The figures are written together, all or
/// none ([`save_figures`]). Returns the files written.
pub fn write_run_report(
    run_dir: &Path,
    data: &Dataset,
    out: &Path,
    device: &Device,
    mut progress: impl FnMut(&str),
) -> Result<Vec<PathBuf>, ReportError> {
    let (dir, config) = RunDir::open(run_dir)?;
    let model = dir.load_model(&config.train.model, device)?;
    if data.test.is_empty() {
        return Err(ReportError::NoTestImages);
    }
    progress("evaluating the test set");
    let never = std::sync::atomic::AtomicBool::new(false);
    let eval = evaluate_with_progress(&model, &data.test, device, 0, &never, |_, _| {})
        .expect("an evaluation that is never cancelled finishes");
    // The figure shows epochs only: `metrics.jsonl`'s events, without `steps.csv` (which
    // can hold millions of rows).
    let history = dir
        .read_events()
        .map(|events| RunHistory::from_events(&events, config.train.epochs))
        .unwrap_or_else(|_| RunHistory::new(0, config.train.epochs));
    let stats = crate::analysis::dataset::DatasetStats::compute(data);

    let mut figures = vec![
        figures::training_history(&history.epochs),
        figures::sample_data(&data.test),
        figures::predictions(
            &data.test,
            &eval,
            &(0..data.test.len().min(24)).collect::<Vec<_>>(),
        ),
    ];
    if let Some(first) = filter_banks(&model).into_iter().next() {
        figures.push(figures::filters(&first, None));
    }
    let example = data.test.intensities(0);
    if let Some(inspection) = inspect_intensities(&model, &example, device) {
        figures.push(figures::feature_maps(&example, &inspection, "test image #0"));
    }
    figures.push(figures::confusion(&eval.report.confusion));
    figures.push(figures::calibration(&eval));
    figures.push(figures::errors(&data.test, &eval, None, None, 40));
    figures.push(figures::dataset(&stats, data));

    for figure in &figures {
        progress(&figure.name);
    }
    // All figures or none: a report cut short by a full disk would look complete in a file
    // browser while part of it is missing or from an earlier run.
    save_figures(&figures, out).map_err(|e| ReportError::Write(out.to_path_buf(), e))
}
