//! Leave one camera out: how a bundle labels single-bean photos from a camera, alone and with a
//! few of that camera's confirmed beans added as references (as the page adds them), scored in
//! the camera's own label space beside the constant answers.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::classifier::Classifier;
use crate::eval::metrics::{self, Confusion, Report};
use crate::eval::study::MeanSd;
use crate::index::ReferenceSet;
use crate::train::data::Dataset;
use crate::tray::grade;

/// A camera whose photos can be left out (`shared/data/README.md`, "Cameras").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Camera {
    /// USK-Coffee: Normal / Defect; scored on its `val`, references from its `train`.
    Usk,
    /// Mae Fah Luang: 17 SCA defects, no Normal; a seeded third of each class is scored.
    Thai,
    /// Greencoffee round r1: its `val`, references from its `train`.
    R1,
    /// Greencoffee round r2.
    R2,
}

impl Camera {
    /// Its folder under the data root.
    pub fn folder(self) -> &'static str {
        match self {
            Camera::Usk => "usk",
            Camera::Thai => "thai",
            Camera::R1 | Camera::R2 => "greencoffee",
        }
    }

    fn round(self) -> Option<&'static str> {
        match self {
            Camera::R1 => Some("r1"),
            Camera::R2 => Some("r2"),
            _ => None,
        }
    }
}

/// Thai's evaluation third is drawn with this seed: fixed, so every run scores the same photos
/// and the spread over seeds is the spread of the drawn references alone.
pub const SPLIT_SEED: u64 = 0;

/// USK's one class for every defect.
pub const LUMPED_DEFECT: &str = "Defect";

/// Dataset rows that are scored, and rows references are drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct Pools {
    pub eval: Vec<usize>,
    pub references: Vec<usize>,
}

/// The camera's two pools; only labelled rows (greencoffee's `label_applies`).
pub fn pools(camera: Camera, data: &Dataset) -> Pools {
    let rows = (0..data.samples.len()).filter(|&r| data.samples[r].label_applies);
    let of_split = |split: &str| -> Vec<usize> {
        rows.clone()
            .filter(|&r| data.samples[r].split == split && camera.round().is_none_or(|round| data.samples[r].round == round))
            .collect()
    };
    if camera == Camera::Thai {
        let (eval, references) = third_per_class(data, &rows.clone().collect::<Vec<_>>(), SPLIT_SEED);
        return Pools { eval, references };
    }
    Pools { eval: of_split("val"), references: of_split("train") }
}

/// About one photo in three of each class (rounded), drawn by `seed`; the rest. Both sorted.
pub fn third_per_class(data: &Dataset, rows: &[usize], seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class = BTreeMap::<u16, Vec<usize>>::new();
    for &r in rows {
        by_class.entry(data.samples[r].label).or_default().push(r);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut eval, mut rest) = (Vec::new(), Vec::new());
    for mut list in by_class.into_values() {
        list.sort_by(|&a, &b| data.samples[a].path.cmp(&data.samples[b].path));
        list.shuffle(&mut rng);
        let n = (list.len() + 1) / 3;
        eval.extend_from_slice(&list[..n]);
        rest.extend_from_slice(&list[n..]);
    }
    eval.sort_unstable();
    rest.sort_unstable();
    (eval, rest)
}

