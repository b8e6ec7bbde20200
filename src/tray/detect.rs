//! Finding the beans in a photo of many beans on a light background (paper, a white tray).
//!
//! Background estimation → a per-pixel "not paper" score → Otsu threshold → connected components
//! → touching beans split by a watershed on the distance transform. Every size is measured
//! against the photo's own typical bean, so the same code works at any resolution or distance.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use image::{GrayImage, Luma, RgbImage, imageops::FilterType};
use imageproc::distance_transform::{Norm, euclidean_squared_distance_transform};
use imageproc::geometry::convex_hull;
use imageproc::point::Point;
use imageproc::region_labelling::{Connectivity, connected_components};
use serde::Serialize;

/// Detection runs on a copy whose long side is at most this: a 12 MP photo is cut to ≈ 0.8 MP,
/// where a bean still spans tens of pixels.
pub const WORK_SIDE: u32 = 1024;
/// The background grid has this many cells along the photo's short side.
const GRID_CELLS: u32 = 12;
/// Lowest score threshold (of 255): on a photo with no beans Otsu would split paper noise.
const MIN_LEVEL: u8 = 28;
/// Blobs smaller than this share of the typical bean are dust or crumbs.
const MIN_AREA_SHARE: f32 = 0.2;
/// Blobs larger than this share of the typical bean are tried for touching beans.
const SPLIT_AREA_SHARE: f32 = 1.35;
/// Seeds of the split: pixels at least this share of the typical bean's half-width from the edge.
const SEED_DEPTH: f32 = 0.6;

/// One bean found in the photo, in the photo's pixel coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    /// Bounding box: left, top, width, height.
    pub bbox: [u32; 4],
    /// Convex outline, clockwise, in pixels.
    pub outline: Vec<[f32; 2]>,
    /// Area of the bean's pixels.
    pub area: f32,
}

impl Found {
    /// The square (x, y, side) around the bean, framed like a single-bean photo: the bean's long
    /// side plus a 20 % margin, clamped to the photo.
    pub fn square(&self, width: u32, height: u32) -> (u32, u32, u32) {
        let [x, y, w, h] = self.bbox;
        let side = ((w.max(h) as f32 * 1.2).round() as u32).clamp(1, width.min(height));
        let (cx, cy) = (x as f32 + w as f32 / 2.0, y as f32 + h as f32 / 2.0);
        let left = (cx - side as f32 / 2.0).round().clamp(0.0, (width - side) as f32) as u32;
        let top = (cy - side as f32 / 2.0).round().clamp(0.0, (height - side) as f32) as u32;
        (left, top, side)
    }
}

/// Every bean in the photo, top to bottom, left to right.
pub fn find_beans(photo: &RgbImage) -> Vec<Found> {
    let (w, h) = photo.dimensions();
    if w < 8 || h < 8 {
        return Vec::new();
    }
    let scale = (w.max(h) as f32 / WORK_SIDE as f32).max(1.0);
    let small;
    let work = if scale > 1.0 {
        let (sw, sh) = (((w as f32 / scale).round() as u32).max(1), ((h as f32 / scale).round() as u32).max(1));
        small = image::imageops::resize(photo, sw, sh, FilterType::Triangle);
        &small
    } else {
        photo
    };
    let score = foreground_score(work);
    let level = imageproc::contrast::otsu_level(&score).max(MIN_LEVEL);
    let mut mask = GrayImage::from_fn(score.width(), score.height(), |x, y| {
        Luma([if score.get_pixel(x, y).0[0] >= level { 255 } else { 0 }])
    });
    // Opening drops specks and thin shadow rims; closing mends cracks across a bean.
    imageproc::morphology::open_mut(&mut mask, Norm::L1, 1);
    imageproc::morphology::close_mut(&mut mask, Norm::L1, 1);

    let mut regions = blobs(&mask);
    let typical = typical_area(&regions);
    if typical <= 0.0 {
        return Vec::new();
    }
    regions.retain(|r| r.len() as f32 >= MIN_AREA_SHARE * typical);
    let half_width = typical_half_width(&regions, typical);
    let regions: Vec<Vec<(u32, u32)>> = regions
        .into_iter()
        .flat_map(|r| {
            if r.len() as f32 > SPLIT_AREA_SHARE * typical && half_width > 0.0 {
                split_touching(&r, SEED_DEPTH * half_width, typical)
            } else {
                vec![r]
            }
        })
        .filter(|r| r.len() as f32 >= MIN_AREA_SHARE * typical && !is_tray_edge(r, work.width(), work.height()))
        .collect();

    let mut found: Vec<Found> = regions.iter().map(|r| to_found(r, scale, w, h)).collect();
    found.sort_by_key(|f| (f.bbox[1] + f.bbox[3] / 2, f.bbox[0]));
    found
}

