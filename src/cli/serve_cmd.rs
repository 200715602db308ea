//! `serve`: host this machine's device for workbenches elsewhere (burn-remote over WebSocket,
//! behind the authenticating front of `mnist_workbench::remote`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use mnist_workbench::device::{DeviceChoice, select_device};
use mnist_workbench::remote::{DEFAULT_PORT, FrontLimits, TOKEN_ENV, random_token, serve, token_checked};

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; 127.0.0.1 serves this machine only (reach it through an
    /// SSH tunnel), 0.0.0.0 every network interface.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)), value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// The device to serve: auto (wgpu on a hardware GPU, else flex), wgpu or flex.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Milliseconds a client has from connecting to presenting the token (tests shorten it).
    #[arg(long, hide = true, value_name = "MS")]
    auth_timeout_ms: Option<u64>,
    /// Milliseconds an authenticated client may stay silent (tests shorten it).
    #[arg(long, hide = true, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
}

/// One timestamped line on stdout, the server's log (a closed stdout loses the line rather than
/// stopping the server).
pub(super) fn log(line: &str) {
    let stamp = mnist_workbench::run::utc_timestamp();
    let _ = writeln!(std::io::stdout().lock(), "[{stamp}] {line}");
}

/// Runs `serve` until Ctrl+C.
pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    if matches!(a.device, DeviceChoice::Remote(_)) {
        anyhow::bail!("--device: serve this machine's own device (auto, wgpu or flex)");
    }
    let mut limits = FrontLimits::default();
    if let Some(ms) = a.auth_timeout_ms {
        limits.auth_timeout = Duration::from_millis(ms.max(1));
    }
    if let Some(ms) = a.idle_timeout_ms {
        limits.idle_timeout = Duration::from_millis(ms.max(1));
    }
    // Read before the device starts, so a bad token file fails at once.
    let token = match token_checked()? {
        Some(t) => t,
        None => {
            let t = random_token();
            log(&format!(
                "no --token-file or ${TOKEN_ENV}: this server's token is {t} (clients set ${TOKEN_ENV} to it)"
            ));
            t
        }
    };
    let device = select_device(a.device)?;
    log(&format!("device: {} ({})", device.name, device.reason));
    serve(a.listen, &device, &token, limits, log)?;
    log("stopped");
    Ok(())
}
