//! Maps: the weights a run starts from, and the frozen blocks' feature maps of the photos it
//! trains on, computed once (and kept in `--map-cache` between runs).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use image::RgbImage;

use super::Recipe;
use super::sources::Sources;
use crate::eval::study;
use crate::model::ModelConfig;
use crate::preprocess::PreprocessParams;
use crate::train::blend::blend;
use crate::train::map_cache::{SavedMaps, ViewJitter};
use crate::train::pretrained::{MapCache, PairPool, Start, TuneMaps, imagenet_path, load_imagenet, load_run, same_first_blocks};
use crate::train::progress::report_step as step;

/// The weights the fine-tuning starts from, and whether its frozen blocks are still ImageNet's
/// (then its maps are ImageNet's, under the same cache key).
pub(super) struct Started {
    pub start: Start,
    same_maps: bool,
}

impl Started {
    /// What cached maps of these views depend on besides the photos.
    fn maps_key(&self, recipe: &Recipe, jitter: ViewJitter) -> String {
        format!(
            "{}{} | {}px{} | frozen {} | views {}{}",
            imagenet_path().file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            if self.same_maps { String::new() } else { recipe.start_words(" then") },
            recipe.input_size,
            recipe.preprocess_words(),
            recipe.tune.frozen,
            recipe.views,
            jitter.words(),
        )
    }
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
            let mut embedder = load_run(&run.join("tune.ckpt"), model, recipe.blocks, device)?;
            if let Some(other) = &recipe.blend {
                let toward = load_run(&other.run.join("tune.ckpt"), model, recipe.blocks, device)?;
                embedder = blend(embedder, &toward, other.weight)?;
            }
            same_maps = same_first_blocks(&imagenet, &embedder.encoder, recipe.tune.frozen);
            step(&format!("weights{}", recipe.start_words(" of")), started);
            Start::Run(embedder)
        }
    };
    Ok(Started { start, same_maps })
}

/// The maps the fine-tuning reads: those of the trained photos, or with the pair loss beside
/// the labels those of every train photo (the labelled ones taken from them); with
/// distillation also the trained photos' views as taken.
pub(super) fn tune_maps(
    recipe: &Recipe,
    started: &Started,
    sources: &Sources,
    preprocess: &PreprocessParams,
    device: &Device,
) -> Result<TuneMaps> {
    let jittered = MapsFile { path: recipe.map_cache.as_deref(), jitter: recipe.jitter };
    if recipe.tune.pairs_weight > 0.0 {
        let all = cached_maps(recipe, started, &jittered, preprocess, &sources.pool.images, &sources.pool.ids, device)?;
        let labelled = all.subset(&sources.chosen);
        let pairs = Some(PairPool { maps: all, beans: sources.pool.beans.clone() });
        return Ok(TuneMaps { labelled, pairs, clean: None });
    }
    let (images, ids) = (&sources.train.images, &sources.train.ids);
    let labelled = cached_maps(recipe, started, &jittered, preprocess, images, ids, device)?;
    let clean = match recipe.tune.distill_weight > 0.0 {
        true => {
            let as_taken = MapsFile { path: recipe.distill_map_cache.as_deref(), jitter: ViewJitter::default() };
            Some(cached_maps(recipe, started, &as_taken, preprocess, images, ids, device)?)
        }
        false => None,
    };
    Ok(TuneMaps { labelled, pairs: None, clean })
}

/// Where maps of one kind of view are kept between runs.
struct MapsFile<'a> {
    path: Option<&'a Path>,
    jitter: ViewJitter,
}

/// The maps of these photos: those the map cache file holds are read, the rest computed (and
/// added to the file).
fn cached_maps(
    recipe: &Recipe,
    started: &Started,
    file: &MapsFile,
    preprocess: &PreprocessParams,
    images: &[RgbImage],
    ids: &[String],
    device: &Device,
) -> Result<MapCache> {
    let (frozen, views) = (recipe.tune.frozen, recipe.views);
    let time = Instant::now();
    let key = started.maps_key(recipe, file.jitter);
    let mut saved = match file.path {
        Some(path) => SavedMaps::load(path, &key)?,
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
    let built = MapCache::build(started.start.encoder(), frozen, preprocess, photos, views, file.jitter, device);
    saved.add(ids, &missing, built);
    step(
        &format!(
            "cache blocks 1–{frozen} of {} photos × {views} views ({held} photos' maps read from the cache file)",
            missing.len()
        ),
        time,
    );
    if let Some(path) = file.path {
        let time = Instant::now();
        saved.save(path, &key)?;
        step(&format!("write the maps of {} photos to {}", saved.len(), path.display()), time);
    }
    Ok(saved.into_maps(ids))
}
