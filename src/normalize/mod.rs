//! Fused normalize + affine (+ activation): the public entry points and their parameter
//! types (validate once, then dispatch on layout to [`planar`] or [`interleaved`]).
//!
//! What the layout kernels share lives beside: the per-channel constants
//! ([`consts`]), the activations and the per-element operation ([`act`]), the in/out
//! access ([`io`]).
//!
//! Every element goes through the same arithmetic whatever the layout, the shape or the
//! position in the buffer (main loop, tile leftover, last partial vector): one subtract,
//! one fused multiply-add, the activation, all on whole vectors. So `normalize` and
//! `normalize_in_place` agree bit for bit, and so do NCHW and NHWC.

pub(crate) mod act;
pub(crate) mod consts;
pub(crate) mod interleaved;
pub(crate) mod io;
pub(crate) mod planar;
pub(crate) mod prepared;
pub(crate) mod strided;
#[cfg(test)]
mod tests;

use self::act::{Act, WithAct, with_act};
use self::consts::Src;
use self::io::{InPlace, Io, OutOfPlace};
use crate::check;
use crate::error::Error;
use crate::shape::{Dims, Layout, Shape, check_len};
use crate::simd::{Isa, Simd, WithSimd, dispatch};

/// What follows the affine step, in the same pass. Every activation maps NaN to NaN.
///
/// More activations may be added: a `match` on this enum outside the crate needs a `_`
/// arm.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Activation {
    /// `y` as is.
    #[default]
    Identity,
    /// `max(y, 0)`: negative values become `+0.0`; NaN, `-0.0` and `+inf` pass through.
    Relu,
    /// `y` limited to `[min, max]`: values below `min` become `min`, values above `max`
    /// become `max`, NaN passes through. ReLU6 is `Clamp { min: 0.0, max: 6.0 }`.
    /// `min <= max`, neither NaN (infinities are allowed).
    Clamp {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// Leaky ReLU: `y` where `y >= 0` (and for NaN and `-0.0`), `slope * y` below 0, one
    /// rounding (exact against scalar f32 arithmetic). `slope` must be finite.
    LeakyRelu {
        /// The factor of negative values (PyTorch's default is 0.01).
        slope: f32,
    },
    /// Hard swish (MobileNetV3): `y * min(max(y + 3, 0), 6) / 6`, within 4 ulp of the exact
    /// value; `y >= 3` gives `y` exactly, `y <= -3` gives `-0.0`. As the formula in IEEE
    /// arithmetic, `-inf` gives NaN (`-inf * 0`).
    HardSwish,
    /// SiLU (swish): `y / (1 + exp(-y))`, within `5e-7·|silu(y)| + 1e-35` of the exact
    /// value (the vectorized `exp` is within a few ulp). Large positive `y` gives `y`;
    /// below about `-88.7`, `-0.0`; as the formula in IEEE arithmetic, `-inf` gives NaN
    /// (`-inf / inf`).
    Silu,
}

impl Activation {
    /// ReLU6, as in MobileNet: `Clamp { min: 0.0, max: 6.0 }`.
    pub const RELU6: Activation = Activation::Clamp { min: 0.0, max: 6.0 };
}

/// Per-channel parameters of [`normalize`]: the statistics to normalize with and the affine
/// transform to apply. Each slice holds one value per channel.
///
/// Channel `k` computes `y = (x - mean[k]) * scale[k] + beta[k]` with
/// `scale[k] = gamma[k] / sqrt(var[k] + eps)`, the scale computed in f64 and rounded once.
///
/// Range: `x - mean[k]` is computed in f32, so where `|x - mean[k]|` overflows f32
/// (beyond `f32::MAX`, e.g. `x = f32::MAX`, `mean = -f32::MAX`) `y` is `±inf` (then
/// clamped by the activation, if it clamps), even when the scale is small enough for the
/// true result to be finite. See [`normalize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormParams<'a> {
    /// Per-channel mean subtracted from `x`.
    pub mean: &'a [f32],
    /// Per-channel variance (biased or not: the caller's choice).
    pub var: &'a [f32],
    /// Per-channel scale `gamma` ("weight" in PyTorch).
    pub gamma: &'a [f32],
    /// Per-channel shift `beta` ("bias" in PyTorch).
    pub beta: &'a [f32],
    /// Added to the variance before the square root; finite and `>= 0`.
    pub eps: f32,
}

