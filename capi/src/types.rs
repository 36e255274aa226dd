//! The `#[repr(C)]` structs of the header: `bn_shape`, `bn_weight_shape`,
//! `bn_activation`, `bn_moments` and the parameter groups of `bn_normalize`, `bn_prepare`,
//! `bn_normalize_prepared`, `bn_train_forward`, `bn_backward` and `bn_fold_into_weights`.
//!
//! Enum-valued fields are the `c_int` aliases of [`crate::enums`] (checked when read, so
//! any value is safe to pass); pointers come with a length in elements each.

use crate::enums::{BnActivationKind, BnMethod, BnMomentum, BnWeightLayout};

/// `bn_shape`: a tensor's batch size, channels, height and width ([`batchnorm::Shape`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BnShape {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl From<BnShape> for batchnorm::Shape {
    fn from(s: BnShape) -> Self {
        batchnorm::Shape::new(s.n, s.c, s.h, s.w)
    }
}

/// `bn_weight_shape`: a weight tensor's shape as folding sees it
/// ([`batchnorm::WeightShape`]): output channels, weights per output channel, where the
/// output channel sits, and (transposed convolutions only) the groups and the kernel size.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BnWeightShape {
    /// Output channels: the batch normalization's channels.
    pub out: usize,
    /// Weights per output channel (`in * kh * kw`, `kh * kw` depthwise, `in` linear,
    /// `(in / groups) * kh * kw` transposed).
    pub per_out: usize,
    /// A `bn_weight_layout` value.
    pub layout: BnWeightLayout,
    /// `BN_WEIGHTS_TRANSPOSED` only: the convolution's groups, `>= 1`, dividing `out`
    /// (ignored by the other layouts).
    pub groups: usize,
    /// `BN_WEIGHTS_TRANSPOSED` only: weights per kernel `kh * kw`, `>= 1`, dividing
    /// `per_out` (ignored by the other layouts).
    pub kernel: usize,
}

/// `bn_activation`: the activation fused into normalize ([`batchnorm::Activation`]): its
/// kind and the parameters of the kinds that have some; each kind ignores the fields it
/// does not use.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BnActivation {
    /// A `bn_activation_kind` value.
    pub kind: BnActivationKind,
    /// `BN_ACTIVATION_CLAMP`: the lower bound (not NaN).
    pub clamp_min: f32,
    /// `BN_ACTIVATION_CLAMP`: the upper bound (not NaN, `>= clamp_min`).
    pub clamp_max: f32,
    /// `BN_ACTIVATION_LEAKY_RELU`: the factor of negative values (finite).
    pub slope: f32,
}

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

/// `bn_prepared`: per-channel constants prepared once by `bn_prepare`
/// ([`batchnorm::Prepared`]). Each array holds one value per channel.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BnPrepared {
    /// Per-channel mean, subtracted from `x`.
    pub mean: *const f32,
    /// Elements in `mean`.
    pub mean_len: usize,
    /// Per-channel scale, `gamma / sqrt(var + eps)`, written by `bn_prepare`.
    pub scale: *const f32,
    /// Elements in `scale`.
    pub scale_len: usize,
    /// Per-channel shift.
    pub beta: *const f32,
    /// Elements in `beta`.
    pub beta_len: usize,
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
    /// A `bn_method` value: how the batch statistics are computed.
    pub method: BnMethod,
    /// The activation fused into the normalization.
    pub act: BnActivation,
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
    pub momentum_kind: BnMomentum,
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

/// `bn_backward_params`: what `bn_backward` needs of the forward
/// ([`batchnorm::BackwardParams`]). Each array holds one value per channel.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BnBackwardParams {
    /// The mean the forward normalized with (the saved batch mean, or the running mean).
    pub mean: *const f32,
    /// Elements in `mean`.
    pub mean_len: usize,
    /// `1 / sqrt(var + eps)` of the forward (the saved `invstd`, or from the running
    /// variance).
    pub invstd: *const f32,
    /// Elements in `invstd`.
    pub invstd_len: usize,
    /// The forward's per-channel scale.
    pub gamma: *const f32,
    /// Elements in `gamma`.
    pub gamma_len: usize,
}
