//! The oracle: plain scalar f64 implementations of every kernel, for tests, fuzzing and
//! benches. Slow on purpose and written for obviousness, not speed.
//!
//! Each function validates its arguments like its fast counterpart (the same errors, in
//! the same order), so the reference can be called with the same (possibly wrong)
//! arguments in fuzzing. It shares no code with the kernels: its argument checks, square
//! root, scales and momentum arithmetic are its own, written out below.

use crate::backward::{Activated, BackwardParams, ForwardStats};
use crate::error::Error;
use crate::fold::{WeightLayout, WeightShape};
use crate::moments::Moments;
use crate::normalize::{Activation, NormParams};
use crate::shape::{Layout, Shape};
use crate::train::{Momentum, TrainParams};

mod backward;
mod forward;
mod strided;

pub use backward::{Backward64, activation_passes, backward, fold_into_weights};
pub use forward::{Running64, Train64, activate, exp, normalize, train_forward};
pub use strided::{batch_stats_strided, moments_strided, normalize_strided};

/// The reference's own sizes of a validated shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    /// Batch size.
    n: usize,
    /// Channels.
    c: usize,
    /// `h*w` (0 for a zero-sized shape whose `h*w` does not fit).
    plane: usize,
    /// Values per channel, `n*h*w` (likewise 0 when it does not fit with `c == 0`).
    count: usize,
}

/// Checks `shape` against `x_len` as the kernels do: [`Error::ShapeOverflow`] when
/// `n*c*h*w` does not fit in `usize` (never for a shape with a zero dimension, whose
/// products are 0), [`Error::LengthMismatch`] naming `x`, then with `need_values`
/// [`Error::EmptyChannel`] when `c > 0` and `n*h*w == 0`.
fn dims(shape: Shape, x_len: usize, need_values: bool) -> Result<Dims, Error> {
    let Shape { n, c, h, w } = shape;
    let overflow = Error::ShapeOverflow { n, c, h, w };
    let zero = n == 0 || c == 0 || h == 0 || w == 0;
    // A zero-sized shape holds nothing; otherwise every sub-product fits when the whole does.
    let product = |dims: &[usize]| -> Option<usize> {
        if dims.contains(&0) {
            return Some(0);
        }
        dims.iter().try_fold(1usize, |p, &d| p.checked_mul(d))
    };
    let numel = if zero {
        0
    } else {
        product(&[n, c, h, w]).ok_or(overflow)?
    };
    let count = product(&[n, h, w]).unwrap_or(0);
    let plane = product(&[h, w]).unwrap_or(0);
    check_len("x", numel, x_len)?;
    if need_values && count == 0 && c > 0 {
        return Err(Error::EmptyChannel { n, h, w });
    }
    Ok(Dims { n, c, plane, count })
}

/// `Ok` when `actual == expected`, else [`Error::LengthMismatch`] naming `buffer`.
fn check_len(buffer: &'static str, expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            buffer,
            expected,
            actual,
        })
    }
}

/// `eps` finite and `>= 0`, else [`Error::InvalidParameter`] naming it.
fn check_eps(eps: f32) -> Result<(), Error> {
    if eps.is_finite() && eps >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "eps",
            value: eps,
            expected: "finite and >= 0",
        })
    }
}

/// The four slices of `p` hold `c` values each (`mean`, `var`, `gamma`, `beta` in that
/// order), then `eps`.
fn check_params(p: &NormParams, c: usize) -> Result<(), Error> {
    check_len("mean", c, p.mean.len())?;
    check_len("var", c, p.var.len())?;
    check_len("gamma", c, p.gamma.len())?;
    check_len("beta", c, p.beta.len())?;
    check_eps(p.eps)
}

/// `Clamp.min` not NaN, `Clamp.max` not NaN and `>= min`, `LeakyRelu.slope` finite.
fn check_act(act: Activation) -> Result<(), Error> {
    if let Activation::LeakyRelu { slope } = act
        && !slope.is_finite()
    {
        return Err(Error::InvalidParameter {
            name: "LeakyRelu.slope",
            value: slope,
            expected: "finite",
        });
    }
    if let Activation::Clamp { min, max } = act {
        if min.is_nan() {
            return Err(Error::InvalidParameter {
                name: "Clamp.min",
                value: min,
                expected: "not NaN",
            });
        }
        if max.is_nan() || max < min {
            return Err(Error::InvalidParameter {
                name: "Clamp.max",
                value: max,
                expected: "not NaN and >= Clamp.min",
            });
        }
    }
    Ok(())
}

/// A `PyTorch` or `Onnx` momentum in `[0, 1]` (NaN is not).
fn check_momentum(m: Momentum) -> Result<(), Error> {
    match m {
        Momentum::PyTorch(v) | Momentum::Onnx(v) if !(0.0..=1.0).contains(&v) => {
            Err(Error::InvalidParameter {
                name: "momentum",
                value: v,
                expected: "in [0, 1]",
            })
        }
        _ => Ok(()),
    }
}

