//! The shipped bundle's recipe (`beanscan tune`): the ImageNet-pretrained EfficientNet-Lite0
//! fine-tuned on labelled beans, its kNN references chosen, unknown thresholds calibrated and a
//! bundle written. [`run`] reads as the stages it runs, in order:
//! data sources → maps → fine-tune → references → calibration → bundle.

mod calibration;
mod knn_table;
mod maps;
mod references;
mod sources;
mod tuning;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;

use super::export::{self, ExportInput};
use super::map_cache::ViewJitter;
use super::output::write_bundle;
use super::pretrained::{TuneLoss, TuneOptions};
use super::progress::report_step as step;
use crate::bundle::WeightType;
use crate::lite0;
use crate::model::{EncoderKind, ModelConfig};
use crate::preprocess::PreprocessParams;

pub use self::sources::Draw;

/// Another run's net, and how far toward it the start net moves (0: not at all, 1: all the way).
pub struct Blend {
    pub run: PathBuf,
    pub weight: f32,
}

/// Everything a run is told (the CLI's `tune` arguments, parsed).
pub struct Recipe {
    pub data: super::data::DataSource,
    /// Start from the finished checkpoint (`tune.ckpt`) of this earlier run instead of ImageNet.
    pub start: Option<PathBuf>,
    /// With `start`: its net moved part of the way toward this other run's net first.
    pub blend: Option<Blend>,
    /// Run folder: checkpoint, loss curve, kNN report, calibration reports.
    pub run: PathBuf,
    pub input_size: usize,
    /// The network cut after this many blocks (1–16; 17 keeps the 1280-channel head conv).
    pub blocks: usize,
    /// Views cached per photo (8: every flip and quarter turn; 1: the photo as is).
    pub views: u8,
    /// How the cached views other than the photo as is are changed.
    pub jitter: ViewJitter,
    /// Colour constancy from the background ([`PreprocessParams::white_reference`]).
    pub white_reference: bool,
    /// The ground around each bean painted plain ([`PreprocessParams::plain_background`]).
    pub plain_background: bool,
    /// Where the frozen blocks' maps are kept between runs.
    pub map_cache: Option<PathBuf>,
    /// With distillation: where the maps of the views as taken (no jitter) are kept.
    pub distill_map_cache: Option<PathBuf>,
    /// Labelled beans to train on (all when `None`), drawn as `draw` says.
    pub labels: Option<usize>,
    pub draw: Draw,
    /// Self-labelled references added per class (0: none).
    pub self_label: usize,
    /// Unlabelled train photos to train on with the classes this file gives them.
    pub pseudo_labels: Option<PathBuf>,
    /// Steps, batch, learning rate, seed, frozen blocks and the loss.
    pub tune: TuneOptions,
    pub embed_dim: usize,
    pub hidden: usize,
    pub checkpoint_every: usize,
    /// References only from the photos of these collection rounds.
    pub refs_rounds: Option<Vec<String>>,
    /// References stored per class; 0 = every one.
    pub refs_per_class: usize,
    /// Also score kNN on this split and write `RUN/knn-SPLIT.json`.
    pub eval_split: Option<String>,
    pub out: PathBuf,
    pub weight_type: WeightType,
    pub k: u32,
    /// The unknown threshold (calibrated at `unknown_quantile` when `None`).
    pub threshold: Option<f32>,
    pub unknown_quantile: f32,
    /// Calibrate the single-bean threshold on the photos as other cameras take them.
    pub calibrate_jittered: bool,
    /// The tray beans' unknown threshold (calibrated on tray beans when `None` and
    /// `refs_rounds` is set).
    pub tray_threshold: Option<f32>,
    /// Flips/turns each photo's embedding averages over.
    pub embed_views: u8,
}

impl Recipe {
    /// Settings that cannot work, refused before anything is read.
    fn check(&self) -> Result<()> {
        if !self.input_size.is_multiple_of(32) || self.input_size == 0 {
            bail!("--input-size must be a positive multiple of 32");
        }
        if !(1..=lite0::BLOCKS + 1).contains(&self.blocks) || self.tune.frozen >= self.blocks.min(lite0::BLOCKS) {
            bail!("--blocks must be 1–17 and --frozen below it (and below 16)");
        }
        if self.self_label > 0 && self.labels.is_none() {
            bail!("--self-label needs --labels N: without it every train photo is labelled already");
        }
        if self.pseudo_labels.is_some() && (self.labels.is_none() || self.tune.pairs_weight > 0.0) {
            bail!("--pseudo-labels needs --labels N (without it every train photo is labelled already) and no --pairs-weight");
        }
        if self.tune.pairs_weight > 0.0 && (self.labels.is_none() || self.tune.loss == TuneLoss::Pairs) {
            bail!("--pairs-weight needs --labels N and a labelled loss (cosine or triplet)");
        }
        let jittered = self.jitter.camera || self.jitter.low_res;
        if self.tune.distill_weight > 0.0 && (self.start.is_none() || !jittered || self.tune.pairs_weight > 0.0) {
            bail!("--distill needs --start (its net is the teacher), a jitter of the views, and no --pairs-weight");
        }
        if self.blend.is_some() && self.start.is_none() {
            bail!("--blend-with needs --start (the net it blends with)");
        }
        Ok(())
    }

