//! A bean's traits: its colour against the background it lies on, and its size in the photo.
//! The net sees each bean in a square cropped around it and resized, so how large the bean is,
//! and its colour against the paper the camera saw, reach it only through a crop it was never
//! asked to measure. The defect head may weigh them beside the embedding, where the grader's
//! own beans show they help (`docs/results.md`, "Colour and size beside the embedding").

use image::RgbImage;

/// Values per bean: lightness, red-green and yellow-blue, five figures each, then size and shape.
pub const TRAITS: usize = 17;

/// A pixel belongs to the bean this far (RGB in 0..1) from the background's colour.
const BEAN_FROM_BACKGROUND: f32 = 0.12;
/// Fewer bean pixels than this share of the square: the bean is the colour of its background,
/// and its farthest third is taken instead.
const FEWEST_BEAN_PIXELS: f32 = 0.003;
/// Brightest a pixel counts against its background: a highlight is not a whiter bean.
const BRIGHTEST: f32 = 1.5;

/// The traits of the bean in `square` (the model's crop of it), which spans `side_share` of the
/// photo's shorter side. The background is the median colour of the square's outer sixteenth;
/// each bean pixel is divided by it (the background as the white reference). Of lightness
/// `(r+g+b)/3`, red-green `r-g` and yellow-blue `(r+g)/2-b`: mean, sd, 10th, 50th and 90th
/// percentile; then the bean's size, the square root of its area over the photo's shorter side
/// squared, and the ratio of its short to its long axis.
pub fn bean_traits(square: &RgbImage, side_share: f32) -> [f32; TRAITS] {
    let background = ring_median(square);
    let pixels: Vec<([f32; 3], (f32, f32))> =
        square.enumerate_pixels().map(|(x, y, p)| (p.0.map(|v| f32::from(v) / 255.0), (x as f32, y as f32))).collect();
    let far: Vec<f32> = pixels.iter().map(|(p, _)| distance(p, &background)).collect();
    let mut bound = BEAN_FROM_BACKGROUND;
    if (far.iter().filter(|&&d| d > bound).count() as f32) < FEWEST_BEAN_PIXELS * far.len() as f32 {
        bound = percentile(&mut far.clone(), 67.0);
    }
    let bean: Vec<&([f32; 3], (f32, f32))> = pixels.iter().zip(&far).filter(|&(_, &d)| d > bound).map(|(p, _)| p).collect();
    if bean.len() < 2 {
        return [0.0; TRAITS];
    }
    let white = background.map(|v| v.max(1.0 / 255.0));
    let mut channels = [Vec::new(), Vec::new(), Vec::new()];
    for (p, _) in &bean {
        let [r, g, b] = [0, 1, 2].map(|c| (p[c] / white[c]).clamp(0.0, BRIGHTEST));
        channels[0].push((r + g + b) / 3.0);
        channels[1].push(r - g);
        channels[2].push((r + g) / 2.0 - b);
    }
    let mut out = [0.0; TRAITS];
    for (c, values) in channels.iter_mut().enumerate() {
        let (mean, sd) = mean_sd(values);
        out[c * 5..c * 5 + 5].copy_from_slice(&[
            mean,
            sd,
            percentile(values, 10.0),
            percentile(values, 50.0),
            percentile(values, 90.0),
        ]);
    }
    // The square's side is the bean's long side plus a margin: its area tells size better.
    out[15] = side_share * (bean.len() as f32 / pixels.len() as f32).sqrt();
    out[16] = elongation(bean.iter().map(|(_, at)| *at));
    out
}

/// Euclidean distance between two RGB colours in 0..1.
pub(crate) fn distance(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

/// Per-channel median of the square's outer sixteenth (8 pixels of 128), in 0..1.
fn ring_median(square: &RgbImage) -> [f32; 3] {
    let (w, h) = square.dimensions();
    let mut channels = [Vec::new(), Vec::new(), Vec::new()];
    for p in crate::preprocess::ring_pixels(square, (w.min(h) / 16).max(1)) {
        for c in 0..3 {
            channels[c].push(f32::from(p[c]) / 255.0);
        }
    }
    [0, 1, 2].map(|c| percentile(&mut channels[c], 50.0))
}

/// The `q`th percentile, interpolated between the two nearest ranks (NumPy's default). Sorts.
pub(crate) fn percentile(values: &mut [f32], q: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    let at = q / 100.0 * (values.len() - 1) as f32;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    values[low] + (values[high] - values[low]) * (at - low as f32)
}

/// Mean and (population) standard deviation.
fn mean_sd(values: &[f32]) -> (f32, f32) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32)
}

