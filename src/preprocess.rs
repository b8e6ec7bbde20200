//! Photo → model input. Shared by training, evaluation and the browser, so a photo gives the same
//! tensor everywhere: decode (with a pixel limit) → apply EXIF orientation → square crop around
//! the bean → resize to the model input → normalise per channel.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage, imageops::FilterType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::traits::{TRAITS, bean_traits};

/// Largest photo we decode, in megapixels. A 50 MP phone photo fits; a decompression bomb does not.
pub const MAX_MEGAPIXELS: u32 = 64;
/// Largest decoded pixel buffer, in bytes, checked before anything is allocated. 64 MP of 8-bit
/// RGB(A) fits; a 16-bit RGBA photo of that size does not. With the 8-bit RGB copy made after
/// decoding, one photo needs at most about 256 + 192 MB.
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// Smallest side we label: below this there is no bean to see.
pub const MIN_SIDE: u32 = 16;

/// How a photo becomes a model input. Stored in every bundle so the browser matches training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessParams {
    /// Side of the square model input, in pixels.
    pub input_size: u32,
    /// Per-channel mean and standard deviation of pixel values in [0, 1].
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Colour constancy: scale each channel so the background around the bean (the brightest
    /// part of the square's outer ring, [`white_gains`]) becomes the same white in every photo,
    /// whatever white balance and exposure the camera chose.
    pub white_reference: bool,
    /// The background around the bean painted one plain colour (the normalisation's mean, so the
    /// net reads zero there), whatever ground the camera saw ([`crate::plain_background`]).
    pub plain_background: bool,
}

impl PreprocessParams {
    pub fn new(input_size: u32) -> Self {
        // Measured on the greencoffee train split (see `beanscan stats`); fine as a default elsewhere.
        Self { input_size, mean: [0.45, 0.42, 0.38], std: [0.25, 0.24, 0.23], white_reference: false, plain_background: false }
    }

    /// Number of f32 values in one model input (3 × size × size).
    pub fn input_len(&self) -> usize {
        3 * (self.input_size as usize).pow(2)
    }
}

/// Containers of formats we do not decode, recognised by their ISO-BMFF brand (`ftyp` box).
fn unsupported_container(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    match &bytes[8..12] {
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => Some("HEIC"),
        b"mif1" | b"msf1" => Some("HEIF"),
        b"avif" | b"avis" => Some("AVIF"),
        _ => None,
    }
}

/// Width and height from a PNG's IHDR chunk (always the first chunk).
fn png_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 24 || &b[12..16] != b"IHDR" {
        return None;
    }
    Some((u32::from_be_bytes(b[16..20].try_into().ok()?), u32::from_be_bytes(b[20..24].try_into().ok()?)))
}

/// Whether a JPEG's segments and scans run up to an end-of-image marker. The JPEG decoder fills
/// a cut-off scan with grey and reports success, so a half-downloaded photo would get a label.
/// Segments are skipped by their length, so the end marker of an Exif thumbnail does not count.
fn jpeg_is_complete(b: &[u8]) -> bool {
    let mut i = 2; // after the start-of-image marker
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            i += 1; // entropy-coded scan data
            continue;
        }
        match b[i + 1] {
            0xD9 => return true,
            0xFF => i += 1,                      // fill byte before a marker
            0x00 | 0x01 | 0xD0..=0xD8 => i += 2, // stuffed 0xFF, TEM, restart markers: no length
            _ => {
                let Some(len) = b.get(i + 2..i + 4) else { return false };
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                if len < 2 {
                    return false;
                }
                i += 2 + len;
            }
        }
    }
    false
}

