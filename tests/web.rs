//! The wasm API in headless Chromium (wasm-bindgen-test-runner), on the CPU and WebGPU backends.
#![cfg(target_arch = "wasm32")]

use beanscan::web::Classifier;
use js_sys::{Float32Array, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "odd_inputs/corpus.rs"]
mod corpus;

const BLACK: &[u8] = include_bytes!("../../shared/data/greencoffee/r1/Black/001U.jpg");
const NORMAL: &[u8] = include_bytes!("../../shared/data/greencoffee/r2/Normal/001U.jpg");

fn options(backend: &str) -> JsValue {
    let o = js_sys::Object::new();
    Reflect::set(&o, &"backend".into(), &backend.into()).unwrap();
    o.into()
}

async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

async fn embedding(c: &Classifier, photo: &[u8]) -> Vec<f32> {
    settle(c.embed(photo.to_vec())).await.unwrap().dyn_into::<Float32Array>().unwrap().to_vec()
}

async fn check_labels_photos(c: &Classifier) {
    let names = c.class_names();
    for photo in [BLACK, NORMAL] {
        let p = settle(c.classify(photo.to_vec())).await.expect("labelled");
        let label = Reflect::get(&p, &"label".into()).unwrap().as_string().unwrap();
        assert!(names.contains(&label), "{label}");
        let confidence = Reflect::get(&p, &"confidence".into()).unwrap().as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
        let neighbours: js_sys::Array = Reflect::get(&p, &"neighbours".into()).unwrap().dyn_into().unwrap();
        assert_eq!(neighbours.length() as usize, c.k());
    }
    let err = settle(c.classify(b"GIF89a not really".to_vec())).await.unwrap_err();
    let message = Reflect::get(&err, &"message".into()).unwrap().as_string().unwrap();
    assert!(message.contains("photo"), "{message}");
    // The failure above must not break the next photo.
    assert!(settle(c.classify(BLACK.to_vec())).await.is_ok());
}

#[wasm_bindgen_test]
async fn cpu_backend_labels_real_photos() {
    let c = Classifier::open(options("cpu")).await.unwrap();
    assert_eq!(c.backend(), "cpu");
    assert!(c.bundle_version().contains("bundle format v"));
    check_labels_photos(&c).await;
    c.set_k(1).unwrap();
    assert_eq!(c.k(), 1);
    let e = embedding(&c, NORMAL).await;
    let norm: f32 = e.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
}

#[wasm_bindgen_test]
async fn unknown_backend_is_a_clear_error() {
    let err = Classifier::open(options("quantum")).await.err().expect("rejected");
    let message = Reflect::get(&err, &"message".into()).unwrap().as_string().unwrap();
    assert!(message.contains("unknown backend"), "{message}");
}

#[wasm_bindgen_test]
async fn webgpu_backend_matches_cpu() {
    let cpu = Classifier::open(options("cpu")).await.unwrap();
    let gpu = match Classifier::open(options("webgpu")).await {
        Ok(c) => c,
        // The test browser is started with WebGPU enabled (webdriver.json): it must be there.
        Err(e) => panic!("WebGPU backend did not start: {e:?}"),
    };
    assert_eq!(gpu.backend(), "webgpu");
    check_labels_photos(&gpu).await;
    let (a, b) = (embedding(&cpu, BLACK).await, embedding(&gpu, BLACK).await);
    let max_diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(max_diff <= 1e-3, "CPU and WebGPU embeddings differ by {max_diff}");
}

fn field(v: &JsValue, name: &str) -> JsValue {
    Reflect::get(v, &name.into()).unwrap()
}

/// The odd-input corpus (tests/odd_inputs/corpus.rs) through the wasm API, one batch on one
/// classifier: each file labelled or refused with its own message, and the failures in between
/// never break the files after them.
#[wasm_bindgen_test]
async fn odd_inputs_are_labelled_or_refused_one_by_one() {
    let c = Classifier::open(options("cpu")).await.unwrap();
    let cases = corpus::cases(BLACK);
    let reference = settle(c.classify(cases[0].bytes.clone())).await.expect("reference labelled");
    let (ref_label, ref_distance) = (field(&reference, "label").as_string(), field(&reference, "distance").as_f64());
    for case in &cases {
        let result = settle(c.classify(case.bytes.clone())).await;
        match (case.expect, result) {
            (corpus::Expect::SameAsPhoto, Ok(p)) => {
                assert_eq!(field(&p, "label").as_string(), ref_label, "{}", case.file);
                assert_eq!(field(&p, "distance").as_f64(), ref_distance, "{}", case.file);
            }
            (corpus::Expect::Labelled, Ok(p)) => {
                let label = field(&p, "label").as_string().unwrap();
                assert!(c.class_names().contains(&label), "{}: {label}", case.file);
            }
            (corpus::Expect::Error(text), Err(e)) => {
                let message = field(&e, "message").as_string().unwrap();
                assert!(message.contains(text), "{}: `{message}` should mention `{text}`", case.file);
            }
            (expect, Ok(p)) => panic!("{}: expected {expect:?}, got {:?}", case.file, field(&p, "label")),
            (expect, Err(e)) => panic!("{}: expected {expect:?}, got error {:?}", case.file, field(&e, "message")),
        }
    }
}
