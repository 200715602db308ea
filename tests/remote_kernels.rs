//! The fused blocks and the one-pass Adam on a remote server (a `mnist-workbench serve` child
//! on 127.0.0.1): each block forward, block backward and Adam step travels as one op, the
//! server runs the flex kernels on it, and the results equal the local kernels bit for bit.
//! Each comparison proves which path its remote side took (this thread's counters of ops sent
//! to the server), and that with the kernels turned off the client sends burn's standard ops.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{ServeFlex as Server, TOKEN};
use mnist_workbench::kernels::adam::{AdamStep, Formula, adam_update};
use mnist_workbench::kernels::{self, KernelRuns, Kernels, runs_during, with_kernels};
use mnist_workbench::remote::{RemoteAddress, connect};
use mnist_workbench::rng::Rng;

/// `(batch, in, out, height, width, kernel)`: seed3-cnn's first block, and odd everything.
const SHAPES: [(usize, usize, usize, usize, usize, usize); 2] = [(4, 1, 32, 28, 28, 3), (3, 5, 17, 7, 9, 3)];

fn random(len: usize, rng: &mut Rng, scale: f32) -> Vec<f32> {
    (0..len).map(|_| (rng.next_f32() * 2.0 - 1.0) * scale).collect()
}

fn tensor<const D: usize>(values: &[f32], dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), dims), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

fn remote_device(server: &Server) -> Device {
    let address: RemoteAddress = server.address().parse().unwrap();
    let connection = connect(&address, Some(TOKEN)).expect("the server answers");
    assert!(
        connection.selected.reason.contains("the server runs the fused kernels"),
        "{}",
        connection.selected.reason
    );
    connection.selected.device
}

/// A block's results on `device`: output, then (for BatchNorm) mean and variance, then the
/// gradients of x (when tracked), weight and the per-channel vectors; and the kernel runs.
fn block(
    shape: (usize, usize, usize, usize, usize, usize),
    batch_norm: bool,
    x_tracked: bool,
    device: &Device,
) -> (Vec<Vec<f32>>, KernelRuns) {
    let (n, ci, co, h, w, k) = shape;
    let mut rng = Rng::new((n * 100 + ci * 10 + co) as u64);
    let x = tensor(&random(n * ci * h * w, &mut rng, 1.0), [n, ci, h, w], device);
    let x = if x_tracked { x.require_grad() } else { x };
    let weight = tensor(&random(co * ci * k * k, &mut rng, 0.3), [co, ci, k, k], device).require_grad();
    let a = tensor(&random(co, &mut rng, 1.0), [co], device).require_grad();
    let b = tensor(&random(co, &mut rng, 0.5), [co], device).require_grad();
    let upstream = tensor(&random(n * co * (h / 2) * (w / 2), &mut rng, 1.0), [n, co, h / 2, w / 2], device);
    let mut results = vec![];
    let (grads, runs) = runs_during(|| {
        let output = if batch_norm {
            let (output, mean, variance) =
                kernels::conv_norm_relu_pool(x.clone(), weight.clone(), a.clone(), b.clone(), 1e-5);
            results.extend([values(mean), values(variance)]);
            output
        } else {
            kernels::conv_relu_pool(x.clone(), weight.clone(), a.clone())
        };
        results.insert(0, values(output.clone()));
        (output * upstream).sum().backward()
    });
    if x_tracked {
        results.push(values(x.grad(&grads).expect("x has a gradient")));
    } else {
        assert!(x.grad(&grads).is_none(), "an untracked input gets no gradient");
    }
    results.push(values(weight.grad(&grads).expect("weight gradient")));
    results.push(values(a.grad(&grads).expect("bias or gamma gradient")));
    if batch_norm {
        results.push(values(b.grad(&grads).expect("beta gradient")));
    }
    (results, runs)
}

