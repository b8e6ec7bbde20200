//! The frozen blocks' feature maps of the training photos: computed once per photo (and view)
//! before fine-tuning, and kept in a file by photo, so that another run on the same photos, or on
//! more of them, computes only the maps it lacks.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use burn::prelude::*;
use half::f16;
use image::RgbImage;
use rand::RngCore;

use super::augment::{self, dihedral};
use super::progress::progress;
use crate::lite0::Lite0;
use crate::preprocess::{PreprocessParams, normalise};

/// How the cached views other than the photo as it is (8 views only) are changed, drawn per photo
/// and view from a fixed seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewJitter {
    /// The four mirrored views shrunk to 30–48 px and enlarged back, as beans cut from tray
    /// photos are.
    pub low_res: bool,
    /// The seven turned views as another camera would take them ([`augment::camera_jitter`]).
    pub camera: bool,
    /// With `camera`: only the three quarter turns are taken by other cameras; the four
    /// mirrored views stay as the photo was taken, so half of what the net sees keeps the
    /// trained camera's colours.
    pub clean_mirrors: bool,
}

impl ViewJitter {
    /// " low-res camera-jitter": how the views are changed, as a run's settings say it.
    pub fn words(&self) -> String {
        let camera = match (self.camera, self.clean_mirrors) {
            (false, _) => "",
            (true, false) => " camera-jitter",
            (true, true) => " camera-jitter clean-mirrors",
        };
        format!("{}{camera}", if self.low_res { " low-res" } else { "" })
    }
}

/// Frozen feature maps of every photo and view, flattened; computed once before training.
/// Kept as f16: half the memory (8 views of 8,072 photos: 1.3 GB instead of 2.6), and the
/// rounding (about 1e-3 relative) is far below what the training steps change.
pub struct MapCache {
    maps: Vec<Vec<f16>>,
    shape: [usize; 3],
    views: usize,
}

