//! Finding the beans in a photo of beans spread on a surface: paper, a towel, cloth, a card, a
//! steel tray, a table.
//!
//! The surface's brightness and colour per cell → two scores per pixel (brightness, colour), each
//! against the surface's own texture → Otsu's level where the scores have two clear modes →
//! connected components, kept only where a bean-sized core stands out as no texture does →
//! touching beans split by a watershed on the distance transform. Sizes are measured against the
//! photo's own typical bean and never under a share of its short side, so the same code works at
//! any resolution or distance, and a texture cannot pass for beans.

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
    let ground = Ground::measure(work);
    let scores = ground.score(work);
    let (level, two_modes) = global_level(&scores.combined);
    // With two clear modes the surface is what lies under Otsu's split; with one, it is nearly
    // the whole photo (a few beans on a texture).
    let surface_below = two_modes.then_some(level);
    let tone_texture = ground.texture(&scores.tone, &scores.combined, surface_below);
    let hue_texture = ground.texture(&scores.hue, &scores.combined, surface_below);
    let test = BeanTest { scores: &scores, tone: &tone_texture, hue: &hue_texture, level, shade: ground.shade };
    let mut mask =
        GrayImage::from_fn(work.width(), work.height(), |x, y| Luma([if test.bean_like(x, y, 0.0) { 255 } else { 0 }]));
    // Opening drops specks and thin shadow rims; closing mends cracks across a bean.
    imageproc::morphology::open_mut(&mut mask, Norm::L1, 1);
    imageproc::morphology::close_mut(&mut mask, Norm::L1, 1);

    // Only blobs that stand out from their surroundings as no texture does, and are big enough
    // for a bean in a photo of beans, count; the typical bean is measured on those alone.
    let min_area = min_bean_area(work.width(), work.height());
    let mut regions = blobs(&mask);
    regions.retain(|r| r.len() as f32 >= min_area && test.stands_out(r));
    let typical = typical_area(&regions);
    if typical <= 0.0 {
        return Vec::new();
    }
    regions.retain(|r| r.len() as f32 >= MIN_AREA_SHARE * typical);
    let half_width = typical_half_width(&regions, typical);
    let regions: Vec<Vec<(u32, u32)>> = regions
        .into_iter()
        .flat_map(|r| {
            if half_width <= 0.0 {
                vec![r]
            } else if may_hold_two(&r, typical) {
                split_touching(&r, SEED_DEPTH * half_width, typical)
            } else {
                split_pair(&r, SEED_DEPTH * half_width).unwrap_or_else(|| vec![r])
            }
        })
        .filter(|r| {
            r.len() as f32 >= (MIN_AREA_SHARE * typical).max(min_area)
                && solidity(r) >= MIN_SOLIDITY
                && !is_tray_edge(r, work.width(), work.height())
        })
        .collect();

    let mut found: Vec<Found> = regions.iter().map(|r| to_found(r, scale, w, h)).collect();
    found.sort_by_key(|f| (f.bbox[1] + f.bbox[3] / 2, f.bbox[0]));
    found
}

/// The smallest bean a photo of beans shows: the side of a square of a bean's area is at least
/// this share of the photo's short side (a tray of 500 beans still shows them at 4 %), whatever
/// the texture around it measures.
const MIN_BEAN_SHARE: f32 = 0.025;

fn min_bean_area(w: u32, h: u32) -> f32 {
    let side = MIN_BEAN_SHARE * w.min(h) as f32;
    (side * side).max(4.0)
}

