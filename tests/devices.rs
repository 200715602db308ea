//! One experiment over several devices (issue #25 point 2). The work queue itself with stand-in
//! work on two local devices: a device that fails mid-item (an error, a panic) leaves and its
//! item is redone elsewhere with the same result; with no device left what finished is kept and
//! the error says so; an item's own failure stops everything. Then the real thing on
//! 127.0.0.1: a sweep over two `serve` children, one of them killed mid-sweep, gives every
//! trial the figures a sweep on one server gives.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{ServeFlex, TOKEN};
use mnist_workbench::device::{SelectedDevice, flex};
use mnist_workbench::experiment::pool::{Done, ItemContext, ItemFailure, ItemWork, PoolReport, spread};
use mnist_workbench::jobs::{Progress, Reporter};
use mnist_workbench::study::StudyError;

fn named(name: &str) -> SelectedDevice {
    SelectedDevice {
        name: name.into(),
        ..flex()
    }
}

/// Squares numbers slowly; device `bad` fails on its `fail_on`-th item (counting from 1), by
/// returning a device error or by panicking.
struct Squares {
    bad: &'static str,
    fail_on: usize,
    panic: bool,
    started_on_bad: AtomicUsize,
}

impl ItemWork for Squares {
    type Item = u64;
    type Output = u64;

    fn label(&self, item: &u64) -> String {
        format!("item {item}")
    }

    fn run(&self, item: &u64, device: &SelectedDevice, ctx: &ItemContext) -> Result<u64, ItemFailure> {
        ctx.progress(0.5);
        std::thread::sleep(Duration::from_millis(30));
        if device.name == self.bad && self.started_on_bad.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_on {
            if self.panic {
                panic!("the stand-in backend fell over");
            }
            return Err(ItemFailure::Device("connection lost (stand-in)".into()));
        }
        Ok(item * item)
    }
}

fn run_squares(work: &Squares, devices: &[SelectedDevice]) -> (Result<PoolReport, StudyError>, BTreeMap<u64, (u64, String)>) {
    let items: Vec<u64> = (0..10).collect();
    let mut got = BTreeMap::new();
    let mut sink = |_: Progress| {};
    let never = || false;
    let mut reporter = Reporter::new(&mut sink, &never);
    let outcome = spread(work, &items, devices, &mut reporter, &mut |done: Done<u64>| {
        assert!(got.insert(items[done.index], (done.output, done.placement.device)).is_none(), "an item handed back twice");
        Ok(())
    });
    (outcome, got)
}

#[test]
fn a_device_that_fails_mid_item_leaves_and_its_item_is_redone_elsewhere() {
    for panic in [false, true] {
        let work = Squares {
            bad: "A",
            fail_on: 2,
            panic,
            started_on_bad: AtomicUsize::new(0),
        };
        let (outcome, got) = run_squares(&work, &[named("A"), named("B")]);
        let report = outcome.expect("B finishes the work");
        assert_eq!(got.len(), 10, "every item once");
        for (item, (square, _)) in &got {
            assert_eq!(*square, item * item);
        }
        // A finished exactly one item before it failed; B did the rest, the lost one included.
        let on_a = got.values().filter(|(_, d)| d == "A").count();
        assert_eq!(on_a, 1, "{got:?}");
        assert_eq!(report.losses.len(), 1);
        let loss = &report.losses[0];
        assert_eq!(loss.device, "A");
        let expected = if panic { "fell over" } else { "connection lost" };
        assert!(loss.message.contains(expected), "{loss:?}");
        let lost_item: u64 = loss.item.trim_start_matches("item ").parse().unwrap();
        assert_eq!(got[&lost_item].1, "B", "the lost item was redone on B");
        assert_eq!(report.devices[0].items, 1);
        assert_eq!(report.devices[1].items, 9);
        assert!(report.devices[0].lost.is_some() && report.devices[1].lost.is_none());
    }
}

#[test]
fn with_no_device_left_what_finished_is_kept_and_the_error_says_so() {
    let work = Squares {
        bad: "A",
        fail_on: 3,
        panic: false,
        started_on_bad: AtomicUsize::new(0),
    };
    let (outcome, got) = run_squares(&work, &[named("A")]);
    let err = outcome.unwrap_err().to_string();
    assert_eq!(got.len(), 2, "the two finished items were handed back");
    assert!(err.contains("no device left"), "{err}");
    assert!(err.contains("2 of 10 items finished"), "{err}");
    assert!(err.contains("run the same command again"), "{err}");
    assert!(err.contains("A (item 2): connection lost"), "{err}");
}

/// Fails item 3 as the item's own fault (a diverged run), wherever it runs.
struct Diverges;

