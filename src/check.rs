//! The argument checks of the entry points beyond the shape and buffer lengths (those are
//! in `shape.rs`): `eps`, the activation's bounds, the momentum, and every check of a
//! training forward, of a backward pass and of a weight fold, in the order their errors
//! are documented.
//!
//! The oracle (`reference/`) has checks of its own and does not use these.

use crate::backward::{Activated, BackwardParams};
use crate::error::Error;
use crate::fold::{Bias, WeightLayout, WeightShape};
use crate::normalize::prepared::Prepared;
use crate::normalize::{Activation, NormParams};
use crate::shape::{Dims, Shape, check_len};
use crate::train::{Momentum, RunningStats, SavedStats, TrainParams};

/// `Ok` when `eps` is finite and `>= 0`.
pub(crate) fn eps(eps: f32) -> Result<(), Error> {
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

/// `Ok` when the bounds of a `Clamp` are ordered and not NaN, and a `LeakyRelu`'s slope
/// is finite.
pub(crate) fn activation(act: Activation) -> Result<(), Error> {
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

/// Checks the four slices of `p` against `c` channels, then `eps`.
pub(crate) fn norm_params(p: &NormParams, c: usize) -> Result<(), Error> {
    check_len("mean", c, p.mean.len())?;
    check_len("var", c, p.var.len())?;
    check_len("gamma", c, p.gamma.len())?;
    check_len("beta", c, p.beta.len())?;
    eps(p.eps)
}

/// Every check of [`crate::prepare`]: the slices of `p` and `scale` hold as many values as
/// `p.mean`, `eps` is valid, then channel by channel: `mean`, `var`, `gamma`, `beta`
/// finite and `var + eps > 0` (in f64, as the scale is computed).
pub(crate) fn prepare(p: &NormParams, scale_len: usize) -> Result<(), Error> {
    let c = p.mean.len();
    norm_params(p, c)?;
    check_len("scale", c, scale_len)?;
    let eps = f64::from(p.eps);
    let chans = p.mean.iter().zip(p.var).zip(p.gamma.iter().zip(p.beta));
    for (channel, ((&mean, &var), (&gamma, &beta))) in chans.enumerate() {
        let bad = |name, value, expected| Error::BadChannel {
            channel,
            name,
            value,
            expected,
        };
        if !mean.is_finite() {
            return Err(bad("mean", mean, "finite"));
        }
        if !(var.is_finite() && f64::from(var) + eps > 0.0) {
            return Err(bad("var", var, "finite, with var + eps > 0"));
        }
        if !gamma.is_finite() {
            return Err(bad("gamma", gamma, "finite"));
        }
        if !beta.is_finite() {
            return Err(bad("beta", beta, "finite"));
        }
    }
    Ok(())
}

/// Checks the three slices of `p` against `c` channels.
pub(crate) fn prepared(p: &Prepared, c: usize) -> Result<(), Error> {
    check_len("mean", c, p.mean.len())?;
    check_len("scale", c, p.scale.len())?;
    check_len("beta", c, p.beta.len())
}

/// `Ok` when the momentum is in `[0, 1]` (NaN is not).
pub(crate) fn momentum(m: Momentum) -> Result<(), Error> {
    match m {
        Momentum::PyTorch(m) | Momentum::Onnx(m) if !(0.0..=1.0).contains(&m) => {
            Err(Error::InvalidParameter {
                name: "momentum",
                value: m,
                expected: "in [0, 1]",
            })
        }
        _ => Ok(()),
    }
}

/// Every check of a training forward but `y`'s length.
pub(crate) fn train(
    x_len: usize,
    shape: Shape,
    p: &TrainParams,
    running: Option<&RunningStats<'_>>,
    saved: &SavedStats<'_>,
) -> Result<Dims, Error> {
    let d = shape.dims(x_len, true)?;
    check_len("gamma", d.c, p.gamma.len())?;
    check_len("beta", d.c, p.beta.len())?;
    check_len("saved.mean", d.c, saved.mean.len())?;
    check_len("saved.invstd", d.c, saved.invstd.len())?;
    if let Some(r) = running {
        check_len("running.mean", d.c, r.mean.len())?;
        check_len("running.var", d.c, r.var.len())?;
    }
    eps(p.eps)?;
    if let Some(r) = running {
        momentum(r.momentum)?;
        if r.momentum.unbiased() && d.c > 0 && d.count < 2 {
            return Err(Error::TooFewValues {
                count: d.count,
                needed: 2,
            });
        }
    }
    activation(p.act)?;
    Ok(d)
}

/// Every check of [`crate::fold_into_weights`].
pub(crate) fn fold(
    weights_len: usize,
    shape: WeightShape,
    bias: &Bias<'_>,
    p: &NormParams,
) -> Result<(), Error> {
    if let WeightLayout::Transposed { groups, kernel } = shape.layout {
        divides("out", shape.out, "Transposed.groups", groups)?;
        divides("per_out", shape.per_out, "Transposed.kernel", kernel)?;
    }
    let expected = shape
        .out
        .checked_mul(shape.per_out)
        .ok_or(Error::WeightOverflow {
            out: shape.out,
            per_out: shape.per_out,
        })?;
    check_len("weights", expected, weights_len)?;
    let bias_len = match bias {
        Bias::InPlace(b) | Bias::Absent(b) => b.len(),
    };
    check_len("bias", shape.out, bias_len)?;
    norm_params(p, shape.out)
}

/// `Ok` when `divisor >= 1` divides `value`, else [`Error::Indivisible`].
fn divides(
    name: &'static str,
    value: usize,
    divisor_name: &'static str,
    divisor: usize,
) -> Result<(), Error> {
    if divisor > 0 && value.is_multiple_of(divisor) {
        Ok(())
    } else {
        Err(Error::Indivisible {
            name,
            value,
            divisor_name,
            divisor,
        })
    }
}

/// Every check of a backward pass, in this order: the shape against `x`, then the
/// lengths of `dy`, `dx` (when there is one: not in place), the forward's `y`, `mean`,
/// `invstd`, `gamma`, `dgamma`, `dbeta`, then the activation (valid, and one whose
/// backward is implemented). A zero-sized shape is accepted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    x_len: usize,
    dy_len: usize,
    dx_len: Option<usize>,
    shape: Shape,
    p: &BackwardParams,
    fwd: Option<&Activated>,
    dgamma_len: usize,
    dbeta_len: usize,
) -> Result<Dims, Error> {
    let d = shape.dims(x_len, false)?;
    check_len("dy", x_len, dy_len)?;
    if let Some(n) = dx_len {
        check_len("dx", x_len, n)?;
    }
    if let Some(f) = fwd {
        check_len("y", x_len, f.y.len())?;
    }
    check_len("mean", d.c, p.mean.len())?;
    check_len("invstd", d.c, p.invstd.len())?;
    check_len("gamma", d.c, p.gamma.len())?;
    check_len("dgamma", d.c, dgamma_len)?;
    check_len("dbeta", d.c, dbeta_len)?;
    if let Some(f) = fwd {
        activation(f.act)?;
        if !matches!(
            f.act,
            Activation::Identity | Activation::Relu | Activation::Clamp { .. }
        ) {
            return Err(Error::InvalidParameter {
                name: "act",
                value: f32::NAN,
                expected: "Identity, Relu or Clamp (the activations the backward pass masks by)",
            });
        }
    }
    Ok(d)
}
