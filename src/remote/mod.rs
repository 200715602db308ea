//! Training on another machine's device through burn-remote: [`serve`] hosts this machine's
//! device (`mnist-workbench serve`), [`connect`] opens a session from a client
//! (`--device remote://HOST:PORT`, the app's Device choice). Autodiff stays on the client and
//! operations stream to the server over WebSocket.
//!
//! A server refuses every client that does not present its token. The token is checked by an
//! authenticating front ([`front`]) before any byte reaches burn-remote, whose own server listens
//! on an internal loopback port; the front also caps sizes and closes idle connections.
//! WebSocket is not encrypted: the token and the tensors cross the network in the clear, so a
//! server outside a trusted network belongs behind an SSH tunnel.
//!
//! Files: `wire.rs` (HTTP upgrade, WebSocket frames, the session request), `front.rs` (the
//! front's threads), `token.rs` (where the token comes from).

mod admission;
mod front;
mod token;
mod wire;

pub use front::{FrontLimits, MAX_TOKEN_BYTES};
pub use token::{
    random_token, read_token_file, set_token, set_token_file, token, token_checked, token_file_warning,
};

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::backend::ir::{CustomOpIr, TensorIr};
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Cube, DispatchDevice, Flex, Remote};
use burn::tensor::remote::{ConnectError, CustomOpClient, RemoteHost};
use burn::tensor::server::{
    AuthorizationRequest, PeerAuthorizer, RemoteServer, TokenAuthorizer, WebSocketTransport,
};
use burn::tensor::{DType, Device, Shape, Tensor, TensorData};

use crate::device::{Backend, SelectedDevice};
use crate::kernels::remote::SERVED_CAPABILITY;

/// The environment variable a client's token is read from when no `--token-file` is given.
pub const TOKEN_ENV: &str = "MNIST_WORKBENCH_TOKEN";
/// The port `serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 3950;
/// How long a client waits for a server before saying it cannot be reached.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Custom op the server answers with its device's name.
const DESCRIBE_OP: &str = "mnist-workbench.describe";
/// Bytes of that name (padded with zeros).
const NAME_BYTES: usize = 128;

/// A server's address: `remote://HOST:PORT` (or just `HOST:PORT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RemoteAddress {
    /// Host name or IP address.
    pub host: String,
    /// TCP port `serve` listens on.
    pub port: u16,
}

impl FromStr for RemoteAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s.trim().strip_prefix("remote://").unwrap_or(s.trim());
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
            format!("{s:?}: expected remote://HOST:PORT, e.g. remote://gpu-box:{DEFAULT_PORT}")
        })?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{s:?}: the port must be a number from 1 to 65535"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 || host.contains('/') {
            return Err(format!("{s:?}: expected remote://HOST:PORT"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for RemoteAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "remote://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "remote://{}:{}", self.host, self.port)
        }
    }
}

impl RemoteAddress {
    fn websocket_url(&self) -> String {
        if self.host.contains(':') {
            format!("ws://[{}]:{}", self.host, self.port)
        } else {
            format!("ws://{}:{}", self.host, self.port)
        }
    }
}

/// Why a remote device cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    /// Nothing answers at the address.
    #[error("cannot reach the server at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The server refused the token.
    #[error("the server at {0} refused the token (check --token-file or ${TOKEN_ENV})")]
    Unauthorized(String),
    /// Some other failure while opening the session.
    #[error("the server at {address}: {reason}")]
    Failed { address: String, reason: String },
    /// The token file cannot be used.
    #[error("token file {path}: {reason}")]
    TokenFile { path: String, reason: String },
}

/// An open session with a remote device.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The device, as a selected device (name and reason for the status bar).
    pub selected: SelectedDevice,
    /// What the server says it serves.
    pub server_device: String,
    /// The fastest of three tiny round trips.
    pub round_trip: Duration,
}