/// Normalizes `x` into `y` channel by channel, applies the affine transform and `act`:
/// `y = act((x - mean[k]) * scale[k] + beta[k])` with `scale[k] = gamma[k] / sqrt(var[k] + eps)`
/// (computed once per channel in f64, then rounded to f32).
///
/// `x` and `y` hold `shape.numel()` values in `layout`; every slice of `p` holds `shape.c`
/// values. Each element costs one subtract and one fused multiply-add (the centered form,
/// which stays accurate when `|mean|` is large against the spread), then the activation.
/// A NaN in `x` gives NaN in `y` with every activation. The parameters are not checked
/// beyond `eps`: a channel with `var + eps == 0` gets the scale `gamma / 0` and whatever
/// IEEE arithmetic makes of it (`±inf`, or NaN where `x == mean` or `gamma == 0`); NaN
/// statistics give NaN outputs. A constant channel (`var == 0`, `eps > 0`) maps
/// `x == mean` to exactly `beta`.
///
/// Range: the result is computed as `x - mean` in f32, then times `scale` (and plus
/// `beta`): when `|x - mean|` overflows f32 the output is `±inf` (the sign of `x - mean`
/// times that of `scale`; the activation then applies to it, so ReLU turns `-inf` into
/// 0 and `Clamp` into its bound), even where the true result is finite (`x = f32::MAX`,
/// `mean = -f32::MAX`, `scale = 1e-3` gives `+inf`, not `6.8e35`). Where `x - mean` fits
/// but the product overflows, the output is `±inf` as the true result is.
///
/// The result is bitwise identical to [`normalize_in_place`]'s, and the same in both layouts.
///
/// # Errors
/// - [`Error::ShapeOverflow`] when `n*c*h*w` overflows `usize` (never for a shape with a
///   zero dimension: see [`Shape`]);
/// - [`Error::LengthMismatch`] naming `x`, `y`, `mean`, `var`, `gamma` or `beta`;
/// - [`Error::InvalidParameter`] naming `eps` (NaN, infinite or negative), `Clamp.min` /
///   `Clamp.max` (NaN, or `min > max`), or `LeakyRelu.slope` (not finite).
///
/// On error `y` is untouched.
///
/// # Example
/// ```
/// use batchnorm::{normalize, Activation, Layout, NormParams, Shape};
///
/// // Two channels of a 1x2x1x2 NCHW tensor.
/// let x = [1.0f32, 3.0, 10.0, 14.0];
/// let p = NormParams { mean: &[2.0, 12.0], var: &[1.0, 4.0], gamma: &[1.0, 2.0],
///                      beta: &[0.0, 1.0], eps: 0.0 };
/// let mut y = [0.0f32; 4];
/// normalize(&x, &mut y, Shape::new(1, 2, 1, 2), Layout::Nchw, &p, Activation::Relu)?;
/// assert_eq!(y, [0.0, 1.0, 0.0, 3.0]);
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn normalize(
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    normalize_at(Isa::detected(), x, y, shape, layout, p, act)
}

/// [`normalize`] at level `isa` (supported: checked by the caller).
pub(crate) fn normalize_at(
    isa: Isa,
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let d = shape.dims(x.len(), false)?;
    check_len("y", x.len(), y.len())?;
    check::norm_params(p, d.c)?;
    check::activation(act)?;
    if x.is_empty() {
        // Nothing to write; and no loop over `n * c` empty planes (n may be huge).
        return Ok(());
    }
    out_of_place(isa, x, y, d.layout_dims(layout), &p.into(), act, x.len());
    Ok(())
}

/// [`normalize`] in place: `x` is overwritten with `y`. Bitwise identical to the
/// out-of-place result.
///
/// # Errors
/// As [`normalize`] (without `y`). On error `x` is untouched.
pub fn normalize_in_place(
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    normalize_in_place_at(Isa::detected(), x, shape, layout, p, act)
}

/// [`normalize_in_place`] at level `isa` (supported: checked by the caller).
pub(crate) fn normalize_in_place_at(
    isa: Isa,
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let d = shape.dims(x.len(), false)?;
    check::norm_params(p, d.c)?;
    check::activation(act)?;
    if x.is_empty() {
        return Ok(());
    }
    run(isa, &mut InPlace(x), d.layout_dims(layout), &p.into(), act);
    Ok(())
}

