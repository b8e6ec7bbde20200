//! The networks: a ResNet18-like encoder (photo → 128-d code), the decoder used only for
//! autoencoder pretraining, and the projection head fine-tuned with triplet loss.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::lite0::Lite0;

/// Shape of the networks; stored in the bundle so a loader builds the same modules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Side of the square input (multiple of 16).
    pub input_size: usize,
    /// Channels of the first stage; stages use 1×, 2×, 4×, 8× this.
    pub width: usize,
    /// Blocks per stage (ResNet18 uses 2).
    pub blocks_per_stage: usize,
    /// Size of the encoder code and of the embedding.
    pub code_dim: usize,
    pub embed_dim: usize,
    /// Which encoder the bundle's weights are for.
    pub encoder: EncoderKind,
}

/// The encoder architectures a bundle can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EncoderKind {
    /// The from-scratch ResNet-like encoder above (`width`, `blocks_per_stage`).
    #[default]
    ResNet,
    /// EfficientNet-Lite0 ([`crate::lite0`]) cut after `blocks` blocks (17: with its head conv),
    /// stored in folded form; `code_dim` is the projection head's hidden width.
    Lite0 { blocks: u8 },
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { input_size: 64, width: 16, blocks_per_stage: 2, code_dim: 128, embed_dim: 128, encoder: EncoderKind::ResNet }
    }
}

impl ModelConfig {
    fn stage_widths(&self) -> [usize; 4] {
        [self.width, self.width * 2, self.width * 4, self.width * 8]
    }
    /// Whether every stage's channels split evenly into its normalisation groups (a width of 17
    /// does not: 17 channels in 2 groups), i.e. whether the modules can be built at all.
    pub fn groups_divide_channels(&self) -> bool {
        self.stage_widths().iter().all(|&c| c % groups(c) == 0)
    }

    /// Spatial side after the stem and three strided stages.
    fn bottleneck_side(&self) -> usize {
        self.input_size / 16
    }
}

fn conv3x3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// Normalisation groups for a layer of `channels` channels: one per 8 channels, at least one.
fn groups(channels: usize) -> usize {
    (channels / 8).max(1)
}

fn norm(channels: usize, device: &Device) -> GroupNorm {
    // GroupNorm instead of BatchNorm: no running statistics, so training, evaluation and the
    // browser compute exactly the same function, whatever the batch size.
    GroupNormConfig::new(groups(channels), channels).init(device)
}

/// Two 3×3 convolutions with a skip connection (ResNet "basic block").
#[derive(Module, Debug)]
pub struct ResBlock {
    conv1: Conv2d,
    norm1: GroupNorm,
    conv2: Conv2d,
    norm2: GroupNorm,
    shortcut: Option<Conv2d>,
}

impl ResBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let shortcut = (stride != 1 || cin != cout)
            .then(|| Conv2dConfig::new([cin, cout], [1, 1]).with_stride([stride, stride]).init(device));
        Self {
            conv1: conv3x3(cin, cout, stride, device),
            norm1: norm(cout, device),
            conv2: conv3x3(cout, cout, 1, device),
            norm2: norm(cout, device),
            shortcut,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let skip = match &self.shortcut {
            Some(conv) => conv.forward(x.clone()),
            None => x.clone(),
        };
        let y = relu(self.norm1.forward(self.conv1.forward(x)));
        let y = self.norm2.forward(self.conv2.forward(y));
        relu(y + skip)
    }
}

/// Photo [B, 3, S, S] → code [B, code_dim].
#[derive(Module, Debug)]
pub struct Encoder {
    stem: Conv2d,
    stem_norm: GroupNorm,
    blocks: Vec<ResBlock>,
    fc: Linear,
}