    /// The net the run starts from, after `lead`: `{lead} RUN` or `{lead} RUN blended 0.5 with
    /// OTHER`; nothing when it starts from ImageNet.
    fn start_words(&self, lead: &str) -> String {
        let Some(start) = &self.start else { return String::new() };
        match &self.blend {
            Some(b) => format!("{lead} {} blended {} with {}", start.display(), b.weight, b.run.display()),
            None => format!("{lead} {}", start.display()),
        }
    }

    fn model(&self) -> ModelConfig {
        ModelConfig {
            input_size: self.input_size,
            code_dim: self.hidden,
            embed_dim: self.embed_dim,
            encoder: EncoderKind::Lite0 { blocks: self.blocks as u8 },
            ..ModelConfig::default()
        }
    }

    /// How the run's settings name the white reference and the plain background, in map-cache
    /// keys and reports.
    fn preprocess_words(&self) -> String {
        let words = [(self.white_reference, " white-reference"), (self.plain_background, " plain-background")];
        words.into_iter().filter(|&(on, _)| on).map(|(_, w)| w).collect()
    }

    /// The ImageNet weights expect RGB scaled to [-1, 1].
    fn preprocess(&self) -> PreprocessParams {
        PreprocessParams {
            input_size: self.input_size as u32,
            mean: [0.5; 3],
            std: [0.5; 3],
            white_reference: self.white_reference,
            plain_background: self.plain_background,
        }
    }
}

/// Trains, chooses the references, calibrates and writes the bundle, step by step on stderr.
pub fn run(recipe: &Recipe) -> Result<()> {
    let total = Instant::now();
    recipe.check()?;
    let device = Device::flex();
    let model = recipe.model();
    let preprocess = recipe.preprocess();
    std::fs::create_dir_all(&recipe.run).with_context(|| format!("creating {}", recipe.run.display()))?;

    let sources = sources::load(recipe, &preprocess)?;
    let start = maps::start(recipe, &model, &device)?;
    let tuned = tuning::fine_tune(recipe, &model, &start, &sources, &preprocess, &device)?;
    let chosen = references::choose(recipe, &sources, tuned, &model, &preprocess, &device)?;
    let thresholds = calibration::thresholds(recipe, &sources, &chosen, &preprocess, &device)?;

    let started = Instant::now();
    let bundle = export::bundle(ExportInput {
        description: description(recipe, &sources, &chosen),
        model: &model,
        preprocess: &preprocess,
        class_names: sources.dataset.class_names.clone(),
        embedder: chosen.net,
        references: chosen.references,
        default_k: recipe.k,
        default_threshold: thresholds.single,
        tray_threshold: thresholds.tray,
        default_views: recipe.embed_views,
        seed: recipe.tune.seed,
        weight_type: recipe.weight_type,
    })?;
    let size = write_bundle(&recipe.out, &bundle)?;
    step(&format!("export {} ({size} bytes)", recipe.out.display()), started);
    step("whole run", total);
    Ok(())
}

/// What the bundle says of how it was made (Settings → details on the page).
fn description(recipe: &Recipe, sources: &sources::Sources, chosen: &references::Chosen) -> String {
    format!(
        "EfficientNet-Lite0 (ImageNet{}) fine-tuned ({:?} loss{}), {}px, {} blocks, {} labelled photos, {} references ({} self-labelled; {} views), seed {}",
        recipe.start_words(", then"),
        recipe.tune.loss,
        if recipe.tune.pairs_weight > 0.0 {
            format!(" + pair loss × {} on {} unlabelled photos", recipe.tune.pairs_weight, sources.pool.images.len())
        } else {
            String::new()
        },
        recipe.input_size,
        recipe.blocks,
        sources.train.images.len(),
        chosen.references.len(),
        chosen.self_labelled.len(),
        recipe.embed_views,
        recipe.tune.seed
    )
}
