//! The forward reference: activations (with this module's own `exp`), normalize and the
//! training forward.

use super::*;

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
/// exact answer [`fn@crate::normalize`] approximates in f32. `y` holds `shape.numel()` values.
///
/// # Errors
/// As [`fn@crate::normalize`].
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