/// [`run`] from `x` to `y` (contiguous: the plan's [`LayoutDims`]), part of a tensor of
/// `whole` values (`x.len()` for a whole one), the whole vectors stored streaming where
/// [`crate::plan::stream_out`] says so for `whole` values.
pub(crate) fn out_of_place(
    isa: Isa,
    x: &[f32],
    y: &mut [f32],
    d: LayoutDims,
    p: &Src,
    act: Activation,
    whole: usize,
) {
    if crate::plan::stream_out(isa, whole) {
        run(isa, &mut OutOfPlace::streaming(x, y), d, p, act);
    } else {
        run(isa, &mut OutOfPlace::new(x, y), d, p, act);
    }
}

/// The sizes a layout kernel needs, for a validated shape.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LayoutDims {
    /// Planar with `plane = h*w >= 2`: `n` samples of `c` planes.
    Planar { n: usize, c: usize, plane: usize },
    /// Rows of `c` interleaved channels (NHWC, or NCHW with 1x1 planes), starting
    /// `x_pitch >= c` values apart in the input and `y_pitch >= c` in the output (`c`
    /// for a contiguous tensor; equal in place).
    Rows {
        c: usize,
        x_pitch: usize,
        y_pitch: usize,
    },
}

impl Dims {
    /// How the normalize kernels see this shape in `layout`.
    pub(crate) fn layout_dims(self, layout: Layout) -> LayoutDims {
        if crate::plan::planar(layout, self) {
            LayoutDims::Planar {
                n: self.n,
                c: self.c,
                plane: self.plane,
            }
        } else {
            LayoutDims::Rows {
                c: self.c,
                x_pitch: self.c,
                y_pitch: self.c,
            }
        }
    }
}

/// Normalizes the whole buffer of `io` with the constants of `p` (validated), at `isa` or
/// the level [`crate::plan::normalize_level`] picks for it.
pub(crate) fn run<I: Io>(isa: Isa, io: &mut I, d: LayoutDims, p: &Src, act: Activation) {
    struct Run<'a, I> {
        io: &'a mut I,
        d: LayoutDims,
        p: &'a Src<'a>,
        act: Activation,
    }
    impl<I: Io> WithSimd for Run<'_, I> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) {
            struct WithS<'a, S, I> {
                s: S,
                io: &'a mut I,
                d: LayoutDims,
                p: &'a Src<'a>,
            }
            impl<S: Simd, I: Io> WithAct<S::F> for WithS<'_, S, I> {
                #[cfg_attr(not(debug_assertions), inline(always))]
                fn call<A: Act<S::F>>(self, act: A) {
                    run_with(self.s, self.io, self.d, self.p, act);
                }
            }
            // Streaming outputs come only at the levels with streaming stores
            // (`out_of_place`): not compiling the others' streaming forms saves build time.
            if I::STREAMS && !S::STREAMS {
                debug_assert!(
                    false,
                    "a streaming output at a level without streaming stores"
                );
                return;
            }
            let Run { io, d, p, act } = self;
            with_act(s, act, WithS { s, io, d, p });
            if I::STREAMS {
                s.fence();
            }
        }
    }
    let (plane, contiguous) = match d {
        LayoutDims::Planar { plane, .. } => (Some(plane), false),
        LayoutDims::Rows {
            c,
            x_pitch,
            y_pitch,
        } => (None, x_pitch == c && y_pitch == c),
    };
    let identity = matches!(act, Activation::Identity);
    let isa = crate::plan::normalize_level(isa, plane, contiguous, io.src().len(), identity);
    dispatch(isa, Run { io, d, p, act });
}

/// [`run`] with the lanes and the activation type chosen.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn run_with<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    d: LayoutDims,
    p: &Src,
    act: A,
) {
    match d {
        LayoutDims::Planar { n, c, plane } => planar::run(s, io, n, c, plane, p, act),
        LayoutDims::Rows {
            c,
            x_pitch,
            y_pitch,
        } => interleaved::run(s, io, c, [x_pitch, y_pitch], p, act),
    }
}
