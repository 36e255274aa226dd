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

/// An [`Activation`] applied to an f64 value, with the kernels' conventions: ReLU maps
/// values below 0 to 0 and keeps NaN (and `-0.0`); `Clamp` maps values below `min` to `min`,
/// above `max` to `max`, and keeps NaN; `LeakyRelu`, `HardSwish` and `Silu` are their
/// formulas in f64 (`Silu` with this module's own [`exp`]), NaN giving NaN.
pub fn activate(v: f64, act: Activation) -> f64 {
    match act {
        Activation::Identity => v,
        Activation::Relu => {
            if v < 0.0 {
                0.0
            } else {
                v
            }
        }
        Activation::Clamp { min, max } => {
            if v < f64::from(min) {
                f64::from(min)
            } else if v > f64::from(max) {
                f64::from(max)
            } else {
                v
            }
        }
        Activation::LeakyRelu { slope } => {
            if v >= 0.0 || v.is_nan() {
                v
            } else {
                f64::from(slope) * v
            }
        }
        Activation::HardSwish => v * (v + 3.0).clamp(0.0, 6.0) / 6.0,
        Activation::Silu => v / (1.0 + exp(-v)),
    }
}

/// `e^x` in f64 (`core` has no `exp`): `x = k·ln 2 + r`, `|r| <= ln 2 / 2` (fdlibm's two-part
/// `ln 2`), `e^r` by its Taylor series to `r^16/16!` (relative error below `1e-16`), times
/// `2^k` in two exact halves. `+inf` above `ln(f64::MAX)`, `0` below `-745.2`, NaN for NaN.
pub fn exp(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    /// `1.5 * 2^52`: adding it rounds a value of magnitude `< 2^51` to an integer.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    if x.is_nan() {
        return x;
    }
    if x > 709.8 {
        return f64::INFINITY;
    }
    if x < -745.2 {
        return 0.0;
    }
    let k = (x * core::f64::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let (mut sum, mut term) = (1.0f64, 1.0f64);
    for i in 1..=16 {
        term *= r / f64::from(i);
        sum += term;
    }
    // k in [-1076, 1025]: two halves in [-538, 513], each a normal power of two.
    let k = k as i64;
    let (k1, k2) = (k / 2, k - k / 2);
    let pow2 = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    sum * pow2(k1) * pow2(k2)
}

/// `y = act((x - mean) * gamma / sqrt(var + eps) + beta)` in f64, the scale not rounded: the
/// exact answer [`crate::normalize`] approximates in f32. `y` holds `shape.numel()` values.
///
/// # Errors
/// As [`crate::normalize`].
pub fn normalize(
    x: &[f32],
    y: &mut [f64],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let d = dims(shape, x.len(), false)?;
    check_len("y", x.len(), y.len())?;
    check_params(p, d.c)?;
    check_act(act)?;
    for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let k = channel_of(i, d, layout);
        let v = (f64::from(x) - f64::from(p.mean[k])) * scale(p, k) + f64::from(p.beta[k]);
        *y = activate(v, act);
    }
    Ok(())
}

/// f64 running statistics for [`train_forward`], updated in place.
#[derive(Debug)]
pub struct Running64<'a> {
    /// Running mean.
    pub mean: &'a mut [f64],
    /// Running variance.
    pub var: &'a mut [f64],
    /// The update convention.
    pub momentum: Momentum,
}

/// The f64 outputs of [`train_forward`].
#[derive(Debug)]
pub struct Train64<'a> {
    /// The normalized tensor, `shape.numel()` values.
    pub y: &'a mut [f64],
    /// The batch mean per channel.
    pub mean: &'a mut [f64],
    /// `1 / sqrt(var + eps)` per channel, `var` the biased batch variance.
    pub invstd: &'a mut [f64],
}

