//! Proves the wgpu path: forward, backward and an optimiser step of a tiny model. Skips with a
//! notice where no Vulkan/GL adapter exists (CI installs Mesa's lavapipe so it runs there).

use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Tensor, TensorData};
use mnist_workbench::device::{Backend, DeviceChoice, list_adapters, select_device};
use mnist_workbench::model::ModelSpec;

#[test]
fn wgpu_forward_backward_and_step() {
    let adapters = list_adapters();
    if adapters.is_empty() {
        eprintln!("SKIPPED wgpu smoke test: no wgpu adapter on this machine (install mesa-vulkan-drivers)");
        return;
    }
    eprintln!("adapters: {adapters:?}");
    let selected = select_device(DeviceChoice::Wgpu).expect("wgpu starts when an adapter exists");
    assert_eq!(selected.backend, Backend::Wgpu);
    let device = selected.device.clone().autodiff();
    let model = ModelSpec::Mlp {
        hidden: vec![8],
        dropout: 0.0,
    }
    .init(&device);
    let x = Tensor::<4>::from_data(TensorData::new(vec![0.5f32; 4 * 784], [4, 1, 28, 28]), &device);
    let logits = model.forward(x.clone());
    assert_eq!(logits.dims(), [4, 10]);
    let loss = logits.powf_scalar(2.0).mean();
    let before: f32 = loss.clone().into_scalar();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = SgdConfig::new().init();
    let model = optim.step(0.01, model, grads);
    let after: f32 = model.forward(x).powf_scalar(2.0).mean().into_scalar();
    assert!(before.is_finite() && after.is_finite());
    assert!(
        after < before,
        "a step down the gradient lowers the loss: {before} → {after}"
    );
}

#[test]
fn auto_never_fails_and_says_why() {
    let selected = select_device(DeviceChoice::Auto).expect("auto always yields a device");
    assert!(!selected.reason.is_empty());
    if selected.backend == Backend::Flex {
        assert_eq!(selected.name, "CPU (flex)");
    }
}