impl ItemWork for Diverges {
    type Item = u64;
    type Output = u64;
    fn label(&self, item: &u64) -> String {
        format!("item {item}")
    }
    fn run(&self, item: &u64, _: &SelectedDevice, _: &ItemContext) -> Result<u64, ItemFailure> {
        std::thread::sleep(Duration::from_millis(10));
        if *item == 3 {
            return Err(ItemFailure::Study(StudyError::Diverged("item 3 diverged".into())));
        }
        Ok(*item)
    }
}

#[test]
fn an_item_that_fails_by_itself_stops_the_experiment_without_blaming_a_device() {
    let items: Vec<u64> = (0..20).collect();
    let mut sink = |_: Progress| {};
    let never = || false;
    let mut reporter = Reporter::new(&mut sink, &never);
    let mut finished = 0;
    let err = spread(&Diverges, &items, &[named("A"), named("B")], &mut reporter, &mut |_| {
        finished += 1;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, StudyError::Diverged(_)), "{err}");
    assert!(finished < 20);
}

/// Item 7 takes down whichever device runs it (as an item that always runs out of memory).
struct PoisonedItem;

impl ItemWork for PoisonedItem {
    type Item = u64;
    type Output = u64;
    fn label(&self, item: &u64) -> String {
        format!("item {item}")
    }
    fn run(&self, item: &u64, _: &SelectedDevice, _: &ItemContext) -> Result<u64, ItemFailure> {
        std::thread::sleep(Duration::from_millis(10));
        if *item == 7 {
            return Err(ItemFailure::Device("out of memory (stand-in)".into()));
        }
        Ok(*item)
    }
}

#[test]
fn an_item_that_takes_down_two_devices_is_blamed_not_a_third() {
    let items: Vec<u64> = (0..12).collect();
    let mut sink = |_: Progress| {};
    let never = || false;
    let mut reporter = Reporter::new(&mut sink, &never);
    let devices = [named("A"), named("B"), named("C")];
    let err = spread(&PoisonedItem, &items, &devices, &mut reporter, &mut |_| Ok(())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("item 7 failed on two devices"), "{text}");
    assert!(text.contains("out of memory (stand-in)"), "{text}");
}

#[test]
fn auto_and_flex_on_a_machine_without_a_gpu_are_named_as_listed() {
    use mnist_workbench::device::{Backend, DeviceChoice, DeviceList, select_device, select_devices};
    let list: DeviceList = "auto,flex".parse().unwrap();
    let auto = select_device(DeviceChoice::Auto).unwrap();
    let opened = select_devices(&list, &mut |_| {});
    if auto.backend == Backend::Flex {
        // No hardware GPU (these machines): auto opens flex too.
        let e = opened.expect_err("the same device twice is refused").to_string();
        assert!(e.contains("auto and flex both open CPU (flex)"), "{e}");
    } else {
        assert_eq!(opened.unwrap().len(), 2, "auto opened {}, not flex", auto.name);
    }
}

#[test]
fn one_device_of_this_machine_is_listed_once() {
    let e = mnist_workbench::device::distinct(&[flex(), named("CPU (flex) again")]).unwrap_err();
    assert!(e.contains("same device of this machine"), "{e}");
    assert!(mnist_workbench::device::distinct(&[flex()]).is_ok());
}

#[test]
fn a_list_of_devices_is_refused_by_a_study_that_runs_on_one() {
    let out = common::temp_dir("one-device-probe");
    let out = out.to_str().unwrap();
    let (ok, _, err) = common::cli(
        &["probe", "saliency", "--run", "bundled", "--synthetic", "--out", out, "--device", "flex,remote://127.0.0.1:9"],
        &[],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("saliency runs on one device"), "{err}");
    let (ok, _, err) =
        common::cli(&["experiment", "sweep", "--param", "lr=0.1", "--out", out, "--device", "flex,cpu"], &[], &[]);
    assert!(!ok);
    assert!(err.contains("listed twice"), "{err}");
}

fn sweep_args<'a>(devices: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "experiment", "sweep", "--model", "mlp", "--param", "lr=0.0003,0.001,0.003", "--param",
        "batch-size=32,64", "--epochs", "1", "--synthetic", "--synthetic-size", "1500", "--device",
        devices, "--out", out,
    ]
}

fn trials(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("sweep.json")).expect("sweep.json");
    serde_json::from_str::<serde_json::Value>(&text).unwrap()
}

/// Each trial's setting and seed with its figures, as exact strings.
fn figures(sweep: &serde_json::Value) -> BTreeMap<(u64, u64), (String, String)> {
    sweep["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                (t["setting"].as_u64().unwrap(), t["seed"].as_u64().unwrap()),
                (t["val_accuracy"].to_string(), t["test_accuracy"].to_string()),
            )
        })
        .collect()
}

