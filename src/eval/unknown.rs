//! When a bean is "unknown": the distance to its nearest reference beyond which the bundle says
//! so. Calibrated on labelled photos that are not references (a share of them stays within),
//! and checked against what the flag is for — beans of a class nobody labelled — by leaving
//! each photo's own class out of the references.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::index::{ReferenceSet, euclidean};

/// Calibration photos per class: enough for a stable 95th percentile, cheap to embed.
pub const CALIBRATION_PER_CLASS: usize = 100;

/// Share of known-class photos the default threshold keeps within it.
pub const DEFAULT_QUANTILE: f32 = 0.95;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnknownCheck {
    pub threshold: f32,
    pub photos: usize,
    /// Share of the photos flagged unknown with every reference in place.
    pub known_flagged: f32,
    /// Share flagged when the references of the photo's own class are left out (as if nobody
    /// had labelled that class): the flag's recall for a new class.
    pub held_out_flagged: f32,
    /// How well the nearest distance alone tells the two apart (0.5: not at all, 1: always).
    pub held_out_auroc: f32,
}

impl UnknownCheck {
    /// One line for the calibration photos: "unknown threshold 0.32: 4.0 % of 1058 … flagged; …".
    pub fn calibration_line(&self) -> String {
        format!(
            "unknown threshold {:.2}: {:.1} % of {} train photos outside the references flagged; \
             {:.1} % with their class left out (AUROC {:.3})",
            self.threshold,
            100.0 * self.known_flagged,
            self.photos,
            100.0 * self.held_out_flagged,
            self.held_out_auroc
        )
    }
}

/// `per_class` rows of each class that are not references, seeded, independent of row order.
pub fn calibration_rows(
    ids: &[String],
    labels: &[u16],
    reference_ids: &HashSet<&str>,
    per_class: usize,
    seed: u64,
) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..ids.len()).filter(|&r| !reference_ids.contains(ids[r].as_str())).collect();
    rows.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
    rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut kept = super::first_per_class(rows, |&r| labels[r], per_class);
    kept.sort_unstable();
    kept
}

/// Nearest-reference distances of each photo: with every reference, and without its own class.
fn distances(refs: &ReferenceSet, photos: &[Vec<f32>], labels: &[u16]) -> (Vec<f32>, Vec<f32>) {
    photos
        .iter()
        .zip(labels)
        .map(|(p, &label)| {
            let (mut all, mut others) = (f32::INFINITY, f32::INFINITY);
            for r in 0..refs.len() {
                let d = euclidean(p, refs.row(r));
                all = all.min(d);
                if refs.labels[r] != label {
                    others = others.min(d);
                }
            }
            (all, others)
        })
        .unzip()
}

/// The threshold that keeps `quantile` of the photos within it (rounded up to 0.01, the page
/// slider's step, so the page shows the value the bundle holds), with its check.
pub fn calibrate(refs: &ReferenceSet, photos: &[Vec<f32>], labels: &[u16], quantile: f32) -> UnknownCheck {
    let (mut known, _) = distances(refs, photos, labels);
    known.sort_by(f32::total_cmp);
    let at = ((quantile.clamp(0.0, 1.0) * known.len() as f32).ceil() as usize).clamp(1, known.len().max(1)) - 1;
    let threshold = known.get(at).map_or(f32::INFINITY, |d| (d * 100.0).ceil() / 100.0);
    check(refs, photos, labels, threshold)
}

/// How the flag behaves at `threshold` on these photos.
pub fn check(refs: &ReferenceSet, photos: &[Vec<f32>], labels: &[u16], threshold: f32) -> UnknownCheck {
    let (known, held_out) = distances(refs, photos, labels);
    let share = |d: &[f32]| d.iter().filter(|&&x| x > threshold).count() as f32 / d.len().max(1) as f32;
    UnknownCheck {
        threshold,
        photos: photos.len(),
        known_flagged: share(&known),
        held_out_flagged: share(&held_out),
        held_out_auroc: auroc(&known, &held_out),
    }
}

/// Probability that a held-out distance exceeds a known one (ties count half).
fn auroc(known: &[f32], held_out: &[f32]) -> f32 {
    if known.is_empty() || held_out.is_empty() {
        return f32::NAN;
    }
    let mut sorted = known.to_vec();
    sorted.sort_by(f32::total_cmp);
    let wins: f64 = held_out
        .iter()
        .map(|&h| {
            let below = sorted.partition_point(|&k| k < h);
            let equal = sorted[below..].partition_point(|&k| k <= h);
            below as f64 + 0.5 * equal as f64
        })
        .sum();
    (wins / (known.len() as f64 * held_out.len() as f64)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> ReferenceSet {
        let mut set = ReferenceSet::new(2);
        set.push(&[1.0, 0.0], 0, "a".into()).unwrap();
        set.push(&[0.0, 1.0], 1, "b".into()).unwrap();
        set
    }

    #[test]
    fn threshold_keeps_the_quantile_within() {
        // Photos of class 0 at distances 0.1 … 1.0 from their reference.
        let photos: Vec<Vec<f32>> = (1..=10).map(|i| vec![1.0, i as f32 / 10.0]).collect();
        let labels = vec![0; 10];
        let c = calibrate(&refs(), &photos, &labels, 0.9);
        assert!((0.9..=0.91).contains(&c.threshold), "{c:?}");
        assert!((c.known_flagged - 0.1).abs() < 1e-6, "{c:?}");
        // Without class 0 their nearest reference is (0, 1): farther for all but the last.
        assert!(c.held_out_flagged >= 0.9 && c.held_out_auroc > 0.5, "{c:?}");
    }

    #[test]
    fn auroc_counts_ties_half() {
        assert_eq!(auroc(&[0.1, 0.2], &[0.3, 0.4]), 1.0);
        assert_eq!(auroc(&[0.3, 0.4], &[0.1, 0.2]), 0.0);
        assert_eq!(auroc(&[0.2], &[0.2]), 0.5);
    }

    #[test]
    fn calibration_rows_skip_references_and_cap_each_class() {
        let ids: Vec<String> = (0..20).map(|i| format!("p{i:02}")).collect();
        let labels: Vec<u16> = (0..20).map(|i| (i % 2) as u16).collect();
        let references: HashSet<&str> = ["p00", "p01"].into();
        let rows = calibration_rows(&ids, &labels, &references, 3, 7);
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().all(|&r| r > 1));
        assert_eq!(rows.iter().filter(|&&r| labels[r] == 0).count(), 3);
        // The same photos whatever order they come in.
        let (rev_ids, rev_labels): (Vec<String>, Vec<u16>) = ids.iter().cloned().zip(labels.iter().copied()).rev().unzip();
        let mut again: Vec<String> =
            calibration_rows(&rev_ids, &rev_labels, &references, 3, 7).iter().map(|&r| rev_ids[r].clone()).collect();
        let mut first: Vec<String> = rows.iter().map(|&r| ids[r].clone()).collect();
        again.sort();
        first.sort();
        assert_eq!(again, first);
    }
}
