//! The authenticating front of `serve`. burn-remote's own WebSocket server (axum) reads a
//! whole message of up to 1 GiB before the token in it is checked, answers every route (its
//! `/data` route panics on a malformed message), and never closes an idle connection; none of
//! that can be configured. So `serve` binds burn-remote to an internal loopback port and puts
//! this front on the public address:
//!
//! 1. accept, and count the connection against [`FrontLimits::max_pending`] and its peer's
//!    share, [`FrontLimits::max_pending_per_peer`] (a refused one is answered "503 busy");
//! 2. read the HTTP upgrade request (at most [`FrontLimits::request_bytes`]), refuse anything
//!    but a WebSocket upgrade of `/session`, answer it ourselves;
//! 3. read the first frame (at most [`FrontLimits::init_bytes`], declared size checked before a
//!    payload byte is read), decode burn-remote's session `Init` and compare its token in
//!    constant time; a wrong token gets burn-remote's own "unauthorized" answer;
//!    steps 2-3 must finish within [`FrontLimits::auth_timeout`];
//! 4. only then open a connection to the internal port, replay an upgrade and the `Init`
//!    there, and copy bytes both ways: client frames are followed header by header (reserved
//!    opcodes, unmasked frames and messages over [`FrontLimits::message_bytes`] close the
//!    connection before they reach burn), a quiet client is pinged and one silent for
//!    [`FrontLimits::idle_timeout`] is closed.
//!
//! No unauthenticated byte ever reaches burn-remote. Every failure ends its own connection and
//! is logged naming the peer.
//!
//! Threads: the accept loop (`mnist-serve-front`), one per connection (`mnist-serve-conn`) and
//! one more per session for the server-to-client direction (`mnist-serve-down`). They are
//! started here rather than through `jobs.rs` because they are not jobs (no progress, no
//! result; each lives as long as its socket) and their number is bounded by the limits.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::admission::{NoPlace, Pending, PeerCounts, Slot, admit};
use super::wire;
use crate::fsutil::human_bytes;

/// What the front allows a client, before and after it has shown the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontLimits {
    /// Time from connecting to having presented the right token (HTTP upgrade and first frame).
    pub auth_timeout: Duration,
    /// Time an authenticated client may send nothing at all. The front pings a quiet client
    /// every quarter of it and a live client answers, so only a vanished or stuck one is closed.
    pub idle_timeout: Duration,
    /// Connections waiting to authenticate at once; further ones are closed at once.
    pub max_pending: usize,
    /// Of those, the most from one peer address: a host that opens sockets and never signs
    /// in fills its share, not the front.
    pub max_pending_per_peer: usize,
    /// Authenticated sessions at once.
    pub max_sessions: usize,
    /// Bytes of the HTTP upgrade request.
    pub request_bytes: usize,
    /// Payload bytes of the first frame, the session request that carries the token.
    pub init_bytes: u64,
    /// Payload bytes of one message after authentication: the largest tensor the workbench
    /// sends is a weight of a model, whose whole file is capped at
    /// [`crate::fsutil::limits::WEIGHTS_BYTES`], plus room for the message's framing.
    pub message_bytes: u64,
}

impl Default for FrontLimits {
    fn default() -> Self {
        Self {
            auth_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_pending: 64,
            max_pending_per_peer: 8,
            max_sessions: 32,
            request_bytes: 8 << 10,
            init_bytes: 4 << 10,
            message_bytes: crate::fsutil::limits::WEIGHTS_BYTES + (16 << 20),
        }
    }
}

impl FrontLimits {
    /// How often a quiet authenticated client is pinged.
    fn ping_interval(&self) -> Duration {
        (self.idle_timeout / 4).max(Duration::from_millis(10))
    }
}