/// A decoder for photo bytes whose header passed every check: a known format, a complete file,
/// dimensions and decoded size within the limits. Nothing has been decoded yet.
fn checked_decoder(bytes: &[u8]) -> Result<impl ImageDecoder + '_> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    if let Some(format) = unsupported_container(bytes) {
        return Err(Error::UnsupportedFormat(format.into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| Error::Decode(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(Error::NotAnImage("unrecognised file contents".into()));
    };
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::Decode("the JPEG ends before its end-of-image marker".into()));
    }
    if format == image::ImageFormat::Png && !png_is_complete(bytes) {
        return Err(Error::Decode("the PNG ends before its IEND chunk".into()));
    }
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Unsupported(_) => Error::UnsupportedFormat(format!("{format:?}").to_uppercase()),
        // On wasm32 the PNG reader refuses a bomb's header itself: report it like the check below.
        image::ImageError::Limits(_) => match png_dimensions(bytes) {
            Some((width, height)) if u64::from(width) * u64::from(height) > u64::from(MAX_MEGAPIXELS) * 1_000_000 => {
                Error::TooLarge { width, height, limit: MAX_MEGAPIXELS }
            }
            _ => Error::OverLimit(format!("{e}")),
        },
        other => Error::Decode(other.to_string()),
    })?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > u64::from(MAX_MEGAPIXELS) * 1_000_000 {
        return Err(Error::TooLarge { width, height, limit: MAX_MEGAPIXELS });
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Error::TooSmall { width, height, min: MIN_SIDE });
    }
    let needed = decoder.total_bytes();
    if needed > MAX_DECODE_BYTES {
        let bits = u32::from(decoder.color_type().bits_per_pixel());
        let mib = needed.div_ceil(1 << 20);
        return Err(Error::TooManyBytes { width, height, bits, mib, limit_mib: MAX_DECODE_BYTES >> 20 });
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    decoder.set_limits(limits).map_err(|e| Error::Decode(e.to_string()))?;
    Ok(decoder)
}

/// The header checks of [`decode`] without decoding: the browser decodes the pixels itself, but
/// the file must be refused for the same reasons and with the same messages (browsers show a
/// half-downloaded JPEG with a grey bottom instead of refusing it).
pub fn check(bytes: &[u8]) -> Result<()> {
    checked_decoder(bytes).map(drop)
}

/// Whether a PNG's chunks run up to its IEND chunk. Browsers show a cut-off PNG with its
/// missing rows blank; [`check`] must refuse it before the browser decodes it.
fn png_is_complete(b: &[u8]) -> bool {
    let mut i = 8; // after the signature
    while let Some(header) = b.get(i..i + 8) {
        let len = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let Some(end) = i.checked_add(12).and_then(|v| v.checked_add(len)) else { return false };
        if end > b.len() {
            return false;
        }
        if &header[4..8] == b"IEND" {
            return true;
        }
        i = end;
    }
    false
}

/// Decode photo bytes (JPEG, PNG, WebP, GIF; first frame of animations) into an upright 8-bit
/// RGB image, refusing inputs beyond the pixel and byte limits before allocating for them.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    let mut decoder = checked_decoder(bytes)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|e| Error::Decode(e.to_string()))?;
    // Convert first (no copy when already 8-bit RGB, the common case), then rotate the smaller image.
    let mut image = DynamicImage::ImageRgb8(image.into_rgb8());
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// The square around the bean, resized to `size`×`size`; 8-bit RGB so training can cache it.
pub fn square(image: &RgbImage, size: u32) -> RgbImage {
    crop_square(image, bean_square(image), size)
}

/// A copy of `image` at most [`FIND_SIDE`] wide and the factor it was shrunk by: what the bean
/// and the white reference are looked for in.
struct Small {
    image: RgbImage,
    scale: f32,
}

impl Small {
    fn of(image: &RgbImage) -> Self {
        let (w, h) = image.dimensions();
        let scale = (w.max(h) as f32 / FIND_SIDE as f32).max(1.0);
        let (sw, sh) = (((w as f32 / scale) as u32).max(1), ((h as f32 / scale) as u32).max(1));
        Small { image: image::imageops::thumbnail(image, sw, sh), scale }
    }
}

/// The square (x, y, side) of `image`, resized to `size`×`size`. Shared by single-bean photos and
/// the beans of a tray, so both reach the model framed and resampled the same way.
pub fn crop_square(image: &RgbImage, (x, y, side): (u32, u32, u32), size: u32) -> RgbImage {
    // Resize straight from a view of the crop: a 48 MP photo is not copied first.
    let crop = image::imageops::crop_imm(image, x, y, side, side);
    if side == size { crop.to_image() } else { image::imageops::resize(&*crop, size, size, FilterType::Triangle) }
}

