//! Turns trained modules and labelled photos into a [`Bundle`].

use anyhow::{Result, anyhow};
use burn::module::Module;
use burn::tensor::Device;
use image::RgbImage;

use super::forward_rows;
use crate::bundle::{Bundle, WeightType};
use crate::index::{ReferenceSet, build_graph};
use crate::model::{Embedder, ModelConfig};
use crate::preprocess::PreprocessParams;

/// Embeds photos with the full embedder (no augmentation).
pub fn embed_images(embedder: &Embedder, params: &PreprocessParams, images: &[RgbImage], device: &Device) -> Vec<Vec<f32>> {
    forward_rows(images, params, device, RgbImage::clone, |x| embedder.forward(x))
}

pub struct ExportInput<'a> {
    pub description: String,
    pub model: &'a ModelConfig,
    pub preprocess: &'a PreprocessParams,
    pub class_names: Vec<String>,
    pub embedder: Embedder,
    pub references: ReferenceSet,
    pub default_k: u32,
    pub default_threshold: f32,
    pub seed: u64,
}

pub fn bundle(input: ExportInput) -> Result<Bundle> {
    let weights = input
        .embedder
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow!("serialising weights: {e}"))?
        .to_vec();
    let graph = Some(build_graph(&input.references, input.seed));
    let bundle = Bundle {
        description: input.description,
        model: input.model.clone(),
        preprocess: input.preprocess.clone(),
        class_names: input.class_names,
        weight_type: WeightType::F32,
        weights,
        references: input.references,
        graph,
        default_k: input.default_k,
        default_threshold: input.default_threshold,
    };
    bundle.validate()?;
    Ok(bundle)
}
