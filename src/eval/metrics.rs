//! Classification and retrieval metrics for evaluation reports.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::index::{ReferenceSet, euclidean};

/// Everything an evaluation reports about one labelling of one set of photos. Label indices
/// point into `class_names`; the index `class_names.len()` means "unknown".
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub photos: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Classes that occur among the evaluated photos.
    pub per_class: BTreeMap<String, ClassScores>,
    pub normal_vs_defect: NormalVsDefect,
    pub unknown_rate: f64,
    /// Retrieval quality of the embeddings; absent where a method has none (a plain classifier).
    pub map_at_r: Option<f64>,
    pub confusion: Confusion,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    /// Row/column names: the classes, then "unknown".
    pub classes: Vec<String>,
    /// `matrix[true][predicted]`.
    pub matrix: Vec<Vec<usize>>,
}

impl Report {
    pub fn new(class_names: &[String], truth: &[u16], predicted: &[u16], embeddings: Option<&ReferenceSet>) -> Self {
        let n = class_names.len();
        let unknown = n as u16;
        let scores = per_class(truth, predicted, n + 1);
        let normal = class_names.iter().position(|c| c == "Normal").unwrap_or(0) as u16;
        Self {
            photos: truth.len(),
            accuracy: accuracy(truth, predicted),
            macro_f1: macro_f1(&scores[..n]),
            per_class: class_names
                .iter()
                .zip(&scores)
                .filter(|(_, s)| s.support > 0)
                .map(|(c, s)| (c.clone(), s.clone()))
                .collect(),
            normal_vs_defect: normal_vs_defect(truth, predicted, normal),
            unknown_rate: predicted.iter().filter(|&&p| p == unknown).count() as f64 / truth.len().max(1) as f64,
            map_at_r: embeddings.map(map_at_r),
            confusion: Confusion {
                classes: class_names.iter().cloned().chain(["unknown".to_string()]).collect(),
                matrix: confusion(truth, predicted, n + 1),
            },
        }
    }

    /// One line for the terminal.
    pub fn summary(&self) -> String {
        let nvd = &self.normal_vs_defect;
        let map = self.map_at_r.map_or(String::new(), |m| format!(", MAP@R {m:.3}"));
        format!(
            "{} photos: accuracy {:.3}, macro-F1 {:.3}, normal-vs-defect F1 {:.3} (P {:.3}, R {:.3}, balanced accuracy {:.3}){map}",
            self.photos, self.accuracy, self.macro_f1, nvd.f1, nvd.precision, nvd.recall, nvd.balanced_accuracy
        )
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of true members in the evaluated rows.
    pub support: usize,
}

fn scores(tp: usize, fp: usize, fn_: usize) -> ClassScores {
    let precision = if tp + fp == 0 { 0.0 } else { tp as f64 / (tp + fp) as f64 };
    let recall = if tp + fn_ == 0 { 0.0 } else { tp as f64 / (tp + fn_) as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    ClassScores { precision, recall, f1, support: tp + fn_ }
}

/// `confusion[truth][predicted]`.
pub fn confusion(truth: &[u16], predicted: &[u16], n_classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; n_classes]; n_classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        m[usize::from(t)][usize::from(p)] += 1;
    }
    m
}

pub fn accuracy(truth: &[u16], predicted: &[u16]) -> f64 {
    let right = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    right as f64 / truth.len().max(1) as f64
}

/// Per-class scores for classes present in `truth` (others get support 0).
pub fn per_class(truth: &[u16], predicted: &[u16], n_classes: usize) -> Vec<ClassScores> {
    let m = confusion(truth, predicted, n_classes);
    (0..n_classes)
        .map(|c| {
            let tp = m[c][c];
            let fp = (0..n_classes).map(|t| m[t][c]).sum::<usize>() - tp;
            let fn_ = m[c].iter().sum::<usize>() - tp;
            scores(tp, fp, fn_)
        })
        .collect()
}

/// Mean F1 over the classes that occur in `truth`.
pub fn macro_f1(per_class: &[ClassScores]) -> f64 {
    let present: Vec<&ClassScores> = per_class.iter().filter(|s| s.support > 0).collect();
    present.iter().map(|s| s.f1).sum::<f64>() / present.len().max(1) as f64
}