/// Up to `most` reference photos per class (by label name) in an order fixed by `seed`, one
/// photo per bean (two faces of one bean are not two confirmed beans). Fewer shots take the
/// first of them, so a seed's 5 are among its 10.
pub fn draw_references(data: &Dataset, rows: &[usize], most: usize, seed: u64) -> BTreeMap<String, Vec<usize>> {
    let mut beans = BTreeMap::<&str, BTreeMap<&str, Vec<usize>>>::new();
    for &r in rows {
        let s = &data.samples[r];
        beans.entry(&data.class_names[usize::from(s.label)]).or_default().entry(&s.bean).or_default().push(r);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    beans
        .into_iter()
        .map(|(class, by_bean)| {
            let mut faces: Vec<Vec<usize>> = by_bean.into_values().collect();
            faces.shuffle(&mut rng);
            let drawn = faces.iter().take(most).map(|f| f[rng.gen_range(0..f.len())]).collect();
            (class.to_string(), drawn)
        })
        .collect()
}

/// The camera's label names, and how the bundle's labels read in them.
#[derive(Debug, Clone)]
pub struct LabelSpace {
    pub labels: Vec<String>,
    /// Every defect is one class (USK): any label but Normal, and unknown, reads as it.
    pub lumped: bool,
}

impl LabelSpace {
    pub fn of(camera: Camera, data: &Dataset) -> Self {
        Self { labels: data.class_names.clone(), lumped: camera == Camera::Usk }
    }

    /// The camera's name for a label of the classifier (`None`: unknown, which stays unknown
    /// unless defects are lumped). The one alias table is the SCA's, as the tray grading reads
    /// our classes ([`grade::rule_for`]): Black → Full-black, Insect-damaged →
    /// Slight-insect-damage. A label the camera lacks stays as it is: always wrong there.
    pub fn name_of(&self, label: Option<&str>) -> Option<String> {
        if self.lumped {
            return Some(if label == Some("Normal") { "Normal" } else { LUMPED_DEFECT }.to_string());
        }
        let label = label?;
        if self.labels.iter().any(|l| l == label) {
            return Some(label.to_string());
        }
        // A row names the general defect first, narrower ones after ("Broken/Chipped/Cut"): a
        // class its row does not name (Fissure) takes the narrowest the camera has, Cut, as the
        // grading reads fissures.
        let alias = sca_names(label).into_iter().rev().find(|n| self.labels.contains(n));
        Some(alias.unwrap_or_else(|| label.to_string()))
    }

    /// The classifier class a confirmed bean of this camera label is added under: the class
    /// that reads as it (Full-black → Black), else the label itself as a class of its own
    /// (Partial-black; USK's lumped Defect, which is no one class of the bundle's).
    pub fn reference_class(&self, label: &str, classes: &[String]) -> String {
        let twin = classes.iter().find(|c| *c == label).or_else(|| {
            (!self.lumped).then(|| classes.iter().find(|c| self.name_of(Some(c)).as_deref() == Some(label))).flatten()
        });
        twin.cloned().unwrap_or_else(|| label.to_string())
    }
}

/// The names of a class's SCA row, spelt as the data sets spell them: "Full Black" →
/// Full-black; "Broken/Chipped/Cut" → Broken, Chipped, Cut.
fn sca_names(class: &str) -> Vec<String> {
    let spell = |name: &str| {
        let lower = name.trim().to_lowercase().replace(' ', "-");
        let mut chars = lower.chars();
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
    };
    grade::rule_for(class).map(|rule| rule.sca_defect.split('/').map(spell).collect()).unwrap_or_default()
}

/// Figures of one labelling, in the camera's label space.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub accuracy: f64,
    /// Mean F1 over the classes among the scored photos.
    pub macro_f1: f64,
    /// Normal-vs-defect (unknown counts as a defect); null unless both occur among the photos.
    pub balanced_accuracy: Option<f64>,
    /// Share the vote flagged unknown (scored as wrong, or as Defect where defects are lumped).
    pub unknown_rate: f64,
    /// Share of batches of [`NOTICE_BATCH`] scored photos (a seeded shuffle) that get the
    /// new-camera notice ([`Classifier::unfamiliar`]).
    pub unfamiliar_batches: f64,
    pub per_class_f1: BTreeMap<String, f64>,
    /// The same figures had every flagged photo kept its voted label: how much of the loss is
    /// the unknown threshold rather than the vote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_voted: Option<AsVoted>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AsVoted {
    pub macro_f1: f64,
    pub balanced_accuracy: Option<f64>,
}

/// Scores camera names (`None`: unknown) against the true labels; `flagged`: photos the vote
/// called unknown.
pub fn score(truth: &[String], predicted: &[Option<String>], flagged: usize) -> (Score, Confusion) {
    let mut names: Vec<String> = truth.to_vec();
    names.sort();
    names.dedup();
    let mut extra: Vec<String> = predicted.iter().flatten().filter(|p| !names.contains(p)).cloned().collect();
    extra.sort();
    extra.dedup();
    names.extend(extra);
    let index = |name: &str| names.iter().position(|n| n == name).expect("listed") as u16;
    let t: Vec<u16> = truth.iter().map(|l| index(l)).collect();
    let p: Vec<u16> = predicted.iter().map(|l| l.as_deref().map_or(names.len() as u16, index)).collect();
    let report = Report::new(&names, &t, &p, None);
    let both = truth.iter().any(|l| l == "Normal") && truth.iter().any(|l| l != "Normal");
    let normal = names.iter().position(|n| n == "Normal").filter(|_| both);
    let balanced = normal.map(|n| metrics::normal_vs_defect(&t, &p, n as u16).balanced_accuracy);
    let score = Score {
        accuracy: report.accuracy,
        macro_f1: report.macro_f1,
        balanced_accuracy: balanced,
        unknown_rate: flagged as f64 / truth.len().max(1) as f64,
        unfamiliar_batches: 0.0,
        per_class_f1: report.per_class.iter().map(|(c, s)| (c.clone(), s.f1)).collect(),
        as_voted: None,
    };
    (score, report.confusion)
}

