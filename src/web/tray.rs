//! The browser API for tray photos: find, label and count every bean, on the classifier's backend.

use js_sys::Promise;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{Classifier, js_error};
use crate::tray;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
export interface TrayBean extends Prediction {
  /** left, top, width, height in photo pixels */
  bbox: [number, number, number, number];
  /** convex outline in photo pixels */
  outline: [number, number][];
  area: number;
  /** L2-normalised embedding: re-label with label(), or add as a reference */
  embedding: number[];
}
export interface DefectLine {
  class: string; sca_defect: string; category: 'primary' | 'secondary'; beans: number; full_defects: number;
}
export interface Grading {
  lines: DefectLine[]; not_in_table: [string, number][];
  primary_full_defects: number; secondary_full_defects: number;
  primary_per_sample: number; secondary_per_sample: number;
  grade: 'specialty' | 'premium' | 'exchange' | 'below_standard' | 'off_grade';
  sample_grams: number;
}
export interface Tray {
  width: number; height: number; beans: TrayBean[];
  counts: [string, number][]; unknown: number; defect_percent: number; grading: Grading; unfamiliar: boolean;
}
"#;

/// Plain JS objects (not `Map`s, which serde-wasm-bindgen makes of flattened structs).
fn to_js(value: &impl Serialize) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_error)
}

#[wasm_bindgen]
impl Classifier {
    /// Finds every bean of a tray photo (JPEG, PNG, WebP or GIF bytes), labels each and counts them.
    #[wasm_bindgen(js_name = classifyTray, unchecked_return_type = "Promise<Tray>")]
    pub fn classify_tray(&self, photo: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let image = crate::preprocess::decode(&photo).map_err(js_error)?;
            let classifier = inner.borrow();
            let tray = tray::label_tray(&classifier, &image).await.map_err(js_error)?;
            to_js(&tray)
        })
    }

    /// [`classifyTray`] on pixels the browser decoded (createImageBitmap: EXIF orientation and
    /// every format the browser reads).
    #[wasm_bindgen(js_name = classifyTrayPixels, unchecked_return_type = "Promise<Tray>")]
    pub fn classify_tray_pixels(&self, rgba: Vec<u8>, width: u32, height: u32) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let image = crate::preprocess::rgba_to_image(&rgba, width, height).map_err(js_error)?;
            drop(rgba);
            let classifier = inner.borrow();
            let tray = tray::label_tray(&classifier, &image).await.map_err(js_error)?;
            to_js(&tray)
        })
    }

    /// Where the beans of a tray photo are (boxes and outlines), without labelling them: quick
    /// enough to show the outlines while the beans are still being labelled.
    #[wasm_bindgen(js_name = findBeansPixels, unchecked_return_type = "{ bbox: [number, number, number, number]; outline: [number, number][]; area: number }[]")]
    pub fn find_beans_pixels(&self, rgba: Vec<u8>, width: u32, height: u32) -> Result<JsValue, JsValue> {
        let image = crate::preprocess::rgba_to_image(&rgba, width, height).map_err(js_error)?;
        to_js(&tray::detect::find_beans(&image))
    }

    /// A tray photo split for several workers: its beans found and cut out, as a [`TrayJob`]
    /// whose model inputs any worker can embed ([`embedInputs`]); [`finishTray`] labels them.
    #[wasm_bindgen(js_name = beginTrayPixels)]
    pub fn begin_tray_pixels(&self, rgba: Vec<u8>, width: u32, height: u32) -> Result<TrayJob, JsValue> {
        let image = crate::preprocess::rgba_to_image(&rgba, width, height).map_err(js_error)?;
        drop(rgba);
        Ok(self.begin(&image))
    }

    /// [`beginTrayPixels`] on photo bytes (the module's own decoder).
    #[wasm_bindgen(js_name = beginTray)]
    pub fn begin_tray(&self, photo: Vec<u8>) -> Result<TrayJob, JsValue> {
        let image = crate::preprocess::decode(&photo).map_err(js_error)?;
        Ok(self.begin(&image))
    }

    /// Embeddings of model inputs (`n × 3 × size × size`, as [`TrayJob::take_inputs`] gives),
    /// `n × dim` values, in batches.
    #[wasm_bindgen(js_name = embedInputs, unchecked_return_type = "Promise<Float32Array>")]
    pub fn embed_inputs(&self, inputs: Vec<f32>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let classifier = inner.borrow();
            let size = classifier.preprocess.input_size as usize;
            let per_bean = 3 * size * size;
            let mut out = Vec::with_capacity(inputs.len() / per_bean * classifier.model_config.embed_dim);
            // Checked before the first batch, so a wrong length costs no model time.
            if inputs.len() % per_bean != 0 {
                return Err(js_error(format!("{} values are not whole {size}×{size} model inputs", inputs.len())));
            }
            for batch in inputs.chunks(per_bean * tray::EMBED_BATCH) {
                out.extend(classifier.embed_tray_beans(batch.to_vec()).await.map_err(js_error)?);
            }
            Ok(js_sys::Float32Array::from(out.as_slice()).into())
        })
    }

    /// The tray of a [`TrayJob`] from its beans' embeddings (`count × dim` values, in bean
    /// order): labels, counts and grading, as [`classifyTray`] gives.
    #[wasm_bindgen(js_name = finishTray, unchecked_return_type = "Tray")]
    pub fn finish_tray(&self, job: &TrayJob, embeddings: Vec<f32>) -> Result<JsValue, JsValue> {
        let classifier = self.inner.borrow();
        let dim = classifier.model_config.embed_dim;
        if embeddings.len() != job.found.len() * dim {
            return Err(js_error(format!(
                "{} beans need {} embedding values, not {}",
                job.found.len(),
                job.found.len() * dim,
                embeddings.len()
            )));
        }
        // Each bean's embedding, then the traits read when it was cut out.
        let rows = embeddings.chunks(dim).zip(&job.traits).map(|(e, t)| [e, &t[..]].concat()).collect();
        let tray = tray::label_found(&classifier, job.width, job.height, job.found.clone(), rows).map_err(js_error)?;
        to_js(&tray)
    }

    /// SCA grading of per-class bean counts (after corrections or a new k / threshold).
    #[wasm_bindgen(js_name = gradeCounts, unchecked_return_type = "Grading")]
    pub fn grade_counts(
        &self,
        #[wasm_bindgen(unchecked_param_type = "[string, number][]")] counts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let counts: Vec<(String, u32)> = serde_wasm_bindgen::from_value(counts).map_err(js_error)?;
        to_js(&tray::grade::grade(&counts))
    }
}

