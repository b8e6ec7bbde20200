//! Weight blending: one net whose every weight and BatchNorm statistic lies `weight` of the way
//! from net A to net B. Two nets fine-tuned from the same start for different aims (the trained
//! camera as taken, other cameras' jitter) sit in one basin, and a point between them can keep
//! most of what each learned without training again.

use std::collections::VecDeque;

use anyhow::{Result, bail, ensure};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

/// `a` moved `weight` of the way toward `b` (0: `a`, 1: `b`), tensor by tensor in the
/// modules' visiting order; refused when their shapes differ anywhere. Burn's running statistics
/// are shared between a module and its clones, so `a`'s clones see the blended statistics too.
pub fn blend<M: Module>(a: M, b: &M, weight: f32) -> Result<M> {
    ensure!((0.0..=1.0).contains(&weight), "the blend weight must be 0–1, not {weight}");
    let mut collected = Collect(VecDeque::new());
    b.visit(&mut collected);
    let mut mix = Mix { others: collected.0, weight, mismatch: None };
    let blended = a.map(&mut mix);
    if let Some(what) = mix.mismatch {
        bail!("the two nets differ in shape: {what}");
    }
    ensure!(mix.others.is_empty(), "the second net has {} more tensors than the first", mix.others.len());
    Ok(blended)
}

/// Every float tensor of a module, running statistics included, in visiting order.
struct Collect(VecDeque<TensorData>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push_back(param.val().into_data());
    }
}

struct Mix {
    others: VecDeque<TensorData>,
    weight: f32,
    mismatch: Option<String>,
}

impl ModuleMapper for Mix {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(other) = self.others.pop_front() else {
            self.mismatch.get_or_insert_with(|| "the second net has fewer tensors".into());
            return param;
        };
        let weight = self.weight;
        let mismatch = &mut self.mismatch;
        param.map(|t| {
            if other.shape().as_slice() != t.shape().as_slice() {
                mismatch.get_or_insert_with(|| format!("{:?} against {:?}", t.shape().as_slice(), other.shape().as_slice()));
                return t;
            }
            // a + w·(b − a): where the nets agree (the frozen blocks) the weights stay a's to
            // the bit, so a run started from the blend still reads the ImageNet maps' cache.
            let other = Tensor::<D>::from_data(other, &t.device());
            t.clone() + (other - t).mul_scalar(weight)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
    use burn::tensor::Device;

    #[derive(Module, Debug)]
    struct Small {
        linear: Linear,
        norm: BatchNorm,
    }

    fn small(device: &Device) -> Small {
        Small { linear: LinearConfig::new(3, 2).init(device), norm: BatchNormConfig::new(2).init(device) }
    }

    fn weights(m: &Small) -> Vec<f32> {
        m.linear.weight.val().into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_blend_lies_between_the_two_nets_weights_and_statistics_alike() {
        let device = Device::flex().autodiff();
        let (a, b) = (small(&device), small(&device));
        // B's running mean moves away from A's (which stays at 0); `valid` settles the update.
        for shift in [4.0, 8.0] {
            let x = Tensor::<4>::from_data(
                TensorData::new(vec![shift, shift + 1.0, shift + 2.0, shift + 3.0], [2, 2, 1, 1]),
                &device,
            );
            let _ = b.norm.forward(x);
        }
        drop(b.valid());
        let mean = |s: &Small| s.norm.running_mean.value().into_data().try_to_vec::<f32>().unwrap();
        // Read A's statistics first: its clones share them, and the blend below writes them.
        let ma = mean(&a);
        let mid = blend(a.clone(), &b, 0.25).unwrap();
        for ((m, a), b) in weights(&mid).iter().zip(weights(&a)).zip(weights(&b)) {
            assert!((m - (0.75 * a + 0.25 * b)).abs() < 1e-6, "{m} is not a quarter of the way from {a} to {b}");
        }
        let (mb, mm) = (mean(&b), mean(&mid));
        assert!(mb.iter().any(|v| v.abs() > 0.1), "the running mean did not move: {mb:?}");
        for i in 0..2 {
            assert!((mm[i] - (0.75 * ma[i] + 0.25 * mb[i])).abs() < 1e-6);
        }
        assert_eq!(weights(&blend(a.clone(), &b, 0.0).unwrap()), weights(&a));
    }

    #[test]
    fn nets_of_other_shapes_or_weights_outside_0_to_1_are_refused() {
        let device = Device::flex();
        let a = small(&device);
        let wide = Small { linear: LinearConfig::new(4, 2).init(&device), norm: BatchNormConfig::new(2).init(&device) };
        assert!(blend(a.clone(), &wide, 0.5).unwrap_err().to_string().contains("differ in shape"));
        assert!(blend(a.clone(), &a, 1.5).is_err());
    }
}
