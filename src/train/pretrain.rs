//! Autoencoder pretraining on unlabelled photos: the encoder learns a 128-d code from which the
//! decoder can redraw the bean. Labels are ignored. Resumable from its checkpoint.

use anyhow::Result;
use burn::module::Module;
use burn::tensor::Device;
use image::RgbImage;
use rand::Rng;

use super::checkpoint::Checkpointer;
use super::train_loop::TrainLoop;
use super::{augment, batch_tensor, step_rng};
use crate::model::{Autoencoder, Encoder, ModelConfig};
use crate::preprocess::PreprocessParams;

pub struct PretrainOptions {
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

pub struct Pretrained {
    pub autoencoder: Autoencoder,
    /// Mean squared reconstruction error per step.
    pub losses: Vec<f32>,
}

impl Pretrained {
    pub fn encoder(&self) -> Encoder {
        self.autoencoder.clone().encoder
    }
}

/// Trains from scratch, or resumes from `checkpoint` when it holds an earlier state of the same
/// run. Each step's batch depends only on (seed, step), so a resumed run draws the same batches.
pub fn pretrain(
    config: &ModelConfig,
    params: &PreprocessParams,
    images: &[RgbImage],
    options: &PretrainOptions,
    checkpoint: Option<&Checkpointer>,
    device: &Device,
) -> Result<Pretrained> {
    anyhow::ensure!(!images.is_empty(), "no photos to pretrain on");
    let device = device.clone().autodiff();
    // Weight initialisation draws from the backend's generator: seed it so reruns match.
    device.seed(options.seed);
    let (mut model, mut run, start) =
        TrainLoop::start(|| Autoencoder::new(config, &device), options.steps, options.learning_rate, checkpoint, "pretraining")?;
    for step in start..options.steps {
        let mut rng = step_rng(options.seed, step);
        let inputs: Vec<Vec<f32>> =
            (0..options.batch).map(|_| augment::random_view(&images[rng.gen_range(0..images.len())], params, &mut rng)).collect();
        let x = batch_tensor(&inputs, config.input_size, &device);
        let loss = (model.forward(x.clone()) - x).powi_scalar(2).mean();
        model = run.step(model, loss, step)?;
    }
    let losses = run.finish();
    Ok(Pretrained { autoencoder: model.valid(), losses })
}

/// Inputs and their reconstructions, both as model-size RGB images (for the report figure).
pub fn reconstructions(
    autoencoder: &Autoencoder,
    params: &PreprocessParams,
    images: &[RgbImage],
    device: &Device,
) -> Vec<RgbImage> {
    let size = params.input_size as usize;
    let inputs: Vec<Vec<f32>> = images.iter().map(|im| crate::preprocess::normalise(im, params)).collect();
    let out: Vec<f32> =
        autoencoder.forward(batch_tensor(&inputs, size, device)).into_data().try_to_vec::<f32>().expect("f32 output");
    out.chunks(3 * size * size).map(|chw| super::plot::denormalise(chw, params)).collect()
}
