//! Fine-tuning: the encoder stays frozen; a projection head learns, with triplet loss on
//! class-balanced batches, to pull same-class beans together and push other classes apart.
//! Codes of every labelled photo under all eight flips/rotations are computed once up front,
//! so each step costs only the small head.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::mining::{Mining, pairwise_distances, triplet_loss};
use super::{augment, forward_rows, progress::progress};
use crate::model::{Encoder, ModelConfig, ProjectionHead, l2_normalise};
use crate::preprocess::PreprocessParams;

pub struct FinetuneOptions {
    pub steps: usize,
    /// Classes per batch (P) and photos per class (K).
    pub classes_per_batch: usize,
    pub per_class: usize,
    pub margin: f32,
    pub mining: Mining,
    pub learning_rate: f64,
    pub seed: u64,
}

pub struct Finetuned {
    pub head: ProjectionHead,
    pub losses: Vec<f32>,
    /// Mean pairwise embedding distance in each batch: near 0 means the space collapsed.
    pub spreads: Vec<f32>,
}

/// Encoder codes for every image under each of the eight views: `codes[view][image]`.
pub fn view_codes(encoder: &Encoder, params: &PreprocessParams, images: &[RgbImage], device: &Device) -> Vec<Vec<Vec<f32>>> {
    view_features(encoder, params, images, false, device)
}

/// As [`view_codes`], optionally with the multi-scale texture statistics appended.
pub fn view_features(
    encoder: &Encoder,
    params: &PreprocessParams,
    images: &[RgbImage],
    multiscale: bool,
    device: &Device,
) -> Vec<Vec<Vec<f32>>> {
    let bar = progress(8, "encoding views");
    let net = |x| if multiscale { encoder.forward_multiscale(x) } else { encoder.forward(x) };
    let codes = (0..8u8)
        .map(|view| {
            let rows = forward_rows(images, params, device, |im| augment::dihedral(im, view), net);
            bar.inc(1);
            rows
        })
        .collect();
    bar.finish_and_clear();
    codes
}

pub fn finetune(
    config: &ModelConfig,
    codes: &[Vec<Vec<f32>>],
    labels: &[u16],
    options: &FinetuneOptions,
    device: &Device,
) -> Finetuned {
    let device = device.clone().autodiff();
    // Weight initialisation draws from the backend's generator: seed it so reruns match.
    device.seed(options.seed);
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut by_class: Vec<(u16, Vec<usize>)> = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        match by_class.iter_mut().find(|c| c.0 == l) {
            Some(c) => c.1.push(i),
            None => by_class.push((l, vec![i])),
        }
    }
    assert!(by_class.len() >= 2, "triplet loss needs at least two labelled classes");
    let all_codes: Vec<f32> = codes.iter().flatten().flatten().copied().collect();
    let input_dim = codes.first().and_then(|v| v.first()).map_or(config.code_dim, Vec::len);
    let mut head = ProjectionHead::with_input_dim(config, input_dim, &device).with_code_statistics(&all_codes, input_dim);
    let mut optimizer = AdamConfig::new().init();
    let (mut losses, mut spreads) = (Vec::new(), Vec::new());
    let bar = progress(options.steps as u64, "fine-tuning");
    for _ in 0..options.steps {
        let classes: Vec<&(u16, Vec<usize>)> =
            by_class.choose_multiple(&mut rng, options.classes_per_batch.min(by_class.len())).collect();
        let mut batch_codes = Vec::new();
        let mut batch_labels = Vec::new();
        for (label, members) in classes {
            // Without replacement where the class has enough photos; other views fill the rest.
            let picks: Vec<usize> = if members.len() >= options.per_class {
                members.choose_multiple(&mut rng, options.per_class).copied().collect()
            } else {
                (0..options.per_class).map(|_| *members.choose(&mut rng).expect("non-empty")).collect()
            };
            for i in picks {
                batch_codes.extend_from_slice(&codes[rng.gen_range(0..codes.len())][i]);
                batch_labels.push(*label);
            }
        }
        let x = Tensor::<2>::from_data(TensorData::new(batch_codes, [batch_labels.len(), input_dim]), &device);
        let e = l2_normalise(head.forward(x));
        let spread: f32 = pairwise_distances(e.clone().detach()).mean().into_scalar();
        let loss = triplet_loss(e, &batch_labels, options.mining, options.margin);
        let value: f32 = loss.clone().into_scalar();
        losses.push(value);
        spreads.push(spread);
        let grads = GradientsParams::from_grads(loss.backward(), &head);
        head = optimizer.step(options.learning_rate, head, grads);
        bar.set_message(format!("loss {value:.3} spread {spread:.2}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Finetuned { head: head.valid(), losses, spreads }
}
