//! The method study: with one pretrained (frozen) encoder, compare kNN on raw autoencoder codes,
//! kNN on fine-tuned embeddings at several label budgets and seeds, and (optionally) the
//! supervised baseline, all on the same evaluation photos.

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::metrics::Report;
use crate::index::{self, Index, ReferenceSet};
use crate::model::{ModelConfig, ProjectionHead, l2_normalise};
use crate::train::finetune::{FinetuneOptions, Finetuned, finetune};

/// Labelled photos decoded at model size, with their bean (for bean-level label budgets).
pub struct Labelled {
    pub images: Vec<RgbImage>,
    pub labels: Vec<u16>,
    pub beans: Vec<String>,
    /// Stable per-photo id ("bean/face file") used for references.
    pub ids: Vec<String>,
}

/// Indices of every photo of `n` beans drawn at random without replacement (fixed by `seed`).
/// Both faces of a bean are always drawn together.
pub fn draw_beans(beans: &[String], n: usize, seed: u64) -> Vec<usize> {
    let mut unique: Vec<&String> = beans.iter().collect();
    unique.sort();
    unique.dedup();
    unique.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut chosen: Vec<&String> = unique.into_iter().take(n).collect();
    chosen.sort();
    (0..beans.len()).filter(|&i| chosen.binary_search(&&beans[i]).is_ok()).collect()
}

/// Indices of every photo of `n` beans drawn class by class in turn (a bean's class: its first
/// photo's), each class's beans in an order fixed by `seed`: the classes come out as even as
/// their beans allow, as when someone collects reference beans class by class.
pub fn draw_beans_balanced(beans: &[String], labels: &[u16], n: usize, seed: u64) -> Vec<usize> {
    let mut by_class = std::collections::BTreeMap::<u16, Vec<&String>>::new();
    let mut seen = std::collections::HashSet::new();
    for (bean, &label) in beans.iter().zip(labels) {
        if seen.insert(bean) {
            by_class.entry(label).or_default().push(bean);
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for list in by_class.values_mut() {
        list.sort();
        list.shuffle(&mut rng);
    }
    let mut chosen: Vec<&String> = Vec::new();
    for round in 0.. {
        if chosen.len() >= n || by_class.values().all(|list| list.len() <= round) {
            break;
        }
        chosen.extend(by_class.values().filter_map(|list| list.get(round)).take(n - chosen.len()));
    }
    chosen.sort();
    (0..beans.len()).filter(|&i| chosen.binary_search(&&beans[i]).is_ok()).collect()
}

/// Rows of `codes` picked by `idx`.
pub fn pick<T: Clone>(rows: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| rows[i].clone()).collect()
}

/// Head applied to codes, L2-normalised: the embeddings the bundle would produce.
pub fn embed_codes(head: &ProjectionHead, codes: &[Vec<f32>], device: &Device) -> Vec<Vec<f32>> {
    let dim = codes.first().map_or(0, Vec::len);
    let mut rows = Vec::with_capacity(codes.len());
    for chunk in codes.chunks(1024) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let x = Tensor::<2>::from_data(TensorData::new(flat, [chunk.len(), dim]), device);
        let out: Vec<f32> = l2_normalise(head.forward(x)).into_data().try_to_vec::<f32>().expect("f32 rows");
        let d = out.len() / chunk.len();
        rows.extend(out.chunks(d).map(<[f32]>::to_vec));
    }
    rows
}

/// Raw autoencoder codes, standardised with statistics of `reference_codes` and L2-normalised:
/// the label-free embedding the fine-tuned one must beat.
pub fn standardised(codes: &[Vec<f32>], reference_codes: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let dim = reference_codes.first().map_or(0, Vec::len);
    let n = reference_codes.len().max(1) as f32;
    let mean: Vec<f32> = (0..dim).map(|j| reference_codes.iter().map(|r| r[j]).sum::<f32>() / n).collect();
    let std: Vec<f32> =
        (0..dim).map(|j| (reference_codes.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f32>() / n).sqrt() + 1e-6).collect();
    codes
        .iter()
        .map(|c| {
            let z: Vec<f32> = c.iter().zip(&mean).zip(&std).map(|((v, m), s)| (v - m) / s).collect();
            let norm = z.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            z.iter().map(|v| v / norm).collect()
        })
        .collect()
}