#[test]
fn a_sweep_over_two_servers_survives_losing_one_with_the_same_figures() {
    let one = ServeFlex::start();
    let mut two = ServeFlex::start();
    // The reference: every trial on one server.
    let reference = common::temp_dir("sweep-one-server");
    let (ok, out, err) = common::cli(
        &sweep_args(&one.address(), reference.to_str().unwrap()),
        &[("MNIST_WORKBENCH_TOKEN", Path::new(TOKEN))],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    let expected = figures(&trials(&reference));
    assert_eq!(expected.len(), 6);

    // Both servers; the second is killed once the first trial has finished.
    let spread_dir = common::temp_dir("sweep-two-servers");
    let list = format!("{},{}", two.address(), one.address());
    let mut client = Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
        .args(sweep_args(&list, spread_dir.to_str().unwrap()))
        .env("MNIST_WORKBENCH_TOKEN", TOKEN)
        .env_remove("MNIST_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(240), "no trial finished");
        assert!(client.try_wait().unwrap().is_none(), "the sweep ended before a server was lost");
        let done = std::fs::read_to_string(spread_dir.join("sweep.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| !v["trials"].as_array().unwrap().is_empty());
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    two.child.kill().unwrap();
    two.child.wait().unwrap();
    let lost_at = Instant::now();
    let output = client.wait_with_output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{out}\n{err}");
    assert!(lost_at.elapsed() < Duration::from_secs(240));
    let result = trials(&spread_dir);
    assert_eq!(figures(&result), expected, "every trial's figures, wherever it ran");
    // The record says who ran what, and that the killed server left.
    let devices = result["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{result}");
    assert!(devices[0]["lost"].is_string(), "the killed server is recorded as lost: {result}");
    assert!(devices[1]["lost"].is_null(), "{result}");
    let by: Vec<&str> = result["trials"].as_array().unwrap().iter().map(|t| t["device"].as_str().unwrap()).collect();
    assert!(by.iter().any(|d| d.contains(&one.port.to_string())), "{by:?}");
    assert!(out.contains("left the pool"), "the summary names the lost server: {out}");
}

fn ensemble_args<'a>(devices: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "experiment", "ensemble", "--model", "tiny-cnn", "--models", "25", "--max-steps", "30", "--synthetic",
        "--synthetic-size", "2000", "--device", devices, "--out", out,
    ]
}

/// Each model's seed, steps and test accuracy, exactly.
fn models(dir: &Path) -> Vec<(u64, u64, String)> {
    let text = std::fs::read_to_string(dir.join("ensemble.json")).expect("ensemble.json");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["seed"].as_u64().unwrap(), m["steps"].as_u64().unwrap(), m["test_accuracy"].to_string()))
        .collect()
}

