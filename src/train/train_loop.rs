//! The optimisation loop shared by pretraining and the supervised baseline: Adam, the loss
//! history, resuming from and saving checkpoints, and progress.

use anyhow::Result;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::checkpoint::Checkpointer;
use super::progress::{Progress, progress};

pub struct TrainLoop<'a> {
    optimizer: ModuleOptimizer,
    /// Loss of every step so far (including steps before a resume).
    pub losses: Vec<f32>,
    steps: usize,
    learning_rate: f64,
    checkpoint: Option<&'a Checkpointer>,
    bar: Progress,
    what: &'static str,
}

impl<'a> TrainLoop<'a> {
    /// Builds the model with `fresh`, or restores it and the optimizer from `checkpoint`. Returns
    /// the model, the loop, and the first step still to run.
    pub fn start<M: Module>(
        fresh: impl Fn() -> M,
        steps: usize,
        learning_rate: f64,
        checkpoint: Option<&'a Checkpointer>,
        what: &'static str,
    ) -> Result<(M, Self, usize)> {
        let (model, optimizer, start, losses) =
            match checkpoint.map(|c| c.resume(&fresh, AdamConfig::new().init())).transpose()?.flatten() {
                Some(r) => {
                    if r.step < steps {
                        eprintln!("{what}: resuming at step {} of {steps}", r.step);
                    }
                    (r.model, r.optimizer, r.step, r.losses)
                }
                None => (fresh(), AdamConfig::new().init(), 0, Vec::with_capacity(steps)),
            };
        let bar = progress(steps as u64, what);
        bar.set_position(start.min(steps) as u64);
        Ok((model, Self { optimizer, losses, steps, learning_rate, checkpoint, bar, what }, start))
    }

    /// Backward pass and Adam update for step `step` (0-based); saves a checkpoint when due.
    pub fn step<M: Module>(&mut self, model: M, loss: Tensor<1>, step: usize) -> Result<M> {
        let value: f32 = loss.clone().into_scalar();
        self.losses.push(value);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = self.optimizer.step(self.learning_rate, model, grads);
        if let Some(c) = self.checkpoint.filter(|c| c.due(step + 1, self.steps)) {
            self.bar.suspend(|| c.save(&model, &self.optimizer, step + 1, &self.losses))?;
        }
        self.bar.set_message(format!("{} {value:.4}", self.what));
        self.bar.inc(1);
        Ok(model)
    }

    /// Learning rate for the following steps (for a schedule).
    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    pub fn finish(self) -> Vec<f32> {
        self.bar.finish_and_clear();
        self.losses
    }
}
