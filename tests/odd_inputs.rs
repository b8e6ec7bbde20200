#![cfg(not(target_arch = "wasm32"))]
//! The odd-input corpus through the library and the `beanscan classify` CLI: each file is
//! labelled or refused with its own message, the rest of the batch carries on, and the CLI's
//! memory stays bounded while it decodes them.

#[path = "odd_inputs/corpus.rs"]
mod corpus;

use std::path::Path;
use std::process::Command;

use beanscan::{Bundle, Classifier, preprocess};
use burn::tensor::Device;
use corpus::{Expect, cases};

const PHOTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/greencoffee/r1/Black/001U.jpg");
/// Peak resident memory allowed for `beanscan classify` over the whole corpus (stated in README).
const PEAK_LIMIT_MIB: u64 = 512;

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

fn peak_children_mib() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we own.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss as u64 / 1024
}

#[test]
fn cli_labels_the_batch_reports_each_bad_file_and_bounds_memory() {
    let dir = std::env::temp_dir().join(format!("beanscan-odd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = cases(&photo());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_beanscan"));
    cmd.arg("classify");
    for case in &cases {
        std::fs::write(dir.join(case.file), &case.bytes).unwrap();
        cmd.arg(dir.join(case.file));
    }
    let missing = dir.join("not-copied-yet.jpg");
    cmd.arg(&missing);
    let out = cmd.output().unwrap();
    let peak = peak_children_mib();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len() + 1, "{stdout}");
    for (case, line) in cases.iter().zip(&lines) {
        let (file, rest) = line.split_once('\t').unwrap();
        assert_eq!(Path::new(file), dir.join(case.file));
        match case.expect {
            Expect::Error(text) => assert!(rest.starts_with("error: ") && rest.contains(text), "{line}"),
            _ => {
                let fields: Vec<&str> = rest.split('\t').collect();
                assert!(fields.len() >= 3 && fields[1].parse::<f32>().is_ok(), "{line}");
            }
        }
    }
    assert!(lines[cases.len()].contains("error: cannot read the file"), "{stdout}");
    eprintln!("beanscan classify over {} odd inputs: peak memory {peak} MiB", cases.len() + 1);
    assert!(peak < PEAK_LIMIT_MIB, "peak memory {peak} MiB, limit {PEAK_LIMIT_MIB} MiB");
    std::fs::remove_dir_all(&dir).ok();
}
