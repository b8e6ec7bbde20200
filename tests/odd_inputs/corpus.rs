//! The odd-input corpus: files a warehouse phone may hand to beanscan, generated (never
//! downloaded) from one real bean photo. Shared by the native tests (`tests/odd_inputs.rs`), the
//! wasm tests (`tests/web.rs`) and `cargo run --example odd_inputs -- DIR`, which writes the
//! files and `expect.json` for the page tests.
#![allow(dead_code)]

use std::io::Cursor;

use image::{DynamicImage, ImageEncoder, ImageFormat, RgbImage};

/// What beanscan must do with a case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// Decodes to exactly the photo's pixels, so it gets the photo's label and distance.
    SameAsPhoto,
    /// Labelled (pixels differ from the photo's: lossy, resampled or reduced).
    Labelled,
    /// Refused with a per-file message containing this text.
    Error(&'static str),
}

pub struct Case {
    pub file: &'static str,
    pub bytes: Vec<u8>,
    pub expect: Expect,
}

/// Lossless PNG of the photo's decoded pixels: the reference for [`Expect::SameAsPhoto`].
pub fn reference_png(photo: &RgbImage) -> Vec<u8> {
    encode(&DynamicImage::ImageRgb8(photo.clone()), ImageFormat::Png)
}

pub fn cases(photo_jpeg: &[u8]) -> Vec<Case> {
    let photo = image::load_from_memory(photo_jpeg).expect("the source photo decodes").to_rgb8();
    let rgb = DynamicImage::ImageRgb8(photo.clone());
    let case = |file, bytes, expect| Case { file, bytes, expect };
    vec![
        case("photo.png", reference_png(&photo), Expect::SameAsPhoto),
        case("empty.jpg", Vec::new(), Expect::Error("empty")),
        case("half-downloaded.jpg", photo_jpeg[..photo_jpeg.len() / 2].to_vec(), Expect::Error("damaged or incomplete")),
        case(
            "half-downloaded.png",
            {
                let p = reference_png(&photo);
                p[..p.len() / 2].to_vec()
            },
            Expect::Error("damaged or incomplete"),
        ),
        case("notes.jpg", b"Tray 4: 12 black beans, 3 sour.\n".to_vec(), Expect::Error("not a photo")),
        case("bomb-30000x30000.png", png_declaring(30_000, 30_000, 8, 2), Expect::Error("limit is 64 megapixels")),
        case("deep-7000x7000-rgba16.png", png_declaring(7_000, 7_000, 16, 6), Expect::Error("too large to decode")),
        case("photo-16bit.png", encode(&DynamicImage::ImageRgb16(rgb.to_rgb16()), ImageFormat::Png), Expect::SameAsPhoto),
        case("grey.jpg", encode(&DynamicImage::ImageLuma8(rgb.to_luma8()), ImageFormat::Jpeg), Expect::Labelled),
        case("cmyk.jpg", cmyk_jpeg(&photo), Expect::Labelled),
        case("exif-rotated.jpg", exif_rotated(&photo, ImageFormat::Jpeg), Expect::Labelled),
        case("exif-rotated.png", exif_rotated(&photo, ImageFormat::Png), Expect::SameAsPhoto),
        case("tiny-1x1.png", encode(&DynamicImage::ImageRgb8(RgbImage::new(1, 1)), ImageFormat::Png), Expect::Error("too small")),
        case("upscaled-8000x6000.jpg", upscaled(&photo, 8000, 6000), Expect::Labelled),
        case("photo.gif", encode(&rgb, ImageFormat::Gif), Expect::Labelled),
        case("photo.webp", encode(&rgb, ImageFormat::WebP), Expect::SameAsPhoto),
        case("animated.png", apng(&photo), Expect::SameAsPhoto),
        case("png-named.jpg", reference_png(&photo), Expect::SameAsPhoto),
        case("screenshot-rgba.png", encode(&DynamicImage::ImageRgba8(rgb.to_rgba8()), ImageFormat::Png), Expect::SameAsPhoto),
        case("iphone.heic", heic_header(), Expect::Error("HEIC")),
    ]
}

pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), format).expect("encodes");
    out
}

/// One PNG chunk: length, type, data, CRC over type and data.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out
}

/// A small PNG whose header declares `width`×`height` (a decompression bomb's header); its data
/// is a valid zlib stream of 64 KiB of zeros, far fewer than declared.
pub fn png_declaring(width: u32, height: u32, depth: u8, colour: u8) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, colour, 0, 0, 0]);
    let zeros = vec![0u8; 65_535];
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&(zeros.len() as u16).to_le_bytes());
    zlib.extend_from_slice(&(!(zeros.len() as u16)).to_le_bytes());
    zlib.extend_from_slice(&zeros);
    zlib.extend_from_slice(&adler32(&zeros).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(b"IDAT", &zlib));
    out.extend(chunk(b"IEND", &[]));
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// Exif (TIFF, little-endian) holding only Orientation = 6: "rotate 90° clockwise to view".
const EXIF_ROTATE_90: [u8; 26] = [
    b'I', b'I', 42, 0, 8, 0, 0, 0, // header, first IFD at 8
    1, 0, // one entry
    0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, // Orientation, SHORT, 1 value: 6
    0, 0, 0, 0, // no next IFD
];