#[test]
fn an_ensemble_that_lost_every_device_continues_from_its_finished_groups() {
    let token = [("MNIST_WORKBENCH_TOKEN", Path::new(TOKEN))];
    let mut first = ServeFlex::start();
    let second = ServeFlex::start();
    let reference = common::temp_dir("ensemble-one-server");
    let (ok, out, err) = common::cli(&ensemble_args(&second.address(), reference.to_str().unwrap()), &token, &[]);
    assert!(ok, "{out}\n{err}");

    // The only server is killed once the first group of ten is kept.
    let dir = common::temp_dir("ensemble-lost");
    let mut client = Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
        .args(ensemble_args(&first.address(), dir.to_str().unwrap()))
        .env("MNIST_WORKBENCH_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let kept = dir.join("ensemble-groups").join("models-0.json");
    let started = Instant::now();
    while !kept.exists() {
        assert!(started.elapsed() < Duration::from_secs(240), "no group finished");
        assert!(client.try_wait().unwrap().is_none(), "the ensemble ended before its server was lost");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let output = client.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(err.contains("no device left"), "{err}");
    assert!(err.contains("run the same command again"), "{err}");
    assert!(!err.contains("panicked"), "a lost server is a message, not a panic: {err}");
    assert!(kept.is_file(), "the finished group is kept");
    assert!(!dir.join("ensemble.json").exists());

    // The same command on another server trains only the groups that were missing.
    let (ok, out, err) = common::cli(&ensemble_args(&second.address(), dir.to_str().unwrap()), &token, &[]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(models(&dir), models(&reference), "every model as on one server");
    let text = std::fs::read_to_string(dir.join("ensemble.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let placed: Vec<(u64, String)> = v["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["models"].as_u64().unwrap(), p["device"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(placed.len(), 3, "{placed:?}");
    assert!(placed[0].1.contains(&first.port.to_string()), "group 0 ran on the lost server: {placed:?}");
    for (_, device) in &placed[1..] {
        assert!(device.contains(&second.port.to_string()), "{placed:?}");
    }
    assert!(!dir.join("ensemble-groups").exists(), "the kept groups are folded into the results");
}

/// A batch sweep's answers per image, without where each ran.
fn flips(dir: &Path) -> (Vec<String>, Vec<String>, serde_json::Value) {
    let text = std::fs::read_to_string(dir.join("batch_sweep_results.json")).expect("batch_sweep_results.json");
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    let answers = |group: &str| -> Vec<String> {
        results[group]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{} {} {} {}", f["index"], f["rows"], f["at"], f["became"]))
            .collect()
    };
    let devices: Vec<String> = ["erased", "painted"]
        .iter()
        .flat_map(|g| results[*g].as_array().unwrap().iter().map(|f| f["device"].to_string()))
        .collect();
    (answers("erased"), answers("painted"), serde_json::json!({"devices": devices, "tallies": results["devices"]}))
}

#[test]
fn a_batch_sweep_spread_over_flex_and_a_server_gives_the_answers_of_one_device() {
    let server = ServeFlex::start();
    let (one, two) = (common::temp_dir("batch-one"), common::temp_dir("batch-two"));
    let list = format!("flex,{}", server.address());
    for (devices, out) in [("flex", &one), (list.as_str(), &two)] {
        let args = [
            "probe", "batch-sweep", "--run", "bundled", "--synthetic", "--per-class", "8", "--max-bar", "4",
            "--out", out.to_str().unwrap(), "--device", devices,
        ];
        let (ok, out, err) = common::cli(&args, &[("MNIST_WORKBENCH_TOKEN", Path::new(TOKEN))], &[]);
        assert!(ok, "{out}\n{err}");
    }
    let (erased, painted, _) = flips(&one);
    let (spread_erased, spread_painted, placed) = flips(&two);
    assert!(erased.len() + painted.len() >= 4, "enough images to spread: {erased:?} {painted:?}");
    assert_eq!((spread_erased, spread_painted), (erased, painted), "the same answer for every image");
    // Both devices ran images, and the results say which ran each and how many.
    let ran: std::collections::BTreeSet<String> =
        placed["devices"].as_array().unwrap().iter().map(|d| d.to_string()).collect();
    assert_eq!(ran.len(), 2, "{placed}");
    let tallies = placed["tallies"].as_array().unwrap();
    assert_eq!(tallies.len(), 2, "{placed}");
    let items: u64 = tallies.iter().map(|t| t["items"].as_u64().unwrap()).sum();
    assert_eq!(items as usize, placed["devices"].as_array().unwrap().len(), "{placed}");
}

/// A stability test's figures without where each batch ran, and where each ran.
fn stability_figures(dir: &Path) -> (serde_json::Value, Vec<String>, serde_json::Value) {
    let text = std::fs::read_to_string(dir.join("stability.json")).expect("stability.json");
    let mut results: serde_json::Value = serde_json::from_str(&text).unwrap();
    let batches = results.as_object_mut().unwrap().remove("batches").unwrap();
    let tallies = results.as_object_mut().unwrap().remove("devices").unwrap();
    let ran = batches.as_array().unwrap().iter().map(|b| b["device"].to_string()).collect();
    (results, ran, tallies)
}

#[test]
fn a_stability_test_spread_over_flex_and_a_server_gives_the_figures_of_one_device() {
    let server = ServeFlex::start();
    let (one, two) = (common::temp_dir("stability-one"), common::temp_dir("stability-two"));
    let list = format!("flex,{}", server.address());
    for (devices, out) in [("flex", &one), (list.as_str(), &two)] {
        let args = [
            "experiment", "stability", "--run", "bundled", "--synthetic", "--passes", "3",
            "--out", out.to_str().unwrap(), "--device", devices,
        ];
        let (ok, out, err) = common::cli(&args, &[("MNIST_WORKBENCH_TOKEN", Path::new(TOKEN))], &[]);
        assert!(ok, "{out}\n{err}");
    }
    let (figures, ran_alone, no_tallies) = stability_figures(&one);
    let (spread_figures, ran, tallies) = stability_figures(&two);
    assert!(ran.len() >= 2, "enough test batches to spread: {ran:?}");
    assert_eq!(ran_alone.len(), ran.len());
    assert_eq!(no_tallies, serde_json::json!([]), "one device keeps no tally");
    assert!(figures["changed_images"].as_u64().unwrap() > 0, "dropout changes some prediction: {figures}");
    assert_eq!(spread_figures, figures, "the same accuracies, entropies and unstable images");
    // Both devices ran batches, and the results say which ran each and how many.
    let devices: std::collections::BTreeSet<&String> = ran.iter().collect();
    assert_eq!(devices.len(), 2, "{ran:?}");
    let items: u64 = tallies.as_array().unwrap().iter().map(|t| t["items"].as_u64().unwrap()).sum();
    assert_eq!(items as usize, ran.len(), "{tallies}");
}
