//! Evaluation on annotated tray photos (`train::tray_data`): detection precision/recall at IoU ≥ 0.5, count error,
//! per-bean label accuracy, and the few-shot domain-shift study (references from other dates
//! added on the fly).

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::eval::study::MeanSd;
use crate::train::tray_data::{TrayPhoto, TrueBean, tray_dates};
use crate::tray::detect::{Found, find_beans};
use crate::tray::embed_beans;

/// A detection matches a true bean when their boxes overlap at least this much (IoU).
pub const MATCH_IOU: f32 = 0.5;

/// Intersection over union of two boxes given as left, top, right, bottom.
pub fn box_iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

fn found_box(f: &Found) -> [f32; 4] {
    let [x, y, w, h] = f.bbox.map(|v| v as f32);
    [x, y, x + w, y + h]
}

/// One-to-one matches (detection, true bean, IoU) at IoU ≥ [`MATCH_IOU`], best overlaps first.
pub fn match_beans(found: &[Found], truth: &[TrueBean]) -> Vec<(usize, usize, f32)> {
    let mut pairs = Vec::new();
    for (i, f) in found.iter().enumerate() {
        for (j, t) in truth.iter().enumerate() {
            let iou = box_iou(found_box(f), t.bbox);
            if iou >= MATCH_IOU {
                pairs.push((i, j, iou));
            }
        }
    }
    pairs.sort_by(|a, b| b.2.total_cmp(&a.2));
    let (mut used_f, mut used_t) = (vec![false; found.len()], vec![false; truth.len()]);
    pairs.retain(|&(i, j, _)| {
        let fresh = !used_f[i] && !used_t[j];
        if fresh {
            used_f[i] = true;
            used_t[j] = true;
        }
        fresh
    });
    pairs
}

/// A true bean that was found, with the embedding of its detection.
#[derive(Debug, Clone)]
pub struct FoundBean {
    pub photo: usize,
    pub label: String,
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhotoLine {
    pub path: String,
    pub date: String,
    pub true_beans: usize,
    pub found: usize,
    pub matched: usize,
    pub count_error: f32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Detection {
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
    pub iou_threshold: f32,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub mean_iou: f32,
}

/// Finds the beans of every photo, scores the detection and embeds the matched beans.
pub async fn detect_and_embed(
    classifier: &Classifier,
    photos: &[TrayPhoto],
    mut progress: impl FnMut(usize),
) -> Result<(Detection, Vec<PhotoLine>, Vec<FoundBean>)> {
    let (mut tp, mut fp, mut fn_, mut iou_sum) = (0, 0, 0, 0.0);
    let mut lines = Vec::new();
    let mut beans = Vec::new();
    for (p, photo) in photos.iter().enumerate() {
        let bytes =
            std::fs::read(&photo.path).map_err(|e| Error::Bundle(format!("cannot read {}: {e}", photo.path.display())))?;
        let image = crate::preprocess::decode(&bytes)?;
        let found = find_beans(&image);
        let matches = match_beans(&found, &photo.beans);
        let matched: Vec<Found> = matches.iter().map(|&(i, _, _)| found[i].clone()).collect();
        let embeddings = embed_beans(classifier, &image, &matched).await?;
        for (&(_, j, iou), embedding) in matches.iter().zip(embeddings) {
            iou_sum += iou;
            beans.push(FoundBean { photo: p, label: photo.beans[j].label.clone(), embedding });
        }
        tp += matches.len();
        fp += found.len() - matches.len();
        fn_ += photo.beans.len() - matches.len();
        let n_true = photo.beans.len();
        lines.push(PhotoLine {
            path: photo.path.display().to_string(),
            date: photo.date.clone(),
            true_beans: n_true,
            found: found.len(),
            matched: matches.len(),
            count_error: if n_true == 0 { 0.0 } else { (found.len() as f32 - n_true as f32).abs() / n_true as f32 },
        });
        progress(p + 1);
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, tp + fn_));
    let detection = Detection {
        precision,
        recall,
        f1: if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 },
        iou_threshold: MATCH_IOU,
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        mean_iou: if tp == 0 { 0.0 } else { iou_sum / tp as f32 },
    };
    Ok((detection, lines, beans))
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassLine {
    pub beans: usize,
    pub correct: usize,
    pub unknown: usize,
    /// Predicted labels of this class's beans.
    pub labelled_as: BTreeMap<String, usize>,
}

/// Labels of the found beans with the classifier as it stands (bundle + any added references).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Labelling {
    /// Share of beans of the classes the classifier knows that get their true label.
    pub accuracy: f32,
    pub beans: usize,
    /// Share of those beans flagged unknown (their label still counts above).
    pub unknown_rate: f32,
    /// Share of the photos whose labelled beans get the new-camera notice
    /// ([`Classifier::unfamiliar`]).
    pub unfamiliar_photos: f32,
    /// Photos with labelled beans.
    pub photos: usize,
    pub per_class: BTreeMap<String, ClassLine>,
}

