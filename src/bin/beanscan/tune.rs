//! `beanscan tune --init imagenet`: the ImageNet-pretrained EfficientNet-Lite0 fine-tuned on
//! labelled beans (all of them, or `--labels N` beans), its kNN references chosen, a bundle
//! written. With `--eval-split` the run also scores kNN on that split for several reference
//! counts per class, so the stored count is a measured choice.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use beanscan::bundle::WeightType;
use beanscan::classifier::{TRAY_VIEWS, load_embedder};
use beanscan::eval::study::{self, Labelled, draw_beans};
use beanscan::eval::{self_label, unknown};
use beanscan::index::ReferenceSet;
use beanscan::lite0::{self, Lite0};
use beanscan::model::{EncoderKind, Lite0Embedder, ModelConfig, Net};
use beanscan::preprocess::PreprocessParams;
use beanscan::train::checkpoint::Checkpointer;
use beanscan::train::export::{self, ExportInput};
use beanscan::train::map_cache::{SavedMaps, ViewJitter};
use beanscan::train::plot;
use beanscan::train::pretrained::{
    MapCache, PairPool, Start, TuneLoss, TuneMaps, TuneOptions, Tuned, imagenet_path, load_imagenet, load_run, same_first_blocks,
    tune,
};
use burn::tensor::Device;
use clap::ValueEnum;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::convert::Weights;
use crate::native::write_json;
use crate::training::{DataArgs, ScheduleArgs, labelled_photos, open_data, report_step as step, write_bundle};

#[derive(Clone, Copy, ValueEnum)]
pub enum Init {
    /// EfficientNet-Lite0's ImageNet weights (`./build.sh imagenet` fetches them).
    Imagenet,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Draw {
    Random,
    Balanced,
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
    /// Keep the frozen blocks' maps in this file, by photo: a run with the same settings reads
    /// the maps of the photos it holds, computes the others and adds them (≈ 1.3 GB for 8 views
    /// of every train photo). Saves the caching time of a resumed run, of another seed, or of a
    /// run on more photos.
    #[arg(long)]
    pub map_cache: Option<PathBuf>,
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

/// Up to `per_class` rows of each class (all when 0) among the `eligible` ones, drawn by `seed`.
fn per_class_rows(labels: &[u16], per_class: usize, seed: u64, eligible: &[bool]) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..labels.len()).collect();
    rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    // Filtered after the shuffle: with every row eligible the draw is the same as without.
    rows.retain(|&r| eligible[r]);
    let mut kept = if per_class == 0 { rows } else { beanscan::eval::first_per_class(rows, |&r| labels[r], per_class) };
    kept.sort_unstable();
    kept
}

