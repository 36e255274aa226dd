//! The bodies of batchnorm's fuzz targets, as plain functions of the raw fuzz input.
//!
//! Each `fuzz_targets/<name>.rs` calls `<name>(data)`; the root crate's
//! `tests/fuzz_seeds.rs` includes this file with `#[path]` and runs every body over the
//! committed seeds in `seeds/<name>/`, so `cargo test` keeps the harness compiling and
//! passing on every platform the test suite runs on. (Module paths here are relative,
//! never `crate::`, for that reason.) A body panics on any broken contract; an input too
//! short to decode is skipped.
//!
//! Every body runs each input at every instruction-set level this CPU runs
//! (`Isa::supported()`, through `batchnorm::Kernels`), each level checked on its own.
//!
//! - [`stats`]: `batch_stats` and `accumulate_moments` against the f64 reference.
//! - [`normalize`]: `normalize` and `normalize_in_place` against the f64 reference; in
//!   place == out of place and NCHW == NHWC bit for bit.
//! - [`train`]: the training forward and the running-statistics update against the f64
//!   reference; in place == out of place, and `y` == `normalize` with the saved
//!   statistics, bit for bit.
//! - [`backward`]: the backward pass (both statistics, ReLU and clamp masks) against the
//!   f64 reference under the bounds; the same errors as the reference, nothing
//!   written on error; in place == out of place bit for bit.
//! - [`api`]: wrong lengths and shapes: `Ok`/`Err` as the reference, never a panic,
//!   outputs untouched on `Err`; `Kernels::new` on every level of `Isa::ALL`.

pub mod api;
pub mod backward;
pub mod check;
pub mod input;
pub mod normalize;
pub mod stats;
pub mod train;

pub use api::api;
pub use backward::backward;
pub use normalize::normalize;
pub use stats::stats;
pub use train::train;

/// A target's body: runs one raw fuzz input, panics on a broken contract.
pub type Body = fn(&[u8]);

/// Every target, by its name in `fuzz/Cargo.toml` and `seeds/`.
pub const TARGETS: [(&str, Body); 5] = [
    ("stats", stats),
    ("normalize", normalize),
    ("train", train),
    ("api", api),
    ("backward", backward),
];