/// Side of the downscaled copy the bean is searched in.
const FIND_SIDE: u32 = 128;

/// Square (x, y, side) around the bean: the largest warm, saturated blob. Beans are yellow to
/// brown; rigs, pads and paper are grey, white or black. Without such a blob: the centre square.
pub fn bean_square(image: &RgbImage) -> (u32, u32, u32) {
    bean_square_in(image.dimensions(), &Small::of(image))
}

/// [`bean_square`] of a `(w, h)` photo, looked for in its small copy.
fn bean_square_in((w, h): (u32, u32), small: &Small) -> (u32, u32, u32) {
    let centre = {
        let side = w.min(h).max(1);
        ((w - side.min(w)) / 2, (h - side.min(h)) / 2, side)
    };
    let (scale, small) = (small.scale, &small.image);
    let (sw, sh) = small.dimensions();
    let mask = image::GrayImage::from_fn(sw, sh, |x, y| {
        let [r, g, b] = small.get_pixel(x, y).0.map(i32::from);
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        let warm = max > 60 && r >= b && (max - min) * 100 > 22 * max;
        image::Luma([if warm { 255 } else { 0 }])
    });
    // Opening detaches neighbouring beans and specks joined by a pixel or two.
    let mask = imageproc::morphology::open(&mask, imageproc::distance_transform::Norm::LInf, 1);
    let labels = imageproc::region_labelling::connected_components(
        &mask,
        imageproc::region_labelling::Connectivity::Eight,
        image::Luma([0u8]),
    );
    let mut boxes: std::collections::HashMap<u32, (u32, u32, u32, u32, u32)> = Default::default();
    for (x, y, l) in labels.enumerate_pixels() {
        if l.0[0] == 0 {
            continue;
        }
        let b = boxes.entry(l.0[0]).or_insert((x, y, x, y, 0));
        *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y), b.4 + 1);
    }
    let Some(&(x0, y0, x1, y1, area)) = boxes.values().max_by_key(|b| (b.4, b.0, b.1)) else { return centre };
    // A blob of a few pixels is noise, not a bean.
    if (area as f32) < 0.01 * (sw * sh) as f32 {
        return centre;
    }
    let (cx, cy) = ((x0 + x1 + 1) as f32 * scale / 2.0, (y0 + y1 + 1) as f32 * scale / 2.0);
    let extent = ((x1 - x0 + 1).max(y1 - y0 + 1) as f32 * scale * 1.2).round() as u32;
    let side = extent.clamp(8.min(w.min(h)), w.min(h));
    let x = (cx - side as f32 / 2.0).round().clamp(0.0, (w - side) as f32) as u32;
    let y = (cy - side as f32 / 2.0).round().clamp(0.0, (h - side) as f32) as u32;
    (x, y, side)
}

/// The value the background is brought to by [`white_gains`], in [0, 1].
const WHITE: f32 = 0.9;
/// Bounds of a white-reference gain: a dark table is not white paper, and is not stretched
/// without limit.
const GAIN_RANGE: (f32, f32) = (0.5, 3.0);

/// Per-channel gains that bring the background of a photo to [`WHITE`]: the mean colour of the
/// brightest quarter of the pixels in the photo's outer ring (an eighth of its short side wide,
/// measured on a copy at most [`FIND_SIDE`] wide), where the paper, tray or rig shows. The whole
/// photo, not the square around one bean, so a bean on a dark pad inside a white rig is measured
/// against the rig; bright, so beans at the edge and shadows are left out.
pub fn white_gains(photo: &RgbImage) -> [f32; 3] {
    white_gains_in(&Small::of(photo))
}

