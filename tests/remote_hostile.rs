//! `serve` under a hostile client, all on 127.0.0.1 and bounded in count and time: garbage,
//! plain HTTP, half handshakes, frames declaring a gigabyte, reserved opcodes, reset
//! connections and 50 idle connections before authentication; silent, misbehaving and reset
//! sessions after it. The server closes each within its timeouts, logs it naming the peer,
//! prints no panic, keeps its resident memory within 32 MiB of its idle figure, and a real
//! client trains afterwards.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TOKEN;

/// A `serve --device flex` child with short timeouts, its output in files read while it runs.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(auth_ms: u64, idle_ms: u64, token: Token<'_>) -> Self {
        let dir = common::temp_dir("hostile-serve");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnist-workbench"));
        cmd.args([
            "serve",
            "--device",
            "flex",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--auth-timeout-ms",
            &auth_ms.to_string(),
            "--idle-timeout-ms",
            &idle_ms.to_string(),
        ])
        .stdout(Stdio::from(std::fs::File::create(dir.join("stdout")).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(dir.join("stderr")).unwrap()));
        match token {
            Token::Env => cmd.env("MNIST_WORKBENCH_TOKEN", TOKEN),
            Token::File(path) => cmd
                .env_remove("MNIST_WORKBENCH_TOKEN")
                .arg("--token-file")
                .arg(path),
        };
        let server = Self {
            child: cmd.spawn().expect("the server starts"),
            port,
            dir,
        };
        let started = Instant::now();
        while !server.log().contains("serving ") {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never served: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Resident memory (VmRSS) in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Open file descriptors (sockets included).
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).unwrap().count()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        stream
    }

    fn address(&self) -> String {
        format!("remote://127.0.0.1:{}", self.port)
    }

    /// Asserts the server is alive and printed no panic.
    fn assert_healthy(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited: {}",
            self.stderr()
        );
        let stderr = self.stderr();
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

enum Token<'a> {
    Env,
    File(&'a Path),
}

/// Reads until the server closes the connection (end of stream or reset), for at most `limit`
/// and 1 MiB; returns what was read, or `None` when the connection was still open at `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit && got.len() < 1 << 20 {
        match stream.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(got),
        }
    }
    None
}

const UPGRADE: &str = "GET /session HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Sends a valid upgrade and reads the server's 101 answer.
fn upgraded(server: &Server) -> TcpStream {
    let mut stream = server.connect();
    stream.write_all(UPGRADE.as_bytes()).unwrap();
    let mut head = Vec::new();
    let started = Instant::now();
    while !head.ends_with(b"\r\n\r\n") {
        assert!(started.elapsed() < Duration::from_secs(5), "no answer: {head:?}");
        let mut byte = [0u8; 1];
        if let Ok(1) = stream.read(&mut byte) {
            head.push(byte[0]);
        }
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "RFC 6455's accept key: {head}"
    );
    stream
}

/// A client frame header (masked, mask 1 2 3 4) declaring `len` payload bytes.
fn frame_header(b0: u8, len: u64) -> Vec<u8> {
    let mut out = vec![b0];
    match len {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    out.extend([1, 2, 3, 4]);
    out
}

/// A whole masked client frame.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(b0, payload.len() as u64);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]));
    out
}

/// burn-remote's session request presenting `token` (MessagePack, as its client encodes it),
/// each with a session id of its own: the server refuses an id a closing session still holds,
/// which would end the session for another reason than the one a test looks for.
fn init_payload(token: &[u8]) -> Vec<u8> {
    static NEXT_SESSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(42);
    let session = NEXT_SESSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut b = vec![0x91, 0x81, 0xA4];
    b.extend_from_slice(b"Init");
    b.extend([0x94, 0x02, 0x91, 0xCF]);
    b.extend(session.to_be_bytes());
    b.extend([0x00, 0xC4, token.len() as u8]);
    b.extend_from_slice(token);
    b
}

/// Closes `stream` with a reset (SO_LINGER 0) instead of a FIN.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid open socket descriptor, and a pointer to a live `linger` of the size given.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(stream);
}

/// Deterministic junk.
fn garbage(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn train(address: &str, runs: &Path, epochs: &str) -> (bool, String, String) {
    common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "600",
            "--model",
            "mlp",
            "--epochs",
            epochs,
            "--seed",
            "3",
            "--device",
            address,
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[("MNIST_WORKBENCH_TOKEN", Path::new(TOKEN))],
        &[],
    )
}

