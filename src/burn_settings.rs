//! burn and cubecl read their settings from `burn.toml` / `cubecl.toml` in the working folder
//! or in any folder above it. Such a file, wherever the workbench happens to be started, could
//! send their logs into any file (replacing it) or move their caches: a `burn.toml` two
//! folders up made `train` overwrite a file it named. [`ignore_setting_files`] fixes both
//! settings before either library reads them: their defaults, plus the environment variables
//! they document for debugging (`BURN_FUSION_LOG`, `BURN_REMOTE_LOG`, `CUBECL_DEBUG_LOG`, …),
//! which only the user sets.

use burn::BurnConfig;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};

/// Fixes burn's and cubecl's settings to their defaults and environment variables. Call it
/// before any tensor exists: a library that has read its settings keeps them.
pub fn ignore_setting_files() {
    BurnConfig::try_set(BurnConfig::default().override_from_env());
    CubeClRuntimeConfig::try_set(CubeClRuntimeConfig::default().override_from_env());
}
