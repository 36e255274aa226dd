//! Fuzz target `api`: the body is `batchnorm_fuzz::api` (see `src/lib.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchnorm_fuzz::api(data));
