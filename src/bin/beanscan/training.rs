//! `pretrain`, `train`, `supervised` and `study`: the training pipeline and the method study.
//! A run folder (`--run`) keeps what a step produces — model shape, checkpoints, figures — so an
//! interrupted step resumes and later steps reuse earlier ones.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use beanscan::bundle::WeightType;
use beanscan::eval::metrics::Report;
use beanscan::eval::study::{self, Codes, MeanSd, draw_beans};
use beanscan::model::{Autoencoder, Embedder, ModelConfig, Net};
use beanscan::preprocess::PreprocessParams;
use beanscan::train::checkpoint::{Checkpointer, load_model};
use beanscan::train::data::{DataSource, Dataset, labelled_photos, load_images};
use beanscan::train::export::{self, ExportInput};
use beanscan::train::finetune::{FinetuneOptions, view_codes, view_features};
use beanscan::train::mining::Mining;
use beanscan::train::pretrain::{PretrainOptions, pretrain, reconstructions};
use beanscan::train::supervised::{self, SupervisedNet, SupervisedOptions};
use beanscan::train::{forward_rows, plot};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::native::write_json;

/// Which photos a step reads.
#[derive(clap::Args, Clone)]
pub struct DataArgs {
    /// Folder with manifest.csv, or a folder of class folders.
    #[arg(long)]
    pub data: PathBuf,
    /// Manifest split to train on.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Only rows of this collection round (manifest column `round`, e.g. r1).
    #[arg(long)]
    pub round: Option<String>,
}

#[derive(clap::Args)]
pub struct PretrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder: checkpoints, figures and the model shape go here.
    #[arg(long, default_value = "runs/default")]
    pub run: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub input_size: usize,
    #[arg(long, default_value_t = 16)]
    pub width: usize,
    /// Use at most this many photos (default: every face of the split, labelled or not).
    #[arg(long)]
    pub max_images: Option<usize>,
    #[arg(long, default_value_t = 2500)]
    pub pretrain_steps: usize,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

/// Batching, seed and checkpointing of a resumable training step.
#[derive(clap::Args)]
pub struct ScheduleArgs {
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Fixes weight initialisation, batches and label draws: a rerun gives the same numbers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save a checkpoint every this many steps.
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
}

#[derive(clap::Args)]
pub struct FinetuneArgs {
    /// Labelled beans drawn at random (both faces) for fine-tuning and as references.
    #[arg(long, default_value_t = 200)]
    pub labels: usize,
    #[arg(long, default_value_t = 600)]
    pub finetune_steps: usize,
    #[arg(long, value_enum, default_value_t = Mining::HardGuarded)]
    pub mining: Mining,
    #[arg(long, default_value_t = 0.2)]
    pub margin: f32,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub pretrain: PretrainArgs,
    #[command(flatten)]
    pub finetune: FinetuneArgs,
    /// Where to write the bundle.
    #[arg(long, default_value = "bundle/default.beanscan")]
    pub out: PathBuf,
    /// Store weights as 16-bit floats (half the size).
    #[arg(long, conflicts_with = "int8")]
    pub f16: bool,
    /// Store weights as 8-bit integers with per-channel scales (a quarter of the size).
    #[arg(long)]
    pub int8: bool,
    #[arg(long, default_value_t = 5)]
    pub k: u32,
    #[arg(long, default_value_t = 1.0)]
    pub threshold: f32,
}

#[derive(clap::Args)]
pub struct SupervisedArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder made by `pretrain` (its model shape is used; the weights are not).
    #[arg(long, default_value = "runs/default")]
    pub run: PathBuf,
    #[arg(long, default_value_t = 2500)]
    pub steps: usize,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

