//! Choosing the compute device: wgpu on a hardware GPU, flex (pure-Rust CPU) otherwise.
//!
//! `auto` picks wgpu only when a hardware adapter (discrete, integrated or virtual GPU) exists;
//! software rasterisers such as Mesa's lavapipe are about 100× slower than a GPU, so `auto`
//! falls back to flex for them and says why. Initialisation is always the fallible path.

use std::sync::OnceLock;

use burn::tensor::Device;
use burn::tensor::wgpu::wgpu;

mod list;
mod selected;
pub use list::{DeviceList, MAX_DEVICES, distinct, select_devices};
pub use selected::{Backend, SelectedDevice};

/// The user's device choice.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// wgpu on a hardware GPU, else flex.
    #[default]
    Auto,
    /// wgpu on whatever adapter wgpu picks (a software one too).
    Wgpu,
    /// flex on the CPU.
    Flex,
    /// Another machine's device, served by `mnist-workbench serve` (`remote://HOST:PORT`).
    Remote(crate::remote::RemoteAddress),
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "wgpu" => Ok(Self::Wgpu),
            "flex" | "cpu" => Ok(Self::Flex),
            other if other.starts_with("remote://") => other.parse().map(Self::Remote),
            other => Err(format!(
                "unknown device '{other}': use auto, wgpu, flex or remote://HOST:PORT"
            )),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Wgpu => f.write_str("wgpu"),
            Self::Flex => f.write_str("flex"),
            Self::Remote(address) => write!(f, "{address}"),
        }
    }
}

/// Device initialisation failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeviceError {
    /// wgpu was requested but could not start.
    #[error("wgpu is not available: {0}")]
    WgpuUnavailable(String),
    /// The remote device cannot be used.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// A list names one device of this machine twice.
    #[error("{0}")]
    Duplicate(String),
}

/// What wgpu reports about an adapter.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    /// The adapter's name as the driver reports it.
    pub name: String,
    /// The graphics API it runs through (`Vulkan`, `Metal`, `Dx12`, `Gl`).
    pub backend: String,
    /// Whether it is a real GPU (not a CPU rasteriser).
    pub hardware: bool,
}

/// Lists the adapters wgpu can see, without initialising burn.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters
        .into_iter()
        .map(|a| {
            let info = a.get_info();
            AdapterSummary {
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                hardware: matches!(
                    info.device_type,
                    wgpu::DeviceType::DiscreteGpu
                        | wgpu::DeviceType::IntegratedGpu
                        | wgpu::DeviceType::VirtualGpu
                ),
            }
        })
        .collect()
}

/// The wgpu objects behind burn's device, for a renderer that wants to share them.
#[derive(Debug, Clone)]
pub struct SharedWgpu {
    pub instance: wgpu::Instance,
    /// The adapter (physical GPU).
    pub adapter: wgpu::Adapter,
    /// The logical device burn submits to.
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

type WgpuInit = Result<(Device, String, SharedWgpu), DeviceError>;

/// The process-wide wgpu device (burn's wgpu runtime initialises once per process).
fn wgpu_init() -> &'static WgpuInit {
    static WGPU: OnceLock<WgpuInit> = OnceLock::new();
    WGPU.get_or_init(|| {
        if !has_native_adapter() {
            return Err(DeviceError::WgpuUnavailable(
                "no Vulkan, Metal or DirectX 12 adapter (at most OpenGL, on which burn's wgpu backend hangs); \
                 on Linux without a GPU install Mesa's Vulkan drivers (mesa-vulkan-drivers)"
                    .into(),
            ));
        }
        let attempt = crate::panics::catch(|| Device::wgpu_options().init_with_setup());
        match attempt {
            Ok(Ok((device, setup))) => {
                let info = setup.adapter.get_info();
                let shared = SharedWgpu {
                    instance: setup.instance.clone(),
                    adapter: setup.adapter.clone(),
                    device: setup.device.clone(),
                    queue: setup.queue.clone(),
                };
                Ok((device, format!("{} ({:?})", info.name, info.backend), shared))
            }
            Ok(Err(e)) => Err(DeviceError::WgpuUnavailable(e.to_string())),
            Err(_) => Err(DeviceError::WgpuUnavailable(
                "wgpu initialisation panicked".into(),
            )),
        }
    })
}

/// Whether wgpu sees an adapter on a native API (Vulkan, Metal, DirectX 12). An OpenGL-only
/// machine (Mesa's llvmpipe through EGL, when the Vulkan drivers are missing) is left out:
/// burn's wgpu runtime deadlocks there in its first autotuned matmul.
fn has_native_adapter() -> bool {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    !pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY)).is_empty()
}

fn wgpu_device() -> Result<(Device, String), DeviceError> {
    wgpu_init()
        .as_ref()
        .map(|(d, n, _)| (d.clone(), n.clone()))
        .map_err(Clone::clone)
}

/// The wgpu objects burn uses, once a wgpu device has been selected (so a window renderer can
/// run on the same device); `None` when burn is not on wgpu.
pub fn shared_wgpu() -> Option<SharedWgpu> {
    WGPU_SELECTED
        .get()
        .and_then(|_| wgpu_init().as_ref().ok().map(|(_, _, s)| s.clone()))
}

static WGPU_SELECTED: OnceLock<()> = OnceLock::new();

/// The flex CPU device.
pub fn flex() -> SelectedDevice {
    SelectedDevice {
        device: Device::flex(),
        backend: Backend::Flex,
        name: "CPU (flex)".into(),
        reason: "flex chosen".into(),
    }
}

/// Resolves a choice to a device. `Wgpu` fails with a message when no adapter exists; `Auto`
/// never fails.
pub fn select_device(choice: DeviceChoice) -> Result<SelectedDevice, DeviceError> {
    match choice {
        DeviceChoice::Flex => Ok(flex()),
        DeviceChoice::Remote(address) => {
            Ok(crate::remote::connect(&address, crate::remote::token().as_deref())?.selected)
        }
        DeviceChoice::Wgpu => {
            let (device, name) = wgpu_device()?;
            WGPU_SELECTED.get_or_init(|| ());
            Ok(SelectedDevice {
                device,
                backend: Backend::Wgpu,
                name,
                reason: "wgpu chosen".into(),
            })
        }
        DeviceChoice::Auto => {
            let adapters = list_adapters();
            if let Some(hw) = adapters.iter().find(|a| a.hardware) {
                match wgpu_device() {
                    Ok((device, name)) => {
                        WGPU_SELECTED.get_or_init(|| ());
                        return Ok(SelectedDevice {
                            device,
                            backend: Backend::Wgpu,
                            name,
                            reason: format!("hardware GPU found: {}", hw.name),
                        });
                    }
                    Err(e) => {
                        return Ok(SelectedDevice {
                            reason: format!("hardware GPU {} found but {e}; using the CPU", hw.name),
                            ..flex()
                        });
                    }
                }
            }
            let reason = if adapters.is_empty() {
                "no GPU adapter found; using the CPU".to_string()
            } else {
                let names: Vec<String> = adapters.iter().map(|a| a.name.clone()).collect();
                format!("only software adapters ({}); using the CPU", names.join(", "))
            };
            Ok(SelectedDevice { reason, ..flex() })
        }
    }
}
