//! Per-channel statistics: the public entry points (validate once, then dispatch on layout
//! to [`planar`] (which sends short planes to [`flat`]) or [`interleaved`]) and the fallback for non-finite results ([`rescue`]).
//! The lane operations the layout kernels are generic over are in [`ops`].

mod flat;
mod grid;
mod interleaved;
mod ops;
mod planar;
mod rescue;
mod sink;

pub(crate) use ops::CHUNK;

use crate::error::Error;
use crate::moments::Moments;
use crate::shape::{Dims, Layout, Shape, check_len};
use crate::simd::{Isa, Simd, WithSimd, dispatch};
use sink::MeanVar;
pub(crate) use sink::{Each, Sink, clamp_m2, each};

/// How [`batch_stats`] and [`accumulate_moments`] compute the statistics.
///
/// Error bounds per channel, against the exact (f64) statistics, with `u = 2⁻²⁴`,
/// `A = mean|x|`, `σ²` the variance and `κ = sqrt(1 + mean²/σ²)`, tested on offsets up
/// to 1e6, tiny spreads, constants, values up to 3e19, subnormals, sorted and
/// heavy-tailed data (see `tests/stats.rs`). A constant channel gives its value exactly
/// and variance exactly 0 with either method.
///
/// Both methods follow one rule for non-finite data, PyTorch's: a channel holding a NaN
/// gets mean NaN and variance NaN; one holding `+inf` (and otherwise finite values) mean
/// `+inf` and variance NaN; `-inf` likewise mean `-inf`, variance NaN; both `+inf` and
/// `-inf`, mean NaN and variance NaN. Finite values whose f32 squares overflow (|x| from
/// ~1.8e19 to `f32::MAX`) are computed again by a plain f64 two-pass over their channel,
/// so their statistics stay finite and within the bounds above (a variance beyond
/// `f32::MAX` is `+inf` once rounded to f32).
///
/// More methods may be added: a `match` on this enum outside the crate needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Method {
    /// One pass: every element is read from memory once. Each SIMD lane runs Welford's
    /// update (one shared `1/k` per step) on values shifted by a pivot that moves to the
    /// running mean every 64 steps; lanes and chunks merge with Chan's formula in f64.
    /// On NCHW planes shorter than 512 values the blocks are the planes: each lane sums
    /// `x - p` and its square over its part of a plane (at most 32 values), each plane's
    /// moments merge with Chan's formula, and a plane whose mean is more than one
    /// standard deviation from its pivot is summed again about that mean. On NCHW
    /// channels of 32768 values or more in longer planes, each lane likewise sums `x - p`
    /// and its square over blocks of at most 16 values, about the running mean (blocks
    /// of 1, 2, 4, 8 values first, so each is at most as long as what came before).
    /// Mean error ≤ `16·u·max(A, σ)` (an f32 running mean rounds at the scale of the
    /// deviations it averages, which matters only on heavy-tailed channels where
    /// `σ > A`); variance relative error ≤ `1e-5 + 2·κ·u`.
    #[default]
    Welford,
    /// Two passes: the sum in f64, then the sum of squared deviations from that mean,
    /// corrected for the mean's rounding to f32. Mean error ≤ `16·u·A`; variance relative
    /// error ≤ `1e-6` at any κ. Reads the input twice: NCHW a channel at a time (a
    /// plane at a time for planes shorter than 512 values), NHWC a chunk of 64 pixel
    /// rows at a time (the planes' or chunks' exact moments merged with Chan's formula
    /// in f64), so the second read comes from cache when that fits.
    TwoPass,
}

/// Per-channel mean and biased variance (`M2 / count`) of `x`.
///
/// `x` holds `shape.numel()` values in `layout`; `mean` and `var` hold `shape.c` values.
/// A channel with a NaN or an infinity gets, with either method: a NaN anywhere, mean and
/// variance NaN; `+inf` (with finite values), mean `+inf` and variance NaN; `-inf`, mean
/// `-inf` and variance NaN; both `+inf` and `-inf`, mean and variance NaN (PyTorch's
/// results). Other channels are unaffected. `shape.c == 0` with empty buffers is `Ok`.
///
/// # Errors
/// - [`Error::ShapeOverflow`] when `n*c*h*w` overflows `usize` (never for a shape with a
///   zero dimension: see [`Shape`]);
/// - [`Error::LengthMismatch`] naming `x`, `mean` or `var` when a length disagrees with the shape;
/// - [`Error::EmptyChannel`] when `n*h*w == 0` and `c > 0`.
///
/// On error `mean` and `var` are untouched.
pub fn batch_stats(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    batch_stats_at(Isa::detected(), x, shape, layout, method, mean, var)
}

/// [`batch_stats`] at level `isa` (supported: checked by the caller).
pub(crate) fn batch_stats_at(
    isa: Isa,
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    let d = shape.dims(x.len(), true)?;
    check_len("mean", d.c, mean.len())?;
    check_len("var", d.c, var.len())?;
    // Every channel has `count` values: one reciprocal instead of a divide per channel.
    let inv_count = 1.0 / d.count as f64;
    let out = MeanVar {
        mean,
        var,
        inv_count,
    };
    channel_moments(isa, x, d, layout, d.c, method, out);
    Ok(())
}