/// The training forward in f64 from the exact (two-pass f64) batch moments: the answer
/// [`crate::train_forward`] approximates. Running statistics update with
/// the same conventions, in f64 without rounding.
///
/// # Errors
/// As [`crate::train_forward`], with `y`, `saved.mean`, `saved.invstd`, `running.mean`,
/// `running.var` naming the fields of `out` and `running`.
pub fn train_forward(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    running: Option<Running64<'_>>,
    out: Train64<'_>,
) -> Result<(), Error> {
    let d = dims(shape, x.len(), true)?;
    check_len("y", x.len(), out.y.len())?;
    check_len("gamma", d.c, p.gamma.len())?;
    check_len("beta", d.c, p.beta.len())?;
    check_len("saved.mean", d.c, out.mean.len())?;
    check_len("saved.invstd", d.c, out.invstd.len())?;
    if let Some(r) = &running {
        check_len("running.mean", d.c, r.mean.len())?;
        check_len("running.var", d.c, r.var.len())?;
    }
    check_eps(p.eps)?;
    if let Some(r) = &running {
        check_momentum(r.momentum)?;
        if unbiased(r.momentum) && d.c > 0 && d.count < 2 {
            return Err(Error::TooFewValues {
                count: d.count,
                needed: 2,
            });
        }
    }
    check_act(p.act)?;
    let mut running = running;
    for k in 0..d.c {
        let m = channel_moments(x, d, layout, k);
        out.mean[k] = m.mean;
        out.invstd[k] = 1.0 / sqrt_f64(m.variance() + f64::from(p.eps));
        if let Some(r) = &mut running {
            (r.mean[k], r.var[k]) = running_update(r.momentum, r.mean[k], r.var[k], &m);
        }
    }
    for (i, (y, &x)) in out.y.iter_mut().zip(x).enumerate() {
        let k = channel_of(i, d, layout);
        let v = (f64::from(x) - out.mean[k]) * out.invstd[k] * f64::from(p.gamma[k])
            + f64::from(p.beta[k]);
        *y = activate(v, p.act);
    }
    Ok(())
}

/// Whether the gradient passes the activation whose output is `y`: ReLU where `y > 0`,
/// `Clamp` where `min < y < max`; NaN passes (PyTorch's `threshold_backward`,
/// `hardtanh_backward`); every other activation passes everything.
pub fn activation_passes(y: f32, act: Activation) -> bool {
    let y = f64::from(y);
    match act {
        Activation::Relu => y.is_nan() || y > 0.0,
        Activation::Clamp { min, max } => y.is_nan() || (y > f64::from(min) && y < f64::from(max)),
        _ => true,
    }
}

/// The f64 outputs of [`backward`].
#[derive(Debug)]
pub struct Backward64<'a> {
    /// The gradient of `x`, `shape.numel()` values.
    pub dx: &'a mut [f64],
    /// `Σdy·xhat` per channel.
    pub dgamma: &'a mut [f64],
    /// `Σdy` per channel.
    pub dbeta: &'a mut [f64],
}

/// The backward pass in f64 from the given (f32) statistics, nothing rounded: the answer
/// [`crate::backward`] (`fwd` `None`) and [`crate::backward_activated`] approximate.
/// With `xhat = (x - mean)*invstd` and `dy` masked by `fwd` (0 where the activation did
/// not pass): `dbeta = Σdy`, `dgamma = Σdy·xhat`, `dx = gamma*invstd*(dy - dbeta/m -
/// xhat*dgamma/m)` for batch statistics, `dy*gamma*invstd` for running ones. A zero-sized
/// shape gives `dgamma = dbeta = 0`.
///
/// # Errors
/// As [`crate::backward_activated`], with `dx`, `dgamma`, `dbeta` naming the fields of
/// `out`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    dy: &[f32],
    shape: Shape,
    layout: Layout,
    p: &BackwardParams,
    stats: ForwardStats,
    fwd: Option<Activated>,
    out: Backward64<'_>,
) -> Result<(), Error> {
    let d = dims(shape, x.len(), false)?;
    check_len("dy", x.len(), dy.len())?;
    check_len("dx", x.len(), out.dx.len())?;
    if let Some(f) = &fwd {
        check_len("y", x.len(), f.y.len())?;
    }
    check_len("mean", d.c, p.mean.len())?;
    check_len("invstd", d.c, p.invstd.len())?;
    check_len("gamma", d.c, p.gamma.len())?;
    check_len("dgamma", d.c, out.dgamma.len())?;
    check_len("dbeta", d.c, out.dbeta.len())?;
    if let Some(f) = &fwd {
        check_act(f.act)?;
        match f.act {
            Activation::Identity | Activation::Relu | Activation::Clamp { .. } => {}
            _ => {
                return Err(Error::InvalidParameter {
                    name: "act",
                    value: f32::NAN,
                    expected: "Identity, Relu or Clamp (the activations the backward pass masks by)",
                });
            }
        }
    }
    let g = |i: usize| -> f64 {
        let pass = fwd
            .as_ref()
            .is_none_or(|f| activation_passes(f.y[i], f.act));
        if pass { f64::from(dy[i]) } else { 0.0 }
    };
    let xhat =
        |i: usize, k: usize| (f64::from(x[i]) - f64::from(p.mean[k])) * f64::from(p.invstd[k]);
    out.dgamma.fill(0.0);
    out.dbeta.fill(0.0);
    for i in 0..x.len() {
        let k = channel_of(i, d, layout);
        out.dbeta[k] += g(i);
        out.dgamma[k] += g(i) * xhat(i, k);
    }
    let m = d.count as f64;
    for i in 0..x.len() {
        let k = channel_of(i, d, layout);
        let a = f64::from(p.gamma[k]) * f64::from(p.invstd[k]);
        out.dx[i] = match stats {
            ForwardStats::Running => g(i) * a,
            _ => a * (g(i) - out.dbeta[k] / m - xhat(i, k) * out.dgamma[k] / m),
        };
    }
    Ok(())
}

