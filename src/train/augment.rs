//! Training-only augmentation: the eight flips/90° rotations of the square photo and a small
//! brightness/colour jitter. Beans have no canonical orientation, so all eight are valid views.

use image::RgbImage;
use image::imageops::{flip_horizontal, rotate90, rotate180, rotate270};
use rand::Rng;

use crate::preprocess::{PreprocessParams, normalise};

/// One of the eight symmetries of the square (0 = identity).
pub fn dihedral(image: &RgbImage, which: u8) -> RgbImage {
    let flipped;
    let base = if which >= 4 {
        flipped = flip_horizontal(image);
        &flipped
    } else {
        image
    };
    match which % 4 {
        0 => base.clone(),
        1 => rotate90(base),
        2 => rotate180(base),
        _ => rotate270(base),
    }
}

/// The image shrunk to `side` pixels and enlarged back: a bean cut from a tray photo, where it
/// is 25–40 px across, looks like this after the enlargement to the model input.
pub fn low_res(image: &RgbImage, side: u32) -> RgbImage {
    use image::imageops::{FilterType, resize};
    let small = resize(image, side, side, FilterType::Triangle);
    resize(&small, image.width(), image.height(), FilterType::Triangle)
}

/// The photo as another camera might have taken it: white balance, exposure, gamma, saturation,
/// focus, sensor noise and JPEG quality drawn at random (ranges a phone's automatic settings
/// cover), so that the encoder learns beans, not one camera's colours.
pub fn camera_jitter(image: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let gains = [rng.gen_range(0.8f32..1.25), 1.0, rng.gen_range(0.8f32..1.25)];
    let exposure = rng.gen_range(0.7f32..1.3);
    let gamma = rng.gen_range(0.75f32..1.33);
    let saturation = rng.gen_range(0.6f32..1.4);
    let noise = rng.gen_range(0.0f32..6.0);
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        let rgb: [f32; 3] = std::array::from_fn(|c| {
            let v = f32::from(pixel[c]) / 255.0 * gains[c] * exposure;
            v.clamp(0.0, 1.0).powf(gamma)
        });
        let luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
        for c in 0..3 {
            let v = luma + (rgb[c] - luma) * saturation;
            // Sum of uniforms: a cheap, roughly Gaussian sensor noise.
            let n = (rng.gen_range(-1.0f32..1.0) + rng.gen_range(-1.0f32..1.0)) * noise;
            pixel[c] = (v * 255.0 + n).round().clamp(0.0, 255.0) as u8;
        }
    }
    if rng.gen_bool(0.3) {
        out = image::imageops::blur(&out, rng.gen_range(0.4f32..1.2));
    }
    if rng.gen_bool(0.4) {
        let mut bytes = Vec::new();
        let quality = rng.gen_range(35u8..85);
        if image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(&out).is_ok()
            && let Ok(decoded) = image::load_from_memory(&bytes)
        {
            out = decoded.to_rgb8();
        }
    }
    out
}

/// A random view of the image as a normalised model input.
pub fn random_view(image: &RgbImage, params: &PreprocessParams, rng: &mut impl Rng) -> Vec<f32> {
    let view = dihedral(image, rng.gen_range(0..8));
    let mut input = normalise(&view, params);
    let plane = input.len() / 3;
    let brightness = rng.gen_range(-0.08f32..0.08);
    for c in 0..3 {
        let shift = (brightness + rng.gen_range(-0.03f32..0.03)) / params.std[c];
        let gain = rng.gen_range(0.92f32..1.08);
        for v in &mut input[c * plane..(c + 1) * plane] {
            *v = *v * gain + shift;
        }
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dihedral_views_are_distinct_and_invertible() {
        let image = RgbImage::from_fn(3, 3, |x, y| image::Rgb([(x + 3 * y) as u8, 0, 0]));
        let views: Vec<RgbImage> = (0..8).map(|i| dihedral(&image, i)).collect();
        for i in 0..8 {
            for j in 0..i {
                assert_ne!(views[i], views[j], "views {i} and {j} coincide");
            }
        }
        assert_eq!(dihedral(&dihedral(&image, 1), 3), image);
    }

    #[test]
    fn camera_jitter_keeps_the_size_changes_the_colours_and_follows_the_seed() {
        use rand::SeedableRng;
        let image = RgbImage::from_fn(32, 32, |x, y| image::Rgb([120 + x as u8, 90 + y as u8, 60]));
        let draw = |seed| camera_jitter(&image, &mut rand::rngs::StdRng::seed_from_u64(seed));
        let (a, b) = (draw(1), draw(2));
        assert_eq!(a.dimensions(), (32, 32));
        assert_eq!(a, draw(1));
        assert_ne!(a, b);
        let mean = |im: &RgbImage, c: usize| im.pixels().map(|p| f32::from(p[c])).sum::<f32>() / 1024.0;
        let shifted = (0..3).map(|c| (mean(&a, c) - mean(&image, c)).abs()).fold(0.0, f32::max);
        assert!(shifted > 1.0, "colours unchanged: {shifted}");
    }

    #[test]
    fn low_res_keeps_the_size_and_loses_detail() {
        let image = RgbImage::from_fn(64, 64, |x, y| image::Rgb([if (x + y) % 2 == 0 { 255 } else { 0 }, 0, 0]));
        let blurred = low_res(&image, 16);
        assert_eq!(blurred.dimensions(), (64, 64));
        // A one-pixel checkerboard averages out to mid-grey.
        assert!(blurred.pixels().all(|p| (90..=165).contains(&p[0])), "{:?}", blurred.get_pixel(10, 10));
    }
}
