//! Calibration: the distances beyond which a single-bean photo, and a bean cut from a tray, is
//! unknown, set on labelled photos that are not references (`RUN/unknown.json`,
//! `RUN/unknown-tray.json`), unless the run was given them. With `calibrate_jittered` the
//! single-bean photos are taken as another camera would take them first, so the threshold
//! keeps an unseen camera's known beans within it as it keeps the trained camera's.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Recipe;
use super::references::Chosen;
use super::sources::Sources;
use crate::classifier::TRAY_VIEWS;
use crate::eval::{study, unknown};
use crate::preprocess::PreprocessParams;
use crate::train::output::write_json;
use crate::train::progress::report_step as step;
use crate::train::{augment, export};

pub(super) struct Thresholds {
    pub single: f32,
    /// None: tray beans use the single-bean threshold.
    pub tray: Option<f32>,
}

pub(super) fn thresholds(
    recipe: &Recipe,
    sources: &Sources,
    chosen: &Chosen,
    preprocess: &PreprocessParams,
    device: &Device,
) -> Result<Thresholds> {
    let train = &sources.train;
    let single = match recipe.threshold {
        Some(t) => t,
        None if chosen.calibration.is_empty() => {
            eprintln!("  no labelled photo outside the references to calibrate the unknown threshold: 1.0 (pass --threshold)");
            1.0
        }
        None => {
            let photos = if recipe.calibrate_jittered {
                jittered_embeddings(recipe, sources, chosen, preprocess, device)
            } else {
                study::pick(&chosen.embeddings, &chosen.calibration)
            };
            let labels = study::pick(&train.labels, &chosen.calibration);
            let check = unknown::calibrate(&chosen.references, &photos, &labels, recipe.unknown_quantile);
            eprintln!("  {}", check.calibration_line());
            write_json(&recipe.run.join("unknown.json"), &serde_json::to_value(&check)?)?;
            check.threshold
        }
    };
    let tray = match recipe.tray_threshold {
        Some(t) => Some(t),
        None if chosen.tray_calibration.is_empty() => None,
        None => {
            let started = Instant::now();
            let rows = &chosen.tray_calibration;
            let photos = export::embed_images(&chosen.net, preprocess, &study::pick(&train.images, rows), TRAY_VIEWS, device);
            let check =
                unknown::calibrate(&chosen.references, &photos, &study::pick(&train.labels, rows), recipe.unknown_quantile);
            eprintln!("  tray beans: {}", check.calibration_line());
            write_json(&recipe.run.join("unknown-tray.json"), &serde_json::to_value(&check)?)?;
            step(&format!("calibrate the tray threshold on {} tray beans × {TRAY_VIEWS} view", photos.len()), started);
            Some(check.threshold)
        }
    };
    Ok(Thresholds { single, tray })
}

/// The calibration photos, each as one camera draw ([`augment::camera_jitter`], seeded by the
/// run's seed) would take it, embedded with the bundle's views.
fn jittered_embeddings(
    recipe: &Recipe,
    sources: &Sources,
    chosen: &Chosen,
    preprocess: &PreprocessParams,
    device: &Device,
) -> Vec<Vec<f32>> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(recipe.tune.seed);
    let photos: Vec<_> = chosen.calibration.iter().map(|&r| augment::camera_jitter(&sources.train.images[r], &mut rng)).collect();
    let embedded = export::embed_images(&chosen.net, preprocess, &photos, recipe.embed_views, device);
    step(
        &format!("embed {} calibration photos as other cameras take them × {} views", photos.len(), recipe.embed_views),
        started,
    );
    embedded
}
