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
    // The bean: its unit-length embedding, then its traits.
    let norm: f32 = e[..128].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    // Views: the bundle's count for photos, one per tray bean; other counts are refused.
    assert_eq!((c.views(), c.tray_views()), (8, 1));
    assert!(c.set_views(3).is_err());
    c.set_views(1).unwrap();
    let one = embedding(&c, NORMAL).await;
    assert!(one.iter().zip(&e).any(|(a, b)| (a - b).abs() > 1e-3), "one view embeds differently from eight");
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

fn message(e: &JsValue) -> String {
    field(e, "message").as_string().unwrap_or_default()
}

fn prediction_label(p: &JsValue) -> String {
    field(p, "label").as_string().unwrap()
}

/// Labelled photo → (label, embedding) as `classify` returns them.
async fn classify_with_embedding(c: &Classifier, photo: &[u8]) -> (String, Vec<f32>) {
    let p = settle(c.classify(photo.to_vec())).await.expect("labelled");
    let embedding = field(&p, "embedding").dyn_into::<Float32Array>().expect("embedding").to_vec();
    (prediction_label(&p), embedding)
}

#[wasm_bindgen_test]
async fn relabelling_a_cached_embedding_follows_k_and_the_thresholds() {
    let c = Classifier::open(options("cpu")).await.unwrap();
    let (label, embedding) = classify_with_embedding(&c, BLACK).await;
    assert_eq!(embedding.len(), 128 + beanscan::traits::TRAITS, "the embedding, then the bean's traits");
    assert_eq!(prediction_label(&c.label(&embedding).unwrap()), label, "same settings, same label");
    assert_eq!(prediction_label(&c.label(&embedding[..128]).unwrap()), label, "the embedding alone: the same vote");
    for k in [1usize, 7] {
        c.set_k(k).unwrap();
        let p = c.label(&embedding).unwrap();
        assert_eq!(field(&p, "neighbours").dyn_into::<js_sys::Array>().unwrap().length() as usize, k);
    }
    c.set_threshold(0.0).unwrap();
    assert_eq!(field(&c.label(&embedding).unwrap(), "unknown").as_bool(), Some(true));
    assert!(c.set_threshold(f32::NAN).is_err());
    // Tray beans have their own threshold: the single-bean one at 0 does not touch them.
    c.set_tray_threshold(1e6).unwrap();
    assert_eq!(field(&c.label_tray_bean(&embedding).unwrap(), "unknown").as_bool(), Some(false));
    c.set_tray_threshold(0.0).unwrap();
    assert_eq!(field(&c.label_tray_bean(&embedding).unwrap(), "unknown").as_bool(), Some(true));
    assert_eq!(c.tray_threshold(), 0.0);
    assert!(c.set_tray_threshold(-1.0).is_err());
    assert!(message(&c.label(&[0.5; 3]).unwrap_err()).contains("3 values"));
}

