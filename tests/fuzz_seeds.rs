//! Runs every fuzz target's body (`fuzz/src/lib.rs`) over its committed seed inputs
//! (`fuzz/seeds/<target>/`), so the fuzz harness compiles and passes with the crate as it
//! is, on every platform the test suite runs on.

#[path = "../fuzz/src/lib.rs"]
mod bodies;

use std::path::{Path, PathBuf};

/// The seed files of `target`, sorted (at least one).
fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

/// Runs `target`'s body over each of its seeds, naming the seed that fails.
fn run(target: &str) {
    let (_, body) = bodies::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target named {target}"));
    for file in seeds(target) {
        let data = std::fs::read(&file).expect("readable seed");
        eprintln!("{target}: {}", file.display());
        body(&data);
    }
}

#[test]
fn every_target_has_a_test() {
    let names: Vec<&str> = bodies::TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["stats", "normalize", "train", "api", "backward"]);
}

#[test]
fn stats_seeds() {
    run("stats");
}

#[test]
fn normalize_seeds() {
    run("normalize");
}

#[test]
fn train_seeds() {
    run("train");
}

#[test]
fn api_seeds() {
    run("api");
}

#[test]
fn backward_seeds() {
    run("backward");
}
