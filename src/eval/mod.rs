//! Native-only evaluation, used by the CLI (not by training): classification and retrieval
//! metrics, the method study, and evaluation on annotated tray photos.

pub mod metrics;
pub mod self_label;
pub mod study;
pub mod tray_eval;
