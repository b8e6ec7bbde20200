#![cfg(not(target_arch = "wasm32"))]
//! End-to-end, native: a few training steps on ~40 real photos make the loss fall; an
//! interrupted pretraining resumes to the same state; and pretrain → train (export) → eval →
//! classify → supervised → study runs through the CLI on the result.

mod common;
use common::{beanscan, temp_dir};

use std::path::{Path, PathBuf};

use beanscan::model::ModelConfig;
use beanscan::preprocess::PreprocessParams;
use beanscan::train::checkpoint::Checkpointer;
use beanscan::train::data::{Dataset, load_images};
use beanscan::train::pretrain::{PretrainOptions, pretrain};
use burn::tensor::Device;

const DATA: &str = "../shared/data/greencoffee";

/// A small manifest-format data set: 4 classes × 6 beans × 2 faces of real photos, split
/// 4 beans train / 2 beans val per class. Photos are referenced by absolute path.
fn small_dataset(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(DATA);
    let manifest = std::fs::read_to_string(root.join("manifest.csv")).expect("shared data present");
    let rows: Vec<Vec<String>> = manifest.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    let mut out = String::from("path,label,round,bean,face,label_applies,split\n");
    for class in ["Normal", "Black", "Broken", "Insect-damaged"] {
        let mut beans: Vec<&str> = rows.iter().filter(|r| r[1] == class && r[2] == "r2").map(|r| r[3].as_str()).collect();
        beans.dedup();
        for (i, bean) in beans.iter().take(6).enumerate() {
            let split = if i < 4 { "train" } else { "val" };
            for r in rows.iter().filter(|r| r[3] == *bean) {
                let path = root.join(&r[0]);
                out.push_str(&format!("{},{},{},{},{},1,{split}\n", path.display(), r[1], r[2], r[3], r[4]));
            }
        }
    }
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("manifest.csv"), out).unwrap();
    data
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

