#![no_main]
//! Fuzz target: see `checks::image_header`.

#[allow(dead_code)] // each target uses one check
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::image_header(data));