/// Adds the per-channel statistics of the batch `x` to `acc` (one [`Moments`] per channel),
/// with [`Moments::merge`]. Accumulating several batches, or pieces of one, gives the
/// statistics of their union. A channel with a NaN or an infinity gets the `Moments` of
/// the rule in [`batch_stats`] (`count` as usual, `m2` NaN), and merging follows the same
/// rule (see [`Moments::merge`]).
///
/// # Errors
/// As [`batch_stats`], with `acc` in place of `mean`/`var`. On error `acc` is untouched.
pub fn accumulate_moments(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    accumulate_moments_at(Isa::detected(), x, shape, layout, method, acc)
}

/// [`accumulate_moments`] at level `isa` (supported: checked by the caller).
pub(crate) fn accumulate_moments_at(
    isa: Isa,
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    let d = shape.dims(x.len(), true)?;
    check_len("acc", d.c, acc.len())?;
    channel_moments(
        isa,
        x,
        d,
        layout,
        d.c,
        method,
        Each::new(|c, m| acc[c] = acc[c].merge(m)),
    );
    Ok(())
}

/// [`batch_stats`] of an NHWC tensor whose pixel rows of `shape.c` values start
/// `x_stride` values apart in `x` (e.g. a channel slice of a concatenated buffer: its own
/// channels' offset in the buffer, with the concatenation's channel count as the stride).
///
/// Row `i` (pixel `i` of the `n*h*w` in NHWC order) is `x[i * x_stride..][..c]`. The
/// values between rows, and after the last row, are never read into a result (they may
/// hold anything, NaN included). `x` holds at least `(n*h*w - 1) * x_stride + c` values.
/// With `x_stride == c` this is [`batch_stats`] in [`Layout::Nhwc`], bitwise. Otherwise
/// the results are within the bounds of [`Method`]. Speed: rows of 16 channels or more
/// are read as in [`batch_stats`], row by row, skipping the gaps; fewer channels read
/// whole vectors from each row's start (with a stride whose `lcm(stride, 16) <= 128`,
/// every value from the first row to the last, gaps included, as one stream).
///
/// # Errors
/// - [`Error::ShapeOverflow`] when `n*c*h*w` overflows `usize`;
/// - [`Error::StrideTooSmall`] naming `x_stride` when `x_stride < c`;
/// - [`Error::StrideOverflow`] when `(n*h*w - 1) * x_stride + c` overflows `usize`;
/// - [`Error::BufferTooShort`] naming `x` when it holds fewer values than that;
/// - [`Error::EmptyChannel`] when `n*h*w == 0` and `c > 0`;
/// - [`Error::LengthMismatch`] naming `mean` or `var` when a length is not `c`.
///
/// On error `mean` and `var` are untouched.
///
/// # Example
/// ```
/// use batchnorm::{batch_stats_strided, Method, Shape};
///
/// // Two pixels of a 4-channel buffer; the statistics of its channels 1..3.
/// let buf = [9.0f32, 1.0, 10.0, 9.0, /**/ 9.0, 3.0, 14.0, 9.0];
/// let (mut mean, mut var) = ([0.0f32; 2], [0.0f32; 2]);
/// let shape = Shape::new(1, 2, 1, 2);
/// batch_stats_strided(&buf[1..], 4, shape, Method::Welford, &mut mean, &mut var)?;
/// assert_eq!((mean, var), ([2.0, 12.0], [1.0, 4.0]));
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn batch_stats_strided(
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    batch_stats_strided_at(Isa::detected(), x, x_stride, shape, method, mean, var)
}

/// [`batch_stats_strided`] at level `isa` (supported: checked by the caller).
pub(crate) fn batch_stats_strided_at(
    isa: Isa,
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    let (d, pitch) = shape.strided_dims(x.len(), x_stride, true)?;
    check_len("mean", d.c, mean.len())?;
    check_len("var", d.c, var.len())?;
    let x = x.get(..pitch.span).unwrap_or_default();
    let inv_count = 1.0 / d.count as f64;
    let out = MeanVar {
        mean,
        var,
        inv_count,
    };
    channel_moments(isa, x, d, Layout::Nhwc, pitch.stride, method, out);
    Ok(())
}

/// [`accumulate_moments`] of strided NHWC rows (see [`batch_stats_strided`]): adds the
/// per-channel statistics of `x` to `acc` with [`Moments::merge`].
///
/// # Errors
/// As [`batch_stats_strided`], with `acc` in place of `mean`/`var`. On error `acc` is
/// untouched.
///
/// # Example
/// ```
/// use batchnorm::{accumulate_moments_strided, Method, Moments, Shape};
///
/// // Pixel rows of 1 channel, 3 values apart; the gaps are ignored.
/// let x = [1.0f32, f32::NAN, f32::NAN, 3.0];
/// let mut acc = [Moments::default()];
/// accumulate_moments_strided(&x, 3, Shape::new(2, 1, 1, 1), Method::TwoPass, &mut acc)?;
/// assert_eq!((acc[0].count, acc[0].mean, acc[0].variance()), (2, 2.0, 1.0));
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn accumulate_moments_strided(
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    accumulate_moments_strided_at(Isa::detected(), x, x_stride, shape, method, acc)
}

