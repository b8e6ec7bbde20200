//! With `--eval-split`: kNN scored on that split for several reference counts per class (and k),
//! beside the cosine-softmax classifier itself, in `RUN/knn-SPLIT.json`, so the count the bundle
//! stores is a measured choice.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;

use super::Recipe;
use super::references::per_class_rows;
use super::sources::Sources;
use crate::eval::metrics::Report;
use crate::eval::{self_label, study};
use crate::index::ReferenceSet;
use crate::model::Net;
use crate::preprocess::PreprocessParams;
use crate::train::data::{Dataset, labelled_photos};
use crate::train::export;
use crate::train::output::write_json;
use crate::train::progress::report_step as step;

/// Reference counts per class the table scores (none without `--eval-split`). With more views
/// it leaves out 128 and all references per class (8× the embedding time), unless the bundle
/// stores that many.
pub(super) fn reference_counts(recipe: &Recipe) -> Vec<usize> {
    if recipe.eval_split.is_none() {
        return Vec::new();
    }
    let mut counts: Vec<usize> = if recipe.embed_views == 1 { vec![8, 16, 32, 64, 128, 0] } else { vec![8, 16, 32, 64] };
    if !counts.contains(&recipe.refs_per_class) {
        counts.push(recipe.refs_per_class);
    }
    counts
}

pub(super) struct Table<'a> {
    pub eval_set: &'a Dataset,
    pub split: &'a str,
    pub counts: &'a [usize],
    /// Unit-length class directions of the cosine softmax, row-major `classes × embed_dim`.
    pub class_directions: &'a [f32],
}

#[allow(clippy::too_many_arguments)]
pub(super) fn write(
    recipe: &Recipe,
    sources: &Sources,
    table: &Table,
    net: &Net,
    embeddings: &[Vec<f32>],
    self_labelled: &ReferenceSet,
    preprocess: &PreprocessParams,
    device: &Device,
) -> Result<()> {
    let started = Instant::now();
    let (split, class_names, train) = (table.split, &sources.dataset.class_names, &sources.train);
    let evaluated = labelled_photos(table.eval_set, preprocess);
    let queries = export::embed_images(net, preprocess, &evaluated.images, recipe.embed_views, device);
    let mut rows = Vec::new();
    let softmax = nearest_directions(table.class_directions, class_names.len(), recipe.embed_dim, &queries);
    let report = Report::new(class_names, &evaluated.labels, &softmax, None);
    eprintln!("  {split}: softmax (nearest class direction): {}", report.summary());
    rows.push(serde_json::json!({
        "method": "softmax", "views": recipe.embed_views, "macro_f1": report.macro_f1, "accuracy": report.accuracy,
        "normal_vs_defect": report.normal_vs_defect,
    }));
    for &per_class in table.counts {
        let kept = per_class_rows(&train.labels, per_class, recipe.tune.seed, &sources.eligible);
        let labelled = study::references(
            &study::pick(embeddings, &kept),
            &study::pick(&train.labels, &kept),
            &study::pick(&train.ids, &kept),
        );
        // With --self-label: each row without and with the self-labelled references.
        let sets = if self_labelled.is_empty() {
            vec![labelled]
        } else {
            vec![labelled.clone(), self_label::joined(&labelled, self_labelled)]
        };
        for refs in sets {
            let added = refs.len() - kept.len();
            for k in [1, 5, 10] {
                let report = study::knn_report(class_names, &refs, &queries, &evaluated.labels, k, f32::INFINITY);
                eprintln!(
                    "  {split}: {per_class:>3} refs/class + {added} self-labelled ({} refs), k {k:>2}: {}",
                    refs.len(),
                    report.summary()
                );
                rows.push(serde_json::json!({
                    "method": "knn", "refs_per_class": per_class, "references": refs.len(), "k": k, "views": recipe.embed_views,
                    "self_labelled": added,
                    "macro_f1": report.macro_f1, "accuracy": report.accuracy,
                    "normal_vs_defect": report.normal_vs_defect,
                }));
            }
        }
    }
    write_json(&recipe.run.join(format!("knn-{split}.json")), &serde_json::Value::Array(rows))?;
    step(&format!("kNN on {} {split} photos", evaluated.images.len()), started);
    Ok(())
}

/// The cosine-softmax classifier itself: each query's nearest class direction.
fn nearest_directions(directions: &[f32], n_classes: usize, dim: usize, queries: &[Vec<f32>]) -> Vec<u16> {
    queries
        .iter()
        .map(|q| {
            let score = |c: usize| directions[c * dim..(c + 1) * dim].iter().zip(q).map(|(a, b)| a * b).sum::<f32>();
            (0..n_classes).max_by(|&a, &b| score(a).total_cmp(&score(b))).unwrap_or(0) as u16
        })
        .collect()
}