/// The square root of the ratio of the smaller to the larger eigenvalue of the points' covariance:
/// 1 for a round bean, towards 0 for a long one.
fn elongation(points: impl Iterator<Item = (f32, f32)>) -> f32 {
    let points: Vec<(f64, f64)> = points.map(|(x, y)| (f64::from(x), f64::from(y))).collect();
    let n = points.len() as f64;
    let (mx, my) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for (x, y) in &points {
        xx += (x - mx) * (x - mx) / n;
        yy += (y - my) * (y - my) / n;
        xy += (x - mx) * (y - my) / n;
    }
    let half_trace = (xx + yy) / 2.0;
    let spread = (((xx - yy) / 2.0).powi(2) + xy * xy).sqrt();
    let (small, large) = (half_trace - spread, half_trace + spread);
    if large <= 0.0 { 1.0 } else { (small.max(0.0) / large).sqrt() as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`×`h` ellipse of `bean` colour centred on a 128-pixel square of `paper`.
    fn bean_on(paper: [u8; 3], bean: [u8; 3], w: f32, h: f32) -> RgbImage {
        RgbImage::from_fn(128, 128, |x, y| {
            let (dx, dy) = ((x as f32 - 63.5) / (w / 2.0), (y as f32 - 63.5) / (h / 2.0));
            image::Rgb(if dx * dx + dy * dy <= 1.0 { bean } else { paper })
        })
    }

    #[test]
    fn colour_is_read_against_the_paper() {
        // The same bean under a warm light: bean and paper both shifted towards red.
        let neutral = bean_traits(&bean_on([230, 230, 230], [150, 140, 90], 80.0, 50.0), 0.4);
        let warm = bean_traits(&bean_on([250, 220, 200], [163, 134, 78], 80.0, 50.0), 0.4);
        for i in [0, 5, 10] {
            assert!((neutral[i] - warm[i]).abs() < 0.02, "trait {i}: {} against {}", neutral[i], warm[i]);
        }
        // Lightness 150+140+90 over 3×230, red-green (150-140)/230; a flat bean has no spread.
        assert!((neutral[0] - 380.0 / 690.0).abs() < 1e-3, "{}", neutral[0]);
        assert!((neutral[5] - 10.0 / 230.0).abs() < 1e-3, "{}", neutral[5]);
        assert!(neutral[1].abs() < 1e-4 && neutral[2] == neutral[4]);
    }

    #[test]
    fn size_and_shape() {
        let long = bean_traits(&bean_on([230; 3], [150, 140, 90], 100.0, 50.0), 0.25);
        let round = bean_traits(&bean_on([230; 3], [150, 140, 90], 70.0, 70.0), 0.25);
        // A 100×50 ellipse fills π/4 × 5000 of 128² pixels.
        let size = 0.25 * (std::f32::consts::FRAC_PI_4 * 5000.0 / 16384.0).sqrt();
        assert!((long[15] - size).abs() < 0.005, "{} against {size}", long[15]);
        assert!((long[16] - 0.5).abs() < 0.02, "{}", long[16]);
        assert!((round[16] - 1.0).abs() < 0.02, "{}", round[16]);
    }

    #[test]
    fn a_bean_the_colour_of_its_paper_still_gets_traits() {
        let faint = bean_traits(&bean_on([200; 3], [205, 200, 195], 80.0, 50.0), 0.4);
        assert!(faint.iter().all(|v| v.is_finite()));
        assert!(bean_traits(&RgbImage::from_pixel(128, 128, image::Rgb([90; 3])), 0.4).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn percentiles_interpolate_as_numpy_does() {
        let mut v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut v, 50.0), 2.5);
        assert!((percentile(&mut v, 10.0) - 1.3).abs() < 1e-6);
        assert!((percentile(&mut v, 90.0) - 3.7).abs() < 1e-6);
    }
}
