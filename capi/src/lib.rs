//! C ABI for [`batchnorm`]: a static library (`libbatchnorm_capi.a`), a shared library
//! (`libbatchnorm_capi.so`, SONAME `libbatchnorm_capi.so.3` on Linux) and the C99 header
//! `include/batchnorm.h`, so inference engines in C, C++, Go, Python or Zig can call the
//! kernels without writing Rust.
//!
//! Every kernel function returns a `bn_status` (`BN_OK` = 0, see [`Status`]) and refuses
//! bad input with a status instead of crashing: NULL pointers with a nonzero length,
//! misaligned pointers, lengths that disagree with the shape, outputs overlapping other
//! buffers (except `y == x`, or `dx == dy`, which mean in place), enum values outside their
//! enum, and out-of-range `eps`, momentum, clamp bounds or slope. On a refusal nothing is
//! written, and `bn_last_error_message` says what was wrong, in C terms. The enums of the header
//! arrive here as `c_int` (e.g. [`enums::BnLayout`]) and are checked before use: any
//! value is safe to pass.
//!
//! With the default `std` feature no panic crosses the boundary: each body runs under
//! `catch_unwind` and a panic (a bug) becomes `BN_ERR_INTERNAL`. Without it the library is
//! `#![no_std]` and needs no allocator (for microcontrollers): no `catch_unwind` (the
//! kernels never panic), no thread-local message (`bn_last_error_message` gives the static
//! message of the last refused call's status), and on bare-metal targets a panic handler
//! that parks the core in a loop, should a bug ever panic.
//!
//! | C function | Rust |
//! |---|---|
//! | [`bn_batch_stats`] | [`batchnorm::batch_stats`] |
//! | [`bn_accumulate_moments`] | [`batchnorm::accumulate_moments`] |
//! | [`bn_moments_merge`], [`bn_moments_variance`], [`bn_moments_sample_variance`] | [`batchnorm::Moments`] |
//! | [`bn_normalize`] | [`batchnorm::normalize`], [`batchnorm::normalize_in_place`] (`y == x`) |
//! | [`bn_prepare`] | [`batchnorm::prepare`] |
//! | [`bn_normalize_prepared`] | [`batchnorm::normalize_prepared`], [`batchnorm::normalize_prepared_in_place`] (`y == x`) |
//! | [`bn_train_forward`] | [`batchnorm::train_forward`], [`batchnorm::train_forward_in_place`] (`y == x`) |
//! | [`bn_backward`] | [`batchnorm::backward`], [`batchnorm::backward_in_place`] (`dx == dy`), [`batchnorm::backward_activated`], [`batchnorm::backward_activated_in_place`] (`y` not NULL) |
//! | [`bn_fold_into_weights`] | [`batchnorm::fold_into_weights`] |
//! | [`bn_version`], [`bn_version_number`], [`bn_status_message`], [`bn_last_error_message`] | |
//! | [`bn_isa_detected`], [`bn_isa_name`] | [`batchnorm::Isa::detected`], [`batchnorm::Isa::name`] |
//!
//! One file per group of functions (`stats.rs`, `normalize.rs`, `prepared.rs`, `train.rs`,
//! `backward.rs`, `fold.rs`, `info.rs`); each exported function lists its possible statuses in the header
//! and names the library's arguments in C (a `NAMES` table for its messages).
//!
//! The kernel functions are `unsafe` for Rust callers: the pointers must be valid for
//! their lengths (see each `# Safety`). All `unsafe` code is in one private module that
//! turns checked pointers into slices.

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod backward;
pub mod enums;
mod fold;
mod info;
mod normalize;
mod prepared;
mod raw;
mod stats;
mod status;
mod train;
mod types;

pub use backward::bn_backward;
pub use fold::bn_fold_into_weights;
pub use info::{
    VERSION, VERSION_NUMBER, bn_isa_detected, bn_isa_name, bn_last_error_message,
    bn_status_message, bn_version, bn_version_number,
};
pub use normalize::bn_normalize;
pub use prepared::{bn_normalize_prepared, bn_prepare};
pub use stats::{
    bn_accumulate_moments, bn_batch_stats, bn_moments_merge, bn_moments_sample_variance,
    bn_moments_variance,
};
pub use status::{BnStatus, Status};
pub use train::{NO_STD_SCRATCH_CHANNELS, bn_train_forward};
pub use types::{
    BnActivation, BnBackwardParams, BnMoments, BnNormParams, BnPrepared, BnRunningStats,
    BnSavedStats, BnShape, BnTrainParams, BnWeightShape,
};

/// The `no_std` library's panic handler on targets without an operating system (e.g.
/// `thumbv7em-none-eabihf`): the kernels and this layer never panic, but a `staticlib`
/// must have a handler; a bug would park the core here. Builds with `std`, and `no_std`
/// builds for hosted targets (whose tests link `std`), use `std`'s.
#[cfg(all(not(feature = "std"), target_os = "none"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
