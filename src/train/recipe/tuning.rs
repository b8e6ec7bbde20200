//! Fine-tune: the encoder's upper blocks and the projection head trained on the cached maps,
//! checkpointed (an interrupted run resumes), with its loss curve.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;

use super::Recipe;
use super::maps::{self, Started};
use super::sources::Sources;
use crate::model::ModelConfig;
use crate::preprocess::PreprocessParams;
use crate::train::checkpoint::Checkpointer;
use crate::train::plot;
use crate::train::pretrained::{TuneLoss, Tuned, tune};
use crate::train::progress::report_step as step;

pub(super) fn fine_tune(
    recipe: &Recipe,
    model: &ModelConfig,
    started: &Started,
    sources: &Sources,
    preprocess: &PreprocessParams,
    device: &Device,
) -> Result<Tuned> {
    let time = Instant::now();
    let checkpoint = Checkpointer::new(recipe.run.join("tune.ckpt"), settings(recipe, model, sources), recipe.checkpoint_every);
    let maps = || maps::tune_maps(recipe, started, sources, preprocess, device);
    let train = &sources.train;
    let n_classes = sources.dataset.class_names.len();
    let tuned =
        tune(model, &started.start, maps, &train.labels, &train.beans, n_classes, &recipe.tune, Some(&checkpoint), device)?;
    step(&loss_words(&tuned.losses), time);
    plot::best_effort(
        "tune-loss.png",
        plot::curves(
            &recipe.run.join("tune-loss.png"),
            "Fine-tuning the pretrained encoder",
            match recipe.tune.loss {
                TuneLoss::Cosine => "cosine-softmax cross-entropy",
                TuneLoss::Triplet => "triplet loss",
                TuneLoss::Pairs => "pair loss (InfoNCE)",
            },
            &[("train", &tuned.losses)],
        ),
    );
    Ok(tuned)
}

/// The steps run and the loss from first to last (mean of the last 20), or that none ran.
fn loss_words(losses: &[f32]) -> String {
    let Some(first) = losses.first() else { return "fine-tune: no steps (the start net as it is)".into() };
    let n = losses.len().min(20);
    let last = losses.iter().rev().take(n).sum::<f32>() / n as f32;
    format!("fine-tune {} steps (loss {first:.3} → {last:.3})", losses.len())
}

/// Everything the checkpoint depends on: a resumed run with other settings starts afresh.
fn settings(recipe: &Recipe, model: &ModelConfig, sources: &Sources) -> String {
    let o = &recipe.tune;
    format!(
        "{model:?}{} | {} split {} round {:?}, {} photos | frozen {} views {}{} lr {} {:?} scale {} margin {} unfreeze every {} batch {} seed {}",
        recipe.start_words(" from"),
        recipe.data.data.display(),
        recipe.data.split,
        recipe.data.round,
        sources.train.images.len(),
        o.frozen,
        recipe.views,
        recipe.jitter.words() + &recipe.preprocess_words(),
        o.learning_rate,
        o.loss,
        o.scale,
        o.margin,
        o.unfreeze_every,
        o.batch,
        o.seed
    ) + &if o.pairs_weight > 0.0 { format!(" pairs weight {} scale {}", o.pairs_weight, o.pairs_scale) } else { String::new() }
        + &if o.distill_weight > 0.0 {
            let half = match (o.distill_half_as_taken, o.distill_labels_as_taken) {
                (true, true) => " half as taken, labels as taken only",
                (true, false) => " half as taken",
                _ => "",
            };
            format!(" distill {}{half}", o.distill_weight)
        } else {
            String::new()
        }
}

#[cfg(test)]
mod tests {
    use super::loss_words;

    #[test]
    fn the_loss_line_says_when_no_step_ran() {
        assert_eq!(loss_words(&[2.0, 1.0]), "fine-tune 2 steps (loss 2.000 → 1.500)");
        assert!(loss_words(&[]).contains("no steps"), "{}", loss_words(&[]));
    }
}
