//! Proves the wgpu path: forward, backward and an optimiser step of a tiny model. Ignored by
//! default (it needs a Vulkan/GL adapter); `.ci/run` installs Mesa's lavapipe and runs it with
//! `-- --include-ignored`, where a missing adapter fails it.

use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Tensor, TensorData};
use mnist_workbench::device::{Backend, DeviceChoice, list_adapters, select_device};
use mnist_workbench::model::ModelSpec;

#[test]
#[ignore = "needs a wgpu adapter (a GPU, or Mesa's lavapipe: apt-get install mesa-vulkan-drivers); run with -- --include-ignored"]
fn wgpu_forward_backward_and_step() {
    let adapters = list_adapters();
    assert!(
        !adapters.is_empty(),
        "no wgpu adapter: install mesa-vulkan-drivers (lavapipe) or run on a GPU"
    );
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