pub fn tune_cmd(args: &TuneArgs) -> Result<()> {
    let total = Instant::now();
    if args.input_size % 32 != 0 || args.input_size == 0 {
        bail!("--input-size must be a positive multiple of 32");
    }
    if !(1..=lite0::BLOCKS + 1).contains(&args.blocks) || args.frozen >= args.blocks.min(lite0::BLOCKS) {
        bail!("--blocks must be 1–17 and --frozen below it (and below 16)");
    }
    if args.self_label > 0 && args.labels.is_none() {
        bail!("--self-label needs --labels N: without it every train photo is labelled already");
    }
    if args.pseudo_labels.is_some() && (args.labels.is_none() || args.pairs_weight > 0.0) {
        bail!("--pseudo-labels needs --labels N (without it every train photo is labelled already) and no --pairs-weight");
    }
    if args.pairs_weight > 0.0 && (args.labels.is_none() || args.loss == TuneLoss::Pairs) {
        bail!("--pairs-weight needs --labels N and a labelled loss (cosine or triplet)");
    }
    let device = Device::flex();
    let model = ModelConfig {
        input_size: args.input_size,
        code_dim: args.hidden,
        embed_dim: args.embed_dim,
        encoder: EncoderKind::Lite0 { blocks: args.blocks as u8 },
        ..ModelConfig::default()
    };
    // The ImageNet weights expect RGB scaled to [-1, 1].
    let preprocess = PreprocessParams { input_size: args.input_size as u32, mean: [0.5; 3], std: [0.5; 3] };
    std::fs::create_dir_all(&args.run).with_context(|| format!("creating {}", args.run.display()))?;

    let started = Instant::now();
    let dataset = open_data(&args.data)?;
    // Opened now, so a split that is not there fails before the training, not after it.
    let eval_set = match &args.eval_split {
        Some(split) => Some(open_data(&DataArgs { split: split.clone(), ..args.data.clone() })?),
        None => None,
    };
    let pool = labelled_photos(&dataset, preprocess.input_size);
    let chosen: Vec<usize> = match args.labels {
        Some(n) => match args.draw {
            Draw::Random => draw_beans(&pool.beans, n, args.schedule.seed),
            Draw::Balanced => study::draw_beans_balanced(&pool.beans, &pool.labels, n, args.schedule.seed),
        },
        None => (0..pool.images.len()).collect(),
    };
    let mut train = Labelled {
        images: study::pick(&pool.images, &chosen),
        labels: study::pick(&pool.labels, &chosen),
        beans: study::pick(&pool.beans, &chosen),
        ids: study::pick(&pool.ids, &chosen),
    };
    step(
        &format!(
            "load {} labelled photos ({} used{})",
            pool.images.len(),
            train.images.len(),
            if args.labels.is_some() {
                format!(", {:?} draw: {}", args.draw, class_counts(&dataset.class_names, &train.labels))
            } else {
                String::new()
            }
        ),
        started,
    );
    // Rows of `pool` trained on: the labelled ones, then the self-labelled ones.
    let mut trained = chosen.clone();
    if let Some(path) = &args.pseudo_labels {
        let pseudo = self_label::read_pseudo_labels(path, &pool.ids, &dataset.class_names)?;
        let fresh: Vec<(usize, u16)> = pseudo.into_iter().filter(|(row, _)| chosen.binary_search(row).is_err()).collect();
        for &(row, label) in &fresh {
            train.images.push(pool.images[row].clone());
            train.labels.push(label);
            train.beans.push(pool.beans[row].clone());
            train.ids.push(pool.ids[row].clone());
            trained.push(row);
        }
        let labels: Vec<u16> = fresh.iter().map(|p| p.1).collect();
        eprintln!(
            "  + {} self-labelled photos from {} ({})",
            fresh.len(),
            path.display(),
            class_counts(&dataset.class_names, &labels)
        );
    }

    // Training photos that may be references (all, or those of --refs-rounds): checked before
    // the training, so a round that is not there costs no training run.
    let eligible: Vec<bool> = match &args.refs_rounds {
        None => vec![true; train.ids.len()],
        Some(rounds) => {
            let ids: std::collections::HashSet<String> =
                dataset.samples.iter().filter(|s| rounds.contains(&s.round)).map(|s| s.reference_id()).collect();
            let eligible: Vec<bool> = train.ids.iter().map(|id| ids.contains(id)).collect();
            if !eligible.contains(&true) {
                let mut there: Vec<&str> = dataset.samples.iter().map(|s| s.round.as_str()).collect();
                there.sort_unstable();
                there.dedup();
                bail!("--refs-rounds {}: no training photo of these rounds (rounds: {})", rounds.join(","), there.join(", "));
            }
            eligible
        }
    };
    let started = Instant::now();
    let Init::Imagenet = args.init;
    let imagenet: Lite0 = load_imagenet(&imagenet_path(), args.blocks, &device)?;
    // A start whose frozen blocks are still ImageNet's has the same maps (and cache key).
    let mut same_maps = true;
    let start = match &args.start {
        None => {
            step("ImageNet weights", started);
            Start::Imagenet(imagenet)
        }
        Some(run) => {
            let embedder = load_run(&run.join("tune.ckpt"), &model, args.blocks, &device)?;
            same_maps = same_first_blocks(&imagenet, &embedder.encoder, args.frozen);
            step(&format!("weights of {}", run.display()), started);
            Start::Run(embedder)
        }
    };
    // What the cached maps depend on besides the photos: their size, the frozen blocks and the
    // views.
    let settings_key = format!(
        "{}{} | {}px | frozen {} | views {}{}{}",
        imagenet_path().file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        args.start.as_ref().filter(|_| !same_maps).map(|r| format!(" then {}", r.display())).unwrap_or_default(),
        args.input_size,
        args.frozen,
        args.views,
        if args.low_res { " low-res" } else { "" },
        if args.camera_jitter { " camera-jitter" } else { "" },
    );
    let jitter = ViewJitter { low_res: args.low_res, camera: args.camera_jitter };
    // The maps of these photos: those the map cache file holds are read, the rest computed
    // (and added to the file).
    let cached_maps = |images: &[image::RgbImage], ids: &[String]| -> Result<MapCache> {
        let started = Instant::now();
        let mut saved = match &args.map_cache {
            Some(path) => SavedMaps::load(path, &settings_key)?,
            None => SavedMaps::default(),
        };
        let missing = saved.missing(ids);
        if missing.is_empty() {
            step(&format!("read the cached maps of {} photos", ids.len()), started);
        } else {
            let held = saved.len();
            // Every photo missing (no cache file yet): no copy of the decoded photos.
            let some;
            let photos = if missing.len() == images.len() {
                images
            } else {
                some = study::pick(images, &missing);
                &some
            };
            let built = MapCache::build(start.encoder(), args.frozen, &preprocess, photos, args.views, jitter, &device);
            saved.add(ids, &missing, built);
            step(
                &format!(
                    "cache blocks 1–{} of {} photos × {} views ({held} photos' maps read from the cache file)",
                    args.frozen,
                    missing.len(),
                    args.views
                ),
                started,
            );
            if let Some(path) = &args.map_cache {
                let started = Instant::now();
                saved.save(path, &settings_key)?;
                step(&format!("write the maps of {} photos to {}", saved.len(), path.display()), started);
            }
        }
        Ok(saved.into_maps(ids))
    };
    // With the pair loss beside the labels: the maps of every train photo, the labelled ones
    // taken from them.
    let cache = || -> Result<TuneMaps> {
        if args.pairs_weight > 0.0 {
            let all = cached_maps(&pool.images, &pool.ids)?;
            let labelled = all.subset(&chosen);
            return Ok(TuneMaps { labelled, pairs: Some(PairPool { maps: all, beans: pool.beans.clone() }) });
        }
        Ok(cached_maps(&train.images, &train.ids)?.into())
    };

    let started = Instant::now();
    let options = TuneOptions {
        steps: args.steps,
        batch: args.schedule.batch,
        learning_rate: args.learning_rate,
        seed: args.schedule.seed,
        frozen: args.frozen,
        scale: args.scale,
        loss: args.loss,
        margin: args.margin,
        unfreeze_every: args.unfreeze_every,
        pairs_weight: args.pairs_weight,
        pairs_scale: args.pairs_scale,
    };
    let settings = format!(
        "{model:?}{} | {} split {} round {:?}, {} photos | frozen {} views {}{} lr {} {:?} scale {} margin {} unfreeze every {} batch {} seed {}",
        args.start.as_ref().map(|r| format!(" from {}", r.display())).unwrap_or_default(),
        args.data.data.display(),
        args.data.split,
        args.data.round,
        train.images.len(),
        args.frozen,
        args.views,
        format!("{}{}", if args.low_res { " low-res" } else { "" }, if args.camera_jitter { " camera-jitter" } else { "" }),
        args.learning_rate,
        args.loss,
        args.scale,
        args.margin,
        args.unfreeze_every,
        args.schedule.batch,
        args.schedule.seed
    ) + &if args.pairs_weight > 0.0 {
        format!(" pairs weight {} scale {}", args.pairs_weight, args.pairs_scale)
    } else {
        String::new()
    };
    let checkpoint = Checkpointer::new(args.run.join("tune.ckpt"), settings, args.schedule.checkpoint_every);
    let n_classes = dataset.class_names.len();
    let tuned = tune(&model, &start, cache, &train.labels, &train.beans, n_classes, &options, Some(&checkpoint), &device)?;
    let n = tuned.losses.len().clamp(1, 20);
    let last = tuned.losses.iter().rev().take(n).sum::<f32>() / n as f32;
    step(
        &format!("fine-tune {} steps (loss {:.3} → {last:.3})", tuned.losses.len(), tuned.losses.first().unwrap_or(&f32::NAN)),
        started,
    );
    plot::best_effort(
        "tune-loss.png",
        plot::curves(
            &args.run.join("tune-loss.png"),
            "Fine-tuning the pretrained encoder",
            match args.loss {
                TuneLoss::Cosine => "cosine-softmax cross-entropy",
                TuneLoss::Triplet => "triplet loss",
                TuneLoss::Pairs => "pair loss (InfoNCE)",
            },
            &[("train", &tuned.losses)],
        ),
    );

    let started = Instant::now();
    let Tuned { embedder, class_directions, .. } = tuned;
    let tuned_classes = class_directions;
    let folded = Net::Lite0(Lite0Embedder { encoder: embedder.encoder.fold(), head: embedder.head });
    // References and the kNN table are embedded by the net as the bundle stores it (8-bit by
    // default), so they match what the browser computes for a new photo.
    let weight_type = WeightType::from(args.weights);
    let net = load_embedder(&model, weight_type, &export::weight_bytes(folded, weight_type)?, &device)?;
    // With more views the report leaves out 128 and all references per class (8× the embedding
    // time), unless the bundle stores that many.
    let mut table_counts: Vec<usize> = if args.embed_views == 1 { vec![8, 16, 32, 64, 128, 0] } else { vec![8, 16, 32, 64] };
    if !table_counts.contains(&args.refs_per_class) {
        table_counts.push(args.refs_per_class);
    }
    let table_counts = if args.eval_split.is_some() { table_counts } else { Vec::new() };
    // Only the training photos some reference set takes are embedded (the others stay empty).
    let mut needed = vec![false; train.images.len()];
    let all_labelled = if args.self_label > 0 { Some(&0) } else { None };
    for &per_class in table_counts.iter().chain([&args.refs_per_class]).chain(all_labelled) {
        per_class_rows(&train.labels, per_class, args.schedule.seed, &eligible).into_iter().for_each(|r| needed[r] = true);
    }
    // Photos that calibrate the unknown threshold: labelled, not references.
    let kept = per_class_rows(&train.labels, args.refs_per_class, args.schedule.seed, &eligible);
    let reference_ids: std::collections::HashSet<&str> = kept.iter().map(|&r| train.ids[r].as_str()).collect();
    let calibration = if args.threshold.is_none() {
        // Rows outside --refs-rounds are not references, nor do they set the threshold.
        let others: std::collections::HashSet<&str> =
            (0..train.ids.len()).filter(|&r| !eligible[r]).map(|r| train.ids[r].as_str()).collect();
        let outside = reference_ids.union(&others).copied().collect();
        unknown::calibration_rows(&train.ids, &train.labels, &outside, unknown::CALIBRATION_PER_CLASS, args.schedule.seed)
    } else {
        Vec::new()
    };
    calibration.iter().for_each(|&r| needed[r] = true);
    // Tray beans (the rows outside --refs-rounds) calibrate the tray threshold against the same
    // references; a tray bean is embedded with fewer views than a single-bean photo.
    let tray_calibration = if args.refs_rounds.is_some() && args.tray_threshold.is_none() {
        let single: std::collections::HashSet<&str> =
            (0..train.ids.len()).filter(|&r| eligible[r]).map(|r| train.ids[r].as_str()).collect();
        unknown::calibration_rows(&train.ids, &train.labels, &single, unknown::CALIBRATION_PER_CLASS, args.schedule.seed)
    } else {
        Vec::new()
    };
    let rows: Vec<usize> = (0..needed.len()).filter(|&r| needed[r]).collect();
    let mut embeddings = vec![Vec::new(); train.images.len()];
    let embedded = export::embed_images(&net, &preprocess, &study::pick(&train.images, &rows), args.embed_views, &device);
    rows.iter().zip(embedded).for_each(|(&r, e)| embeddings[r] = e);
    step(&format!("embed {} training photos × {} views", rows.len(), args.embed_views), started);
    let self_labelled = if args.self_label > 0 {
        let started = Instant::now();
        let trained: std::collections::HashSet<usize> = trained.iter().copied().collect();
        let unlabelled: Vec<usize> = (0..pool.images.len()).filter(|i| !trained.contains(i)).collect();
        let photos = export::embed_images(&net, &preprocess, &study::pick(&pool.images, &unlabelled), 1, &device);
        let labelled = study::references(&embeddings, &train.labels, &train.ids);
        let ids = study::pick(&pool.ids, &unlabelled);
        let added = self_label::self_labelled(&labelled, &photos, &ids, args.k as usize, args.self_label);
        // Their own labels, read only to report how often the vote was right.
        let truth: std::collections::HashMap<&str, u16> =
            pool.ids.iter().map(String::as_str).zip(pool.labels.iter().copied()).collect();
        let right = (0..added.len()).filter(|&i| truth[added.ids[i].as_str()] == added.labels[i]).count();
        step(
            &format!(
                "self-label {} of {} unlabelled photos ({}; {:.1} % of them right)",
                added.len(),
                unlabelled.len(),
                class_counts(&dataset.class_names, &added.labels),
                100.0 * right as f64 / added.len().max(1) as f64
            ),
            started,
        );
        let listed = self_label::pseudo_labels_json(&added, &dataset.class_names);
        write_json(&args.run.join("self-labelled.json"), &listed)?;
        added
    } else {
        ReferenceSet::new(args.embed_dim)
    };
    if let (Some(eval_set), Some(split)) = (&eval_set, &args.eval_split) {
        let started = Instant::now();
        let evaluated = labelled_photos(eval_set, preprocess.input_size);
        let queries = export::embed_images(&net, &preprocess, &evaluated.images, args.embed_views, &device);
        let mut rows = Vec::new();
        // The cosine-softmax classifier itself: the nearest class direction.
        let dim = args.embed_dim;
        let softmax: Vec<u16> = queries
            .iter()
            .map(|q| {
                let score = |c: usize| tuned_classes[c * dim..(c + 1) * dim].iter().zip(q).map(|(a, b)| a * b).sum::<f32>();
                (0..n_classes).max_by(|&a, &b| score(a).total_cmp(&score(b))).unwrap_or(0) as u16
            })
            .collect();
        let report = beanscan::eval::metrics::Report::new(&dataset.class_names, &evaluated.labels, &softmax, None);
        eprintln!("  {split}: softmax (nearest class direction): {}", report.summary());
        rows.push(serde_json::json!({
            "method": "softmax", "views": args.embed_views, "macro_f1": report.macro_f1, "accuracy": report.accuracy,
            "normal_vs_defect": report.normal_vs_defect,
        }));
        for &per_class in &table_counts {
            let kept = per_class_rows(&train.labels, per_class, args.schedule.seed, &eligible);
            let labelled = study::references(
                &study::pick(&embeddings, &kept),
                &study::pick(&train.labels, &kept),
                &study::pick(&train.ids, &kept),
            );
            // With --self-label: each row without and with the self-labelled references.
            let sets = if self_labelled.is_empty() {
                vec![labelled]
            } else {
                vec![labelled.clone(), self_label::joined(&labelled, &self_labelled)]
            };
            for refs in sets {
                let added = refs.len() - kept.len();
                for k in [1, 5, 10] {
                    let report = study::knn_report(&dataset.class_names, &refs, &queries, &evaluated.labels, k, f32::INFINITY);
                    eprintln!(
                        "  {split}: {per_class:>3} refs/class + {added} self-labelled ({} refs), k {k:>2}: {}",
                        refs.len(),
                        report.summary()
                    );
                    rows.push(serde_json::json!({
                        "method": "knn", "refs_per_class": per_class, "references": refs.len(), "k": k, "views": args.embed_views,
                        "self_labelled": added,
                        "macro_f1": report.macro_f1, "accuracy": report.accuracy,
                        "normal_vs_defect": report.normal_vs_defect,
                    }));
                }
            }
        }
        write_json(&args.run.join(format!("knn-{split}.json")), &serde_json::Value::Array(rows))?;
        step(&format!("kNN on {} {split} photos", evaluated.images.len()), started);
    }

    let started = Instant::now();
    let references: ReferenceSet = self_label::joined(
        &study::references(&study::pick(&embeddings, &kept), &study::pick(&train.labels, &kept), &study::pick(&train.ids, &kept)),
        &self_labelled,
    );
    let threshold = match args.threshold {
        Some(t) => t,
        None if calibration.is_empty() => {
            eprintln!("  no labelled photo outside the references to calibrate the unknown threshold: 1.0 (pass --threshold)");
            1.0
        }
        None => {
            let photos = study::pick(&embeddings, &calibration);
            let check =
                unknown::calibrate(&references, &photos, &study::pick(&train.labels, &calibration), args.unknown_quantile);
            eprintln!("  {}", check.calibration_line());
            write_json(&args.run.join("unknown.json"), &serde_json::to_value(&check)?)?;
            check.threshold
        }
    };
    let tray_threshold = match args.tray_threshold {
        Some(t) => Some(t),
        None if tray_calibration.is_empty() => None,
        None => {
            let started = Instant::now();
            let photos =
                export::embed_images(&net, &preprocess, &study::pick(&train.images, &tray_calibration), TRAY_VIEWS, &device);
            let labels = study::pick(&train.labels, &tray_calibration);
            let check = unknown::calibrate(&references, &photos, &labels, args.unknown_quantile);
            eprintln!("  tray beans: {}", check.calibration_line());
            write_json(&args.run.join("unknown-tray.json"), &serde_json::to_value(&check)?)?;
            step(&format!("calibrate the tray threshold on {} tray beans × {TRAY_VIEWS} view", photos.len()), started);
            Some(check.threshold)
        }
    };
    let bundle = export::bundle(ExportInput {
        description: format!(
            "EfficientNet-Lite0 (ImageNet{}) fine-tuned ({:?} loss{}), {}px, {} blocks, {} labelled photos, {} references ({} self-labelled; {} views), seed {}",
            args.start.as_ref().map(|r| format!(", then {}", r.display())).unwrap_or_default(),
            args.loss,
            if args.pairs_weight > 0.0 {
                format!(" + pair loss × {} on {} unlabelled photos", args.pairs_weight, pool.images.len())
            } else {
                String::new()
            },
            args.input_size,
            args.blocks,
            train.images.len(),
            references.len(),
            self_labelled.len(),
            args.embed_views,
            args.schedule.seed
        ),
        model: &model,
        preprocess: &preprocess,
        class_names: dataset.class_names.clone(),
        embedder: net,
        references,
        default_k: args.k,
        default_threshold: threshold,
        tray_threshold,
        default_views: args.embed_views,
        seed: args.schedule.seed,
        weight_type,
    })?;
    let size = write_bundle(&args.out, &bundle)?;
    step(&format!("export {} ({size} bytes)", args.out.display()), started);
    step("whole run", total);
    Ok(())
}