impl MapCache {
    /// `jitter` says how views other than the photo as it is are changed ([`ViewJitter`]).
    pub fn build(
        encoder: &Lite0,
        frozen: usize,
        params: &PreprocessParams,
        images: &[RgbImage],
        views: u8,
        jitter: ViewJitter,
        device: &Device,
    ) -> Self {
        let size = params.input_size as usize;
        let views = if views >= 8 { 8 } else { 1 };
        // The frozen blocks are never trained: their folded form gives the same maps (to float
        // rounding) in about half the time (no BatchNorm passes; our depthwise kernel on the
        // small planes).
        let encoder = encoder.clone().fold();
        let bar = progress((images.len() * views) as u64, "cache frozen blocks");
        let mut maps = Vec::with_capacity(images.len() * views);
        let mut shape = [0; 3];
        let view = |photo: usize, v: usize| {
            let mut turned = dihedral(&images[photo], v as u8);
            if jitter.camera && views == 8 && v > 0 && !(jitter.clean_mirrors && v >= 4) {
                turned = augment::camera_jitter(&turned, &mut super::step_rng(photo as u64, 8 + v));
            }
            if jitter.low_res && views == 8 && v >= 4 {
                let side = 30 + (super::step_rng(photo as u64, v).next_u32() % 19);
                turned = augment::low_res(&turned, side);
            }
            turned
        };
        // 32 maps a batch: larger batches are slower here (their intermediate maps outgrow the
        // caches; measured 7–8 ms per map at 32 against 10–11 at 128, folded).
        let per_batch = (32 / views).max(1);
        for first in (0..images.len()).step_by(per_batch) {
            let photos = first..(first + per_batch).min(images.len());
            let n = photos.len() * views;
            let inputs: Vec<f32> = photos.flat_map(|p| (0..views).flat_map(move |v| normalise(&view(p, v), params))).collect();
            let x = Tensor::<4>::from_data(TensorData::new(inputs, [n, 3, size, size]), device);
            let out = encoder.forward_maps(x, frozen);
            let [_, c, h, w] = out.dims();
            shape = [c, h, w];
            let flat = out.into_data().try_to_vec::<f32>().expect("f32 maps");
            maps.extend(flat.chunks(c * h * w).map(|m| m.iter().map(|&v| f16::from_f32(v)).collect::<Vec<_>>()));
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        Self { maps, shape, views }
    }

    /// Maps of `(photo, view)` picks, view in 0..8. With one cached view per photo the eight
    /// symmetries are applied to the feature maps instead (a cheap stand-in: the frozen blocks'
    /// features of a turned photo are close to, not equal to, turned features).
    pub(crate) fn batch(&self, picks: &[(usize, usize)], device: &Device) -> Tensor<4> {
        let [c, h, w] = self.shape;
        let mut flat = Vec::with_capacity(picks.len() * c * h * w);
        for &(i, v) in picks {
            if self.views == 8 {
                flat.extend(self.maps[i * 8 + v].iter().map(|v| v.to_f32()));
            } else {
                flat.extend(turned(&self.maps[i * self.views], c, h, v as u8));
            }
        }
        Tensor::from_data(TensorData::new(flat, [picks.len(), c, h, w]), device)
    }

    /// Photos held.
    pub fn len(&self) -> usize {
        self.maps.len() / self.views
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The maps of these photos only, in this order.
    pub fn subset(&self, photos: &[usize]) -> Self {
        let maps = photos.iter().flat_map(|&p| self.maps[p * self.views..(p + 1) * self.views].iter().cloned()).collect();
        Self { maps, shape: self.shape, views: self.views }
    }
}

/// A map cache file's content: maps of photos by id, all computed under one setting (the
/// encoder, input size, frozen blocks and views). A run takes the maps of the photos it trains
/// on from here and builds only the rest ([`SavedMaps::complete`]).
#[derive(Default)]
pub struct SavedMaps {
    ids: Vec<String>,
    /// `None` until a map is held.
    cache: Option<MapCache>,
}

impl SavedMaps {
    /// Photos held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The maps saved at `path` under `settings`; empty when the file is missing or was saved
    /// under other settings (maps of another setting are never read as these).
    pub fn load(path: &Path, settings: &str) -> Result<Self> {
        use std::io::Read;
        let Ok(file) = std::fs::File::open(path) else { return Ok(Self::default()) };
        let mut input = std::io::BufReader::new(file);
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).with_context(|| format!("{} is not a beanscan map cache", path.display()))?;
        ensure!(&magic == MAP_MAGIC, "{} is not a beanscan map cache", path.display());
        let mut len = [0u8; 8];
        input.read_exact(&mut len)?;
        let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
        input.read_exact(&mut header)?;
        let mut header: MapHeader = serde_json::from_slice(&header)?;
        // Files of earlier versions name their photos at the end of the key.
        if header.ids.is_empty()
            && let Some((key, ids)) = header.key.split_once(" | photos ")
        {
            header.ids = ids.split(',').map(str::to_owned).collect();
            header.key = key.to_owned();
        }
        if header.key != settings {
            return Ok(Self::default());
        }
        ensure!(header.maps == header.ids.len() * header.views, "{}: maps and photos differ in number", path.display());
        let per_map = header.shape.iter().product::<usize>();
        let mut bytes = vec![0u8; per_map * 2];
        let mut maps = Vec::with_capacity(header.maps);
        for _ in 0..header.maps {
            input.read_exact(&mut bytes).with_context(|| format!("{} is cut short", path.display()))?;
            maps.push(bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]])).collect());
        }
        Ok(Self { ids: header.ids, cache: Some(MapCache { maps, shape: header.shape, views: header.views }) })
    }

    /// Writes every held map to `path` under `settings` (through a temporary file, so a run
    /// stopped while writing leaves the old file whole).
    pub fn save(&self, path: &Path, settings: &str) -> Result<()> {
        use std::io::Write;
        let Some(cache) = &self.cache else { return Ok(()) };
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let header = MapHeader {
            key: settings.to_owned(),
            shape: cache.shape,
            views: cache.views,
            maps: cache.maps.len(),
            ids: self.ids.clone(),
        };
        let header = serde_json::to_vec(&header)?;
        out.write_all(MAP_MAGIC)?;
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(&header)?;
        for map in &cache.maps {
            let bytes: Vec<u8> = map.iter().flat_map(|v| v.to_le_bytes()).collect();
            out.write_all(&bytes)?;
        }
        out.flush().with_context(|| format!("writing {}", tmp.display()))?;
        drop(out);
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    }

    /// Positions in `ids` of the photos not held (each id once).
    pub fn missing(&self, ids: &[String]) -> Vec<usize> {
        let held: std::collections::HashSet<&str> = self.ids.iter().map(String::as_str).collect();
        let mut seen = std::collections::HashSet::new();
        (0..ids.len()).filter(|&i| !held.contains(ids[i].as_str()) && seen.insert(ids[i].as_str())).collect()
    }

    /// Adds `built`, the maps of the photos `ids[missing[..]]`, to those held.
    pub fn add(&mut self, ids: &[String], missing: &[usize], built: MapCache) {
        assert_eq!(built.len(), missing.len(), "one photo's maps per missing photo");
        self.ids.extend(missing.iter().map(|&i| ids[i].clone()));
        match &mut self.cache {
            Some(cache) => {
                assert!(cache.shape == built.shape && cache.views == built.views, "maps of one setting");
                cache.maps.extend(built.maps);
            }
            None => self.cache = Some(built),
        }
    }

    /// The maps of `ids`, in that order (every one must be held); what is not asked for is
    /// dropped, and nothing is copied unless a photo is asked for twice.
    pub fn into_maps(self, ids: &[String]) -> MapCache {
        let Some(mut cache) = self.cache else {
            assert!(ids.is_empty(), "no maps held");
            return MapCache { maps: Vec::new(), shape: [0; 3], views: 1 };
        };
        let row: std::collections::HashMap<&str, usize> = self.ids.iter().enumerate().map(|(r, id)| (id.as_str(), r)).collect();
        let views = cache.views;
        let rows: Vec<usize> =
            ids.iter().map(|id| *row.get(id.as_str()).unwrap_or_else(|| panic!("maps of {id} are not held"))).collect();
        // Asks left per photo: the last one takes its maps, earlier ones copy them.
        let mut left = vec![0usize; self.ids.len()];
        rows.iter().for_each(|&r| left[r] += 1);
        let mut maps = Vec::with_capacity(ids.len() * views);
        for r in rows {
            left[r] -= 1;
            for v in 0..views {
                let slot = &mut cache.maps[r * views + v];
                maps.push(if left[r] > 0 { slot.clone() } else { std::mem::take(slot) });
            }
        }
        MapCache { maps, shape: cache.shape, views }
    }
}

