//! The browser API for the shared reference library (a Qdrant collection the page reaches with
//! `fetch`): the request bodies and the checks of the server's answers, all from
//! [`crate::library`], so the page never builds or checks a point itself. No I/O here.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{Classifier, busy, js_error};
use crate::library::{self, SharedReference};
use crate::traits::TRAITS;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A reference bean as a point of the shared library (times: ms since 1970). */
export interface SharedReference {
  ref_id: string; label: string; embedding: number[]; model_id: string;
  grader: string; device: string; site: string; created_at: number; updated_at: number; deleted: boolean;
}
/** A checked scroll page: its references, where the next page starts (null: the last page), and
 * where the next pull may restart (`since` given, moved on by this page's newest change). */
export interface LibraryPage { references: SharedReference[]; nextOffset: string | null; since: number | null }
export interface SharedReferenceInfo { id: string; label: string }
/** Beans' embeddings: each `Float32Array` (or `number[]`) of the model's size. */
export type Embeddings = (Float32Array | number[])[];
"#;

/// Plain JS objects and arrays (no `Map`s).
fn to_js(value: &impl Serialize) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_error)
}

/// Shared references from JS. The library shares embeddings, not the traits a bean of this
/// module carries after its embedding ([`crate::Classifier::split_bean`]): they are dropped.
fn references_of(value: JsValue, dim: usize) -> Result<Vec<SharedReference>, JsValue> {
    let mut references: Vec<SharedReference> = serde_wasm_bindgen::from_value(value)
        .map_err(|e| js_error(format!("not a list of shared references (ref_id, label, embedding, model_id, …): {e}")))?;
    for r in &mut references {
        drop_traits(&mut r.embedding, dim);
    }
    Ok(references)
}

/// A bean as `classify` gives it (embedding, then traits) cut to its embedding; an embedding
/// alone is left as it is.
fn drop_traits(bean: &mut Vec<f32>, dim: usize) {
    if bean.len() == dim + TRAITS {
        bean.truncate(dim);
    }
}

/// Beans from JS (see [`embeddings_of`]) cut to their embeddings: what the library and the
/// proposal of beans to confirm compare.
pub(super) fn embeddings_alone(value: &JsValue, dim: usize) -> Result<Vec<Vec<f32>>, JsValue> {
    let mut beans = embeddings_of(value, dim)?;
    for bean in &mut beans {
        drop_traits(bean, dim);
    }
    Ok(beans)
}

/// Beans from JS (a list of `Float32Array`s or number lists), each of `dim` finite values or
/// `dim` and the bean's traits.
fn embeddings_of(value: &JsValue, dim: usize) -> Result<Vec<Vec<f32>>, JsValue> {
    let list = value.dyn_ref::<js_sys::Array>().ok_or_else(|| js_error("not a list of embeddings"))?;
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let row: Vec<f32> = if let Some(values) = item.dyn_ref::<js_sys::Float32Array>() {
                values.to_vec()
            } else if let Some(values) = item.dyn_ref::<js_sys::Array>() {
                values
                    .iter()
                    .map(|v| v.as_f64().map(|x| x as f32))
                    .collect::<Option<_>>()
                    .ok_or_else(|| js_error(format!("embedding {} holds something that is not a number", i + 1)))?
            } else {
                return Err(js_error(format!("embedding {} is not a Float32Array", i + 1)));
            };
            if row.len() != dim && row.len() != dim + TRAITS {
                return Err(js_error(format!("embedding {} has {} values; this model makes {dim}", i + 1, row.len())));
            }
            if row.iter().any(|v| !v.is_finite()) {
                return Err(js_error(format!("embedding {} holds a value that is not a finite number", i + 1)));
            }
            Ok(row)
        })
        .collect()
}

