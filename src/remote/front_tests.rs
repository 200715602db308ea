//! The front against a stand-in for burn-remote's server: only a checked session reaches it,
//! byte for byte, and a silent session is pinged, then closed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use super::*;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log(line: &str) {
    LOG.lock().unwrap().push(line.to_string());
}

/// A backend that answers each upgrade and reports every byte it received after it.
fn stand_in() -> (SocketAddr, Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (sender, received) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            assert!(head.starts_with(b"GET /session HTTP/1.1\r\n"));
            stream
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
                .unwrap();
            stream
                .write_all(&wire::server_frame(wire::OP_BINARY, b"welcome"))
                .unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
            sender.send(rest).unwrap();
        }
    });
    (address, received)
}

fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 9, 8, 7, 6];
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ [9, 8, 7, 6][i % 4]));
    frame
}

fn init(token: &[u8]) -> Vec<u8> {
    let mut b = vec![
        0x91, 0x81, 0xA4, b'I', b'n', b'i', b't', 0x94, 0x02, 0x91, 0x07, 0x00, 0xC4,
    ];
    b.push(token.len() as u8);
    b.extend_from_slice(token);
    masked(wire::OP_BINARY, &b)
}

fn session(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(
        b"GET /session HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

#[test]
fn only_a_checked_session_reaches_the_server_and_a_silent_one_is_closed() {
    let (backend, received) = stand_in();
    let public = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = public.local_addr().unwrap().port();
    let limits = FrontLimits {
        auth_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(400),
        message_bytes: 100,
        ..FrontLimits::default()
    };
    let token = b"tok".to_vec();
    spawn(
        public,
        Front {
            backend,
            token,
            limits,
            log,
        },
    )
    .unwrap();

    // A wrong token: burn-remote's refusal, and nothing reaches the server.
    let mut wrong = session(port);
    wrong.write_all(&init(b"tik")).unwrap();
    let answer = read_until_closed(&mut wrong);
    assert!(answer.starts_with(&wire::unauthorized_reply()), "{answer:?}");
    assert!(received.recv_timeout(Duration::from_millis(300)).is_err());

    // The right one: the request and what follows arrive as sent, the answer comes back.
    let mut good = session(port);
    let (request, hello) = (init(b"tok"), masked(wire::OP_BINARY, b"hello"));
    good.write_all(&request).unwrap();
    good.write_all(&hello).unwrap();
    let mut welcome = [0u8; 9];
    good.read_exact(&mut welcome).unwrap();
    assert_eq!(welcome.to_vec(), wire::server_frame(wire::OP_BINARY, b"welcome"));
    good.shutdown(std::net::Shutdown::Write).unwrap();
    let forwarded = received.recv_timeout(Duration::from_secs(3)).unwrap();
    assert_eq!(forwarded, [request.clone(), hello].concat());

    // Over the message limit after authentication: closed before a byte of it is passed on.
    let mut big = session(port);
    big.write_all(&request).unwrap();
    big.write_all(&[0x82, 0x80 | 101, 0, 0, 0, 0]).unwrap();
    read_until_closed(&mut big);
    assert_eq!(received.recv_timeout(Duration::from_secs(3)).unwrap(), request);

    // Silent after authenticating: pinged, then closed at the idle timeout.
    let mut silent = session(port);
    silent.write_all(&request).unwrap();
    let started = Instant::now();
    let seen = read_until_closed(&mut silent);
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    assert!(seen.windows(2).any(|w| w == [0x89, 0]), "pinged: {seen:?}");
    assert_eq!(received.recv_timeout(Duration::from_secs(3)).unwrap(), request);

    // The last line is written once both directions have stopped.
    let started = Instant::now();
    while !LOG
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("no answer from the client"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            LOG.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = LOG.lock().unwrap().join("\n");
    for expected in [
        "wrong or missing token",
        "session opened",
        "the limit is 100 bytes",
        "no answer from the client",
    ] {
        assert!(log.contains(expected), "{expected:?} not in:\n{log}");
    }
}
