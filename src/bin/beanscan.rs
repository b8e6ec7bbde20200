//! The native companion: label photos, train and export bundles.
//! Native only: the browser build of the crate gets an empty stub.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    native::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {

    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::Instant;

    use anyhow::{Context, Result, bail};
    use beanscan::index::ReferenceSet;
    use beanscan::model::{Embedder, ModelConfig};
    use beanscan::preprocess::PreprocessParams;
    use beanscan::train::data::{Dataset, load_images};
    use beanscan::train::export::{self, ExportInput};
    use beanscan::train::finetune::{FinetuneOptions, finetune, view_codes};
    use beanscan::train::metrics;
    use beanscan::train::mining::Mining;
    use beanscan::train::pretrain::{PretrainOptions, pretrain};
    use beanscan::{Bundle, Classifier};
    use burn::tensor::Device;
    use clap::{Parser, Subcommand};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;

    #[derive(Parser)]
    #[command(name = "beanscan", version, about = "Label coffee-bean photos; train and export beanscan bundles")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Label photos: one line per photo (file, label, confidence, distance to nearest reference).
        Classify {
            #[arg(required = true)]
            photos: Vec<PathBuf>,
            /// Bundle file (default: the bundle built into beanscan).
            #[arg(long)]
            bundle: Option<PathBuf>,
            /// Neighbours that vote (default: the bundle's).
            #[arg(long)]
            k: Option<usize>,
            /// Distance beyond which a photo is "unknown" (default: the bundle's).
            #[arg(long)]
            threshold: Option<f32>,
        },
        /// Print each photo's L2-normalised embedding as a JSON array, one line per photo.
        Embed {
            #[arg(required = true)]
            photos: Vec<PathBuf>,
            #[arg(long)]
            bundle: Option<PathBuf>,
        },
        /// Label every photo of a split by kNN against the bundle's references and report metrics.
        Eval {
            #[arg(long)]
            bundle: Option<PathBuf>,
            /// Folder with manifest.csv (or class folders).
            #[arg(long)]
            data: PathBuf,
            /// Manifest split to evaluate (all rows when omitted).
            #[arg(long)]
            split: Option<String>,
            /// Write the report as JSON here.
            #[arg(long)]
            json: Option<PathBuf>,
            #[arg(long)]
            k: Option<usize>,
            #[arg(long)]
            threshold: Option<f32>,
        },
        /// Pretrain the autoencoder, fine-tune the head with triplet loss, export a bundle.
        Train(TrainArgs),
    }

    #[derive(clap::Args)]
    struct TrainArgs {
        /// Folder with manifest.csv, or a folder of class folders.
        #[arg(long)]
        data: PathBuf,
        /// Manifest split to train on.
        #[arg(long, default_value = "train")]
        split: String,
        /// Where to write the bundle.
        #[arg(long, default_value = "bundle/default.beanscan")]
        out: PathBuf,
        /// Labelled beans drawn at random (both faces) for fine-tuning and as references.
        #[arg(long, default_value_t = 200)]
        labels: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 64)]
        input_size: usize,
        #[arg(long, default_value_t = 16)]
        width: usize,
        /// Use at most this many photos for pretraining (default: all of the split).
        #[arg(long)]
        max_images: Option<usize>,
        #[arg(long, default_value_t = 1500)]
        pretrain_steps: usize,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long, default_value_t = 600)]
        finetune_steps: usize,
        #[arg(long, value_enum, default_value_t = Mining::HardGuarded)]
        mining: Mining,
        #[arg(long, default_value_t = 0.2)]
        margin: f32,
        #[arg(long, default_value_t = 5)]
        k: u32,
        #[arg(long, default_value_t = 1.0)]
        threshold: f32,
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Classify { photos, bundle, k, threshold } => classify(&photos, bundle.as_deref(), k, threshold),
            Command::Embed { photos, bundle } => embed(&photos, bundle.as_deref()),
            Command::Eval { bundle, data, split, json, k, threshold } => {
                eval(bundle.as_deref(), &data, split.as_deref(), json.as_deref(), k, threshold)
            }
            Command::Train(args) => train(&args),
        };
        match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }

    fn load_bundle(path: Option<&Path>) -> Result<Bundle> {
        Ok(match path {
            Some(p) => Bundle::from_bytes(&std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("loading {}", p.display()))?,
            None => Bundle::embedded().context("loading the built-in bundle")?,
        })
    }

    fn open_classifier(bundle: Option<&Path>, k: Option<usize>, threshold: Option<f32>) -> Result<Classifier> {
        let mut classifier = Classifier::new(load_bundle(bundle)?, Device::flex())?;
        if let Some(k) = k {
            classifier.k = k.max(1);
        }
        if let Some(t) = threshold {
            classifier.threshold = t;
        }
        Ok(classifier)
    }

    fn classify(photos: &[PathBuf], bundle: Option<&Path>, k: Option<usize>, threshold: Option<f32>) -> Result<ExitCode> {
        let classifier = open_classifier(bundle, k, threshold)?;
        let mut labelled = 0;
        for path in photos {
            let name = path.display();
            let result = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read the file: {e}"))
                .and_then(|bytes| Ok(pollster::block_on(classifier.classify(&bytes))?));
            match result {
                Ok(p) => {
                    labelled += 1;
                    let unknown = if p.unknown { "\tunknown" } else { "" };
                    println!("{name}\t{}\t{:.2}\t{:.3}{unknown}", p.label, p.confidence, p.distance);
                }
                Err(e) => println!("{name}\terror: {e}"),
            }
        }
        Ok(if labelled == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    }

    fn embed(photos: &[PathBuf], bundle: Option<&Path>) -> Result<ExitCode> {
        let classifier = Classifier::new(load_bundle(bundle)?, Device::flex())?;
        for path in photos {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let embedding = pollster::block_on(classifier.embed_photo(&bytes))
                .with_context(|| format!("embedding {}", path.display()))?;
            let values: Vec<String> = embedding.iter().map(|v| format!("{v:e}")).collect();
            println!("[{}]", values.join(","));
        }
        Ok(ExitCode::SUCCESS)
    }

    fn eval(
        bundle: Option<&Path>,
        data: &Path,
        split: Option<&str>,
        json: Option<&Path>,
        k: Option<usize>,
        threshold: Option<f32>,
    ) -> Result<ExitCode> {
        let started = Instant::now();
        let classifier = open_classifier(bundle, k, threshold)?;
        let dataset = Dataset::open(data)?.split(split);
        let rows: Vec<usize> = (0..dataset.samples.len()).filter(|&r| dataset.samples[r].label_applies).collect();
        if rows.is_empty() {
            bail!("no labelled rows{} in {}", split.map(|s| format!(" with split `{s}`")).unwrap_or_default(), data.display());
        }
        // Classes are matched by name; classes the bundle lacks can never be predicted right.
        let mut names = classifier.class_names.clone();
        for name in &dataset.class_names {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let unknown = names.len() as u16;
        let images = load_images(&dataset, &rows, classifier.preprocess.input_size);
        let inputs: Vec<Vec<f32>> =
            images.images.iter().map(|im| beanscan::preprocess::normalise(im, &classifier.preprocess)).collect();
        let bar = beanscan::train::data::progress(inputs.len() as u64, "embedding");
        let mut embeddings = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(64) {
            embeddings.extend(pollster::block_on(classifier.embed_inputs(chunk))?);
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let mut truth = Vec::new();
        let mut predicted = Vec::new();
        let mut embedded = ReferenceSet::new(classifier.model_config.embed_dim);
        for (e, &row) in embeddings.iter().zip(&images.rows) {
            let sample = &dataset.samples[row];
            let t = names.iter().position(|n| *n == dataset.class_names[usize::from(sample.label)]).expect("listed") as u16;
            let p = classifier.label(e)?;
            truth.push(t);
            predicted.push(if p.unknown { unknown } else { names.iter().position(|n| *n == p.label).unwrap_or(0) as u16 });
            embedded.push(e, t, sample.bean.clone())?;
        }
        let n_classes = names.len() + 1;
        let per_class = metrics::per_class(&truth, &predicted, n_classes);
        let normal = names.iter().position(|n| n == "Normal").unwrap_or(0) as u16;
        let nvd = metrics::normal_vs_defect(&truth, &predicted, normal);
        let report = serde_json::json!({
            "bundle": classifier.version,
            "data": data.display().to_string(),
            "split": split,
            "photos": truth.len(),
            "skipped": images.skipped,
            "k": classifier.k,
            "threshold": classifier.threshold,
            "accuracy": metrics::accuracy(&truth, &predicted),
            "macro_f1": metrics::macro_f1(&per_class[..names.len()]),
            "per_class": names.iter().zip(&per_class).filter(|(_, s)| s.support > 0)
                .map(|(n, s)| (n.clone(), serde_json::to_value(s).expect("plain data")))
                .collect::<serde_json::Map<_, _>>(),
            "normal_vs_defect": nvd,
            "unknown_rate": predicted.iter().filter(|&&p| p == unknown).count() as f64 / truth.len() as f64,
            "map_at_r": metrics::map_at_r(&embedded),
            "confusion": { "classes": names.iter().cloned().chain(["unknown".to_string()]).collect::<Vec<_>>(),
                           "matrix": metrics::confusion(&truth, &predicted, n_classes) },
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!(
            "{} photos: accuracy {:.3}, macro-F1 {:.3}, normal-vs-defect F1 {:.3} (P {:.3}, R {:.3}), MAP@R {:.3}",
            truth.len(),
            report["accuracy"].as_f64().unwrap_or(f64::NAN),
            report["macro_f1"].as_f64().unwrap_or(f64::NAN),
            nvd.f1,
            nvd.precision,
            nvd.recall,
            report["map_at_r"].as_f64().unwrap_or(f64::NAN)
        );
        for (name, s) in names.iter().zip(&per_class).filter(|(_, s)| s.support > 0) {
            println!("  {name:>16}: P {:.3} R {:.3} F1 {:.3} (n = {})", s.precision, s.recall, s.f1, s.support);
        }
        if let Some(path) = json {
            std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Peak resident memory of this process so far, in MiB (Linux).
    fn peak_mib() -> f64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    fn report_step(name: &str, started: Instant) {
        eprintln!("{name}: {:.1} s, peak memory {:.0} MiB", started.elapsed().as_secs_f64(), peak_mib());
    }

    fn train(args: &TrainArgs) -> Result<ExitCode> {
        if args.input_size % 16 != 0 {
            bail!("--input-size must be a multiple of 16");
        }
        let device = Device::flex();
        let config = ModelConfig { input_size: args.input_size, width: args.width, ..ModelConfig::default() };
        let params = PreprocessParams::new(args.input_size as u32);
        let dataset = Dataset::open(&args.data)?.split(Some(&args.split));
        if dataset.samples.is_empty() {
            bail!("no rows with split `{}` in {}", args.split, args.data.display());
        }
        let mut rng = StdRng::seed_from_u64(args.seed);

        // Pretraining photos: every face of the split, labelled or not.
        let started = Instant::now();
        let mut rows: Vec<usize> = (0..dataset.samples.len()).collect();
        rows.shuffle(&mut rng);
        rows.truncate(args.max_images.unwrap_or(usize::MAX));
        let unlabelled = load_images(&dataset, &rows, params.input_size);
        report_step(&format!("load {} photos", unlabelled.images.len()), started);

        let started = Instant::now();
        let pretrained = pretrain(
            &config,
            &params,
            &unlabelled.images,
            &PretrainOptions { steps: args.pretrain_steps, batch: args.batch, learning_rate: 1e-3, seed: args.seed },
            &device,
        );
        let first = pretrained.losses.first().copied().unwrap_or(f32::NAN);
        let last = pretrained.losses.iter().rev().take(20).sum::<f32>() / pretrained.losses.len().clamp(1, 20) as f32;
        report_step(&format!("pretrain (loss {first:.3} → {last:.3})"), started);
        let encoder = pretrained.encoder();

        // Label budget: N beans drawn without replacement; their labelled faces.
        let started = Instant::now();
        let mut beans: Vec<Vec<usize>> = dataset
            .beans()
            .into_iter()
            .map(|(_, rows)| rows.into_iter().filter(|&r| dataset.samples[r].label_applies).collect::<Vec<_>>())
            .filter(|rows| !rows.is_empty())
            .collect();
        beans.shuffle(&mut rng);
        beans.truncate(args.labels);
        let labelled_rows: Vec<usize> = beans.into_iter().flatten().collect();
        let labelled = load_images(&dataset, &labelled_rows, params.input_size);
        let labels: Vec<u16> = labelled.rows.iter().map(|&r| dataset.samples[r].label).collect();
        let codes = view_codes(&encoder, &params, &labelled.images, &device);
        let tuned = finetune(
            &config,
            &codes,
            &labels,
            &FinetuneOptions {
                steps: args.finetune_steps,
                classes_per_batch: 8,
                per_class: 4,
                margin: args.margin,
                mining: args.mining,
                learning_rate: 1e-3,
                seed: args.seed,
            },
            &device,
        );
        let n = tuned.losses.len().clamp(1, 20);
        report_step(
            &format!(
                "fine-tune {} photos of {} beans (loss {:.3} → {:.3}, spread {:.3} → {:.3})",
                labelled.images.len(),
                args.labels,
                tuned.losses.first().copied().unwrap_or(f32::NAN),
                tuned.losses.iter().rev().take(n).sum::<f32>() / n as f32,
                tuned.spreads.first().copied().unwrap_or(f32::NAN),
                tuned.spreads.iter().rev().take(n).sum::<f32>() / n as f32
            ),
            started,
        );

        let started = Instant::now();
        let embedder = Embedder { encoder, head: tuned.head };
        let embeddings = export::embed_images(&embedder, &params, &labelled.images, &device);
        let mut references = ReferenceSet::new(config.embed_dim);
        for ((e, &label), &row) in embeddings.iter().zip(&labels).zip(&labelled.rows) {
            let s = &dataset.samples[row];
            let face = s.path.file_stem().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
            references.push(e, label, format!("{}/{face}", s.bean))?;
        }
        let bundle = export::bundle(ExportInput {
            description: format!(
                "{}px ResNet-like encoder, {} labelled beans, seed {}, trained on {} ({})",
                args.input_size,
                args.labels,
                args.seed,
                args.data.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default(),
                args.split
            ),
            model: &config,
            preprocess: &params,
            class_names: dataset.class_names.clone(),
            embedder,
            references,
            default_k: args.k,
            default_threshold: args.threshold,
            seed: args.seed,
        })?;
        let bytes = bundle.to_bytes()?;
        if let Some(dir) = args.out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
        report_step(&format!("export {} ({} bytes)", args.out.display(), bytes.len()), started);
        Ok(ExitCode::SUCCESS)
    }
}