/// Reference set from embeddings, labels and ids.
pub fn references(embeddings: &[Vec<f32>], labels: &[u16], ids: &[String]) -> ReferenceSet {
    let mut set = ReferenceSet::new(embeddings.first().map_or(0, Vec::len));
    for ((e, &l), id) in embeddings.iter().zip(labels).zip(ids) {
        set.push(e, l, id.clone()).expect("one embedding size");
    }
    set
}

/// kNN vote of each query against `refs`; `unknown` where the nearest is beyond `threshold`.
pub fn knn_labels(refs: &ReferenceSet, queries: &[Vec<f32>], k: usize, threshold: f32, unknown: u16) -> Vec<u16> {
    let index = Index::new(refs.clone(), None);
    queries
        .iter()
        .map(|q| match index::vote(&index.search(q, k), threshold) {
            Some(v) if !v.unknown => v.label,
            _ => unknown,
        })
        .collect()
}

/// Scores kNN labelling of the evaluation photos against the given references.
pub fn knn_report(
    class_names: &[String],
    refs: &ReferenceSet,
    queries: &[Vec<f32>],
    truth: &[u16],
    k: usize,
    threshold: f32,
) -> Report {
    let predicted = knn_labels(refs, queries, k, threshold, class_names.len() as u16);
    let embedded = references(queries, truth, &vec![String::new(); truth.len()]);
    Report::new(class_names, truth, &predicted, Some(&embedded))
}

/// One fine-tuning + evaluation at a label budget.
pub struct BudgetRun {
    pub finetuned: Finetuned,
    pub fine_tuned: Report,
    pub ae_only: Report,
    /// The same head, every photo (reference and query) embedded as the normalised mean over
    /// its eight flips/rotations; present when the evaluation codes of all views were given.
    pub fine_tuned_tta: Option<Report>,
}

