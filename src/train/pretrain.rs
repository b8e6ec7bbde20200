//! Autoencoder pretraining on unlabelled photos: the encoder learns a 128-d code from which the
//! decoder can redraw the bean. Labels are ignored.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{augment, batch_tensor, data::progress};
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
        self.autoencoder.valid().encoder
    }
}

pub fn pretrain(
    config: &ModelConfig,
    params: &PreprocessParams,
    images: &[RgbImage],
    options: &PretrainOptions,
    device: &Device,
) -> Pretrained {
    assert!(!images.is_empty(), "no photos to pretrain on");
    let device = device.clone().autodiff();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut model = Autoencoder::new(config, &device);
    let mut optimizer = AdamConfig::new().init();
    let mut losses = Vec::with_capacity(options.steps);
    let bar = progress(options.steps as u64, "pretraining");
    for _ in 0..options.steps {
        let inputs: Vec<Vec<f32>> = (0..options.batch)
            .map(|_| augment::random_view(&images[rng.gen_range(0..images.len())], params, &mut rng))
            .collect();
        let x = batch_tensor(&inputs, config.input_size, &device);
        let loss = (model.forward(x.clone()) - x).powi_scalar(2).mean();
        let value: f32 = loss.clone().into_scalar();
        losses.push(value);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(options.learning_rate, model, grads);
        bar.set_message(format!("pretrain {value:.4}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Pretrained { autoencoder: model.valid(), losses }
}
