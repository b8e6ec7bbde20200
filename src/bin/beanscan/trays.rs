//! Tray photos on the command line: `classify --tray` (counts, grading, annotated PNG) and
//! `eval-trays` (detection, counting and labelling against polygon annotations).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use beanscan::Classifier;
use beanscan::eval::tray_eval::{self, ShotLine};
use beanscan::train::progress;
use beanscan::train::tray_data;
use beanscan::tray::{self, Tray, annotate};
use clap::Args;

use crate::native::{open_classifier, peak_mib, write_json};

#[derive(Args)]
pub struct EvalTraysArgs {
    /// Bundle file (default: the bundle built into beanscan).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Folder of tray photos, each `NAME.jpg` with `NAME.json` (a list of {label, points}), any depth.
    #[arg(long)]
    pub data: PathBuf,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long)]
    pub k: Option<usize>,
    /// Distance beyond which a bean is "unknown" (default: the bundle's threshold for tray beans).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Flips/turns each bean's embedding averages over: 1, 2, 4 or 8 (default 1).
    #[arg(long, value_parser = crate::native::views_arg())]
    pub views: Option<u8>,
    /// References added per class in the date-split study (comma-separated; 0 = the bundle alone).
    #[arg(long, value_delimiter = ',', default_value = "0,5,10")]
    pub shots: Vec<usize>,
    /// Seeds per shot count in the date-split study.
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// In the date-split study, vote among the added tray references only, not the bundle's
    /// (the page's "my references only").
    #[arg(long)]
    pub added_only: bool,
    /// How the few-shot study splits the trays (comma-separated): by date (references from
    /// other sessions) or by photo (references from the other photos of the same session).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "date")]
    pub split: Vec<tray_eval::Split>,
    /// Hold out this date only (YYYYMMDD): its beans alone are labelled, with references
    /// from the other dates. For a bundle trained on the other dates' tray beans.
    #[arg(long)]
    pub hold_out: Option<String>,
    /// Write every matched tray bean (photo, date, true label, embedding) and the bundle's
    /// references as JSON here, to study the labelling outside beanscan.
    #[arg(long)]
    pub beans: Option<PathBuf>,
}

#[derive(Args)]
pub struct TrayCropsArgs {
    /// Folder of tray photos, each `NAME.jpg` with `NAME.json` (a list of {label, points}), any depth.
    #[arg(long)]
    pub data: PathBuf,
    /// Where the crops (PNG), `manifest.csv` and `beans.json` (beans per date and class) go.
    #[arg(long)]
    pub out: PathBuf,
    /// The beans of this date (YYYYMMDD) go to split `held` (`val` without --with) instead of
    /// `train`; `none` (the default): every tray bean trains.
    #[arg(long, default_value = "none")]
    pub hold_out: String,
    /// Single-bean data sets (folders with manifest.csv: greencoffee, thai, usk) to join, each
    /// linked as OUT/NAME with its rows and splits kept; Thai's Full-black, Full-sour and
    /// Slight-insect-damage join Black, Sour and Insect-damaged. May be given more than once.
    #[arg(long = "with")]
    pub with: Vec<PathBuf>,
}