/// Normalised mean of per-view embeddings (`views[view][photo]`).
pub fn mean_over_views(views: &[Vec<Vec<f32>>]) -> Vec<Vec<f32>> {
    let n = views.first().map_or(0, Vec::len);
    (0..n)
        .map(|i| {
            let dim = views[0][i].len();
            let mut m = vec![0.0f32; dim];
            for v in views {
                m.iter_mut().zip(&v[i]).for_each(|(a, b)| *a += b);
            }
            let norm = m.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            m.iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// Codes of the whole labelled training pool under the eight views (`[view][photo]`) and of
/// the evaluation photos, computed once for a study.
pub struct Codes<'a> {
    /// The names of the classes the labels count.
    pub class_names: &'a [String],
    pub train_views: &'a [Vec<Vec<f32>>],
    pub train_labels: &'a [u16],
    pub train_ids: &'a [String],
    pub eval: &'a [Vec<f32>],
    pub eval_labels: &'a [u16],
    /// Evaluation codes under the eight views (`[view][photo]`), for the test-time-augmentation row.
    pub eval_views: Option<&'a [Vec<Vec<f32>>]>,
}

pub fn run_budget(
    config: &ModelConfig,
    codes: &Codes,
    chosen: &[usize],
    options: &FinetuneOptions,
    k: usize,
    threshold: f32,
    device: &Device,
) -> BudgetRun {
    let class_names = codes.class_names;
    let views: Vec<Vec<Vec<f32>>> = codes.train_views.iter().map(|v| pick(v, chosen)).collect();
    let labels = pick(codes.train_labels, chosen);
    let ids = pick(codes.train_ids, chosen);
    let finetuned = finetune(config, &views, &labels, options, device);
    let refs = references(&embed_codes(&finetuned.head, &views[0], device), &labels, &ids);
    let queries = embed_codes(&finetuned.head, codes.eval, device);
    let fine_tuned = knn_report(class_names, &refs, &queries, codes.eval_labels, k, threshold);
    // The same references and queries in raw code space, standardised by the whole pool.
    let ae_refs = references(&standardised(&views[0], &codes.train_views[0]), &labels, &ids);
    let ae_queries = standardised(codes.eval, &codes.train_views[0]);
    let ae_only = knn_report(class_names, &ae_refs, &ae_queries, codes.eval_labels, k, threshold);
    let fine_tuned_tta = codes.eval_views.map(|eval_views| {
        let embed_all = |v: &[Vec<Vec<f32>>]| v.iter().map(|c| embed_codes(&finetuned.head, c, device)).collect::<Vec<_>>();
        let refs = references(&mean_over_views(&embed_all(&views)), &labels, &ids);
        knn_report(class_names, &refs, &mean_over_views(&embed_all(eval_views)), codes.eval_labels, k, threshold)
    });
    BudgetRun { finetuned, fine_tuned, ae_only, fine_tuned_tta }
}

/// Mean and sample standard deviation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
    pub n: usize,
}

impl MeanSd {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let sd = if n > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        Self { mean, sd, n }
    }

    pub fn cell(&self) -> String {
        if self.n > 1 { format!("{:.3} ± {:.3}", self.mean, self.sd) } else { format!("{:.3}", self.mean) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bean_draws_keep_faces_together_and_follow_the_seed() {
        let beans: Vec<String> = (0..40).flat_map(|b| [format!("b{b}"), format!("b{b}")]).collect();
        let a = draw_beans(&beans, 10, 7);
        assert_eq!(a.len(), 20);
        for pair in a.chunks(2) {
            assert_eq!(beans[pair[0]], beans[pair[1]]);
        }
        assert_eq!(a, draw_beans(&beans, 10, 7));
        assert_ne!(a, draw_beans(&beans, 10, 8));
        assert_eq!(draw_beans(&beans, 1000, 0).len(), 80);
    }

    #[test]
    fn balanced_draws_even_out_the_classes() {
        // 30 beans of class 0, 3 of class 1, 10 of class 2; two faces each.
        let classes: Vec<u16> = [vec![0; 30], vec![1; 3], vec![2; 10]].concat();
        let beans: Vec<String> = (0..classes.len()).flat_map(|b| [format!("b{b:02}"), format!("b{b:02}")]).collect();
        let labels: Vec<u16> = classes.iter().flat_map(|&c| [c, c]).collect();
        let drawn = draw_beans_balanced(&beans, &labels, 12, 3);
        let count = |c: u16| drawn.iter().filter(|&&i| labels[i] == c).count() / 2;
        // Four rounds would give 4 + 3 + 4 = 11; the twelfth bean comes from the next round.
        assert_eq!((count(0), count(1), count(2)), (5, 3, 4));
        for pair in drawn.chunks(2) {
            assert_eq!(beans[pair[0]], beans[pair[1]]);
        }
        assert_eq!(drawn, draw_beans_balanced(&beans, &labels, 12, 3));
        assert_ne!(drawn, draw_beans_balanced(&beans, &labels, 12, 4));
        assert_eq!(draw_beans_balanced(&beans, &labels, 1000, 0).len(), beans.len());
    }

    #[test]
    fn view_means_are_unit_length() {
        let views = vec![vec![vec![1.0, 0.0]], vec![vec![0.0, 1.0]]];
        let m = mean_over_views(&views);
        assert!((m[0][0] - 0.5f32.sqrt()).abs() < 1e-6 && (m[0][1] - 0.5f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn mean_and_sd() {
        let m = MeanSd::of(&[1.0, 2.0, 3.0]);
        assert!((m.mean - 2.0).abs() < 1e-12 && (m.sd - 1.0).abs() < 1e-12);
        assert_eq!(MeanSd::of(&[0.5]).cell(), "0.500");
    }

    #[test]
    fn standardised_codes_are_unit_length() {
        let pool = vec![vec![1.0, 10.0], vec![3.0, 30.0], vec![2.0, 20.0]];
        for row in standardised(&pool, &pool) {
            let n: f32 = row.iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-5 || n < 1e-6, "{row:?}");
        }
    }
}