/// How unlike the paper each pixel is, 0–255: relative darkness against the local background
/// brightness, or colour beyond the background's own tint (pale parchment beans are not dark).
fn foreground_score(image: &RgbImage) -> GrayImage {
    let (w, h) = image.dimensions();
    let lum = |p: &image::Rgb<u8>| (u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) as f32 / 3.0;
    let chroma = |p: &image::Rgb<u8>| f32::from(p[0].max(p[1]).max(p[2]) - p[0].min(p[1]).min(p[2]));
    let cell = (w.min(h) / GRID_CELLS).max(4);
    let (gw, gh) = (w.div_ceil(cell), h.div_ceil(cell));
    // Per cell: the 90th percentile brightness (paper, even where beans cover most of the cell)
    // and the median tint of its brighter half.
    let mut bg_lum = vec![0.0f32; (gw * gh) as usize];
    let mut bg_chroma = vec![0.0f32; (gw * gh) as usize];
    for gy in 0..gh {
        for gx in 0..gw {
            let mut px: Vec<(f32, f32)> = Vec::new();
            for y in gy * cell..((gy + 1) * cell).min(h) {
                for x in gx * cell..((gx + 1) * cell).min(w) {
                    let p = image.get_pixel(x, y);
                    px.push((lum(p), chroma(p)));
                }
            }
            px.sort_by(|a, b| a.0.total_cmp(&b.0));
            let i = (gy * gw + gx) as usize;
            bg_lum[i] = px[(px.len() * 9 / 10).min(px.len() - 1)].0;
            let mut tint: Vec<f32> = px[px.len() / 2..].iter().map(|p| p.1).collect();
            tint.sort_by(f32::total_cmp);
            bg_chroma[i] = tint[tint.len() / 2];
        }
    }
    let bg_lum = median3x3(&bg_lum, gw, gh);
    let bg_chroma = median3x3(&bg_chroma, gw, gh);
    GrayImage::from_fn(w, h, |x, y| {
        let p = image.get_pixel(x, y);
        let (gx, gy) = ((x as f32 + 0.5) / cell as f32 - 0.5, (y as f32 + 0.5) / cell as f32 - 0.5);
        let bl = bilinear(&bg_lum, gw, gh, gx, gy).max(1.0);
        let bc = bilinear(&bg_chroma, gw, gh, gx, gy);
        let dark = (bl - lum(p)) / bl;
        let tint = 2.0 * (chroma(p) - bc) / 255.0;
        Luma([(dark.max(tint) * 255.0).clamp(0.0, 255.0) as u8])
    })
}

fn median3x3(grid: &[f32], w: u32, h: u32) -> Vec<f32> {
    let (w, h) = (w as i64, h as i64);
    let mut out = Vec::with_capacity(grid.len());
    for y in 0..h {
        for x in 0..w {
            let mut v: Vec<f32> = (-1..=1)
                .flat_map(|dy| (-1..=1).map(move |dx| (x + dx, y + dy)))
                .filter(|&(nx, ny)| (0..w).contains(&nx) && (0..h).contains(&ny))
                .map(|(nx, ny)| grid[(ny * w + nx) as usize])
                .collect();
            v.sort_by(f32::total_cmp);
            out.push(v[v.len() / 2]);
        }
    }
    out
}