/// The level a bean's pixels reach: Otsu's where the scores really have two modes (beans and
/// background far apart against the background's own spread), never under [`MIN_LEVEL`].
fn global_level(score: &GrayImage) -> (f32, bool) {
    let otsu = imageproc::contrast::otsu_level(score);
    let (mut lo, mut hi) = ([0f64; 3], [0f64; 2]);
    for p in score.pixels() {
        let v = f64::from(p.0[0]);
        if p.0[0] < otsu {
            lo[0] += 1.0;
            lo[1] += v;
            lo[2] += v * v;
        } else {
            hi[0] += 1.0;
            hi[1] += v;
        }
    }
    if lo[0] < 1.0 || hi[0] < 1.0 {
        return (f32::from(MIN_LEVEL), false);
    }
    let (mean_lo, mean_hi) = (lo[1] / lo[0], hi[1] / hi[0]);
    let sd_lo = (lo[2] / lo[0] - mean_lo * mean_lo).max(0.0).sqrt();
    let two_modes = mean_hi - mean_lo >= BIMODAL_GAP * sd_lo.max(1.0) && otsu >= MIN_LEVEL;
    (f32::from(if two_modes { otsu } else { MIN_LEVEL }), two_modes)
}

/// Otsu's split counts as two modes when the upper class's mean is this many of the lower
/// class's standard deviations above its mean (a split of one noisy mode gives about 2.7).
const BIMODAL_GAP: f64 = 5.0;

/// Whether pixels and blobs look like bean rather than surface, each score against its own
/// texture: a wood grain varies in brightness, hardly in colour, so a bean on it shows in colour.
struct BeanTest<'a> {
    scores: &'a Scores,
    tone: &'a Texture,
    hue: &'a Texture,
    level: f32,
    shade: Shade,
}

impl BeanTest<'_> {
    /// Unlike the surface beyond `level` and beyond the texture (plus `margin` texture spreads):
    /// in colour, or in brightness by more than a soft shadow darkens a light surface (a
    /// shadow keeps the surface's colour).
    fn bean_like(&self, x: u32, y: u32, margin: f32) -> bool {
        let at = |img: &GrayImage| f32::from(img.get_pixel(x, y).0[0]);
        if at(&self.scores.combined) < self.level {
            return false;
        }
        let beyond = |t: &Texture| if margin > 0.0 { t.floor_at(x, y) + margin * t.margin_at(x, y) } else { t.floor_at(x, y) };
        let shadow = if self.shade == Shade::Dark { 0.0 } else { SHADOW_TONE };
        at(&self.scores.hue) >= beyond(self.hue).max(HUE_NOISE) || at(&self.scores.tone) >= beyond(self.tone).max(shadow)
    }

    /// A blob stands out when a core of it clears the textures by a clear margin: a texture's
    /// dark or coloured spots reach its floor here and there, never over much of a bean.
    fn stands_out(&self, region: &[(u32, u32)]) -> bool {
        let core = region.iter().filter(|&&(x, y)| self.bean_like(x, y, 1.0)).count();
        core as f32 >= CORE_SHARE * region.len() as f32
    }
}

/// Colour differences under this (of 255) are a camera's noise and JPEG's colour blocks.
const HUE_NOISE: f32 = 16.0;

/// Darkness (of 255) past which a pixel with the surface's colour is a bean, not a shadow.
const SHADOW_TONE: f32 = 100.0;

/// Share of a blob's pixels that must clear the floor by the margin.
const CORE_SHARE: f32 = 0.25;

/// Whether a blob is tried for touching beans: one larger than a typical bean that is not quite
/// convex (one bean fills its hull; two meeting at a neck leave gaps beside it).
fn may_hold_two(region: &[(u32, u32)], typical: f32) -> bool {
    region.len() as f32 > SPLIT_AREA_SHARE * typical && solidity(region) < SOLIDITY
}

/// Two beans touching where no lone bean beside them says what one bean is (a photo of two, or
/// of a few): a hollow blob is cut in two, kept only when both parts are sizeable and convex as
/// beans are. A ragged blob (a bean on wood grain) cuts into ragged parts and stays whole.
fn split_pair(region: &[(u32, u32)], min_depth: f32) -> Option<Vec<Vec<(u32, u32)>>> {
    if solidity(region) >= PAIR_SOLIDITY {
        return None;
    }
    let parts = split_touching(region, min_depth, region.len() as f32 / 2.0);
    let bean_like = |p: &Vec<(u32, u32)>| p.len() * 10 >= region.len() * 3 && solidity(p) >= SOLIDITY - 0.05;
    (parts.len() == 2 && parts.iter().all(bean_like)).then_some(parts)
}

