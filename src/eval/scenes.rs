//! Scenes for measuring bean finding off white paper: real single-bean photos cut out along
//! their plain background and laid on real texture photos (a paper towel, cloth, wood, grey and
//! black cards, steel), under light that falls off as it does below a phone held above. Written
//! in the annotated-tray layout (`NAME.jpg` + `NAME.json` polygons), so `eval-trays` scores them
//! exactly as it scores the real trays.

use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage, imageops};
use imageproc::geometry::convex_hull;
use imageproc::point::Point;
use imageproc::region_labelling::{Connectivity, connected_components};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::preprocess;
use crate::train::data::Dataset;

/// Scenes are this size: a phone photo after the page's downscale keeps about this much.
pub const SCENE_SIZE: (u32, u32) = (1280, 960);

/// One bean cut out of a single-bean photo: its pixels and which of them are bean.
#[derive(Debug, Clone)]
pub struct CutOut {
    pub label: String,
    pub pixels: RgbImage,
    pub mask: GrayImage,
}

/// Cuts the bean out of a photo of one bean on a plain background (USK's white, the Thai set's
/// grey): pixels unlike the photo's border, the largest such blob with its holes filled.
/// `None` when no clear single blob stands out.
pub fn cut_out(photo: &RgbImage, label: &str) -> Option<CutOut> {
    let (w, h) = photo.dimensions();
    let border = border_colour(photo);
    let (border_lum, border_chroma) = (tone_of(border), chroma_of(border));
    // A bean is darker or more coloured than its backdrop; brighter is backdrop (lit unevenly).
    let unlike = GrayImage::from_fn(w, h, |x, y| {
        let p = photo.get_pixel(x, y).0.map(f32::from);
        let bean = border_lum - tone_of(p) > 28.0 || chroma_of(p) - border_chroma > 24.0;
        Luma([if bean { 255 } else { 0 }])
    });
    let labels = connected_components(&unlike, Connectivity::Eight, Luma([0u8]));
    let mut sizes = std::collections::HashMap::<u32, usize>::new();
    for l in labels.pixels().filter(|l| l.0[0] > 0) {
        *sizes.entry(l.0[0]).or_default() += 1;
    }
    let (&largest, &area) = sizes.iter().max_by_key(|(l, a)| (**a, std::cmp::Reverse(**l)))?;
    let share = area as f32 / (w * h) as f32;
    if !(0.02..0.6).contains(&share) {
        return None;
    }
    let blob = GrayImage::from_fn(w, h, |x, y| Luma([if labels.get_pixel(x, y).0[0] == largest { 255 } else { 0 }]));
    // Eroded: the photo's own background lingers in a rim around the bean.
    let mask = imageproc::morphology::erode(&fill_holes(&blob), imageproc::distance_transform::Norm::LInf, 3);
    let (x0, y0, x1, y1) = mask_box(&mask)?;
    if x0 == 0 || y0 == 0 || x1 + 1 == w || y1 + 1 == h {
        return None; // cut by the frame: not a whole bean
    }
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    Some(CutOut {
        label: label.to_string(),
        pixels: imageops::crop_imm(photo, x0, y0, cw, ch).to_image(),
        mask: imageops::crop_imm(&mask, x0, y0, cw, ch).to_image(),
    })
}

fn tone_of(p: [f32; 3]) -> f32 {
    (p[0] + p[1] + p[2]) / 3.0
}

fn chroma_of(p: [f32; 3]) -> f32 {
    p[0].max(p[1]).max(p[2]) - p[0].min(p[1]).min(p[2])
}

fn border_colour(photo: &RgbImage) -> [f32; 3] {
    let mut channels = [Vec::new(), Vec::new(), Vec::new()];
    for p in crate::preprocess::ring_pixels(photo, 4) {
        for c in 0..3 {
            channels[c].push(p[c]);
        }
    }
    channels.map(|mut v| {
        v.sort_unstable();
        f32::from(v[v.len() / 2])
    })
}

/// The mask with every hole (background not reachable from the frame) filled.
fn fill_holes(mask: &GrayImage) -> GrayImage {
    let (w, h) = mask.dimensions();
    let mut outside = vec![false; (w * h) as usize];
    let mut stack: Vec<(u32, u32)> =
        (0..w).flat_map(|x| [(x, 0), (x, h - 1)]).chain((0..h).flat_map(|y| [(0, y), (w - 1, y)])).collect();
    while let Some((x, y)) = stack.pop() {
        let i = (y * w + x) as usize;
        if outside[i] || mask.get_pixel(x, y).0[0] > 0 {
            continue;
        }
        outside[i] = true;
        if x > 0 {
            stack.push((x - 1, y));
        }
        if y > 0 {
            stack.push((x, y - 1));
        }
        if x + 1 < w {
            stack.push((x + 1, y));
        }
        if y + 1 < h {
            stack.push((x, y + 1));
        }
    }
    GrayImage::from_fn(w, h, |x, y| Luma([if outside[(y * w + x) as usize] { 0 } else { 255 }]))
}