/// The longest token the front accepts (the session request must fit in `init_bytes`).
pub const MAX_TOKEN_BYTES: usize = 1024;
/// Stack of each connection thread: they only copy bytes through fixed buffers.
const THREAD_STACK: usize = 512 << 10;
/// Bytes copied at a time in each direction of a session.
const COPY_BUFFER: usize = 64 << 10;
/// Time allowed for a write to a peer that has not authenticated, and for the internal port.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the front needs to know.
pub(super) struct Front {
    /// burn-remote's internal listener.
    pub backend: SocketAddr,
    /// The token clients must present.
    pub token: Vec<u8>,
    /// Sizes, counts and timeouts.
    pub limits: FrontLimits,
    /// Where log lines go.
    pub log: fn(&str),
}

struct Shared {
    front: Front,
    pending: Arc<AtomicUsize>,
    pending_by_peer: Arc<PeerCounts>,
    sessions: Arc<AtomicUsize>,
}

/// Accepts on `listener` on thread `mnist-serve-front` until the process ends.
pub(super) fn spawn(listener: TcpListener, front: Front) -> io::Result<()> {
    let shared = Arc::new(Shared {
        front,
        pending: Arc::default(),
        pending_by_peer: Arc::default(),
        sessions: Arc::default(),
    });
    std::thread::Builder::new()
        .name("mnist-serve-front".into())
        .spawn(move || accept_loop(&listener, &shared))
        .map(drop)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let log = shared.front.log;
    let limits = (shared.front.limits.max_pending, shared.front.limits.max_pending_per_peer);
    // Refusals for a full queue are logged at most once a second, with a count.
    let (mut unlogged, mut last_logged) = (0usize, None::<Instant>);
    loop {
        let (stream, address) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                log(&format!("cannot accept a connection: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let peer = address.to_string();
        let slot = match admit(&shared.pending, &shared.pending_by_peer, address.ip(), limits) {
            Ok(slot) => slot,
            Err(full) => {
                // One write into an empty socket buffer: it cannot hold the accept loop.
                let _ = stream.set_nonblocking(true);
                let _ = (&stream).write(&wire::http_refusal("503 Service Unavailable"));
                unlogged += 1;
                if last_logged.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(1)) {
                    let more = match unlogged - 1 {
                        0 => String::new(),
                        n => format!(" and {n} more since the last such line"),
                    };
                    let why = match full {
                        NoPlace::Front(max) => format!("{max} connections are already waiting to authenticate"),
                        NoPlace::Peer(max) => {
                            format!("{max} connections from its address are already waiting to authenticate")
                        }
                    };
                    log(&format!("refused {peer}{more}: {why}"));
                    (unlogged, last_logged) = (0, Some(Instant::now()));
                }
                continue;
            }
        };
        let conn = shared.clone();
        let who = peer.clone();
        let spawned = std::thread::Builder::new()
            .name("mnist-serve-conn".into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let served =
                    std::panic::catch_unwind(AssertUnwindSafe(|| connection(&conn, stream, &who, slot)));
                if served.is_err() {
                    (conn.front.log)(&format!("connection with {who} ended by an internal error"));
                }
            });
        if let Err(e) = spawned {
            log(&format!("refused {peer}: cannot start a thread for it ({e})"));
        }
    }
}

/// Why a connection ended before it authenticated.
enum PreAuth {
    /// It closed without sending anything (a port check): not worth a log line.
    Quiet,
    /// It was refused, for the reason given.
    Refused(String),
}

fn connection(shared: &Shared, mut client: TcpStream, peer: &str, pending: Pending) {
    let (front, log) = (&shared.front, shared.front.log);
    let _ = client.set_nodelay(true);
    let init = match authenticate(&mut client, front) {
        Ok(init) => init,
        Err(PreAuth::Quiet) => return,
        Err(PreAuth::Refused(reason)) => {
            log(&format!("refused {peer}: {reason}"));
            return linger_close(&mut client);
        }
    };
    drop(pending);
    let Some(_session) = Slot::take(&shared.sessions, front.limits.max_sessions) else {
        let _ = client.write_all(&wire::close_frame(wire::CLOSE_TRY_LATER, "too many sessions"));
        let max = front.limits.max_sessions;
        log(&format!("refused {peer}: {max} sessions are already open"));
        return linger_close(&mut client);
    };
    let (backend, leftover) = match open_backend(front.backend) {
        Ok(opened) => opened,
        Err(e) => {
            let _ = client.write_all(&wire::close_frame(1011, "the server is not ready"));
            log(&format!("cannot serve {peer}: the internal server: {e}"));
            return linger_close(&mut client);
        }
    };
    log(&format!("session opened: {peer}"));
    let why = proxy(client, backend, &init, leftover, &front.limits);
    log(&format!("session closed: {peer} ({why})"));
}