#[test]
fn blocks_and_adam_on_a_server_equal_the_local_kernels_bit_for_bit() {
    let server = Server::start();
    let remote = remote_device(&server).autodiff();
    let local = Device::flex().autodiff();
    with_kernels(Kernels::ALL, || {
        for shape in SHAPES {
            for (batch_norm, x_tracked) in [(true, false), (true, true), (false, true)] {
                let case = format!("{shape:?} batch norm {batch_norm}, x tracked {x_tracked}");
                let (want, local_runs) = block(shape, batch_norm, x_tracked, &local);
                assert_eq!((local_runs.blocks, local_runs.block_backwards), (1, 1), "{case}: local kernels");
                let (got, runs) = block(shape, batch_norm, x_tracked, &remote);
                assert_eq!(
                    (runs.remote_blocks, runs.remote_block_backwards, runs.blocks),
                    (1, 1, 0),
                    "{case}: one forward and one backward op went to the server"
                );
                assert_eq!(got.len(), want.len(), "{case}");
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.len(), w.len(), "{case}: result {i}");
                    assert!(g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()), "{case}: result {i} differs");
                }
            }
        }
    });

    // Burn's standard ops when the client's kernels are off: nothing goes to the server as one
    // op, and the results agree to rounding.
    let shape = SHAPES[1];
    let (fused, _) = with_kernels(Kernels::ALL, || block(shape, true, true, &local));
    let (standard, runs) = with_kernels(Kernels::BURN, || block(shape, true, true, &remote));
    assert_eq!(runs, KernelRuns::default(), "standard ops only");
    for (i, (s, f)) in standard.iter().zip(&fused).enumerate() {
        let scale = f.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        assert!(s.iter().zip(f).all(|(a, b)| (a - b).abs() <= 1e-4 * scale), "result {i}");
    }

    // One Adam step: one op, the local kernel's exact result.
    let mut rng = Rng::new(9);
    let parts: Vec<Vec<f32>> = (0..4).map(|_| random(1000, &mut rng, 1.0)).collect();
    let moment_2: Vec<f32> = parts[2].iter().map(|v| v.abs()).collect();
    let step = AdamStep {
        formula: Formula::AdamW,
        learning_rate: 1e-3,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
        time: 3,
        weight_decay: 0.01,
    };
    let adam_on = |device: &Device| {
        let t = |v: &[f32]| tensor(v, [10, 100], device);
        runs_during(|| {
            let (p, m1, m2) = adam_update(t(&parts[0]), t(&parts[1]), t(&moment_2), t(&parts[3]), step);
            [values(p), values(m1), values(m2)]
        })
    };
    let plain_remote = remote.clone().inner();
    let (want, _) = with_kernels(Kernels::ALL, || adam_on(&Device::flex()));
    let (got, runs) = with_kernels(Kernels::ALL, || adam_on(&plain_remote));
    assert_eq!((runs.remote_adam_steps, runs.adam_steps), (1, 0), "the step went to the server as one op");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.len(), w.len());
        assert!(g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()), "Adam step differs");
    }

    // Inference without autodiff: one op per block, the local result.
    let (n, ci, co, h, w, k) = SHAPES[0];
    let mut rng = Rng::new(11);
    let data = [
        random(n * ci * h * w, &mut rng, 1.0),
        random(co * ci * k * k, &mut rng, 0.3),
        random(co, &mut rng, 1.0),
        random(co, &mut rng, 0.5),
        random(co, &mut rng, 0.2),
        random(co, &mut rng, 0.5).iter().map(|v| v.abs() + 0.1).collect(),
    ];
    let eval_on = |device: &Device| {
        let vector = |i: usize| tensor(&data[i], [co], device);
        runs_during(|| {
            let x = tensor(&data[0], [n, ci, h, w], device);
            let weight = tensor(&data[1], [co, ci, k, k], device);
            let norm = [vector(2), vector(3), vector(4), vector(5)];
            values(kernels::conv_norm_eval(x, weight, norm, 1e-5))
        })
    };
    let (want, _) = with_kernels(Kernels::ALL, || eval_on(&Device::flex()));
    let (got, runs) = with_kernels(Kernels::ALL, || eval_on(&plain_remote));
    assert_eq!(runs.remote_blocks, 1, "the eval block went to the server as one op");
    assert_eq!(got.len(), want.len());
    assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "eval block differs");
}