#[derive(clap::Args)]
pub struct StudyArgs {
    /// Run folder made by `pretrain` (and optionally `supervised`).
    #[arg(long, default_value = "runs/default")]
    pub run: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "train")]
    pub train_split: String,
    #[arg(long, default_value = "val")]
    pub eval_split: String,
    /// Only training rows of this round (e.g. r1).
    #[arg(long)]
    pub train_round: Option<String>,
    /// Only evaluation rows of this round (e.g. r2).
    #[arg(long)]
    pub eval_round: Option<String>,
    /// Label budgets in beans.
    #[arg(long, value_delimiter = ',', default_value = "200,500,2000")]
    pub labels: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    pub seeds: Vec<u64>,
    /// Mining variants, each run at the first budget and seed (the first is used for the sweep).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "hard-guarded,hard,all")]
    pub minings: Vec<Mining>,
    #[arg(long, default_value_t = 600)]
    pub finetune_steps: usize,
    #[arg(long, default_value_t = 0.2)]
    pub margin: f32,
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// Skip the extra rows that score each fine-tuned head with every photo embedded as the
    /// mean over its eight flips/rotations (test-time augmentation).
    #[arg(long)]
    pub no_tta: bool,
    /// Feed the head (and the AE-only kNN) the code plus per-stage feature-map statistics
    /// instead of the code alone (experimental: the bundle format stores code-only heads).
    #[arg(long)]
    pub multiscale: bool,
    /// Report JSON.
    #[arg(long)]
    pub json: PathBuf,
    /// Markdown table (default: the JSON path with .md).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// The shape of a run's models, written by `pretrain`, read by the steps after it.
#[derive(Serialize, Deserialize, PartialEq)]
struct RunModel {
    model: ModelConfig,
    preprocess: PreprocessParams,
}

