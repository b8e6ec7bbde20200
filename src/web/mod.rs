//! The browser API, generated into `www/pkg/beanscan.js` by wasm-bindgen. A thin wrapper: all
//! the work happens in [`crate::Classifier`], shared with the native binary.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::{Bundle, Error, Prediction};

mod library;
mod panic;
mod tray;

use panic::install_panic_hook;

/// `initThreadPool(n)`: the rayon pool of `n` Web Workers the CPU kernels split their work over
/// (the `wasm-threads` build only).
#[cfg(feature = "wasm-threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
export type Backend = 'auto' | 'webgpu' | 'cpu';
/** `bundle`: a .beanscan file's bytes; without it, the bundle built into the module (the page's
 * modules have none built in: they are given www/pkg/default.beanscan). */
export interface ClassifierOptions { backend?: Backend; bundle?: Uint8Array }
/** `added`: a reference added at run time (addReference / importReferences, or pulled from the
 * shared library), not a bundled one; `shared`: another grader's, from the shared library. */
export interface Neighbour { label: string; distance: number; id: string; added: boolean; shared: boolean }
/** `normal_probability`: once your confirmed beans hold Normal and defect beans, the
 * Normal-vs-defect gate fitted on the references decides the side; this is its probability of Normal.
 * `defect_probability`: once they hold two kinds of defect, a head fitted on the defect references
 * names a defect; this is its probability of the defect named. */
export interface Prediction {
  label: string; confidence: number; distance: number; unknown: boolean; neighbours: Neighbour[];
  normal_probability?: number; defect_probability?: number;
}
/** A labelled photo with its embedding, so that `label(embedding)` can re-label it later
 * (after setK / setThreshold / addReference) without embedding the photo again. */
export interface LabelledPhoto extends Prediction { embedding: Float32Array }
export interface AddedReference { id: string; label: string }
"#;

unsafe extern "C" {
    /// The module's static constructors (linker-made; they fill the registries of the WebGPU
    /// kernel compiler's crates).
    fn __wasm_call_ctors();
}

/// Runs the static constructors once. Calling them from our code also tells the linker they are
/// taken care of: otherwise it wraps every export in a call to them, and each call into the
/// module (every getter, every JS object the module makes) paid for all of them again: tens of
/// milliseconds per label, seconds per tray.
fn run_static_constructors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the linker's constructor function, run once, before the WebGPU compiler is used.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

/// At instantiation, where the host runs start functions (the page does, through wasm-bindgen).
#[wasm_bindgen(start)]
fn start() {
    run_static_constructors();
}

pub(crate) fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

pub(crate) fn busy() -> JsValue {
    js_error(Error::Index("busy: try again".into()))
}

/// The prediction as a plain JS object, with the embedding it was made from.
fn labelled(prediction: &Prediction, embedding: &[f32]) -> Result<JsValue, JsValue> {
    let value = serde_wasm_bindgen::to_value(prediction).map_err(js_error)?;
    Reflect::set(&value, &"embedding".into(), &js_sys::Float32Array::from(embedding).into())?;
    Ok(value)
}

/// Labels bean photos on this device. Create with `await Classifier.create({ backend })`.
#[wasm_bindgen]
pub struct Classifier {
    pub(crate) inner: Rc<RefCell<crate::Classifier>>,
    backend: String,
    backend_reason: String,
}

/// What `navigator.gpu.requestAdapter()` yields (works in windows and workers).
enum Adapter {
    None,
    /// A software adapter (SwiftShader, say): far slower than the CPU path. The name says which.
    Fallback(String),
    Hardware(String),
}

