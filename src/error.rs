//! One error type for the library; every message says what is wrong and, where useful, what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("not a photo beanscan can read ({0}); use a JPEG or PNG file")]
    NotAnImage(String),
    #[error("the photo could not be decoded: {0}")]
    Decode(String),
    #[error("the photo is too large ({width}×{height} pixels); the limit is {limit} megapixels")]
    TooLarge { width: u32, height: u32, limit: u32 },
    #[error("the photo is empty (0 bytes)")]
    Empty,
    #[error("bundle: {0}")]
    Bundle(String),
    #[error("model: {0}")]
    Model(String),
    #[error("index: {0}")]
    Index(String),
}

pub type Result<T> = std::result::Result<T, Error>;
