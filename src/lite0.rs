//! EfficientNet-Lite0: the ImageNet-pretrained encoder (MBConv blocks with ReLU6, no
//! squeeze-excite). Photo [B, 3, S, S] scaled to [-1, 1] → pooled features [B, C].
//!
//! Two forms of one module: for training every convolution is followed by BatchNorm; for the
//! browser and `classify` the BatchNorm is folded into the convolution's weights and bias
//! ([`Lite0::fold`]), so nothing depends on batch statistics at run time. The network can be cut
//! after any block (a bundle setting): fewer blocks, fewer weights and less work per bean.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu6;

/// Blocks in the full network; `blocks = 17` also keeps the 320 → 1280 head convolution.
pub const BLOCKS: usize = 16;

/// One MBConv block of the reference network.
#[derive(Debug, Clone, Copy)]
struct Spec {
    cin: usize,
    cout: usize,
    expand: usize,
    kernel: usize,
    stride: usize,
}

impl Spec {
    const fn new(cin: usize, cout: usize, expand: usize, kernel: usize, stride: usize) -> Self {
        Self { cin, cout, expand, kernel, stride }
    }
    fn skip(&self) -> bool {
        self.stride == 1 && self.cin == self.cout
    }
}

const SPECS: [Spec; BLOCKS] = [
    Spec::new(32, 16, 1, 3, 1),
    Spec::new(16, 24, 6, 3, 2),
    Spec::new(24, 24, 6, 3, 1),
    Spec::new(24, 40, 6, 5, 2),
    Spec::new(40, 40, 6, 5, 1),
    Spec::new(40, 80, 6, 3, 2),
    Spec::new(80, 80, 6, 3, 1),
    Spec::new(80, 80, 6, 3, 1),
    Spec::new(80, 112, 6, 5, 1),
    Spec::new(112, 112, 6, 5, 1),
    Spec::new(112, 112, 6, 5, 1),
    Spec::new(112, 192, 6, 5, 2),
    Spec::new(192, 192, 6, 5, 1),
    Spec::new(192, 192, 6, 5, 1),
    Spec::new(192, 192, 6, 5, 1),
    Spec::new(192, 320, 6, 3, 1),
];

/// Width of the pooled features when the network is cut after `blocks` blocks (17: the head).
pub fn feature_dim(blocks: usize) -> usize {
    match blocks {
        0 => 32,
        b if b <= BLOCKS => SPECS[b - 1].cout,
        _ => 1280,
    }
}

/// TensorFlow "SAME" padding as the reference computes it for even sides: a stride-2 layer pads
/// one pixel more on the bottom and right. burn's order is (top, left, bottom, right).
fn same_padding(kernel: usize, stride: usize) -> PaddingConfig2d {
    let total = if stride == 2 { kernel - 2 } else { kernel - 1 };
    let (before, after) = (total / 2, total - total / 2);
    PaddingConfig2d::Explicit(before, before, after, after)
}

