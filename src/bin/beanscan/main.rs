//! The native companion: label photos, train and export bundles.
//! Native only: the browser build of the crate gets an empty stub.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    native::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cameras;
#[cfg(not(target_arch = "wasm32"))]
mod convert;
#[cfg(not(target_arch = "wasm32"))]
mod refs;
#[cfg(not(target_arch = "wasm32"))]
mod training;
#[cfg(not(target_arch = "wasm32"))]
mod trays;
#[cfg(not(target_arch = "wasm32"))]
mod tune;

#[cfg(not(target_arch = "wasm32"))]
mod native {

    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::Instant;

    use anyhow::{Context, Result, bail};
    use beanscan::eval::metrics::Report;
    use beanscan::index::ReferenceSet;
    use beanscan::train::data::{Dataset, load_images};
    use beanscan::train::plot;
    use beanscan::{Bundle, Classifier};
    use burn::tensor::Device;
    use clap::{Parser, Subcommand};

    use crate::cameras::{self, EvalCameraArgs};
    use crate::convert::{self, ConvertArgs};
    use crate::refs::{self, RefsArgs};
    use crate::training::{self, PretrainArgs, StudyArgs, SupervisedArgs, TrainArgs};
    use crate::trays::{self, EvalTraysArgs, ScenesArgs, TrayCropsArgs};
    use crate::tune::{self, TuneArgs};