fn bilinear(grid: &[f32], w: u32, h: u32, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |x: u32, y: u32| grid[(y * w + x) as usize];
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The pixels of each 8-connected blob of the mask.
fn blobs(mask: &GrayImage) -> Vec<Vec<(u32, u32)>> {
    let labels = connected_components(mask, Connectivity::Eight, Luma([0u8]));
    let mut regions: Vec<Vec<(u32, u32)>> = Vec::new();
    for (x, y, l) in labels.enumerate_pixels() {
        let l = l.0[0] as usize;
        if l == 0 {
            continue;
        }
        if regions.len() < l {
            regions.resize_with(l, Vec::new);
        }
        regions[l - 1].push((x, y));
    }
    regions.retain(|r| !r.is_empty());
    regions
}

/// The photo's typical bean area: the median blob area, after dropping specks of under 1/400 of
/// the largest blob (paper texture), so the median is over beans and clumps of beans.
fn typical_area(regions: &[Vec<(u32, u32)>]) -> f32 {
    let largest = regions.iter().map(Vec::len).max().unwrap_or(0);
    let mut areas: Vec<usize> = regions.iter().map(Vec::len).filter(|&a| a * 400 >= largest && a >= 12).collect();
    if areas.is_empty() {
        return 0.0;
    }
    areas.sort_unstable();
    areas[areas.len() / 2] as f32
}

/// Distance from edge to centre line of a typical single bean: the median, over blobs of about
/// the typical area, of the largest inside distance.
fn typical_half_width(regions: &[Vec<(u32, u32)>], typical: f32) -> f32 {
    let mut depths: Vec<f32> = regions
        .iter()
        .filter(|r| (0.6 * typical..1.4 * typical).contains(&(r.len() as f32)))
        .map(|r| {
            let (local, _) = local_mask(r);
            inside_distance(&local).iter().copied().fold(0.0, f32::max)
        })
        .collect();
    if depths.is_empty() {
        return 0.0;
    }
    depths.sort_by(f32::total_cmp);
    depths[depths.len() / 2]
}

/// A region as a mask over its bounding box with a one-pixel empty border, and that box's origin.
fn local_mask(region: &[(u32, u32)]) -> (GrayImage, (u32, u32)) {
    let x0 = region.iter().map(|p| p.0).min().unwrap_or(0);
    let y0 = region.iter().map(|p| p.1).min().unwrap_or(0);
    let x1 = region.iter().map(|p| p.0).max().unwrap_or(0);
    let y1 = region.iter().map(|p| p.1).max().unwrap_or(0);
    let mut mask = GrayImage::new(x1 - x0 + 3, y1 - y0 + 3);
    for &(x, y) in region {
        mask.put_pixel(x - x0 + 1, y - y0 + 1, Luma([255]));
    }
    (mask, (x0, y0))
}

/// Euclidean distance of each mask pixel to the nearest pixel outside the mask (row-major).
fn inside_distance(mask: &GrayImage) -> Vec<f32> {
    let outside =
        GrayImage::from_fn(mask.width(), mask.height(), |x, y| Luma([if mask.get_pixel(x, y).0[0] == 0 { 255 } else { 0 }]));
    euclidean_squared_distance_transform(&outside).pixels().map(|p| (p.0[0] as f32).sqrt()).collect()
}

/// Splits a clump of touching beans: seeds are the parts deeper than some depth from the edge
/// (the necks between beans are shallow), then every pixel joins the seed it reaches first when
/// flooding from the deepest pixels down (a watershed on the distance transform). The seed depth
/// rises from `min_depth` until there are as many seeds as the clump's area holds typical beans.
fn split_touching(region: &[(u32, u32)], min_depth: f32, typical: f32) -> Vec<Vec<(u32, u32)>> {
    let (mask, (x0, y0)) = local_mask(region);
    let (w, h) = mask.dimensions();
    let depth = inside_distance(&mask);
    let deepest = depth.iter().copied().fold(0.0, f32::max);
    let expected = (region.len() as f32 / typical).round().max(1.0) as usize;
    let seeds_at = |t: f32| {
        let seeds_mask = GrayImage::from_fn(w, h, |x, y| Luma([if depth[(y * w + x) as usize] >= t { 255 } else { 0 }]));
        let seeds = connected_components(&seeds_mask, Connectivity::Eight, Luma([0u8]));
        let n = seeds.pixels().map(|p| p.0[0]).max().unwrap_or(0) as usize;
        (seeds, n)
    };
    let mut t = min_depth;
    let (mut seeds, mut n_seeds) = seeds_at(t);
    while n_seeds < expected && t + 1.0 < deepest {
        t += 0.5;
        let (s, n) = seeds_at(t);
        if n > n_seeds {
            (seeds, n_seeds) = (s, n);
        }
    }
    if n_seeds <= 1 {
        return vec![region.to_vec()];
    }
    let mut owner = vec![0u32; (w * h) as usize];
    // Max-heap on depth (in 1/16 px steps), then position for a stable order.
    let mut queue = BinaryHeap::new();
    for (x, y, l) in seeds.enumerate_pixels() {
        if l.0[0] > 0 {
            let i = (y * w + x) as usize;
            owner[i] = l.0[0];
            queue.push(((depth[i] * 16.0) as u32, Reverse(i)));
        }
    }
    while let Some((_, Reverse(i))) = queue.pop() {
        let (x, y) = ((i as u32) % w, (i as u32) / w);
        for (nx, ny) in [(x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)] {
            let j = (ny * w + nx) as usize;
            if mask.get_pixel(nx, ny).0[0] > 0 && owner[j] == 0 {
                owner[j] = owner[i];
                queue.push(((depth[j] * 16.0) as u32, Reverse(j)));
            }
        }
    }
    let mut parts = vec![Vec::new(); n_seeds];
    for &(x, y) in region {
        let l = owner[((y - y0 + 1) * w + (x - x0 + 1)) as usize];
        if l > 0 {
            parts[l as usize - 1].push((x, y));
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// A long thin blob along the photo's border: the tray's rim or its shadow, not a bean.
fn is_tray_edge(region: &[(u32, u32)], w: u32, h: u32) -> bool {
    let touches = region.iter().any(|&(x, y)| x == 0 || y == 0 || x + 1 == w || y + 1 == h);
    if !touches {
        return false;
    }
    let (mask, _) = local_mask(region);
    let (bw, bh) = (mask.width() - 2, mask.height() - 2);
    let fill = region.len() as f32 / (bw * bh) as f32;
    let aspect = bw.max(bh) as f32 / bw.min(bh).max(1) as f32;
    fill < 0.35 || aspect > 4.0
}

fn to_found(region: &[(u32, u32)], scale: f32, w: u32, h: u32) -> Found {
    let points: Vec<Point<i32>> = region.iter().map(|&(x, y)| Point::new(x as i32, y as i32)).collect();
    let hull = convex_hull(points);
    let to_photo = |v: i32, end: u32| ((v as f32 + 0.5) * scale).clamp(0.0, end as f32);
    let outline: Vec<[f32; 2]> = hull.iter().map(|p| [to_photo(p.x, w), to_photo(p.y, h)]).collect();
    let (x0, y0) = (region.iter().map(|p| p.0).min().unwrap_or(0), region.iter().map(|p| p.1).min().unwrap_or(0));
    let (x1, y1) = (region.iter().map(|p| p.0).max().unwrap_or(0), region.iter().map(|p| p.1).max().unwrap_or(0));
    let left = ((x0 as f32 * scale).floor() as u32).min(w - 1);
    let top = ((y0 as f32 * scale).floor() as u32).min(h - 1);
    let right = (((x1 + 1) as f32 * scale).ceil() as u32).clamp(left + 1, w);
    let bottom = (((y1 + 1) as f32 * scale).ceil() as u32).clamp(top + 1, h);
    Found { bbox: [left, top, right - left, bottom - top], outline, area: region.len() as f32 * scale * scale }
}
