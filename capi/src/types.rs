//! The `#[repr(C)]` structs of the header: `bn_moments` and the parameter groups of
//! `bn_normalize`, `bn_train_forward` and `bn_fold_into_weights`.
//!
//! Enum-valued fields are `c_int` (checked when read, so any value is safe to pass);
//! pointers come with a length in elements each.

use std::ffi::c_int;

/// `bn_moments`: the mergeable statistics of a set of values ([`batchnorm::Moments`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BnMoments {
    /// Number of values.
    pub count: u64,
    /// Their mean (0 when `count == 0`).
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

// `bn_accumulate_moments` hands the caller's `bn_moments` array to the core crate as
// `batchnorm::Moments` (both `repr(C)`): the layouts must agree field by field.
const _: () = {
    use batchnorm::Moments;
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<BnMoments>() == size_of::<Moments>());
    assert!(align_of::<BnMoments>() == align_of::<Moments>());
    assert!(offset_of!(BnMoments, count) == offset_of!(Moments, count));
    assert!(offset_of!(BnMoments, mean) == offset_of!(Moments, mean));
    assert!(offset_of!(BnMoments, m2) == offset_of!(Moments, m2));
};

impl From<batchnorm::Moments> for BnMoments {
    fn from(m: batchnorm::Moments) -> Self {
        BnMoments {
            count: m.count,
            mean: m.mean,
            m2: m.m2,
        }
    }
}

impl From<BnMoments> for batchnorm::Moments {
    fn from(m: BnMoments) -> Self {
        batchnorm::Moments {
            count: m.count,
            mean: m.mean,
            m2: m.m2,
        }
    }
}

/// `bn_norm_params`: per-channel statistics and affine transform
/// ([`batchnorm::NormParams`]). Each array holds one value per channel.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BnNormParams {
    /// Per-channel mean.
    pub mean: *const f32,
    /// Elements in `mean`.
    pub mean_len: usize,
    /// Per-channel variance.
    pub var: *const f32,
    /// Elements in `var`.
    pub var_len: usize,
    /// Per-channel scale (PyTorch's `weight`).
    pub gamma: *const f32,
    /// Elements in `gamma`.
    pub gamma_len: usize,
    /// Per-channel shift (PyTorch's `bias`).
    pub beta: *const f32,
    /// Elements in `beta`.
    pub beta_len: usize,
    /// Added to the variance before the square root; finite and `>= 0`.
    pub eps: f32,
}

/// `bn_train_params`: everything a training forward needs besides the tensors and the
/// statistics buffers ([`batchnorm::TrainParams`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BnTrainParams {
    /// Per-channel scale.
    pub gamma: *const f32,
    /// Elements in `gamma`.
    pub gamma_len: usize,
    /// Per-channel shift.
    pub beta: *const f32,
    /// Elements in `beta`.
    pub beta_len: usize,
    /// Added to the variance before the square root; finite and `>= 0`.
    pub eps: f32,
    /// A `bn_method` value.
    pub method: c_int,
    /// A `bn_activation` value.
    pub activation: c_int,
    /// Lower bound of `BN_ACTIVATION_CLAMP` (ignored otherwise).
    pub clamp_min: f32,
    /// Upper bound of `BN_ACTIVATION_CLAMP` (ignored otherwise).
    pub clamp_max: f32,
}

/// `bn_running_stats`: running statistics updated in place by a training forward, and
/// the convention ([`batchnorm::RunningStats`], [`batchnorm::Momentum`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BnRunningStats {
    /// Running mean, one value per channel, updated in place.
    pub mean: *mut f32,
    /// Elements in `mean`.
    pub mean_len: usize,
    /// Running variance, one value per channel, updated in place.
    pub var: *mut f32,
    /// Elements in `var`.
    pub var_len: usize,
    /// A `bn_momentum` value: the update convention.
    pub momentum_kind: c_int,
    /// The momentum of `BN_MOMENTUM_PYTORCH` / `BN_MOMENTUM_ONNX`, in `[0, 1]`
    /// (ignored by `BN_MOMENTUM_CUMULATIVE`).
    pub momentum: f32,
    /// `BN_MOMENTUM_CUMULATIVE` only: batches already averaged, not counting this one
    /// (PyTorch's `num_batches_tracked` before the call).
    pub prior_batches: u64,
}

/// `bn_saved_stats`: what a training forward writes for the backward pass
/// ([`batchnorm::SavedStats`]).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BnSavedStats {
    /// The batch mean, one value per channel.
    pub mean: *mut f32,
    /// Elements in `mean`.
    pub mean_len: usize,
    /// `1 / sqrt(var + eps)` of the biased batch variance, one value per channel.
    pub invstd: *mut f32,
    /// Elements in `invstd`.
    pub invstd_len: usize,
}
