#![no_main]
//! Fuzz target: see `checks::success_bodies`.

#[allow(dead_code)] // each target uses one check
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::success_bodies(data));