/// Which references vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vote {
    /// The bundle's and the added ones (the page's default).
    All,
    /// The added ones only (the page's "my references only").
    AddedOnly,
}

/// One (shots, vote) cell: its figures over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// Confirmed beans added per class (0: the bundle alone, one run).
    pub shots: usize,
    pub vote: Vote,
    pub accuracy: MeanSd,
    pub macro_f1: MeanSd,
    pub balanced_accuracy: Option<MeanSd>,
    pub unknown_rate: MeanSd,
    pub unfamiliar_batches: MeanSd,
    /// [`Score::as_voted`] over the runs.
    pub as_voted_macro_f1: MeanSd,
    pub as_voted_balanced_accuracy: Option<MeanSd>,
    /// One per seed.
    pub runs: Vec<Score>,
    /// The first run's.
    pub confusion: Confusion,
}

impl Line {
    fn of(shots: usize, vote: Vote, runs: Vec<(Score, Confusion)>) -> Self {
        let stat = |f: fn(&Score) -> f64| MeanSd::of(&runs.iter().map(|(s, _)| f(s)).collect::<Vec<_>>());
        let balanced: Option<Vec<f64>> = runs.iter().map(|(s, _)| s.balanced_accuracy).collect();
        let voted = |s: &Score| s.as_voted.clone().expect("scored photos carry it");
        let voted_balanced: Option<Vec<f64>> = runs.iter().map(|(s, _)| voted(s).balanced_accuracy).collect();
        Self {
            shots,
            vote,
            accuracy: stat(|s| s.accuracy),
            macro_f1: stat(|s| s.macro_f1),
            balanced_accuracy: balanced.map(|b| MeanSd::of(&b)),
            unknown_rate: stat(|s| s.unknown_rate),
            unfamiliar_batches: stat(|s| s.unfamiliar_batches),
            as_voted_macro_f1: MeanSd::of(&runs.iter().map(|(s, _)| voted(s).macro_f1).collect::<Vec<_>>()),
            as_voted_balanced_accuracy: voted_balanced.map(|b| MeanSd::of(&b)),
            confusion: runs[0].1.clone(),
            runs: runs.into_iter().map(|(s, _)| s).collect(),
        }
    }
}

/// Photos per batch for the new-camera notice: a grader's batch of single beans.
pub const NOTICE_BATCH: usize = 10;

/// Share of batches of [`NOTICE_BATCH`] of these nearest distances (shuffled with
/// [`SPLIT_SEED`]; a last partial batch counts) that get the notice.
fn unfamiliar_batches(classifier: &Classifier, distances: &[f32]) -> f64 {
    let mut order: Vec<usize> = (0..distances.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(SPLIT_SEED));
    let batches: Vec<Vec<f32>> = order.chunks(NOTICE_BATCH).map(|c| c.iter().map(|&i| distances[i]).collect()).collect();
    batches.iter().filter(|b| classifier.unfamiliar(b)).count() as f64 / batches.len().max(1) as f64
}

/// A photo to score: its camera label and embedding.
pub type Photo = (String, Vec<f32>);

/// Labels every photo with the classifier as it stands and scores the camera names, flagged
/// photos as unknown (and, in [`Score::as_voted`], as their voted label).
fn score_photos(classifier: &Classifier, space: &LabelSpace, photos: &[Photo]) -> Result<(Score, Confusion)> {
    let (mut named, mut voted, mut flagged, mut distances) = (Vec::new(), Vec::new(), 0, Vec::new());
    for (_, embedding) in photos {
        let p = classifier.label(embedding)?;
        distances.push(p.distance);
        flagged += usize::from(p.unknown);
        named.push(space.name_of((!p.unknown).then_some(p.label.as_str())));
        voted.push(space.name_of(Some(&p.label)));
    }
    let truth: Vec<String> = photos.iter().map(|(l, _)| l.clone()).collect();
    let (mut result, confusion) = score(&truth, &named, flagged);
    let (as_voted, _) = score(&truth, &voted, 0);
    result.as_voted = Some(AsVoted { macro_f1: as_voted.macro_f1, balanced_accuracy: as_voted.balanced_accuracy });
    result.unfamiliar_batches = unfamiliar_batches(classifier, &distances);
    Ok((result, confusion))
}