impl Encoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let widths = config.stage_widths();
        let mut blocks = Vec::new();
        let mut cin = widths[0];
        for (stage, &cout) in widths.iter().enumerate() {
            for b in 0..config.blocks_per_stage {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(ResBlock::new(cin, cout, stride, device));
                cin = cout;
            }
        }
        Self {
            stem: conv3x3(3, widths[0], 2, device),
            stem_norm: norm(widths[0], device),
            blocks,
            fc: LinearConfig::new(widths[3], config.code_dim).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu(self.stem_norm.forward(self.stem.forward(x)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        // Global average pool → [B, C].
        let pooled: Tensor<2> = x.mean_dim(3).mean_dim(2).flatten(1, 3);
        self.fc.forward(pooled)
    }

    /// The code plus mean and standard deviation of every stage's feature maps after the first:
    /// texture statistics that the reconstruction bottleneck does not have to keep.
    pub fn forward_multiscale(&self, x: Tensor<4>) -> Tensor<2> {
        let per_stage = self.blocks.len() / 4;
        let mut x = relu(self.stem_norm.forward(self.stem.forward(x)));
        let mut parts = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if (i + 1) % per_stage == 0 && i + 1 > per_stage {
                let [b, c, h, w] = x.dims();
                let flat: Tensor<3> = x.clone().reshape([b, c, h * w]);
                let mean: Tensor<3> = flat.clone().mean_dim(2);
                let std = (flat - mean.clone()).powi_scalar(2).mean_dim(2).sqrt();
                parts.push(mean.reshape([b, c]));
                parts.push(std.reshape([b, c]));
            }
        }
        let pooled: Tensor<2> = x.mean_dim(3).mean_dim(2).flatten(1, 3);
        parts.push(self.fc.forward(pooled));
        Tensor::cat(parts, 1)
    }
}

/// Code [B, code_dim] → reconstructed photo [B, 3, S, S]; used only for pretraining.
#[derive(Module, Debug)]
pub struct Decoder {
    fc: Linear,
    ups: Vec<ConvTranspose2d>,
    side: usize,
    channels: usize,
}

impl Decoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let [w1, w2, w3, w4] = config.stage_widths();
        let side = config.bottleneck_side();
        // Each transposed conv (kernel 4, stride 2, padding 1) doubles the side exactly.
        let up =
            |cin, cout| ConvTranspose2dConfig::new([cin, cout], [4, 4]).with_stride([2, 2]).with_padding([1, 1]).init(device);
        Self {
            fc: LinearConfig::new(config.code_dim, w4 * side * side).init(device),
            ups: vec![up(w4, w3), up(w3, w2), up(w2, w1), up(w1, 3)],
            side,
            channels: w4,
        }
    }

    pub fn forward(&self, code: Tensor<2>) -> Tensor<4> {
        let batch = code.dims()[0];
        let mut x: Tensor<4> = relu(self.fc.forward(code)).reshape([batch, self.channels, self.side, self.side]);
        let last = self.ups.len() - 1;
        for (i, up) in self.ups.iter().enumerate() {
            x = up.forward(x);
            if i != last {
                x = relu(x);
            }
        }
        x
    }
}

/// Encoder + decoder, trained to reconstruct unlabelled photos.
#[derive(Module, Debug)]
pub struct Autoencoder {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl Autoencoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        Self { encoder: Encoder::new(config, device), decoder: Decoder::new(config, device) }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.decoder.forward(self.encoder.forward(x))
    }
}

/// Code → embedding; the only part trained with labels. Codes are first standardised with
/// fixed statistics of the training codes: raw autoencoder codes share a large common
/// component, and without this every embedding starts out nearly identical.
#[derive(Module, Debug)]
pub struct ProjectionHead {
    code_mean: Param<Tensor<1>>,
    code_inv_std: Param<Tensor<1>>,
    fc1: Linear,
    fc2: Linear,
}

impl ProjectionHead {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        Self::with_input_dim(config, config.code_dim, device)
    }

    /// A head over `input_dim`-wide encoder features (the code, or a wider feature vector).
    pub fn with_input_dim(config: &ModelConfig, input_dim: usize, device: &Device) -> Self {
        let fixed = |t: Tensor<1>| Param::from_tensor(t).set_require_grad(false);
        Self {
            code_mean: fixed(Tensor::zeros([input_dim], device)),
            code_inv_std: fixed(Tensor::ones([input_dim], device)),
            fc1: LinearConfig::new(input_dim, config.code_dim).init(device),
            fc2: LinearConfig::new(config.code_dim, config.embed_dim).init(device),
        }
    }

    /// Sets the standardisation from example codes (row-major, `n × code_dim`).
    pub fn with_code_statistics(mut self, codes: &[f32], code_dim: usize) -> Self {
        let n = (codes.len() / code_dim).max(1) as f32;
        let mut mean = vec![0.0f32; code_dim];
        for row in codes.chunks(code_dim) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v / n);
        }
        let mut var = vec![0.0f32; code_dim];
        for row in codes.chunks(code_dim) {
            var.iter_mut().zip(row).zip(&mean).for_each(|((s, v), m)| *s += (v - m) * (v - m) / n);
        }
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v.sqrt() + 1e-6)).collect();
        let device = self.fc1.weight.val().device();
        let fixed =
            |v: Vec<f32>| Param::from_tensor(Tensor::from_data(TensorData::new(v, [code_dim]), &device)).set_require_grad(false);
        self.code_mean = fixed(mean);
        self.code_inv_std = fixed(inv_std);
        self
    }

    pub fn forward(&self, code: Tensor<2>) -> Tensor<2> {
        let z = (code - self.code_mean.val().unsqueeze()) * self.code_inv_std.val().unsqueeze();
        self.fc2.forward(relu(self.fc1.forward(z)))
    }
}