/// Below this solidity a blob may be two beans whatever the photo's typical bean.
const PAIR_SOLIDITY: f32 = 0.88;

/// A blob's area over its convex hull's: about 1 for one bean, about 0.8 for two meeting.
fn solidity(region: &[(u32, u32)]) -> f32 {
    let points: Vec<Point<i32>> = region.iter().map(|&(x, y)| Point::new(x as i32, y as i32)).collect();
    let hull = convex_hull(points);
    if hull.len() < 3 {
        return 1.0;
    }
    let twice_area: i64 = (0..hull.len())
        .map(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
            i64::from(a.x) * i64::from(b.y) - i64::from(b.x) * i64::from(a.y)
        })
        .sum();
    // The hull runs through pixel centres: add half a pixel's rim around it.
    let perimeter: f32 = (0..hull.len())
        .map(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
            (((a.x - b.x).pow(2) + (a.y - b.y).pow(2)) as f32).sqrt()
        })
        .sum();
    let hull_area = twice_area.unsigned_abs() as f32 / 2.0 + perimeter / 2.0 + 1.0;
    (region.len() as f32 / hull_area).min(1.0)
}

/// Beans and clumps of beans are compact; a patch of a texture's streaks or speckle is not.
const MIN_SOLIDITY: f32 = 0.55;

/// Solidity at or above which a blob is one bean, whatever its size.
const SOLIDITY: f32 = 0.95;

/// How unlike the surface each pixel is, 0–255: in brightness (`tone`), in colour (`hue`), and
/// the larger of the two.
struct Scores {
    tone: GrayImage,
    hue: GrayImage,
    combined: GrayImage,
}

/// The cells the surface is measured on: squares of `cell` px, `gw × gh` of them over a
/// `w × h` photo; a value per cell is read back at any pixel by bilinear interpolation.
#[derive(Debug, Clone, Copy)]
struct CellGrid {
    cell: u32,
    gw: u32,
    gh: u32,
    w: u32,
    h: u32,
}

impl CellGrid {
    fn over(w: u32, h: u32) -> CellGrid {
        let cell = (w.min(h) / GRID_CELLS).max(4);
        CellGrid { cell, gw: w.div_ceil(cell), gh: h.div_ceil(cell), w, h }
    }

    /// The cells, row by row, each as the pixels it covers.
    fn cells(&self) -> impl Iterator<Item = impl Iterator<Item = (u32, u32)>> + '_ {
        (0..self.gh).flat_map(move |gy| {
            (0..self.gw).map(move |gx| {
                let xs = gx * self.cell..((gx + 1) * self.cell).min(self.w);
                (gy * self.cell..((gy + 1) * self.cell).min(self.h)).flat_map(move |y| xs.clone().map(move |x| (x, y)))
            })
        })
    }

    /// A per-cell value at pixel (x, y).
    fn at(&self, values: &[f32], x: u32, y: u32) -> f32 {
        let (gx, gy) = ((x as f32 + 0.5) / self.cell as f32 - 0.5, (y as f32 + 0.5) / self.cell as f32 - 0.5);
        bilinear(values, self.gw, self.gh, gx, gy)
    }
}

/// What the surface around the beans looks like, cell by cell: its brightness and colour, and
/// whether it is light (paper, a towel, a steel tray) or dark (a black card) under the beans.
struct Ground {
    grid: CellGrid,
    shade: Shade,
    lum: Vec<f32>,
    colour: Vec<[f32; 2]>,
}

fn lum(p: &image::Rgb<u8>) -> f32 {
    (f32::from(p[0]) + f32::from(p[1]) + f32::from(p[2])) / 3.0
}

/// Two opponent colour axes: red against green, yellow against blue.
fn opponent(p: &image::Rgb<u8>) -> [f32; 2] {
    let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
    [r - g, (r + g) / 2.0 - b]
}

