//! A host that opens sockets to `serve` and never signs in (found by a hostile-input review:
//! 64 such sockets used to take every place for unauthenticated connections, and clients
//! holding the token were refused with "Handshake not finished" for as long as they stayed).
//! Now one address holds at most 8 places, the rest are answered "503", and a client from
//! elsewhere still gets a session. Loopback only: the flood comes from 127.0.0.2.

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// A TCP connection to 127.0.0.1:`port` from the local address `source`.
fn connect_from(source: Ipv4Addr, port: u16) -> TcpStream {
    let addr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    #[allow(unsafe_code)]
    // SAFETY: a fresh socket whose descriptor is handed to TcpStream, which closes it; the
    // addresses are plain sockaddr_in values that live across the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let local = addr(source, 0);
        let bound = libc::bind(fd, (&raw const local).cast(), len);
        assert_eq!(bound, 0, "bind {source}: {}", std::io::Error::last_os_error());
        let remote = addr(Ipv4Addr::LOCALHOST, port);
        let connected = libc::connect(fd, (&raw const remote).cast(), len);
        assert_eq!(connected, 0, "connect: {}", std::io::Error::last_os_error());
        stream
    }
}

#[test]
fn a_flood_from_one_address_leaves_room_for_a_client_with_the_token() {
    let log = common::temp_dir("flood").join("serve.log");
    let server = common::ServeFlex::start_logging(Some(&log));
    let flooder = Ipv4Addr::new(127, 0, 0, 2);
    // 64 idle sockets, the whole front's default share, from one address.
    let mut flood: Vec<TcpStream> = (0..64).map(|_| connect_from(flooder, server.port)).collect();
    let mut busy = 0;
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        if answer.starts_with(b"HTTP/1.1 503") {
            busy += 1;
        }
    }
    assert_eq!(busy, 56, "all but the address's 8 places are answered 503 at once");

    // While 8 of them still wait to sign in, a client from another address works.
    let started = Instant::now();
    let address: mnist_workbench::remote::RemoteAddress = server.address().parse().unwrap();
    let connection =
        mnist_workbench::remote::connect(&address, Some(common::TOKEN)).expect("a session despite the flood");
    let device = connection.selected.device.clone();
    let sum = burn::tensor::Tensor::<1>::ones([4], &device)
        .sum()
        .into_scalar::<f32>();
    assert_eq!(sum, 4.0);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    drop(flood);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("refused 127.0.0.2:") && log.contains("8 connections from its address"),
        "{log}"
    );
    assert!(log.contains("session opened: 127.0.0.1:"), "{log}");
}
