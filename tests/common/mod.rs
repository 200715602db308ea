//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mnist_workbench::data::{DataSource, Dataset, synthetic};
use mnist_workbench::model::Model;
use mnist_workbench::train::{Control, Event, TrainConfig, TrainJob, run_training};

/// A job on flex with nothing written to disk.
pub fn flex_job(config: TrainConfig, data: Arc<Dataset>) -> TrainJob {
    TrainJob {
        run_id: 7,
        config,
        data,
        run_dir: None,
        resume: None,
        device: Some(mnist_workbench::device::flex()),
        model_slot: None,
    }
}

/// Runs a job on this thread and returns every event and the final model.
pub fn collect(job: TrainJob, control: &Control) -> (Vec<Event>, Option<Model>) {
    let mut events = Vec::new();
    let model = run_training(job, control, &mut |e| events.push(e));
    (events, model)
}

/// The real MNIST folder from `MNIST_DIR`. A test that needs it fails, saying how to get it,
/// when it is missing (these tests are `#[ignore]`d by default and run by `.ci/run`).
pub fn mnist_dir() -> PathBuf {
    match std::env::var_os("MNIST_DIR").map(PathBuf::from) {
        Some(dir)
            if dir.join("train-images-idx3-ubyte.gz").exists()
                || dir.join("train-images-idx3-ubyte").exists() =>
        {
            dir
        }
        other => panic!(
            "this test needs real MNIST and MNIST_DIR is {other:?}: run `mnist-workbench data download`, \
             then MNIST_DIR=<that folder> cargo test --release -- --include-ignored"
        ),
    }
}

/// A small synthetic dataset.
pub fn synthetic_dataset(train: usize, test: usize, seed: u64) -> Arc<Dataset> {
    Arc::new(Dataset {
        train: synthetic::generate(train, seed),
        test: synthetic::generate(test, seed + 1000),
        source: DataSource::Synthetic {
            reason: "test".into(),
            train_size: train,
            seed,
        },
    })
}

/// A fresh empty folder for one test, under cargo's temp folder for tests
/// (`target/tmp/mw-test`), so test runs do not litter the system temp dir. The first time a
/// process asks for one, it removes those of test processes that have ended and were last
/// changed over an hour ago: a run's folders stay for a look after a failure, and do not pile
/// up.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mw-test");
    SWEPT.call_once(|| remove_stale_folders(&root));
    let dir = root.join(format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes the folders `temp_dir` made for processes that are no longer running (the process
/// id is the second-to-last `-` field of a folder's name) and that were last changed more
/// than an hour ago.
fn remove_stale_folders(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600))
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Small fake "MNIST" files (gzip, the four standard names): `train` synthetic digits, the
/// first `test` of them again as the test set, with the digests of their decompressed bytes,
/// so download mechanics are tested without real MNIST.
pub fn fake_mnist_files(train: usize, test: usize, seed: u64) -> (Vec<(String, Vec<u8>)>, [String; 4]) {
    use mnist_workbench::data::idx::{encode_images, encode_labels};
    use sha2::Digest;
    let data = synthetic::generate(train, seed);
    let raw = [
        encode_images(&data.pixels),
        encode_labels(&data.labels),
        encode_images(&data.pixels[..784 * test]),
        encode_labels(&data.labels[..test]),
    ];
    let digests = raw
        .clone()
        .map(|r| mnist_workbench::data::hex(&sha2::Sha256::digest(&r)));
    let files = mnist_workbench::data::sources::MNIST_FILES
        .iter()
        .zip(raw)
        .map(|(n, r)| (format!("{n}.gz"), gzip(&r)))
        .collect();
    (files, digests)
}

/// Gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A minimal HTTP/1.1 file server on 127.0.0.1 serving `files` (name → bytes); it stops when
/// dropped and serves at most `max_requests` requests.
pub struct LocalServer {
    pub base_url: String,
    stop: Arc<AtomicBool>,
    pub requests: Arc<AtomicUsize>,
}

impl LocalServer {
    pub fn start(files: Vec<(String, Vec<u8>)>) -> Self {
        Self::answering(move |path, stream| match files.iter().find(|(name, _)| name == path) {
            Some((_, body)) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
            None => {
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        })
    }

    /// A server that answers every request for `path` with a 302 to `target` + `path`.
    pub fn redirecting(target: String) -> Self {
        Self::answering(move |path, stream| {
            let head = format!("HTTP/1.1 302 Found\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
        })
    }

    /// A server that hands each request's path (without its leading `/`) to `answer`.
    fn answering(answer: impl Fn(&str, &mut std::net::TcpStream) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base_url = format!("http://{}/", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, req2) = (stop.clone(), requests.clone());
        std::thread::Builder::new()
            .name("test-http".into())
            .spawn(move || {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
                while !stop2.load(Ordering::SeqCst) && std::time::Instant::now() < deadline && req2.load(Ordering::SeqCst) < 100 {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            req2.fetch_add(1, Ordering::SeqCst);
                            stream.set_nonblocking(false).unwrap();
                            let mut buf = [0u8; 4096];
                            let n = stream.read(&mut buf).unwrap_or(0);
                            let req = String::from_utf8_lossy(&buf[..n]);
                            let path = req.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
                            answer(&path, &mut stream);
                        }
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                    }
                }
            })
            .unwrap();
        Self {
            base_url,
            stop,
            requests,
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Runs the CLI binary with args and extra env; returns (success, stdout, stderr).
pub fn cli(args: &[&str], env: &[(&str, &Path)], remove_env: &[&str]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-workbench"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in remove_env {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the CLI with `args` and without MNIST or a display; kills it at `deadline`.
/// Returns (success, stderr); panics when the deadline passed (the process blocked).
pub fn cli_bounded(args: &[&str], env: &[(&str, &str)], deadline: std::time::Duration) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-workbench"));
    cmd.args(args)
        .env_remove("MNIST_DIR")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.success(), err);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {deadline:?}: it blocked");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The token the test servers accept.
pub const TOKEN: &str = "test-token-0123456789";

/// A `mnist-workbench serve --device flex` child process, killed when dropped.
pub struct ServeFlex {
    /// The server process.
    pub child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl ServeFlex {
    /// Starts it on a free port and waits until it listens.
    pub fn start() -> Self {
        Self::start_logging(None)
    }

    /// [`start`](Self::start), its log (stdout) written to `log` when given.
    pub fn start_logging(log: Option<&Path>) -> Self {
        // A free port: bind port 0, read it, release it for the server.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
            .args([
                "serve",
                "--device",
                "flex",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("MNIST_WORKBENCH_TOKEN", TOKEN)
            .stdout(match log {
                Some(path) => std::fs::File::create(path).expect("the log file").into(),
                None => std::process::Stdio::null(),
            })
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, port }
    }

    /// Its `remote://` address.
    pub fn address(&self) -> String {
        format!("remote://127.0.0.1:{}", self.port)
    }
}

impl Drop for ServeFlex {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// egui_kittest helpers.
pub mod gui;