    #[derive(Parser)]
    #[command(name = "beanscan", version, about = "Label coffee-bean photos; train and export beanscan bundles")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Label photos: one line per photo (file, label, confidence, distance to nearest reference).
        Classify(ClassifyArgs),
        /// Print each photo's L2-normalised embedding as a JSON array, one line per photo.
        Embed {
            #[arg(required = true)]
            photos: Vec<PathBuf>,
            #[arg(long)]
            bundle: Option<PathBuf>,
            /// Print the whole bean, as the browser module hands it out: the embedding, then the
            /// bean's 17 traits (colour against the background, size, shape).
            #[arg(long)]
            traits: bool,
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
            /// Embed each photo as the mean of this many of its flips and turns (1, 2, 4 or 8:
            /// as is, + mirrored, + half-turned, + quarter-turned; default: the bundle's).
            #[arg(long, value_parser = views_arg())]
            views: Option<u8>,
        },
        /// Pretrain the autoencoder on unlabelled photos (resumes from the run folder's checkpoint).
        Pretrain(PretrainArgs),
        /// The default pipeline: pretrain, fine-tune the head with triplet loss, export a bundle.
        Train(TrainArgs),
        /// Fine-tune the ImageNet-pretrained EfficientNet-Lite0 on labelled beans and export a
        /// bundle (`--init imagenet`; `./build.sh imagenet` fetches the weights).
        Tune(TuneArgs),
        /// Train the supervised baseline (same encoder + linear classifier, all labels).
        Supervised(SupervisedArgs),
        /// Compare AE-only kNN, fine-tuned kNN (label budgets × seeds, mining variants) and the
        /// supervised baseline on one evaluation split.
        Study(StudyArgs),
        /// Find, count and label the beans of annotated tray photos; report detection
        /// precision/recall, count error and per-bean accuracy (plus a few-shot date-split study).
        EvalTrays(EvalTraysArgs),
        /// Leave one camera out: score its single-bean photos with the bundle alone and with a
        /// few of its confirmed beans per class added as references (both votes), over seeds,
        /// in the camera's own classes, beside the constant answers.
        EvalCamera(EvalCameraArgs),
        /// Cut the annotated beans of tray photos out as single-bean photos with a manifest
        /// (optionally joined to a single-bean data set), to train one encoder on both cameras.
        TrayCrops(TrayCropsArgs),
        /// Lay real single-bean photos' beans on real texture photos (paper towel, cloth, wood,
        /// cards, steel) as annotated photos, so `eval-trays` measures bean finding off white paper.
        Scenes(ScenesArgs),
        /// Re-store a bundle's weights as f32, f16 or int8 (everything else is kept).
        Convert(ConvertArgs),
        /// Reference beans of one's own and the shared library (a Qdrant server): `refs add`
        /// embeds photos into a .beanrefs file, `refs push` uploads one, `refs pull` downloads all.
        Refs(RefsArgs),
    }

    /// `beanscan classify`'s arguments.
    #[derive(clap::Args)]
    struct ClassifyArgs {
        #[arg(required = true)]
        photos: Vec<PathBuf>,
        /// Bundle file (default: the bundle built into beanscan).
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Neighbours that vote (default: the bundle's).
        #[arg(long)]
        k: Option<usize>,
        /// Distance beyond which a photo (with --tray: a bean) is "unknown" (default: the
        /// bundle's threshold for single beans, with --tray its threshold for tray beans).
        #[arg(long)]
        threshold: Option<f32>,
        /// The photos are trays of many beans: find each bean, label it, print counts per
        /// class and the SCA grading.
        #[arg(long)]
        tray: bool,
        /// With --tray: write PHOTO-NAME.annotated.png (outlines coloured by label) here.
        #[arg(long, requires = "tray")]
        annotate: Option<PathBuf>,
        /// Flips/turns each photo's embedding averages over: 1, 2, 4 or 8 (default: the
        /// bundle's; with --tray, each bean's, default 1).
        #[arg(long, value_parser = views_arg())]
        views: Option<u8>,
        /// A .beanrefs file (`beanscan refs add` or `refs pull`) whose references vote beside
        /// the bundle's; may be given more than once.
        #[arg(long)]
        refs: Vec<PathBuf>,
    }

    pub fn main() -> ExitCode {
        // `beanscan classify … | head`: stop quietly when the reader goes away, as other
        // command-line tools do (Rust ignores SIGPIPE, so a print would panic instead).
        #[cfg(unix)]
        // SAFETY: restores the default action of one signal before any other thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Classify(args) => classify(&args),
            Command::Embed { photos, bundle, traits } => embed(&photos, bundle.as_deref(), traits),
            Command::Eval { bundle, data, split, json, k, threshold, views } => {
                eval(bundle.as_deref(), &data, split.as_deref(), json.as_deref(), k, threshold, views)
            }
            Command::Tune(args) => tune::tune_cmd(&args).map(|_| ExitCode::SUCCESS),
            Command::Pretrain(args) => training::pretrain_cmd(&args).map(|_| ExitCode::SUCCESS),
            Command::Train(args) => training::train_cmd(&args).map(|()| ExitCode::SUCCESS),
            Command::Supervised(args) => training::supervised_cmd(&args).map(|()| ExitCode::SUCCESS),
            Command::Study(args) => training::study_cmd(&args).map(|()| ExitCode::SUCCESS),
            Command::EvalTrays(args) => trays::eval_trays_cmd(&args).map(|()| ExitCode::SUCCESS),
            Command::EvalCamera(args) => cameras::eval_camera_cmd(&args).map(|()| ExitCode::SUCCESS),
            Command::TrayCrops(args) => trays::tray_crops_cmd(&args).map(|()| ExitCode::SUCCESS),
            Command::Scenes(args) => trays::scenes_cmd(&args).map(|()| ExitCode::SUCCESS),
            Command::Convert(args) => convert::convert_cmd(&args).map(|()| ExitCode::SUCCESS),
            Command::Refs(args) => refs::refs_cmd(&args).map(|()| ExitCode::SUCCESS),
        };
        match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }

    pub(crate) fn load_bundle(path: Option<&Path>) -> Result<Bundle> {
        Ok(match path {
            Some(p) => Bundle::from_bytes(&std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("loading {}", p.display()))?,
            None => Bundle::embedded().context("loading the built-in bundle")?,
        })
    }

    pub(crate) fn open_classifier(
        bundle: Option<&Path>,
        k: Option<usize>,
        threshold: Option<f32>,
        views: Option<u8>,
    ) -> Result<Classifier> {
        let mut classifier = Classifier::new(load_bundle(bundle)?, Device::flex())?;
        if let Some(views) = views {
            classifier.set_views(views)?;
        }
        if let Some(k) = k {
            classifier.k = k.max(1);
        }
        // Each command labels one kind of photo, single beans or tray beans: --threshold is its.
        if let Some(t) = threshold {
            classifier.threshold = t;
            classifier.tray_threshold = t;
        }
        Ok(classifier)
    }

    fn classify(args: &ClassifyArgs) -> Result<ExitCode> {
        let ClassifyArgs { photos, bundle, k, threshold, tray, annotate, views, refs } = args;
        let (tray, annotate) = (*tray, annotate.as_deref());
        let mut classifier = open_classifier(bundle.as_deref(), *k, *threshold, if tray { None } else { *views })?;
        if let (true, Some(views)) = (tray, *views) {
            classifier.set_tray_views(views)?;
        }
        for file in refs {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            classifier.import_references(&bytes).with_context(|| format!("taking references from {}", file.display()))?;
        }
        let (mut labelled, mut distances) = (0, Vec::new());
        for path in photos {
            let name = path.display();
            if tray {
                match trays::classify_tray(&classifier, path, annotate) {
                    Ok(_) => labelled += 1,
                    Err(e) => println!("{name}\terror: {e:#}"),
                }
                continue;
            }
            let result = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read the file: {e}"))
                .and_then(|bytes| Ok(pollster::block_on(classifier.classify(&bytes))?));
            match result {
                Ok(p) => {
                    labelled += 1;
                    distances.push(p.distance);
                    let unknown = if p.unknown { "\tunknown" } else { "" };
                    println!("{name}\t{}\t{:.2}\t{:.3}{unknown}", p.label, p.confidence, p.distance);
                }
                Err(e) => println!("{name}\terror: {e}"),
            }
        }
        if classifier.unfamiliar(&distances) {
            // On stderr: one line per photo stays the output's form.
            eprintln!("{}", beanscan::notice::NEW_CAMERA);
        }
        Ok(if labelled == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    }

    fn embed(photos: &[PathBuf], bundle: Option<&Path>, with_traits: bool) -> Result<ExitCode> {
        let classifier = Classifier::new(load_bundle(bundle)?, Device::flex())?;
        for path in photos {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let bean =
                pollster::block_on(classifier.embed_photo(&bytes)).with_context(|| format!("embedding {}", path.display()))?;
            let (embedding, _) = classifier.split_bean(&bean)?;
            let values: Vec<String> =
                (if with_traits { &bean[..] } else { embedding }).iter().map(|v| format!("{v:e}")).collect();
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
        views: Option<u8>,
    ) -> Result<ExitCode> {
        let started = Instant::now();
        let classifier = open_classifier(bundle, k, threshold, views)?;
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
        let images = load_images(&dataset, &rows, &classifier.preprocess);
        let bar = beanscan::train::progress::progress(images.images.len() as u64, "embedding");
        let mut embeddings = Vec::with_capacity(images.images.len());
        for chunk in images.images.chunks(64 / usize::from(classifier.views())) {
            let inputs: Vec<Vec<f32>> =
                chunk.iter().map(|im| beanscan::preprocess::normalise(im, &classifier.preprocess)).collect();
            embeddings.extend(pollster::block_on(classifier.embed_inputs(&inputs))?);
            bar.inc(inputs.len() as u64);
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
        let report = Report::new(&names, &truth, &predicted, Some(&embedded));
        println!("{}", report.summary());
        let unknown_check = beanscan::eval::unknown::check(&classifier.index.bundled, &embeddings, &truth, classifier.threshold);
        println!(
            "unknown beyond {:.2}: {:.1} % flagged; {:.1} % with their class left out of the references (AUROC {:.3})",
            unknown_check.threshold,
            100.0 * unknown_check.known_flagged,
            100.0 * unknown_check.held_out_flagged,
            unknown_check.held_out_auroc
        );
        for (name, s) in &report.per_class {
            println!("  {name:>16}: P {:.3} R {:.3} F1 {:.3} (n = {})", s.precision, s.recall, s.f1, s.support);
        }
        if let Some(path) = json {
            let mut value = serde_json::to_value(&report)?;
            let extra = serde_json::json!({
                "bundle": classifier.version,
                "data": data.display().to_string(),
                "split": split,
                "skipped": images.skipped,
                "k": classifier.k,
                "threshold": classifier.threshold,
                "views": classifier.views(),
                "unknown": unknown_check,
                "seconds": started.elapsed().as_secs_f64(),
            });
            if let (Some(map), serde_json::Value::Object(more)) = (value.as_object_mut(), extra) {
                map.extend(more);
            }
            write_json(path, &value)?;
            let png = path.with_extension("confusion.png");
            let title = format!("{} ({} photos)", split.unwrap_or("all rows"), report.photos);
            plot::best_effort(
                "confusion matrix",
                plot::confusion(&png, &title, &report.confusion.classes, &report.confusion.matrix),
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `--views N`: one of the view counts the classifier offers (checked by `views::check`).
    pub(crate) fn views_arg() -> impl Fn(&str) -> std::result::Result<u8, String> + Clone + Send + Sync + 'static {
        |text: &str| {
            let views = text.parse::<u8>().map_err(|_| format!("{text}: use 1, 2, 4 or 8"))?;
            beanscan::views::check(views).map_err(|e| e.to_string())
        }
    }

    pub(crate) use beanscan::train::output::write_json;
    pub(crate) use beanscan::train::progress::peak_mib;
}
