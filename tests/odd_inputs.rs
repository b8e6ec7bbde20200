#![cfg(not(target_arch = "wasm32"))]
//! The odd-input corpus through the library: each file is labelled or refused with its own
//! message, and the rest of the batch carries on. The CLI over the same corpus, with its memory
//! bound, is in `odd_inputs_cli.rs`.

#[path = "odd_inputs/corpus.rs"]
mod corpus;

use beanscan::{Bundle, Classifier, preprocess};
use burn::tensor::Device;
use corpus::{Expect, cases};

const PHOTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/greencoffee/r1/Black/001U.jpg");

fn photo() -> Vec<u8> {
    std::fs::read(PHOTO).expect("shared data present")
}

#[test]
fn library_labels_or_refuses_each_odd_input() {
    let classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
    let cases = cases(&photo());
    let reference = pollster::block_on(classifier.classify(&cases[0].bytes)).unwrap();
    for case in &cases {
        let result = pollster::block_on(classifier.classify(&case.bytes));
        match (case.expect, result) {
            (Expect::SameAsPhoto, Ok(p)) => {
                assert_eq!((&p.label, p.distance), (&reference.label, reference.distance), "{}", case.file)
            }
            (Expect::Labelled, Ok(p)) => assert!(classifier.class_names.contains(&p.label), "{}: {p:?}", case.file),
            (Expect::Error(text), Err(e)) => {
                let message = e.to_string();
                assert!(message.contains(text), "{}: `{message}` should mention `{text}`", case.file);
            }
            (expect, result) => panic!("{}: expected {expect:?}, got {result:?}", case.file),
        }
    }
}

/// Mean absolute difference per channel value between two equally sized images.
fn mean_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn lossy_variants_decode_to_the_photo_upright() {
    let bytes = photo();
    let photo = preprocess::decode(&bytes).unwrap();
    let grey = image::DynamicImage::ImageRgb8(photo.clone()).to_luma8();
    let grey = image::DynamicImage::ImageLuma8(grey).to_rgb8();
    for case in cases(&bytes) {
        let expected = match case.file {
            "exif-rotated.jpg" | "cmyk.jpg" | "photo.gif" => &photo,
            "grey.jpg" => &grey,
            "upscaled-8000x6000.jpg" => {
                assert_eq!(preprocess::decode(&case.bytes).unwrap().dimensions(), (8000, 6000));
                continue;
            }
            _ => continue,
        };
        let decoded = preprocess::decode(&case.bytes).unwrap();
        // A sideways or colour-inverted decode differs by ~50; JPEG and palette loss by under 6.
        let diff = mean_diff(&decoded, expected);
        assert!(diff < 6.0, "{}: mean difference {diff:.1} from the photo", case.file);
    }
}
