#![no_main]
//! Fuzz target: see `checks::request_id`.

#[allow(dead_code)] // each target uses one check
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::request_id(data));
