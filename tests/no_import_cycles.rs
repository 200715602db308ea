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

/// The unit a file belongs to when counting where a study is named: a study's own folder
/// (`study/<module>/`) counts once, and so does a panel with its folder
/// (`ui/panels/<name>.rs` and `ui/panels/<name>/`); every other file is a unit of its own.
fn unit(rel: &str) -> String {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["study", module, _, ..] => format!("study/{module}/"),
        ["ui", "panels", name, _, ..] => format!("ui/panels/{name}"),
        ["ui", "panels", file] if *file != "mod.rs" => format!("ui/panels/{}", file.trim_end_matches(".rs")),
        _ => rel.to_string(),
    }
}

/// `row-sweep` → `RowSweep`.
fn camel(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
        })
        .collect()
}

/// The `module::Type` lines of `register_studies!` in `src/study/mod.rs`.
fn registered_studies(g: &Graph) -> Vec<(String, String)> {
    let registry = &g.files[g.file("study/mod.rs").expect("study/mod.rs")].text;
    let list = registry
        .split("register_studies![")
        .nth(1)
        .and_then(|r| r.split("];").next())
        .expect("register_studies![…] in study/mod.rs");
    list.split(',')
        .filter_map(|line| line.trim().split_once("::"))
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect()
}

/// Issue #24: a study is one module plus its registration line plus its panel, so its name
/// appears in at most 5 units of `src/` (its module, `study/mod.rs`, its panel,
/// `ui/panels/mod.rs`, and one more, such as the tour that drives it). A unit names a study
/// when its code (comments aside) uses a file of the study's module (resolved through the
/// import graph, re-exports included), mentions its type or an identifier that starts with
/// it or with the id in CamelCase (`RowSweep`, `RowSweepResults`), or holds its id in quotes
/// (`"row-sweep"`, searched in the whole text, comments too, so that check can only count
/// more). Not seen: lower-case names outside the study's paths, and the id inside a longer
/// string.
#[test]
fn each_study_is_named_in_at_most_five_units_of_src() {
    let g = graph();
    let studies = registered_studies(&g);
    let ids: Vec<&str> = mnist_workbench::study::STUDIES.iter().map(|s| s.id()).collect();
    assert_eq!(studies.len(), ids.len(), "register_studies! lines {studies:?} against ids {ids:?}");
    let mut report = Vec::new();
    for ((module, ty), id) in studies.iter().zip(&ids) {
        let own: Vec<usize> = (0..g.files.len())
            .filter(|&k| unit(&g.files[k].rel) == format!("study/{module}/") || g.files[k].rel == format!("study/{module}.rs"))
            .collect();
        assert!(
            own.iter().any(|&k| g.files[k].text.contains(&format!("const ID: &'static str = \"{id}\";"))),
            "study {module}::{ty} does not define ID {id:?} in its module"
        );
        let prefixes = [ty.clone(), camel(id)];
        let names_it = |ident: &str| {
            prefixes.iter().any(|p| {
                ident.strip_prefix(p.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_uppercase))
            })
        };
        let literal = format!("\"{id}\"");
        let mut units: Vec<String> = (0..g.files.len())
            .filter(|&k| {
                let f = &g.files[k];
                own.contains(&k)
                    || own.iter().any(|&o| g.edges.contains_key(&(k, o)))
                    || f.idents().any(names_it)
                    || f.text.contains(&literal)
            })
            .map(|k| unit(&g.files[k].rel))
            .collect();
        units.sort();
        units.dedup();
        report.push(format!("{id} ({}): {}", units.len(), units.join(", ")));
        if units.len() > 5 {
            report.push(format!("  ^ {id} is named in {} units", units.len()));
        }
    }
    let text = report.join("\n");
    // The count sees a known use through the import graph (the tour's `use`) and one through
    // an id literal or type name (the panel), so a low count means something.
    let row_sweep = report.iter().find(|l| l.starts_with("row-sweep ")).expect("row-sweep is registered");
    assert!(
        row_sweep.contains("ui/tours/s1.rs") && row_sweep.contains("ui/panels/row_sweep"),
        "{row_sweep}"
    );
    assert!(!text.contains("  ^ "), "studies named in more than 5 units of src/:\n{text}");
}
