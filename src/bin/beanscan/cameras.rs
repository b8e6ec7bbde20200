//! `beanscan eval-camera`: leave one camera out and score it (library: `eval::cameras`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use beanscan::classifier::Classifier;
use beanscan::eval::cameras::{self, Camera, Line};
use beanscan::train::data::Dataset;
use beanscan::train::progress;
use clap::Args;

use crate::native::{open_classifier, write_json};

#[derive(Args)]
pub struct EvalCameraArgs {
    /// The camera left out: its photos are scored, and its confirmed beans added as references.
    #[arg(long, value_enum)]
    pub camera: Camera,
    /// Folder holding greencoffee/, usk/ and thai/, each with its manifest.csv.
    #[arg(long, default_value = "../shared/data")]
    pub data_root: PathBuf,
    /// Bundle file (default: the bundle built into beanscan).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Confirmed beans of the camera added per class (comma-separated; 0 = the bundle alone).
    #[arg(long, value_delimiter = ',', default_value = "0,5,10")]
    pub shots: Vec<usize>,
    /// Draws of the added beans (seeds 0..N).
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    #[arg(long)]
    pub k: Option<usize>,
    /// Flips/turns each photo's embedding averages over: 1, 2, 4 or 8 (default: the bundle's,
    /// as the page embeds a photo).
    #[arg(long, value_parser = crate::native::views_arg())]
    pub views: Option<u8>,
    /// "Teach your camera": for each count (comma-separated), that many of the camera's beans
    /// confirmed, as the page proposes them and drawn at random (seeds 0..N), from 600 photos
    /// of its reference pool.
    #[arg(long, value_delimiter = ',')]
    pub teach: Vec<usize>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every embedded photo (path, label, pool, embedding) and the bundle's references
    /// (pool `bundle`) here, one JSON object per line: to study votes without embedding again.
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
}

pub fn eval_camera_cmd(args: &EvalCameraArgs) -> Result<()> {
    let started = Instant::now();
    let mut classifier = open_classifier(args.bundle.as_deref(), args.k, None, args.views)?;
    let data = Dataset::open(&args.data_root.join(args.camera.folder()))?;
    let options = cameras::Options { shots: args.shots.clone(), seeds: args.seeds.max(1), teach: args.teach.clone() };
    // The count to embed is known once the references are drawn: the bar starts then.
    let (mut bar, mut last) = (None, 0);
    let study = cameras::study(&mut classifier, &data, args.camera, &options, |done, total| {
        bar.get_or_insert_with(|| progress::progress(total as u64, "embedding")).inc((done - last) as u64);
        last = done;
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    let photos: usize = study.eval_photos.values().sum();
    println!(
        "{:?}: {photos} photos scored, {} embedded in {:.0} s ({} views), k {}, threshold {:.2}",
        study.camera, study.embedded_photos, study.embed_seconds, study.views, study.k, study.threshold
    );
    println!(
        "{:>5}  {:<10}  {:>15}  {:>15}  {:>15}  {:>7}  {:>7}  {:>15}",
        "shots", "vote", "macro-F1", "N-v-D balanced", "accuracy", "unknown", "notice", "F1 / bal. voted"
    );
    for line in &study.lines {
        print_line(&line.shots.to_string(), line);
    }
    if !study.teach.is_empty() {
        println!("teach your camera: beans confirmed from {} photos, proposed or random", study.teach_pool.unwrap_or(0));
        for t in &study.teach {
            let picks = match t.picks {
                cameras::Picks::Proposed => "p",
                cameras::Picks::Random => "r",
            };
            print_line(&format!("{}{picks}", t.confirmations), &t.line);
        }
    }
    let mut shown: Vec<&str> = Vec::new();
    for c in &study.constant {
        // USK's largest class is Normal: one line for both answers.
        if shown.contains(&c.answer.as_str()) {
            continue;
        }
        shown.push(&c.answer);
        let balanced = c.score.balanced_accuracy.map_or("—".to_string(), |b| format!("{b:.3}"));
        println!(
            "always {:<20} {:>15.3}  {balanced:>15}  {:>15.3}",
            format!("\"{}\"", c.answer),
            c.score.macro_f1,
            c.score.accuracy
        );
    }
    if let Some(path) = &args.json {
        let mut value = serde_json::to_value(&study)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("data".into(), args.data_root.join(args.camera.folder()).display().to_string().into());
            map.insert("seconds".into(), seconds.into());
        }
        write_json(path, &value)?;
    }
    if let Some(path) = &args.embeddings {
        write_embeddings(path, &study, &classifier)?;
    }
    Ok(())
}

/// `--embeddings`: the study's photos, then the bundle's references, as JSON lines.
fn write_embeddings(path: &std::path::Path, study: &cameras::CameraStudy, classifier: &Classifier) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?);
    for photo in &study.embedded {
        serde_json::to_writer(&mut out, photo)?;
        writeln!(out)?;
    }
    let set = &classifier.index.bundled;
    for r in 0..set.len() {
        let photo = cameras::EmbeddedPhoto {
            path: set.ids[r].clone(),
            label: classifier.class_names[usize::from(set.labels[r])].clone(),
            pool: "bundle",
            embedding: set.row(r).to_vec(),
            traits: Vec::new(),
        };
        serde_json::to_writer(&mut out, &photo)?;
        writeln!(out)?;
    }
    out.flush().with_context(|| format!("writing {}", path.display()))
}

/// One table row; `first`: the shots (or confirmations) cell.
fn print_line(first: &str, line: &Line) {
    let vote = match line.vote {
        cameras::Vote::All => "all",
        cameras::Vote::AddedOnly => "added only",
    };
    let balanced = line.balanced_accuracy.map_or("—".to_string(), |b| b.cell());
    let voted_balanced = line.as_voted_balanced_accuracy.map_or("—".to_string(), |b| format!("{:.3}", b.mean));
    println!(
        "{first:>5}  {vote:<10}  {:>15}  {balanced:>15}  {:>15}  {:>6.1}%  {:>6.1}%  {:>7.3} / {voted_balanced}",
        line.macro_f1.cell(),
        line.accuracy.cell(),
        100.0 * line.unknown_rate.mean,
        100.0 * line.unfamiliar_batches.mean,
        line.as_voted_macro_f1.mean
    );
}