impl Classifier {
    fn begin(&self, image: &image::RgbImage) -> TrayJob {
        let classifier = self.inner.borrow();
        let found = tray::detect::find_beans(image);
        let gains = crate::preprocess::photo_gains(image, &classifier.preprocess);
        let (inputs, traits): (Vec<Vec<f32>>, Vec<_>) =
            found.iter().map(|f| tray::bean_input(image, f, &classifier.preprocess, gains)).unzip();
        TrayJob { width: image.width(), height: image.height(), found, inputs: inputs.concat(), traits }
    }
}

/// A tray photo whose beans are found and cut out, waiting for their embeddings (made by any
/// worker of the page's pool). Free it (`free()`) once finished.
#[wasm_bindgen]
pub struct TrayJob {
    width: u32,
    height: u32,
    found: Vec<tray::detect::Found>,
    inputs: Vec<f32>,
    /// Each bean's traits ([`crate::traits`]), added to its embedding when the tray is finished.
    traits: Vec<[f32; crate::traits::TRAITS]>,
}

#[wasm_bindgen]
impl TrayJob {
    /// Beans found.
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> usize {
        self.found.len()
    }

    /// The beans' model inputs, `count × 3 × size × size`, bean after bean. Moved out: a second
    /// call gives an empty array.
    #[wasm_bindgen(js_name = takeInputs)]
    pub fn take_inputs(&mut self) -> js_sys::Float32Array {
        js_sys::Float32Array::from(std::mem::take(&mut self.inputs).as_slice())
    }
}
