//! burn CPU (flex) timings of the shipped architecture, for the side-by-side with PyTorch and
//! onnxruntime in `bench/peers.py` (which runs this binary itself; see README "Benchmarks").
//!
//!   cargo bench --bench model -- [--reps N] [--batch B] [--input-size S] [--width W]
//!
//! Prints one JSON line: median milliseconds of one autoencoder training step (forward,
//! backward, Adam) on a batch of B inputs, and of one photo's embedding (batch of 1).
//! Inputs are deterministic pseudo-random values; weights are freshly initialised (timing does
//! not depend on their values).
//!
//!   cargo bench --bench model -- --photos P1.jpg P2.jpg … [--reps N] [--views V] [--write-inputs DIR]
//!
//! Photo mode, for `bench/browser.mjs`: the built-in bundle's classifier on flex, per photo the
//! median ms of decode + preprocess alone and of the whole embedding (decode + preprocess +
//! model, V passes; default the bundle's view count), one JSON line each. `--write-inputs` also writes each photo's model input (f32 LE,
//! 3 × size × size) as DIR/<n>.f32, so onnxruntime can be fed exactly the same tensor.
//!
//!   cargo bench --bench model -- --bundle-sizes DIR
//!
//! Bundle mode, for `bench/page-weight.mjs`: bytes of each part of the built-in bundle (postcard
//! encoded as in the file) as one JSON line, and the bundle written to DIR twice: as shipped
//! (8-bit weights) and with the same weights widened to f32.

use std::path::PathBuf;
use std::time::Instant;

use beanscan::bundle::{DEFAULT_BUNDLE, WeightType};
use beanscan::classifier::load_embedder;
use beanscan::index::ReferenceSet;
use beanscan::model::{Autoencoder, Embedder, ModelConfig};
use beanscan::train::export::weight_bytes;
use beanscan::{Bundle, Classifier};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().expect("a number"))
}

fn inputs(n: usize, size: usize) -> Vec<f32> {
    (0..n * 3 * size * size).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Values following `flag` up to the next `--option`.
fn list(flag: &str) -> Option<Vec<String>> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == flag)?;
    Some(args[at + 1..].iter().take_while(|a| !a.starts_with("--")).cloned().collect())
}

fn time_ms<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    for _ in 0..3 {
        f();
    }
    median(
        (0..reps)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(f());
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn photos(paths: &[String], reps: usize) {
    let mut classifier = Classifier::new(Bundle::embedded().expect("built-in bundle"), Device::flex()).expect("classifier");
    let views = arg("--views", classifier.views() as usize);
    classifier.set_views(u8::try_from(views).unwrap_or(0)).expect("--views: 1, 2, 4 or 8");
    let out_dir = list("--write-inputs").and_then(|v| v.first().map(PathBuf::from));
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir).expect("create the --write-inputs folder");
    }
    for (n, path) in paths.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let input = classifier.input(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        if let Some(dir) = &out_dir {
            let raw: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(dir.join(format!("{n}.f32")), raw).expect("write the model input");
        }
        let preprocess = time_ms(reps, || classifier.input(&bytes).expect("decodes"));
        let embed = time_ms(reps, || pollster::block_on(classifier.embed_photo(&bytes)).expect("embeds"));
        println!(
            "{{\"engine\": \"burn-flex\", \"photo\": {path:?}, \"decode_preprocess_ms\": {preprocess:.3}, \"embed_photo_ms\": {embed:.3}, \"views\": {views}}}"
        );
    }
}

