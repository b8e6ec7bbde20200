//! Report figures as PNG: loss curves, the confusion matrix and autoencoder reconstructions.
//! Text needs a TrueType font; the system's DejaVu/Liberation fonts are used when present, and
//! without one a figure is skipped with a warning (figures never fail a training run).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use image::{Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use crate::preprocess::PreprocessParams;

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

/// Registers the first system font found as "sans-serif"; false if there is none.
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        FONT_PATHS.iter().any(|p| {
            std::fs::read(p).ok().is_some_and(|bytes| {
                // plotters keeps fonts for the life of the process.
                register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice())).is_ok()
            })
        })
    })
}

/// Draws into an RGB buffer with plotters and saves it with the `image` crate.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    if !font_ready() {
        bail!("no TrueType font found (looked in {}); install fonts-dejavu-core", FONT_PATHS.join(", "));
    }
    let mut buffer = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        draw(root.clone())?;
        root.present().map_err(|e| anyhow!("drawing: {e}"))?;
    }
    let image = RgbImage::from_raw(size.0, size.1, buffer).expect("buffer matches size");
    save(&image, path)
}

fn save(image: &RgbImage, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    image.save(path).with_context(|| format!("writing {}", path.display()))
}

/// Runs a figure, turning failure into one warning line.
pub fn best_effort(what: &str, result: Result<()>) {
    if let Err(e) = result {
        eprintln!("warning: {what} not written: {e:#}");
    }
}

/// One or more curves over training steps (each smoothed over a short moving window so the
/// trend is visible through per-batch noise).
pub fn curves(path: &Path, title: &str, y_label: &str, series: &[(&str, &[f32])]) -> Result<()> {
    let smoothed: Vec<(&str, Vec<(f32, f32)>)> = series.iter().map(|(name, v)| (*name, smooth(v))).collect();
    let steps = series.iter().map(|(_, v)| v.len()).max().unwrap_or(1).max(2) as f32;
    let (lo, hi) = smoothed
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo <= hi { (lo.min(0.0), hi * 1.05 + 1e-6) } else { (0.0, 1.0) };
    render(path, (800, 480), |root| {
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f32..steps, lo..hi)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(y_label)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (i, (name, pts)) in smoothed.into_iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
        }
        Ok(())
    })
}

fn smooth(values: &[f32]) -> Vec<(f32, f32)> {
    let window = (values.len() / 50).clamp(1, 50);
    let mut sum = 0.0;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            sum += v;
            if i >= window {
                sum -= values[i - window];
            }
            (i as f32, sum / (i + 1).min(window) as f32)
        })
        .collect()
}

/// Confusion matrix with rows = true class, columns = predicted class; cells are shaded by the
/// share of their row, so rare classes read as clearly as common ones.
pub fn confusion(path: &Path, title: &str, classes: &[String], matrix: &[Vec<usize>]) -> Result<()> {
    let n = classes.len();
    let cell = 44u32;
    let left = 150u32;
    let top = 60u32;
    let size = (left + cell * n as u32 + 20, top + cell * n as u32 + 140);
    render(path, size, |root| {
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let text = |s: &str, x: i32, y: i32, px: u32, pos: Pos| {
            root.draw(&Text::new(s.to_string(), (x, y), ("sans-serif", px).into_font().color(&BLACK).pos(pos)))
                .map_err(|e| anyhow!("{e}"))
        };
        text(title, 10, 10, 18, Pos::new(HPos::Left, VPos::Top))?;
        for (r, row) in matrix.iter().enumerate().take(n) {
            let total = row.iter().sum::<usize>().max(1) as f64;
            let y = (top + cell * r as u32) as i32;
            text(&classes[r], left as i32 - 6, y + cell as i32 / 2, 13, Pos::new(HPos::Right, VPos::Center))?;
            for (c, &count) in row.iter().enumerate().take(n) {
                let x = (left + cell * c as u32) as i32;
                let share = count as f64 / total;
                let shade = RGBColor((255.0 * (1.0 - share)) as u8, (255.0 * (1.0 - 0.6 * share)) as u8, 255);
                root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], shade.filled()))
                    .map_err(|e| anyhow!("{e}"))?;
                root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], BLACK.mix(0.2)))
                    .map_err(|e| anyhow!("{e}"))?;
                if count > 0 {
                    text(&count.to_string(), x + cell as i32 / 2, y + cell as i32 / 2, 13, Pos::new(HPos::Center, VPos::Center))?;
                }
            }
        }
        let bottom = (top + cell * n as u32) as i32;
        for (c, name) in classes.iter().enumerate() {
            let x = (left + cell * c as u32 + cell / 2) as i32;
            let style = ("sans-serif", 13)
                .into_font()
                .transform(FontTransform::Rotate270)
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(name.clone(), (x, bottom + 6), style)).map_err(|e| anyhow!("{e}"))?;
        }
        text("rows: true class, columns: predicted", left as i32, size.1 as i32 - 16, 13, Pos::new(HPos::Left, VPos::Center))?;
        Ok(())
    })
}

/// Inputs on the top row, their reconstructions below (no text, so no font is needed).
pub fn image_pairs(path: &Path, top: &[RgbImage], bottom: &[RgbImage]) -> Result<()> {
    let side = top.first().map_or(0, RgbImage::width);
    let n = top.len().min(bottom.len()) as u32;
    let gap = 4;
    let mut sheet = RgbImage::from_pixel(n * (side + gap) + gap, 2 * side + 3 * gap, Rgb([255, 255, 255]));
    for (i, (a, b)) in top.iter().zip(bottom).enumerate() {
        let x = gap + i as u32 * (side + gap);
        image::imageops::replace(&mut sheet, a, x.into(), gap.into());
        image::imageops::replace(&mut sheet, b, x.into(), (2 * gap + side).into());
    }
    save(&sheet, path)
}

/// Planar CHW model input/output → RGB image (values clamped to the displayable range).
pub fn denormalise(chw: &[f32], params: &PreprocessParams) -> RgbImage {
    let side = params.input_size;
    let plane = (side * side) as usize;
    RgbImage::from_fn(side, side, |x, y| {
        let i = (y * side + x) as usize;
        Rgb(std::array::from_fn(|c| {
            ((chw[c * plane + i] * params.std[c] + params.mean[c]) * 255.0).round().clamp(0.0, 255.0) as u8
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denormalise_inverts_normalise() {
        let params = PreprocessParams::new(16);
        let image = RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 15) as u8, (y * 15) as u8, 128]));
        assert_eq!(denormalise(&crate::preprocess::normalise(&image, &params), &params), image);
    }

    #[test]
    fn smoothing_keeps_length_and_level() {
        let v = vec![2.0f32; 500];
        let s = smooth(&v);
        assert_eq!(s.len(), 500);
        assert!(s.iter().all(|p| (p.1 - 2.0).abs() < 1e-5));
    }
}