fn mask_box(mask: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let on: Vec<(u32, u32)> = mask.enumerate_pixels().filter(|p| p.2.0[0] > 0).map(|p| (p.0, p.1)).collect();
    let x0 = on.iter().map(|p| p.0).min()?;
    let y0 = on.iter().map(|p| p.1).min()?;
    Some((x0, y0, on.iter().map(|p| p.0).max()?, on.iter().map(|p| p.1).max()?))
}

/// A surface people put beans on, made from a texture photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surface {
    pub name: &'static str,
    /// The texture photo under the backgrounds folder.
    pub file: &'static str,
    /// Grey textures are toned to this colour; `None` keeps the photo's own colours.
    pub colour: Option<[u8; 3]>,
    /// The toned texture's spread (standard deviation, grey levels).
    pub spread: f32,
    /// Texture pixels per scene pixel along x and y (a stretch draws streaks).
    pub zoom: (f32, f32),
}

/// The surfaces the scenes use: what a grader is likely to put beans on.
pub const SURFACES: [Surface; 8] = [
    // Embossed paper towel: pebble-like cells, a few grey levels deep, on white.
    Surface { name: "paper-towel", file: "gravel.jpg", colour: Some([228, 228, 224]), spread: 9.0, zoom: (0.6, 0.6) },
    Surface { name: "white-paper", file: "grass.jpg", colour: Some([232, 231, 226]), spread: 2.5, zoom: (1.0, 1.0) },
    Surface { name: "cloth", file: "grass.jpg", colour: Some([176, 184, 200]), spread: 12.0, zoom: (0.5, 0.5) },
    Surface { name: "grey-card", file: "gravel.jpg", colour: Some([128, 128, 126]), spread: 3.0, zoom: (1.0, 1.0) },
    Surface { name: "black-card", file: "gravel.jpg", colour: Some([34, 34, 36]), spread: 3.0, zoom: (1.0, 1.0) },
    Surface { name: "steel", file: "grass.jpg", colour: Some([168, 170, 172]), spread: 8.0, zoom: (0.25, 2.0) },
    Surface { name: "wood-light", file: "wood-light.jpg", colour: None, spread: 0.0, zoom: (0.3, 0.3) },
    Surface { name: "wood-dark", file: "wood-dark.jpg", colour: None, spread: 0.0, zoom: (0.3, 0.3) },
];

/// The named surface.
pub fn surface(name: &str) -> Result<Surface> {
    SURFACES.iter().copied().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = SURFACES.iter().map(|s| s.name).collect();
        Error::Bundle(format!("unknown surface {name:?} (one of: {})", names.join(", ")))
    })
}

/// The surface at scene size: its texture photo mirrored into tiles, zoomed and toned.
pub fn background(surface: &Surface, backgrounds: &Path, size: (u32, u32)) -> Result<RgbImage> {
    let path = backgrounds.join(surface.file);
    let bytes = std::fs::read(&path).map_err(|e| Error::Bundle(format!("cannot read {}: {e}", path.display())))?;
    let texture = preprocess::decode(&bytes)?;
    let (tw, th) = texture.dimensions();
    let tile = |v: f32, n: u32| {
        let period = 2 * n;
        let i = (v.max(0.0) as u32) % period;
        if i < n { i } else { period - 1 - i }
    };
    let mut out = RgbImage::from_fn(size.0, size.1, |x, y| {
        *texture.get_pixel(tile(x as f32 * surface.zoom.0, tw), tile(y as f32 * surface.zoom.1, th))
    });
    if let Some(colour) = surface.colour {
        tone(&mut out, colour, surface.spread);
    }
    Ok(out)
}