fn run_model(run: &Path) -> Result<RunModel> {
    let path = run.join("model.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (run `beanscan pretrain --run {}` first)", path.display(), run.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// First value and the mean of the last 20 (per-batch values are noisy): how a curve moved.
fn ends(values: &[f32]) -> (f32, f32) {
    let n = values.len().clamp(1, 20);
    (values.first().copied().unwrap_or(f32::NAN), values.iter().rev().take(n).sum::<f32>() / n as f32)
}

pub(crate) use beanscan::train::output::write_bundle;
pub(crate) use beanscan::train::progress::report_step;

impl DataArgs {
    pub(crate) fn source(&self) -> DataSource {
        DataSource { data: self.data.clone(), split: self.split.clone(), round: self.round.clone() }
    }
}

pub(crate) fn open_data(args: &DataArgs) -> Result<Dataset> {
    args.source().open()
}

/// Pretrains (or resumes) the autoencoder in `args.run`; writes the loss curve and reconstructions.
pub fn pretrain_cmd(args: &PretrainArgs) -> Result<Autoencoder> {
    if !args.input_size.is_multiple_of(16) || args.input_size == 0 {
        bail!("--input-size must be a positive multiple of 16");
    }
    let device = Device::flex();
    let shape = RunModel {
        model: ModelConfig { input_size: args.input_size, width: args.width, ..ModelConfig::default() },
        preprocess: PreprocessParams::new(args.input_size as u32),
    };
    std::fs::create_dir_all(&args.run).with_context(|| format!("creating {}", args.run.display()))?;
    if let Ok(existing) = run_model(&args.run)
        && existing != shape
    {
        bail!("{} holds a run with another model shape; use another --run", args.run.display());
    }
    write_json(&args.run.join("model.json"), &serde_json::to_value(&shape)?)?;
    let dataset = open_data(&args.data)?;

    let started = Instant::now();
    let mut rows: Vec<usize> = (0..dataset.samples.len()).collect();
    if let Some(max) = args.max_images {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(args.schedule.seed));
        rows.truncate(max);
    }
    let photos = load_images(&dataset, &rows, &shape.preprocess);
    report_step(&format!("load {} photos ({} skipped)", photos.images.len(), photos.skipped), started);

    let started = Instant::now();
    let settings = format!(
        "{:?} | {} split {} round {:?}, {} photos | batch {} seed {}",
        shape.model,
        args.data.data.display(),
        args.data.split,
        args.data.round,
        photos.images.len(),
        args.schedule.batch,
        args.schedule.seed
    );
    let checkpoint = Checkpointer::new(args.run.join("pretrain.ckpt"), settings, args.schedule.checkpoint_every);
    let options =
        PretrainOptions { steps: args.pretrain_steps, batch: args.schedule.batch, learning_rate: 1e-3, seed: args.schedule.seed };
    let pretrained = pretrain(&shape.model, &shape.preprocess, &photos.images, &options, Some(&checkpoint), &device)?;
    let (first, last) = ends(&pretrained.losses);
    report_step(&format!("pretrain {} steps (loss {first:.4} → {last:.4})", pretrained.losses.len()), started);
    plot::best_effort(
        "pretrain-loss.png",
        plot::curves(
            &args.run.join("pretrain-loss.png"),
            "Autoencoder pretraining",
            "reconstruction MSE",
            &[("train", &pretrained.losses)],
        ),
    );
    let shown: Vec<image::RgbImage> = photos.images.iter().step_by((photos.images.len() / 12).max(1)).take(12).cloned().collect();
    let redrawn = reconstructions(&pretrained.autoencoder, &shape.preprocess, &shown, &device);
    plot::best_effort("reconstructions.png", plot::image_pairs(&args.run.join("reconstructions.png"), &shown, &redrawn));
    Ok(pretrained.autoencoder)
}

/// The default pipeline: pretrain (resumable) → fine-tune the head on N labelled beans → export.
pub fn train_cmd(args: &TrainArgs) -> Result<()> {
    let total = Instant::now();
    let autoencoder = pretrain_cmd(&args.pretrain)?;
    let device = Device::flex();
    let shape = run_model(&args.pretrain.run)?;
    let dataset = open_data(&args.pretrain.data)?;
    let encoder = autoencoder.encoder;

    let started = Instant::now();
    let pool = labelled_photos(&dataset, &shape.preprocess);
    let chosen = draw_beans(&pool.beans, args.finetune.labels, args.pretrain.schedule.seed);
    let images = study::pick(&pool.images, &chosen);
    let labels = study::pick(&pool.labels, &chosen);
    let ids = study::pick(&pool.ids, &chosen);
    let codes = view_codes(&encoder, &shape.preprocess, &images, &device);
    let options =
        finetune_options(args.finetune.finetune_steps, args.finetune.margin, args.finetune.mining, args.pretrain.schedule.seed);
    let tuned = beanscan::train::finetune::finetune(&shape.model, &codes, &labels, &options, &device);
    let ((l0, l1), (s0, s1)) = (ends(&tuned.losses), ends(&tuned.spreads));
    report_step(
        &format!(
            "fine-tune on {} photos of {} beans (loss {l0:.3} → {l1:.3}, spread {s0:.3} → {s1:.3})",
            images.len(),
            args.finetune.labels
        ),
        started,
    );
    plot::best_effort(
        "finetune-loss.png",
        plot::curves(
            &args.pretrain.run.join("finetune-loss.png"),
            "Triplet fine-tuning",
            "loss / mean pairwise distance",
            &[("triplet loss", &tuned.losses), ("embedding spread", &tuned.spreads)],
        ),
    );

    let started = Instant::now();
    let embedder = Net::ResNet(Box::new(Embedder { encoder, head: tuned.head }));
    let embeddings = export::embed_images(&embedder, &shape.preprocess, &images, 1, &device);
    let references = study::references(&embeddings, &labels, &ids);
    let bundle = export::bundle(ExportInput {
        description: format!(
            "{}px ResNet-like encoder, {} labelled beans, seed {}, trained on {} ({}{})",
            shape.model.input_size,
            args.finetune.labels,
            args.pretrain.schedule.seed,
            args.pretrain.data.data.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default(),
            args.pretrain.data.split,
            args.pretrain.data.round.as_ref().map(|r| format!(", round {r}")).unwrap_or_default()
        ),
        model: &shape.model,
        preprocess: &shape.preprocess,
        class_names: dataset.class_names.clone(),
        embedder,
        references,
        default_k: args.k,
        default_threshold: args.threshold,
        default_views: 1,
        tray_threshold: None,
        seed: args.pretrain.schedule.seed,
        weight_type: match (args.f16, args.int8) {
            (true, _) => WeightType::F16,
            (_, true) => WeightType::Int8,
            _ => WeightType::F32,
        },
    })?;
    let size = write_bundle(&args.out, &bundle)?;
    report_step(&format!("export {} ({size} bytes)", args.out.display()), started);
    report_step("whole pipeline", total);
    Ok(())
}

fn finetune_options(steps: usize, margin: f32, mining: Mining, seed: u64) -> FinetuneOptions {
    FinetuneOptions { steps, classes_per_batch: 8, per_class: 4, margin, mining, learning_rate: 1e-3, seed }
}

/// Trains the supervised baseline (encoder + linear classifier, cross-entropy, all labels).
pub fn supervised_cmd(args: &SupervisedArgs) -> Result<()> {
    let device = Device::flex();
    let shape = run_model(&args.run)?;
    let dataset = open_data(&args.data)?;
    let started = Instant::now();
    let pool = labelled_photos(&dataset, &shape.preprocess);
    report_step(&format!("load {} labelled photos", pool.images.len()), started);
    let started = Instant::now();
    let settings = format!(
        "{:?} | {} split {} round {:?}, {} photos, {} classes | batch {} seed {}",
        shape.model,
        args.data.data.display(),
        args.data.split,
        args.data.round,
        pool.images.len(),
        dataset.class_names.len(),
        args.schedule.batch,
        args.schedule.seed
    );
    let checkpoint = Checkpointer::new(args.run.join("supervised.ckpt"), settings, args.schedule.checkpoint_every);
    let options = SupervisedOptions {
        classes: dataset.class_names.len(),
        steps: args.steps,
        batch: args.schedule.batch,
        learning_rate: 1e-3,
        seed: args.schedule.seed,
    };
    let trained =
        supervised::train(&shape.model, &shape.preprocess, &pool.images, &pool.labels, &options, Some(&checkpoint), &device)?;
    let (first, last) = ends(&trained.losses);
    report_step(&format!("supervised {} steps (loss {first:.3} → {last:.3})", trained.losses.len()), started);
    write_json(&args.run.join("supervised-classes.json"), &serde_json::to_value(&dataset.class_names)?)?;
    plot::best_effort(
        "supervised-loss.png",
        plot::curves(
            &args.run.join("supervised-loss.png"),
            "Supervised baseline",
            "cross-entropy",
            &[("train", &trained.losses)],
        ),
    );
    Ok(())
}

/// AE-only kNN vs fine-tuned kNN over label budgets × seeds, mining variants, and the
/// supervised baseline when the run has one; JSON + markdown + confusion matrices.
pub fn study_cmd(args: &StudyArgs) -> Result<()> {
    let total = Instant::now();
    let device = Device::flex();
    let shape = run_model(&args.run)?;
    let (autoencoder, steps) = load_model(&args.run.join("pretrain.ckpt"), Autoencoder::new(&shape.model, &device))?;
    let encoder = autoencoder.encoder;
    let data = |split: &str, round: &Option<String>| {
        open_data(&DataArgs { data: args.data.clone(), split: split.to_string(), round: round.clone() })
    };
    let train_set = data(&args.train_split, &args.train_round)?;
    let eval_set = data(&args.eval_split, &args.eval_round)?;
    if train_set.class_names != eval_set.class_names {
        bail!("the training and evaluation rows list different classes");
    }
    let class_names = train_set.class_names.clone();
    let figures = args.json.with_extension("figures");

    let started = Instant::now();
    let pool = labelled_photos(&train_set, &shape.preprocess);
    let evaluated = labelled_photos(&eval_set, &shape.preprocess);
    let train_views = view_features(&encoder, &shape.preprocess, &pool.images, args.multiscale, &device);
    let eval_views = if !args.no_tta {
        Some(view_features(&encoder, &shape.preprocess, &evaluated.images, args.multiscale, &device))
    } else {
        None
    };
    let eval_codes = match &eval_views {
        Some(views) => views[0].clone(),
        None => forward_rows(&evaluated.images, &shape.preprocess, &device, image::RgbImage::clone, |x| {
            if args.multiscale { encoder.forward_multiscale(x) } else { encoder.forward(x) }
        }),
    };
    report_step(
        &format!("encode {} training photos × 8 views and {} evaluation photos", pool.images.len(), evaluated.images.len()),
        started,
    );
    let codes = Codes {
        class_names: &class_names,
        train_views: &train_views,
        train_labels: &pool.labels,
        train_ids: &pool.ids,
        eval: &eval_codes,
        eval_labels: &evaluated.labels,
        eval_views: eval_views.as_deref(),
    };

    #[derive(Serialize)]
    struct Row {
        method: String,
        labels: Option<usize>,
        seed: Option<u64>,
        report: Report,
        loss_start: Option<f32>,
        loss_end: Option<f32>,
        spread_start: Option<f32>,
        spread_end: Option<f32>,
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut spreads: Vec<(String, Vec<f32>)> = Vec::new();
    let mut losses: Vec<(String, Vec<f32>)> = Vec::new();
    let threshold = f32::INFINITY;
    let main_mining = *args.minings.first().unwrap_or(&Mining::HardGuarded);
    let bar = beanscan::train::progress::progress(
        (args.labels.len() * args.seeds.len() + args.minings.len().saturating_sub(1)) as u64,
        "study",
    );
    let mut jobs: Vec<(Mining, usize, u64)> = Vec::new();
    for &n in &args.labels {
        for &seed in &args.seeds {
            jobs.push((main_mining, n, seed));
        }
    }
    let (first_n, first_seed) = (args.labels.first().copied().unwrap_or(200), args.seeds.first().copied().unwrap_or(0));
    for &m in args.minings.iter().skip(1) {
        jobs.push((m, first_n, first_seed));
    }
    for (mining, n, seed) in jobs {
        let chosen = draw_beans(&pool.beans, n, seed);
        let options = finetune_options(args.finetune_steps, args.margin, mining, seed);
        let run = study::run_budget(&shape.model, &codes, &chosen, &options, args.k, threshold, &device);
        let name = format!("fine-tuned kNN ({})", mining_name(mining));
        let tag = format!("{}-{n}-seed{seed}", mining_slug(mining));
        bar.suspend(|| eprintln!("{name}, {n} beans, seed {seed}: {}", run.fine_tuned.summary()));
        if n == first_n && seed == first_seed {
            let title = |what: &str| format!("{what}, {n} labelled beans, seed {seed}");
            plot::best_effort(
                "confusion matrix",
                plot::confusion(
                    &figures.join(format!("confusion-{tag}.png")),
                    &title(&name),
                    &run.fine_tuned.confusion.classes,
                    &run.fine_tuned.confusion.matrix,
                ),
            );
            spreads.push((mining_name(mining).to_string(), run.finetuned.spreads.clone()));
            losses.push((mining_name(mining).to_string(), run.finetuned.losses.clone()));
            if mining == main_mining {
                plot::best_effort(
                    "confusion matrix",
                    plot::confusion(
                        &figures.join(format!("confusion-ae-{n}-seed{seed}.png")),
                        &title("AE-only kNN"),
                        &run.ae_only.confusion.classes,
                        &run.ae_only.confusion.matrix,
                    ),
                );
            }
        }
        let (l0, l1) = ends(&run.finetuned.losses);
        let (s0, s1) = ends(&run.finetuned.spreads);
        if mining == main_mining {
            rows.push(Row {
                method: "AE-only kNN".into(),
                labels: Some(n),
                seed: Some(seed),
                report: run.ae_only,
                loss_start: None,
                loss_end: None,
                spread_start: None,
                spread_end: None,
            });
        }
        if let Some(report) = run.fine_tuned_tta {
            rows.push(Row {
                method: format!("{name}, 8-view mean"),
                labels: Some(n),
                seed: Some(seed),
                report,
                loss_start: None,
                loss_end: None,
                spread_start: None,
                spread_end: None,
            });
        }
        rows.push(Row {
            method: name,
            labels: Some(n),
            seed: Some(seed),
            report: run.fine_tuned,
            loss_start: Some(l0),
            loss_end: Some(l1),
            spread_start: Some(s0),
            spread_end: Some(s1),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    if spreads.len() > 1 {
        let series = |v: &[(String, Vec<f32>)]| v.iter().map(|(n, s)| (n.clone(), s.clone())).collect::<Vec<_>>();
        let s = series(&spreads);
        let refs: Vec<(&str, &[f32])> = s.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        plot::best_effort(
            "mining spread plot",
            plot::curves(&figures.join("mining-spread.png"), "Embedding spread by mining", "mean pairwise distance", &refs),
        );
        let l = series(&losses);
        let refs: Vec<(&str, &[f32])> = l.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        plot::best_effort(
            "mining loss plot",
            plot::curves(&figures.join("mining-loss.png"), "Triplet loss by mining", "loss", &refs),
        );
    }

    let supervised_path = args.run.join("supervised.ckpt");
    if supervised_path.exists() {
        let (net, steps) = load_model(&supervised_path, SupervisedNet::new(&shape.model, class_names.len(), &device))?;
        let predicted = supervised::predict(&net, &shape.preprocess, &evaluated.images, &device);
        let report = Report::new(&class_names, &evaluated.labels, &predicted, None);
        eprintln!("supervised baseline ({steps} steps, all labels): {}", report.summary());
        plot::best_effort(
            "confusion matrix",
            plot::confusion(
                &figures.join("confusion-supervised.png"),
                "Supervised baseline, all labels",
                &report.confusion.classes,
                &report.confusion.matrix,
            ),
        );
        rows.push(Row {
            method: "supervised (all labels)".into(),
            labels: None,
            seed: None,
            report,
            loss_start: None,
            loss_end: None,
            spread_start: None,
            spread_end: None,
        });
    } else {
        eprintln!("no supervised baseline in {} (run `beanscan supervised --run {}`)", args.run.display(), args.run.display());
    }

    // Mean ± sd over seeds for each (method, budget).
    let mut groups: Vec<(String, Option<usize>)> = Vec::new();
    for r in &rows {
        if !groups.contains(&(r.method.clone(), r.labels)) {
            groups.push((r.method.clone(), r.labels));
        }
    }
    let metric = |g: &(String, Option<usize>), f: &dyn Fn(&Report) -> Option<f64>| {
        MeanSd::of(&rows.iter().filter(|r| r.method == g.0 && r.labels == g.1).filter_map(|r| f(&r.report)).collect::<Vec<_>>())
    };
    let mut table = String::from(
        "| method | labelled beans | seeds | macro-F1 | accuracy | Normal-vs-defect F1 | MAP@R |\n|---|---|---|---|---|---|---|\n",
    );
    let mut summary = Vec::new();
    for g in &groups {
        let f1 = metric(g, &|r| Some(r.macro_f1));
        let acc = metric(g, &|r| Some(r.accuracy));
        let nvd = metric(g, &|r| Some(r.normal_vs_defect.f1));
        let map = metric(g, &|r| r.map_at_r);
        let budget = g.1.map_or("all".to_string(), |n| n.to_string());
        let map_cell = if map.n == 0 { "–".to_string() } else { map.cell() };
        table.push_str(&format!(
            "| {} | {budget} | {} | {} | {} | {} | {map_cell} |\n",
            g.0,
            f1.n,
            f1.cell(),
            acc.cell(),
            nvd.cell()
        ));
        summary.push(serde_json::json!({"method": g.0, "labels": g.1, "macro_f1": f1, "accuracy": acc, "normal_vs_defect_f1": nvd, "map_at_r": map}));
    }
    println!("{table}");
    let report = serde_json::json!({
        "run": args.run.display().to_string(),
        "pretrain_steps": steps,
        "model": shape.model,
        "data": args.data.display().to_string(),
        "train": {"split": args.train_split, "round": args.train_round, "photos": pool.images.len()},
        "eval": {"split": args.eval_split, "round": args.eval_round, "photos": evaluated.images.len()},
        "k": args.k,
        "threshold": "none (every photo labelled)",
        "finetune_steps": args.finetune_steps,
        "summary": summary,
        "runs": rows,
        "seconds": total.elapsed().as_secs_f64(),
    });
    write_json(&args.json, &report)?;
    let md = args.markdown.clone().unwrap_or_else(|| args.json.with_extension("md"));
    std::fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
    report_step("study", total);
    Ok(())
}

fn mining_slug(m: Mining) -> &'static str {
    match m {
        Mining::All => "all",
        Mining::Hard => "hard",
        Mining::HardGuarded => "hard-guarded",
    }
}

fn mining_name(m: Mining) -> &'static str {
    match m {
        Mining::All => "batch-all",
        Mining::Hard => "batch-hard",
        Mining::HardGuarded => "batch-hard + guard",
    }
}
