//! Native-only training pipeline: data loading, augmentation, autoencoder pretraining, triplet
//! fine-tuning of the projection head, and bundle export.

pub mod augment;
pub mod blend;
pub mod checkpoint;
pub mod data;
pub mod distill;
pub mod export;
pub mod finetune;
pub mod map_cache;
pub mod mining;
pub mod output;
pub mod plot;
pub mod pretrain;
pub mod pretrained;
pub mod progress;
pub mod recipe;
pub mod supervised;
pub mod train_loop;
pub mod tray_crops;
pub mod tray_data;

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::preprocess::{PreprocessParams, normalise};

/// Stacks planar CHW inputs into one [B, 3, S, S] tensor.
pub fn batch_tensor(inputs: &[Vec<f32>], size: usize, device: &Device) -> Tensor<4> {
    let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [inputs.len(), 3, size, size]), device)
}

/// Runs `net` over the images in batches of 64 (each image mapped to an input by `view`) and
/// returns one output row per image.
pub fn forward_rows(
    images: &[RgbImage],
    params: &PreprocessParams,
    device: &Device,
    view: impl Fn(&RgbImage) -> RgbImage,
    net: impl Fn(Tensor<4>) -> Tensor<2>,
) -> Vec<Vec<f32>> {
    let size = params.input_size as usize;
    let mut rows = Vec::with_capacity(images.len());
    for chunk in images.chunks(64) {
        let inputs: Vec<Vec<f32>> = chunk.iter().map(|im| normalise(&view(im), params)).collect();
        let out: Vec<f32> = net(batch_tensor(&inputs, size, device)).into_data().try_to_vec::<f32>().expect("f32 rows");
        let dim = out.len() / chunk.len();
        rows.extend(out.chunks(dim).map(<[f32]>::to_vec));
    }
    rows
}

/// The random stream of one training step: depends only on (seed, step), so a run resumed from
/// a checkpoint draws exactly the batches the uninterrupted run would have drawn.
pub fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}