/// Labels `beans` (skipping those in `skip`) and tallies per true class.
pub fn label_beans(classifier: &Classifier, beans: &[FoundBean], skip: impl Fn(&FoundBean) -> bool) -> Result<Labelling> {
    let mut per_class: BTreeMap<String, ClassLine> = BTreeMap::new();
    let mut distances = BTreeMap::<usize, Vec<f32>>::new();
    for bean in beans.iter().filter(|b| !skip(b)) {
        let p = classifier.label_tray_bean(&bean.embedding)?;
        distances.entry(bean.photo).or_default().push(p.distance);
        let line = per_class.entry(bean.label.clone()).or_default();
        line.beans += 1;
        line.correct += usize::from(p.label == bean.label);
        line.unknown += usize::from(p.unknown);
        *line.labelled_as.entry(p.label).or_default() += 1;
    }
    let known: Vec<&ClassLine> = per_class.iter().filter(|(c, _)| classifier.class_names.contains(c)).map(|(_, l)| l).collect();
    let n: usize = known.iter().map(|l| l.beans).sum();
    let ratio = |a: usize| if n == 0 { 0.0 } else { a as f32 / n as f32 };
    Ok(Labelling {
        accuracy: ratio(known.iter().map(|l| l.correct).sum()),
        unknown_rate: ratio(known.iter().map(|l| l.unknown).sum()),
        unfamiliar_photos: distances.values().filter(|d| classifier.unfamiliar(d)).count() as f32 / distances.len().max(1) as f32,
        photos: distances.len(),
        beans: n,
        per_class,
    })
}

/// Where the added references come from, and what is labelled with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Each date in turn is labelled, with references from the other dates' beans: a session
    /// whose own beans nobody has labelled.
    Date,
    /// Each photo in turn is labelled, with references from the other photos of its session
    /// (from other sessions only for a class that session has no other photo of): someone who
    /// labelled beans of earlier trays of the same session.
    Photo,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShotLine {
    /// References added per class.
    pub shots: usize,
    pub seeds: usize,
    pub split: Split,
    /// Held-out dates or photos (one fold each).
    pub folds: Vec<String>,
    /// Per fold: its beans of classes the bundle knows, and their accuracy (mean over seeds).
    pub fold_beans: Vec<usize>,
    pub fold_accuracy: Vec<f32>,
    /// Why no score was measured (references from other dates need two or more dates); the
    /// figures below are then null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
    /// Accuracy over the beans of classes the bundle knows, mean and sd over seeds.
    pub accuracy_mean: Option<f32>,
    pub accuracy_sd: Option<f32>,
    /// Classes with no twin in the bundle (e.g. Parchment): share labelled correctly thanks to
    /// the added references, and share flagged unknown.
    pub new_class_recall_mean: Option<f32>,
    pub new_class_recall_sd: Option<f32>,
    pub new_class_unknown_mean: Option<f32>,
    /// Share of the held-out photos that get the new-camera notice, mean over seeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfamiliar_photos_mean: Option<f32>,
}

