//! beanscan: label coffee-bean photos by k-nearest neighbours in a learned embedding space.
//!
//! The same modules run in the native companion binary (training, evaluation, export) and in the
//! browser (wasm32): one preprocessing path, one model definition, one bundle format.

pub mod bundle;
pub mod classifier;
pub mod defect_head;
pub mod depthwise;
pub mod error;
pub mod framing;
pub mod gate;
pub mod index;
pub mod lbfgs;
pub mod library;
pub mod lite0;
pub mod model;
pub mod notice;
pub mod plain_background;
pub mod preprocess;
pub mod quant;
pub mod references;
pub mod teach;
pub mod traits;
pub mod tray;
pub mod views;

#[cfg(not(target_arch = "wasm32"))]
pub mod eval;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use bundle::Bundle;
pub use classifier::{Classifier, Prediction};
pub use error::{Error, Result};
