#![cfg(not(target_arch = "wasm32"))]
//! End-to-end, native: the built-in bundle labels real bean photos, per-file errors never stop
//! a batch, and the CLI prints one line per photo.

use std::path::{Path, PathBuf};
use std::process::Command;

use beanscan::{Bundle, Classifier};
use burn::tensor::Device;

const DATA: &str = "../shared/data/greencoffee";

/// The first `n` val photos of the manifest (label_applies = 1) with their labels.
fn val_photos(n: usize) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(DATA);
    let manifest = std::fs::read_to_string(root.join("manifest.csv")).expect("shared data present");
    manifest
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[6] == "val" && f[5] == "1")
        .step_by(7)
        .take(n)
        .map(|f| (root.join(f[0]), f[1].to_string()))
        .collect()
}

#[test]
fn labels_real_photos_and_reports_bad_ones() {
    let classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
    let photos = val_photos(40);
    assert_eq!(photos.len(), 40);
    for (path, _) in &photos {
        let bytes = std::fs::read(path).unwrap();
        let p = pollster::block_on(classifier.classify(&bytes)).unwrap();
        assert!(classifier.class_names.contains(&p.label), "{p:?}");
        assert!((0.0..=1.0).contains(&p.confidence));
        assert_eq!(p.neighbours.len(), classifier.k);
        assert!((p.distance - p.neighbours[0].distance).abs() < 1e-6);
    }
    let err = pollster::block_on(classifier.classify(b"not a photo")).unwrap_err();
    assert!(err.to_string().contains("not a photo beanscan can read"), "{err}");
}

#[test]
fn embedding_is_unit_length_and_deterministic() {
    let classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
    let bytes = std::fs::read(&val_photos(1)[0].0).unwrap();
    let a = pollster::block_on(classifier.embed_photo(&bytes)).unwrap();
    let b = pollster::block_on(classifier.embed_photo(&bytes)).unwrap();
    assert_eq!(a, b);
    let (embedding, traits) = classifier.split_bean(&a).unwrap();
    let norm: f32 = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    assert!(traits.is_some_and(|t| t.len() == beanscan::traits::TRAITS && t.iter().all(|v| v.is_finite())));
}

/// Single beans and tray beans are unknown beyond their own thresholds: the tray pipeline
/// (`label_found`) follows the tray one, a single photo the other.
#[test]
fn tray_beans_follow_the_tray_threshold() {
    let mut classifier = Classifier::new(Bundle::embedded().unwrap(), Device::flex()).unwrap();
    assert_eq!(classifier.tray_threshold, Bundle::embedded().unwrap().tray_threshold());
    let bytes = std::fs::read(&val_photos(1)[0].0).unwrap();
    let embedding = pollster::block_on(classifier.embed_photo(&bytes)).unwrap();
    let photo = image::RgbImage::new(64, 64);
    let found = beanscan::tray::detect::Found { bbox: [8, 8, 40, 40], outline: Vec::new(), area: 1600.0 };
    let tray_unknown = |c: &Classifier| {
        beanscan::tray::label_found(c, photo.width(), photo.height(), vec![found.clone()], vec![embedding.clone()])
            .unwrap()
            .unknown
    };
    (classifier.threshold, classifier.tray_threshold) = (0.0, 1e6);
    assert!(classifier.label(&embedding).unwrap().unknown);
    assert!(!classifier.label_tray_bean(&embedding).unwrap().unknown);
    assert_eq!(tray_unknown(&classifier), 0);
    (classifier.threshold, classifier.tray_threshold) = (1e6, 0.0);
    assert!(!classifier.label(&embedding).unwrap().unknown);
    assert_eq!(tray_unknown(&classifier), 1);
}

#[test]
fn cli_prints_one_line_per_photo_and_fails_only_when_none_labelled() {
    let dir = std::env::temp_dir().join(format!("beanscan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("notes.jpg");
    std::fs::write(&bad, "meeting notes, not a bean").unwrap();
    let photos = val_photos(2);
    let out = Command::new(env!("CARGO_BIN_EXE_beanscan"))
        .arg("classify")
        .arg(&photos[0].0)
        .arg(&bad)
        .arg(&photos[1].0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[1].starts_with(&bad.display().to_string()) && lines[1].contains("error"), "{stdout}");
    for line in [lines[0], lines[2]] {
        let fields: Vec<&str> = line.split('\t').collect();
        assert!(fields.len() >= 4, "{line}");
        fields[2].parse::<f32>().unwrap();
        fields[3].parse::<f32>().unwrap();
    }
    let only_bad = Command::new(env!("CARGO_BIN_EXE_beanscan")).arg("classify").arg(&bad).output().unwrap();
    assert!(!only_bad.status.success());
    std::fs::remove_dir_all(&dir).ok();
}

/// `beanscan classify … | head -n 1`: the reader goes away after one line; the CLI ends without
/// a panic message.
#[cfg(unix)]
#[test]
fn cli_ends_quietly_when_its_reader_goes_away() {
    use std::io::BufRead;
    let photos = val_photos(6);
    let mut child = Command::new(env!("CARGO_BIN_EXE_beanscan"))
        .arg("classify")
        .args(photos.iter().map(|(p, _)| p))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains('\t'), "{first}");
    // The reader is dropped here, as `head` exits.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `convert` re-stores the weights; the shipped int8 bundle and its f16 twin label alike.
#[test]
fn converted_bundles_label_like_the_shipped_one() {
    let dir = std::env::temp_dir().join(format!("beanscan-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f16 = dir.join("f16.beanscan");
    let out =
        Command::new(env!("CARGO_BIN_EXE_beanscan")).args(["convert", "--weights", "f16", "--out"]).arg(&f16).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let shipped = Bundle::embedded().unwrap();
    let twin = Bundle::from_bytes(&std::fs::read(&f16).unwrap()).unwrap();
    assert_eq!(shipped.weight_type, beanscan::bundle::WeightType::Int8);
    assert_eq!(twin.weight_type, beanscan::bundle::WeightType::F16);
    assert!(twin.weights.len() > shipped.weights.len() * 3 / 2, "f16 weights take more room than int8");
    let (a, b) = (Classifier::new(shipped, Device::flex()).unwrap(), Classifier::new(twin, Device::flex()).unwrap());
    for (path, _) in val_photos(8) {
        let bytes = std::fs::read(&path).unwrap();
        let (ea, eb) = (pollster::block_on(a.embed_photo(&bytes)).unwrap(), pollster::block_on(b.embed_photo(&bytes)).unwrap());
        let diff = ea.iter().zip(&eb).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        // Measured: at most 6.9e-3 over 29 val photos.
        assert!(diff < 0.02, "{}: int8 vs f16 embeddings differ by {diff}", path.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}
