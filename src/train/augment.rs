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
    fn low_res_keeps_the_size_and_loses_detail() {
        let image = RgbImage::from_fn(64, 64, |x, y| image::Rgb([if (x + y) % 2 == 0 { 255 } else { 0 }, 0, 0]));
        let blurred = low_res(&image, 16);
        assert_eq!(blurred.dimensions(), (64, 64));
        // A one-pixel checkerboard averages out to mid-grey.
        assert!(blurred.pixels().all(|p| (90..=165).contains(&p[0])), "{:?}", blurred.get_pixel(10, 10));
    }
}