/// The photo stored turned a quarter to the left, with Exif saying to turn it back to view.
fn exif_rotated(photo: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let stored = image::imageops::rotate270(photo);
    let mut out = Vec::new();
    let (w, h) = stored.dimensions();
    let ct = image::ExtendedColorType::Rgb8;
    match format {
        ImageFormat::Png => {
            let mut e = image::codecs::png::PngEncoder::new(&mut out);
            e.set_exif_metadata(EXIF_ROTATE_90.to_vec()).expect("png takes exif");
            e.write_image(&stored, w, h, ct).expect("encodes");
        }
        _ => {
            let mut e = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92);
            e.set_exif_metadata(EXIF_ROTATE_90.to_vec()).expect("jpeg takes exif");
            e.write_image(&stored, w, h, ct).expect("encodes");
        }
    }
    out
}

/// A print-shop CMYK JPEG (Adobe APP14, inverted ink values as Photoshop writes them).
fn cmyk_jpeg(photo: &RgbImage) -> Vec<u8> {
    let mut cmyk = Vec::with_capacity(photo.len() / 3 * 4);
    for p in photo.pixels() {
        let [r, g, b] = p.0;
        let k = 255 - r.max(g).max(b);
        let ink = |c: u8| if k == 255 { 0 } else { ((255 - c - k) as u32 * 255 / (255 - k) as u32) as u8 };
        // Ink amounts; the encoder stores them inverted, as Photoshop does.
        cmyk.extend_from_slice(&[ink(r), ink(g), ink(b), k]);
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 92)
        .encode(&cmyk, photo.width() as u16, photo.height() as u16, jpeg_encoder::ColorType::Cmyk)
        .expect("encodes");
    out
}

/// The photo enlarged into a `width`×`height` frame (bean centred, border of its corner colour),
/// as a phone's 48 MP mode would deliver it.
fn upscaled(photo: &RgbImage, width: u32, height: u32) -> Vec<u8> {
    let side = width.min(height);
    let big = image::imageops::resize(photo, side, side, image::imageops::FilterType::Triangle);
    let mut frame = RgbImage::from_pixel(width, height, *photo.get_pixel(0, 0));
    image::imageops::replace(&mut frame, &big, i64::from((width - side) / 2), i64::from((height - side) / 2));
    drop(big);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(&frame, width, height, image::ExtendedColorType::Rgb8)
        .expect("encodes");
    out
}

/// Splits a PNG into its chunks (type, data).
fn chunks(png: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
        out.push((kind, &png[at + 8..at + 8 + len]));
        at += 12 + len;
    }
    out
}

/// Two-frame animated PNG: the photo first (what a still viewer shows), then noise.
fn apng(photo: &RgbImage) -> Vec<u8> {
    let (w, h) = photo.dimensions();
    let first = reference_png(photo);
    let noise = RgbImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
        image::Rgb([v, v.wrapping_mul(7), v.wrapping_add(91)])
    });
    let second = reference_png(&noise);
    let fctl = |seq: u32| {
        let mut d = seq.to_be_bytes().to_vec();
        for v in [w, h, 0, 0] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(&[0, 1, 0, 10, 0, 0]); // delay 1/10 s, no dispose, no blend
        d
    };
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut seen_idat = false;
    for (kind, data) in chunks(&first) {
        match &kind {
            b"IHDR" => {
                out.extend(chunk(b"IHDR", data));
                out.extend(chunk(b"acTL", &[0, 0, 0, 2, 0, 0, 0, 0]));
            }
            b"IDAT" => {
                if !seen_idat {
                    out.extend(chunk(b"fcTL", &fctl(0)));
                    seen_idat = true;
                }
                out.extend(chunk(b"IDAT", data));
            }
            b"IEND" => {
                out.extend(chunk(b"fcTL", &fctl(1)));
                // Frame 1's data chunks follow its control chunk (sequence 1), numbered from 2.
                for (seq, (_, data)) in (2u32..).zip(chunks(&second).into_iter().filter(|(k, _)| k == b"IDAT")) {
                    let mut fdat = seq.to_be_bytes().to_vec();
                    fdat.extend_from_slice(data);
                    out.extend(chunk(b"fdAT", &fdat));
                }
                out.extend(chunk(b"IEND", &[]));
            }
            _ => out.extend(chunk(&kind, data)),
        }
    }
    out
}

/// The start of an iPhone HEIC photo: the `ftyp` box with brand `heic`, then a `meta` box.
fn heic_header() -> Vec<u8> {
    let mut out = vec![0, 0, 0, 24];
    out.extend_from_slice(b"ftypheic");
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(b"mif1heic");
    out.extend_from_slice(&[0, 0, 0, 34]);
    out.extend_from_slice(b"meta");
    out.extend_from_slice(&[0; 26]);
    out
}
