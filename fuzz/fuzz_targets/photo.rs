//! Any bytes → model input: decoding, orientation, bean crop, resize, normalise. Must return
//! Ok or Err (never panic, hang or exceed the memory bound); an Ok input has the model's length.
#![no_main]

use beanscan::preprocess::{PreprocessParams, photo_to_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params = PreprocessParams::new(64);
    if let Ok(input) = photo_to_input(data, &params) {
        assert_eq!(input.len(), params.input_len());
        assert!(input.iter().all(|v| v.is_finite()));
    }
});