#[wasm_bindgen_test]
async fn added_references_change_the_vote_and_survive_export_and_import() {
    let c = Classifier::open(options("cpu")).await.unwrap();
    c.set_k(1).unwrap();
    let (label, embedding) = classify_with_embedding(&c, NORMAL).await;
    let other = c.class_names().into_iter().find(|n| *n != label).unwrap();
    assert!(message(&c.set_added_only(true).unwrap_err()).contains("no reference beans of your own"));
    assert!(!c.added_only());

    let id = settle(c.add_reference(Float32Array::from(embedding.as_slice()).into(), other.clone()))
        .await
        .unwrap()
        .as_string()
        .unwrap();
    let p = c.label(&embedding).unwrap();
    assert_eq!(prediction_label(&p), other, "the added reference is the nearest");
    let nearest = js_sys::Array::from(&field(&p, "neighbours")).get(0);
    assert_eq!(field(&nearest, "id").as_string().unwrap(), id);
    assert_eq!(field(&nearest, "added").as_bool(), Some(true));
    assert!(field(&p, "distance").as_f64().unwrap() < 1e-4);

    let file = c.export_references().unwrap();
    assert!(c.remove_reference(&id).unwrap());
    assert!(!c.remove_reference(&id).unwrap());
    assert_eq!(prediction_label(&c.label(&embedding).unwrap()), label, "back to the bundled vote");
    assert_eq!(c.import_references(&file).unwrap(), 1);
    assert_eq!(prediction_label(&c.label(&embedding).unwrap()), other, "imported again");
    assert_eq!(js_sys::Array::from(&c.added_references().unwrap()).length(), 1);

    // Only the added references vote when asked: with k 3, the one added reference alone.
    c.set_k(3).unwrap();
    c.set_added_only(true).unwrap();
    assert!(c.added_only());
    let p = c.label(&embedding).unwrap();
    let voters = js_sys::Array::from(&field(&p, "neighbours"));
    assert_eq!(voters.length(), 1);
    assert_eq!(field(&voters.get(0), "added").as_bool(), Some(true));
    assert_eq!(prediction_label(&p), other);
    c.set_added_only(false).unwrap();
    assert_eq!(js_sys::Array::from(&field(&c.label(&embedding).unwrap(), "neighbours")).length(), 3);
    c.set_k(1).unwrap();

    // From photo bytes too.
    let from_photo = settle(c.add_reference(js_sys::Uint8Array::from(BLACK).into(), label.clone())).await.unwrap();
    assert!(from_photo.as_string().unwrap().starts_with("user-"));

    // Bad additions and files are refused with a message and change nothing.
    let bad = |r: Result<JsValue, JsValue>| message(&r.unwrap_err());
    assert!(bad(settle(c.add_reference(Float32Array::from(&[1.0f32; 3][..]).into(), other.clone())).await).contains("3 values"));
    assert!(
        bad(settle(c.add_reference(Float32Array::from(embedding.as_slice()).into(), "Green".into())).await)
            .contains("unknown class")
    );
    assert!(bad(settle(c.add_reference("text".into(), other.clone())).await).contains("Uint8Array"));
    let before = c.export_references().unwrap();
    assert!(message(&c.import_references(b"hello, not references").unwrap_err()).contains("not a beanscan references file"));
    let mut flipped = file.clone();
    let last = flipped.len() - 9;
    flipped[last] ^= 0x40;
    assert!(message(&c.import_references(&flipped).unwrap_err()).contains("checksum"));
    let foreign = |edit: &dyn Fn(&mut beanscan::references::ReferencesFile)| {
        let mut f = beanscan::references::ReferencesFile::from_bytes(&file).unwrap();
        edit(&mut f);
        message(&c.import_references(&f.to_bytes().unwrap()).unwrap_err())
    };
    assert!(foreign(&|f| f.model_id = "00000000".into()).contains("another model"));
    assert!(foreign(&|f| f.class_names = vec!["Purple".into(); f.class_names.len()]).contains("\"Purple\" is not one of"));
    assert!(
        foreign(&|f| {
            f.references = beanscan::index::ReferenceSet::new(3);
            f.references.push(&[1.0, 0.0, 0.0], 0, "x".into()).unwrap();
        })
        .contains("3 values")
    );
    assert_eq!(c.export_references().unwrap(), before, "refused imports change nothing");
}