/// What the browser runs: photo → L2-normalised embedding.
#[derive(Module, Debug)]
pub struct Embedder {
    pub encoder: Encoder,
    pub head: ProjectionHead,
}

impl Embedder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        Self { encoder: Encoder::new(config, device), head: ProjectionHead::new(config, device) }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        l2_normalise(self.head.forward(self.encoder.forward(x)))
    }
}

/// The pretrained encoder with its projection head (folded for inference, or in training form).
#[derive(Module, Debug)]
pub struct Lite0Embedder {
    pub encoder: Lite0,
    pub head: ProjectionHead,
}

impl Lite0Embedder {
    pub fn new(config: &ModelConfig, blocks: usize, folded: bool, device: &Device) -> Self {
        Self::from_encoder(config, Lite0::new(blocks, folded, device), device)
    }

    /// A fresh projection head on `encoder` (e.g. the ImageNet-pretrained one).
    pub fn from_encoder(config: &ModelConfig, encoder: Lite0, device: &Device) -> Self {
        let head = ProjectionHead::with_input_dim(config, encoder.feature_dim(), device);
        Self { encoder, head }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        l2_normalise(self.head.forward(self.encoder.forward(x)))
    }
}

/// Whichever embedder a bundle holds (boxed: a net's layers are kilobytes of handles, moved whole).
#[derive(Debug)]
pub enum Net {
    ResNet(Box<Embedder>),
    Lite0(Box<Lite0Embedder>),
}

impl Net {
    /// A fresh net of the bundle's architecture; Lite0 in its folded (inference) form.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        match config.encoder {
            EncoderKind::ResNet => Net::ResNet(Box::new(Embedder::new(config, device))),
            EncoderKind::Lite0 { blocks } => Net::Lite0(Box::new(Lite0Embedder::new(config, blocks.into(), true, device))),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Net::ResNet(m) => m.forward(x),
            Net::Lite0(m) => m.forward(x),
        }
    }

    pub fn to_device(self, device: &Device) -> Self {
        match self {
            Net::ResNet(m) => Net::ResNet(Box::new((*m).to_device(device))),
            Net::Lite0(m) => Net::Lite0(Box::new((*m).to_device(device))),
        }
    }
}

/// Rows scaled to unit length, so Euclidean distance ranks like cosine similarity.
pub fn l2_normalise(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_whose_channels_do_not_split_into_groups_are_flagged() {
        let ok = |width| ModelConfig { width, ..ModelConfig::default() }.groups_divide_channels();
        assert!(ok(16) && ok(8) && ok(3) && ok(64));
        assert!(!ok(17), "17 channels cannot form 2 equal groups");
    }

    #[test]
    fn shapes_line_up() {
        let device = Device::flex();
        let config = ModelConfig { input_size: 32, width: 8, ..ModelConfig::default() };
        let ae = Autoencoder::new(&config, &device);
        let x = Tensor::<4>::zeros([2, 3, 32, 32], &device);
        assert_eq!(ae.forward(x.clone()).dims(), [2, 3, 32, 32]);
        let embedder = Embedder::new(&config, &device);
        let e = embedder.forward(x);
        assert_eq!(e.dims(), [2, config.embed_dim]);
        let norms: Vec<f32> = e.powi_scalar(2).sum_dim(1).into_data().try_to_vec::<f32>().unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "{norms:?}");
    }
}