fn train(device: &str, runs: &std::path::Path) -> (serde_json::Value, String) {
    let args = [
        "train",
        "--synthetic",
        "--synthetic-size",
        "1500",
        "--model",
        "seed3-cnn",
        "--epochs",
        "1",
        "--seed",
        "4",
        "--device",
        device,
        "--runs",
        runs.to_str().unwrap(),
    ];
    let (ok, out, err) = common::cli(&args, &[("MNIST_WORKBENCH_TOKEN", std::path::Path::new(TOKEN))], &[]);
    assert!(ok, "{out}\n{err}");
    let run = std::fs::read_dir(runs).unwrap().next().unwrap().unwrap().path();
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    (serde_json::from_str(&summary).unwrap(), out + &err)
}

#[test]
fn a_cnn_trained_on_a_server_with_its_kernels_matches_local_training() {
    let server = Server::start();
    let (remote, said) = train(&server.address(), &common::temp_dir("remote-kernels-train"));
    assert!(said.contains("the server runs the fused kernels"), "{said}");
    let (local, _) = train("flex", &common::temp_dir("local-kernels-train"));
    let loss = |s: &serde_json::Value| s["last_epoch"]["train_loss"].as_f64().unwrap();
    let accuracy = |s: &serde_json::Value| s["outcome"]["test_accuracy"].as_f64().unwrap();
    // The same kernels on the same data in the same order: the same model, up to the order in
    // which the two processes' threads add partial sums in burn's own ops.
    assert!((loss(&remote) - loss(&local)).abs() < 1e-4, "{remote}\n{local}");
    assert!((accuracy(&remote) - accuracy(&local)).abs() <= 0.002, "{remote}\n{local}");
}

#[test]
fn a_forged_block_key_closes_only_that_connection() {
    use burn::backend::ir::{CustomOpIr, ScalarIr, TensorIr};
    use burn::backend::ops::FloatTensorOps;
    use burn::backend::{DispatchDevice, Remote};
    use burn::tensor::DType;
    use burn::tensor::remote::CustomOpClient;
    use mnist_workbench::kernels::remote::BLOCK_BACKWARD_OP;

    let log = common::temp_dir("forged-key").join("serve.log");
    let server = Server::start_logging(Some(&log));
    let device = remote_device(&server).inner();
    let DispatchDevice::Remote(remote) = device.as_dispatch().clone() else {
        panic!("a remote device")
    };
    // A backward op naming a key the server never gave out: a tensor that only looks like one.
    let (sent, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let client = CustomOpClient::new(&remote);
        let forged = Remote::float_from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &remote);
        let grad = Remote::float_from_data(TensorData::new(vec![0.5f32; 8], [1, 2, 2, 2]), &remote);
        let out = TensorIr::uninit(client.create_empty_handle(), [2, 1, 3, 3].into(), DType::F32);
        let inputs = [forged.into_ir(), grad.into_ir()];
        let op = CustomOpIr::with_scalars(BLOCK_BACKWARD_OP, &inputs, &[out], vec![ScalarIr::UInt(2)]);
        let result = client.register(op).pop().unwrap();
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            burn::tensor::try_read_sync(Remote::float_into_data(result)).map(|r| r.is_ok())
        }));
        sent.send(read.ok().flatten().unwrap_or(false)).ok();
    });
    // Bounded: the client learns within 30 s that its connection is gone (a hang fails here).
    let read = answer.recv_timeout(std::time::Duration::from_secs(30));
    assert_eq!(read, Ok(false), "the forged op gave the client no result");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("mnist-workbench.block-backward: no block state for this key"),
        "the server names the op and what was wrong: {said}"
    );
    // The server goes on: another client trains on it with the kernels.
    let (summary, _) = train(&server.address(), &common::temp_dir("after-forged-key"));
    assert!(summary["outcome"]["test_accuracy"].as_f64().unwrap() > 0.1);
}

