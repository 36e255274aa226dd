//! C ABI for [`batchnorm`]: a static library (`libbatchnorm_capi.a`), a shared library
//! (`libbatchnorm_capi.so`) and the C99 header `include/batchnorm.h`, so inference engines
//! in C, C++, Go, Python or Zig can call the kernels without writing Rust.
//!
//! Every kernel function returns a `bn_status` (`BN_OK` = 0, see [`Status`]) and refuses
//! bad input with a status instead of crashing: NULL pointers with a nonzero length,
//! misaligned pointers, lengths that disagree with the shape, outputs overlapping other
//! buffers (except `y == x`, which means in place), enum values outside their enum, and
//! out-of-range `eps`, momentum or clamp bounds. On a refusal nothing is written, and
//! `bn_last_error_message` says what was wrong. No panic crosses the boundary: each body
//! runs under `catch_unwind` and a panic (a bug) becomes `BN_ERR_INTERNAL` (with the
//! default `panic = "unwind"`; a profile with `panic = "abort"` would turn it into an abort).
//!
//! | C function | Rust |
//! |---|---|
//! | [`bn_batch_stats`] | [`batchnorm::batch_stats`] |
//! | [`bn_accumulate_moments`] | [`batchnorm::accumulate_moments`] |
//! | [`bn_moments_merge`], [`bn_moments_variance`], [`bn_moments_sample_variance`] | [`batchnorm::Moments`] |
//! | [`bn_normalize`] | [`batchnorm::normalize`], [`batchnorm::normalize_in_place`] (`y == x`) |
//! | [`bn_train_forward`] | [`batchnorm::train_forward`], [`batchnorm::train_forward_in_place`] (`y == x`) |
//! | [`bn_fold_into_weights`] | [`batchnorm::fold_into_weights`] |
//! | [`bn_version`], [`bn_version_number`], [`bn_status_message`], [`bn_last_error_message`] | |
//! | [`bn_isa_detected`], [`bn_isa_name`] | [`batchnorm::Isa::detected`], [`batchnorm::Isa::name`] |
//!
//! The kernel functions are `unsafe` for Rust callers: the pointers must be valid for
//! their lengths (see each `# Safety`). All `unsafe` code is in one private module that
//! turns checked pointers into slices.

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod enums;
mod fold;
mod info;
mod normalize;
mod raw;
mod stats;
mod status;
mod types;

pub use fold::bn_fold_into_weights;
pub use info::{
    VERSION, VERSION_NUMBER, bn_isa_detected, bn_isa_name, bn_last_error_message,
    bn_status_message, bn_version, bn_version_number,
};
pub use normalize::{bn_normalize, bn_train_forward};
pub use stats::{
    bn_accumulate_moments, bn_batch_stats, bn_moments_merge, bn_moments_sample_variance,
    bn_moments_variance,
};
pub use status::Status;
pub use types::{BnMoments, BnNormParams, BnRunningStats, BnSavedStats, BnTrainParams};
