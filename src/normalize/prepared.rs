//! Prepared inference: [`Prepared`] constants checked and computed once ([`prepare`]),
//! then [`normalize_prepared`] and [`normalize_prepared_in_place`] on every call.

use super::io::InPlace;
use super::{Activation, NormParams, out_of_place, run};
use crate::check;
use crate::error::Error;
use crate::shape::{Layout, Shape, check_len};
use crate::simd::Isa;

/// Per-channel constants prepared once ([`prepare`], e.g. when a model is loaded) for
/// [`normalize_prepared`]: channel `k` computes `y = (x - mean[k]) * scale[k] + beta[k]`.
/// Each slice holds one value per channel.
///
/// With the `scale` that [`prepare`] computed from a [`NormParams`], the results are
/// bitwise those of [`normalize`](super::normalize) with those parameters, at every [`Isa`]; the square roots
/// and divisions are just not redone on every call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prepared<'a> {
    /// Per-channel mean subtracted from `x`.
    pub mean: &'a [f32],
    /// Per-channel scale, `gamma / sqrt(var + eps)` rounded once ([`prepare`]).
    pub scale: &'a [f32],
    /// Per-channel shift `beta`.
    pub beta: &'a [f32],
}

/// Computes the per-channel scales of [`Prepared`]: `scale[k] = gamma[k] / sqrt(var[k] + eps)`
/// in f64, rounded once to f32 (the value [`normalize`](super::normalize) computes on every call), and checks
/// every channel's parameters: the load-time check of a model.
///
/// Every slice of `p` and `scale` holds `p.mean.len()` values. A channel whose scale
/// overflows f32 (e.g. a huge `gamma` over a tiny `var + eps`) gets `±inf`, as in
/// [`normalize`](super::normalize).
///
/// # Errors
/// - [`Error::LengthMismatch`] naming `var`, `gamma`, `beta` or `scale` (against `mean`'s
///   length);
/// - [`Error::InvalidParameter`] naming `eps` (NaN, infinite or negative);
/// - [`Error::BadChannel`] naming the first channel (lowest index) with a `mean`, `var`,
///   `gamma` or `beta` that is not finite, or with `var + eps <= 0` (named `var`), and its
///   value.
///
/// On error `scale` is untouched.
///
/// # Example
/// ```
/// use batchnorm::{normalize, normalize_prepared, prepare, Activation, Layout, NormParams,
///                 Prepared, Shape};
///
/// let p = NormParams { mean: &[2.0, 12.0], var: &[1.0, 4.0], gamma: &[1.0, 2.0],
///                      beta: &[0.0, 1.0], eps: 0.0 };
/// let mut scale = [0.0f32; 2];
/// prepare(&p, &mut scale)?;
/// assert_eq!(scale, [1.0, 1.0]);
///
/// let q = Prepared { mean: p.mean, scale: &scale, beta: p.beta };
/// let x = [1.0f32, 3.0, 10.0, 14.0];
/// let (mut y, mut z) = ([0.0f32; 4], [0.0f32; 4]);
/// let shape = Shape::new(1, 2, 1, 2);
/// normalize_prepared(&x, &mut y, shape, Layout::Nchw, &q, Activation::Relu)?;
/// normalize(&x, &mut z, shape, Layout::Nchw, &p, Activation::Relu)?;
/// assert_eq!(y, z);
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn prepare(p: &NormParams, scale: &mut [f32]) -> Result<(), Error> {
    check::prepare(p, scale.len())?;
    crate::simd::scales(crate::simd::Portable, p.gamma, p.var, p.eps, scale);
    Ok(())
}

/// [`normalize`](super::normalize) with prepared constants: `y = act((x - mean[k]) * scale[k] + beta[k])`,
/// one subtract and one fused multiply-add per element, then the activation.
///
/// With `p.scale` from [`prepare`], bitwise equal to [`normalize`](super::normalize) with the parameters it
/// was prepared from, at every [`Isa`], in both layouts, and to
/// [`normalize_prepared_in_place`]. The constants are used as they are (not checked
/// beyond their lengths): non-finite ones follow IEEE arithmetic.
///
/// # Errors
/// - [`Error::ShapeOverflow`] when `n*c*h*w` overflows `usize`;
/// - [`Error::LengthMismatch`] naming `x`, `y`, `mean`, `scale` or `beta`;
/// - [`Error::InvalidParameter`] naming a bad parameter of `act` (as [`normalize`](super::normalize)).
///
/// On error `y` is untouched.
pub fn normalize_prepared(
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    normalize_prepared_at(Isa::detected(), x, y, shape, layout, p, act)
}

/// [`normalize_prepared`] at level `isa` (supported: checked by the caller).
pub(crate) fn normalize_prepared_at(
    isa: Isa,
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    normalize_prepared_part(isa, x, y, shape, layout, p, act, x.len())
}

/// [`normalize_prepared_at`] on a part of a tensor of `whole` values (a block of the
/// `rayon` feature's `par`), whose size decides whether the output streams: the same
/// choice for every part, and the one a single call on the whole tensor makes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn normalize_prepared_part(
    isa: Isa,
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
    whole: usize,
) -> Result<(), Error> {
    let d = shape.dims(x.len(), false)?;
    check_len("y", x.len(), y.len())?;
    check::prepared(p, d.c)?;
    check::activation(act)?;
    if x.is_empty() {
        return Ok(());
    }
    out_of_place(isa, x, y, d.layout_dims(layout), &p.into(), act, whole);
    Ok(())
}

/// [`normalize_prepared`] in place: `x` is overwritten with `y`. Bitwise identical to the
/// out-of-place result.
///
/// # Errors
/// As [`normalize_prepared`] (without `y`). On error `x` is untouched.
pub fn normalize_prepared_in_place(
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    normalize_prepared_in_place_at(Isa::detected(), x, shape, layout, p, act)
}

/// [`normalize_prepared_in_place`] at level `isa` (supported: checked by the caller).
pub(crate) fn normalize_prepared_in_place_at(
    isa: Isa,
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    let d = shape.dims(x.len(), false)?;
    check::prepared(p, d.c)?;
    check::activation(act)?;
    if x.is_empty() {
        return Ok(());
    }
    run(isa, &mut InPlace(x), d.layout_dims(layout), &p.into(), act);
    Ok(())
}