/// Opens a session with the server at `address`, presenting `token`: a clear error within
/// [`CONNECT_TIMEOUT`] when nothing answers, said plainly when the token is refused.
///
/// Called without a token while the named token file cannot be used (a caller passes
/// [`token()`], which is `None` then), it reports the file's problem rather than a refusal.
pub fn connect(address: &RemoteAddress, token: Option<&str>) -> Result<Connection, RemoteError> {
    if token.is_none() {
        token_checked()?;
    }
    let shown = address.to_string();
    let unreachable = |reason: String| RemoteError::Unreachable {
        address: shown.clone(),
        reason,
    };
    // A quick TCP check first: a refused or silent port is reported at once.
    let socket = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve {}: {e}", address.host)))?
        .next()
        .ok_or_else(|| unreachable(format!("{} has no address", address.host)))?;
    TcpStream::connect_timeout(&socket, Duration::from_secs(3)).map_err(|e| unreachable(e.to_string()))?;
    let mut host = RemoteHost::websocket(&address.websocket_url());
    if let Some(token) = token {
        host = host.with_credential(token);
    }
    let device = within(CONNECT_TIMEOUT, move || Device::remote_options(&host).init())
        .ok_or_else(|| unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| match e {
            ConnectError::Unauthorized => RemoteError::Unauthorized(shown.clone()),
            ConnectError::Unreachable { reason } if reason.contains("503") => unreachable(format!(
                "the server is busy: too many connections are waiting to sign in there ({reason}); \
                 try again in a few seconds"
            )),
            ConnectError::Unreachable { reason } => unreachable(reason),
            other => RemoteError::Failed {
                address: shown.clone(),
                reason: other.to_string(),
            },
        })?;
    let probe = device.clone();
    let (server_device, capabilities) = within(CONNECT_TIMEOUT, move || describe_server(&probe))
        .ok_or_else(|| unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
        .unwrap_or_else(|e| (format!("unknown device ({e})"), String::new()));
    let kernels_served = capabilities.split(' ').any(|c| c == SERVED_CAPABILITY);
    if let DispatchDevice::Remote(remote) = device.as_dispatch() {
        crate::kernels::remote::set_served(remote, kernels_served);
    }
    let round_trip = (0..3)
        .filter_map(|_| {
            let start = Instant::now();
            let d = device.clone();
            within(CONNECT_TIMEOUT, move || {
                Tensor::<1>::ones([1], &d).sum().into_scalar::<f32>()
            })?;
            Some(start.elapsed())
        })
        .min()
        .ok_or_else(|| unreachable("the server stopped answering".into()))?;
    Ok(Connection {
        selected: SelectedDevice {
            device,
            backend: Backend::Remote,
            name: format!("{server_device} at {shown}"),
            reason: format!(
                "remote device; round trip {:.1} ms; {}",
                round_trip.as_secs_f64() * 1000.0,
                if kernels_served {
                    "the server runs the fused kernels"
                } else {
                    "standard ops (a server of an older version, or not flex, runs no fused kernels)"
                }
            ),
        },
        server_device,
        round_trip,
    })
}

/// Runs `f` on a helper thread and waits at most `limit` (a hung network call cannot block the
/// caller; the helper finishes or fails in the background). The helper is where burn starts a
/// remote device's threads, so they inherit its relaxed timers ([`relax_timers`]).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    // A dead connection makes burn panic in the helper: the job reports it as a failure.
    let mut job = crate::jobs::spawn("mnist-remote-connect", Arc::new(|| {}), move |_| {
        relax_timers();
        Ok(f())
    })
    .ok()?;
    match job.next_timeout(limit)? {
        crate::jobs::JobEvent::<(), T>::Finished(value) => Some(value),
        _ => None,
    }
}

/// How late the kernel may end a timed wait of the remote device's threads.
pub const REMOTE_TIMER_SLACK: Duration = Duration::from_millis(2);

/// Lets the kernel end this thread's timed waits up to [`REMOTE_TIMER_SLACK`] late, and those of
/// the threads it starts (Linux threads inherit their creator's timer slack). burn's device
/// thread for a remote device, idle while the server computes, wakes every 150 µs to see
/// whether it should stop (cubecl-common's `PARK_STEP_SERVER`); work wakes it at once whatever
/// the slack. With the default slack of 50 µs those wake-ups took about a third of a client's
/// CPU in a two-server ensemble, taken from the servers when they share its cores (README
/// "Several servers").
fn relax_timers() {
    #[cfg(target_os = "linux")]
    {
        let nanoseconds = REMOTE_TIMER_SLACK.as_nanos() as libc::c_ulong;
        // SAFETY: PR_SET_TIMERSLACK takes a number and no pointer, and changes only this
        // thread's timer slack; a failure leaves the default, which is only slower.
        #[allow(unsafe_code)]
        let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0) };
    }
}

