//! Fuzz target `normalize`: the body is `batchnorm_fuzz::normalize` (see `src/lib.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchnorm_fuzz::normalize(data));