const MAP_MAGIC: &[u8; 8] = b"BSMAPS1\n";

#[derive(serde::Serialize, serde::Deserialize)]
struct MapHeader {
    /// The setting the maps were computed under.
    key: String,
    shape: [usize; 3],
    views: usize,
    maps: usize,
    /// Each photo's id, in the order of its maps.
    #[serde(default)]
    ids: Vec<String>,
}

/// One of the eight symmetries of square `side`×`side` planes (0 = identity).
fn turned<T: Copy + Into<f32>>(planes: &[T], channels: usize, side: usize, which: u8) -> Vec<f32> {
    let mut out = vec![0.0; planes.len()];
    for y in 0..side {
        for x in 0..side {
            let (mut sy, mut sx) = (y, x);
            if which >= 4 {
                sx = side - 1 - sx;
            }
            for _ in 0..which % 4 {
                (sy, sx) = (sx, side - 1 - sy);
            }
            for c in 0..channels {
                out[(c * side + y) * side + x] = planes[(c * side + sy) * side + sx].into();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &str) -> Vec<String> {
        names.split(',').map(str::to_owned).collect()
    }

    /// Maps of `photos` photos × 8 views, each map `[2, 3, 3]` holding photo·100 + view.
    fn maps(photos: usize, first: usize) -> MapCache {
        let maps = (0..photos * 8).map(|m| vec![f16::from_f32(((first + m / 8) * 100 + m % 8) as f32); 18]).collect();
        MapCache { maps, shape: [2, 3, 3], views: 8 }
    }

    fn firsts(cache: &MapCache) -> Vec<f32> {
        cache.maps.iter().map(|m| m[0].to_f32()).collect()
    }

    /// The cache runs the frozen blocks folded; training reads those maps in place of the
    /// training form's. Every view of real photos (5 photos: batches of 4 and a rest of 1)
    /// matches the training form run on that view, to the f16 the maps are stored as.
    #[test]
    fn cached_maps_are_the_training_forms_maps_of_each_view() {
        use crate::train::pretrained::{imagenet_path, load_imagenet};
        let device = Device::flex();
        let encoder = load_imagenet(&imagenet_path(), 5, &device).unwrap_or_else(|e| panic!("{e:#}"));
        let params =
            PreprocessParams { input_size: 32, mean: [0.5; 3], std: [0.5; 3], white_reference: false, plain_background: false };
        let images = black_beans(5, 32);
        let cache = MapCache::build(&encoder, 5, &params, &images, 8, ViewJitter::default(), &device);
        assert_eq!(cache.len(), 5);
        for (photo, image) in images.iter().enumerate() {
            for view in 0..8 {
                let x = Tensor::<4>::from_data(
                    TensorData::new(normalise(&dihedral(image, view as u8), &params), [1, 3, 32, 32]),
                    &device,
                );
                let want = encoder.forward_maps(x, 5).into_data().try_to_vec::<f32>().unwrap();
                let got = cache.batch(&[(photo, view)], &device).into_data().try_to_vec::<f32>().unwrap();
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-3 * w.abs() + 1e-3, "photo {photo} view {view}: {g} vs {w}");
                }
            }
        }
    }

    /// The first `n` greencoffee r2 Black photos, cut square around the bean at `size` px.
    fn black_beans(n: usize, size: u32) -> Vec<RgbImage> {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/greencoffee/r2/Black");
        let mut files: Vec<_> = std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files
            .iter()
            .take(n)
            .map(|f| crate::preprocess::square(&crate::preprocess::decode(&std::fs::read(f).unwrap()).unwrap(), size))
            .collect()
    }

    /// With clean mirrors only the three quarter turns are jittered: the photo as is and its
    /// four mirrored views have the plain cache's maps, the turns other ones.
    #[test]
    fn clean_mirrors_jitter_the_quarter_turns_only() {
        use crate::train::pretrained::{imagenet_path, load_imagenet};
        let device = Device::flex();
        let encoder = load_imagenet(&imagenet_path(), 3, &device).unwrap_or_else(|e| panic!("{e:#}"));
        let params =
            PreprocessParams { input_size: 32, mean: [0.5; 3], std: [0.5; 3], white_reference: false, plain_background: false };
        let images = black_beans(2, 32);
        let plain = MapCache::build(&encoder, 3, &params, &images, 8, ViewJitter::default(), &device);
        let jitter = ViewJitter { camera: true, clean_mirrors: true, ..ViewJitter::default() };
        let mixed = MapCache::build(&encoder, 3, &params, &images, 8, jitter, &device);
        for photo in 0..images.len() {
            for view in 0..8 {
                let same = plain.maps[photo * 8 + view] == mixed.maps[photo * 8 + view];
                assert_eq!(same, view == 0 || view >= 4, "photo {photo} view {view}");
            }
        }
    }

    #[test]
    fn a_subset_keeps_every_view_of_the_photos_asked_for_in_that_order() {
        let sub = maps(3, 0).subset(&[2, 0]);
        assert_eq!(sub.len(), 2);
        assert_eq!(firsts(&sub), (200..208).chain(0..8).map(|m| m as f32).collect::<Vec<_>>());
    }

    #[test]
    fn saved_maps_serve_the_photos_they_hold_under_their_setting_only() {
        let path = std::env::temp_dir().join(format!("beanscan-maps-{}.bin", std::process::id()));
        let mut saved = SavedMaps::default();
        let (a_b, a_c) = (ids("a,b"), ids("a,c,a"));
        assert_eq!(saved.missing(&a_b), vec![0, 1]);
        saved.add(&a_b, &[0, 1], maps(2, 0));
        saved.save(&path, "frozen 5").unwrap();

        let mut read = SavedMaps::load(&path, "frozen 5").unwrap();
        assert_eq!(read.len(), 2);
        assert!(SavedMaps::load(&path, "frozen 6").unwrap().is_empty(), "another setting is not read as this one");
        assert!(SavedMaps::load(&path.with_extension("missing"), "frozen 5").unwrap().is_empty());
        // More photos: only c is missing (asked once although a is asked twice).
        let missing = read.missing(&a_c);
        assert_eq!(missing, vec![1]);
        read.add(&a_c, &missing, maps(1, 2));
        read.save(&path, "frozen 5").unwrap();
        let both = SavedMaps::load(&path, "frozen 5").unwrap();
        assert_eq!(both.len(), 3);
        let asked = both.into_maps(&a_c);
        assert_eq!(asked.len(), 3);
        let want: Vec<f32> = (0..8).chain(200..208).chain(0..8).map(|m| m as f32).collect();
        assert_eq!(firsts(&asked), want, "a, c, a in that order");

        std::fs::write(&path, b"not maps at all").unwrap();
        assert!(SavedMaps::load(&path, "frozen 5").is_err(), "a foreign file is an error");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn files_that_name_their_photos_in_the_key_are_read_by_photo() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("beanscan-maps-old-{}.bin", std::process::id()));
        let cache = maps(2, 0);
        let header = serde_json::json!({ "key": "frozen 5 | photos a,b", "shape": [2, 3, 3], "views": 8, "maps": 16 });
        let header = serde_json::to_vec(&header).unwrap();
        let mut bytes = MAP_MAGIC.to_vec();
        bytes.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        bytes.extend(header);
        cache.maps.iter().flatten().for_each(|v| bytes.extend(v.to_le_bytes()));
        std::fs::write(&path, bytes).unwrap();
        let read = SavedMaps::load(&path, "frozen 5").unwrap();
        assert_eq!(firsts(&read.into_maps(&ids("b"))), (100..108).map(|m| m as f32).collect::<Vec<_>>());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn the_eight_turns_are_distinct_permutations() {
        let planes: Vec<f32> = (0..2 * 9).map(|v| v as f32).collect();
        let all: Vec<Vec<f32>> = (0..8).map(|w| turned(&planes, 2, 3, w)).collect();
        assert_eq!(all[0], planes);
        for (i, a) in all.iter().enumerate() {
            let mut sorted = a.clone();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(sorted, planes, "turn {i} is a permutation");
            assert!(all[..i].iter().all(|b| b != a), "turn {i} repeats another");
        }
        // Channels move together.
        assert!(all.iter().all(|a| a[..9].iter().all(|&v| v < 9.0)));
    }
}