/// Folding in f64 without rounding: `w_out` gets `w * scale[o]`, `b_out` gets
/// `(b - mean) * scale + beta` (`bias` `None` = zeros), `scale = gamma / sqrt(var + eps)`:
/// the answer [`crate::fold_into_weights`] rounds to f32.
///
/// # Errors
/// As [`crate::fold_into_weights`], plus [`Error::LengthMismatch`] naming `w_out` or
/// `b_out` when they are not as long as `weights` and the bias.
pub fn fold_into_weights(
    weights: &[f32],
    shape: WeightShape,
    bias: Option<&[f32]>,
    p: &NormParams,
    w_out: &mut [f64],
    b_out: &mut [f64],
) -> Result<(), Error> {
    if let WeightLayout::Transposed { groups, kernel } = shape.layout {
        for (name, value, divisor_name, divisor) in [
            ("out", shape.out, "Transposed.groups", groups),
            ("per_out", shape.per_out, "Transposed.kernel", kernel),
        ] {
            if divisor == 0 || !value.is_multiple_of(divisor) {
                return Err(Error::Indivisible {
                    name,
                    value,
                    divisor_name,
                    divisor,
                });
            }
        }
    }
    let expected = shape
        .out
        .checked_mul(shape.per_out)
        .ok_or(Error::WeightOverflow {
            out: shape.out,
            per_out: shape.per_out,
        })?;
    check_len("weights", expected, weights.len())?;
    if let Some(b) = bias {
        check_len("bias", shape.out, b.len())?;
    }
    check_params(p, shape.out)?;
    check_len("w_out", weights.len(), w_out.len())?;
    check_len("b_out", shape.out, b_out.len())?;
    for (i, (wo, &w)) in w_out.iter_mut().zip(weights).enumerate() {
        let o = match shape.layout {
            WeightLayout::OutFirst => i / shape.per_out.max(1),
            WeightLayout::OutLast => i % shape.out.max(1),
            // `[in, out / groups, kernel]`: input channel `ci`, output `j` of its group.
            WeightLayout::Transposed { groups, kernel } => {
                let out_per_group = shape.out / groups;
                let in_per_group = shape.per_out / kernel;
                let ci = i / (out_per_group * kernel);
                let j = (i / kernel) % out_per_group;
                (ci / in_per_group) * out_per_group + j
            }
        };
        *wo = f64::from(w) * scale(p, o);
    }
    for (o, bo) in b_out.iter_mut().enumerate() {
        let b = bias.map_or(0.0, |b| f64::from(b[o]));
        *bo = (b - f64::from(p.mean[o])) * scale(p, o) + f64::from(p.beta[o]);
    }
    Ok(())
}

/// Checks strided NHWC rows as the strided kernels do: [`Error::ShapeOverflow`], then
/// for each `(buffer, length, stride name, stride)` in turn [`Error::StrideTooSmall`],
/// [`Error::StrideOverflow`] and [`Error::BufferTooShort`], then with `need_values`
/// [`Error::EmptyChannel`]. Returns the pixel (row) count and `c`.
fn strided_rows(
    shape: Shape,
    bufs: &[(&'static str, usize, &'static str, usize)],
    need_values: bool,
) -> Result<(usize, usize), Error> {
    let Shape { n, c, h, w } = shape;
    let zero = n == 0 || c == 0 || h == 0 || w == 0;
    let pixels = if zero {
        0
    } else {
        n.checked_mul(c)
            .and_then(|v| v.checked_mul(h))
            .and_then(|v| v.checked_mul(w))
            .ok_or(Error::ShapeOverflow { n, c, h, w })?;
        n * h * w
    };
    for &(buffer, len, name, stride) in bufs {
        if stride < c {
            return Err(Error::StrideTooSmall { name, stride, c });
        }
        let needed = if pixels == 0 {
            0
        } else {
            let last = (pixels as u128 - 1) * stride as u128 + c as u128;
            usize::try_from(last).map_err(|_| Error::StrideOverflow {
                name,
                pixels,
                stride,
                c,
            })?
        };
        if len < needed {
            return Err(Error::BufferTooShort {
                buffer,
                needed,
                actual: len,
            });
        }
    }
    if need_values && c > 0 && pixels == 0 {
        return Err(Error::EmptyChannel { n, h, w });
    }
    Ok((pixels, c))
}

