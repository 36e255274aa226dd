//! Fuzz target `stats`: the body is `batchnorm_fuzz::stats` (see `src/lib.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batchnorm_fuzz::stats(data));
