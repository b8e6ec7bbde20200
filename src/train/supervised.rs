//! The supervised baseline the method is measured against: the same encoder architecture,
//! trained end to end from scratch with a linear classifier and cross-entropy on every
//! labelled photo of the training split.

use anyhow::Result;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use image::RgbImage;
use rand::Rng;

use super::checkpoint::Checkpointer;
use super::train_loop::TrainLoop;
use super::{augment, batch_tensor, forward_rows, step_rng};
use crate::model::{Encoder, ModelConfig};
use crate::preprocess::PreprocessParams;

#[derive(Module, Debug)]
pub struct SupervisedNet {
    pub encoder: Encoder,
    pub classifier: Linear,
}

impl SupervisedNet {
    pub fn new(config: &ModelConfig, n_classes: usize, device: &Device) -> Self {
        Self { encoder: Encoder::new(config, device), classifier: LinearConfig::new(config.code_dim, n_classes).init(device) }
    }

    /// Class scores (logits), [B, n_classes].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.encoder.forward(x))
    }
}

pub struct SupervisedOptions {
    /// Outputs of the classifier head: the number of classes the labels count.
    pub classes: usize,
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

pub struct Supervised {
    pub net: SupervisedNet,
    pub losses: Vec<f32>,
}

/// Photos are drawn with probability ∝ 1/√(class size): rare defects are seen more often than
/// their share (macro-F1 counts every class alike) without repeating the 4-photo classes
/// hundreds of times per epoch.
pub(crate) fn sampling_weights(labels: &[u16]) -> Vec<f64> {
    let n_classes = labels.iter().copied().max().map_or(0, |m| usize::from(m) + 1);
    let mut counts = vec![0usize; n_classes];
    labels.iter().for_each(|&l| counts[usize::from(l)] += 1);
    let mut cumulative = 0.0;
    labels
        .iter()
        .map(|&l| {
            cumulative += 1.0 / (counts[usize::from(l)] as f64).sqrt();
            cumulative
        })
        .collect()
}

pub fn train(
    config: &ModelConfig,
    params: &PreprocessParams,
    images: &[RgbImage],
    labels: &[u16],
    options: &SupervisedOptions,
    checkpoint: Option<&Checkpointer>,
    device: &Device,
) -> Result<Supervised> {
    anyhow::ensure!(!images.is_empty() && images.len() == labels.len(), "no labelled photos to train on");
    let device = device.clone().autodiff();
    // Weight initialisation draws from the backend's generator: seed it so reruns match.
    device.seed(options.seed);
    let (mut net, mut run, start) = TrainLoop::start(
        || SupervisedNet::new(config, options.classes, &device),
        options.steps,
        options.learning_rate,
        checkpoint,
        "supervised",
    )?;
    let cumulative = sampling_weights(labels);
    let total = *cumulative.last().expect("non-empty");
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for step in start..options.steps {
        let mut rng = step_rng(options.seed, step);
        let picks: Vec<usize> = (0..options.batch)
            .map(|_| {
                let r = rng.gen_range(0.0..total);
                cumulative.partition_point(|&c| c <= r).min(images.len() - 1)
            })
            .collect();
        let inputs: Vec<Vec<f32>> = picks.iter().map(|&i| augment::random_view(&images[i], params, &mut rng)).collect();
        let targets: Vec<i64> = picks.iter().map(|&i| i64::from(labels[i])).collect();
        let x = batch_tensor(&inputs, config.input_size, &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(targets, [picks.len()]), &device);
        let loss = loss_fn.forward(net.forward(x), y);
        net = run.step(net, loss, step)?;
    }
    let losses = run.finish();
    Ok(Supervised { net: net.valid(), losses })
}

/// Most likely class of each image.
pub fn predict(net: &SupervisedNet, params: &PreprocessParams, images: &[RgbImage], device: &Device) -> Vec<u16> {
    forward_rows(images, params, device, RgbImage::clone, |x| net.forward(x))
        .iter()
        .map(|scores| {
            scores.iter().enumerate().fold((0, f32::MIN), |best, (i, &s)| if s > best.1 { (i, s) } else { best }).0 as u16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rare_classes_are_drawn_more_than_their_share() {
        // 96 photos of class 0, 4 of class 1: weights 1/√96 and 1/√4.
        let labels: Vec<u16> = (0..100).map(|i| u16::from(i >= 96)).collect();
        let c = sampling_weights(&labels);
        let share_rare = (c[99] - c[95]) / c[99];
        let expected = 4.0 * 0.5 / (96.0 / 96f64.sqrt() + 4.0 * 0.5);
        assert!((share_rare - expected).abs() < 1e-9, "{share_rare} vs {expected}");
        assert!(share_rare > 0.04 * 2.0);
    }
}