#[test]
fn an_ensemble_on_a_server_evaluates_each_model_through_its_kernels() {
    use mnist_workbench::model::ModelSpec;
    use mnist_workbench::model::plain::Architecture;
    use mnist_workbench::study::Reporter;
    use mnist_workbench::study::ensemble::{eval_plan, predict_members};
    let server = Server::start();
    let address: RemoteAddress = server.address().parse().unwrap();
    let remote = connect(&address, Some(TOKEN)).expect("the server answers").selected;
    let local = mnist_workbench::device::flex();
    // A flex server with the kernels evaluates one model at a time, as flex does, not stacked.
    assert_eq!(eval_plan(&remote), eval_plan(&local));
    let spec = ModelSpec::preset("small-cnn").unwrap();
    let arch = Architecture::of(&spec);
    let weights: Vec<_> = (0..2).map(|i| arch.init(&mut Rng::new(i))).collect();
    let weights: Vec<_> = weights.iter().collect();
    let data = common::synthetic_dataset(50, 40, 4);
    let predict = |device: &mnist_workbench::device::SelectedDevice| {
        let (mut sink, never) = (|_| {}, || false);
        let mut reporter = Reporter::new(&mut sink, &never);
        with_kernels(Kernels::ALL, || {
            runs_during(|| predict_members(&spec, &weights, &data.test, eval_plan(device), &device.device, &mut reporter))
        })
    };
    let (want, _) = predict(&local);
    let (got, runs) = predict(&remote);
    assert_eq!(got.unwrap(), want.unwrap(), "the same prediction for every model and image");
    assert!(runs.remote_blocks >= 2 * 3, "each model's blocks ran on the server as fused ops: {runs:?}");
}

/// The threads burn starts for a remote device wait with relaxed timers
/// (`remote::relax_timers`): its device thread, idle while the server computes, otherwise wakes
/// every 150 µs, which cost a two-server ensemble's client about a third of its CPU (README
/// "Several servers"). The thread that asked for the device keeps its own timers.
#[test]
#[cfg(target_os = "linux")]
fn a_remote_devices_threads_wait_with_relaxed_timers() {
    use mnist_workbench::remote::REMOTE_TIMER_SLACK;
    // Linux lists timerslack_ns under /proc/<thread id>, not under /proc/self/task/<id>.
    let slack = |tid: &str| -> Option<u128> {
        let text = std::fs::read_to_string(format!("/proc/{tid}/timerslack_ns")).ok()?;
        text.trim().parse().ok()
    };
    let server = Server::start();
    let device = remote_device(&server);
    assert_eq!(values(tensor(&[1.0, 2.0], [2], &device) * 2.0), vec![2.0, 4.0]);
    let threads: Vec<(String, u128)> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|entry| {
            let tid = entry.ok()?.file_name().into_string().ok()?;
            let name = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
            Some((name.trim().to_string(), slack(&tid)?))
        })
        .collect();
    let device_threads: Vec<_> = threads.iter().filter(|(name, _)| name.starts_with("DS")).collect();
    assert!(!device_threads.is_empty(), "no device thread among {threads:?}");
    for (name, thread_slack) in device_threads {
        assert_eq!(*thread_slack, REMOTE_TIMER_SLACK.as_nanos(), "{name}");
    }
    let own = std::fs::read_link("/proc/thread-self").unwrap();
    let own = own.file_name().unwrap().to_str().unwrap();
    assert_ne!(slack(own).expect("this thread's timer slack"), REMOTE_TIMER_SLACK.as_nanos());
}