/// A time from JS (ms since 1970): a whole number of 0 or more.
fn millis(value: Option<f64>) -> Result<Option<i64>, JsValue> {
    match value {
        Some(t) if !(t.is_finite() && t >= 0.0 && t.fract() == 0.0) => Err(js_error(format!("{t} is not a time in ms"))),
        other => Ok(other.map(|t| t as i64)),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LibraryPage {
    references: Vec<SharedReference>,
    next_offset: Option<String>,
    since: Option<i64>,
}

#[derive(Serialize)]
struct SharedReferenceInfo {
    id: String,
    label: String,
}

#[wasm_bindgen]
impl Classifier {
    /// The collection's name unless one is given (`beanscan-references`).
    #[wasm_bindgen(getter, js_name = libraryCollection)]
    pub fn library_collection(&self) -> String {
        library::DEFAULT_COLLECTION.into()
    }

    /// References per upsert and per scroll page.
    #[wasm_bindgen(getter, js_name = libraryPageSize)]
    pub fn library_page_size(&self) -> usize {
        library::PAGE_SIZE
    }

    /// The largest answer the library may send; read no more than one byte beyond it.
    #[wasm_bindgen(getter, js_name = libraryMaxAnswerBytes)]
    pub fn library_max_answer_bytes(&self) -> usize {
        library::MAX_ANSWER_BYTES
    }

    /// The point id of one of this model's references (the same on every device).
    #[wasm_bindgen(js_name = libraryPointId)]
    pub fn library_point_id(&self, ref_id: &str) -> String {
        library::point_id(&self.inner.borrow().model_id, ref_id)
    }

    /// `PUT /collections/NAME`'s body (JSON text): vectors of this model's size, Euclidean.
    #[wasm_bindgen(js_name = libraryCreateBody)]
    pub fn library_create_body(&self) -> String {
        library::create_collection_body(self.inner.borrow().model_config.embed_dim, None).to_string()
    }

    /// `PUT /collections/NAME/index`'s bodies, one per payload index.
    #[wasm_bindgen(js_name = libraryIndexBodies)]
    pub fn library_index_bodies(&self) -> Vec<String> {
        library::payload_index_bodies().iter().map(ToString::to_string).collect()
    }

    /// `PUT /collections/NAME/points?wait=true`'s body for at most `libraryPageSize` references,
    /// each checked as a pulled point would be (this model, its size and classes): throws on one
    /// the library would refuse.
    #[wasm_bindgen(js_name = libraryUpsertBody)]
    pub fn library_upsert_body(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SharedReference[]")] references: JsValue,
    ) -> Result<String, JsValue> {
        let classifier = self.inner.try_borrow().map_err(|_| busy())?;
        let references = references_of(references, classifier.model_config.embed_dim)?;
        if references.len() > library::PAGE_SIZE {
            return Err(js_error(format!("{} references in one upsert; at most {}", references.len(), library::PAGE_SIZE)));
        }
        let expect = classifier.library_expect();
        for r in &references {
            library::check_reference(r, &expect).map_err(js_error)?;
        }
        Ok(library::upsert_body(&references).to_string())
    }

    /// `POST /collections/NAME/points/scroll`'s body: this model's points changed at or after
    /// `since` (ms; undefined: all), from `offset` (the previous page's `nextOffset`).
    #[wasm_bindgen(js_name = libraryScrollBody)]
    pub fn library_scroll_body(&self, since: Option<f64>, offset: Option<String>) -> Result<String, JsValue> {
        Ok(library::scroll_body(&self.inner.borrow().model_id, millis(since)?, offset.as_deref()).to_string())
    }

    /// Checks `GET /collections/NAME`'s answer (its bytes): vectors of this model's size,
    /// Euclidean. Throws the reason otherwise.
    #[wasm_bindgen(js_name = checkLibraryCollection)]
    pub fn check_library_collection(&self, answer: &[u8]) -> Result<(), JsValue> {
        library::check_collection(answer, self.inner.borrow().model_config.embed_dim).map_err(js_error)
    }

    /// Checks a scroll answer (its bytes) like a file from outside: every point of this model,
    /// its size, finite unit-length values, a known label, sane texts, the right point id. The
    /// whole page is refused (throws the reason) if one point is wrong. `since`: where this pull
    /// restarted; the answer's `since` is where the next one may (not moved back).
    #[wasm_bindgen(js_name = acceptLibraryPage, unchecked_return_type = "LibraryPage")]
    pub fn accept_library_page(&self, answer: &[u8], since: Option<f64>) -> Result<JsValue, JsValue> {
        let since = millis(since)?;
        let classifier = self.inner.try_borrow().map_err(|_| busy())?;
        let page = library::parse_scroll(answer, &classifier.library_expect()).map_err(js_error)?;
        let since = library::next_since(&page.references, since);
        to_js(&LibraryPage { references: page.references, next_offset: page.next_offset, since })
    }

    /// Lets pulled references vote (checked again: they may come from storage): each replaces
    /// the point of the same id, a tombstone removes it, one of this device's own is left out.
    /// Returns how many shared references vote now. A wrong one throws and changes nothing.
    #[wasm_bindgen(js_name = applySharedReferences)]
    pub fn apply_shared_references(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SharedReference[]")] references: JsValue,
    ) -> Result<usize, JsValue> {
        let mut classifier = self.inner.try_borrow_mut().map_err(|_| busy())?;
        let references = references_of(references, classifier.model_config.embed_dim)?;
        {
            let expect = classifier.library_expect();
            for r in &references {
                library::check_reference(r, &expect).map_err(js_error)?;
            }
        }
        classifier.apply_shared(&references).map_err(js_error)
    }

    /// Drops every shared reference (the library was switched off or changed).
    #[wasm_bindgen(js_name = clearSharedReferences)]
    pub fn clear_shared_references(&self) -> Result<(), JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())?.clear_shared();
        Ok(())
    }

    /// The shared references that vote now: point id and class.
    #[wasm_bindgen(js_name = sharedReferences, unchecked_return_type = "SharedReferenceInfo[]")]
    pub fn shared_references(&self) -> Result<JsValue, JsValue> {
        let classifier = self.inner.try_borrow().map_err(|_| busy())?;
        let shared = &classifier.index.shared;
        let name = |label: u16| classifier.class_names.get(usize::from(label)).cloned().unwrap_or_default();
        let list: Vec<_> = shared
            .ids
            .iter()
            .zip(&shared.labels)
            .map(|(id, &label)| SharedReferenceInfo { id: id.clone(), label: name(label) })
            .collect();
        to_js(&list)
    }

    /// How many shared references vote now.
    #[wasm_bindgen(getter, js_name = sharedReferenceCount)]
    pub fn shared_reference_count(&self) -> usize {
        self.inner.borrow().index.shared.len()
    }

    /// Above this many live references of the model (20,000) a phone stops keeping the library
    /// and, online, asks the server for each bean's nearest (`librarySearchBody`,
    /// `labelWithSharedHits`); offline it votes with the references it kept.
    #[wasm_bindgen(getter, js_name = libraryLocalMax)]
    pub fn library_local_max(&self) -> usize {
        library::LOCAL_MAX
    }

    /// `POST /collections/NAME/points/count`'s body: this model's live references, counted exactly.
    #[wasm_bindgen(js_name = libraryCountBody)]
    pub fn library_count_body(&self) -> String {
        library::count_body(&self.inner.borrow().model_id).to_string()
    }

    /// Checks a count answer (its bytes); the count, or throws why it was refused.
    #[wasm_bindgen(js_name = parseLibraryCount)]
    pub fn parse_library_count(&self, answer: &[u8]) -> Result<usize, JsValue> {
        library::parse_count(answer).map_err(js_error)
    }

    /// `POST /collections/NAME/points/search/batch`'s body: for each bean (a photo's, or every
    /// bean of a tray), the classifier's current k nearest live references of this model, with
    /// the payload the vote needs and no vectors. Throws on an embedding not of this model's size.
    #[wasm_bindgen(js_name = librarySearchBody)]
    pub fn library_search_body(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Embeddings")] embeddings: JsValue,
    ) -> Result<String, JsValue> {
        let classifier = self.inner.try_borrow().map_err(|_| busy())?;
        let embeddings = embeddings_alone(&embeddings, classifier.model_config.embed_dim)?;
        Ok(library::search_batch_body(&classifier.model_id, &embeddings, classifier.k).to_string())
    }

    /// Labels the beans asked about with `librarySearchBody` (same embeddings, same order) from
    /// the server's answer (its bytes): the hits of each bean vote with the bundle's and this
    /// device's own references, as `label` (`tray`: `labelTrayBean`) would with the library kept
    /// here — same k, threshold and *my references only*; the shared references kept here are
    /// left out, and a hit that is one of this device's own is not counted twice. The answer is
    /// checked like a pulled page (each hit's model, label, id, live, distance 0–2, nearest
    /// first, one list per bean): one bad hit throws why and labels nothing.
    #[wasm_bindgen(js_name = labelWithSharedHits, unchecked_return_type = "Prediction[]")]
    pub fn label_with_shared_hits(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Embeddings")] embeddings: JsValue,
        answer: &[u8],
        tray: bool,
    ) -> Result<JsValue, JsValue> {
        let classifier = self.inner.try_borrow().map_err(|_| busy())?;
        let embeddings = embeddings_of(&embeddings, classifier.model_config.embed_dim)?;
        let hits = library::parse_search_batch(answer, &classifier.library_expect(), embeddings.len()).map_err(js_error)?;
        let predictions = embeddings
            .iter()
            .zip(&hits)
            .map(|(embedding, found)| classifier.label_with_shared_hits(embedding, found, tray))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(js_error)?;
        to_js(&predictions)
    }
}
