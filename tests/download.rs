//! `data download` against local HTTP servers on 127.0.0.1 serving the shared MNIST files, a
//! corrupted copy, or nothing.

mod common;

use std::sync::atomic::AtomicBool;

use mnist_workbench::data::download::{DownloadError, DownloadPlan, download_mnist};
use mnist_workbench::data::sources::{MNIST_FILES, has_mnist};

fn shared_files() -> Vec<(String, Vec<u8>)> {
    let dir = common::mnist_dir();
    MNIST_FILES
        .iter()
        .map(|n| {
            (
                format!("{n}.gz"),
                std::fs::read(dir.join(format!("{n}.gz"))).expect("gz file"),
            )
        })
        .collect()
}

fn corrupt(files: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(n, b)| {
            let mut b = b.clone();
            let mid = b.len() / 2;
            b[mid] ^= 0xFF;
            b[mid + 1] ^= 0x55;
            (n.clone(), b)
        })
        .collect()
}

fn plan(dest: std::path::PathBuf, mirrors: Vec<String>, sha: Option<[String; 4]>) -> DownloadPlan {
    let mut p = DownloadPlan::standard(dest);
    p.mirrors = mirrors;
    if let Some(s) = sha {
        p.sha256 = s;
    }
    p
}

#[test]
fn downloads_verify_and_fall_back_to_the_next_mirror() {
    let (files, digests) = common::fake_mnist_files(30, 10, 1);
    let bad = common::LocalServer::start(corrupt(&files));
    let good = common::LocalServer::start(files);
    let dest = common::temp_dir("dl-ok");
    let progress = std::sync::Mutex::new(Vec::new());
    download_mnist(
        &plan(
            dest.clone(),
            vec![bad.base_url.clone(), good.base_url.clone()],
            Some(digests),
        ),
        &|p| progress.lock().unwrap().push(p.clone()),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(has_mnist(&dest));
    let (train, test) = mnist_workbench::data::load_split_from_folder(&dest).unwrap();
    assert_eq!((train.len(), test.len()), (30, 10));
    let progress = progress.into_inner().unwrap();
    assert!(
        progress
            .iter()
            .any(|p| p.file_index == 3 && Some(p.received) == p.total)
    );
    // Each file is reported as being checked once it has arrived, before it is kept.
    assert!((0..4).all(|f| progress.iter().any(|p| p.file_index == f && p.checking)));
    // Only final files remain: no temporary leftovers.
    let names: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn corrupted_download_is_refused_and_leaves_nothing() {
    let (files, digests) = common::fake_mnist_files(30, 10, 1);
    let bad = common::LocalServer::start(corrupt(&files));
    let dest = common::temp_dir("dl-bad");
    let err = download_mnist(
        &plan(dest.clone(), vec![bad.base_url.clone()], Some(digests)),
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::AllMirrorsFailed { .. }));
    assert!(
        msg.contains("checksum mismatch") || msg.contains("not a valid gzip"),
        "{msg}"
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
}

#[test]
fn unreachable_mirrors_give_a_clear_error() {
    let dest = common::temp_dir("dl-none");
    let empty = common::LocalServer::start(Vec::new());
    let err = download_mnist(
        &plan(dest.clone(), vec![empty.base_url.clone()], None),
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
}

#[test]
fn cancel_stops_the_download() {
    let (files, digests) = common::fake_mnist_files(30, 10, 1);
    let good = common::LocalServer::start(files);
    let dest = common::temp_dir("dl-cancel");
    let err = download_mnist(
        &plan(dest.clone(), vec![good.base_url.clone()], Some(digests)),
        &|_| {},
        &AtomicBool::new(true),
    )
    .unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled));
    assert!(!has_mnist(&dest));
}

#[test]
#[ignore = "needs real MNIST: mnist-workbench data download, then MNIST_DIR=<folder> cargo test --release -- --include-ignored"]
fn real_mnist_files_download_with_the_standard_digests() {
    let files = shared_files();
    let server = common::LocalServer::start(files);
    let dest = common::temp_dir("dl-real");
    download_mnist(
        &plan(dest.clone(), vec![server.base_url.clone()], None),
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(has_mnist(&dest));
    std::fs::remove_dir_all(&dest).unwrap();
}

#[test]
fn an_oversized_file_is_refused_before_it_is_read_on() {
    let (files, digests) = common::fake_mnist_files(30, 10, 1);
    let server = common::LocalServer::start(files);
    let dest = common::temp_dir("dl-big");
    let mut p = plan(dest.clone(), vec![server.base_url.clone()], Some(digests));
    p.max_bytes = 100; // every fake file is larger
    let err = download_mnist(&p, &|_| {}, &AtomicBool::new(false)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no MNIST file is larger than 100"), "{msg}");
    assert_eq!(
        std::fs::read_dir(&dest).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn a_silent_mirror_fails_after_the_stall_timeout_not_a_whole_body_limit() {
    // A server that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let _held = std::thread::spawn(move || {
        let _conns: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let dest = common::temp_dir("dl-silent");
    let mut p = plan(dest.clone(), vec![url], None);
    p.stall_timeout = std::time::Duration::from_millis(700);
    let started = std::time::Instant::now();
    let err = download_mnist(&p, &|_| {}, &AtomicBool::new(false)).unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, DownloadError::AllMirrorsFailed { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("timeout") || err.to_string().contains("timed out"),
        "{err}"
    );
}

#[test]
fn a_mirror_that_trickles_a_byte_at_a_time_is_given_up() {
    // Answers, then sends one byte every 100 ms without a length: no single read ever waits
    // past the stall timeout, so only the per-window minimum stops it. Bounded: the server
    // stops after 200 bytes (20 s), far later than the client gives up.
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let _server = std::thread::spawn(move || {
        if let Some(Ok(mut conn)) = listener.incoming().next() {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            for _ in 0..200 {
                if conn.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    });
    let dest = common::temp_dir("dl-trickle");
    let mut p = plan(dest.clone(), vec![url], None);
    p.stall_timeout = std::time::Duration::from_millis(700);
    let err = download_mnist(&p, &|_| {}, &AtomicBool::new(false)).unwrap_err();
    assert!(err.to_string().contains("sent only"), "{err}");
}

#[test]
fn a_different_file_under_an_mnist_name_is_never_replaced() {
    // Found by a hostile-input review: `data download --dest` silently replaced a user's own
    // IDX file of the same name with MNIST's.
    let (files, digests) = common::fake_mnist_files(30, 10, 1);
    let labels_name = files[1].0.clone();
    let good = common::LocalServer::start(files.clone());
    let dest = common::temp_dir("dl-keep");
    let mine = b"someone else's labels".to_vec();
    std::fs::write(dest.join(&labels_name), &mine).unwrap();
    let err = download_mnist(
        &plan(dest.clone(), vec![good.base_url.clone()], Some(digests.clone())),
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(matches!(err, DownloadError::WouldReplace(_)), "{err}");
    assert!(err.to_string().contains(&labels_name), "{err}");
    assert_eq!(std::fs::read(dest.join(&labels_name)).unwrap(), mine, "left as it was");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1, "nothing downloaded beside it");
    // The same file with MNIST's contents is kept and the rest is fetched.
    std::fs::write(dest.join(&labels_name), &files[1].1).unwrap();
    download_mnist(&plan(dest.clone(), vec![good.base_url.clone()], Some(digests)), &|_| {}, &AtomicBool::new(false))
        .unwrap();
    assert!(has_mnist(&dest));
    // A file where the folder should be.
    let file = dest.join(&labels_name);
    let err = download_mnist(&plan(file, vec![good.base_url.clone()], None), &|_| {}, &AtomicBool::new(false))
        .unwrap_err();
    assert!(matches!(err, DownloadError::NotAFolder(_)), "{err}");
}

/// Found by a hostile-input review: a mirror redirecting to `file://` was reported as "too many
/// redirects". Redirects to http(s) are followed; one anywhere else is refused by name.
#[test]
fn redirects_are_followed_to_http_only() {
    let (files, digests) = common::fake_mnist_files(30, 10, 1);
    let good = common::LocalServer::start(files);
    let to_file = common::LocalServer::redirecting("file:///etc/".into());
    let to_good = common::LocalServer::redirecting(good.base_url.clone());
    let dest = common::temp_dir("dl-redirect");
    let p = plan(dest.clone(), vec![to_file.base_url.clone(), to_good.base_url.clone()], Some(digests));
    download_mnist(&p, &|_| {}, &AtomicBool::new(false)).unwrap();
    assert!(has_mnist(&dest), "fetched through the http redirect");
    std::fs::remove_dir_all(&dest).unwrap();
    let dest = common::temp_dir("dl-redirect-file");
    let p = plan(dest.clone(), vec![to_file.base_url.clone()], None);
    let err = download_mnist(&p, &|_| {}, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(
        err.contains("redirects to file:///etc/train-images-idx3-ubyte.gz") && err.contains("not followed"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0, "nothing left behind");
    // A mirror that redirects to itself is given up after a bounded number of requests.
    let looping = common::LocalServer::redirecting("/".into()); // Location: /<the same file>
    let p = plan(dest.clone(), vec![looping.base_url.clone()], None);
    let err = download_mnist(&p, &|_| {}, &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(err.contains("more than 5 redirects"), "{err}");
    let requests = looping.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(requests, 6, "the first request and five redirects, then the file is given up");
}