/// Runs `f` with the first `shots` drawn references of each class (camera label → embeddings in
/// draw order) added, classes the classifier lacks added for them; then puts back the
/// classifier's own references, classes and vote, whatever `f` returned.
fn with_references<T>(
    classifier: &mut Classifier,
    space: &LabelSpace,
    drawn: &BTreeMap<String, Vec<Vec<f32>>>,
    shots: usize,
    f: impl FnOnce(&mut Classifier) -> Result<T>,
) -> Result<T> {
    let classes = classifier.class_names.len();
    let own = std::mem::replace(&mut classifier.index.added, ReferenceSet::new(classifier.model_config.embed_dim));
    let added_only = classifier.added_only;
    let add = |classifier: &mut Classifier| -> Result<()> {
        for (label, embeddings) in drawn {
            let class = space.reference_class(label, &classifier.class_names[..classes]);
            if !classifier.class_names.contains(&class) {
                classifier.class_names.push(class.clone());
            }
            for e in embeddings.iter().take(shots) {
                classifier.add_reference(e, &class)?;
            }
        }
        Ok(())
    };
    let result = add(classifier).and_then(|()| f(classifier));
    classifier.index.added = own;
    classifier.references_changed();
    classifier.class_names.truncate(classes);
    classifier.added_only = added_only;
    result
}

/// Every (shots, vote) line: the bundle alone for 0 shots, else per seed's draw both votes.
pub fn score_shots(
    classifier: &mut Classifier,
    space: &LabelSpace,
    photos: &[Photo],
    draws: &[BTreeMap<String, Vec<Vec<f32>>>],
    shots: &[usize],
) -> Result<Vec<Line>> {
    let mut lines = Vec::new();
    for &n in shots {
        if n == 0 || draws.is_empty() {
            lines.push(Line::of(n, Vote::All, vec![score_photos(classifier, space, photos)?]));
            continue;
        }
        let [all, own] = both_votes(classifier, space, photos, draws, n, n)?;
        lines.extend([all, own]);
    }
    Ok(lines)
}

/// The (all, added only) lines of `shots` references of each draw added (`label`: the lines'
/// shots cell).
fn both_votes(
    classifier: &mut Classifier,
    space: &LabelSpace,
    photos: &[Photo],
    draws: &[BTreeMap<String, Vec<Vec<f32>>>],
    shots: usize,
    label: usize,
) -> Result<[Line; 2]> {
    let (mut all, mut own) = (Vec::new(), Vec::new());
    for drawn in draws {
        let (a, o) = with_references(classifier, space, drawn, shots, |c: &mut Classifier| {
            c.added_only = false;
            let a = score_photos(c, space, photos)?;
            c.set_added_only(true)?;
            Ok((a, score_photos(c, space, photos)?))
        })?;
        all.push(a);
        own.push(o);
    }
    Ok([Line::of(label, Vote::All, all), Line::of(label, Vote::AddedOnly, own)])
}

/// [`TEACH_POOL`] rows of the reference pool, drawn with [`SPLIT_SEED`], sorted.
fn teach_pool(references: &[usize]) -> Vec<usize> {
    let mut rows = references.to_vec();
    rows.shuffle(&mut StdRng::seed_from_u64(SPLIT_SEED));
    rows.truncate(TEACH_POOL);
    rows.sort_unstable();
    rows
}

/// The pool photos at `picks` as drawn references: camera label → embeddings.
fn confirmed(pool: &[Photo], picks: &[usize]) -> BTreeMap<String, Vec<Vec<f32>>> {
    let mut out = BTreeMap::<String, Vec<Vec<f32>>>::new();
    for &i in picks {
        out.entry(pool[i].0.clone()).or_default().push(pool[i].1.clone());
    }
    out
}

/// The teach lines: for each count, that many pool photos confirmed with their true labels,
/// proposed (one run) or random (one run per seed), each scored with both votes.
pub fn score_teach(
    classifier: &mut Classifier,
    space: &LabelSpace,
    photos: &[Photo],
    pool: &[Photo],
    counts: &[usize],
    seeds: usize,
) -> Result<Vec<TeachLine>> {
    let dim = classifier.model_config.embed_dim;
    let embeddings: Vec<&[f32]> = pool.iter().map(|p| &p.1[..dim]).collect();
    let mut lines = Vec::new();
    for &n in counts.iter().filter(|&&n| n > 0) {
        let proposed = vec![crate::teach::propose(&embeddings, &[], n)];
        let random: Vec<Vec<usize>> = (0..seeds.max(1) as u64)
            .map(|seed| {
                let mut all: Vec<usize> = (0..pool.len()).collect();
                all.shuffle(&mut StdRng::seed_from_u64(seed));
                all.truncate(n);
                all
            })
            .collect();
        for (picks, chosen) in [(Picks::Proposed, proposed), (Picks::Random, random)] {
            let draws: Vec<_> = chosen.iter().map(|c| confirmed(pool, c)).collect();
            for line in both_votes(classifier, space, photos, &draws, usize::MAX, n)? {
                lines.push(TeachLine { confirmations: n, picks, line });
            }
        }
    }
    Ok(lines)
}

/// A constant answer's figures: the yardsticks.
#[derive(Debug, Clone, Serialize)]
pub struct Constant {
    pub answer: String,
    pub score: Score,
}