/// Defect detection scores ("positive" = a defect; "unknown" counts as a defect).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NormalVsDefect {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
    /// Mean of Normal recall and defect recall: both constant answers score 0.5.
    pub balanced_accuracy: f64,
}

/// Defect detection: "positive" = any class other than `normal`.
pub fn normal_vs_defect(truth: &[u16], predicted: &[u16], normal: u16) -> NormalVsDefect {
    let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
    for (&t, &p) in truth.iter().zip(predicted) {
        match (t != normal, p != normal) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => tn += 1,
        }
    }
    let ClassScores { precision, recall, f1, support } = scores(tp, fp, fn_);
    let normal_recall = if tn + fp == 0 { 0.0 } else { tn as f64 / (tn + fp) as f64 };
    NormalVsDefect { precision, recall, f1, support, balanced_accuracy: (recall + normal_recall) / 2.0 }
}

/// MAP@R (Musgrave et al. 2020): for each row, R = other rows of its class; precision at each
/// correct hit among its R nearest, averaged over R. Rows alone in their class are skipped.
pub fn map_at_r(set: &ReferenceSet) -> f64 {
    let n = set.len();
    let mut total = 0.0;
    let mut counted = 0usize;
    for q in 0..n {
        let r = set.labels.iter().enumerate().filter(|&(j, &l)| j != q && l == set.labels[q]).count();
        if r == 0 {
            continue;
        }
        let mut others: Vec<(f32, u16)> =
            (0..n).filter(|&j| j != q).map(|j| (euclidean(set.row(q), set.row(j)), set.labels[j])).collect();
        others.select_nth_unstable_by(r - 1, |a, b| a.0.total_cmp(&b.0));
        others.truncate(r);
        others.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut hits, mut sum) = (0usize, 0.0);
        for (i, &(_, l)) in others.iter().enumerate() {
            if l == set.labels[q] {
                hits += 1;
                sum += hits as f64 / (i + 1) as f64;
            }
        }
        total += sum / r as f64;
        counted += 1;
    }
    total / counted.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_on_a_known_confusion() {
        let truth = [0, 0, 1, 1, 2];
        let pred = [0, 1, 1, 1, 0];
        assert!((accuracy(&truth, &pred) - 0.6).abs() < 1e-12);
        let pc = per_class(&truth, &pred, 4);
        assert!((pc[1].precision - 2.0 / 3.0).abs() < 1e-12 && pc[1].recall == 1.0);
        assert_eq!(pc[2].f1, 0.0);
        assert_eq!(pc[3].support, 0);
        // macro over present classes 0, 1, 2: (0.5, 0.8, 0) / 3
        assert!((macro_f1(&pc) - 1.3 / 3.0).abs() < 1e-12);
        let nd = normal_vs_defect(&truth, &pred, 0);
        // Defects at rows 2, 3, 4; predicted defects at rows 1, 2, 3.
        assert_eq!((nd.precision, nd.recall), (2.0 / 3.0, 2.0 / 3.0));
        // Normal rows 0, 1: one kept → Normal recall 1/2; balanced = (2/3 + 1/2) / 2.
        assert!((nd.balanced_accuracy - 7.0 / 12.0).abs() < 1e-12);
        // Both constant answers score one half.
        assert_eq!(normal_vs_defect(&truth, &[0; 5], 0).balanced_accuracy, 0.5);
        assert_eq!(normal_vs_defect(&truth, &[1; 5], 0).balanced_accuracy, 0.5);
    }

    #[test]
    fn map_at_r_is_one_for_separated_classes_and_lower_when_mixed() {
        let mut set = ReferenceSet::new(1);
        for (i, x) in [0.0f32, 0.1, 0.2, 5.0, 5.1, 5.2].iter().enumerate() {
            set.push(&[*x], (i / 3) as u16, i.to_string()).unwrap();
        }
        assert!((map_at_r(&set) - 1.0).abs() < 1e-12);
        set.labels.swap(2, 3);
        assert!(map_at_r(&set) < 0.8);
    }
}