/// Grey texture → the given colour with the given spread.
fn tone(image: &mut RgbImage, colour: [u8; 3], spread: f32) {
    let grey: Vec<f32> = image.pixels().map(|p| f32::from(p[1])).collect();
    let mean = grey.iter().sum::<f32>() / grey.len() as f32;
    let sd = (grey.iter().map(|g| (g - mean).powi(2)).sum::<f32>() / grey.len() as f32).sqrt().max(1e-3);
    for (p, g) in image.pixels_mut().zip(grey) {
        let z = (g - mean) / sd;
        *p = Rgb(colour.map(|c| (f32::from(c) + spread * z).round().clamp(0.0, 255.0) as u8));
    }
}

/// One bean laid on a scene: its label and outline (the annotation `eval-trays` reads).
#[derive(Debug, Clone, Serialize)]
pub struct Placed {
    pub label: String,
    pub points: Vec<[f32; 2]>,
}

/// How a scene is laid out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub beans: usize,
    /// Bean long side as a share of the scene's short side.
    pub bean_share: (f32, f32),
    /// Lay the second bean against the first (touching), as beans poured out often lie.
    pub touching: bool,
}

/// Lays the beans on the background, each with a soft shadow, then darkens the scene as a phone
/// held above shades it (light falling off across the photo and the phone's own shadow) and adds
/// sensor noise. Returns the scene and where each bean went.
pub fn compose(background: &RgbImage, cut_outs: &[CutOut], layout: Layout, rng: &mut StdRng) -> (RgbImage, Vec<Placed>) {
    let mut scene = background.clone();
    let (w, h) = scene.dimensions();
    let short = w.min(h) as f32;
    let mut boxes: Vec<[i64; 4]> = Vec::new();
    let mut placed = Vec::new();
    for i in 0..layout.beans {
        let bean = &cut_outs[rng.gen_range(0..cut_outs.len())];
        let long = short * rng.gen_range(layout.bean_share.0..=layout.bean_share.1);
        let bean = turned(bean, rng.gen_range(0..8), long);
        let (bw, bh) = bean.mask.dimensions();
        let spot =
            if layout.touching && i == 1 { beside(boxes[0], bw, bh, w, h, rng) } else { free_spot(&boxes, bw, bh, w, h, rng) };
        let Some((x, y)) = spot else { continue };
        shadow(&mut scene, &bean.mask, x, y, (bw.max(bh) / 14).max(2));
        paste(&mut scene, &bean, x, y);
        boxes.push([x, y, x + i64::from(bw), y + i64::from(bh)]);
        placed.push(Placed { label: bean.label.clone(), points: outline(&bean.mask, x, y) });
    }
    light_falloff(&mut scene, rng);
    sensor_noise(&mut scene, 2.0, rng);
    (scene, placed)
}

/// The cut-out scaled so its long side is `long` px, turned and flipped (`turn` 0–7).
fn turned(bean: &CutOut, turn: u8, long: f32) -> CutOut {
    let (w, h) = bean.mask.dimensions();
    let s = long / w.max(h) as f32;
    let (nw, nh) = (((w as f32 * s).round() as u32).max(4), ((h as f32 * s).round() as u32).max(4));
    let mut pixels = imageops::resize(&bean.pixels, nw, nh, imageops::FilterType::Triangle);
    let mut mask = imageops::resize(&bean.mask, nw, nh, imageops::FilterType::Triangle);
    if turn & 1 == 1 {
        pixels = imageops::flip_horizontal(&pixels);
        mask = imageops::flip_horizontal(&mask);
    }
    for _ in 0..(turn >> 1) {
        pixels = imageops::rotate90(&pixels);
        mask = imageops::rotate90(&mask);
    }
    CutOut { label: bean.label.clone(), pixels, mask }
}

/// A place for a `bw × bh` bean clear of the others by a margin, if one is found.
fn free_spot(boxes: &[[i64; 4]], bw: u32, bh: u32, w: u32, h: u32, rng: &mut StdRng) -> Option<(i64, i64)> {
    let margin = i64::from(bw.max(bh) / 4);
    let edge = i64::from(w.min(h) / 20);
    for _ in 0..200 {
        let x = rng.gen_range(edge..(i64::from(w) - i64::from(bw) - edge).max(edge + 1));
        let y = rng.gen_range(edge..(i64::from(h) - i64::from(bh) - edge).max(edge + 1));
        let clear = boxes.iter().all(|b| {
            x + i64::from(bw) + margin <= b[0] || b[2] + margin <= x || y + i64::from(bh) + margin <= b[1] || b[3] + margin <= y
        });
        if clear {
            return Some((x, y));
        }
    }
    None
}

