//! Resumable training: a step's model weights, optimizer state and loss history in one file,
//! written atomically (temporary file, then rename) so an interrupted run never leaves a
//! half-written checkpoint. A checkpoint remembers the settings it was made with; resuming with
//! other settings is refused instead of silently mixing two runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"BSCKPT01";

#[derive(Serialize, Deserialize)]
struct Stored {
    settings: String,
    step: usize,
    losses: Vec<f32>,
    model: Vec<u8>,
    optimizer: Vec<u8>,
}

/// Where a training step keeps its checkpoint, and the settings that must match to resume.
pub struct Checkpointer {
    pub path: PathBuf,
    settings: String,
    /// Save after every this many steps (and always after the last).
    pub every: usize,
}

/// State restored from a checkpoint.
pub struct Resumed<M> {
    pub model: M,
    pub optimizer: ModuleOptimizer,
    pub step: usize,
    pub losses: Vec<f32>,
}

impl Checkpointer {
    /// `settings` is any text that identifies the run (model shape, data, seed, step count…).
    pub fn new(path: impl Into<PathBuf>, settings: impl Into<String>, every: usize) -> Self {
        Self { path: path.into(), settings: settings.into(), every: every.max(1) }
    }

    pub fn due(&self, step: usize, total: usize) -> bool {
        step.is_multiple_of(self.every) || step == total
    }

    /// The model and optimizer of the stored checkpoint; `Ok(None)` if there is none. `fresh`
    /// builds the model the weights are loaded into, called only when there is a checkpoint
    /// (building it can mean reading the ImageNet weights).
    pub fn resume<M: Module>(&self, fresh: impl FnOnce() -> M, optimizer: ModuleOptimizer) -> Result<Option<Resumed<M>>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let stored = read(&self.path)?;
        if stored.settings != self.settings {
            bail!(
                "{} was made with other settings ({}); now: {}. Use another run folder or delete it",
                self.path.display(),
                stored.settings,
                self.settings
            );
        }
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(stored.model))
            .map_err(|e| anyhow::anyhow!("{}: weights: {e}", self.path.display()))?;
        let model = fresh()
            .try_load_record(record)
            .map_err(|e| anyhow::anyhow!("{}: weights do not fit the model: {e}", self.path.display()))?;
        let optimizer = optimizer
            .from_bytes(Bytes::from_bytes_vec(stored.optimizer))
            .map_err(|e| anyhow::anyhow!("{}: optimizer state: {e}", self.path.display()))?;
        Ok(Some(Resumed { model, optimizer, step: stored.step, losses: stored.losses }))
    }

    pub fn save<M: Module>(&self, model: &M, optimizer: &ModuleOptimizer, step: usize, losses: &[f32]) -> Result<()> {
        // BatchNorm keeps its latest running-statistics update pending until the next forward
        // pass, and a record reads the value before it: without this flush (which `valid` does on
        // the shared state) a resumed run, or a bundle exported from a finished checkpoint, lags
        // one update behind the run that made it.
        drop(model.valid());
        let stored = Stored {
            settings: self.settings.clone(),
            step,
            losses: losses.to_vec(),
            model: model.clone().into_record().into_bytes().map_err(|e| anyhow::anyhow!("weights: {e}"))?.to_vec(),
            optimizer: optimizer.into_bytes().map_err(|e| anyhow::anyhow!("optimizer state: {e}"))?.to_vec(),
        };
        write(&self.path, &stored)
    }
}

/// The finished model stored in a checkpoint file, without the optimizer.
pub fn load_model<M: Module>(path: &Path, model: M) -> Result<(M, usize)> {
    let (record, step) = read_record(path)?;
    Ok((apply(path, model, record)?, step))
}

/// The part of a checkpoint's model that `part` has, e.g. the embedder without the class
/// directions it was trained with (the rest of the checkpoint is left unread); every tensor
/// of `part` must be there, in the same shape.
pub fn load_part<M: Module>(path: &Path, part: M) -> Result<M> {
    let (record, _) = read_record(path)?;
    apply(path, part, record.allow_unused(true))
}

/// The model weights of the checkpoint at `path` and the step it was saved after.
fn read_record(path: &Path) -> Result<(ModuleRecord, usize)> {
    let stored = read(path)?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(stored.model))
        .map_err(|e| anyhow::anyhow!("{}: weights: {e}", path.display()))?;
    Ok((record, stored.step))
}

fn apply<M: Module>(path: &Path, model: M, record: ModuleRecord) -> Result<M> {
    model.try_load_record(record).map_err(|e| anyhow::anyhow!("{}: weights do not fit the model: {e}", path.display()))
}

fn read(path: &Path) -> Result<Stored> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        bail!("{} is not a beanscan checkpoint", path.display());
    }
    postcard::from_bytes(&bytes[MAGIC.len()..]).with_context(|| format!("{} is damaged", path.display()))
}

fn write(path: &Path, stored: &Stored) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut bytes = MAGIC.to_vec();
    bytes.extend(postcard::to_allocvec(stored).context("encoding checkpoint")?);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{BatchNorm, BatchNormConfig};
    use burn::prelude::*;

    /// A checkpoint holds the running statistics of the last training step, not the step before.
    #[test]
    fn batch_norm_statistics_survive_a_checkpoint() {
        let device = Device::flex().autodiff();
        let norm: BatchNorm = BatchNormConfig::new(2).init(&device);
        for shift in [1.0, 5.0] {
            let x = Tensor::<4>::from_data(
                TensorData::new(vec![shift, shift + 1.0, shift + 2.0, shift + 3.0], [2, 2, 1, 1]),
                &device,
            );
            let _ = norm.forward(x);
        }
        let dir = std::env::temp_dir().join(format!("beanscan-ckpt-{}", std::process::id()));
        let checkpoint = Checkpointer::new(dir.join("t.ckpt"), "t", 1);
        let optimizer = burn::optim::AdamConfig::new().init();
        checkpoint.save(&norm, &optimizer, 2, &[]).unwrap();
        let fresh: BatchNorm = BatchNormConfig::new(2).init(&device);
        let (loaded, _) = load_model(&checkpoint.path, fresh).unwrap();
        let values = |n: &BatchNorm| n.valid().running_mean.value().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values(&loaded), values(&norm));
        std::fs::remove_dir_all(dir).ok();
    }
}
