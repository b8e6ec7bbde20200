#![cfg(not(target_arch = "wasm32"))]
//! `beanscan eval-camera` end to end on a handful of real USK and Thai photos: the command runs
//! and its JSON has every figure the results table reads. And the white reference on a real
//! photo of each camera as another camera's light would take it.

mod common;
use common::{beanscan, temp_dir};

use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// A data root holding `camera/manifest.csv` of the given photos (absolute paths into the shared
/// data): `(path, label, split)`.
fn mini_camera(root: &Path, camera: &str, rows: &[(String, &str, &str)]) {
    let dir = root.join(camera);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("path,label,type,split\n");
    for (path, label, split) in rows {
        let photo = data().join(camera).join(path);
        assert!(photo.is_file(), "{} missing", photo.display());
        text.push_str(&format!("{},{label},{label},{split}\n", photo.display()));
    }
    std::fs::write(dir.join("manifest.csv"), text).unwrap();
}

fn run(root: &Path, camera: &str) -> serde_json::Value {
    let json = root.join(format!("{camera}.json"));
    let embeddings = root.join(format!("{camera}.jsonl"));
    let args = ["eval-camera", "--camera", camera, "--data-root", root.to_str().unwrap()];
    let rest = ["--shots", "0,2", "--seeds", "2", "--views", "1", "--teach", "2", "--json", json.to_str().unwrap()];
    let out = beanscan(&[&args[..], &rest[..], &["--embeddings", embeddings.to_str().unwrap()]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("added only") && text.contains("teach your camera"), "{text}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    // --embeddings: every embedded photo, then the bundle's references, each a unit vector.
    let dumped: Vec<serde_json::Value> =
        std::fs::read_to_string(embeddings).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let pool = |name: &str| dumped.iter().filter(|d| d["pool"] == name).count();
    assert_eq!(pool("eval") + pool("reference"), report["embedded_photos"].as_u64().unwrap() as usize);
    assert!(pool("bundle") > 100);
    for d in &dumped {
        let norm: f64 = d["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap().powi(2)).sum();
        assert!((norm - 1.0).abs() < 1e-3, "{d}");
    }
    report
}

fn check_lines(report: &serde_json::Value, balanced: bool) {
    let lines = report["lines"].as_array().unwrap();
    let cells: Vec<(u64, &str)> = lines.iter().map(|l| (l["shots"].as_u64().unwrap(), l["vote"].as_str().unwrap())).collect();
    assert_eq!(cells, [(0, "all"), (2, "all"), (2, "added_only")]);
    for line in lines {
        for key in ["accuracy", "macro_f1", "unknown_rate", "unfamiliar_batches", "as_voted_macro_f1"] {
            let mean = line[key]["mean"].as_f64().unwrap_or_else(|| panic!("{key} in {line}"));
            assert!((0.0..=1.0).contains(&mean), "{key} {mean}");
        }
        assert_eq!(line["balanced_accuracy"].is_object(), balanced, "{line}");
        let runs = if line["shots"] == 0 { 1 } else { 2 };
        assert_eq!(line["runs"].as_array().unwrap().len(), runs);
        assert!(line["confusion"]["matrix"].is_array());
    }
    // --teach 2: proposed (one run) and random (a run per seed) picks, both votes.
    let teach = report["teach"].as_array().unwrap();
    let cells: Vec<(u64, &str, &str, usize)> = teach
        .iter()
        .map(|l| {
            let runs = l["runs"].as_array().unwrap().len();
            (l["confirmations"].as_u64().unwrap(), l["picks"].as_str().unwrap(), l["vote"].as_str().unwrap(), runs)
        })
        .collect();
    assert_eq!(
        cells,
        [(2, "proposed", "all", 1), (2, "proposed", "added_only", 1), (2, "random", "all", 2), (2, "random", "added_only", 2)]
    );
    assert!(report["teach_pool"].as_u64().unwrap() >= 2);
    let constant = report["constant"].as_array().unwrap();
    assert_eq!(constant[0]["answer"], "Normal");
    assert!(constant[1]["score"]["macro_f1"].is_f64());
    for key in ["bundle", "k", "threshold", "views", "eval_photos", "reference_pool", "alias", "reference_classes", "seconds"] {
        assert!(!report[key].is_null(), "{key} missing");
    }
    assert_eq!(report["views"], 1);
}

#[test]
fn eval_camera_scores_usk_and_thai() {
    let root = temp_dir("eval-camera");
    let usk: Vec<(String, &str, &str)> = (0..4)
        .flat_map(|i| {
            let split = if i < 3 { "train" } else { "val" };
            [(format!("defect/defect-{i}.jpg"), "Defect", split), (format!("premium/premium-{i}.jpg"), "Normal", split)]
        })
        .collect();
    let usk: Vec<(String, &str, &str)> = usk.into_iter().filter(|(p, ..)| data().join("usk").join(p).is_file()).collect();
    mini_camera(&root, "usk", &usk);
    let report = run(&root, "usk");
    assert_eq!(report["camera"], "usk");
    assert_eq!(report["eval_photos"]["Normal"], 1);
    check_lines(&report, true);
    // USK's defects are one class: added under a class of their own, every bundle defect reads as it.
    assert_eq!(report["reference_classes"]["Defect"], "Defect");
    assert_eq!(report["alias"]["Black"], "Defect");

    let thai: Vec<(String, &str, &str)> = ["Full-black", "Partial-black", "Broken"]
        .iter()
        .flat_map(|class| {
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(data().join("thai").join(class)).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            files
                .into_iter()
                .take(4)
                .map(move |f| (format!("{class}/{}", f.file_name().unwrap().to_string_lossy()), *class, "train"))
        })
        .collect();
    mini_camera(&root, "thai", &thai);
    let report = run(&root, "thai");
    assert_eq!(report["eval_photos"]["Full-black"], 1, "a third of 4, rounded");
    check_lines(&report, false);
    assert_eq!(report["alias"]["Black"], "Full-black");
    assert_eq!(report["reference_classes"]["Full-black"], "Black");
    assert_eq!(report["reference_classes"]["Partial-black"], "Partial-black");
    std::fs::remove_dir_all(&root).ok();
}

/// A real photo of each camera, as a warmer, darker light would give it (each channel scaled):
/// the white reference measures that light from the photo's background, and the bean's square
/// scaled by it comes back close to the photo's own, where without it it does not. (The square
/// is cut at the same place in both: the bean finder, which runs before, sees the light too.)
#[test]
fn the_white_reference_takes_a_cameras_light_out_of_real_photos() {
    use beanscan::preprocess::{PreprocessParams, apply_gains, bean_square, crop_square, decode, normalise, white_gains};
    let light = [0.85f32, 0.78, 0.7];
    let params = PreprocessParams::new(128);
    for photo in [
        "greencoffee/r1/Normal/000U.jpg",
        "greencoffee/r2/Black/000U.jpg",
        "usk/premium/premium-0.jpg",
        "thai/Broken/Broken_01.jpg",
    ] {
        let taken = decode(&std::fs::read(data().join(photo)).unwrap()).unwrap();
        let mut relit = taken.clone();
        for pixel in relit.pixels_mut() {
            for c in 0..3 {
                pixel[c] = (f32::from(pixel[c]) * light[c]).round() as u8;
            }
        }
        let (gains_taken, gains_relit) = (white_gains(&taken), white_gains(&relit));
        for c in 0..3 {
            let measured = gains_relit[c] / gains_taken[c];
            assert!((measured * light[c] - 1.0).abs() < 0.03, "{photo}: channel {c} gain ratio {measured}");
        }
        let at = bean_square(&taken);
        let input = |photo, gains| {
            let mut square = crop_square(photo, at, params.input_size);
            apply_gains(&mut square, gains);
            normalise(&square, &params)
        };
        let gap = |a: Vec<f32>, b: Vec<f32>| a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        let plain = gap(input(&taken, [1.0; 3]), input(&relit, [1.0; 3]));
        let white = gap(input(&taken, gains_taken), input(&relit, gains_relit));
        assert!(white < 0.25 * plain, "{photo}: mean input change {white} with the white reference, {plain} without");
    }
}