#[derive(Args)]
pub struct ScenesArgs {
    /// Single-bean photos on a plain background (a folder with manifest.csv, e.g. usk or thai,
    /// or class folders of photos).
    #[arg(long, required = true)]
    pub beans: Vec<PathBuf>,
    /// Folder of the texture photos the surfaces are made from.
    #[arg(long, default_value = "tests/fixtures/backgrounds")]
    pub backgrounds: PathBuf,
    /// Where the scenes go: SURFACE/SURFACE-NNN.jpg with its .json of polygons.
    #[arg(long)]
    pub out: PathBuf,
    /// Surfaces (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    pub surfaces: Vec<String>,
    /// Scenes per surface.
    #[arg(long, default_value_t = 50)]
    pub photos: usize,
    /// Photos read per bean folder for cut-outs.
    #[arg(long, default_value_t = 300)]
    pub cut_outs: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `beanscan scenes`: annotated photos of a few real beans on real surfaces.
pub fn scenes_cmd(args: &ScenesArgs) -> Result<()> {
    use beanscan::eval::scenes;
    let mut cut_outs = Vec::new();
    for dir in &args.beans {
        cut_outs.extend(scenes::load_cut_outs(dir, args.cut_outs)?);
    }
    let surfaces = if args.surfaces.is_empty() {
        scenes::SURFACES.to_vec()
    } else {
        args.surfaces.iter().map(|s| scenes::surface(s)).collect::<beanscan::Result<_>>()?
    };
    let written = scenes::write_scenes(&cut_outs, &surfaces, &args.backgrounds, &args.out, args.photos, args.seed)?;
    println!("{written} scenes from {} cut-out beans → {}", cut_outs.len(), args.out.display());
    Ok(())
}

/// `beanscan tray-crops`: the annotated tray beans as a training data set.
pub fn tray_crops_cmd(args: &TrayCropsArgs) -> Result<()> {
    let started = Instant::now();
    let held = Some(args.hold_out.as_str()).filter(|d| *d != "none");
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let report = beanscan::train::tray_crops::write_tray_crops(&args.data, &args.out, held, &args.with)?;
    println!(
        "{} tray beans, {} single-bean photos → {} ({:.0} s)",
        report.tray_rows,
        report.single_rows,
        args.out.display(),
        started.elapsed().as_secs_f32()
    );
    Ok(())
}

/// One line per photo whose count is off by more than half (found and true counts), so a
/// photo where bean finding failed shows at a glance.
fn print_off_counts(lines: &[tray_eval::PhotoLine]) {
    let off: Vec<&tray_eval::PhotoLine> = lines.iter().filter(|l| l.count_error > 0.5).collect();
    if off.is_empty() {
        return;
    }
    println!("{} photos with a count off by more than half:", off.len());
    for l in off {
        println!("  {}: found {}, true {} ({} matched)", l.path, l.found, l.true_beans, l.matched);
    }
}

/// Prints one tray photo's counts and grading; writes the annotated photo when asked.
pub fn classify_tray(classifier: &Classifier, path: &Path, annotate_dir: Option<&Path>) -> Result<Tray> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the file: {e}"))?;
    let photo = beanscan::preprocess::decode(&bytes)?;
    let tray = pollster::block_on(tray::label_tray(classifier, &photo))?;
    let name = path.display();
    if tray.beans.is_empty() {
        println!("{name}\t0 beans\tthis photo shows no clear beans against its background");
        return Ok(tray);
    }
    println!("{name}\t{} beans\t{} unknown\tdefects {:.1} %", tray.beans.len(), tray.unknown, tray.defect_percent);
    for (class, n) in tray.counts.iter().filter(|(_, n)| *n > 0) {
        println!("{name}\t  {class}\t{n}");
    }
    let g = &tray.grading;
    println!(
        "{name}\tSCA: {} primary + {} secondary full defects in these {} beans (≈ {:.0} g); \
         ≈ {:.1} + {:.1} per 350 g → {}",
        g.primary_full_defects,
        g.secondary_full_defects,
        tray.beans.len() - tray.unknown as usize,
        g.sample_grams,
        g.primary_per_sample,
        g.secondary_per_sample,
        g.grade.name()
    );
    if tray.unfamiliar {
        // On stderr: the lines above keep their form for scripts that read them.
        eprintln!("{name}\tprovisional grade: {}", beanscan::notice::NEW_CAMERA);
    }
    if let Some(dir) = annotate_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("tray");
        let out = dir.join(format!("{stem}.annotated.png"));
        annotate::annotate(&photo, &tray, &classifier.class_names)
            .save(&out)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("{name}\tannotated: {}", out.display());
    }
    Ok(tray)
}