/// Always "Normal", and always the largest class among the scored photos (ties: first by name).
pub fn constants(truth: &[String]) -> Vec<Constant> {
    let mut counts = BTreeMap::<&str, usize>::new();
    truth.iter().for_each(|l| *counts.entry(l).or_default() += 1);
    let largest = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map_or("Normal", |(l, _)| l);
    ["Normal", largest]
        .into_iter()
        .map(|answer| {
            let predicted = vec![Some(answer.to_string()); truth.len()];
            Constant { answer: answer.to_string(), score: score(truth, &predicted, 0).0 }
        })
        .collect()
}

/// Embeds photos as the page embeds a single-bean photo: decoded, the bean framed, the
/// classifier's views averaged, the bean's traits after the embedding
/// ([`Classifier::split_bean`]). `progress` gets the count done.
pub fn embed_rows(
    classifier: &Classifier,
    data: &Dataset,
    rows: &[usize],
    mut progress: impl FnMut(usize),
) -> Result<HashMap<usize, Vec<f32>>> {
    let mut out = HashMap::with_capacity(rows.len());
    // About 64 network passes per batch, as `eval` embeds.
    for chunk in rows.chunks((64 / usize::from(classifier.views())).max(1)) {
        let (inputs, traits): (Vec<_>, Vec<_>) = chunk
            .iter()
            .map(|&r| {
                let path = &data.samples[r].path;
                let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                classifier.bean_input(&bytes).with_context(|| format!("reading {}", path.display()))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        let embeddings = pollster::block_on(classifier.embed_inputs(&inputs))?;
        out.extend(chunk.iter().copied().zip(embeddings.into_iter().zip(traits).map(|(e, t)| [e, t.to_vec()].concat())));
        progress(out.len());
    }
    Ok(out)
}

/// What `eval-camera` reports.
#[derive(Debug, Clone, Serialize)]
pub struct CameraStudy {
    pub camera: Camera,
    pub bundle: String,
    pub k: usize,
    pub threshold: f32,
    pub views: u8,
    pub shots: Vec<usize>,
    pub seeds: usize,
    /// Seed of the evaluation third where the camera has no split of its own (Thai).
    pub split_seed: u64,
    pub eval_photos: BTreeMap<String, usize>,
    pub reference_pool: BTreeMap<String, usize>,
    /// How each of the classifier's labels reads in the camera's label space.
    pub alias: BTreeMap<String, String>,
    /// The class each camera label's confirmed beans are added under.
    pub reference_classes: BTreeMap<String, String>,
    pub lines: Vec<Line>,
    /// `--teach`: macro-F1 and the rest against the number of beans confirmed, proposed or random.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub teach: Vec<TeachLine>,
    /// Photos the teach lines picked from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teach_pool: Option<usize>,
    pub constant: Vec<Constant>,
    pub embedded_photos: usize,
    pub embed_seconds: f64,
    /// Every photo embedded, for `eval-camera --embeddings` (not in the JSON report).
    #[serde(skip)]
    pub embedded: Vec<EmbeddedPhoto>,
}

/// One embedded photo of the study: for studying votes and notices outside the command.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddedPhoto {
    pub path: String,
    /// The camera's label.
    pub label: String,
    /// Scored (`eval`) or drawn as a reference (`reference`).
    pub pool: &'static str,
    pub embedding: Vec<f32>,
    /// The bean's traits ([`crate::traits`]); none for the bundle's references.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traits: Vec<f32>,
}

/// Options of one study.
#[derive(Debug, Clone)]
pub struct Options {
    /// Confirmed beans added per class (0: the bundle alone).
    pub shots: Vec<usize>,
    /// Seeds 0..seeds draw the references.
    pub seeds: usize,
    /// Confirmations for the "teach your camera" lines (empty: none): beans proposed by
    /// [`crate::teach::propose`] against as many drawn at random, from [`TEACH_POOL`] photos.
    pub teach: Vec<usize>,
}

/// Unlabelled photos of the camera that the teach lines pick from (a seeded draw from the
/// reference pool): a batch or a few trays' worth.
pub const TEACH_POOL: usize = 600;

/// How the confirmed beans of a teach line were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Picks {
    /// [`crate::teach::propose`]: one run (it draws nothing).
    Proposed,
    /// Uniformly from the pool, one run per seed.
    Random,
}

/// One (confirmations, picks, vote) cell of the teach study.
#[derive(Debug, Clone, Serialize)]
pub struct TeachLine {
    pub confirmations: usize,
    pub picks: Picks,
    #[serde(flatten)]
    pub line: Line,
}

