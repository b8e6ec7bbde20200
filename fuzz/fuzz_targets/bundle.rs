//! Bundle decoding. The first byte picks what the rest is:
//!   0: a whole bundle file (header, length, checksum checks);
//!   1: a payload, wrapped in a valid header and checksum (postcard decoding, validation);
//!   2: edits (offset u16, byte) applied to the payload of a small valid bundle, re-checksummed:
//!      gets deep into validation, index restoration and loading the weights into a model.
//! Whatever decodes must also load into a classifier and label an embedding without panicking.
#![no_main]

use std::sync::OnceLock;

use beanscan::bundle::{Bundle, FORMAT_VERSION, MAGIC};
use beanscan::index::ReferenceSet;
use beanscan::bundle::WeightType;
use beanscan::model::{Embedder, ModelConfig, Net};
use beanscan::preprocess::PreprocessParams;
use beanscan::train::export::{ExportInput, bundle};
use beanscan::Classifier;
use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;

fn wrap(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 24);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(&out).to_le_bytes());
    out
}

/// Payload of a tiny but complete bundle: 16 px input, 8-d embeddings, 3 classes, 6 references.
fn small_payload() -> &'static [u8] {
    static PAYLOAD: OnceLock<Vec<u8>> = OnceLock::new();
    PAYLOAD.get_or_init(|| {
        let device = Device::flex();
        let model = ModelConfig { input_size: 16, width: 2, blocks_per_stage: 1, code_dim: 8, embed_dim: 8, ..ModelConfig::default() };
        let mut references = ReferenceSet::new(8);
        for i in 0..6u16 {
            let e: Vec<f32> = (0..8).map(|j| ((i * 8 + j) as f32 * 0.37).sin()).collect();
            references.push(&e, i % 3, format!("bean-{i}")).unwrap();
        }
        let b = bundle(ExportInput {
            description: "fuzz seed".into(),
            model: &model,
            preprocess: &PreprocessParams::new(16),
            class_names: vec!["Normal".into(), "Black".into(), "Sour".into()],
            embedder: Net::ResNet(Embedder::new(&model, &device)),
            references,
            default_k: 3,
            default_threshold: 1.0,
            tray_threshold: None,
            seed: 0,
            // f16 like the shipped bundle, so edits also reach the widening load path.
            weight_type: WeightType::F16,
        })
        .unwrap();
        let bytes = b.to_bytes().unwrap();
        bytes[20..bytes.len() - 4].to_vec()
    })
}

fn exercise(file: &[u8]) {
    let Ok(bundle) = Bundle::from_bytes(file) else { return };
    let dim = bundle.model.embed_dim;
    if let Ok(mut classifier) = Classifier::new(bundle, Device::flex()) {
        let query = vec![0.1f32; dim];
        for k in [1, 5, 1000] {
            classifier.k = k;
            let _ = classifier.label(&query);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => exercise(rest),
        1 => exercise(&wrap(rest)),
        _ => {
            let mut payload = small_payload().to_vec();
            for edit in rest.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % payload.len();
                payload[at] = edit[2];
            }
            exercise(&wrap(&payload));
        }
    }
});