async fn webgpu_adapter() -> Adapter {
    let global = js_sys::global();
    let Ok(navigator) = Reflect::get(&global, &"navigator".into()) else { return Adapter::None };
    let Ok(gpu) = Reflect::get(&navigator, &"gpu".into()) else { return Adapter::None };
    if gpu.is_undefined() || gpu.is_null() {
        return Adapter::None;
    }
    let Ok(request) = Reflect::get(&gpu, &"requestAdapter".into()).and_then(|f| f.dyn_into::<js_sys::Function>()) else {
        return Adapter::None;
    };
    let Ok(promise) = request.call0(&gpu).and_then(|p| p.dyn_into::<Promise>()) else { return Adapter::None };
    let adapter = match JsFuture::from(promise).await {
        Ok(a) if !a.is_null() && !a.is_undefined() => a,
        _ => return Adapter::None,
    };
    let info = Reflect::get(&adapter, &"info".into()).unwrap_or(JsValue::UNDEFINED);
    let text = |o: &JsValue, key: &str| Reflect::get(o, &key.into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    let name = [text(&info, "vendor"), text(&info, "architecture"), text(&info, "description")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // `info.isFallbackAdapter` in current browsers, `adapter.isFallbackAdapter` in older ones.
    let flag = |o: &JsValue| Reflect::get(o, &"isFallbackAdapter".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false);
    if flag(&info) || flag(&adapter) { Adapter::Fallback(name) } else { Adapter::Hardware(name) }
}

/// The WebGPU device: only in modules built with the `webgpu` feature (the page serves the
/// CPU-only module to devices without a hardware adapter).
async fn webgpu() -> Result<Device, JsValue> {
    #[cfg(feature = "webgpu")]
    return Device::wgpu_options().init_async().await.map_err(|e| js_error(format!("WebGPU could not start: {e:?}")));
    #[cfg(not(feature = "webgpu"))]
    Err(js_error("this is the CPU-only module (no WebGPU in it): load pkg/beanscan.js for WebGPU"))
}

async fn device_for(backend: &str) -> Result<(Device, &'static str, String), JsValue> {
    let named = |name: &str| if name.is_empty() { String::new() } else { format!(" ({name})") };
    match backend {
        "cpu" => Ok((Device::flex(), "cpu", "CPU asked for".into())),
        "webgpu" => match webgpu_adapter().await {
            Adapter::None => Err(js_error("WebGPU is not available in this browser")),
            Adapter::Fallback(name) | Adapter::Hardware(name) => {
                Ok((webgpu().await?, "webgpu", format!("WebGPU asked for{}", named(&name))))
            }
        },
        // A software adapter is skipped: it runs the model tens of times slower than the CPU path.
        "auto" => match webgpu_adapter().await {
            Adapter::None => Ok((Device::flex(), "cpu", "no WebGPU in this browser".into())),
            Adapter::Fallback(name) => {
                Ok((Device::flex(), "cpu", format!("the WebGPU adapter is a software fallback{}", named(&name))))
            }
            Adapter::Hardware(name) => match webgpu().await {
                Ok(device) => Ok((device, "webgpu", format!("WebGPU adapter{}", named(&name)))),
                Err(e) => Ok((Device::flex(), "cpu", format!("WebGPU did not start: {}", e.as_string().unwrap_or_default()))),
            },
        },
        other => Err(js_error(format!("unknown backend `{other}`: use 'auto', 'webgpu' or 'cpu'"))),
    }
}

impl Classifier {
    /// [`Classifier::create`] for Rust callers (and tests).
    pub async fn open(options: JsValue) -> Result<Classifier, JsValue> {
        // Also here: a test harness may not run start functions.
        run_static_constructors();
        install_panic_hook();
        let backend =
            if options.is_object() { Reflect::get(&options, &"backend".into()).ok().and_then(|v| v.as_string()) } else { None };
        let (device, name, reason) = device_for(backend.as_deref().unwrap_or("auto")).await?;
        // `options.bundle`: a .beanscan file's bytes (the page's modules have none built in).
        let bytes = if options.is_object() { Reflect::get(&options, &"bundle".into())? } else { JsValue::UNDEFINED };
        let bundle = if bytes.is_undefined() || bytes.is_null() {
            Bundle::embedded()
        } else {
            let bytes = bytes
                .dyn_into::<js_sys::Uint8Array>()
                .map_err(|_| js_error("options.bundle must be a Uint8Array (the bytes of a .beanscan file)"))?;
            Bundle::from_bytes(&bytes.to_vec())
        }
        .map_err(js_error)?;
        let inner = crate::Classifier::new(bundle, device).map_err(js_error)?;
        Ok(Classifier { inner: Rc::new(RefCell::new(inner)), backend: name.into(), backend_reason: reason })
    }
}

#[wasm_bindgen]
impl Classifier {
    /// Loads `options.bundle` (a .beanscan file's bytes), or the bundle built into the module,
    /// on the requested backend (default 'auto').
    #[wasm_bindgen(unchecked_return_type = "Promise<Classifier>")]
    pub fn create(#[wasm_bindgen(unchecked_param_type = "ClassifierOptions | undefined")] options: JsValue) -> Promise {
        future_to_promise(async move { Ok(Self::open(options).await?.into()) })
    }

    /// The backend actually running: "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Why that backend runs, for the status line: e.g. "the WebGPU adapter is a software
    /// fallback (google swiftshader)", "no WebGPU in this browser", "WebGPU adapter (nvidia …)".
    #[wasm_bindgen(getter, js_name = backendReason)]
    pub fn backend_reason(&self) -> String {
        self.backend_reason.clone()
    }

    #[wasm_bindgen(getter, js_name = bundleVersion)]
    pub fn bundle_version(&self) -> String {
        self.inner.borrow().version.clone()
    }

    #[wasm_bindgen(js_name = classNames)]
    pub fn class_names(&self) -> Vec<String> {
        self.inner.borrow().class_names.clone()
    }

    /// Labels one photo (JPEG, PNG, WebP or GIF bytes, decoded here); rejects with a message
    /// saying what is wrong with the file and what to do.
    #[wasm_bindgen(unchecked_return_type = "Promise<LabelledPhoto>")]
    pub fn classify(&self, photo: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let classifier = inner.borrow();
            let embedding = classifier.embed_photo(&photo).await.map_err(js_error)?;
            labelled(&classifier.label(&embedding).map_err(js_error)?, &embedding)
        })
    }

    /// Labels pixels the browser decoded: 8-bit RGBA rows, upright (`createImageBitmap` with
    /// `imageOrientation: 'from-image'` → canvas `getImageData`). Cropped, resized and normalised
    /// exactly as `classify` does after its own decoding.
    #[wasm_bindgen(js_name = classifyPixels, unchecked_return_type = "Promise<LabelledPhoto>")]
    pub fn classify_pixels(&self, rgba: Vec<u8>, width: u32, height: u32) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let classifier = inner.borrow();
            let embedding = classifier.embed_pixels(&rgba, width, height).await.map_err(js_error)?;
            labelled(&classifier.label(&embedding).map_err(js_error)?, &embedding)
        })
    }

    /// The checks `classify` makes on a file before decoding it (format, complete file, size
    /// limits), without decoding: throws the same message `classify` would. Call it before
    /// letting the browser decode a file the browser would accept but beanscan refuses.
    #[wasm_bindgen(js_name = checkPhoto)]
    pub fn check_photo(&self, photo: &[u8]) -> Result<(), JsValue> {
        crate::preprocess::check(photo).map_err(js_error)
    }

    /// Re-labels an embedding from `classify` with the current k, threshold and references.
    #[wasm_bindgen(unchecked_return_type = "Prediction")]
    pub fn label(&self, embedding: &[f32]) -> Result<JsValue, JsValue> {
        self.relabel(embedding, crate::Classifier::label)
    }

    /// Re-labels a tray bean's embedding (from `classifyTray`) with the current k, tray threshold
    /// and references.
    #[wasm_bindgen(js_name = labelTrayBean, unchecked_return_type = "Prediction")]
    pub fn label_tray_bean(&self, embedding: &[f32]) -> Result<JsValue, JsValue> {
        self.relabel(embedding, crate::Classifier::label_tray_bean)
    }

    /// "Teach beanscan your camera": up to `n` of these beans (as `classify` gives them, or
    /// embeddings alone; e.g. the shown beans not yet confirmed), best to confirm first
    /// ([`crate::teach::propose`], against this device's own and shared references): their
    /// indices. Throws on a bean not of this model's size.
    #[wasm_bindgen(js_name = proposeToConfirm)]
    pub fn propose_to_confirm(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Embeddings")] embeddings: JsValue,
        n: usize,
    ) -> Result<Vec<u32>, JsValue> {
        let classifier = self.inner.try_borrow().map_err(|_| busy())?;
        let beans = library::embeddings_alone(&embeddings, classifier.model_config.embed_dim)?;
        let beans: Vec<&[f32]> = beans.iter().map(Vec::as_slice).collect();
        let (own, shared) = (&classifier.index.added, &classifier.index.shared);
        let confirmed: Vec<&[f32]> = (0..own.len()).map(|r| own.row(r)).chain((0..shared.len()).map(|r| shared.row(r))).collect();
        Ok(crate::teach::propose(&beans, &confirmed, n).into_iter().map(|i| i as u32).collect())
    }

    fn relabel(
        &self,
        embedding: &[f32],
        label: fn(&crate::Classifier, &[f32]) -> crate::Result<Prediction>,
    ) -> Result<JsValue, JsValue> {
        let classifier = self.inner.try_borrow().map_err(|_| busy())?;
        serde_wasm_bindgen::to_value(&label(&classifier, embedding).map_err(js_error)?).map_err(js_error)
    }

    /// Embedding of browser-decoded RGBA pixels (see `classifyPixels`).
    #[wasm_bindgen(js_name = embedPixels, unchecked_return_type = "Promise<Float32Array>")]
    pub fn embed_pixels(&self, rgba: Vec<u8>, width: u32, height: u32) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let classifier = inner.borrow();
            let embedding = classifier.embed_pixels(&rgba, width, height).await.map_err(js_error)?;
            Ok(js_sys::Float32Array::from(embedding.as_slice()).into())
        })
    }

    /// Replaces the model, classes and references with a bundle file (e.g. one made with
    /// `beanscan train`). A bad file is refused with a message and the current bundle stays.
    /// Added references stay only if the new bundle has the same model.
    #[wasm_bindgen(js_name = loadBundle)]
    pub fn load_bundle(&self, bytes: &[u8]) -> Result<(), JsValue> {
        let bundle = Bundle::from_bytes(bytes).map_err(js_error)?;
        self.inner.try_borrow_mut().map_err(|_| busy())?.replace_bundle(bundle).map_err(js_error)
    }

    /// Adds a reference bean: photo bytes (embedded here) or an embedding from `classify`, under
    /// one of `classNames()`. Resolves to its id. It joins every later vote (exact scan).
    #[wasm_bindgen(js_name = addReference, unchecked_return_type = "Promise<string>")]
    pub fn add_reference(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Float32Array")] source: JsValue,
        label: String,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let embedding = if let Some(e) = source.dyn_ref::<js_sys::Float32Array>() {
                e.to_vec()
            } else if let Some(photo) = source.dyn_ref::<js_sys::Uint8Array>() {
                let photo = photo.to_vec();
                let classifier = inner.borrow();
                classifier.embed_photo(&photo).await.map_err(js_error)?
            } else {
                return Err(js_error("addReference takes photo bytes (Uint8Array) or an embedding (Float32Array)"));
            };
            let id = inner.try_borrow_mut().map_err(|_| busy())?.add_reference(&embedding, &label).map_err(js_error)?;
            Ok(id.into())
        })
    }

    /// Removes an added reference; false when there is none with this id.
    #[wasm_bindgen(js_name = removeReference)]
    pub fn remove_reference(&self, id: &str) -> Result<bool, JsValue> {
        Ok(self.inner.try_borrow_mut().map_err(|_| busy())?.remove_reference(id))
    }

    /// The added references (id and class), oldest first.
    #[wasm_bindgen(js_name = addedReferences, unchecked_return_type = "AddedReference[]")]
    pub fn added_references(&self) -> Result<JsValue, JsValue> {
        let classifier = self.inner.try_borrow().map_err(|_| busy())?;
        let added = &classifier.index.added;
        let list = js_sys::Array::new();
        for (id, &label) in added.ids.iter().zip(&added.labels) {
            let item = js_sys::Object::new();
            Reflect::set(&item, &"id".into(), &id.as_str().into())?;
            let name = classifier.class_names.get(usize::from(label)).cloned().unwrap_or_default();
            Reflect::set(&item, &"label".into(), &name.into())?;
            list.push(&item);
        }
        Ok(list.into())
    }

    /// The added references as a file (versioned, checksummed; names the model and classes).
    #[wasm_bindgen(js_name = exportReferences)]
    pub fn export_references(&self) -> Result<Vec<u8>, JsValue> {
        self.inner.try_borrow().map_err(|_| busy())?.export_references().map_err(js_error)
    }

    /// Adds the references of an exported file; resolves how many it held. A foreign or corrupt
    /// file, or one made with another model or other classes, is refused with a message and
    /// changes nothing.
    #[wasm_bindgen(js_name = importReferences)]
    pub fn import_references(&self, bytes: &[u8]) -> Result<usize, JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())?.import_references(bytes).map_err(js_error)
    }

    /// Identifies the loaded model (a checksum of its weights); references are tied to it.
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.inner.borrow().model_id.clone()
    }

    /// The photo's L2-normalised embedding.
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array>")]
    pub fn embed(&self, photo: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let classifier = inner.borrow();
            let embedding = classifier.embed_photo(&photo).await.map_err(js_error)?;
            Ok(js_sys::Float32Array::from(embedding.as_slice()).into())
        })
    }

    /// Neighbours that vote.
    #[wasm_bindgen(getter)]
    pub fn k(&self) -> usize {
        self.inner.borrow().k
    }

    #[wasm_bindgen(js_name = setK)]
    pub fn set_k(&self, k: usize) -> Result<(), JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())?.k = k.max(1);
        Ok(())
    }

    /// Flips/turns each photo's embedding averages over (the bundle's default until set).
    #[wasm_bindgen(getter)]
    pub fn views(&self) -> u8 {
        self.inner.borrow().views()
    }

    /// 1, 2, 4 or 8 passes through the network per photo; embeddings already made keep theirs.
    #[wasm_bindgen(js_name = setViews)]
    pub fn set_views(&self, views: u8) -> Result<(), JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())?.set_views(views).map_err(js_error)
    }

    /// The same for each bean of a tray (1 until set).
    #[wasm_bindgen(getter, js_name = trayViews)]
    pub fn tray_views(&self) -> u8 {
        self.inner.borrow().tray_views()
    }

    #[wasm_bindgen(js_name = setTrayViews)]
    pub fn set_tray_views(&self, views: u8) -> Result<(), JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())?.set_tray_views(views).map_err(js_error)
    }

    /// Whether only the references added at run time vote (this device's own and the shared
    /// library's), not the bundle's.
    #[wasm_bindgen(getter, js_name = addedOnly)]
    pub fn added_only(&self) -> bool {
        self.inner.borrow().added_only
    }

    /// Votes among the added references only (`true`: one's own and the shared library's) or
    /// among all (`false`); refused while there is none.
    #[wasm_bindgen(js_name = setAddedOnly)]
    pub fn set_added_only(&self, on: bool) -> Result<(), JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())?.set_added_only(on).map_err(js_error)
    }

    /// Distance beyond which a single-bean photo is reported as unknown.
    #[wasm_bindgen(getter)]
    pub fn threshold(&self) -> f32 {
        self.inner.borrow().threshold
    }

    #[wasm_bindgen(js_name = setThreshold)]
    pub fn set_threshold(&self, threshold: f32) -> Result<(), JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())?.threshold = distance(threshold)?;
        Ok(())
    }

    /// Distance beyond which a bean of a tray photo is reported as unknown (the bundle's own for
    /// tray beans, or its single-bean one when it has none).
    #[wasm_bindgen(getter, js_name = trayThreshold)]
    pub fn tray_threshold(&self) -> f32 {
        self.inner.borrow().tray_threshold
    }

    #[wasm_bindgen(js_name = setTrayThreshold)]
    pub fn set_tray_threshold(&self, threshold: f32) -> Result<(), JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())?.tray_threshold = distance(threshold)?;
        Ok(())
    }
}

/// A threshold as the user set it: a finite distance of 0 or more.
fn distance(threshold: f32) -> Result<f32, JsValue> {
    if !threshold.is_finite() || threshold < 0.0 {
        return Err(js_error(format!("threshold {threshold}: use a distance of 0 or more")));
    }
    Ok(threshold)
}
