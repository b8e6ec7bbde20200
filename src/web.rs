//! The browser API, generated into `www/pkg/beanscan.js` by wasm-bindgen. A thin wrapper: all
//! the work happens in [`crate::Classifier`], shared with the native binary.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::{Bundle, Error};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
export type Backend = 'auto' | 'webgpu' | 'cpu';
export interface ClassifierOptions { backend?: Backend }
export interface Neighbour { label: string; distance: number; id: string }
export interface Prediction {
  label: string; confidence: number; distance: number; unknown: boolean; neighbours: Neighbour[];
}
"#;

/// The module is built with panic = "abort": a panic ends in a trap whose JS error says only
/// "unreachable". Before that, the message goes to the console and to `beanscanPanic` on the
/// global object, where the worker reads it to tell the page what went wrong.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.to_string();
            let _ = Reflect::set(&js_sys::global(), &"beanscanPanic".into(), &message.as_str().into());
            web_sys::console::error_1(&message.as_str().into());
            previous(info);
        }));
    });
}

/// Panics inside the module on purpose, through the same hook as any other panic: the page tests
/// use it to check that a crash is reported and the worker restarted. Not part of the API.
#[wasm_bindgen(js_name = __panicForTesting)]
pub fn panic_for_testing(message: String) {
    install_panic_hook();
    panic!("{message}");
}

pub(crate) fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// Labels bean photos on this device. Create with `await Classifier.create({ backend })`.
#[wasm_bindgen]
pub struct Classifier {
    pub(crate) inner: Rc<RefCell<crate::Classifier>>,
    backend: String,
}

/// Whether `navigator.gpu.requestAdapter()` yields an adapter (works in windows and workers).
async fn webgpu_available() -> bool {
    let global = js_sys::global();
    let Ok(navigator) = Reflect::get(&global, &"navigator".into()) else { return false };
    let Ok(gpu) = Reflect::get(&navigator, &"gpu".into()) else { return false };
    if gpu.is_undefined() || gpu.is_null() {
        return false;
    }
    let Ok(request) = Reflect::get(&gpu, &"requestAdapter".into()).and_then(|f| f.dyn_into::<js_sys::Function>())
    else {
        return false;
    };
    let Ok(promise) = request.call0(&gpu).and_then(|p| p.dyn_into::<Promise>()) else { return false };
    matches!(JsFuture::from(promise).await, Ok(adapter) if !adapter.is_null() && !adapter.is_undefined())
}

async fn device_for(backend: &str) -> Result<(Device, &'static str), JsValue> {
    let webgpu = || async {
        Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| js_error(format!("WebGPU could not start: {e:?}")))
    };
    match backend {
        "cpu" => Ok((Device::flex(), "cpu")),
        "webgpu" => {
            if !webgpu_available().await {
                return Err(js_error("WebGPU is not available in this browser"));
            }
            Ok((webgpu().await?, "webgpu"))
        }
        "auto" => {
            if webgpu_available().await {
                if let Ok(device) = webgpu().await {
                    return Ok((device, "webgpu"));
                }
            }
            Ok((Device::flex(), "cpu"))
        }
        other => Err(js_error(format!("unknown backend `{other}`: use 'auto', 'webgpu' or 'cpu'"))),
    }
}

impl Classifier {
    /// [`Classifier::create`] for Rust callers (and tests).
    pub async fn open(options: JsValue) -> Result<Classifier, JsValue> {
        install_panic_hook();
        let backend = if options.is_object() {
            Reflect::get(&options, &"backend".into()).ok().and_then(|v| v.as_string())
        } else {
            None
        };
        let (device, name) = device_for(backend.as_deref().unwrap_or("auto")).await?;
        let bundle = Bundle::embedded().map_err(js_error)?;
        let inner = crate::Classifier::new(bundle, device).map_err(js_error)?;
        Ok(Classifier { inner: Rc::new(RefCell::new(inner)), backend: name.into() })
    }
}

#[wasm_bindgen]
impl Classifier {
    /// Loads the bundle built into the module on the requested backend (default 'auto').
    #[wasm_bindgen(unchecked_return_type = "Promise<Classifier>")]
    pub fn create(#[wasm_bindgen(unchecked_param_type = "ClassifierOptions | undefined")] options: JsValue) -> Promise {
        future_to_promise(async move { Ok(Self::open(options).await?.into()) })
    }

    /// The backend actually running: "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    #[wasm_bindgen(getter, js_name = bundleVersion)]
    pub fn bundle_version(&self) -> String {
        self.inner.borrow().version.clone()
    }

    #[wasm_bindgen(js_name = classNames)]
    pub fn class_names(&self) -> Vec<String> {
        self.inner.borrow().class_names.clone()
    }

    /// Labels one photo (JPEG, PNG, WebP or GIF bytes); rejects with a message saying what is
    /// wrong with the file and what to do.
    #[wasm_bindgen(unchecked_return_type = "Promise<Prediction>")]
    pub fn classify(&self, photo: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let classifier = inner.borrow();
            let prediction = classifier.classify(&photo).await.map_err(js_error)?;
            serde_wasm_bindgen::to_value(&prediction).map_err(js_error)
        })
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
        self.inner.try_borrow_mut().map_err(|_| js_error(Error::Index("busy: try again".into())))?.k = k.max(1);
        Ok(())
    }

    /// Distance beyond which a photo is reported as unknown.
    #[wasm_bindgen(getter)]
    pub fn threshold(&self) -> f32 {
        self.inner.borrow().threshold
    }

    #[wasm_bindgen(js_name = setThreshold)]
    pub fn set_threshold(&self, threshold: f32) -> Result<(), JsValue> {
        self.inner.try_borrow_mut().map_err(|_| js_error(Error::Index("busy: try again".into())))?.threshold = threshold;
        Ok(())
    }
}