/// Per-channel [`Moments`] of NHWC pixel rows of `shape.c` values starting `x_stride`
/// values apart in `x` (row `i` is `x[i * x_stride..][..c]`), by the same f64 two-pass
/// (and non-finite rule) as [`moments`]: the exact answer
/// [`crate::accumulate_moments_strided`] approximates.
///
/// # Errors
/// As [`crate::batch_stats_strided`], with `out` in place of `mean`/`var`.
pub fn moments_strided(
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    out: &mut [Moments],
) -> Result<(), Error> {
    let (pixels, c) = strided_rows(shape, &[("x", x.len(), "x_stride", x_stride)], true)?;
    check_len("out", c, out.len())?;
    for (k, o) in out.iter_mut().enumerate() {
        let value = |i: usize| x[i * x_stride + k];
        let (mut nan, mut pos, mut neg) = (false, false, false);
        let mut sum = 0.0f64;
        for i in 0..pixels {
            let v = value(i);
            nan |= v.is_nan();
            pos |= v == f32::INFINITY;
            neg |= v == f32::NEG_INFINITY;
            sum += f64::from(v);
        }
        let count = pixels as f64;
        *o = if nan || pos || neg {
            let mean = match (nan, pos, neg) {
                (false, true, false) => f64::INFINITY,
                (false, false, true) => f64::NEG_INFINITY,
                _ => f64::NAN,
            };
            Moments {
                count: pixels as u64,
                mean,
                m2: f64::NAN,
            }
        } else {
            let mean = sum / count;
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for i in 0..pixels {
                let d = f64::from(value(i)) - mean;
                s1 += d;
                s2 += d * d;
            }
            Moments {
                count: pixels as u64,
                mean: mean + s1 / count,
                m2: s2 - s1 * s1 / count,
            }
        };
    }
    Ok(())
}

/// Per-channel mean and biased variance in f64 of strided NHWC rows (see
/// [`moments_strided`]): the exact answer [`crate::batch_stats_strided`] approximates.
///
/// # Errors
/// As [`crate::batch_stats_strided`].
pub fn batch_stats_strided(
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    mean: &mut [f64],
    var: &mut [f64],
) -> Result<(), Error> {
    let (_, c) = strided_rows(shape, &[("x", x.len(), "x_stride", x_stride)], true)?;
    check_len("mean", c, mean.len())?;
    check_len("var", c, var.len())?;
    for k in 0..c {
        let mut one = [Moments::default()];
        let sub = Shape::new(shape.n, 1, shape.h, shape.w);
        moments_strided(x.get(k..).unwrap_or(&[]), x_stride, sub, &mut one)?;
        mean[k] = one[0].mean;
        var[k] = one[0].variance();
    }
    Ok(())
}

/// [`normalize`] over strided NHWC rows, in f64: row `i` of `x` (`x[i * x_stride..][..c]`)
/// gives row `i` of `y` (`y[i * y_stride..][..c]`); nothing else in `y` is written. The
/// exact answer [`crate::normalize_strided`] approximates.
///
/// # Errors
/// As [`crate::normalize_strided`].
pub fn normalize_strided(
    x: &[f32],
    x_stride: usize,
    y: &mut [f64],
    y_stride: usize,
    shape: Shape,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let bufs = [
        ("x", x.len(), "x_stride", x_stride),
        ("y", y.len(), "y_stride", y_stride),
    ];
    let (pixels, c) = strided_rows(shape, &bufs, false)?;
    check_params(p, c)?;
    check_act(act)?;
    for i in 0..pixels {
        for k in 0..c {
            let v = f64::from(x[i * x_stride + k]);
            let t = (v - f64::from(p.mean[k])) * scale(p, k) + f64::from(p.beta[k]);
            y[i * y_stride + k] = activate(t, act);
        }
    }
    Ok(())
}
