//! What a chosen device is: the burn device, its backend and what to tell the user about it.
//! [`super::select_device`] makes one from the user's choice and [`crate::remote::connect`]
//! makes one for another machine's device, so these types sit below both.

use burn::tensor::Device;

/// Which backend a selected device runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's wgpu backend.
    Wgpu,
    /// burn's flex CPU backend.
    Flex,
    /// Another machine's device through burn-remote.
    Remote,
}

/// A device ready for tensors, with what to tell the user about it.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    /// The burn device (without autodiff).
    pub device: Device,
    /// The backend it runs on (`Remote`: another machine's, every read a network round trip).
    pub backend: Backend,
    /// Adapter name, or "CPU (flex)".
    pub name: String,
    /// Why this device was chosen.
    pub reason: String,
}
