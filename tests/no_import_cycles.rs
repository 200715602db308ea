//! Layering of `src/`: no two files import each other (the shared item belongs in the lower
//! one), and the run-folder module `run/` sits below training, interop and experiments. The
//! graph is the one `import_graph` reads: every `use` and inline path resolved to a file.

mod import_graph;

use std::path::Path;

use import_graph::Graph;

fn graph() -> Graph {
    Graph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

/// The reader finds uses written every way the crate writes them, so an empty cycle list
/// means something.
#[test]
fn the_import_graph_sees_known_uses() {
    let g = graph();
    let edge = |from: &str, to: &str| {
        let (a, b) = (g.file(from).expect(from), g.file(to).expect(to));
        assert!(g.edges.contains_key(&(a, b)), "{from} should use {to}");
    };
    edge("main.rs", "cli/mod.rs"); // a child module written inline
    edge("remote/wire_tests.rs", "remote/wire.rs"); // #[path] module, `use super::*`
    edge("train/session.rs", "run/dir.rs"); // through a `pub use` re-export
    edge("cli/train_cmd.rs", "train/config.rs"); // `mnist_workbench::` from the binary
    assert!(g.edges.len() > 300, "only {} uses found", g.edges.len());
}

#[test]
fn no_two_files_import_each_other() {
    let cycles = graph().two_file_cycles();
    assert!(
        cycles.is_empty(),
        "files that import each other (move the shared item into the lower one):\n  {}",
        cycles.join("\n  ")
    );
}

/// `run/` (run folders, their JSON files and step log, folder names) sits below training,
/// interop and the studies: its files use nothing of `train/` but the config and event types
/// the folders store, nothing they reach uses `run/` again, and neither they nor anything
/// they reach is part of `interop/`, `experiment/` or `study/`.
#[test]
fn run_folders_sit_below_training_interop_and_experiments() {
    let g = graph();
    let rel = |k: usize| g.files[k].rel.as_str();
    let run: Vec<usize> = (0..g.files.len())
        .filter(|&k| rel(k).starts_with("run/"))
        .collect();
    assert!(!run.is_empty(), "src/run/ is missing");
    let mut wrong = Vec::new();
    let describe = |from: usize, to: usize| {
        let (line, path) = &g.edges[&(from, to)];
        format!("{}:{line} uses {path} ({})", rel(from), rel(to))
    };
    for (&(from, to), _) in g.edges.iter().filter(|((from, _), _)| run.contains(from)) {
        if rel(to).starts_with("train/") && !["train/config.rs", "train/events.rs"].contains(&rel(to)) {
            wrong.push(describe(from, to));
        }
    }
    let reached = g.reachable(&run);
    for (&file, &via) in &reached {
        if ["interop/", "experiment/", "study/"]
            .iter()
            .any(|m| rel(file).starts_with(m))
        {
            wrong.push(format!("reaches {} through {}", rel(file), describe(via, file)));
        }
        if !run.contains(&file) {
            for (&(from, to), _) in g.edges.range((file, 0)..(file + 1, 0)) {
                if run.contains(&to) {
                    wrong.push(format!("a cycle through run/: {}", describe(from, to)));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "run/ is not below the modules that use it:\n  {}",
        wrong.join("\n  ")
    );
}