/// [`accumulate_moments_strided`] at level `isa` (supported: checked by the caller).
pub(crate) fn accumulate_moments_strided_at(
    isa: Isa,
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    let (d, pitch) = shape.strided_dims(x.len(), x_stride, true)?;
    check_len("acc", d.c, acc.len())?;
    let x = x.get(..pitch.span).unwrap_or_default();
    let out = Each::new(|c, m| acc[c] = acc[c].merge(m));
    channel_moments(isa, x, d, Layout::Nhwc, pitch.stride, method, out);
    Ok(())
}

/// Gives `emit` the moments of every channel of a validated tensor with at least one
/// value per channel ([`Sink::one`] or, a block of channels at a time, [`Sink::block`]);
/// in NHWC (or NCHW 1x1) its rows start `pitch >= c` values apart (`x` ends with the
/// last row).
///
/// The SIMD kernels accumulate in f32 lanes; a channel whose result comes out non-finite
/// (a NaN or infinity in the data, or an f32 overflow on values beyond ~1e19) is handled
/// by [`rescue::channel_moments`]: the NaN/infinity rule in the first case, a plain f64
/// two-pass (the right finite answer) in the second.
pub(crate) fn channel_moments(
    isa: Isa,
    x: &[f32],
    d: Dims,
    layout: Layout,
    pitch: usize,
    method: Method,
    emit: impl Sink,
) {
    struct Job<'a, E> {
        x: &'a [f32],
        d: Dims,
        layout: Layout,
        pitch: usize,
        method: Method,
        emit: E,
    }
    impl<E: Sink> WithSimd for Job<'_, E> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) {
            let Job {
                x,
                d,
                layout,
                pitch,
                method,
                emit,
            } = self;
            pitched_moments_with(s, x, d, layout, pitch, method, emit);
        }
    }
    dispatch(
        isa,
        Job {
            x,
            d,
            layout,
            pitch,
            method,
            emit,
        },
    );
}

/// [`channel_moments`] of a contiguous tensor with the lanes `s`.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn moments_with<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    layout: Layout,
    method: Method,
    emit: impl Sink,
) {
    pitched_moments_with(s, x, d, layout, d.c, method, emit);
}

/// [`channel_moments`] with the lanes `s`.
#[cfg_attr(not(debug_assertions), inline(always))]
fn pitched_moments_with<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    layout: Layout,
    pitch: usize,
    method: Method,
    emit: impl Sink,
) {
    let mut checked = Checked {
        x,
        d,
        layout,
        pitch,
        emit,
    };
    if crate::plan::planar(layout, d) {
        planar::channel_range(s, x, d, method, 0..d.c, &mut checked);
    } else {
        interleaved::channel_moments(s, x, d.c, pitch, method, &mut checked);
    }
}

/// `emit`, with non-finite results replaced by [`rescue::channel_moments`]'s (see
/// [`channel_moments`]).
struct Checked<'a, K> {
    x: &'a [f32],
    d: Dims,
    layout: Layout,
    pitch: usize,
    emit: K,
}

impl<K: Sink> Sink for Checked<'_, K> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn one(&mut self, c: usize, m: Moments) {
        if m.mean.is_finite() && m.m2.is_finite() {
            self.emit.one(c, m);
        } else {
            let m = rescue::channel_moments(self.x, self.d, self.layout, self.pitch, c);
            self.emit.one(c, m);
        }
    }

    /// The block as it is when every value is finite (one test over the arrays, no
    /// branch per channel), else channel by channel.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn block(&mut self, c0: usize, count: u64, mean: &[f64], m2: &[f64]) {
        let finite = mean
            .iter()
            .zip(m2)
            .fold(true, |ok, (m, q)| ok & m.is_finite() & q.is_finite());
        if finite && mean.len() == m2.len() {
            self.emit.block(c0, count, mean, m2);
        } else {
            sink::each(self, c0, count, mean, m2);
        }
    }
}

/// [`channel_moments`] for NCHW channels `ks` only (`d.plane >= 2`), bitwise the same
/// results, with the same fallback for non-finite ones. Lets the training forward normalize a few channels right after
/// their statistics, while they are still in cache.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn planar_channel_range<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    method: Method,
    ks: core::ops::Range<usize>,
    emit: impl Sink,
) {
    let mut checked = Checked {
        x,
        d,
        layout: Layout::Nchw,
        pitch: d.c,
        emit,
    };
    planar::channel_range(s, x, d, method, ks, &mut checked);
}

#[cfg(test)]
mod tests;