fn bundle_sizes(dir: &str) {
    let bundle = Bundle::embedded().expect("built-in bundle");
    let net = load_embedder(&bundle.model, bundle.weight_type, &bundle.weights, &Device::flex()).expect("weights load");
    let f32_weights = weight_bytes(net, WeightType::F32).expect("weights serialise");
    // In the file the references carry only ids and labels when the graph holds the embeddings.
    let refs_in_file = ReferenceSet {
        embeddings: if bundle.graph.is_some() { Vec::new() } else { bundle.references.embeddings.clone() },
        ..bundle.references.clone()
    };
    let sizes = [
        ("file", DEFAULT_BUNDLE.len()),
        ("weights", bundle.weights.len()),
        ("weights_f32", f32_weights.len()),
        ("references_ids_labels", len(&refs_in_file)),
        ("graph_with_embeddings", len(&bundle.graph)),
        ("embeddings_f32_raw", bundle.references.embeddings.len() * 4),
        ("description_classes_settings", len(&(&bundle.description, &bundle.model, &bundle.preprocess, &bundle.class_names))),
    ];
    std::fs::create_dir_all(dir).expect("create the output folder");
    std::fs::write(format!("{dir}/default-shipped.beanscan"), DEFAULT_BUNDLE).expect("write");
    let widened = Bundle { weights: f32_weights, weight_type: WeightType::F32, ..bundle };
    let f32_file = widened.to_bytes().expect("bundle encodes");
    std::fs::write(format!("{dir}/default-f32.beanscan"), &f32_file).expect("write");
    let fields: Vec<String> = sizes.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    println!(
        "{{{}, \"file_f32\": {}, \"references\": {}, \"dim\": {}}}",
        fields.join(", "),
        f32_file.len(),
        widened.references.len(),
        widened.references.dim
    );
}

/// postcard-encoded length, as the value takes in the bundle file.
fn len<T: serde::Serialize>(value: &T) -> usize {
    postcard::to_allocvec(value).expect("serialisable").len()
}

fn main() {
    let reps = arg("--reps", 20);
    if let Some(dir) = list("--bundle-sizes").and_then(|v| v.first().cloned()) {
        return bundle_sizes(&dir);
    }
    if let Some(paths) = list("--photos") {
        assert!(!paths.is_empty(), "--photos needs at least one photo path");
        return photos(&paths, reps);
    }
    let batch = arg("--batch", 32);
    let config = ModelConfig { input_size: arg("--input-size", 64), width: arg("--width", 16), ..ModelConfig::default() };
    let size = config.input_size;
    let device = Device::flex();
    device.seed(0);

    // One autoencoder training step, as in `beanscan pretrain`.
    let ad = device.clone().autodiff();
    let mut model = Autoencoder::new(&config, &ad);
    let mut optimizer = AdamConfig::new().init();
    let x_data = inputs(batch, size);
    let mut train_ms = Vec::new();
    for rep in 0..reps + 3 {
        let started = Instant::now();
        let x = Tensor::<4>::from_data(TensorData::new(x_data.clone(), [batch, 3, size, size]), &ad);
        let loss = (model.forward(x.clone()) - x).powi_scalar(2).mean();
        let _: f32 = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-3, model, grads);
        if rep >= 3 {
            train_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }

    // One photo's embedding: the browser's and `beanscan classify`'s unit of work.
    let embedder = Embedder::new(&config, &device);
    let one = inputs(1, size);
    let mut embed_ms = Vec::new();
    for rep in 0..reps * 5 + 3 {
        let started = Instant::now();
        let x = Tensor::<4>::from_data(TensorData::new(one.clone(), [1, 3, size, size]), &device);
        let out: Vec<f32> = embedder.forward(x).into_data().try_to_vec::<f32>().expect("f32");
        assert_eq!(out.len(), config.embed_dim);
        if rep >= 3 {
            embed_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let train = median(train_ms);
    println!(
        "{{\"engine\": \"burn-flex\", \"batch\": {batch}, \"input_size\": {size}, \"width\": {}, \"train_step_ms\": {train:.2}, \"train_images_per_s\": {:.1}, \"embed_ms\": {:.3}}}",
        config.width,
        batch as f64 / train * 1e3,
        median(embed_ms)
    );
}
