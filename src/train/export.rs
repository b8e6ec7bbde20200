//! Turns trained modules and labelled photos into a [`Bundle`].

use anyhow::{Result, anyhow};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, Device, Tensor};
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
    /// Store weights as 16-bit floats: half the bytes; the loader widens them back to f32.
    pub f16: bool,
}

pub fn bundle(input: ExportInput) -> Result<Bundle> {
    let (weight_type, embedder) = if input.f16 {
        (WeightType::F16, input.embedder.map(&mut ToF16))
    } else {
        (WeightType::F32, input.embedder)
    };
    let weights = embedder
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
        weight_type,
        weights,
        references: input.references,
        graph,
        default_k: input.default_k,
        default_threshold: input.default_threshold,
    };
    bundle.validate()?;
    Ok(bundle)
}

/// Casts every float parameter to f16 (the record then stores 2 bytes per weight).
struct ToF16;

impl ModuleMapper for ToF16 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.cast(DType::F16))
    }
}