/// Few-shot adaptation: for each fold (a date or a photo, `split`), `shots` references per class
/// are drawn (seeded) from the beans outside it, added to the classifier, and the fold's beans
/// labelled. Removed again afterwards; the bundle is never retrained. With `only`, the folds are
/// that date's alone (e.g. the one a bundle trained on the other dates' beans has not seen;
/// callers check that it is there).
#[allow(clippy::too_many_arguments)]
pub fn shots_study(
    classifier: &mut Classifier,
    beans: &[FoundBean],
    photos: &[TrayPhoto],
    shots: usize,
    seeds: usize,
    split: Split,
    only: Option<&str>,
) -> Result<ShotLine> {
    let dates = tray_dates(photos);
    // Each fold: its name and the photos it holds out.
    let folds: Vec<(String, Vec<usize>)> = match split {
        Split::Date => dates
            .iter()
            .filter(|d| only.is_none_or(|o| o == **d))
            .map(|d| (d.to_string(), (0..photos.len()).filter(|&p| photos[p].date == *d).collect()))
            .collect(),
        Split::Photo => (0..photos.len())
            .filter(|&p| only.is_none_or(|o| photos[p].date == o))
            .map(|p| (photos[p].path.display().to_string(), vec![p]))
            .collect(),
    };
    let names: Vec<String> = folds.iter().map(|f| f.0.clone()).collect();
    let needed = if split == Split::Date { 2 } else { 1 };
    if shots > 0 && (dates.len() < needed || photos.len() < 2) {
        let why = match split {
            Split::Date => format!(
                "the study needs photos of two or more dates (file names starting YYYYMMDD); found only {}",
                dates.first().map_or("none".to_string(), |d| format!("date {d}"))
            ),
            Split::Photo => "the study needs two or more photos".to_string(),
        };
        return Ok(ShotLine {
            shots,
            seeds,
            split,
            folds: names,
            fold_beans: Vec::new(),
            fold_accuracy: Vec::new(),
            not_run: Some(why),
            accuracy_mean: None,
            accuracy_sd: None,
            new_class_recall_mean: None,
            new_class_recall_sd: None,
            new_class_unknown_mean: None,
            unfamiliar_photos_mean: None,
        });
    }
    let known_before = classifier.class_names.len();
    let (mut accs, mut recalls, mut unknowns, mut notices) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut fold_total, mut fold_correct) = (vec![0; folds.len()], vec![0; folds.len()]);
    for seed in 0..seeds {
        let mut rng = StdRng::seed_from_u64(seed as u64);
        let (mut correct, mut total, mut new_correct, mut new_unknown, mut new_total) = (0, 0, 0, 0, 0);
        let (mut unfamiliar, mut photos_seen) = (0.0f32, 0usize);
        for (f, (_, held)) in folds.iter().enumerate() {
            let held_out = |b: &FoundBean| held.contains(&b.photo);
            // With the photo split, beans of the held-out photo's session come first.
            let session = &photos[held[0]].date;
            let near = |b: &FoundBean| split == Split::Photo && photos[b.photo].date == *session;
            let mut by_class: BTreeMap<&str, (Vec<&FoundBean>, Vec<&FoundBean>)> = BTreeMap::new();
            for b in beans.iter().filter(|b| !held_out(b)) {
                let (same, other) = by_class.entry(&b.label).or_default();
                if near(b) { same.push(b) } else { other.push(b) }
            }
            for (class, (same, other)) in by_class.iter_mut() {
                same.shuffle(&mut rng);
                other.shuffle(&mut rng);
                let label = match classifier.class_names.iter().position(|c| c == class) {
                    Some(i) => i,
                    None => {
                        classifier.class_names.push(class.to_string());
                        classifier.class_names.len() - 1
                    }
                };
                for (n, b) in same.iter().chain(other.iter()).take(shots).enumerate() {
                    classifier.push_reference(&b.embedding, label as u16, format!("tray:{class}:{n}"))?;
                }
            }
            classifier.references_changed();
            let fold_beans: Vec<FoundBean> = beans.iter().filter(|b| held_out(b)).cloned().collect();
            let labelling = label_beans(classifier, &fold_beans, |_| false)?;
            unfamiliar += labelling.unfamiliar_photos * labelling.photos as f32;
            photos_seen += labelling.photos;
            for (class, line) in &labelling.per_class {
                if classifier.class_names[..known_before].contains(class) {
                    correct += line.correct;
                    total += line.beans;
                    fold_correct[f] += line.correct;
                    fold_total[f] += line.beans;
                } else {
                    new_correct += line.correct;
                    new_unknown += line.unknown;
                    new_total += line.beans;
                }
            }
            classifier.index.added = crate::index::ReferenceSet::new(classifier.index.added.dim);
            classifier.references_changed();
            classifier.class_names.truncate(known_before);
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        accs.push(ratio(correct, total));
        recalls.push(ratio(new_correct, new_total));
        unknowns.push(ratio(new_unknown, new_total));
        notices.push(f64::from(unfamiliar) / photos_seen.max(1) as f64);
    }
    let (accuracy, recall, unknown) = (MeanSd::of(&accs), MeanSd::of(&recalls), MeanSd::of(&unknowns));
    // Summed over seeds above: the beans are the same each seed.
    let fold_accuracy =
        fold_correct.iter().zip(&fold_total).map(|(&c, &n)| if n == 0 { 0.0 } else { c as f32 / n as f32 }).collect();
    Ok(ShotLine {
        shots,
        seeds,
        split,
        folds: names,
        fold_beans: fold_total.iter().map(|n| n / seeds.max(1)).collect(),
        fold_accuracy,
        not_run: None,
        accuracy_mean: Some(accuracy.mean as f32),
        accuracy_sd: Some(accuracy.sd as f32),
        new_class_recall_mean: Some(recall.mean as f32),
        new_class_recall_sd: Some(recall.sd as f32),
        new_class_unknown_mean: Some(unknown.mean as f32),
        unfamiliar_photos_mean: Some(MeanSd::of(&notices).mean as f32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_boxes() {
        assert_eq!(box_iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(box_iou([0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]), 0.0);
        assert!((box_iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn matching_is_one_to_one_best_first() {
        let found = |x: u32| Found { bbox: [x, 0, 10, 10], outline: vec![], area: 100.0 };
        let truth = |x: f32| TrueBean { label: "Normal".into(), bbox: [x, 0.0, x + 10.0, 10.0] };
        // Two detections overlap the first bean; only the better one takes it.
        let m = match_beans(&[found(0), found(2), found(40)], &[truth(1.0), truth(100.0)]);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].0, m[0].1), (0, 0));
    }
}
