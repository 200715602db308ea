//! A client against a hostile *server*, on 127.0.0.1 and bounded in time: `predict --device
//! remote://…` talks to a fake server that never answers, answers plain HTTP, accepts the
//! WebSocket upgrade and then stalls, sends garbage, or declares a 1 TiB message. Each time
//! the command stops by itself, with a message that names the server, without a panic and
//! without allocating what the server declared.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// What the fake server does with the client's WebSocket connection.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Reads the request and never answers.
    Silent,
    /// Answers with a plain HTTP page and closes.
    NotWebSocket,
    /// Accepts the upgrade, then says nothing.
    UpgradeThenSilent,
    /// Accepts the upgrade, then sends random bytes.
    UpgradeThenGarbage,
    /// Accepts the upgrade, then starts a binary frame declaring 1 TiB.
    UpgradeThenHugeFrame,
}

/// How long the fake server keeps a connection open at most (more than the client's 10 s
/// connection limit, so the client is the one that gives up).
const HOLD: Duration = Duration::from_secs(20);

/// A fake server on a free loopback port, stopped when dropped.
struct FakeServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !stopped.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(60) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let stopped = stopped.clone();
                        std::thread::spawn(move || serve(stream, behaviour, &stopped));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, stop }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The request's header block (up to 16 KiB, within 5 s); `None` when the client sent none
/// (the workbench's first TCP check connects and closes).
fn read_request(stream: &mut TcpStream) -> Option<String> {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(250))).unwrap();
    let start = Instant::now();
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while start.elapsed() < Duration::from_secs(5) && request.len() < 16 << 10 {
        match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if request.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&request).into_owned());
        }
    }
    None
}

/// The `101 Switching Protocols` answer to a WebSocket request (RFC 6455, 4.2.2).
fn upgrade_answer(request: &str) -> String {
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key:").or_else(|| l.strip_prefix("sec-websocket-key:")))
        .expect("a WebSocket request has a key")
        .trim();
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

/// Keeps the connection open, saying nothing, until the test ends or [`HOLD`] passes.
fn hold(stream: &TcpStream, stop: &AtomicBool) {
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && start.elapsed() < HOLD {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn serve(mut stream: TcpStream, behaviour: Behaviour, stop: &AtomicBool) {
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    match behaviour {
        Behaviour::Silent => hold(&stream, stop),
        Behaviour::NotWebSocket => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello there\n");
        }
        upgraded => {
            let _ = stream.write_all(upgrade_answer(&request).as_bytes());
            match upgraded {
                Behaviour::UpgradeThenGarbage => {
                    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
                    let garbage: Vec<u8> = (0..64 << 10)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            (x >> 24) as u8
                        })
                        .collect();
                    let _ = stream.write_all(&garbage);
                }
                Behaviour::UpgradeThenHugeFrame => {
                    // FIN + binary, no mask, 64-bit length 2^40, and the first bytes of it.
                    let mut frame = vec![0x82, 127];
                    frame.extend_from_slice(&(1u64 << 40).to_be_bytes());
                    frame.extend_from_slice(&[0u8; 4096]);
                    let _ = stream.write_all(&frame);
                }
                _ => {}
            }
            hold(&stream, stop);
        }
    }
}

/// Runs `predict` on the bundled model against a fake server with `behaviour`.
/// Returns (success, stderr, seconds taken, the fake server's port).
fn predict_against(behaviour: Behaviour) -> (bool, String, f64, u16) {
    let server = FakeServer::start(behaviour);
    let device = format!("remote://127.0.0.1:{}", server.port);
    let image = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/handwritten-7.png");
    let start = Instant::now();
    let (ok, err) = common::cli_bounded(
        &["predict", image, "--device", &device],
        &[("MNIST_WORKBENCH_TOKEN", common::TOKEN)],
        Duration::from_secs(60),
    );
    (ok, err, start.elapsed().as_secs_f64(), server.port)
}

#[test]
fn a_hostile_server_gets_a_clear_refusal_within_bounds() {
    use Behaviour::*;
    let cases = [
        (Silent, "no answer within 10 s"),
        (NotWebSocket, "HTTP error"),
        (UpgradeThenSilent, "no answer within 10 s"),
        (UpgradeThenGarbage, "protocol error"),
        (UpgradeThenHugeFrame, "Message too long"),
    ];
    // Side by side: the silent cases each wait out the client's 10 s limit.
    let runs: Vec<_> = cases
        .iter()
        .map(|&(behaviour, _)| std::thread::spawn(move || predict_against(behaviour)))
        .collect();
    for ((behaviour, needle), run) in cases.iter().zip(runs) {
        let (ok, err, seconds, port) = run.join().unwrap();
        eprintln!("{behaviour:?}: {seconds:.1} s: {err}");
        assert!(!ok, "{behaviour:?}: predict succeeded against a fake server");
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{behaviour:?}: the message names the server: {err}");
        assert!(err.contains(needle), "{behaviour:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{behaviour:?}: {err}");
        assert!(seconds < 30.0, "{behaviour:?}: took {seconds:.1} s");
    }
    // The largest resident size any of the (reaped) children reached: far below the 1 TiB
    // declared, and below even the 1 GiB a message may have.
    let peak = largest_child_rss_bytes();
    eprintln!("largest child: {} MiB", peak >> 20);
    assert!(peak > 0 && peak < 1 << 30, "a child reached {} MiB", peak >> 20);
}

/// `ru_maxrss` of this process's waited-for children (the largest of them), in bytes.
fn largest_child_rss_bytes() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` into the pointer it is given, which points to
    // one zeroed `rusage` owned here.
    #[allow(unsafe_code)]
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    usage.ru_maxrss as u64 * 1024
}