/// The server's device name and what else it serves (space-separated capabilities, empty
/// for a server of an older version), through the custom op `serve` registers.
fn describe_server(device: &Device) -> Result<(String, String), String> {
    let DispatchDevice::Remote(remote) = device.as_dispatch() else {
        return Err("not a remote device".into());
    };
    let client = CustomOpClient::new(remote);
    let output = TensorIr::uninit(client.create_empty_handle(), Shape::new([NAME_BYTES]), DType::F32);
    let mut outputs = client.register(CustomOpIr::new(DESCRIBE_OP, &[], &[output]));
    let tensor = outputs.pop().ok_or("no answer")?;
    let data = burn::tensor::try_read_sync(<Remote as FloatTensorOps<Remote>>::float_into_data(tensor))
        .ok_or("cannot read the answer")?
        .map_err(|e| format!("{e:?}"))?;
    let bytes: Vec<u8> = data.iter::<f32>().map(|v| v as u8).collect();
    Ok(split_description(&bytes))
}

/// Name and capabilities from the describe op's bytes: the name up to the first zero (all an
/// older client reads), then the capabilities up to the next.
fn split_description(bytes: &[u8]) -> (String, String) {
    let mut parts = bytes.split(|b| *b == 0);
    let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    (text(), text())
}

/// The name and capabilities as the float tensor the describe op returns (the name is cut to
/// leave room for the capabilities).
fn name_values(name: &str, capabilities: &str) -> Vec<f32> {
    let room = NAME_BYTES.saturating_sub(capabilities.len() + 2);
    let mut values: Vec<f32> = name.bytes().take(room).map(f32::from).collect();
    values.push(0.0);
    values.extend(capabilities.bytes().take(NAME_BYTES - 1 - values.len()).map(f32::from));
    values.resize(NAME_BYTES, 0.0);
    values
}

