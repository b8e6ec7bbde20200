//! The parts of beanscan that benches/index.rs uses, for a wasm32-wasip1 build: the index and
//! error modules are the crate's own files; the bundle is not here (the wasm run reads the
//! references written by the native run with `--save`).

#[path = "../../src/error.rs"]
pub mod error;
#[path = "../../src/index.rs"]
pub mod index;

pub use error::{Error, Result};

/// Stand-in for the crate's bundle: this build has no model and no embedded bundle.
pub struct Bundle {
    pub references: index::ReferenceSet,
}

impl Bundle {
    pub fn embedded() -> Result<Self> {
        Err(Error::Bundle("the wasm index benchmark has no built-in bundle: run it with --load DIR".into()))
    }
}
