//! Turns trained modules and labelled photos into a [`Bundle`].

use anyhow::{Result, anyhow};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, Device, Tensor};
use image::RgbImage;

use super::forward_rows;
use crate::bundle::{Bundle, WeightType};
use crate::index::{ReferenceSet, build_graph};
use crate::model::{ModelConfig, Net};
use crate::preprocess::PreprocessParams;
use crate::views;

/// Embeds photos with the full embedder, each as the mean of its first `views` flips/turns
/// ([`views`]), as the classifier does.
pub fn embed_images(embedder: &Net, params: &PreprocessParams, images: &[RgbImage], views: u8, device: &Device) -> Vec<Vec<f32>> {
    // About 64 network inputs per pass whatever the view count (memory grows with the batch).
    let per_pass = (64 / usize::from(views.max(1))).max(1);
    images
        .chunks(per_pass)
        .flat_map(|chunk| {
            forward_rows(chunk, params, device, RgbImage::clone, |x| views::mean(embedder.forward(views::stack(x, views)), views))
        })
        .collect()
}

pub struct ExportInput<'a> {
    pub description: String,
    pub model: &'a ModelConfig,
    pub preprocess: &'a PreprocessParams,
    pub class_names: Vec<String>,
    pub embedder: Net,
    pub references: ReferenceSet,
    pub default_k: u32,
    pub default_threshold: f32,
    /// Flips/turns per photo the references were embedded with (and photos get by default).
    pub default_views: u8,
    /// The threshold for tray beans ([`Bundle::tray_threshold`]); None: the default one.
    pub tray_threshold: Option<f32>,
    pub seed: u64,
    /// How to store the weights: f32, f16 (half the bytes) or int8 (a quarter); the loader
    /// widens them back to f32.
    pub weight_type: WeightType,
}

pub fn bundle(input: ExportInput) -> Result<Bundle> {
    let weight_type = input.weight_type;
    let weights = weight_bytes(input.embedder, weight_type)?;
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
        default_views: input.default_views,
        tray_threshold: input.tray_threshold,
    };
    bundle.validate()?;
    Ok(bundle)
}

/// The net's weights stored as `weight_type`.
pub fn weight_bytes(net: Net, weight_type: WeightType) -> Result<Vec<u8>> {
    match net {
        Net::ResNet(m) => module_bytes(*m, weight_type),
        Net::Lite0(m) => module_bytes(*m, weight_type),
    }
}

fn module_bytes<M: Module>(module: M, weight_type: WeightType) -> Result<Vec<u8>> {
    let record = |e: M| e.into_record().into_bytes().map(|b| b.to_vec()).map_err(|e| anyhow!("serialising weights: {e}"));
    match weight_type {
        WeightType::F32 => record(module),
        WeightType::F16 => record(module.map(&mut ToF16)),
        WeightType::Int8 => Ok(crate::quant::to_int8_bytes(&module)?),
    }
}

/// Casts every float parameter to f16 (the record then stores 2 bytes per weight).
struct ToF16;

impl ModuleMapper for ToF16 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.cast(DType::F16))
    }
}