/// Steps 2 and 3 of the module's list: the client's first frame (header and masked payload,
/// as received) once its token has been checked.
fn authenticate(client: &mut TcpStream, front: &Front) -> Result<Vec<u8>, PreAuth> {
    use PreAuth::Refused;
    let limits = &front.limits;
    let deadline = Instant::now() + limits.auth_timeout;
    let secs = limits.auth_timeout.as_secs_f64();
    let _ = client.set_write_timeout(Some(WRITE_TIMEOUT));
    let failed = |e: io::Error, what: &str| match e.kind() {
        io::ErrorKind::TimedOut => Refused(format!("did not finish {what} within {secs} s")),
        io::ErrorKind::UnexpectedEof => Refused(format!("closed the connection during {what}")),
        _ => Refused(format!("connection error during {what}: {e}")),
    };

    let mut head = Vec::new();
    let end = loop {
        if let Some(end) = wire::head_end(&head) {
            break end;
        }
        if head.len() >= limits.request_bytes {
            let _ = client.write_all(&wire::http_refusal("431 Request Header Fields Too Large"));
            return Err(Refused(format!(
                "sent a handshake request over {}",
                human_bytes(limits.request_bytes as u64)
            )));
        }
        let mut chunk = [0u8; 1024];
        let room = (limits.request_bytes - head.len()).min(chunk.len());
        match read_by(client, &mut chunk[..room], deadline) {
            Ok(0) if head.is_empty() => return Err(PreAuth::Quiet),
            Ok(0) => return Err(Refused("closed the connection during its handshake".into())),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if head.is_empty() && e.kind() == io::ErrorKind::TimedOut => {
                return Err(Refused(format!("sent nothing within {secs} s")));
            }
            Err(e) => return Err(failed(e, "its handshake")),
        }
    };
    let key = wire::parse_upgrade(&head[..end]).map_err(|refusal| {
        let _ = client.write_all(&wire::http_refusal(refusal.status));
        Refused(refusal.reason)
    })?;
    if end != head.len() {
        let _ = client.write_all(&wire::http_refusal("400 Bad Request"));
        return Err(Refused("sent data before its handshake was answered".into()));
    }
    client
        .write_all(&wire::http_switching(&key))
        .map_err(|e| Refused(format!("cannot answer its handshake: {e}")))?;

    // The first frame: its header, then (only if small enough) its payload.
    let mut frame = vec![0u8; 2];
    read_exact_by(client, &mut frame, deadline).map_err(|e| failed(e, "its session request"))?;
    let header_len = wire::frame_header_len(frame[1]);
    frame.resize(header_len, 0);
    read_exact_by(client, &mut frame[2..], deadline).map_err(|e| failed(e, "its session request"))?;
    let refuse = |client: &mut TcpStream, code: u16, reason: String| {
        let _ = client.write_all(&wire::close_frame(code, "refused"));
        Refused(reason)
    };
    let header = match wire::parse_frame_header(&frame) {
        Ok(Some(header)) => header,
        Ok(None) | Err(_) => {
            return Err(refuse(
                client,
                wire::CLOSE_PROTOCOL_ERROR,
                "a malformed frame".into(),
            ));
        }
    };
    if header.opcode == wire::OP_CLOSE {
        return Err(Refused("closed the WebSocket before presenting a token".into()));
    }
    // What RFC 6455 forbids anywhere (reserved opcodes and bits, an unmasked client frame),
    // then what is wrong here: anything but one whole binary message.
    let violation = wire::FrameScanner::new(true, u64::MAX).feed(&frame).err();
    let violation = violation.or_else(|| match (header.opcode, header.fin) {
        (wire::OP_BINARY, true) => None,
        (wire::OP_BINARY, false) => Some("a fragmented session request".into()),
        (opcode, _) => Some(format!(
            "a frame of opcode {opcode:#x} where the session request belongs"
        )),
    });
    if let Some(violation) = violation {
        let reason = format!("protocol error before authenticating: {violation}");
        return Err(refuse(client, wire::CLOSE_PROTOCOL_ERROR, reason));
    }
    let Some(mask) = header.mask else {
        return Err(refuse(
            client,
            wire::CLOSE_PROTOCOL_ERROR,
            "an unmasked client frame".into(),
        ));
    };
    if header.len > limits.init_bytes {
        let reason = format!(
            "declared a frame of {} before authenticating (the limit is {})",
            human_bytes(header.len),
            human_bytes(limits.init_bytes)
        );
        return Err(refuse(client, wire::CLOSE_TOO_BIG, reason));
    }
    frame.resize(header_len + header.len as usize, 0);
    read_exact_by(client, &mut frame[header_len..], deadline)
        .map_err(|e| failed(e, "its session request"))?;
    let payload: Vec<u8> = frame[header_len..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    let init = wire::parse_init(&payload).map_err(|e| {
        refuse(
            client,
            wire::CLOSE_PROTOCOL_ERROR,
            format!("an unreadable session request: {e}"),
        )
    })?;
    if !wire::token_matches(init.credential, &front.token) {
        let _ = client.write_all(&wire::unauthorized_reply());
        return Err(refuse(
            client,
            wire::CLOSE_POLICY,
            "wrong or missing token".into(),
        ));
    }
    Ok(frame)
}

/// Closes a refused connection gently: the front's last words go out followed by a FIN, and
/// what the peer had already sent is read and dropped (at most 64 KiB, for at most 250 ms), so
/// the kernel does not answer unread bytes with a reset that could discard those last words.
fn linger_close(client: &mut TcpStream) {
    let _ = client.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(250);
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 << 10 {
        match read_by(client, &mut buf, deadline) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Reads what is there by `deadline` (`TimedOut` after it).
fn read_by(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            other => return other,
        }
    }
}

/// Fills `buf` by `deadline`.
fn read_exact_by(stream: &mut TcpStream, mut buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    while !buf.is_empty() {
        match read_by(stream, buf, deadline)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf = &mut buf[n..],
        }
    }
    Ok(())
}

