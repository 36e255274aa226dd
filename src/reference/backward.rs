//! The backward reference (batch and running statistics, through a fused activation) and
//! the fold into convolution weights.

use super::*;

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

/// The f64 outputs of [`fn@backward`].
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
/// [`fn@crate::backward`] (`fwd` `None`) and [`crate::backward_activated`] approximate.
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
