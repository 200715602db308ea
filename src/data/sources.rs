//! Where the data comes from: a folder given by the user, `MNIST_DIR`, the user cache, or the
//! built-in synthetic digits when none of those holds MNIST.

use std::path::{Path, PathBuf};

use super::Digits;
use super::idx::{self, IdxError};
use super::synthetic;

/// The four MNIST file names, in the order train images, train labels, test images, test labels.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Environment variable naming a folder with the MNIST files.
pub const MNIST_DIR_VAR: &str = "MNIST_DIR";

/// Problems finding or reading a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An IDX file is damaged or not MNIST-shaped.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// A file is missing from a folder.
    #[error("{folder}: no {name}(.gz) found")]
    Missing {
        folder: PathBuf,
        /// The file name looked for.
        name: String,
    },
    /// Image and label files disagree on the item count.
    #[error("{images} has {image_count} images but {labels} has {label_count} labels")]
    CountMismatch {
        /// The `*-images-idx3-ubyte(.gz)` file.
        images: PathBuf,
        /// Items its header declares.
        image_count: usize,
        /// The matching `*-labels-idx1-ubyte(.gz)` file.
        labels: PathBuf,
        /// Items its header declares.
        label_count: usize,
    },
    /// No MNIST anywhere and the synthetic fallback was refused.
    #[error(
        "no MNIST data found (looked in: {looked}); run `mnist-workbench data download`, pass --data DIR, or use --synthetic"
    )]
    NotFound {
        /// The folders tried, in order, joined for the message.
        looked: String,
    },
}

/// Where a dataset came from, shown to the user.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataSource {
    /// A folder the user named (`--data`).
    Folder { path: PathBuf },
    /// The folder named by `MNIST_DIR`.
    EnvVar { path: PathBuf },
    /// The user cache folder (where `data download` puts the files).
    Cache { path: PathBuf },
    /// Not trained by the workbench: the weights came from elsewhere (an imported checkpoint).
    Elsewhere {
        /// Where, in words (`imported from model.pt`).
        note: String,
    },
    /// The built-in synthetic digits.
    Synthetic {
        /// Why they are used instead of MNIST.
        reason: String,
        /// Training images generated (the test set has a sixth as many).
        train_size: usize,
        /// Seed of the stroke generator: the same seed gives the same digits.
        seed: u64,
    },
}

/// Most synthetic training images the workbench generates (`--synthetic-size`'s limit).
pub const MAX_SYNTHETIC_TRAIN: usize = 1_000_000;
/// Fewest synthetic training images (`--synthetic-size`'s lower limit).
pub const MIN_SYNTHETIC_TRAIN: usize = 10;

impl DataSource {
    /// Checks the sizes a run's `config.json` declares before anything is generated: a
    /// hand-edited `data_source.train_size` of billions would otherwise exhaust memory when
    /// the run is opened. The error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let DataSource::Synthetic { train_size, .. } = self
            && !(MIN_SYNTHETIC_TRAIN..=MAX_SYNTHETIC_TRAIN).contains(train_size)
        {
            return Err((
                "data_source.train_size".into(),
                format!(
                    "synthetic training images must be {MIN_SYNTHETIC_TRAIN} to {MAX_SYNTHETIC_TRAIN}, got {train_size}"
                ),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::Folder { path } => {
                // `--data mnist` says where that is.
                let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                write!(f, "MNIST from {}", shown.display())
            }
            DataSource::EnvVar { path } => write!(f, "MNIST from $MNIST_DIR ({})", path.display()),
            DataSource::Cache { path } => write!(f, "MNIST from cache ({})", path.display()),
            DataSource::Elsewhere { note } => write!(f, "trained outside the workbench ({note})"),
            DataSource::Synthetic {
                reason, train_size, ..
            } => {
                write!(
                    f,
                    "built-in synthetic digits, {train_size} training images ({reason})"
                )
            }
        }
    }
}

impl DataSource {
    /// Whether this is real MNIST.
    pub fn is_real(&self) -> bool {
        !matches!(self, DataSource::Synthetic { .. })
    }
}

/// A train/test pair with its provenance.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The training split (60,000 images for MNIST).
    pub train: Digits,
    /// The test split (10,000 images for MNIST).
    pub test: Digits,
    /// Where they came from.
    pub source: DataSource,
}

/// The per-user cache folder for downloaded MNIST.
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("mnist-workbench").join("mnist"))
}

