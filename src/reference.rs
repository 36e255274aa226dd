//! The oracle: plain scalar f64 implementations of every kernel, for tests, fuzzing and
//! benches. Slow on purpose and written for obviousness, not speed.
//!
//! Each function validates its arguments exactly like its fast counterpart, so the
//! reference can be called with the same (possibly wrong) arguments in fuzzing.

use crate::shape::{Dims, check_len};
use crate::simd::sqrt_f64;
use crate::{
    Activation, Error, Layout, Moments, Momentum, NormParams, Shape, TrainParams, WeightLayout,
    WeightShape,
};

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
    let d = shape.dims(x.len(), true)?;
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
    let d = shape.dims(x.len(), true)?;
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
/// above `max` to `max`, and keeps NaN.
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
    }
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
    let d = shape.dims(x.len(), false)?;
    check_len("y", x.len(), y.len())?;
    p.check(d.c)?;
    act.check()?;
    for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let k = channel_of(i, d, layout);
        let scale = f64::from(p.gamma[k]) / sqrt_f64(f64::from(p.var[k]) + f64::from(p.eps));
        let v = (f64::from(x) - f64::from(p.mean[k])) * scale + f64::from(p.beta[k]);
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
    let d = shape.dims(x.len(), true)?;
    check_len("y", x.len(), out.y.len())?;
    check_len("gamma", d.c, p.gamma.len())?;
    check_len("beta", d.c, p.beta.len())?;
    check_len("saved.mean", d.c, out.mean.len())?;
    check_len("saved.invstd", d.c, out.invstd.len())?;
    if let Some(r) = &running {
        check_len("running.mean", d.c, r.mean.len())?;
        check_len("running.var", d.c, r.var.len())?;
    }
    crate::normalize::check_eps(p.eps)?;
    if let Some(r) = &running {
        r.momentum.check()?;
        if r.momentum.unbiased() && d.c > 0 && d.count < 2 {
            return Err(Error::TooFewValues {
                count: d.count,
                needed: 2,
            });
        }
    }
    p.act.check()?;
    let mut running = running;
    for k in 0..d.c {
        let m = channel_moments(x, d, layout, k);
        out.mean[k] = m.mean;
        out.invstd[k] = 1.0 / sqrt_f64(m.variance() + f64::from(p.eps));
        if let Some(r) = &mut running {
            (r.mean[k], r.var[k]) = r.momentum.update(r.mean[k], r.var[k], &m);
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
    p.check(shape.out)?;
    check_len("w_out", weights.len(), w_out.len())?;
    check_len("b_out", shape.out, b_out.len())?;
    for (i, (wo, &w)) in w_out.iter_mut().zip(weights).enumerate() {
        let o = match shape.layout {
            WeightLayout::OutFirst => i / shape.per_out.max(1),
            WeightLayout::OutLast => i % shape.out.max(1),
        };
        *wo = f64::from(w) * crate::fold::scale(p, o);
    }
    for (o, bo) in b_out.iter_mut().enumerate() {
        let b = bias.map_or(0.0, |b| f64::from(b[o]));
        *bo = (b - f64::from(p.mean[o])) * crate::fold::scale(p, o) + f64::from(p.beta[o]);
    }
    Ok(())
}