/// How far a colour is from a surface's, in opponent units. On a coloured surface (wood) only
/// the part across the surface's own colour direction counts: its paler and deeper streaks lie
/// along that direction, a green bean does not. On a grey one, any difference counts.
fn colour_difference(p: [f32; 2], surface: [f32; 2]) -> f32 {
    let n = (surface[0] * surface[0] + surface[1] * surface[1]).sqrt();
    let plain = ((p[0] - surface[0]).powi(2) + (p[1] - surface[1]).powi(2)).sqrt();
    if n < COLOURED_SURFACE {
        return plain;
    }
    let across = (p[0] * surface[1] - p[1] * surface[0]).abs() / n;
    // Blend in from grey to coloured, so the score does not jump at the boundary.
    let w = ((n - COLOURED_SURFACE) / COLOURED_SURFACE).min(1.0);
    w * across + (1.0 - w) * plain
}

/// A surface's opponent colour of at least this length has a colour direction of its own.
const COLOURED_SURFACE: f32 = 12.0;

/// How bright the surface is, from the photo's median brightness: on a light one (paper, a
/// towel) beans are darker, on a dark one (a black card) brighter, on a mid one (a grey card,
/// steel, wood) either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shade {
    Light,
    Mid,
    Dark,
}

impl Shade {
    fn of(median: f32) -> Shade {
        if median < 90.0 {
            Shade::Dark
        } else if median < 165.0 {
            Shade::Mid
        } else {
            Shade::Light
        }
    }

    /// The quantile of a cell's (or a neighbourhood's) brightness that is surface: bright on a
    /// light surface even where beans cover most of it, dim on a dark one, the middle otherwise.
    fn surface_quantile(self, wide: bool) -> f32 {
        match (self, wide) {
            (Shade::Light, false) => 0.9,
            (Shade::Light, true) => 0.75,
            (Shade::Mid, _) => 0.5,
            (Shade::Dark, false) => 0.1,
            (Shade::Dark, true) => 0.25,
        }
    }

    /// How much a brightness is unlike the surface's `bl`, 0–1.
    fn tone(self, l: f32, bl: f32) -> f32 {
        let darker = (bl - l) / bl.max(1.0);
        let brighter = (l - bl) / (255.0 - bl).max(1.0);
        match self {
            Shade::Light => darker,
            Shade::Mid => darker.max(brighter),
            Shade::Dark => brighter,
        }
    }
}

fn quantile(sorted_len: usize, q: f32) -> usize {
    ((sorted_len as f32 * q) as usize).min(sorted_len - 1)
}

impl Ground {
    /// Per cell: the surface's brightness (90th percentile on a light surface, 10th on a dark one,
    /// the median on a mid one: the surface even where beans cover most of the cell) and the
    /// median colour of the half of its pixels around that brightness; then each cell from its
    /// neighbourhood ([`surface_cells`]).
    fn measure(image: &RgbImage) -> Ground {
        let grid = CellGrid::over(image.width(), image.height());
        let mut all: Vec<f32> = image.pixels().step_by(7).map(lum).collect();
        all.sort_by(f32::total_cmp);
        let shade = Shade::of(all[all.len() / 2]);
        let mut bg_lum = Vec::with_capacity((grid.gw * grid.gh) as usize);
        let mut bg_colour = Vec::with_capacity((grid.gw * grid.gh) as usize);
        for cell in grid.cells() {
            let mut px: Vec<(f32, [f32; 2])> = cell
                .map(|(x, y)| {
                    let p = image.get_pixel(x, y);
                    (lum(p), opponent(p))
                })
                .collect();
            px.sort_by(|a, b| a.0.total_cmp(&b.0));
            let at = quantile(px.len(), shade.surface_quantile(false));
            bg_lum.push(px[at].0);
            // The colour of the half of the pixels around the surface's brightness.
            let half = (px.len() / 2).max(1);
            let start = at.saturating_sub(half / 2).min(px.len() - half);
            let surface = &px[start..start + half];
            bg_colour.push([0, 1].map(|c| {
                let mut v: Vec<f32> = surface.iter().map(|p| p.1[c]).collect();
                v.sort_by(f32::total_cmp);
                v[v.len() / 2]
            }));
        }
        let (lum, colour) = surface_cells(&bg_lum, &bg_colour, grid.gw, grid.gh, shade);
        Ground { grid, shade, lum, colour }
    }

