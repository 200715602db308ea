//! Training on another machine's device through burn-remote, tried on 127.0.0.1: a flex server
//! started with `mnist-workbench serve` in a child process, clients run as the CLI a user runs.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ServeFlex as Server, TOKEN};

fn train_args<'a>(device: &'a str, runs: &'a Path, size: &'a str, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--synthetic",
        "--synthetic-size",
        size,
        "--model",
        "mlp",
        // A small learning rate keeps one epoch short of perfect, so the comparison means something.
        "--lr",
        "0.0003",
        "--epochs",
        epochs,
        "--seed",
        "5",
        "--device",
        device,
        "--runs",
        runs.to_str().unwrap(),
    ]
}

fn only_run(runs: &Path) -> PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

fn summary(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).expect("summary.json")).unwrap()
}

#[test]
fn an_mlp_trained_remotely_matches_local_training() {
    let server = Server::start();
    let token_file = common::temp_dir("token").join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let remote_runs = common::temp_dir("remote-train");
    let address = server.address();
    let mut args = train_args(&address, &remote_runs, "3000", "1");
    args.extend(["--token-file", token_file.to_str().unwrap()]);
    let (ok, out, err) = common::cli(&args, &[], &["MNIST_WORKBENCH_TOKEN"]);
    assert!(ok, "{out}\n{err}");
    let local_runs = common::temp_dir("local-train");
    let (ok, out, err) = common::cli(&train_args("flex", &local_runs, "3000", "1"), &[], &[]);
    assert!(ok, "{out}\n{err}");

    let remote = summary(&only_run(&remote_runs));
    let local = summary(&only_run(&local_runs));
    let accuracy = |s: &serde_json::Value| s["outcome"]["test_accuracy"].as_f64().unwrap();
    let (r, l) = (accuracy(&remote), accuracy(&local));
    assert!(
        l > 0.5 && l < 0.999,
        "a meaningful comparison needs an unsaturated model: {l}"
    );
    assert!((r - l).abs() <= 0.005, "remote {r} vs local {l}");
    // The same arithmetic on the same seed: the training loss agrees closely too.
    let loss = |s: &serde_json::Value| s["last_epoch"]["train_loss"].as_f64().unwrap();
    assert!((loss(&remote) - loss(&local)).abs() < 1e-3, "{remote}\n{local}");
    // Evaluating the remote run's checkpoint on the remote device gives the same figure.
    let (ok, out, err) = common::cli(
        &[
            "eval",
            "--run",
            only_run(&remote_runs).to_str().unwrap(),
            "--synthetic",
            "--synthetic-size",
            "3000",
            "--device",
            &address,
        ],
        &[("MNIST_WORKBENCH_TOKEN", Path::new(TOKEN))],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("{r:.4}")), "eval prints {r:.4}: {out}");
}

#[test]
fn a_wrong_token_is_refused_plainly() {
    let server = Server::start();
    let runs = common::temp_dir("wrong-token");
    let address = server.address();
    let (ok, out, err) = common::cli(
        &train_args(&address, &runs, "600", "1"),
        &[("MNIST_WORKBENCH_TOKEN", Path::new("not-the-token"))],
        &[],
    );
    assert!(!ok, "{out}");
    assert!(err.contains("refused the token"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 0, "nothing is written");
    // No token at all is refused the same way.
    let (ok, _, err) = common::cli(
        &train_args(&address, &runs, "600", "1"),
        &[],
        &["MNIST_WORKBENCH_TOKEN"],
    );
    assert!(!ok);
    assert!(err.contains("refused the token"), "{err}");
}

#[test]
fn an_unreachable_server_is_reported_within_ten_seconds() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let runs = common::temp_dir("unreachable");
    let address = format!("remote://127.0.0.1:{port}");
    let started = Instant::now();
    let (ok, _, err) = common::cli(
        &train_args(&address, &runs, "600", "1"),
        &[("MNIST_WORKBENCH_TOKEN", Path::new(TOKEN))],
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(!ok);
    assert!(err.contains("cannot reach the server at"), "{err}");
    assert!(err.contains(&address), "{err}");
}

#[test]
fn a_server_stopped_mid_run_ends_the_run_with_its_checkpoint_intact() {
    let mut server = Server::start();
    let runs = common::temp_dir("killed");
    let address = server.address();
    let mut client = Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
        .args(train_args(&address, &runs, "12000", "40"))
        .env("MNIST_WORKBENCH_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first finished epoch's checkpoint, then stop the server.
    let started = Instant::now();
    let run = loop {
        assert!(started.elapsed() < Duration::from_secs(120), "no epoch finished");
        assert!(
            client.try_wait().unwrap().is_none(),
            "the run ended before the server stopped"
        );
        let finished_epoch = std::fs::read_dir(&runs)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|dir| dir.join("model.bpk").exists());
        if let Some(dir) = finished_epoch {
            break dir;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let stopped = Instant::now();
    let output = client.wait_with_output().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(30),
        "{:?}",
        stopped.elapsed()
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(err.contains("connection lost"), "{err}");
    // Said once, plainly: no panic printed on the way, and not burn's own wrapping of it.
    assert!(!err.contains("panicked") && !err.contains("try_into_data"), "{err}");
    let summary = summary(&run);
    assert_eq!(summary["outcome"]["event"], "failed", "{summary}");
    // The last finished epoch's checkpoint still loads and evaluates locally.
    let (ok, out, err) = common::cli(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--synthetic",
            "--synthetic-size",
            "12000",
            "--device",
            "flex",
        ],
        &[],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("accuracy"), "{out}");
}

#[test]
fn a_server_on_port_0_announces_the_port_it_bound_and_keeps_burns_log_quiet() {
    use std::io::{BufRead, Read};
    let mut server = Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
        .args(["serve", "--device", "flex", "--listen", "127.0.0.1:0"])
        .env("MNIST_WORKBENCH_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("serving ") {
                let _ = tx.send(line.clone());
            }
            lines.push(line);
        }
        lines
    });
    let serving = rx.recv_timeout(Duration::from_secs(30)).expect("serve announces where it listens");
    let port: u16 = serving
        .split("ws://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {serving:?}"));
    assert_ne!(port, 0, "{serving}");
    // A client session opens and ends without a closing handshake, as a finished run's does.
    drop(std::net::TcpStream::connect(("127.0.0.1", port)).expect("the announced port listens"));
    // burn's own "Server started" line (info, colour-coded, the internal port) would be out by now.
    std::thread::sleep(Duration::from_secs(1));
    server.kill().unwrap();
    server.wait().unwrap();
    let mut stderr = String::new();
    server.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let log = reader.join().unwrap().join("\n") + &stderr;
    assert!(!log.contains("Server started") && !log.contains('\u{1b}'), "{log}");
}
