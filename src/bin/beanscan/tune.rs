//! `beanscan tune --init imagenet`: the ImageNet-pretrained EfficientNet-Lite0 fine-tuned on
//! labelled beans (all of them, or `--labels N` beans), its kNN references chosen, a bundle
//! written. With `--eval-split` the run also scores kNN on that split for several reference
//! counts per class, so the stored count is a measured choice. The recipe itself is
//! `beanscan::train::recipe`; this file only reads the arguments.

use std::path::PathBuf;

use anyhow::Result;
use beanscan::bundle::WeightType;
use beanscan::eval::unknown;
use beanscan::train::map_cache::ViewJitter;
use beanscan::train::pretrained::{TuneLoss, TuneOptions};
use beanscan::train::recipe::{self, Blend, Draw, Recipe};
use clap::ValueEnum;

use crate::convert::Weights;
use crate::training::{DataArgs, ScheduleArgs};

#[derive(Clone, Copy, ValueEnum)]
pub enum Init {
    /// EfficientNet-Lite0's ImageNet weights (`./build.sh imagenet` fetches them).
    Imagenet,
}

#[derive(clap::Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Where the encoder's weights start from.
    #[arg(long, value_enum, default_value_t = Init::Imagenet)]
    pub init: Init,
    /// Start from the finished checkpoint (`tune.ckpt`) of this earlier run instead (its
    /// encoder and projection head), e.g. one adapted without labels (`--loss pairs`); the
    /// network settings must match it.
    #[arg(long)]
    pub start: Option<PathBuf>,
    /// With --start: first move every weight of its net (and every BatchNorm statistic) part of
    /// the way toward this other run's net, e.g. one fine-tuned from the same start with the
    /// camera jitter; with `--steps 0` the blend is the bundle, no training.
    #[arg(long, requires = "start")]
    pub blend_with: Option<PathBuf>,
    /// With --blend-with: how far toward it (0: the --start net, 1: the other one).
    #[arg(long, default_value_t = 0.5, requires = "blend_with")]
    pub blend: f32,
    /// Run folder: checkpoint, loss curve, kNN report.
    #[arg(long, default_value = "runs/lite0")]
    pub run: PathBuf,
    #[arg(long, default_value_t = 128)]
    pub input_size: usize,
    /// Cut the network after this many blocks (1–16; 17 keeps the 1280-channel head conv).
    #[arg(long, default_value_t = 17)]
    pub blocks: usize,
    /// Blocks that keep their ImageNet weights (their feature maps are cached once).
    #[arg(long, default_value_t = 5)]
    pub frozen: usize,
    /// Views cached per photo: 8 = every flip and quarter turn of the photo (8× the caching
    /// time and memory), 1 = the photo as is, turned in feature space at each step.
    #[arg(long, default_value_t = 8)]
    pub views: u8,
    /// With 8 views: the four mirrored ones shrunk to 30–48 px and enlarged back, as beans cut
    /// from tray photos (25–40 px across) are.
    #[arg(long)]
    pub low_res: bool,
    /// With 8 views: the seven turned views as other cameras would take them (white balance,
    /// exposure, gamma, saturation, focus, noise, JPEG quality drawn per photo and view).
    #[arg(long)]
    pub camera_jitter: bool,
    /// Colour constancy: each photo's channels scaled so the background around the bean (the
    /// paper, tray or rig) is the same white whatever the camera's white balance and exposure;
    /// kept in the bundle, so the page does the same.
    #[arg(long)]
    pub white_reference: bool,
    /// Each bean's ground (paper, pad, rig, towel) painted one plain grey before the net sees
    /// it, so a ground it never saw does not move the bean; kept in the bundle, so the page does
    /// the same.
    #[arg(long)]
    pub plain_background: bool,
    /// With --camera-jitter: only the three quarter turns jittered, the four mirrored views
    /// kept as the photo was taken.
    #[arg(long, requires = "camera_jitter")]
    pub clean_mirrors: bool,
    /// Keep the frozen blocks' maps in this file, by photo: a run with the same settings reads
    /// the maps of the photos it holds, computes the others and adds them (≈ 1.3 GB for 8 views
    /// of every train photo). Saves the caching time of a resumed run, of another seed, or of a
    /// run on more photos.
    #[arg(long)]
    pub map_cache: Option<PathBuf>,
    /// With --start and a jitter: pull each drawn view's embedding toward the start run's
    /// embedding of the same view as taken, with this weight beside the labelled loss, so the
    /// trained camera keeps its place while other cameras' views learn to land on it (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub distill: f32,
    /// With --distill: keep the maps of the views as taken in this file (as --map-cache keeps
    /// the jittered ones; a plain run's --map-cache file serves).
    #[arg(long, requires = "distill")]
    pub distill_map_cache: Option<PathBuf>,
    /// With --distill: train the first half of each batch on the views as taken (the other
    /// half jittered), so the trained camera's photos are held to the start net directly.
    #[arg(long, requires = "distill")]
    pub distill_half_as_taken: bool,
    /// With --distill-half-as-taken: the labelled loss reads the views as taken only; the
    /// jittered half learns from the start net's pull alone.
    #[arg(long, requires = "distill_half_as_taken")]
    pub distill_labels_as_taken: bool,
    /// Labelled beans to train on (both faces); all when omitted.
    #[arg(long)]
    pub labels: Option<usize>,
    /// How the `--labels` beans are drawn: at random, or as evenly over the classes as the
    /// photos allow (as someone collecting reference beans class by class would).
    #[arg(long, value_enum, default_value_t = Draw::Random)]
    pub draw: Draw,
    /// With `--labels`: label the other train photos by the vote of their k (`--k`) nearest
    /// labelled photos, without reading their own labels, and add up to this many per class as
    /// references, unanimous ones nearest their neighbours first (one view each; 0: none).
    #[arg(long, default_value_t = 0)]
    pub self_label: usize,
    /// With `--labels`: also train on the unlabelled train photos this file names, with the
    /// classes it gives them (`RUN/self-labelled.json` of a `--self-label` run, whose labelled
    /// beans must be the same): self-training. Their own labels are not read.
    #[arg(long)]
    pub pseudo_labels: Option<PathBuf>,
    #[arg(long, default_value_t = 1200)]
    pub steps: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    #[arg(long, value_enum, default_value_t = TuneLoss::Cosine)]
    pub loss: TuneLoss,
    /// Cosine-softmax scale (`--loss cosine`).
    #[arg(long, default_value_t = 16.0)]
    pub scale: f32,
    /// Triplet margin (`--loss triplet`).
    #[arg(long, default_value_t = 0.2)]
    pub margin: f32,
    /// Gradual unfreezing: the projection head alone first, then one more stage of the encoder
    /// every this many steps (0: every block above --frozen trains from the start).
    #[arg(long, default_value_t = 0)]
    pub unfreeze_every: usize,
    /// With `--labels`: also train the label-free pair loss (`--loss pairs`) on every train
    /// photo at each step, with this weight beside the labelled loss (0: none). Their labels are
    /// not read; the maps of every train photo are cached (`--map-cache` keeps them).
    #[arg(long, default_value_t = 0.0)]
    pub pairs_weight: f32,
    /// Scale (1/temperature) of that pair loss.
    #[arg(long, default_value_t = 10.0)]
    pub pairs_scale: f32,
    #[arg(long, default_value_t = 128)]
    pub embed_dim: usize,
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// References only from the photos of these collection rounds (manifest column `round`,
    /// comma-separated), e.g. the single-bean photos' when tray beans train the net too: those
    /// vote on photos of another camera. Classes with no photo there get no reference.
    #[arg(long, value_delimiter = ',')]
    pub refs_rounds: Option<Vec<String>>,
    /// References stored in the bundle per class (photos, drawn by seed); 0 = every one.
    #[arg(long, default_value_t = 32)]
    pub refs_per_class: usize,
    /// Also score kNN on this split (several reference counts per class) and write
    /// `RUN/knn-SPLIT.json`.
    #[arg(long)]
    pub eval_split: Option<String>,
    #[arg(long, default_value = "bundle/default.beanscan")]
    pub out: PathBuf,
    /// How the bundle stores the weights (the kNN report and the references use the same).
    /// A finished run is re-exported without training: rerun with another value and `--out`.
    #[arg(long, value_enum, default_value = "int8")]
    pub weights: Weights,
    #[arg(long, default_value_t = 5)]
    pub k: u32,
    /// Distance beyond which a photo is unknown (default: calibrated, see --unknown-quantile).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Without --threshold: the threshold keeps this share of labelled train photos that are
    /// not references within it (up to 100 per class); `RUN/unknown.json` says how many photos
    /// of a class left out of the references it flags.
    #[arg(long, default_value_t = unknown::DEFAULT_QUANTILE)]
    pub unknown_quantile: f32,
    /// Without --threshold: calibrate it on those photos as other cameras would take them (one
    /// camera drawn per photo, as --camera-jitter draws one per view), so that it keeps an
    /// unseen camera's known beans within it rather than only the trained camera's.
    #[arg(long, conflicts_with = "threshold")]
    pub calibrate_jittered: bool,
    /// Distance beyond which a bean of a tray photo is unknown. Default with --refs-rounds:
    /// calibrated as --threshold is, on the labelled train photos outside those rounds (the
    /// tray beans `tray-crops` cut), each embedded as the tray path embeds a bean
    /// (`RUN/unknown-tray.json`); without: none stored, tray beans use the single-bean one.
    #[arg(long)]
    pub tray_threshold: Option<f32>,
    /// Flips/turns each photo's embedding averages over (1, 2, 4 or 8), for the references,
    /// the kNN report and, stored in the bundle, every photo labelled with it. With more than
    /// one the report leaves out 128 and all references per class (8× the embedding time)
    /// unless `--refs-per-class` is one of them.
    #[arg(long, default_value_t = 8, value_parser = crate::native::views_arg())]
    pub embed_views: u8,
}