/// A place against the right or bottom side of `first`, overlapping its box a little so the two
/// beans touch.
fn beside(first: [i64; 4], bw: u32, bh: u32, w: u32, h: u32, rng: &mut StdRng) -> Option<(i64, i64)> {
    let (fw, fh) = (first[2] - first[0], first[3] - first[1]);
    let (x, y) = if rng.gen_bool(0.5) {
        (first[2] - fw / 10, first[1] + (fh - i64::from(bh)) / 2)
    } else {
        (first[0] + (fw - i64::from(bw)) / 2, first[3] - fh / 10)
    };
    let fits = x >= 0 && y >= 0 && x + i64::from(bw) <= i64::from(w) && y + i64::from(bh) <= i64::from(h);
    fits.then_some((x, y))
}

/// Darkens the surface under and beside the bean: light from above-left casts it down-right.
fn shadow(scene: &mut RgbImage, mask: &GrayImage, x: i64, y: i64, offset: u32) {
    let soft = imageops::blur(mask, offset as f32);
    for (mx, my, m) in soft.enumerate_pixels() {
        let (sx, sy) = (x + i64::from(mx + offset), y + i64::from(my + offset));
        if sx < 0 || sy < 0 || sx >= i64::from(scene.width()) || sy >= i64::from(scene.height()) {
            continue;
        }
        let k = 1.0 - 0.25 * f32::from(m.0[0]) / 255.0;
        let p = scene.get_pixel_mut(sx as u32, sy as u32);
        *p = Rgb(p.0.map(|c| (f32::from(c) * k) as u8));
    }
}

fn paste(scene: &mut RgbImage, bean: &CutOut, x: i64, y: i64) {
    for (mx, my, m) in bean.mask.enumerate_pixels() {
        let a = f32::from(m.0[0]) / 255.0;
        if a <= 0.0 {
            continue;
        }
        let (sx, sy) = ((x + i64::from(mx)) as u32, (y + i64::from(my)) as u32);
        let b = bean.pixels.get_pixel(mx, my);
        let p = scene.get_pixel_mut(sx, sy);
        *p = Rgb(std::array::from_fn(|c| (f32::from(b[c]) * a + f32::from(p[c]) * (1.0 - a)).round() as u8));
    }
}

/// The bean's convex outline in scene pixels (over its mask's solid part).
fn outline(mask: &GrayImage, x: i64, y: i64) -> Vec<[f32; 2]> {
    let points: Vec<Point<i32>> = mask
        .enumerate_pixels()
        .filter(|p| p.2.0[0] >= 128)
        .map(|p| Point::new(p.0 as i32 + x as i32, p.1 as i32 + y as i32))
        .collect();
    convex_hull(points).iter().map(|p| [p.x as f32, p.y as f32]).collect()
}

/// Light falling off across the photo (up to 25 %) and a phone's soft shadow over part of it.
fn light_falloff(scene: &mut RgbImage, rng: &mut StdRng) {
    let (w, h) = scene.dimensions();
    let (gx, gy) = (rng.gen_range(-0.15f32..0.15), rng.gen_range(-0.15f32..0.15));
    let (cx, cy) = (rng.gen_range(0.0..w as f32), rng.gen_range(0.0..h as f32));
    let radius = 0.35 * w.min(h) as f32;
    let depth = rng.gen_range(0.0f32..0.25);
    for (x, y, p) in scene.enumerate_pixels_mut() {
        let (u, v) = (x as f32 / w as f32 - 0.5, y as f32 / h as f32 - 0.5);
        let r = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt() / radius;
        let phone = depth * (1.0 - ((r - 0.8) / 0.4).clamp(0.0, 1.0));
        let k = (0.9 + gx * u + gy * v) * (1.0 - phone);
        *p = Rgb(p.0.map(|c| (f32::from(c) * k).clamp(0.0, 255.0) as u8));
    }
}

