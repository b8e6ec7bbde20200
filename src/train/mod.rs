//! Native-only training pipeline: data loading, augmentation, autoencoder pretraining, triplet
//! fine-tuning of the projection head, and bundle export.

pub mod augment;
pub mod data;
pub mod export;
pub mod finetune;
pub mod metrics;
pub mod mining;
pub mod pretrain;

use burn::tensor::{Device, Tensor, TensorData};

/// Stacks planar CHW inputs into one [B, 3, S, S] tensor.
pub fn batch_tensor(inputs: &[Vec<f32>], size: usize, device: &Device) -> Tensor<4> {
    let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [inputs.len(), 3, size, size]), device)
}
