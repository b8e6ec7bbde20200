//! References: the tuned net as the bundle stores it, the training photos it embeds, the
//! references kept per class (plus self-labelled ones), and the rows left to calibrate on.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::sources::{Sources, class_counts};
use super::{Recipe, knn_table};
use crate::classifier::load_embedder;
use crate::eval::{self_label, study, unknown};
use crate::index::ReferenceSet;
use crate::model::{Lite0Embedder, ModelConfig, Net};
use crate::preprocess::PreprocessParams;
use crate::train::export;
use crate::train::output::write_json;
use crate::train::pretrained::Tuned;
use crate::train::progress::report_step as step;

pub(super) struct Chosen {
    /// The tuned net as the bundle stores it (8-bit by default): references, reports and
    /// calibration see what the browser computes for a new photo.
    pub net: Net,
    /// Embeddings of the rows of `train` some step needs (the others stay empty).
    pub embeddings: Vec<Vec<f32>>,
    /// The references the bundle stores.
    pub references: ReferenceSet,
    pub self_labelled: ReferenceSet,
    /// Rows of `train` that calibrate the unknown threshold (labelled, not references).
    pub calibration: Vec<usize>,
    /// Rows of `train` (tray beans, outside `--refs-rounds`) that calibrate the tray threshold.
    pub tray_calibration: Vec<usize>,
}

pub(super) fn choose(
    recipe: &Recipe,
    sources: &Sources,
    tuned: Tuned,
    model: &ModelConfig,
    preprocess: &PreprocessParams,
    device: &Device,
) -> Result<Chosen> {
    let started = Instant::now();
    let Tuned { embedder, class_directions, .. } = tuned;
    let folded = Net::Lite0(Box::new(Lite0Embedder { encoder: embedder.encoder.fold(), head: embedder.head }));
    let net = load_embedder(model, recipe.weight_type, &export::weight_bytes(folded, recipe.weight_type)?, device)?;
    let train = &sources.train;
    let seed = recipe.tune.seed;
    let table_counts = knn_table::reference_counts(recipe);
    // Only the training photos some reference set takes are embedded.
    let mut needed = vec![false; train.images.len()];
    let all_labelled = if recipe.self_label > 0 { Some(&0) } else { None };
    for &per_class in table_counts.iter().chain([&recipe.refs_per_class]).chain(all_labelled) {
        per_class_rows(&train.labels, per_class, seed, &sources.eligible).into_iter().for_each(|r| needed[r] = true);
    }
    let kept = per_class_rows(&train.labels, recipe.refs_per_class, seed, &sources.eligible);
    let calibration = if recipe.threshold.is_none() { calibration_rows(sources, &kept, seed) } else { Vec::new() };
    calibration.iter().for_each(|&r| needed[r] = true);
    let tray_calibration = if recipe.refs_rounds.is_some() && recipe.tray_threshold.is_none() {
        // Tray beans (the rows outside --refs-rounds) calibrate the tray threshold against the
        // same references; a tray bean is embedded with fewer views than a single-bean photo.
        let single: HashSet<&str> =
            (0..train.ids.len()).filter(|&r| sources.eligible[r]).map(|r| train.ids[r].as_str()).collect();
        unknown::calibration_rows(&train.ids, &train.labels, &single, unknown::CALIBRATION_PER_CLASS, seed)
    } else {
        Vec::new()
    };
    let rows: Vec<usize> = (0..needed.len()).filter(|&r| needed[r]).collect();
    let mut embeddings = vec![Vec::new(); train.images.len()];
    let embedded = export::embed_images(&net, preprocess, &study::pick(&train.images, &rows), recipe.embed_views, device);
    rows.iter().zip(embedded).for_each(|(&r, e)| embeddings[r] = e);
    step(&format!("embed {} training photos × {} views", rows.len(), recipe.embed_views), started);
    let self_labelled = if recipe.self_label > 0 {
        self_labelled(recipe, sources, &net, &embeddings, preprocess, device)?
    } else {
        ReferenceSet::new(recipe.embed_dim)
    };
    if let (Some(eval_set), Some(split)) = (&sources.eval_set, &recipe.eval_split) {
        let table = knn_table::Table { eval_set, split, counts: &table_counts, class_directions: &class_directions };
        knn_table::write(recipe, sources, &table, &net, &embeddings, &self_labelled, preprocess, device)?;
    }
    let references = self_label::joined(
        &study::references(&study::pick(&embeddings, &kept), &study::pick(&train.labels, &kept), &study::pick(&train.ids, &kept)),
        &self_labelled,
    );
    Ok(Chosen { net, embeddings, references, self_labelled, calibration, tray_calibration })
}