/// [`white_gains`] measured on a photo's small copy.
fn white_gains_in(small: &Small) -> [f32; 3] {
    let small = &small.image;
    let (w, h) = small.dimensions();
    let mut border: Vec<[u8; 3]> = ring_pixels(small, (w.min(h) / 8).max(1)).collect();
    border.sort_unstable_by_key(|p| std::cmp::Reverse(p.iter().map(|&v| u32::from(v)).sum::<u32>()));
    let bright = &border[..border.len().div_ceil(4)];
    std::array::from_fn(|c| {
        let mean = bright.iter().map(|p| f32::from(p[c])).sum::<f32>() / bright.len() as f32 / 255.0;
        (WHITE / mean.max(1e-3)).clamp(GAIN_RANGE.0, GAIN_RANGE.1)
    })
}

/// The pixels within `width` of the image's edge, row by row: the background around a bean
/// framed in the middle.
pub fn ring_pixels(image: &RgbImage, width: u32) -> impl Iterator<Item = [u8; 3]> + '_ {
    let (w, h) = image.dimensions();
    image
        .enumerate_pixels()
        .filter(move |&(x, y, _)| x < width || y < width || x + width >= w || y + width >= h)
        .map(|(_, _, p)| p.0)
}

/// The gains `params` asks for on this photo: its white reference, or none.
pub fn photo_gains(photo: &RgbImage, params: &PreprocessParams) -> [f32; 3] {
    if params.white_reference { white_gains(photo) } else { [1.0; 3] }
}

/// Scales each channel by its gain, rounded and clipped to 8 bits.
pub fn apply_gains(image: &mut RgbImage, gains: [f32; 3]) {
    if gains == [1.0; 3] {
        return;
    }
    for pixel in image.pixels_mut() {
        for c in 0..3 {
            pixel[c] = (f32::from(pixel[c]) * gains[c]).round().min(255.0) as u8;
        }
    }
}

/// The photo as the model sees it before normalising: the square around the bean at model size,
/// white-balanced on the photo's background when `params` asks for it. Training caches these.
pub fn model_square(photo: &RgbImage, params: &PreprocessParams) -> RgbImage {
    for_the_net(framed(photo, params).0, params)
}

/// `square` as the net is given it: its background painted plain when `params` asks for it.
/// Traits are read before, from the ground the camera saw.
fn for_the_net(mut square: RgbImage, params: &PreprocessParams) -> RgbImage {
    if params.plain_background {
        let fill = params.mean.map(|m| (m * 255.0).round().clamp(0.0, 255.0) as u8);
        crate::plain_background::paint_background(&mut square, fill);
    }
    square
}

/// [`model_square`] and the share of the photo's shorter side the square spans.
fn framed(photo: &RgbImage, params: &PreprocessParams) -> (RgbImage, f32) {
    // One small copy serves both the bean finding and the white reference.
    let small = Small::of(photo);
    let at = bean_square_in(photo.dimensions(), &small);
    let mut square = crop_square(photo, at, params.input_size);
    if params.white_reference {
        apply_gains(&mut square, white_gains_in(&small));
    }
    (square, side_share(photo, at.2))
}

/// The share of the photo's shorter side a square of `side` spans: the bean's scale in the photo.
pub fn side_share(photo: &RgbImage, side: u32) -> f32 {
    side as f32 / photo.width().min(photo.height()).max(1) as f32
}

/// [`image_to_input`] and the bean's traits ([`crate::traits`]), read from the same square.
pub fn image_to_bean(image: &RgbImage, params: &PreprocessParams) -> (Vec<f32>, [f32; TRAITS]) {
    let (square, side_share) = framed(image, params);
    square_to_bean(square, side_share, params)
}

/// A bean's model input and traits from its square at model size (white-balanced when `params`
/// asks for it), which spans `side_share` of the photo's shorter side: the traits first, from the
/// ground the camera saw, then the input, its ground painted plain when `params` asks for it.
pub fn square_to_bean(square: RgbImage, side_share: f32, params: &PreprocessParams) -> (Vec<f32>, [f32; TRAITS]) {
    let traits = bean_traits(&square, side_share);
    (normalise(&for_the_net(square, params), params), traits)
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
    Ok(image_to_input(&decode(bytes)?, params))
}

/// Upright RGB pixels → model input: the step every path shares after decoding.
pub fn image_to_input(image: &RgbImage, params: &PreprocessParams) -> Vec<f32> {
    normalise(&model_square(image, params), params)
}

