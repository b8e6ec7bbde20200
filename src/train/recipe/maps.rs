//! Maps: the weights a run starts from, and the frozen blocks' feature maps of the photos it
//! trains on, computed once (and kept in `--map-cache` between runs).

use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use image::RgbImage;

use super::Recipe;
use super::sources::Sources;
use crate::eval::study;
use crate::model::ModelConfig;
use crate::preprocess::PreprocessParams;
use crate::train::map_cache::SavedMaps;
use crate::train::pretrained::{MapCache, PairPool, Start, TuneMaps, imagenet_path, load_imagenet, load_run, same_first_blocks};
use crate::train::progress::report_step as step;

/// The weights the fine-tuning starts from, and what the cached maps depend on besides the
/// photos (a start whose frozen blocks are still ImageNet's has the same maps and cache key).
pub(super) struct Started {
    pub start: Start,
    pub settings_key: String,
}

pub(super) fn start(recipe: &Recipe, model: &ModelConfig, device: &Device) -> Result<Started> {
    let started = Instant::now();
    let imagenet = load_imagenet(&imagenet_path(), recipe.blocks, device)?;
    let mut same_maps = true;
    let start = match &recipe.start {
        None => {
            step("ImageNet weights", started);
            Start::Imagenet(imagenet)
        }
        Some(run) => {
            let embedder = load_run(&run.join("tune.ckpt"), model, recipe.blocks, device)?;
            same_maps = same_first_blocks(&imagenet, &embedder.encoder, recipe.tune.frozen);
            step(&format!("weights of {}", run.display()), started);
            Start::Run(embedder)
        }
    };
    let settings_key = format!(
        "{}{} | {}px | frozen {} | views {}{}",
        imagenet_path().file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        recipe.start.as_ref().filter(|_| !same_maps).map(|r| format!(" then {}", r.display())).unwrap_or_default(),
        recipe.input_size,
        recipe.tune.frozen,
        recipe.views,
        recipe.jitter_words(),
    );
    Ok(Started { start, settings_key })
}

/// The maps the fine-tuning reads: those of the trained photos, or with the pair loss beside
/// the labels those of every train photo (the labelled ones taken from them).
pub(super) fn tune_maps(
    recipe: &Recipe,
    started: &Started,
    sources: &Sources,
    preprocess: &PreprocessParams,
    device: &Device,
) -> Result<TuneMaps> {
    if recipe.tune.pairs_weight > 0.0 {
        let all = cached_maps(recipe, started, preprocess, &sources.pool.images, &sources.pool.ids, device)?;
        let labelled = all.subset(&sources.chosen);
        return Ok(TuneMaps { labelled, pairs: Some(PairPool { maps: all, beans: sources.pool.beans.clone() }) });
    }
    Ok(cached_maps(recipe, started, preprocess, &sources.train.images, &sources.train.ids, device)?.into())
}

/// The maps of these photos: those the map cache file holds are read, the rest computed (and
/// added to the file).
fn cached_maps(
    recipe: &Recipe,
    started: &Started,
    preprocess: &PreprocessParams,
    images: &[RgbImage],
    ids: &[String],
    device: &Device,
) -> Result<MapCache> {
    let (frozen, views) = (recipe.tune.frozen, recipe.views);
    let time = Instant::now();
    let mut saved = match &recipe.map_cache {
        Some(path) => SavedMaps::load(path, &started.settings_key)?,
        None => SavedMaps::default(),
    };
    let missing = saved.missing(ids);
    if missing.is_empty() {
        step(&format!("read the cached maps of {} photos", ids.len()), time);
        return Ok(saved.into_maps(ids));
    }
    let held = saved.len();
    // Every photo missing (no cache file yet): no copy of the decoded photos.
    let some;
    let photos = if missing.len() == images.len() {
        images
    } else {
        some = study::pick(images, &missing);
        &some
    };
    let built = MapCache::build(started.start.encoder(), frozen, preprocess, photos, views, recipe.jitter, device);
    saved.add(ids, &missing, built);
    step(
        &format!(
            "cache blocks 1–{frozen} of {} photos × {views} views ({held} photos' maps read from the cache file)",
            missing.len()
        ),
        time,
    );
    if let Some(path) = &recipe.map_cache {
        let time = Instant::now();
        saved.save(path, &started.settings_key)?;
        step(&format!("write the maps of {} photos to {}", saved.len(), path.display()), time);
    }
    Ok(saved.into_maps(ids))
}