#[test]
fn loss_falls_and_an_interrupted_run_resumes_to_the_same_state() {
    let dir = temp_dir("pretrain");
    let dataset = Dataset::open(&small_dataset(&dir)).unwrap().split(Some("train"));
    let config = ModelConfig { input_size: 32, width: 8, ..ModelConfig::default() };
    let params = PreprocessParams::new(32);
    let rows: Vec<usize> = (0..dataset.samples.len()).collect();
    let images = load_images(&dataset, &rows, &params).images;
    assert!(images.len() >= 30, "{}", images.len());
    let device = Device::flex();
    let options = |steps| PretrainOptions { steps, batch: 8, learning_rate: 2e-3, seed: 3 };

    let straight = pretrain(&config, &params, &images, &options(40), None, &device).unwrap();
    assert!(mean(&straight.losses[35..]) < 0.8 * mean(&straight.losses[..5]), "{:?}", straight.losses);

    // Stop after 20 steps, then resume to 40 from the checkpoint.
    let checkpoint = Checkpointer::new(dir.join("pretrain.ckpt"), "test settings", 10);
    pretrain(&config, &params, &images, &options(20), Some(&checkpoint), &device).unwrap();
    let resumed = pretrain(&config, &params, &images, &options(40), Some(&checkpoint), &device).unwrap();
    assert_eq!(resumed.losses.len(), 40);
    for (a, b) in straight.losses.iter().zip(&resumed.losses) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "straight {:?}\nresumed {:?}", straight.losses, resumed.losses);
    }

    // Other settings are refused rather than mixed into the run.
    let other = Checkpointer::new(dir.join("pretrain.ckpt"), "other settings", 10);
    let err = pretrain(&config, &params, &images, &options(50), Some(&other), &device).err().expect("refused");
    assert!(format!("{err:#}").contains("other settings"), "{err:#}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cli_pipeline_trains_exports_evaluates_and_classifies() {
    let dir = temp_dir("pipeline");
    let data = small_dataset(&dir);
    let (data_s, run) = (data.to_str().unwrap(), dir.join("run"));
    let run_s = run.to_str().unwrap();
    let bundle = dir.join("small.beanscan");
    let bundle_s = bundle.to_str().unwrap();
    let small = ["--input-size", "32", "--width", "8", "--batch", "8"];

    let mut args = vec!["train", "--data", data_s, "--run", run_s, "--out", bundle_s, "--f16"];
    args.extend(small);
    args.extend(["--pretrain-steps", "20", "--finetune-steps", "20", "--labels", "8"]);
    let out = beanscan(&args);
    let log = String::from_utf8_lossy(&out.stderr);
    for step in ["pretrain 20 steps", "fine-tune on", "export", "peak memory"] {
        assert!(log.contains(step), "missing `{step}` in:\n{log}");
    }
    assert!(run.join("pretrain.ckpt").is_file() && run.join("model.json").is_file());

    let report = dir.join("eval.json");
    beanscan(&["eval", "--bundle", bundle_s, "--data", data_s, "--split", "val", "--json", report.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["photos"], 16);
    for key in ["accuracy", "macro_f1", "map_at_r"] {
        assert!(json[key].as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)), "{key}: {json}");
    }
    for key in ["precision", "recall", "f1"] {
        assert!(json["normal_vs_defect"][key].is_number(), "{json}");
    }
    assert!(json["per_class"]["Black"]["f1"].is_number(), "{json}");
    assert!(json["bundle"].as_str().unwrap().contains("32px"), "{json}");

    let photo = std::fs::read_to_string(data.join("manifest.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let out = beanscan(&["classify", "--bundle", bundle_s, &photo]);
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(["Normal", "Black", "Broken", "Insect-damaged"].iter().any(|c| line.contains(c)), "{line}");

    let mut args = vec!["supervised", "--data", data_s, "--run", run_s, "--steps", "10", "--batch", "8"];
    args.extend(["--checkpoint-every", "5"]);
    beanscan(&args);
    let study = dir.join("study.json");
    beanscan(&[
        "study",
        "--data",
        data_s,
        "--run",
        run_s,
        "--labels",
        "4,8",
        "--seeds",
        "0,1",
        "--minings",
        "hard-guarded,hard",
        "--finetune-steps",
        "10",
        "--k",
        "3",
        "--json",
        study.to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&study).unwrap()).unwrap();
    let methods: Vec<&str> = json["summary"].as_array().unwrap().iter().map(|r| r["method"].as_str().unwrap()).collect();
    for m in ["AE-only kNN", "fine-tuned kNN (batch-hard + guard)", "fine-tuned kNN (batch-hard)", "supervised (all labels)"] {
        assert!(methods.contains(&m), "{methods:?}");
    }
    // 2 budgets × 2 seeds × (AE-only + fine-tuned + fine-tuned 8-view mean)
    // + plain batch-hard (fine-tuned + 8-view mean) + supervised.
    assert_eq!(json["runs"].as_array().unwrap().len(), 15);
    assert!(methods.contains(&"fine-tuned kNN (batch-hard + guard), 8-view mean"), "{methods:?}");
    assert!(std::fs::read_to_string(study.with_extension("md")).unwrap().contains("| AE-only kNN | 8 | 2 |"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn tune_refuses_reference_rounds_that_are_not_there_before_training() {
    let dir = temp_dir("tune-refs-rounds");
    let data = small_dataset(&dir);
    let run = dir.join("run");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_beanscan"))
        .args(["tune", "--data", data.to_str().unwrap(), "--refs-rounds", "r9", "--run", run.to_str().unwrap()])
        .args(["--out", dir.join("b.beanscan").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--refs-rounds r9: no training photo of these rounds (rounds: r2)"), "{stderr}");
    // Refused before the ImageNet weights are read or a step is trained.
    assert!(!run.join("tune.ckpt").exists());
}
