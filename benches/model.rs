//! burn CPU (flex) timings of the shipped architecture, for the side-by-side with PyTorch and
//! onnxruntime in `bench/peers.py` (which runs this binary itself; see README "Benchmarks").
//!
//!   cargo bench --bench model -- [--reps N] [--batch B] [--input-size S] [--width W]
//!
//! Prints one JSON line: median milliseconds of one autoencoder training step (forward,
//! backward, Adam) on a batch of B inputs, and of one photo's embedding (batch of 1).
//! Inputs are deterministic pseudo-random values; weights are freshly initialised (timing does
//! not depend on their values).

use std::time::Instant;

use beanscan::model::{Autoencoder, Embedder, ModelConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn inputs(n: usize, size: usize) -> Vec<f32> {
    (0..n * 3 * size * size).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let reps = arg("--reps", 20);
    let batch = arg("--batch", 32);
    let config = ModelConfig { input_size: arg("--input-size", 64), width: arg("--width", 16), ..ModelConfig::default() };
    let size = config.input_size;
    let device = Device::flex();
    device.seed(0);

    // One autoencoder training step, as in `beanscan pretrain`.
    let ad = device.clone().autodiff();
    let mut model = Autoencoder::new(&config, &ad);
    let mut optimizer = AdamConfig::new().init();
    let x_data = inputs(batch, size);
    let mut train_ms = Vec::new();
    for rep in 0..reps + 3 {
        let started = Instant::now();
        let x = Tensor::<4>::from_data(TensorData::new(x_data.clone(), [batch, 3, size, size]), &ad);
        let loss = (model.forward(x.clone()) - x).powi_scalar(2).mean();
        let _: f32 = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-3, model, grads);
        if rep >= 3 {
            train_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }

    // One photo's embedding: the browser's and `beanscan classify`'s unit of work.
    let embedder = Embedder::new(&config, &device);
    let one = inputs(1, size);
    let mut embed_ms = Vec::new();
    for rep in 0..reps * 5 + 3 {
        let started = Instant::now();
        let x = Tensor::<4>::from_data(TensorData::new(one.clone(), [1, 3, size, size]), &device);
        let out: Vec<f32> = embedder.forward(x).into_data().try_to_vec::<f32>().expect("f32");
        assert_eq!(out.len(), config.embed_dim);
        if rep >= 3 {
            embed_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let train = median(train_ms);
    println!(
        "{{\"engine\": \"burn-flex\", \"batch\": {batch}, \"input_size\": {size}, \"width\": {}, \"train_step_ms\": {train:.2}, \"train_images_per_s\": {:.1}, \"embed_ms\": {:.3}}}",
        config.width,
        batch as f64 / train * 1e3,
        median(embed_ms)
    );
}
