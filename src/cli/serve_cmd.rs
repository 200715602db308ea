//! `serve`: host this machine's device for workbenches elsewhere (burn-remote over WebSocket).

use std::net::SocketAddr;

use clap::Args;
use mnist_workbench::device::{DeviceChoice, select_device};
use mnist_workbench::remote::{DEFAULT_PORT, TOKEN_ENV, random_token, serve, token};

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
}

fn log(line: &str) {
    println!("[{}] {line}", mnist_workbench::train::runs::utc_timestamp());
}

/// Runs `serve` until Ctrl+C.
pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    if matches!(a.device, DeviceChoice::Remote(_)) {
        anyhow::bail!("--device: serve this machine's own device (auto, wgpu or flex)");
    }
    let device = select_device(a.device)?;
    let token = match token() {
        Some(t) => t,
        None => {
            let t = random_token();
            log(&format!(
                "no --token-file or ${TOKEN_ENV}: this server's token is {t} (clients set ${TOKEN_ENV} to it)"
            ));
            t
        }
    };
    log(&format!("device: {} ({})", device.name, device.reason));
    serve(a.listen, &device, &token, log)?;
    log("stopped");
    Ok(())
}