/// The page's modules have no bundle built in: `create({ bundle })` gets the file's bytes.
#[wasm_bindgen_test]
async fn create_takes_the_bundle_it_is_given() {
    let with = |bytes: &[u8]| {
        let o = options("cpu");
        Reflect::set(&o, &"bundle".into(), &js_sys::Uint8Array::from(bytes).into()).unwrap();
        o
    };
    let mut user = beanscan::Bundle::embedded().unwrap();
    user.description = "bundle given to create".into();
    let c = Classifier::open(with(&user.to_bytes().unwrap())).await.unwrap();
    assert!(c.bundle_version().contains("bundle given to create"), "{}", c.bundle_version());
    assert!(settle(c.classify(NORMAL.to_vec())).await.is_ok());

    let err = Classifier::open(with(b"not a bundle")).await.err().expect("rejected");
    assert!(message(&err).contains("not a beanscan bundle"), "{}", message(&err));
    let o = options("cpu");
    Reflect::set(&o, &"bundle".into(), &"default.beanscan".into()).unwrap();
    let err = Classifier::open(o).await.err().expect("rejected");
    assert!(message(&err).contains("must be a Uint8Array"), "{}", message(&err));
}

#[wasm_bindgen_test]
async fn load_bundle_swaps_or_keeps_the_current_one() {
    let c = Classifier::open(options("cpu")).await.unwrap();
    let (_, embedding) = classify_with_embedding(&c, BLACK).await;
    settle(c.add_reference(Float32Array::from(embedding.as_slice()).into(), c.class_names()[0].clone())).await.unwrap();
    let version = c.bundle_version();

    let err = c.load_bundle(b"PK\x03\x04 a zip, not a bundle").unwrap_err();
    assert!(message(&err).contains("not a beanscan bundle"), "{}", message(&err));
    let mut corrupt = beanscan::bundle::DEFAULT_BUNDLE.to_vec();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 1;
    assert!(message(&c.load_bundle(&corrupt).unwrap_err()).contains("checksum"));
    assert_eq!(c.bundle_version(), version);
    assert!(settle(c.classify(NORMAL.to_vec())).await.is_ok(), "the old bundle still works");

    // The embedded bundle's bytes, loaded as a user's: same model, so added references stay.
    c.load_bundle(beanscan::bundle::DEFAULT_BUNDLE).unwrap();
    assert_eq!(c.bundle_version(), version);
    assert_eq!(js_sys::Array::from(&c.added_references().unwrap()).length(), 1);
    assert!(settle(c.classify(NORMAL.to_vec())).await.is_ok());

    // A re-exported bundle with its own description and k: it is the one running afterwards.
    let mut user = beanscan::Bundle::embedded().unwrap();
    user.description = "user-trained test bundle".into();
    user.default_k = 3;
    c.load_bundle(&user.to_bytes().unwrap()).unwrap();
    assert!(c.bundle_version().contains("user-trained test bundle"), "{}", c.bundle_version());
    assert_eq!(c.k(), 3);
    let p = settle(c.classify(NORMAL.to_vec())).await.unwrap();
    assert_eq!(js_sys::Array::from(&field(&p, "neighbours")).length(), 3);
}

/// The page decodes with the browser and sends RGBA pixels; the module must treat the same
/// pixels exactly as it treats its own decoding of the file (same crop, resize, normalisation).
#[wasm_bindgen_test]
async fn browser_decoded_pixels_take_the_same_path_as_bytes() {
    let c = Classifier::open(options("cpu")).await.unwrap();
    let rgb = beanscan::preprocess::decode(BLACK).unwrap();
    let (w, h) = rgb.dimensions();
    let rgba: Vec<u8> = rgb.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    let from_pixels = settle(c.embed_pixels(rgba.clone(), w, h)).await.unwrap().dyn_into::<Float32Array>().unwrap().to_vec();
    assert_eq!(from_pixels, embedding(&c, BLACK).await);
    let p = settle(c.classify_pixels(rgba.clone(), w, h)).await.unwrap();
    assert_eq!(prediction_label(&p), classify_with_embedding(&c, BLACK).await.0);
    assert!(message(&settle(c.classify_pixels(rgba, w - 1, h)).await.unwrap_err()).contains("bytes of pixels"));
    assert!(c.check_photo(BLACK).is_ok());
    assert!(message(&c.check_photo(&BLACK[..BLACK.len() / 2]).unwrap_err()).contains("damaged or incomplete"));
}