/// A convolution and its BatchNorm (training form) or a convolution with bias (folded form).
#[derive(Module, Debug)]
pub struct ConvBn {
    pub conv: Conv2d,
    pub bn: Option<BatchNorm>,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize, folded: bool, device: &Device) -> Self {
        let conv = Conv2dConfig::new([cin, cout], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(same_padding(kernel, stride))
            .with_groups(groups)
            .with_bias(folded)
            .init(device);
        let bn = (!folded).then(|| BatchNormConfig::new(cout).with_epsilon(1e-3).init(device));
        Self { conv, bn }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if self.our_depthwise(&x) {
            let (values, shape) = self.depthwise_on_cpu(x);
            return Tensor::from_data(TensorData::new(values, shape), &Device::flex());
        }
        let y = self.conv.forward(x);
        match &self.bn {
            Some(bn) => bn.forward(y),
            None => y,
        }
    }

    /// `relu6(self.forward(x))`. A folded layer on the CPU backend clamps the values itself, in
    /// place: burn's clamp goes element by element through a NaN check and a branch, and took a
    /// fifth of a bean's time in wasm (`bench/wasm-profile.mjs`).
    fn forward_relu6(&self, x: Tensor<4>) -> Tensor<4> {
        if !self.folded_on_cpu(&x) {
            return relu6(self.forward(x));
        }
        let (mut values, shape) = if self.our_depthwise(&x) {
            self.depthwise_on_cpu(x)
        } else {
            let y = self.conv.forward(x);
            let shape: [usize; 4] = y.dims();
            (y.into_data().try_into_vec::<f32>().expect("f32 values"), shape)
        };
        clamp_relu6(&mut values);
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    /// A folded layer (inference only: nothing needs its gradients) on the CPU backend, where
    /// our own kernels may take over.
    fn folded_on_cpu(&self, x: &Tensor<4>) -> bool {
        self.bn.is_none() && x.device() == Device::flex()
    }

    /// Whether this is a folded depthwise layer on the CPU backend with an output plane small
    /// enough for [`crate::depthwise`].
    fn our_depthwise(&self, x: &Tensor<4>) -> bool {
        if !(self.folded_on_cpu(x) && self.conv.groups > 1) {
            return false;
        }
        let [_, _, height, width] = x.dims();
        let stride = self.conv.stride[0];
        height.div_ceil(stride) * width.div_ceil(stride) <= crate::depthwise::MAX_PLANE
    }

    /// A folded depthwise layer on the CPU backend: [`crate::depthwise`], far faster than burn's
    /// kernel on the later blocks' small planes (same values to float rounding). Returns the
    /// output's values (NCHW) and shape.
    fn depthwise_on_cpu(&self, x: Tensor<4>) -> (Vec<f32>, [usize; 4]) {
        let [batch, channels, height, width] = x.dims();
        let PaddingConfig2d::Explicit(pad_before, _, pad_after, _) = self.conv.padding else {
            unreachable!("Lite0 layers pad explicitly")
        };
        let layer = crate::depthwise::Layer {
            channels,
            kernel: self.conv.kernel_size[0],
            stride: self.conv.stride[0],
            pad_before,
            pad_after,
        };
        let values = |t: TensorData| t.try_to_vec::<f32>().expect("f32 values");
        let weight = values(self.conv.weight.val().into_data());
        let bias = self.conv.bias.as_ref().map_or_else(|| vec![0.0; channels], |b| values(b.val().into_data()));
        let input = x.into_data().try_into_vec::<f32>().expect("f32 values");
        let out = crate::depthwise::forward(layer, &input, [batch, height, width], &weight, &bias);
        (out, [batch, channels, layer.out_size(height), layer.out_size(width)])
    }

    /// BatchNorm's running statistics merged into the convolution:
    /// w' = w·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε) (+ the old bias scaled the same way).
    fn fold(self) -> Self {
        let Some(bn) = self.bn else { return self };
        let mut conv = self.conv;
        let scale = bn.gamma.val() / bn.running_var.value().add_scalar(bn.epsilon).sqrt();
        let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
        let bias = match conv.bias.take() {
            Some(b) => b.val() * scale.clone() + shift,
            None => shift,
        };
        let weight = conv.weight.val() * scale.reshape([-1, 1, 1, 1]);
        conv.weight = Param::from_tensor(weight);
        conv.bias = Some(Param::from_tensor(bias));
        Self { conv, bn: None }
    }
}

/// min(max(v, 0), 6) in place, NaN kept (as burn's `relu6`), written as compare-and-select so
/// that it compiles to vector min/max (wasm `f32x4.pmin`/`pmax`).
fn clamp_relu6(values: &mut [f32]) {
    for v in values {
        let low = if *v < 0.0 { 0.0 } else { *v };
        *v = if 6.0 < low { 6.0 } else { low };
    }
}

/// Inverted residual block: 1×1 expand (unless the ratio is 1), k×k depthwise, 1×1 project.
#[derive(Module, Debug)]
pub struct MbConv {
    pub expand: Option<ConvBn>,
    pub depthwise: ConvBn,
    pub project: ConvBn,
    skip: bool,
}

impl MbConv {
    fn new(s: Spec, folded: bool, device: &Device) -> Self {
        let mid = s.cin * s.expand;
        Self {
            expand: (s.expand != 1).then(|| ConvBn::new(s.cin, mid, 1, 1, 1, folded, device)),
            depthwise: ConvBn::new(mid, mid, s.kernel, s.stride, mid, folded, device),
            project: ConvBn::new(mid, s.cout, 1, 1, 1, folded, device),
            skip: s.skip(),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let Some(expand) = &self.expand {
            y = expand.forward_relu6(y);
        }
        let y = self.project.forward(self.depthwise.forward_relu6(y));
        if self.skip { y + x } else { y }
    }

    fn fold(self) -> Self {
        Self {
            expand: self.expand.map(ConvBn::fold),
            depthwise: self.depthwise.fold(),
            project: self.project.fold(),
            skip: self.skip,
        }
    }
}

/// The encoder, cut after `blocks` blocks (1..=16; 17 keeps the head convolution).
#[derive(Module, Debug)]
pub struct Lite0 {
    pub stem: ConvBn,
    pub blocks: Vec<MbConv>,
    pub head: Option<ConvBn>,
}

impl Lite0 {
    /// Training form (`folded = false`, with BatchNorm) or folded form (inference only).
    pub fn new(blocks: usize, folded: bool, device: &Device) -> Self {
        let kept = blocks.clamp(1, BLOCKS);
        Self {
            stem: ConvBn::new(3, 32, 3, 2, 1, folded, device),
            blocks: SPECS[..kept].iter().map(|&s| MbConv::new(s, folded, device)).collect(),
            head: (blocks > BLOCKS).then(|| ConvBn::new(320, 1280, 1, 1, 1, folded, device)),
        }
    }

    /// Width of the pooled features.
    pub fn feature_dim(&self) -> usize {
        feature_dim(if self.head.is_some() { BLOCKS + 1 } else { self.blocks.len() })
    }

    /// Feature maps after the stem and the first `upto` blocks.
    pub fn forward_maps(&self, x: Tensor<4>, upto: usize) -> Tensor<4> {
        let x = self.stem.forward_relu6(x);
        self.blocks.iter().take(upto).fold(x, |x, b| b.forward(x))
    }

    /// From the feature maps after block `from` (see [`Self::forward_maps`]) to pooled features.
    pub fn forward_rest(&self, maps: Tensor<4>, from: usize) -> Tensor<2> {
        let mut x = self.blocks.iter().skip(from).fold(maps, |x, b| b.forward(x));
        if let Some(head) = &self.head {
            x = head.forward_relu6(x);
        }
        x.mean_dim(3).mean_dim(2).flatten(1, 3)
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_rest(self.forward_maps(x, 0), 0)
    }

    /// The inference form: every BatchNorm folded into its convolution.
    pub fn fold(self) -> Self {
        Self {
            stem: self.stem.fold(),
            blocks: self.blocks.into_iter().map(MbConv::fold).collect(),
            head: self.head.map(ConvBn::fold),
        }
    }
}

/// What the pretrained file calls each of our parameters (regex → replacement, applied in
/// order), for burn's PyTorch reader. Block `N`'s `_bn0/_bn1/_bn2` follow its three convolutions.
#[cfg(not(target_arch = "wasm32"))]
pub fn imagenet_key_map() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"^_conv_stem\.", "stem.conv."),
        (r"^_bn0\.", "stem.bn."),
        (r"^_conv_head\.", "head.conv."),
        (r"^_bn1\.", "head.bn."),
        (r"^_blocks\.(\d+)\._expand_conv\.", "blocks.$1.expand.conv."),
        (r"^_blocks\.(\d+)\._bn0\.", "blocks.$1.expand.bn."),
        (r"^_blocks\.(\d+)\._depthwise_conv\.", "blocks.$1.depthwise.conv."),
        (r"^_blocks\.(\d+)\._bn1\.", "blocks.$1.depthwise.bn."),
        (r"^_blocks\.(\d+)\._project_conv\.", "blocks.$1.project.conv."),
        (r"^_blocks\.(\d+)\._bn2\.", "blocks.$1.project.bn."),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_matches_the_reference_table() {
        // (left, right) of the reference equals burn's (left, right) here.
        let pads = |k, s| match same_padding(k, s) {
            PaddingConfig2d::Explicit(t, l, b, r) => (t, l, b, r),
            _ => unreachable!(),
        };
        assert_eq!(pads(3, 2), (0, 0, 1, 1));
        assert_eq!(pads(5, 2), (1, 1, 2, 2));
        assert_eq!(pads(3, 1), (1, 1, 1, 1));
        assert_eq!(pads(5, 1), (2, 2, 2, 2));
    }

    #[test]
    fn relu6_clamp_matches_burns() {
        let mut v = vec![-3.0, -0.0, 0.5, 6.0, 6.5, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        let burn = relu6(Tensor::<1>::from_floats(v.as_slice(), &Device::flex())).into_data().try_to_vec::<f32>().unwrap();
        clamp_relu6(&mut v);
        assert_eq!(v[..7], burn[..7]);
        assert!(v[7].is_nan() && burn[7].is_nan());
    }

    #[test]
    fn shapes_and_folding_agree() {
        let device = Device::flex();
        let net = Lite0::new(6, false, &device);
        let x = Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
        let a = net.forward(x.clone());
        assert_eq!(a.dims(), [2, feature_dim(6)]);
        assert_eq!(net.forward_maps(x.clone(), 3).dims(), [2, 24, 16, 16]);
        let b = net.fold().forward(x);
        let diff = (a - b).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-4, "folded net differs by {diff}");
        assert_eq!(Lite0::new(17, true, &device).forward(Tensor::zeros([1, 3, 32, 32], &device)).dims(), [1, 1280]);
    }
}
