//! Native-only evaluation, used by the CLI (not by training): classification and retrieval
//! metrics, the method study, evaluation on annotated tray photos, and calibrating the unknown threshold.

pub mod metrics;
pub mod self_label;
pub mod study;
pub mod tray_eval;
pub mod unknown;
