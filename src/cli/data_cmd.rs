//! `data info|check|download`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::bail;
use clap::Subcommand;
use mnist_workbench::data::download::{DownloadPlan, download_mnist};
use mnist_workbench::data::idx::sha256_decompressed;
use mnist_workbench::data::load_dataset;
use mnist_workbench::data::sources::{MNIST_DIR_VAR, MNIST_FILES, cache_dir, find_file};

use super::DataArgs;
use super::progress::ProgressBar;

/// `data` actions.
#[derive(Debug, Subcommand)]
pub enum DataAction {
    /// Where the data comes from, counts and label distribution.
    Info(DataArgs),
    /// Verify a folder's four files: structure and SHA-256 of the decompressed payloads.
    Check {
        /// The folder (default: $MNIST_DIR, then the cache).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Download MNIST from the public mirrors into the cache (or --dest).
    Download {
        /// Destination folder (default: the user cache).
        #[arg(long, value_name = "DIR")]
        dest: Option<PathBuf>,
        /// Mirror base URL to use instead of the defaults (repeatable, tried in order).
        #[arg(long, value_name = "URL")]
        mirror: Vec<String>,
    },
}

/// Runs a `data` action.
pub fn run(action: DataAction) -> anyhow::Result<()> {
    match action {
        DataAction::Info(args) => {
            let data = load_dataset(&args.request())?;
            println!("source: {}", data.source);
            for (name, set) in [("train", &data.train), ("test", &data.test)] {
                println!("{name}: {} images; per digit {:?}", set.len(), set.label_counts());
            }
            Ok(())
        }
        DataAction::Check { data } => {
            let folder = data
                .or_else(|| std::env::var_os(MNIST_DIR_VAR).map(PathBuf::from))
                .or_else(cache_dir)
                .ok_or_else(|| anyhow::anyhow!("no folder given and no cache folder on this system"))?;
            let expected = mnist_workbench::data::download::MNIST_SHA256;
            let mut bad = 0;
            for (name, want) in MNIST_FILES.iter().zip(expected) {
                let Some(path) = find_file(&folder, name) else {
                    println!("MISSING  {name}(.gz) in {}", folder.display());
                    bad += 1;
                    continue;
                };
                // The payload's digest, whether the file is gzip or raw.
                let digest = sha256_decompressed(&path);
                match digest {
                    Ok(d) if d == want => println!("ok       {}", path.display()),
                    Ok(d) => {
                        println!("BAD      {}: SHA-256 {d}, expected {want}", path.display());
                        bad += 1;
                    }
                    Err(e) => {
                        println!("BAD      {e}");
                        bad += 1;
                    }
                }
            }
            if bad > 0 {
                bail!("{bad} of 4 files missing or damaged in {}", folder.display());
            }
            mnist_workbench::data::load_split_from_folder(&folder)?;
            println!("all four files are intact MNIST");
            Ok(())
        }
        DataAction::Download { dest, mirror } => {
            let dest = dest
                .or_else(cache_dir)
                .ok_or_else(|| anyhow::anyhow!("no cache folder on this system; pass --dest"))?;
            let mut plan = DownloadPlan::standard(dest.clone());
            if !mirror.is_empty() {
                plan.mirrors = mirror
                    .into_iter()
                    .map(|m| if m.ends_with('/') { m } else { format!("{m}/") })
                    .collect();
            }
            let bar = std::cell::RefCell::new(ProgressBar::new("download"));
            let cancel = AtomicBool::new(false);
            let result = download_mnist(
                &plan,
                &|p| {
                    let total = p.total.unwrap_or(p.received.max(1));
                    bar.borrow_mut().update(
                        p.received,
                        total,
                        &format!(
                            "{} ({}/4){}",
                            p.file,
                            p.file_index + 1,
                            if p.checking { ", checking its digest" } else { "" }
                        ),
                    );
                },
                &cancel,
            );
            bar.borrow_mut().finish();
            result?;
            println!("MNIST is in {}", dest.display());
            Ok(())
        }
    }
}
