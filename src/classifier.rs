//! Photo → label: preprocessing, the embedder on a burn device, and the kNN vote over the index.
//! The one type the CLI and the browser API both wrap.

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use serde::Serialize;

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::index::{self, Index};
use crate::model::{Embedder, ModelConfig};
use crate::preprocess::{self, PreprocessParams};

/// A labelled photo, as shown to the user.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub label: String,
    pub confidence: f32,
    pub distance: f32,
    pub unknown: bool,
    pub neighbours: Vec<NeighbourInfo>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NeighbourInfo {
    pub label: String,
    pub distance: f32,
    pub id: String,
}

pub struct Classifier {
    device: Device,
    model: Embedder,
    pub model_config: ModelConfig,
    pub preprocess: PreprocessParams,
    pub class_names: Vec<String>,
    pub index: Index,
    pub k: usize,
    pub threshold: f32,
    pub version: String,
}

/// Loads burnpack weights into a freshly built embedder on `device`. Weights are applied on the
/// CPU and then moved: applying them on WebGPU would need a synchronous read, which it forbids.
pub fn load_embedder(config: &ModelConfig, weights: &[u8], device: &Device) -> Result<Embedder> {
    // f16 bundles are widened to the model's f32 on load.
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|e| Error::Model(format!("cannot read weights: {e}")))?
        .cast_to_module_dtype();
    let cpu = Device::flex();
    let model = Embedder::new(config, &cpu)
        .try_load_record(record)
        .map_err(|e| Error::Model(format!("weights do not fit the model: {e}")))?;
    Ok(if *device == cpu { model } else { model.to_device(device) })
}

impl Classifier {
    pub fn new(bundle: Bundle, device: Device) -> Result<Self> {
        let model = load_embedder(&bundle.model, &bundle.weights, &device)?;
        Ok(Self {
            version: bundle.version_string(),
            device,
            model,
            model_config: bundle.model,
            preprocess: bundle.preprocess,
            class_names: bundle.class_names,
            index: Index::new(bundle.references, bundle.graph),
            k: bundle.default_k.max(1) as usize,
            threshold: bundle.default_threshold,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Photo bytes → model input (decode errors name the problem).
    pub fn input(&self, photo: &[u8]) -> Result<Vec<f32>> {
        preprocess::photo_to_input(photo, &self.preprocess)
    }

    /// Model inputs → L2-normalised embeddings, one per input. Reads back asynchronously, which
    /// WebGPU requires; natively the future is ready at once.
    pub async fn embed_inputs(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.preprocess.input_size as usize;
        let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
        let x = Tensor::<4>::from_data(TensorData::new(flat, [inputs.len(), 3, size, size]), &self.device);
        let data = self
            .model
            .forward(x)
            .into_data_async()
            .await
            .map_err(|e| Error::Model(format!("reading the embedding back failed: {e:?}")))?;
        let values: Vec<f32> =
            data.try_to_vec::<f32>().map_err(|e| Error::Model(format!("unexpected embedding data: {e:?}")))?;
        let dim = self.model_config.embed_dim;
        Ok(values.chunks(dim).map(<[f32]>::to_vec).collect())
    }

    pub async fn embed_photo(&self, photo: &[u8]) -> Result<Vec<f32>> {
        let input = self.input(photo)?;
        Ok(self.embed_inputs(&[input]).await?.remove(0))
    }

    /// kNN vote for one embedding with the current k and threshold.
    pub fn label(&self, embedding: &[f32]) -> Result<Prediction> {
        let hits = self.index.search(embedding, self.k);
        let vote = index::vote(&hits, self.threshold)
            .ok_or_else(|| Error::Index("no reference beans to compare with".into()))?;
        let name = |l: u16| self.class_names.get(usize::from(l)).cloned().unwrap_or_else(|| format!("class {l}"));
        Ok(Prediction {
            label: name(vote.label),
            confidence: vote.confidence,
            distance: vote.distance,
            unknown: vote.unknown,
            neighbours: hits
                .iter()
                .map(|h| NeighbourInfo { label: name(h.label), distance: h.distance, id: h.id.to_string() })
                .collect(),
        })
    }

    pub async fn classify(&self, photo: &[u8]) -> Result<Prediction> {
        let embedding = self.embed_photo(photo).await?;
        self.label(&embedding)
    }
}