/// The new running `(mean, var)` in f64, straight from the conventions of [`Momentum`]:
/// PyTorch `(1 - m)·old + m·batch` with the unbiased variance, ONNX `m·old + (1 - m)·batch`
/// with the biased one, cumulative `(1 - f)·old + f·batch`, `f = 1/(prior + 1)`, with the
/// unbiased one.
fn running_update(m: Momentum, mean: f64, var: f64, batch: &Moments) -> (f64, f64) {
    let n = batch.count as f64;
    let biased = batch.m2 / n;
    let unbiased = batch.m2 / (n - 1.0);
    match m {
        Momentum::PyTorch(m) => {
            let m = f64::from(m);
            (
                (1.0 - m) * mean + m * batch.mean,
                (1.0 - m) * var + m * unbiased,
            )
        }
        Momentum::Onnx(m) => {
            let m = f64::from(m);
            (
                m * mean + (1.0 - m) * batch.mean,
                m * var + (1.0 - m) * biased,
            )
        }
        Momentum::Cumulative { prior_batches } => {
            // `f = 1` for the first batch: `0·old + batch` is exactly the batch's value.
            let f = 1.0 / (prior_batches as f64 + 1.0);
            (
                (1.0 - f) * mean + f * batch.mean,
                (1.0 - f) * var + f * unbiased,
            )
        }
    }
}

/// Whether `m` uses the unbiased batch variance (which needs 2 values per channel).
fn unbiased(m: Momentum) -> bool {
    !matches!(m, Momentum::Onnx(_))
}

/// The correctly rounded f64 square root, from `wide` (the external crate) directly:
/// `core` has none; `wide` uses the hardware instruction where there is one and a
/// correctly rounded software routine elsewhere.
fn sqrt_f64(v: f64) -> f64 {
    wide::f64x2::splat(v).sqrt().to_array()[0]
}

/// `gamma[k] / sqrt(var[k] + eps)` in f64, not rounded.
fn scale(p: &NormParams, k: usize) -> f64 {
    f64::from(p.gamma[k]) / sqrt_f64(f64::from(p.var[k]) + f64::from(p.eps))
}

/// The values of channel `c`, in memory order, for a validated shape.
pub(crate) fn channel_values(
    x: &[f32],
    d: Dims,
    layout: Layout,
    c: usize,
) -> impl Iterator<Item = f32> + '_ {
    let (start, step, run, runs, run_step) = match layout {
        // n runs of `plane` contiguous values, `c_total * plane` apart.
        Layout::Nchw => (c * d.plane, 1, d.plane, d.n, d.c * d.plane),
        // n*h*w single values, `c_total` apart.
        Layout::Nhwc => (c, d.c, 1, d.count, d.c),
    };
    (0..runs).flat_map(move |r| {
        let base = start + r * run_step;
        (0..run).map(move |i| x[base + i * step])
    })
}

/// Channel `c`'s moments by a two-pass f64 computation: the mean from an f64 sum, then
/// `M2 = Σd² - (Σd)²/count` with `d = x - mean` (the correction term removes the mean's
/// rounding error). Inputs are f32, so no square overflows f64.
///
/// A channel holding a NaN or an infinity gets the documented rule of
/// [`crate::batch_stats`] instead: `M2` NaN, and the mean NaN with a NaN or with both
/// infinities, else the infinity's sign.
pub(crate) fn channel_moments(x: &[f32], d: Dims, layout: Layout, c: usize) -> Moments {
    let has = |p: fn(f32) -> bool| channel_values(x, d, layout, c).any(p);
    let (nan, pos, neg) = (
        has(f32::is_nan),
        has(|v| v == f32::INFINITY),
        has(|v| v == f32::NEG_INFINITY),
    );
    if nan || pos || neg {
        let mean = match (nan, pos, neg) {
            (false, true, false) => f64::INFINITY,
            (false, false, true) => f64::NEG_INFINITY,
            _ => f64::NAN,
        };
        return Moments {
            count: d.count as u64,
            mean,
            m2: f64::NAN,
        };
    }
    let count = d.count as f64;
    let mean = channel_values(x, d, layout, c).map(f64::from).sum::<f64>() / count;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for v in channel_values(x, d, layout, c) {
        let dv = f64::from(v) - mean;
        s1 += dv;
        s2 += dv * dv;
    }
    Moments {
        count: d.count as u64,
        mean: mean + s1 / count,
        m2: s2 - s1 * s1 / count,
    }
}

/// Per-channel [`Moments`] of `x` (length `shape.numel()`), written to `out` (length `c`).
///
/// # Errors
/// As [`crate::batch_stats`]: `x` or `out` of the wrong length, shape overflow, empty channels.
pub fn moments(x: &[f32], shape: Shape, layout: Layout, out: &mut [Moments]) -> Result<(), Error> {
    let d = dims(shape, x.len(), true)?;
    check_len("out", d.c, out.len())?;
    for (c, o) in out.iter_mut().enumerate() {
        *o = channel_moments(x, d, layout, c);
    }
    Ok(())
}

/// Per-channel mean and biased variance in f64: the exact answer that
/// [`crate::batch_stats`] approximates in f32.
///
/// # Errors
/// As [`crate::batch_stats`].
pub fn batch_stats(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    mean: &mut [f64],
    var: &mut [f64],
) -> Result<(), Error> {
    let d = dims(shape, x.len(), true)?;
    check_len("mean", d.c, mean.len())?;
    check_len("var", d.c, var.len())?;
    for c in 0..d.c {
        let m = channel_moments(x, d, layout, c);
        mean[c] = m.mean;
        var[c] = m.variance();
    }
    Ok(())
}

/// The channel of flat index `i` of a validated tensor.
fn channel_of(i: usize, d: Dims, layout: Layout) -> usize {
    match layout {
        Layout::Nchw => (i / d.plane.max(1)) % d.c.max(1),
        Layout::Nhwc => i % d.c.max(1),
    }
}