/// "Normal 12, Broken 20, …": photos per class.
fn class_counts(class_names: &[String], labels: &[u16]) -> String {
    class_names
        .iter()
        .enumerate()
        .map(|(c, name)| format!("{name} {}", labels.iter().filter(|&&l| usize::from(l) == c).count()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_come_from_eligible_rows_only_and_the_full_draw_is_unchanged_by_the_filter() {
        let labels: Vec<u16> = (0..40).map(|i| (i % 2) as u16).collect();
        let all = vec![true; labels.len()];
        let drawn = per_class_rows(&labels, 3, 7, &all);
        assert_eq!(drawn.len(), 6);
        // Rows 0–19 only (as the single-bean photos among tray beans).
        let first_half: Vec<bool> = (0..labels.len()).map(|r| r < 20).collect();
        let kept = per_class_rows(&labels, 3, 7, &first_half);
        assert_eq!(kept.len(), 6);
        assert!(kept.iter().all(|&r| r < 20), "{kept:?}");
        // The eligible rows the full draw took stay taken: the filter only skips the others.
        assert!(drawn.iter().filter(|&&r| r < 20).all(|r| kept.contains(r)), "{drawn:?} vs {kept:?}");
        // A class with no eligible row gets no reference.
        let evens: Vec<bool> = (0..labels.len()).map(|r| r % 2 == 0).collect();
        assert!(per_class_rows(&labels, 3, 7, &evens).iter().all(|&r| labels[r] == 0));
    }
}
