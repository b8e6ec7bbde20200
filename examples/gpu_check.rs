//! The shipped bundle's encoder on a real GPU (wgpu natively: Vulkan, Metal or DX12) against the
//! CPU backend (flex) on the same photos: largest embedding difference, label agreement, and the
//! median milliseconds per bean at batch 1 and batch 64 on each. A check for machines with a GPU;
//! not a test (CI has none) and not in the page.
//!
//!   cargo run --release --example gpu_check -- [--reps N] [--bundle FILE] PHOTO...
//!
//! Prints one JSON line per batch size, after one line naming the adapter. Without `--bundle`,
//! the built-in bundle.

use std::time::Instant;

use beanscan::{Bundle, Classifier};
use burn::tensor::Device;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ms per bean of embedding `inputs` in batches of `batch`, after one warm-up pass.
fn ms_per_bean(classifier: &Classifier, inputs: &[Vec<f32>], batch: usize, reps: usize) -> (f64, Vec<Vec<f32>>) {
    let run = || -> Vec<Vec<f32>> {
        inputs.chunks(batch).flat_map(|c| pollster::block_on(classifier.embed_inputs(c)).expect("embeds")).collect()
    };
    let out = run();
    let times = (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(run());
            t.elapsed().as_secs_f64() * 1e3 / inputs.len() as f64
        })
        .collect();
    (median(times), out)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut option = |name: &str| {
        let i = args.iter().position(|a| a == name)?;
        let value = args.get(i + 1).unwrap_or_else(|| panic!("{name} needs a value")).clone();
        args.drain(i..i + 2);
        Some(value)
    };
    let reps: usize = option("--reps").map_or(5, |r| r.parse().expect("--reps N"));
    let bundle_file = option("--bundle");
    let photos = args;
    assert!(!photos.is_empty(), "give photo paths");
    let (gpu, setup) = Device::wgpu_options().init_with_setup().expect("a wgpu adapter");
    let adapter = setup.adapter.get_info();
    println!(
        "{{\"adapter\": {:?}, \"backend\": \"{:?}\", \"device_type\": \"{:?}\", \"driver\": {:?}}}",
        adapter.name, adapter.backend, adapter.device_type, adapter.driver_info
    );
    let bundle = || match &bundle_file {
        Some(f) => Bundle::from_bytes(&std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"))).expect("a bundle"),
        None => Bundle::embedded().expect("built-in bundle"),
    };
    let cpu = Classifier::new(bundle(), Device::flex()).expect("CPU classifier");
    let gpu = Classifier::new(bundle(), gpu).expect("GPU classifier");
    let inputs: Vec<Vec<f32>> = photos
        .iter()
        .map(|p| cpu.input(&std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"))).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    for batch in [1, 64] {
        let (cpu_ms, a) = ms_per_bean(&cpu, &inputs, batch, reps);
        let (gpu_ms, b) = ms_per_bean(&gpu, &inputs, batch, reps);
        let diff = a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        let same = a.iter().zip(&b).filter(|(x, y)| cpu.label(x).unwrap().label == cpu.label(y).unwrap().label).count();
        println!(
            "{{\"batch\": {batch}, \"photos\": {}, \"cpu_ms_per_bean\": {cpu_ms:.3}, \"gpu_ms_per_bean\": {gpu_ms:.3}, \"max_abs_diff\": {diff:.2e}, \"same_label\": {same}}}",
            inputs.len()
        );
    }
}
