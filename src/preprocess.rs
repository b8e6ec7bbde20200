//! Photo → model input. Shared by training, evaluation and the browser, so a photo gives the same
//! tensor everywhere: decode (with a pixel limit) → apply EXIF orientation → centre square crop →
//! resize to the model input → normalise per channel.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage, imageops::FilterType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest photo we decode, in megapixels. A 50 MP phone photo fits; a decompression bomb does not.
pub const MAX_MEGAPIXELS: u32 = 64;
/// Decoder allocation ceiling (bytes); bounds memory for any input.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// How a photo becomes a model input. Stored in every bundle so the browser matches training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessParams {
    /// Side of the square model input, in pixels.
    pub input_size: u32,
    /// Per-channel mean and standard deviation of pixel values in [0, 1].
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl PreprocessParams {
    pub fn new(input_size: u32) -> Self {
        // Measured on the greencoffee train split (see `beanscan stats`); fine as a default elsewhere.
        Self { input_size, mean: [0.45, 0.42, 0.38], std: [0.25, 0.24, 0.23] }
    }

    /// Number of f32 values in one model input (3 × size × size).
    pub fn input_len(&self) -> usize {
        3 * (self.input_size as usize).pow(2)
    }
}

/// Decode JPEG/PNG bytes into an upright RGB image, refusing inputs beyond the pixel limit.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Decode(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(Error::NotAnImage("unrecognised file contents".into()));
    };
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Unsupported(_) => Error::NotAnImage(format!("{format:?} is not supported")),
        other => Error::Decode(other.to_string()),
    })?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > u64::from(MAX_MEGAPIXELS) * 1_000_000 {
        return Err(Error::TooLarge { width, height, limit: MAX_MEGAPIXELS });
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    decoder.set_limits(limits).map_err(|e| Error::Decode(e.to_string()))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| Error::Decode(e.to_string()))?;
    image.apply_orientation(orientation);
    Ok(image.to_rgb8())
}

/// Centre square crop, resized to `size`×`size`. Returned as 8-bit RGB so training can cache it.
pub fn square(image: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let side = w.min(h).max(1);
    let crop = image::imageops::crop_imm(image, (w - side) / 2, (h - side) / 2, side, side).to_image();
    if side == size {
        crop
    } else {
        image::imageops::resize(&crop, size, size, FilterType::Triangle)
    }
}

/// Planar CHW f32 input from a square RGB image of the model's size.
pub fn normalise(image: &RgbImage, params: &PreprocessParams) -> Vec<f32> {
    let plane = (image.width() * image.height()) as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(pixel[c]) / 255.0 - params.mean[c]) / params.std[c];
        }
    }
    out
}

/// The whole path: photo bytes → model input.
pub fn photo_to_input(bytes: &[u8], params: &PreprocessParams) -> Result<Vec<f32>> {
    let image = decode(bytes)?;
    Ok(normalise(&square(&image, params.input_size), params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn crops_the_centre_and_resizes() {
        let params = PreprocessParams::new(32);
        let input = photo_to_input(&png(100, 60), &params).unwrap();
        assert_eq!(input.len(), params.input_len());
        // Blue channel is constant 128 everywhere → every blue value is the same after normalising.
        let blue = &input[2 * 32 * 32..];
        let expected = (128.0 / 255.0 - params.mean[2]) / params.std[2];
        assert!(blue.iter().all(|v| (v - expected).abs() < 1e-5));
    }

    #[test]
    fn rejects_non_images_and_empty_input() {
        assert!(matches!(decode(b""), Err(Error::Empty)));
        assert!(matches!(decode(b"just some text, not a photo"), Err(Error::NotAnImage(_))));
    }

    #[test]
    fn rejects_truncated_jpeg() {
        let mut bytes = Vec::new();
        RgbImage::new(64, 64)
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
            .unwrap();
        bytes.truncate(bytes.len() / 3);
        assert!(decode(&bytes).is_err());
    }
}
