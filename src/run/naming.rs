//! Folder names that sort by time: `YYYYMMDD-HHMMSS-<label>` in UTC, with `-2`, `-3`, … added
//! when the name is taken. Run folders (`<time>-<model>-seed<N>`, `<time>-imported-<file>`)
//! and results folders (`<time>-<label>`) are all named this way, so a folder listing sorted
//! by name is newest last and the Runs list and results pickers sort newest first by name.

use std::path::{Path, PathBuf};

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no time zone database).
pub fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `YYYYMMDD-HHMMSS-<label>` from a [`utc_timestamp`] (its digits; `2026-11-26T09:15:42Z`
/// gives `20261126-091542-<label>`).
///
/// # Panics
/// When `timestamp` holds fewer than 14 digits.
pub fn stamped_name(timestamp: &str, label: &str) -> String {
    let digits: String = timestamp.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("{}-{}-{label}", &digits[..8], &digits[8..14])
}

/// `root/name` when nothing is there yet, otherwise the first free of `root/name-2`,
/// `root/name-3`, … (nothing is created).
pub fn free_path(root: &Path, name: &str) -> PathBuf {
    let mut path = root.join(name);
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = root.join(format!("{name}-{n}"));
    }
    path
}

/// The free folder path under `root` named by `timestamp` and `label`
/// ([`stamped_name`], then [`free_path`]); nothing is created.
pub fn stamped_folder(root: &Path, timestamp: &str, label: &str) -> PathBuf {
    free_path(root, &stamped_name(timestamp, label))
}

/// A fresh results folder path under `root`: `<UTC now>-<label>` (not yet created).
pub fn new_results_dir(root: &Path, label: &str) -> PathBuf {
    stamped_folder(root, &utc_timestamp(), label)
}

/// Folders directly under `root` holding a results file named `file`, newest first (folder
/// names start with a UTC timestamp).
pub fn list_results(root: &Path, file: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(file).is_file())
        .collect();
    found.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_taken_names_get_a_number() {
        assert_eq!(
            stamped_name("2026-11-26T09:15:42Z", "tiny-cnn-seed3"),
            "20261126-091542-tiny-cnn-seed3"
        );
        let root = std::env::temp_dir().join(format!("mw-naming-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let first = stamped_folder(&root, "2026-11-26T09:15:42Z", "x");
        assert_eq!(first, root.join("20261126-091542-x"));
        std::fs::create_dir(&first).unwrap();
        let second = stamped_folder(&root, "2026-11-26T09:15:42Z", "x");
        assert_eq!(second, root.join("20261126-091542-x-2"));
        std::fs::create_dir(&second).unwrap();
        assert_eq!(
            free_path(&root, "20261126-091542-x"),
            root.join("20261126-091542-x-3")
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn timestamps_have_the_documented_shape() {
        let t = utc_timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
