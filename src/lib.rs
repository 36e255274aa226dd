//! Batch-normalization kernels for `f32` tensors on the CPU: `#![no_std]`, no allocation,
//! explicit SIMD lanes, NCHW and NHWC.
//!
//! - [`batch_stats`]: per-channel mean and biased variance, by a single-pass Welford
//!   ([`Method::Welford`], every element read from memory once) or a two-pass
//!   ([`Method::TwoPass`], the most accurate) algorithm.
//! - [`accumulate_moments`]: the same statistics as mergeable [`Moments`], added to what a
//!   caller already holds (statistics over many batches, or over pieces of one).
//! - [`fn@normalize`], [`normalize_in_place`]: `y = act((x - mean) * scale + beta)` per
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
//! - [`fn@backward`], [`backward_in_place`]: the backward pass (PyTorch's semantics), `dx`,
//!   `dgamma` and `dbeta` from `x`, `dy` and the forward's statistics ([`BackwardParams`]),
//!   for batch or running statistics ([`ForwardStats`]);
//!   [`backward_activated`], [`backward_activated_in_place`] through a fused ReLU or clamp
//!   ([`Activated`]: `dy` masked by the forward's output in the same pass).
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
//!
//! # Threads
//! The kernels run on the calling thread and share nothing, so a caller's thread pool
//! splits the work itself, into pieces that are tensors of their own:
//! - **Statistics over batch ranges.** In both layouts batch item `b` is the contiguous
//!   run `b*c*h*w .. (b+1)*c*h*w`, so items `b0..b1` are a tensor of shape
//!   `(b1 - b0, c, h, w)` (NHWC also splits at any pixel row: `rows` rows are a tensor
//!   `(rows, c, 1, 1)`). Each thread runs [`accumulate_moments`] on its range into its
//!   own `[Moments]`; the ranges' moments are then merged channel by channel with
//!   [`Moments::merge`]. Merged in a fixed order (range 0, 1, …), the result does not
//!   depend on which thread finished first; it is within the accuracy bounds of
//!   [`Method`] (the merge is Chan's formula in f64), though not bitwise the single call's.
//!   [`Moments`] has a byte view (`bytemuck::Pod`), so per-process moments can go through
//!   an all-gather for synchronized batch normalization, merged in rank order.
//! - **Normalize over batch ranges** (both layouts), **pixel-row ranges** (NHWC), or
//!   **channel ranges where they are contiguous** (NCHW with `n == 1`: channels
//!   `k0..k1` are `x[k0*h*w .. k1*h*w]`, with the parameters' slices `k0..k1`). Every
//!   element gets the same arithmetic whatever the piece, so the result is bitwise the
//!   single call's.
//!
#![cfg_attr(
    feature = "rayon",
    doc = "With the `rayon` feature, [`par`] does this on rayon's pool, in blocks fixed by the shape, so the results do not depend on the number of threads."
)]
#![cfg_attr(
    not(feature = "rayon"),
    doc = "With the `rayon` feature (std), the module `par` does this on rayon's pool, in blocks fixed by the shape, so the results do not depend on the number of threads."
)]
//!
//! ```
//! use batchnorm::{accumulate_moments, normalize, Activation, Layout, Method, Moments,
//!                 NormParams, Shape};
//!
//! let shape = Shape::new(4, 2, 3, 3); // 4 batch items of 2 channels of 3x3
//! let x: Vec<f32> = (0..72).map(|v| (v % 7) as f32).collect();
//! let item = 2 * 3 * 3;
//! // Statistics: two threads, two batch items each, merged in order.
//! let parts: Vec<[Moments; 2]> = std::thread::scope(|s| {
//!     let handles: Vec<_> = x
//!         .chunks(2 * item)
//!         .map(|xs| {
//!             s.spawn(move || {
//!                 let mut acc = [Moments::EMPTY; 2];
//!                 let sub = Shape::new(2, 2, 3, 3);
//!                 accumulate_moments(xs, sub, Layout::Nchw, Method::Welford, &mut acc)
//!                     .map(|()| acc)
//!             })
//!         })
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).collect::<Result<_, _>>()
//! })?;
//! let total = [0, 1].map(|k| parts[0][k].merge(parts[1][k]));
//! assert_eq!(total[0].count, 36);
//!
//! // Normalize: the same two ranges, bitwise the single call's result.
//! let mean = total.map(|m| m.mean as f32);
//! let var = total.map(|m| m.variance() as f32);
//! let p = NormParams { mean: &mean, var: &var, gamma: &[1.0; 2], beta: &[0.0; 2], eps: 1e-5 };
//! let mut y = vec![0.0f32; 72];
//! std::thread::scope(|s| {
//!     for (xs, ys) in x.chunks(2 * item).zip(y.chunks_mut(2 * item)) {
//!         let p = &p;
//!         s.spawn(move || {
//!             normalize(xs, ys, Shape::new(2, 2, 3, 3), Layout::Nchw, p, Activation::Identity)
//!                 .expect("a valid piece")
//!         });
//!     }
//! });
//! let mut y1 = vec![0.0f32; 72];
//! normalize(&x, &mut y1, shape, Layout::Nchw, &p, Activation::Identity)?;
//! assert_eq!(y, y1);
//! # Ok::<(), batchnorm::Error>(())
//! ```
#![cfg_attr(not(feature = "rayon"), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod backward;
mod check;
mod error;
mod fold;
mod kernels;
mod moments;
mod normalize;
#[cfg(feature = "rayon")]
pub mod par;
mod plan;
mod shape;
mod simd;
mod stats;
mod train;

pub mod reference;
#[doc(hidden)]
pub mod roofline;

pub use backward::{
    Activated, BackwardParams, ForwardStats, backward, backward_activated,
    backward_activated_in_place, backward_in_place,
};
pub use error::Error;
pub use fold::{Bias, WeightLayout, WeightShape, fold_into_weights};
pub use kernels::Kernels;
pub use moments::Moments;
pub use normalize::prepared::{Prepared, normalize_prepared, normalize_prepared_in_place, prepare};
pub use normalize::strided::{
    normalize_prepared_strided, normalize_prepared_strided_in_place, normalize_strided,
    normalize_strided_in_place,
};
pub use normalize::{Activation, NormParams, normalize, normalize_in_place};
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