pub fn eval_trays_cmd(args: &EvalTraysArgs) -> Result<()> {
    let started = Instant::now();
    let mut classifier = open_classifier(args.bundle.as_deref(), args.k, args.threshold, None)?;
    if let Some(views) = args.views {
        classifier.set_tray_views(views)?;
    }
    let photos = tray_data::load_trays(&args.data)?;
    if let Some(date) = &args.hold_out
        && !photos.iter().any(|p| p.date == *date)
    {
        let dates = tray_data::tray_dates(&photos).join(", ");
        bail!("--hold-out {date}: no tray photo of that date in {} (dates: {dates})", args.data.display());
    }
    let bar = progress::progress(photos.len() as u64, "trays");
    let (detection, lines, beans) =
        pollster::block_on(tray_eval::detect_and_embed(&classifier, &photos, |n| bar.set_position(n as u64)))?;
    bar.finish_and_clear();
    let detect_seconds = started.elapsed().as_secs_f64();
    if lines.is_empty() {
        bail!("no tray photos in {}", args.data.display());
    }
    if let Some(path) = &args.beans {
        write_json(path, &beans_json(&classifier, &photos, &beans))?;
    }
    let count_error = lines.iter().map(|l| l.count_error).sum::<f32>() / lines.len() as f32;
    let not_held_out = |b: &tray_eval::FoundBean| args.hold_out.as_ref().is_some_and(|d| photos[b.photo].date != *d);
    let labelling = tray_eval::label_beans(&classifier, &beans, not_held_out)?;
    println!(
        "{} photos, {} annotated beans: detection P {:.3} R {:.3} (IoU ≥ {}), mean IoU {:.3}; count error {:.3}",
        lines.len(),
        detection.true_positives + detection.false_negatives,
        detection.precision,
        detection.recall,
        detection.iou_threshold,
        detection.mean_iou,
        count_error
    );
    print_off_counts(&lines);
    println!(
        "bean accuracy {:.3} over {} found beans{} of classes the bundle knows ({:.1} % unknown beyond {:.2})",
        labelling.accuracy,
        labelling.beans,
        args.hold_out.as_ref().map(|d| format!(" of date {d}")).unwrap_or_default(),
        100.0 * labelling.unknown_rate,
        classifier.tray_threshold
    );
    for (class, l) in &labelling.per_class {
        let twin = if classifier.class_names.contains(class) { "" } else { " (no twin in the bundle)" };
        println!("  {class:>16}: {}/{} right, {} unknown{twin}; labelled as {:?}", l.correct, l.beans, l.unknown, l.labelled_as);
    }
    println!(
        "new-camera notice on {:.1} % of the photos (their beans' median nearest reference beyond {:.2})",
        100.0 * labelling.unfamiliar_photos,
        classifier.threshold
    );
    let mut shots: Vec<ShotLine> = Vec::new();
    for (i, &split) in args.split.iter().enumerate() {
        // The bundle alone (0 added) labels the same whatever the split: once.
        for &n in args.shots.iter().filter(|&&n| n > 0 || i == 0) {
            // With no added references there is nothing of one's own to vote among.
            classifier.added_only = args.added_only && n > 0;
            let seeds = if n == 0 { 1 } else { args.seeds };
            let line = tray_eval::shots_study(&mut classifier, &beans, &photos, n, seeds, split, args.hold_out.as_deref())?;
            let f = |v: Option<f32>| v.unwrap_or(f32::NAN);
            let name = clap::ValueEnum::to_possible_value(&split).expect("every split has a name");
            let name = name.get_name();
            match &line.not_run {
                Some(why) => println!("{name} split, {n:>2} added references per class: not run: {why}"),
                None => println!(
                    "{name} split, {n:>2} added references per class: accuracy {:.3} ± {:.3}; classes without a twin: \
                     recall {:.3} ± {:.3}, unknown {:.3} ({} folds)",
                    f(line.accuracy_mean),
                    f(line.accuracy_sd),
                    f(line.new_class_recall_mean),
                    f(line.new_class_recall_sd),
                    f(line.new_class_unknown_mean),
                    line.folds.len()
                ),
            }
            if let Some(notice) = line.unfamiliar_photos_mean {
                println!(
                    "{name} split, {n:>2} added references per class: new-camera notice on {:.1} % of the photos",
                    100.0 * notice
                );
            }
            shots.push(line);
        }
    }
    if let Some(path) = &args.json {
        let value = serde_json::json!({
            "detection": detection,
            "count_error": count_error,
            "bean_accuracy": labelling.accuracy,
            "labelling": labelling,
            "date_split": shots,
            "photos": lines,
            "bundle": classifier.version,
            "data": args.data.display().to_string(),
            "k": classifier.k,
            "threshold": classifier.tray_threshold,
            "added_only": args.added_only,
            "hold_out": args.hold_out,
            "split": args.split,
            "views": classifier.tray_views(),
            "seconds_detect_and_embed": detect_seconds,
            "seconds": started.elapsed().as_secs_f64(),
            "peak_rss_mib": peak_mib(),
        });
        write_json(path, &value)?;
    }
    Ok(())
}

/// The matched tray beans and the bundle's references, embeddings included.
fn beans_json(classifier: &Classifier, photos: &[tray_data::TrayPhoto], beans: &[tray_eval::FoundBean]) -> serde_json::Value {
    let refs = &classifier.index.bundled;
    let references: Vec<_> = (0..refs.len())
        .map(|i| {
            serde_json::json!({
                "label": classifier.class_names.get(usize::from(refs.labels[i])),
                "id": refs.ids[i],
                "embedding": refs.row(i),
            })
        })
        .collect();
    let beans: Vec<_> = beans
        .iter()
        .map(|b| {
            serde_json::json!({
                "photo": photos[b.photo].path.display().to_string(),
                "date": photos[b.photo].date,
                "label": b.label,
                "embedding": b.embedding,
            })
        })
        .collect();
    serde_json::json!({ "bundle": classifier.version, "references": references, "beans": beans })
}