/// Scores `camera`'s photos in `data` (its folder's manifest): embeds what is scored and what
/// is drawn, once each, then every line. `progress(done, total)` while embedding.
pub fn study(
    classifier: &mut Classifier,
    data: &Dataset,
    camera: Camera,
    options: &Options,
    mut progress: impl FnMut(usize, usize),
) -> Result<CameraStudy> {
    let pools = pools(camera, data);
    if pools.eval.is_empty() {
        bail!("no photos of camera {camera:?} to score: check the manifest's split and round columns");
    }
    let most = options.shots.iter().copied().max().unwrap_or(0);
    let draws: Vec<BTreeMap<String, Vec<usize>>> = if most == 0 {
        Vec::new()
    } else {
        (0..options.seeds as u64).map(|seed| draw_references(data, &pools.references, most, seed)).collect()
    };
    let teach_pool: Vec<usize> = if options.teach.is_empty() { Vec::new() } else { teach_pool(&pools.references) };
    let mut rows: Vec<usize> = pools
        .eval
        .iter()
        .copied()
        .chain(draws.iter().flat_map(|d| d.values().flatten().copied()))
        .chain(teach_pool.iter().copied())
        .collect();
    rows.sort_unstable();
    rows.dedup();
    let started = std::time::Instant::now();
    let embedded = embed_rows(classifier, data, &rows, |done| progress(done, rows.len()))?;
    let embed_seconds = started.elapsed().as_secs_f64();
    let label = |r: usize| data.class_names[usize::from(data.samples[r].label)].clone();
    let photos: Vec<Photo> = pools.eval.iter().map(|&r| (label(r), embedded[&r].clone())).collect();
    let drawn: Vec<BTreeMap<String, Vec<Vec<f32>>>> = draws
        .iter()
        .map(|d| d.iter().map(|(c, rows)| (c.clone(), rows.iter().map(|r| embedded[r].clone()).collect())).collect())
        .collect();
    let space = LabelSpace::of(camera, data);
    let lines = score_shots(classifier, &space, &photos, &drawn, &options.shots)?;
    let pool: Vec<Photo> = teach_pool.iter().map(|&r| (label(r), embedded[&r].clone())).collect();
    let teach = score_teach(classifier, &space, &photos, &pool, &options.teach, options.seeds)?;
    let count = |rows: &[usize]| {
        let mut counts = BTreeMap::new();
        rows.iter().for_each(|&r| *counts.entry(label(r)).or_default() += 1);
        counts
    };
    let truth: Vec<String> = photos.iter().map(|(l, _)| l.clone()).collect();
    let scored: std::collections::HashSet<usize> = pools.eval.iter().copied().collect();
    let dim = classifier.model_config.embed_dim;
    let embedded_list = rows
        .iter()
        .map(|&r| EmbeddedPhoto {
            path: data.samples[r].path.display().to_string(),
            label: label(r),
            pool: if scored.contains(&r) { "eval" } else { "reference" },
            embedding: embedded[&r][..dim].to_vec(),
            traits: embedded[&r][dim..].to_vec(),
        })
        .collect();
    Ok(CameraStudy {
        camera,
        bundle: classifier.version.clone(),
        k: classifier.k,
        threshold: classifier.threshold,
        views: classifier.views(),
        shots: options.shots.clone(),
        seeds: options.seeds,
        split_seed: SPLIT_SEED,
        eval_photos: count(&pools.eval),
        reference_pool: count(&pools.references),
        alias: classifier.class_names.iter().map(|c| (c.clone(), space.name_of(Some(c)).expect("a label"))).collect(),
        reference_classes: space.labels.iter().map(|l| (l.clone(), space.reference_class(l, &classifier.class_names))).collect(),
        lines,
        teach,
        teach_pool: (!options.teach.is_empty()).then_some(teach_pool.len()),
        constant: constants(&truth),
        embedded_photos: rows.len(),
        embed_seconds,
        embedded: embedded_list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::data::parse_manifest;

    fn space(labels: &[&str], lumped: bool) -> LabelSpace {
        LabelSpace { labels: labels.iter().map(|l| l.to_string()).collect(), lumped }
    }

    const THAI: [&str; 17] = [
        "Broken",
        "Cut",
        "Dried-cherry",
        "Faded",
        "Floater",
        "Full-black",
        "Full-sour",
        "Fungus-damaged",
        "Husk",
        "Immature",
        "Parchment",
        "Partial-black",
        "Partial-sour",
        "Severe-insect-damage",
        "Shell",
        "Slight-insect-damage",
        "Withered",
    ];

    #[test]
    fn bundle_labels_read_as_the_sca_names_of_the_camera() {
        let thai = space(&THAI, false);
        let read = |l: &str| thai.name_of(Some(l)).unwrap();
        assert_eq!(read("Black"), "Full-black");
        assert_eq!(read("Sour"), "Full-sour");
        assert_eq!(read("Insect-damaged"), "Slight-insect-damage");
        assert_eq!(read("Fissure"), "Cut");
        for same in ["Broken", "Fungus-damaged", "Floater", "Immature", "Shell", "Parchment"] {
            assert_eq!(read(same), same);
        }
        // Not Thai classes: always wrong there; unknown stays unknown.
        assert_eq!(read("Normal"), "Normal");
        assert_eq!(read("Over-dried"), "Over-dried");
        assert_eq!(thai.name_of(None), None);
        // USK lumps every defect, and unknown, into Defect.
        let usk = space(&["Normal", "Defect"], true);
        assert_eq!(usk.name_of(Some("Normal")).unwrap(), "Normal");
        assert_eq!(usk.name_of(Some("Black")).unwrap(), "Defect");
        assert_eq!(usk.name_of(None).unwrap(), "Defect");
        // Greencoffee's own names read as themselves.
        let gc = space(&["Normal", "Black", "Fissure"], false);
        assert_eq!(gc.name_of(Some("Fissure")).unwrap(), "Fissure");
    }

    #[test]
    fn confirmed_beans_join_their_twin_class_or_a_new_one() {
        let bundle: Vec<String> =
            ["Normal", "Black", "Sour", "Broken", "Insect-damaged", "Fissure"].iter().map(|s| s.to_string()).collect();
        let thai = space(&THAI, false);
        assert_eq!(thai.reference_class("Full-black", &bundle), "Black");
        assert_eq!(thai.reference_class("Broken", &bundle), "Broken");
        assert_eq!(thai.reference_class("Cut", &bundle), "Fissure");
        assert_eq!(thai.reference_class("Slight-insect-damage", &bundle), "Insect-damaged");
        assert_eq!(thai.reference_class("Partial-black", &bundle), "Partial-black");
        let usk = space(&["Normal", "Defect"], true);
        assert_eq!(usk.reference_class("Defect", &bundle), "Defect");
        assert_eq!(usk.reference_class("Normal", &bundle), "Normal");
    }

    fn dataset(rows: &[(&str, &str)]) -> Dataset {
        let text: String = std::iter::once("path,label,bean,split\n".to_string())
            .chain(rows.iter().enumerate().map(|(i, (label, bean))| format!("{i}.jpg,{label},{bean},train\n")))
            .collect();
        parse_manifest(&text, std::path::Path::new("/none")).unwrap()
    }

    #[test]
    fn draws_follow_the_seed_take_one_face_per_bean_and_nest() {
        // Class A: 12 beans of two faces; class B: 3 single-photo beans.
        let mut rows: Vec<(String, String)> = (0..24).map(|i| ("A".to_string(), format!("a{}", i / 2))).collect();
        rows.extend((0..3).map(|i| ("B".to_string(), format!("b{i}"))));
        let rows: Vec<(&str, &str)> = rows.iter().map(|(l, b)| (l.as_str(), b.as_str())).collect();
        let data = dataset(&rows);
        let all: Vec<usize> = (0..rows.len()).collect();
        let ten = draw_references(&data, &all, 10, 1);
        assert_eq!(ten, draw_references(&data, &all, 10, 1));
        assert_ne!(ten, draw_references(&data, &all, 10, 2));
        assert_eq!(ten["A"].len(), 10);
        assert_eq!(ten["B"].len(), 3, "a class with fewer beans gives them all");
        let mut beans: Vec<&str> = ten["A"].iter().map(|&r| data.samples[r].bean.as_str()).collect();
        beans.sort();
        beans.dedup();
        assert_eq!(beans.len(), 10, "one face per bean");
        // Within a seed, fewer shots are a prefix of more: draw order per class.
        let five = draw_references(&data, &all, 5, 1);
        assert_eq!(five["A"][..], ten["A"][..5]);
    }

    #[test]
    fn a_third_of_each_class_is_scored() {
        let beans: Vec<String> = (0..13).map(|i| format!("x{i}")).collect();
        let rows: Vec<(&str, &str)> =
            beans.iter().enumerate().map(|(i, b)| (if i < 9 { "A" } else { "B" }, b.as_str())).collect();
        let data = dataset(&rows);
        let all: Vec<usize> = (0..rows.len()).collect();
        let (eval, rest) = third_per_class(&data, &all, 0);
        let in_class =
            |rows: &[usize], c: &str| rows.iter().filter(|&&r| data.class_names[usize::from(data.samples[r].label)] == c).count();
        assert_eq!((in_class(&eval, "A"), in_class(&eval, "B")), (3, 1));
        assert_eq!(eval.len() + rest.len(), all.len());
        assert!(eval.iter().all(|r| !rest.contains(r)));
        assert_eq!((eval.clone(), rest.clone()), third_per_class(&data, &all, 0));
        assert_ne!(eval, third_per_class(&data, &all, 5).0);
    }

    #[test]
    fn scores_in_the_camera_label_space() {
        let s = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let truth = s(&["Normal", "Normal", "Defect", "Defect"]);
        let predicted = vec![Some("Normal".into()), Some("Defect".into()), Some("Defect".into()), Some("Defect".into())];
        let (score, _) = super::score(&truth, &predicted, 1);
        assert_eq!(score.accuracy, 0.75);
        assert_eq!(score.balanced_accuracy, Some(0.75));
        assert_eq!(score.unknown_rate, 0.25);
        // Normal F1 2/3, Defect F1 4/5.
        assert!((score.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
        // No Normal among the photos: no balanced accuracy; unknown and foreign names are wrong.
        let truth = s(&["Cut", "Cut", "Husk"]);
        let predicted = vec![Some("Cut".into()), None, Some("Over-dried".into())];
        let (score, confusion) = super::score(&truth, &predicted, 1);
        assert_eq!(score.balanced_accuracy, None);
        let (with_normal, _) = super::score(&truth, &[Some("Normal".into()), None, None], 2);
        assert_eq!(with_normal.balanced_accuracy, None, "a predicted Normal is no Normal photo");
        assert!((score.accuracy - 1.0 / 3.0).abs() < 1e-12);
        // Cut: P 1, R 1/2 → 2/3; Husk 0; macro over the two present.
        assert!((score.macro_f1 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(confusion.classes, s(&["Cut", "Husk", "Over-dried", "unknown"]));
        // The yardsticks: USK's largest class is Normal; Thai's "Normal" is always wrong.
        let c = constants(&s(&["Cut", "Cut", "Husk"]));
        assert_eq!((c[0].answer.as_str(), c[0].score.macro_f1), ("Normal", 0.0));
        assert_eq!(c[1].answer, "Cut");
        assert!((c[1].score.accuracy - 2.0 / 3.0).abs() < 1e-12);
        let c = constants(&s(&["Normal", "Normal", "Defect"]));
        assert_eq!(c[1].answer, "Normal");
        assert_eq!(c[0].score.balanced_accuracy, Some(0.5));
    }

    /// The bundle's own references as photos of a camera with Thai names: the bundle alone
    /// labels them, added references of a new class win the added-only vote, and the classifier
    /// comes back as it was.
    #[test]
    fn lines_vote_with_and_without_the_bundle_and_leave_it_as_it_was() {
        let mut classifier = Classifier::new(crate::Bundle::embedded().unwrap(), burn::tensor::Device::flex()).unwrap();
        let set = classifier.index.bundled.clone();
        let thai = space(&THAI, false);
        let rows: Vec<usize> = (0..set.len())
            .filter(|&r| matches!(classifier.class_names[usize::from(set.labels[r])].as_str(), "Black" | "Broken"))
            .take(12)
            .collect();
        let photos: Vec<Photo> = rows
            .iter()
            .map(|&r| (thai.name_of(Some(&classifier.class_names[usize::from(set.labels[r])])).unwrap(), set.row(r).to_vec()))
            .collect();
        assert!(photos.iter().any(|p| p.0 == "Full-black"));
        // Every photo confirmed as a class the bundle lacks: only that class is near in the
        // added-only vote.
        let drawn: BTreeMap<String, Vec<Vec<f32>>> =
            [("Husk".to_string(), photos.iter().map(|p| p.1.clone()).collect())].into_iter().collect();
        let classes = classifier.class_names.clone();
        let lines = score_shots(&mut classifier, &thai, &photos, &[drawn], &[0, 5]).unwrap();
        assert_eq!(lines.len(), 3);
        let (alone, all, own) = (&lines[0], &lines[1], &lines[2]);
        assert_eq!((alone.shots, alone.vote, alone.runs.len()), (0, Vote::All, 1));
        assert_eq!(alone.accuracy.mean, 1.0, "the bundle's own references label themselves");
        assert!(alone.balanced_accuracy.is_none());
        assert_eq!((own.shots, own.vote), (5, Vote::AddedOnly));
        assert_eq!(own.accuracy.mean, 0.0, "every vote goes to Husk");
        assert!(own.confusion.classes.contains(&"Husk".to_string()));
        assert!(all.accuracy.mean > 0.0);
        assert!(own.as_voted_macro_f1.mean == 0.0 && alone.as_voted_macro_f1.mean == 1.0);
        assert_eq!(classifier.class_names, classes);
        assert!(classifier.index.added.is_empty() && !classifier.added_only);
    }
}