/// Finds `name` or `name.gz` in `folder`.
pub fn find_file(folder: &Path, name: &str) -> Option<PathBuf> {
    [folder.join(format!("{name}.gz")), folder.join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Whether `folder` holds all four MNIST files.
pub fn has_mnist(folder: &Path) -> bool {
    MNIST_FILES.iter().all(|n| find_file(folder, n).is_some())
}

fn load_pair(folder: &Path, images: &str, labels: &str) -> Result<Digits, DataError> {
    let missing = |name: &str| DataError::Missing {
        folder: folder.to_path_buf(),
        name: name.into(),
    };
    let image_path = find_file(folder, images).ok_or_else(|| missing(images))?;
    let label_path = find_file(folder, labels).ok_or_else(|| missing(labels))?;
    let imgs = idx::read_images(&image_path)?;
    let lbls = idx::read_labels(&label_path)?;
    if imgs.count != lbls.len() {
        return Err(DataError::CountMismatch {
            images: image_path,
            image_count: imgs.count,
            labels: label_path,
            label_count: lbls.len(),
        });
    }
    Ok(Digits {
        pixels: imgs.pixels,
        labels: lbls,
    })
}

/// Loads train and test sets from a folder holding the four MNIST files (raw or `.gz`).
pub fn load_split_from_folder(folder: &Path) -> Result<(Digits, Digits), DataError> {
    let train = load_pair(folder, MNIST_FILES[0], MNIST_FILES[1])?;
    let test = load_pair(folder, MNIST_FILES[2], MNIST_FILES[3])?;
    Ok((train, test))
}

/// How to choose the data.
#[derive(Debug, Clone, Default)]
pub struct DataRequest {
    /// A folder the user named; errors in it are reported, never silently replaced.
    pub folder: Option<PathBuf>,
    /// Use the synthetic digits even if MNIST is available.
    pub force_synthetic: bool,
    /// Fall back to synthetic digits when no MNIST is found (the app does; the CLI asks).
    pub allow_synthetic_fallback: bool,
    /// Size of the synthetic training set (test set is a sixth of it).
    pub synthetic_train_size: usize,
    /// Seed of the synthetic digits.
    pub synthetic_seed: u64,
}

impl DataRequest {
    /// The synthetic dataset this request would produce.
    pub fn synthetic(&self, reason: String) -> Dataset {
        let n = if self.synthetic_train_size == 0 {
            12_000
        } else {
            self.synthetic_train_size
        };
        Dataset {
            train: synthetic::generate(n, self.synthetic_seed),
            test: synthetic::generate((n / 6).max(10), self.synthetic_seed ^ 0x7E57),
            source: DataSource::Synthetic {
                reason,
                train_size: n,
                seed: self.synthetic_seed,
            },
        }
    }
}

/// Loads data: `folder`, then `MNIST_DIR`, then the cache, then (if allowed) synthetic digits.
/// A folder that exists but holds damaged files is an error, never replaced by a fallback.
pub fn load_dataset(request: &DataRequest) -> Result<Dataset, DataError> {
    if request.force_synthetic {
        return Ok(request.synthetic("chosen with --synthetic".into()));
    }
    let mut looked = Vec::new();
    if let Some(folder) = &request.folder {
        let (train, test) = load_split_from_folder(folder)?;
        return Ok(Dataset {
            train,
            test,
            source: DataSource::Folder { path: folder.clone() },
        });
    }
    if let Some(dir) = std::env::var_os(MNIST_DIR_VAR).map(PathBuf::from) {
        if has_mnist(&dir) {
            let (train, test) = load_split_from_folder(&dir)?;
            return Ok(Dataset {
                train,
                test,
                source: DataSource::EnvVar { path: dir },
            });
        }
        looked.push(format!("$MNIST_DIR={}", dir.display()));
    }
    if let Some(dir) = cache_dir() {
        if has_mnist(&dir) {
            let (train, test) = load_split_from_folder(&dir)?;
            return Ok(Dataset {
                train,
                test,
                source: DataSource::Cache { path: dir },
            });
        }
        looked.push(dir.display().to_string());
    }
    let looked = if looked.is_empty() {
        "nowhere".to_string()
    } else {
        looked.join(", ")
    };
    if request.allow_synthetic_fallback {
        return Ok(request.synthetic(format!("no MNIST found in {looked}")));
    }
    Err(DataError::NotFound { looked })
}