/// A WebSocket connection to burn-remote's internal port, and any bytes it sent after its
/// answer.
fn open_backend(address: SocketAddr) -> Result<(TcpStream, Vec<u8>), String> {
    let mut stream = TcpStream::connect_timeout(&address, WRITE_TIMEOUT).map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(WRITE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let key = wire::base64(&super::random_token().as_bytes()[..16]);
    stream
        .write_all(&wire::http_upgrade_request(&address.to_string(), &key))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + WRITE_TIMEOUT;
    let mut head = Vec::new();
    let end = loop {
        if let Some(end) = wire::head_end(&head) {
            break end;
        }
        if head.len() > 8 << 10 {
            return Err("an oversized upgrade answer".into());
        }
        let mut chunk = [0u8; 1024];
        match read_by(&mut stream, &mut chunk, deadline) {
            Ok(0) => return Err("it closed the connection".into()),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    };
    if !head.starts_with(b"HTTP/1.1 101") {
        let line =
            String::from_utf8_lossy(head.split(|b| *b == b'\r').next().unwrap_or_default()).into_owned();
        return Err(format!("it refused the upgrade: {line:?}"));
    }
    stream.set_write_timeout(None).map_err(|e| e.to_string())?;
    Ok((stream, head.split_off(end)))
}

/// The first reason one of a session's two directions ended; both sockets are shut down then,
/// which ends the other direction too.
struct Ending {
    first: Mutex<Option<String>>,
    client: TcpStream,
    backend: TcpStream,
}

impl Ending {
    fn end(&self, why: String) {
        self.first
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.backend.shutdown(Shutdown::Both);
    }
}

/// Step 4: passes the checked `init` frame on, then copies both ways until either side ends;
/// returns why the session ended.
fn proxy(
    mut client: TcpStream,
    mut backend: TcpStream,
    init: &[u8],
    leftover: Vec<u8>,
    limits: &FrontLimits,
) -> String {
    if let Err(e) = backend.write_all(init) {
        return format!("cannot pass its request on: {e}");
    }
    let clones = (
        client.try_clone(),
        backend.try_clone(),
        client.try_clone(),
        backend.try_clone(),
    );
    let (Ok(client_out), Ok(backend_in), Ok(c), Ok(b)) = clones else {
        return "cannot share the connection between threads".into();
    };
    let ending = Arc::new(Ending {
        first: Mutex::new(None),
        client: c,
        backend: b,
    });
    let ping = limits.ping_interval();
    let _ = client.set_read_timeout(Some(ping));
    let _ = client_out.set_write_timeout(Some(limits.idle_timeout));
    let _ = backend_in.set_read_timeout(Some(ping));
    let down_ending = ending.clone();
    let down = std::thread::Builder::new()
        .name("mnist-serve-down".into())
        .stack_size(THREAD_STACK)
        .spawn(move || down_ending.end(downstream(backend_in, client_out, &leftover, ping)));
    match down {
        Ok(down) => {
            ending.end(upstream(&mut client, &mut backend, limits));
            if down.join().is_err() {
                ending.end("an internal error in the server-to-client copy".into());
            }
        }
        Err(e) => ending.end(format!("cannot start a thread for the server's answers ({e})")),
    }
    let why = ending.first.lock().unwrap_or_else(|e| e.into_inner()).take();
    why.unwrap_or_default()
}

/// Client to server: every frame header checked before its bytes are passed on.
fn upstream(client: &mut TcpStream, backend: &mut TcpStream, limits: &FrontLimits) -> String {
    let mut scanner = wire::FrameScanner::new(true, limits.message_bytes);
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut last = Instant::now();
    loop {
        match client.read(&mut buf) {
            Ok(0) => return "the client closed the connection".into(),
            Ok(n) => {
                last = Instant::now();
                if let Err(violation) = scanner.feed(&buf[..n]) {
                    return format!("closed after the client sent {violation}");
                }
                if let Err(e) = backend.write_all(&buf[..n]) {
                    return format!("the internal server stopped reading: {e}");
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if last.elapsed() >= limits.idle_timeout {
                    return format!(
                        "no answer from the client for {:.0} s",
                        last.elapsed().as_secs_f64()
                    );
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return format!("connection error: {e}"),
        }
    }
}

/// Server to client, with a ping between frames whenever `ping` has passed since the last.
fn downstream(mut backend: TcpStream, mut client: TcpStream, leftover: &[u8], ping: Duration) -> String {
    let mut scanner = wire::FrameScanner::new(false, u64::MAX);
    if let Err(e) = scanner
        .feed(leftover)
        .and_then(|()| client.write_all(leftover).map_err(|e| e.to_string()))
    {
        return format!("cannot pass the server's first answer on: {e}");
    }
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut last_ping = Instant::now();
    loop {
        match backend.read(&mut buf) {
            Ok(0) => return "the server ended the session".into(),
            Ok(n) => {
                if let Err(violation) = scanner.feed(&buf[..n]) {
                    return format!("the internal server sent {violation}");
                }
                if let Err(e) = client.write_all(&buf[..n]) {
                    return format!("cannot write to the client: {e}");
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return format!("the internal connection failed: {e}"),
        }
        if scanner.at_boundary() && last_ping.elapsed() >= ping {
            if let Err(e) = client.write_all(&wire::server_frame(wire::OP_PING, b"")) {
                return format!("cannot write to the client: {e}");
            }
            last_ping = Instant::now();
        }
    }
}

#[cfg(test)]
#[path = "front_tests.rs"]
mod tests;