impl TuneArgs {
    /// The recipe these arguments describe.
    fn recipe(&self) -> Recipe {
        let Init::Imagenet = self.init;
        Recipe {
            data: self.data.source(),
            start: self.start.clone(),
            blend: self.blend_with.clone().map(|run| Blend { run, weight: self.blend }),
            run: self.run.clone(),
            input_size: self.input_size,
            blocks: self.blocks,
            views: self.views,
            jitter: ViewJitter { low_res: self.low_res, camera: self.camera_jitter, clean_mirrors: self.clean_mirrors },
            white_reference: self.white_reference,
            plain_background: self.plain_background,
            map_cache: self.map_cache.clone(),
            distill_map_cache: self.distill_map_cache.clone(),
            labels: self.labels,
            draw: self.draw,
            self_label: self.self_label,
            pseudo_labels: self.pseudo_labels.clone(),
            tune: TuneOptions {
                steps: self.steps,
                batch: self.schedule.batch,
                learning_rate: self.learning_rate,
                seed: self.schedule.seed,
                frozen: self.frozen,
                scale: self.scale,
                loss: self.loss,
                margin: self.margin,
                unfreeze_every: self.unfreeze_every,
                pairs_weight: self.pairs_weight,
                pairs_scale: self.pairs_scale,
                distill_weight: self.distill,
                distill_half_as_taken: self.distill_half_as_taken,
                distill_labels_as_taken: self.distill_labels_as_taken,
            },
            embed_dim: self.embed_dim,
            hidden: self.hidden,
            checkpoint_every: self.schedule.checkpoint_every,
            refs_rounds: self.refs_rounds.clone(),
            refs_per_class: self.refs_per_class,
            eval_split: self.eval_split.clone(),
            out: self.out.clone(),
            weight_type: WeightType::from(self.weights),
            k: self.k,
            threshold: self.threshold,
            unknown_quantile: self.unknown_quantile,
            calibrate_jittered: self.calibrate_jittered,
            tray_threshold: self.tray_threshold,
            embed_views: self.embed_views,
        }
    }
}

pub fn tune_cmd(args: &TuneArgs) -> Result<()> {
    recipe::run(&args.recipe())
}
