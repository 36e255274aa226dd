//! Fuzz target `backward`: the body is `batchnorm_fuzz::backward` (see `src/lib.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchnorm_fuzz::backward(data));
