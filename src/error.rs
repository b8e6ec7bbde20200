//! One error type for the library; every message says what is wrong and, where useful, what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("not a photo beanscan can read ({0}); use a JPEG, PNG, WebP or GIF file")]
    NotAnImage(String),
    #[error(
        "{0} files cannot be read here; save or export the photo as JPEG or PNG \
         (on iPhone: Settings › Camera › Formats › Most Compatible)"
    )]
    UnsupportedFormat(String),
    #[error("the photo could not be decoded ({0}); the file may be damaged or incomplete: copy or export it again")]
    Decode(String),
    #[error(
        "the photo is too large ({width}×{height} pixels); the limit is {limit} megapixels: \
         resize it or use the camera's normal photo mode"
    )]
    TooLarge { width: u32, height: u32, limit: u32 },
    #[error(
        "the photo is too large to decode ({width}×{height} pixels at {bits} bits per pixel need {mib} MiB; \
         the limit is {limit_mib} MiB): save it as an 8-bit JPEG or PNG"
    )]
    TooManyBytes { width: u32, height: u32, bits: u32, mib: u64, limit_mib: u64 },
    #[error(
        "the photo is too large to decode here ({0}); the limits are 64 megapixels and 256 MiB of \
         pixels: resize it or save it as an 8-bit JPEG"
    )]
    OverLimit(String),
    #[error("the photo is too small ({width}×{height} pixels); at least {min}×{min} is needed: photograph the bean closer")]
    TooSmall { width: u32, height: u32, min: u32 },
    #[error("the file is empty (0 bytes); it may not have finished downloading or copying: try again")]
    Empty,
    #[error("bundle: {0}")]
    Bundle(String),
    #[error("model: {0}")]
    Model(String),
    #[error("index: {0}")]
    Index(String),
    /// The shared reference library (a Qdrant collection): what it sent or said.
    #[error("{0}")]
    Library(String),
}

pub type Result<T> = std::result::Result<T, Error>;