    /// How unlike the surface each pixel is, 0–255: darker than a light surface (brighter than a
    /// dark one) relative to its brightness, or another colour than the surface's (pale parchment
    /// beans are not dark; green beans on brown wood differ more in colour than in brightness).
    fn score(&self, image: &RgbImage) -> Scores {
        let (w, h) = image.dimensions();
        let a: Vec<f32> = self.colour.iter().map(|c| c[0]).collect();
        let b: Vec<f32> = self.colour.iter().map(|c| c[1]).collect();
        let mut tone = GrayImage::new(w, h);
        let mut hue = GrayImage::new(w, h);
        for (x, y, p) in image.enumerate_pixels() {
            let bl = self.grid.at(&self.lum, x, y);
            let t = self.shade.tone(lum(p), bl);
            let d = colour_difference(opponent(p), [self.grid.at(&a, x, y), self.grid.at(&b, x, y)]);
            tone.put_pixel(x, y, Luma([(t * 255.0).clamp(0.0, 255.0) as u8]));
            hue.put_pixel(x, y, Luma([(2.0 * d).clamp(0.0, 255.0) as u8]));
        }
        let combined = GrayImage::from_fn(w, h, |x, y| Luma([tone.get_pixel(x, y).0[0].max(hue.get_pixel(x, y).0[0])]));
        Scores { tone, hue, combined }
    }

    /// The surface's own texture, cell by cell: what its score reaches where it is bare.
    fn texture(&self, score: &GrayImage, combined: &GrayImage, surface_below: Option<f32>) -> Texture {
        let grid = self.grid;
        let mut floor = Vec::with_capacity((grid.gw * grid.gh) as usize);
        let mut spread = Vec::with_capacity((grid.gw * grid.gh) as usize);
        for cell in grid.cells() {
            let (mut v, mut all) = (Vec::new(), 0);
            for (x, y) in cell {
                all += 1;
                if surface_below.is_none_or(|t| f32::from(combined.get_pixel(x, y).0[0]) < t) {
                    v.push(score.get_pixel(x, y).0[0]);
                }
            }
            // A cell that is mostly bean says little of the surface: its neighbours speak.
            if v.len() * 4 < all {
                floor.push(f32::NAN);
                spread.push(f32::NAN);
                continue;
            }
            v.sort_unstable();
            let q = |f: usize| f32::from(v[(v.len() * f / 100).min(v.len() - 1)]);
            // Beans cover under half of the rest almost everywhere: its lower half is surface.
            let s = q(50) - q(10);
            spread.push(s);
            floor.push(q(50) + TEXTURE_SPREADS * s);
        }
        // Where beans crowd a cell its lower half is partly bean: no cell's texture counts for
        // more than twice the photo's typical cell.
        let cap = |cells: Vec<f32>| {
            let mut sorted: Vec<f32> = cells.iter().copied().filter(|v| !v.is_nan()).collect();
            sorted.sort_by(f32::total_cmp);
            let typical = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
            let filled: Vec<f32> = cells.iter().map(|&v| if v.is_nan() { typical } else { v }).collect();
            median3x3(&filled, grid.gw, grid.gh).into_iter().map(|v| v.min(2.0 * typical + 4.0)).collect::<Vec<_>>()
        };
        Texture { floor: cap(floor), spread: cap(spread), grid }
    }
}

/// A bean's pixels lie beyond the surface's median score by this many of its spreads.
const TEXTURE_SPREADS: f32 = 3.0;

/// The surface's texture as score levels, per cell (see [`Ground::texture`]).
struct Texture {
    floor: Vec<f32>,
    spread: Vec<f32>,
    grid: CellGrid,
}

impl Texture {
    /// The least score of a bean pixel here.
    fn floor_at(&self, x: u32, y: u32) -> f32 {
        self.grid.at(&self.floor, x, y)
    }

    /// How far a bean's core clears the floor here: a few texture spreads, at least a little.
    fn margin_at(&self, x: u32, y: u32) -> f32 {
        (2.0 * self.grid.at(&self.spread, x, y)).max(8.0)
    }
}