fn sensor_noise(scene: &mut RgbImage, sd: f32, rng: &mut StdRng) {
    for p in scene.pixels_mut() {
        // Sum of uniforms: near-normal noise without another dependency.
        let n = (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>() * sd * 0.866;
        *p = Rgb(p.0.map(|c| (f32::from(c) + n).round().clamp(0.0, 255.0) as u8));
    }
}

/// Cut-outs of up to `limit` photos (spread evenly) of a single-bean data set: a folder with
/// `manifest.csv` or of class folders, read as training reads it. Photos with no clear single
/// bean, or that do not decode, are skipped.
pub fn load_cut_outs(dir: &Path, limit: usize) -> Result<Vec<CutOut>> {
    let dataset = Dataset::open(dir).map_err(|e| Error::Bundle(format!("{e:#}")))?;
    let step = (dataset.samples.len() / limit.max(1)).max(1);
    let mut cut_outs = Vec::new();
    for sample in dataset.samples.iter().step_by(step) {
        let Some(photo) = std::fs::read(&sample.path).ok().and_then(|b| preprocess::decode(&b).ok()) else {
            continue;
        };
        if let Some(c) = cut_out(&photo, &dataset.class_names[usize::from(sample.label)]) {
            cut_outs.push(c);
        }
    }
    if cut_outs.is_empty() {
        return Err(Error::Bundle(format!("no single-bean photo under {} could be cut out", dir.display())));
    }
    Ok(cut_outs)
}

/// Writes `photos` scenes per surface into `out` (`SURFACE/SURFACE-NNN.jpg` + `.json`), 1–6
/// beans each (a touching pair in every third), beans spanning 9–14 % of the short side as in a
/// phone photo of a handful of beans. The same seed gives the same scenes.
pub fn write_scenes(
    cut_outs: &[CutOut],
    surfaces: &[Surface],
    backgrounds: &Path,
    out: &Path,
    photos: usize,
    seed: u64,
) -> Result<usize> {
    let mut written = 0;
    for (s, surface) in surfaces.iter().enumerate() {
        let ground = background(surface, backgrounds, SCENE_SIZE)?;
        let dir = out.join(surface.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Bundle(format!("cannot create {}: {e}", dir.display())))?;
        let mut rng = StdRng::seed_from_u64(seed ^ ((s as u64 + 1) << 32));
        for i in 0..photos {
            let beans = rng.gen_range(1..=6);
            let layout = Layout { beans, bean_share: (0.09, 0.14), touching: beans >= 2 && i % 3 == 0 };
            let (scene, placed) = compose(&ground, cut_outs, layout, &mut rng);
            let stem = dir.join(format!("{}-{i:03}", surface.name));
            save_jpeg(&scene, &stem.with_extension("jpg"))?;
            let json = serde_json::to_string(&placed).map_err(|e| Error::Bundle(e.to_string()))?;
            std::fs::write(stem.with_extension("json"), json).map_err(|e| Error::Bundle(format!("cannot write: {e}")))?;
            written += 1;
        }
    }
    Ok(written)
}

fn save_jpeg(image: &RgbImage, path: &Path) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::Bundle(format!("cannot write {}: {e}", path.display())))?;
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 88);
    encoder.encode_image(image).map_err(|e| Error::Bundle(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bean_on(ground: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(64, 48, |x, y| {
            let inside = ((x as f32 - 32.0) / 20.0).powi(2) + ((y as f32 - 24.0) / 12.0).powi(2) < 1.0;
            Rgb(if inside { [110, 120, 80] } else { ground })
        })
    }

    #[test]
    fn cut_out_takes_the_bean_and_fills_its_holes() {
        let mut photo = bean_on([240, 240, 238]);
        photo.put_pixel(32, 24, Rgb([240, 240, 238])); // a glint inside the bean
        let c = cut_out(&photo, "Normal").expect("a bean");
        // The ellipse spans 39 × 23 px; its 3 px rim is left behind.
        assert_eq!(c.mask.dimensions(), (33, 17));
        assert_eq!(c.mask.get_pixel(32 - 16, 24 - 16).0[0], 255, "the glint is bean");
    }

    #[test]
    fn cut_out_refuses_a_plain_photo_and_a_bean_cut_by_the_frame() {
        assert!(cut_out(&RgbImage::from_pixel(40, 40, Rgb([200, 200, 200])), "x").is_none());
        let cut = RgbImage::from_fn(64, 48, |x, _| Rgb(if x < 20 { [90, 90, 60] } else { [240, 240, 240] }));
        assert!(cut_out(&cut, "x").is_none());
    }

    #[test]
    fn compose_places_every_bean_inside_the_scene() {
        let ground = RgbImage::from_pixel(400, 300, Rgb([230, 230, 230]));
        let bean = cut_out(&bean_on([240, 240, 238]), "Normal").unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let (scene, placed) = compose(&ground, &[bean], Layout { beans: 5, bean_share: (0.1, 0.15), touching: true }, &mut rng);
        assert_eq!(scene.dimensions(), (400, 300));
        assert_eq!(placed.len(), 5);
        for p in &placed {
            assert!(p.points.len() >= 3);
            assert!(p.points.iter().all(|q| (0.0..400.0).contains(&q[0]) && (0.0..300.0).contains(&q[1])));
        }
    }
}