/// Pixels decoded by someone else (the browser: `createImageBitmap` → canvas `getImageData`),
/// 8-bit RGBA rows top to bottom, already upright. Alpha is dropped as [`decode`] drops it, so
/// the same pixels give the same input on both paths.
pub fn rgba_to_image(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage> {
    if u64::from(width) * u64::from(height) > u64::from(MAX_MEGAPIXELS) * 1_000_000 {
        return Err(Error::TooLarge { width, height, limit: MAX_MEGAPIXELS });
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Error::TooSmall { width, height, min: MIN_SIDE });
    }
    let pixels = width as usize * height as usize;
    if rgba.len() != pixels * 4 {
        return Err(Error::Decode(format!(
            "{} bytes of pixels for {width}×{height} RGBA, which needs {}",
            rgba.len(),
            pixels * 4
        )));
    }
    let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    Ok(RgbImage::from_raw(width, height, rgb).expect("length checked above"))
}

/// Browser-decoded RGBA pixels → model input.
pub fn rgba_to_input(rgba: &[u8], width: u32, height: u32, params: &PreprocessParams) -> Result<Vec<f32>> {
    Ok(image_to_input(&rgba_to_image(rgba, width, height)?, params))
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
    fn the_ring_is_the_pixels_near_the_edge() {
        // A 6×5 image whose pixels name their place: a ring of 1 leaves the 4×3 middle out,
        // a ring of 2 the 2×1 middle.
        let image = RgbImage::from_fn(6, 5, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let places = |width| ring_pixels(&image, width).map(|p| (p[0], p[1])).collect::<Vec<_>>();
        assert_eq!(places(1).len(), 30 - 12);
        assert_eq!(places(2).len(), 30 - 2);
        assert!(!places(2).contains(&(2, 2)) && !places(2).contains(&(3, 2)));
        assert_eq!(places(1)[..7], [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (0, 1)]);
    }

    #[test]
    fn finds_the_bean_on_a_grey_background() {
        // A brown 40×30 "bean" at (120, 50) on a 200×150 grey photo.
        let image = RgbImage::from_fn(200, 150, |x, y| {
            if (120..160).contains(&x) && (50..80).contains(&y) { image::Rgb([150, 110, 60]) } else { image::Rgb([90, 90, 95]) }
        });
        let (x, y, side) = bean_square(&image);
        assert!((44..=52).contains(&side), "side {side}");
        let (cx, cy) = (x + side / 2, y + side / 2);
        assert!(cx.abs_diff(140) <= 2 && cy.abs_diff(65) <= 2, "centre ({cx}, {cy})");
        // Nothing bean-like: the centre square.
        assert_eq!(bean_square(&RgbImage::new(200, 150)), (25, 0, 150));
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
        RgbImage::new(64, 64).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
        bytes.truncate(bytes.len() / 3);
        assert!(decode(&bytes).is_err());
    }

    #[test]
    fn a_jpeg_cut_anywhere_is_incomplete() {
        let mut bytes = Vec::new();
        let image = RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 90]));
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90);
        // An Exif block holding an end-of-image marker must not count as the end.
        image::ImageEncoder::set_exif_metadata(&mut encoder, b"II*\0\x08\0\0\0\0\0\xFF\xD9".to_vec()).unwrap();
        image::ImageEncoder::write_image(encoder, &image, 64, 48, image::ExtendedColorType::Rgb8).unwrap();
        assert!(jpeg_is_complete(&bytes));
        for cut in 2..bytes.len() - 1 {
            assert!(!jpeg_is_complete(&bytes[..cut]), "cut at {cut} of {}", bytes.len());
        }
        // Trailing data after the end marker (phone makers append their own) is fine.
        bytes.extend_from_slice(b"SEFHvendor trailer");
        assert_eq!(decode(&bytes).unwrap().dimensions(), (64, 48));
    }

    #[test]
    fn a_png_cut_anywhere_is_incomplete() {
        let bytes = png(40, 30);
        assert!(png_is_complete(&bytes));
        for cut in 8..bytes.len() {
            assert!(!png_is_complete(&bytes[..cut]), "cut at {cut} of {}", bytes.len());
        }
        assert!(check(&bytes).is_ok());
        assert!(check(&bytes[..bytes.len() - 6]).unwrap_err().to_string().contains("damaged or incomplete"));
    }

    #[test]
    fn browser_pixels_give_the_same_input_as_decoded_bytes() {
        let params = PreprocessParams::new(32);
        let bytes = png(100, 60);
        let rgba: Vec<u8> = decode(&bytes).unwrap().pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        assert_eq!(rgba_to_input(&rgba, 100, 60, &params).unwrap(), photo_to_input(&bytes, &params).unwrap());
        assert!(matches!(rgba_to_input(&rgba, 99, 60, &params), Err(Error::Decode(_))));
        assert!(matches!(rgba_to_input(&[0; 4], 1, 1, &params), Err(Error::TooSmall { .. })));
        assert!(matches!(rgba_to_input(&[], 9000, 9000, &params), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn limits_name_the_problem_before_allocating() {
        assert!(matches!(decode(&png(1, 1)), Err(Error::TooSmall { .. })));
        assert!(decode(&png(MIN_SIDE, MIN_SIDE)).is_ok());
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        assert!(decode(heic).unwrap_err().to_string().contains("HEIC files cannot be read here"));
    }

    /// A brown bean on paper, both scaled per channel by the camera's `light`.
    fn bean_on_paper(light: [f32; 3]) -> RgbImage {
        RgbImage::from_fn(64, 64, |x, y| {
            let bean = (20..44).contains(&x) && (16..48).contains(&y);
            let base = if bean { [150.0, 110.0, 60.0] } else { [230.0, 230.0, 230.0] };
            image::Rgb(std::array::from_fn(|c| (base[c] * light[c]).round().min(255.0) as u8))
        })
    }

    #[test]
    fn the_white_reference_takes_out_the_cameras_white_balance_and_exposure() {
        let params = |white_reference| PreprocessParams { white_reference, ..PreprocessParams::new(32) };
        let neutral = bean_on_paper([1.0, 1.0, 1.0]);
        // Not so warm that the paper itself passes for a bean.
        let warm_and_dark = bean_on_paper([0.8, 0.72, 0.66]);
        let gap = |p: &PreprocessParams| {
            let (a, b) = (image_to_input(&neutral, p), image_to_input(&warm_and_dark, p));
            a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max)
        };
        // Without it the two photos differ by a third of the range; with it, by rounding only.
        assert!(gap(&params(false)) > 0.5, "{}", gap(&params(false)));
        assert!(gap(&params(true)) < 0.08, "{}", gap(&params(true)));
        let gains = white_gains(&neutral);
        assert!(gains.iter().all(|g| (g - WHITE * 255.0 / 230.0).abs() < 1e-3), "{gains:?}");
        assert_eq!(photo_gains(&neutral, &params(false)), [1.0; 3]);
        // A black photo has no white to go by: the gains stop at their bound.
        assert_eq!(white_gains(&RgbImage::new(32, 32)), [GAIN_RANGE.1; 3]);
    }
    #[test]
    fn a_plain_background_reaches_the_net_and_leaves_the_traits() {
        let photo = bean_on_paper([1.0, 1.0, 1.0]);
        let params = |plain_background| PreprocessParams { plain_background, ..PreprocessParams::new(32) };
        let (as_seen, traits) = image_to_bean(&photo, &params(false));
        let (plain, plain_traits) = image_to_bean(&photo, &params(true));
        assert_eq!(traits, plain_traits, "traits are read from the ground the camera saw");
        assert_eq!(plain, image_to_input(&photo, &params(true)));
        // The square's corner is paper: white as seen, the normalisation's mean (zero, to 8 bits)
        // once plain.
        assert!(as_seen[0] > 1.0 && plain[0].abs() < 0.01, "{} {}", as_seen[0], plain[0]);
        let middle = 32 * 16 + 16; // red channel, centre pixel: the bean
        assert_eq!(plain[middle], as_seen[middle]);
    }
}