/// Up to `per_class` rows of each class (all when 0) among the `eligible` ones, drawn by `seed`.
pub(super) fn per_class_rows(labels: &[u16], per_class: usize, seed: u64, eligible: &[bool]) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..labels.len()).collect();
    rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    // Filtered after the shuffle: with every row eligible the draw is the same as without.
    rows.retain(|&r| eligible[r]);
    let mut kept = if per_class == 0 { rows } else { crate::eval::first_per_class(rows, |&r| labels[r], per_class) };
    kept.sort_unstable();
    kept
}

/// Labelled rows that are not references (`kept`) and, with `--refs-rounds`, of those rounds.
fn calibration_rows(sources: &Sources, kept: &[usize], seed: u64) -> Vec<usize> {
    let train = &sources.train;
    let references: HashSet<&str> = kept.iter().map(|&r| train.ids[r].as_str()).collect();
    let others: HashSet<&str> = (0..train.ids.len()).filter(|&r| !sources.eligible[r]).map(|r| train.ids[r].as_str()).collect();
    let outside = references.union(&others).copied().collect();
    unknown::calibration_rows(&train.ids, &train.labels, &outside, unknown::CALIBRATION_PER_CLASS, seed)
}

/// The unlabelled train photos labelled by the vote of their nearest labelled ones (their own
/// labels read only to report how often the vote was right); also `RUN/self-labelled.json`.
fn self_labelled(
    recipe: &Recipe,
    sources: &Sources,
    net: &Net,
    embeddings: &[Vec<f32>],
    preprocess: &PreprocessParams,
    device: &Device,
) -> Result<ReferenceSet> {
    let started = Instant::now();
    let (pool, train) = (&sources.pool, &sources.train);
    let trained: HashSet<usize> = sources.trained.iter().copied().collect();
    let unlabelled: Vec<usize> = (0..pool.images.len()).filter(|i| !trained.contains(i)).collect();
    let photos = export::embed_images(net, preprocess, &study::pick(&pool.images, &unlabelled), 1, device);
    let labelled = study::references(embeddings, &train.labels, &train.ids);
    let ids = study::pick(&pool.ids, &unlabelled);
    let added = self_label::self_labelled(&labelled, &photos, &ids, recipe.k as usize, recipe.self_label);
    let truth: HashMap<&str, u16> = pool.ids.iter().map(String::as_str).zip(pool.labels.iter().copied()).collect();
    let right = (0..added.len()).filter(|&i| truth[added.ids[i].as_str()] == added.labels[i]).count();
    step(
        &format!(
            "self-label {} of {} unlabelled photos ({}; {:.1} % of them right)",
            added.len(),
            unlabelled.len(),
            class_counts(&sources.dataset.class_names, &added.labels),
            100.0 * right as f64 / added.len().max(1) as f64
        ),
        started,
    );
    write_json(&recipe.run.join("self-labelled.json"), &self_label::pseudo_labels_json(&added, &sources.dataset.class_names))?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::per_class_rows;

    #[test]
    fn references_come_from_eligible_rows_only_and_the_full_draw_is_unchanged_by_the_filter() {
        let labels: Vec<u16> = (0..40).map(|i| (i % 2) as u16).collect();
        let all = vec![true; labels.len()];
        let drawn = per_class_rows(&labels, 3, 7, &all);
        assert_eq!(drawn.len(), 6);
        // Rows 0–19 only (as the single-bean photos among tray beans).
        let first_half: Vec<bool> = (0..labels.len()).map(|r| r < 20).collect();
        let kept = per_class_rows(&labels, 3, 7, &first_half);
        assert_eq!(kept.len(), 6);
        assert!(kept.iter().all(|&r| r < 20), "{kept:?}");
        // The eligible rows the full draw took stay taken: the filter only skips the others.
        assert!(drawn.iter().filter(|&&r| r < 20).all(|r| kept.contains(r)), "{drawn:?} vs {kept:?}");
        // A class with no eligible row gets no reference.
        let evens: Vec<bool> = (0..labels.len()).map(|r| r % 2 == 0).collect();
        assert!(per_class_rows(&labels, 3, 7, &evens).iter().all(|&r| labels[r] == 0));
    }
}
