//! `beanscan convert`: the same bundle with its weights stored another way (size vs accuracy).

use std::path::PathBuf;

use anyhow::{Context, Result};
use beanscan::bundle::WeightType;
use beanscan::classifier::load_embedder;
use beanscan::train::export::weight_bytes;
use burn::tensor::Device;
use clap::{Args, ValueEnum};

use crate::native::load_bundle;

#[derive(Clone, Copy, ValueEnum)]
pub enum Weights {
    F32,
    F16,
    Int8,
}

impl From<Weights> for WeightType {
    fn from(w: Weights) -> Self {
        match w {
            Weights::F32 => WeightType::F32,
            Weights::F16 => WeightType::F16,
            Weights::Int8 => WeightType::Int8,
        }
    }
}

#[derive(Args)]
pub struct ConvertArgs {
    /// Bundle to convert (default: the bundle built into beanscan).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// How to store the weights.
    #[arg(long, value_enum)]
    pub weights: Weights,
    /// Where to write the converted bundle.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn convert_cmd(args: &ConvertArgs) -> Result<()> {
    let mut bundle = load_bundle(args.bundle.as_deref())?;
    let before = bundle.to_bytes()?.len();
    let embedder = load_embedder(&bundle.model, bundle.weight_type, &bundle.weights, &Device::flex())?;
    bundle.weight_type = args.weights.into();
    bundle.weights = weight_bytes(embedder, bundle.weight_type)?;
    let bytes = bundle.to_bytes()?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    println!("{}: {before} → {} bytes ({:?} weights)", args.out.display(), bytes.len(), bundle.weight_type);
    Ok(())
}
