//! Batch-normalization kernels for `f32` tensors on the CPU: `#![no_std]`, no allocation,
//! explicit SIMD lanes, NCHW and NHWC.
//!
//! - [`batch_stats`]: per-channel mean and biased variance, by a single-pass Welford
//!   ([`Method::Welford`], every element read from memory once) or a two-pass
//!   ([`Method::TwoPass`], the most accurate) algorithm.
//! - [`accumulate_moments`]: the same statistics as mergeable [`Moments`], added to what a
//!   caller already holds (statistics over many batches, or over pieces of one).
//! - [`normalize`], [`normalize_in_place`]: `y = act((x - mean) * scale + beta)` per
//!   channel, `scale = gamma / sqrt(var + eps)`, with [`Activation`] (ReLU, clamp, ReLU6,
//!   leaky ReLU, hard swish, SiLU) in the same pass; one subtract and one fused
//!   multiply-add per element.
//! - [`prepare`], [`normalize_prepared`], [`normalize_prepared_in_place`]: the same with
//!   the per-channel scales computed and checked once ([`Prepared`], e.g. at model load),
//!   bitwise the same results.
//! - [`batch_stats_strided`], [`accumulate_moments_strided`], [`normalize_strided`],
//!   [`normalize_strided_in_place`], [`normalize_prepared_strided`],
//!   [`normalize_prepared_strided_in_place`]: the same over NHWC pixel rows that start
//!   `stride >= c` values apart (a channel slice of a concatenated buffer); the values
//!   between rows are never written and never read into a result.
//! - [`train_forward`], [`train_forward_in_place`]: batch statistics, normalize, running
//!   statistics ([`Momentum`]: PyTorch, ONNX, cumulative) and the saved mean and `invstd`
//!   for the backward pass, in one call.
//! - [`fold_into_weights`]: rewrites a convolution's or linear layer's weights and bias so
//!   that it computes the layer followed by the normalization.
//! - [`reference`](mod@reference): the plain f64 oracle every kernel is tested against.
//!
//! Every function checks all of its arguments first and returns an [`Error`] naming the
//! bad one; on error no output is written. No function panics.
//!
//! # Worked example
//! One channel, two samples of 8 values each: `1..=8` and `2..=9`. Their mean is
//! 80/16 = 5, `M2` = 88, the biased variance 88/16 = 5.5 and the unbiased one 88/15.
//! Normalized with gamma 2, beta 0.5, eps 1e-5, `x = 1` becomes
//! `-4 * 2/sqrt(5.50001) + 0.5 = -2.9112…` and `x = 9` becomes `3.9112…`.
//!
//! ```
//! use batchnorm::{accumulate_moments, batch_stats, normalize, Activation, Layout, Method,
//!                 Moments, NormParams, Shape};
//!
//! let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
//! let shape = Shape::new(2, 1, 2, 4); // n=2 samples, c=1 channel, 2x4 plane
//! let (mut mean, mut var) = ([0.0f32], [0.0f32]);
//! batch_stats(&x, shape, Layout::Nchw, Method::Welford, &mut mean, &mut var)?;
//! assert_eq!((mean[0], var[0]), (5.0, 5.5));
//!
//! let p = NormParams { mean: &mean, var: &var, gamma: &[2.0], beta: &[0.5], eps: 1e-5 };
//! let mut y = vec![0.0f32; 16];
//! normalize(&x, &mut y, shape, Layout::Nchw, &p, Activation::Identity)?;
//! assert!((y[0] + 2.9112).abs() < 1e-4 && (y[15] - 3.9112).abs() < 1e-4);
//!
//! let mut acc = [Moments::default()];
//! accumulate_moments(&x, shape, Layout::Nchw, Method::TwoPass, &mut acc)?;
//! assert_eq!(acc[0].sample_variance(), 88.0 / 15.0);
//! # Ok::<(), batchnorm::Error>(())
//! ```
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod check;
mod error;
mod fold;
mod kernels;
mod moments;
mod normalize;
mod plan;
mod shape;
mod simd;
mod stats;
mod train;

pub mod reference;
#[doc(hidden)]
pub mod roofline;

pub use error::Error;
pub use fold::{Bias, WeightLayout, WeightShape, fold_into_weights};
pub use kernels::Kernels;
pub use moments::Moments;
pub use normalize::{
    Activation, NormParams, Prepared, normalize, normalize_in_place, normalize_prepared,
    normalize_prepared_in_place, normalize_prepared_strided, normalize_prepared_strided_in_place,
    normalize_strided, normalize_strided_in_place, prepare,
};
pub use shape::{Layout, Shape, f32s_from_bytes, f32s_from_bytes_mut};
pub use simd::Isa;
pub use stats::{
    Method, accumulate_moments, accumulate_moments_strided, batch_stats, batch_stats_strided,
};
pub use train::{
    Momentum, RunningStats, SavedStats, TrainParams, train_forward, train_forward_in_place,
};

/// The README's Rust examples, compiled as doctests so they stay true to the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
