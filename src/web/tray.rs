//! The browser API for tray photos: find, label and count every bean, on the classifier's backend.

use js_sys::Promise;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::tray;
use super::{Classifier, js_error};

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
  counts: [string, number][]; unknown: number; defect_percent: number; grading: Grading;
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