/// Each cell's surface from its 5×5 neighbourhood: the brightness a quarter of the cells reach
/// (the dimmest quarter on a dark surface), and the median colour of the cells near that
/// brightness. A bean that fills a few cells (a close-up, a large bean) then leaves the
/// surface around it as the reference, not its own inside.
fn surface_cells(lum: &[f32], colour: &[[f32; 2]], w: u32, h: u32, shade: Shade) -> (Vec<f32>, Vec<[f32; 2]>) {
    let (w, h) = (w as i64, h as i64);
    let mut out_lum = Vec::with_capacity(lum.len());
    let mut out_colour = Vec::with_capacity(lum.len());
    for y in 0..h {
        for x in 0..w {
            let cells: Vec<usize> = (-2..=2)
                .flat_map(|dy| (-2..=2).map(move |dx| (x + dx, y + dy)))
                .filter(|&(nx, ny)| (0..w).contains(&nx) && (0..h).contains(&ny))
                .map(|(nx, ny)| (ny * w + nx) as usize)
                .collect();
            let mut v: Vec<f32> = cells.iter().map(|&i| lum[i]).collect();
            v.sort_by(f32::total_cmp);
            let level = v[quantile(v.len(), shade.surface_quantile(true))];
            let near: Vec<usize> = cells.iter().copied().filter(|&i| (lum[i] - level).abs() <= 0.1 * level.max(20.0)).collect();
            out_lum.push(level);
            out_colour.push([0, 1].map(|c| {
                let mut v: Vec<f32> = near.iter().map(|&i| colour[i][c]).collect();
                v.sort_by(f32::total_cmp);
                v[v.len() / 2]
            }));
        }
    }
    (out_lum, out_colour)
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

/// The photo's typical bean area: the median area of the blobs that stood out, after dropping
/// specks of under 1/400 of the largest blob, so the median is over beans and clumps of beans.
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
    // A part far under a bean is a notch of one bean, not a bean of its own: its seed goes and
    // the others flood its pixels, until every part is bean-sized (or one is left).
    let mut seed_of: Vec<u32> = seeds.pixels().map(|l| l.0[0]).collect();
    loop {
        let owner = flood(&mask, &depth, &seed_of);
        let mut sizes = vec![0usize; n_seeds + 1];
        for &(x, y) in region {
            sizes[owner[((y - y0 + 1) * w + (x - x0 + 1)) as usize] as usize] += 1;
        }
        let live: Vec<usize> = (1..=n_seeds).filter(|&l| sizes[l] > 0).collect();
        if live.len() <= 1 {
            return vec![region.to_vec()];
        }
        let smallest = *live.iter().min_by_key(|&&l| sizes[l]).expect("two live parts");
        if sizes[smallest] as f32 >= MIN_PART_SHARE * typical {
            let mut parts = vec![Vec::new(); n_seeds + 1];
            for &(x, y) in region {
                parts[owner[((y - y0 + 1) * w + (x - x0 + 1)) as usize] as usize].push((x, y));
            }
            return parts.into_iter().skip(1).filter(|p| !p.is_empty()).collect();
        }
        seed_of.iter_mut().filter(|s| **s == smallest as u32).for_each(|s| *s = 0);
    }
}

/// Every mask pixel joins the seed it is reached from first when flooding from the deepest
/// pixels down (a watershed on the distance transform). Row-major labels, 0 where unreached.
fn flood(mask: &GrayImage, depth: &[f32], seed_of: &[u32]) -> Vec<u32> {
    let w = mask.width();
    let mut owner = seed_of.to_vec();
    // Max-heap on depth (in 1/16 px steps), then position for a stable order.
    let mut queue: BinaryHeap<(u32, Reverse<usize>)> =
        (0..owner.len()).filter(|&i| owner[i] > 0).map(|i| ((depth[i] * 16.0) as u32, Reverse(i))).collect();
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
    owner
}

/// The smallest part a split may leave, as a share of the typical bean.
const MIN_PART_SHARE: f32 = 0.35;

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
