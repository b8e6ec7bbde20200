//! Distillation toward the net a run starts from: while the net learns photos as other cameras
//! take them, each view's embedding is pulled toward the start net's embedding of the same view as
//! it was taken. The trained camera's geometry, which its references and thresholds live in,
//! stays where it was; the other cameras' views are taught to land on it.

use burn::prelude::*;

use crate::lite0::Lite0;
use crate::model::{Lite0Embedder, ProjectionHead, l2_normalise};

/// The start net, frozen and folded for inference (its BatchNorm on running statistics).
pub struct Teacher {
    encoder: Lite0,
    head: ProjectionHead,
    /// Blocks whose maps the teacher is given (the frozen blocks of the run).
    from: usize,
}

impl Teacher {
    pub fn new(start: &Lite0Embedder, from: usize) -> Self {
        Self { encoder: start.encoder.clone().fold(), head: start.head.clone(), from }
    }

    /// Unit-length embeddings of maps after `from` blocks, on the maps' device, no gradient.
    pub fn embed(&self, maps: Tensor<4>) -> Tensor<2> {
        l2_normalise(self.head.forward(self.encoder.forward_rest(maps, self.from)))
    }
}

/// Mean cosine distance between the student's unit embeddings and the teacher's (constants).
pub fn distill_loss(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    (student * teacher).sum_dim(1).neg().add_scalar(1.0).mean()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_is_zero_on_agreement_and_two_on_opposite_directions() {
        let device = Device::flex();
        let a = Tensor::<2>::from_data([[0.6, 0.8], [1.0, 0.0]], &device);
        let same: f32 = distill_loss(a.clone(), a.clone()).into_scalar();
        let opposite: f32 = distill_loss(a.clone(), a.neg()).into_scalar();
        assert!(same.abs() < 1e-6, "{same}");
        assert!((opposite - 2.0).abs() < 1e-6, "{opposite}");
    }
}