/// Serves `device` on `listen` to clients that present `token`, logging each session, each
/// refusal and what the server decided, until the process is stopped (Ctrl+C, SIGTERM).
///
/// burn-remote's server listens on an internal loopback port; the public address is served by
/// the authenticating front ([`front`]) under `limits`. This function owns the process it runs
/// in: it replaces the panic hook so that a panic on any thread but `main` (a connection thread
/// of the front, a task of burn-remote's runtime) becomes a log line naming the thread instead
/// of a message on stderr; each such panic ends only its own connection.
pub fn serve(
    listen: SocketAddr,
    device: &SelectedDevice,
    token: &str,
    limits: FrontLimits,
    log: fn(&str),
) -> Result<(), RemoteError> {
    let failed = |reason: String| RemoteError::Failed {
        address: listen.to_string(),
        reason,
    };
    if token.len() > MAX_TOKEN_BYTES {
        return Err(failed(format!(
            "the token is {} bytes; a server takes tokens of at most {MAX_TOKEN_BYTES}",
            token.len()
        )));
    }
    let public = TcpListener::bind(listen).map_err(|e| failed(format!("cannot listen: {e}")))?;
    // The address bound, so `--listen HOST:0` announces the port the system chose.
    let listen = public.local_addr().map_err(|e| failed(format!("the listening port: {e}")))?;
    let internal = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| failed(format!("cannot open the internal port: {e}")))?;
    let backend = internal
        .local_addr()
        .map_err(|e| failed(format!("the internal port: {e}")))?;
    // The front has checked the token already; burn-remote checks it again, which only matters
    // for a process on this machine that dials the internal port directly.
    let tokens = TokenAuthorizer::new(token.to_string()).map_err(|e| failed(e.to_string()))?;
    let authorizer = move |request: AuthorizationRequest<'_>| {
        let who = request.client;
        let verdict = tokens.authorize(request);
        if verdict.is_err() {
            log(&format!(
                "refused {who} on the internal port: wrong or missing token"
            ));
        }
        verdict
    };
    let name = device.name.clone();
    let mut server = RemoteServer::new([device.device.clone()]).with_authorizer(authorizer);
    server = match device.backend {
        Backend::Flex => {
            let values = name_values(&name, SERVED_CAPABILITY);
            server = server.with_custom_op::<Flex, _>(DESCRIBE_OP, move |handles, ir, device| {
                let t = Flex::float_from_data(TensorData::new(values.clone(), [NAME_BYTES]), device);
                handles.register_float_tensor::<Flex>(&ir.outputs[0].id, t);
            });
            for (id, handler) in crate::kernels::served::HANDLERS {
                server = server.with_custom_op::<Flex, _>(id, handler);
            }
            server
        }
        Backend::Wgpu => {
            let values = name_values(&name, "");
            server.with_custom_op::<Cube, _>(DESCRIBE_OP, move |handles, ir, device| {
            let t = Cube::float_from_data(TensorData::new(values.clone(), [NAME_BYTES]), device);
            handles.register_float_tensor::<Cube>(&ir.outputs[0].id, t);
            })
        }
        Backend::Remote => return Err(failed("a remote device cannot be served again".into())),
    };
    log_panics(log);
    let front = front::Front {
        backend,
        token: token.as_bytes().to_vec(),
        limits,
        log,
    };
    front::spawn(public, front).map_err(|e| failed(format!("cannot start the front: {e}")))?;
    log(&format!(
        "serving {name} on ws://{listen} (clients present the token; sign-in within {} s, idle \
         sessions closed after {} s)",
        limits.auth_timeout.as_secs_f64(),
        limits.idle_timeout.as_secs_f64()
    ));
    server
        .serve(WebSocketTransport::from_listener(internal))
        .map_err(|e| failed(e.to_string()))
}

/// Makes a panic on any thread but `main` a log line (see [`serve`]).
fn log_panics(log: fn(&str)) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("an unnamed thread");
        if name == "main" {
            return previous(info);
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        log(&format!(
            "internal error on thread {name}{at}: {message} (that connection is closed)"
        ));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_print() {
        let a: RemoteAddress = "remote://gpu-box:3950".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("gpu-box", 3950));
        assert_eq!(a.to_string(), "remote://gpu-box:3950");
        assert_eq!(a.websocket_url(), "ws://gpu-box:3950");
        let b: RemoteAddress = "127.0.0.1:80".parse().unwrap();
        assert_eq!(b.to_string(), "remote://127.0.0.1:80");
        let v6: RemoteAddress = "remote://[::1]:9".parse().unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.to_string()),
            ("::1", "remote://[::1]:9".to_string())
        );
        for bad in [
            "remote://gpu",
            "remote://:80",
            "remote://h:0",
            "remote://h:99999",
            "h:x",
        ] {
            assert!(bad.parse::<RemoteAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn names_round_trip_through_the_float_encoding() {
        let values = name_values("CPU (flex)", SERVED_CAPABILITY);
        assert_eq!(values.len(), NAME_BYTES);
        let bytes: Vec<u8> = values.iter().map(|v| *v as u8).collect();
        // What an older client reads: the name alone.
        let old: Vec<u8> = bytes.iter().copied().take_while(|b| *b != 0).collect();
        assert_eq!(String::from_utf8(old).unwrap(), "CPU (flex)");
        assert_eq!(
            split_description(&bytes),
            ("CPU (flex)".to_string(), SERVED_CAPABILITY.to_string())
        );
        // An older server's answer: no capabilities.
        let old_server = name_values("CPU (flex)", "").iter().map(|v| *v as u8).collect::<Vec<_>>();
        assert_eq!(split_description(&old_server).1, "");
        // A long name is cut, the capabilities are kept.
        let long = name_values(&"x".repeat(300), SERVED_CAPABILITY);
        let long: Vec<u8> = long.iter().map(|v| *v as u8).collect();
        assert_eq!(split_description(&long).1, SERVED_CAPABILITY);
    }
}
