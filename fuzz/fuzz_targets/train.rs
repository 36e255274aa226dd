//! Fuzz target `train`: the body is `batchnorm_fuzz::train` (see `src/lib.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchnorm_fuzz::train(data));
