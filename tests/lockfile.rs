//! The app and burn must share one wgpu: exactly one `wgpu` package in Cargo.lock.

#[test]
fn cargo_lock_has_exactly_one_wgpu() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock is committed");
    let versions: Vec<&str> = lock
        .split("[[package]]")
        .filter(|block| block.lines().any(|l| l.trim() == "name = \"wgpu\""))
        .filter_map(|block| block.lines().find(|l| l.starts_with("version = ")))
        .collect();
    assert_eq!(
        versions.len(),
        1,
        "several wgpu versions in Cargo.lock: {versions:?}"
    );
    assert!(versions[0].contains("\"30."), "wgpu is not 30.x: {}", versions[0]);
}