#[test]
fn hostile_clients_before_authentication_are_closed_within_bounds_and_memory() {
    let auth = Duration::from_millis(1500);
    let mut server = Server::start(auth.as_millis() as u64, 5000, Token::Env);
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = server.rss_kib();
    let mut peak_kib = idle_kib;
    let bound = auth + Duration::from_secs(3);

    // Garbage: a little (no request ever completes) and a lot (over the request cap).
    for (n, seed) in [(2000, 1), (20_000, 2)] {
        let mut s = server.connect();
        s.write_all(&garbage(n, seed)).ok();
        assert!(closed_within(&mut s, bound).is_some(), "{n} bytes of garbage");
    }
    // Plain HTTP, and the upgrade of a route that is not served.
    for (request, status) in [
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404"),
        (&UPGRADE.replace("/session", "/data"), "HTTP/1.1 404"),
        (
            "POST /session HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n",
            "HTTP/1.1 405",
        ),
    ] {
        let mut s = server.connect();
        s.write_all(request.as_bytes()).unwrap();
        let answer = closed_within(&mut s, bound).expect("closed");
        assert!(
            String::from_utf8_lossy(&answer).starts_with(status),
            "{request:?}: {answer:?}"
        );
    }
    // Half a handshake, then silence: closed at the authentication timeout.
    let mut half = server.connect();
    half.write_all(&UPGRADE.as_bytes()[..40]).unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut half, bound).is_some(),
        "half a handshake stays open"
    );
    assert!(
        started.elapsed() >= auth - Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    // Four connections declaring a 1 GiB frame and sending 1 MiB of it: refused from the header.
    let mut big: Vec<TcpStream> = (0..4).map(|_| upgraded(&server)).collect();
    for s in &mut big {
        s.write_all(&frame_header(0x82, 1 << 30)).unwrap();
        let _ = s.write_all(&vec![7u8; 1 << 20]);
    }
    for s in &mut big {
        assert!(
            closed_within(s, bound).is_some(),
            "a declared gigabyte stays open"
        );
    }
    // One that declares it and waits is told why (close code 1009).
    let mut told = upgraded(&server);
    told.write_all(&frame_header(0x82, 1 << 30)).unwrap();
    let answer = closed_within(&mut told, bound).expect("closed");
    assert!(
        answer.windows(4).any(|w| w == [0x88, 9, 0x03, 0xF1]),
        "close 1009: {answer:?}"
    );
    peak_kib = peak_kib.max(server.rss_kib());
    // Reserved opcodes, reserved bits, an unmasked frame, a fragmented first frame.
    for first in [
        frame(0x83, b"x"),
        frame(0x8B, b""),
        frame(0xC2, b"x"),
        vec![0x82, 0x01, 0x00],
        frame(0x02, b"x"),
    ] {
        let mut s = upgraded(&server);
        s.write_all(&first).unwrap();
        let answer = closed_within(&mut s, bound).expect("closed");
        assert!(
            answer.windows(4).any(|w| w == [0x88, 9, 0x03, 0xEA]),
            "close 1002 for {first:?}: {answer:?}"
        );
    }
    // A well-formed request with the wrong token gets burn-remote's own refusal.
    let mut wrong = upgraded(&server);
    wrong
        .write_all(&frame(0x82, &init_payload(b"not-the-token")))
        .unwrap();
    let answer = closed_within(&mut wrong, bound).expect("closed");
    assert!(answer.windows(12).any(|w| w == b"Unauthorized"), "{answer:?}");
    // Garbage where the request should be.
    let mut junk = upgraded(&server);
    junk.write_all(&frame(0x82, &garbage(300, 3))).unwrap();
    assert!(closed_within(&mut junk, bound).is_some());
    // Resets: mid-handshake, after it, in the middle of a frame.
    let s = server.connect();
    (&s).write_all(&UPGRADE.as_bytes()[..30]).unwrap();
    reset(s);
    reset(upgraded(&server));
    let s = upgraded(&server);
    (&s).write_all(&frame_header(0x82, 100)).unwrap();
    reset(s);

    // 50 idle connections at once, all closed by the server within the timeout; three times.
    // Every socket is given back (the server's open files return to what they were), and the
    // later rounds reuse the memory the first took (the allocator keeps exited threads'
    // memory). A leak grows every round; the allocator's own steps, up to 2.0 MB between two
    // rounds (measured on CI and here, 2026-12-04), come now and then.
    let mut rounds = Vec::new();
    let mut fds = Vec::new();
    for _ in 0..3 {
        let opened = Instant::now();
        let mut idle: Vec<TcpStream> = (0..50).map(|_| server.connect()).collect();
        std::thread::sleep(Duration::from_millis(300));
        peak_kib = peak_kib.max(server.rss_kib());
        for s in &mut idle {
            let left = bound.saturating_sub(opened.elapsed()) + Duration::from_millis(200);
            assert!(
                closed_within(s, left).is_some(),
                "an idle connection outlived {bound:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        fds.push(server.open_fds());
        rounds.push(server.rss_kib());
        peak_kib = peak_kib.max(rounds[rounds.len() - 1]);
    }
    eprintln!(
        "serve RSS: idle {idle_kib} KiB, peak {peak_kib} KiB, after each round of 50 {rounds:?} KiB, open files {fds:?}"
    );
    assert!(fds.iter().all(|&n| n == fds[0]), "sockets are not given back: open files {fds:?}");
    assert!(
        peak_kib <= idle_kib + 32 * 1024,
        "idle {idle_kib} KiB, peak {peak_kib} KiB"
    );
    assert!(
        rounds[2] <= rounds[0] + 6 * 1024,
        "memory grows round after round (more than 3 MB a round): {rounds:?} KiB"
    );
    server.assert_healthy();

    let log = server.log();
    for expected in [
        "refused 127.0.0.1:",
        "declared a frame of 1.0 GiB before authenticating",
        "wrong or missing token",
        "reserved opcode",
        "asked for \"/data\", which is not served",
        "sent nothing within 1.5 s",
        "did not finish its handshake within 1.5 s",
    ] {
        assert!(log.contains(expected), "{expected:?} not in the log:\n{log}");
    }
    assert!(
        !log.contains("session opened"),
        "no hostile client got a session:\n{log}"
    );

    // A real client trains afterwards.
    let runs = common::temp_dir("hostile-train");
    let (ok, out, err) = train(&server.address(), &runs, "1");
    assert!(ok, "{out}\n{err}");
    server.assert_healthy();
    assert!(
        server.log().contains("session opened: 127.0.0.1:"),
        "{}",
        server.log()
    );
}

#[test]
fn sessions_are_pinged_checked_and_closed_when_silent() {
    let dir = common::temp_dir("hostile-token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let idle = Duration::from_millis(2000);
    let mut server = Server::start(3000, idle.as_millis() as u64, Token::File(&token_file));
    assert!(
        server.log().contains("can be read by other users (mode 644)"),
        "{}",
        server.log()
    );

    // A client that authenticates, then neither sends nor answers: pinged, then closed.
    let mut silent = upgraded(&server);
    silent
        .write_all(&frame(0x82, &init_payload(TOKEN.as_bytes())))
        .unwrap();
    let started = Instant::now();
    let seen = closed_within(&mut silent, idle + Duration::from_secs(4)).expect("a silent session is closed");
    assert!(
        started.elapsed() >= idle - Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(seen[0], 0x82, "the server's answer comes first: {seen:?}");
    assert!(seen.windows(2).any(|w| w == [0x89, 0x00]), "pinged: {seen:?}");

    // A session that sends a reserved opcode, or declares a message over the limit, is closed at once.
    for bad in [frame(0x83, b""), frame_header(0x82, 2 << 30)] {
        let mut s = upgraded(&server);
        s.write_all(&frame(0x82, &init_payload(TOKEN.as_bytes())))
            .unwrap();
        s.write_all(&bad).unwrap();
        assert!(
            closed_within(&mut s, Duration::from_millis(1500)).is_some(),
            "{bad:?}"
        );
    }
    // A session reset by its client.
    let s = upgraded(&server);
    (&s).write_all(&frame(0x82, &init_payload(TOKEN.as_bytes())))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    reset(s);

    // A real client trains for two epochs on a server that closes silent sessions in 2 s.
    let runs = common::temp_dir("hostile-session-train");
    let (ok, out, err) = train(&server.address(), &runs, "2");
    assert!(ok, "{out}\n{err}");
    server.assert_healthy();
    let log = server.log();
    for expected in [
        "no answer from the client for 2 s",
        "the client sent reserved opcode 0x3",
        "limit is",
    ] {
        assert!(log.contains(expected), "{expected:?} not in the log:\n{log}");
    }

    // A real session left idle past the idle timeout answers the pings and still works.
    let address: mnist_workbench::remote::RemoteAddress = server.address().parse().unwrap();
    let connection = mnist_workbench::remote::connect(&address, Some(TOKEN)).expect("connects");
    std::thread::sleep(idle + Duration::from_secs(1));
    let device = connection.selected.device.clone();
    let sum = burn::tensor::Tensor::<1>::ones([4], &device)
        .sum()
        .into_scalar::<f32>();
    assert_eq!(sum, 4.0);
    drop((device, connection));

    // The token file is read only by a command that uses a remote device: a local run ignores a
    // missing one, a remote run reports a device given as one, and a readable one is a note.
    let local = common::temp_dir("hostile-local");
    let (ok, _, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "300",
            "--model",
            "mlp",
            "--epochs",
            "1",
            "--device",
            "flex",
            "--runs",
            local.to_str().unwrap(),
            "--token-file",
            "/nonexistent/token",
        ],
        &[],
        &[],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "300",
            "--device",
            &server.address(),
            "--token-file",
            "/dev/zero",
            "--runs",
            local.to_str().unwrap(),
        ],
        &[],
        &["MNIST_WORKBENCH_TOKEN"],
    );
    assert!(
        !ok && err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
    let remote = common::temp_dir("hostile-remote");
    let (ok, _, err) = common::cli(
        &[
            "train",
            "--synthetic",
            "--synthetic-size",
            "300",
            "--model",
            "mlp",
            "--epochs",
            "1",
            "--device",
            &server.address(),
            "--runs",
            remote.to_str().unwrap(),
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        &[],
        &["MNIST_WORKBENCH_TOKEN"],
    );
    assert!(ok, "{err}");
    assert!(
        err.contains("note: token file") && err.contains("chmod 600"),
        "{err}"
    );
    server.assert_healthy();
}
