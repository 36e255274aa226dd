//! Fused normalize + affine (+ activation): the public entry points (validate once, then
//! dispatch on layout) and what the layout kernels share: the in/out access ([`Io`]), the
//! per-element operation ([`norm`]) and the activations ([`Act`]).
//!
//! Every element goes through the same arithmetic whatever the layout, the shape or the
//! position in the buffer (main loop, tile leftover, last partial vector): one subtract,
//! one fused multiply-add, the activation, all on whole vectors. So `normalize` and
//! `normalize_in_place` agree bit for bit, and so do NCHW and NHWC.

pub(crate) mod interleaved;
pub(crate) mod planar;

use crate::shape::check_len;
use crate::simd::{Isa, LANES, Simd, Vf32, WithSimd, dispatch};
use crate::{Error, Layout, Shape};

/// What follows the affine step, in the same pass.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
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
}

impl Activation {
    /// ReLU6, as in MobileNet: `Clamp { min: 0.0, max: 6.0 }`.
    pub const RELU6: Activation = Activation::Clamp { min: 0.0, max: 6.0 };

    /// `Ok` when the bounds of a `Clamp` are ordered and not NaN.
    pub(crate) fn check(self) -> Result<(), Error> {
        if let Activation::Clamp { min, max } = self {
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

impl NormParams<'_> {
    /// Checks the four slices against `c` channels, then `eps`.
    pub(crate) fn check(&self, c: usize) -> Result<(), Error> {
        check_len("mean", c, self.mean.len())?;
        check_len("var", c, self.var.len())?;
        check_len("gamma", c, self.gamma.len())?;
        check_len("beta", c, self.beta.len())?;
        check_eps(self.eps)
    }
}

impl<'a> From<&NormParams<'a>> for Src<'a> {
    fn from(p: &NormParams<'a>) -> Src<'a> {
        Src {
            mean: p.mean,
            beta: p.beta,
            scale: ScaleFrom::Var {
                gamma: p.gamma,
                var: p.var,
                eps: p.eps,
            },
        }
    }
}

/// Where the scales of a call come from.
#[derive(Clone, Copy)]
pub(crate) enum ScaleFrom<'a> {
    /// `gamma / sqrt(var + eps)`, in f64.
    Var {
        gamma: &'a [f32],
        var: &'a [f32],
        eps: f32,
    },
    /// `gamma * invstd`, in f64 (the training forward: `invstd` computed in f64 from the
    /// batch's f64 variance).
    Invstd { gamma: &'a [f32], invstd: &'a [f32] },
}

/// The per-channel constants of a call (validated lengths): mean and beta as given, the
/// scales computed block by block.
#[derive(Clone, Copy)]
pub(crate) struct Src<'a> {
    pub mean: &'a [f32],
    pub beta: &'a [f32],
    pub scale: ScaleFrom<'a>,
}

impl Src<'_> {
    /// The scales of channels `k0..k0 + 8` (all `< c`), rounded once: bitwise what
    /// [`Src::scales`] gives. Small enough to inline in a loop that streams data, so its
    /// f64 divisions overlap the memory traffic.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn scales8(&self, k0: usize) -> [f32; 8] {
        fn eight(s: &[f32], k0: usize) -> [f32; 8] {
            s.get(k0..)
                .and_then(|t| t.first_chunk::<8>())
                .copied()
                .unwrap_or([1.0; 8])
        }
        match self.scale {
            ScaleFrom::Var { gamma, var, eps } => {
                crate::simd::scales8(eight(gamma, k0), eight(var, k0), eps)
            }
            ScaleFrom::Invstd { gamma, invstd } => {
                let (g, i) = (eight(gamma, k0), eight(invstd, k0));
                let mut out = [0.0f32; 8];
                for (o, (g, i)) in out.iter_mut().zip(g.iter().zip(&i)) {
                    *o = (f64::from(*g) * f64::from(*i)) as f32;
                }
                out
            }
        }
    }

    /// `out[i]` = the scale of channel `k0 + i` (`k0 + out.len() <= c`), rounded once.
    pub(crate) fn scales(&self, k0: usize, out: &mut [f32]) {
        fn tail(s: &[f32], k0: usize) -> &[f32] {
            s.get(k0..).unwrap_or(&[])
        }
        match self.scale {
            ScaleFrom::Var { gamma, var, eps } => {
                crate::simd::scales(tail(gamma, k0), tail(var, k0), eps, out);
            }
            ScaleFrom::Invstd { gamma, invstd } => {
                crate::simd::scales_from_invstd(tail(gamma, k0), tail(invstd, k0), out);
            }
        }
    }
}

/// `Ok` when `eps` is finite and `>= 0`.
pub(crate) fn check_eps(eps: f32) -> Result<(), Error> {
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
/// - [`Error::InvalidParameter`] naming `eps` (NaN, infinite or negative), or `Clamp.min` /
///   `Clamp.max` (NaN, or `min > max`).
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
    p.check(d.c)?;
    act.check()?;
    if x.is_empty() {
        // Nothing to write; and no loop over `n * c` empty planes (n may be huge).
        return Ok(());
    }
    run(
        isa,
        &mut OutOfPlace { x, y },
        d.layout_dims(layout),
        &p.into(),
        act,
    );
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
    p.check(d.c)?;
    act.check()?;
    if x.is_empty() {
        return Ok(());
    }
    run(isa, &mut InPlace(x), d.layout_dims(layout), &p.into(), act);
    Ok(())
}

/// One channel's constants: `y = (x - mean) * scale + beta`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Chan {
    pub mean: f32,
    pub scale: f32,
    pub beta: f32,
}

impl Chan {
    pub(crate) const ZERO: Chan = Chan {
        mean: 0.0,
        scale: 0.0,
        beta: 0.0,
    };
}

/// The constants of a block of consecutive channels: the scales computed for the block,
/// mean and beta borrowed from the caller. All three have the block's length.
#[derive(Clone, Copy)]
pub(crate) struct Block<'a> {
    pub mean: &'a [f32],
    pub scale: &'a [f32],
    pub beta: &'a [f32],
}

impl Block<'_> {
    /// Number of channels.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn len(&self) -> usize {
        self.scale.len()
    }

    /// Channel `i` of the block (`i < len`; zeros past the end).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn chan(&self, i: usize) -> Chan {
        match (self.mean.get(i), self.scale.get(i), self.beta.get(i)) {
            (Some(&mean), Some(&scale), Some(&beta)) => Chan { mean, scale, beta },
            _ => Chan::ZERO,
        }
    }

    /// Channels `i..i + LANES` as one vector each (zeros past the end).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn consts_at<S: Simd>(&self, s: S, i: usize) -> Consts<S::F> {
        Consts {
            m: s.load_at(self.mean, i),
            s: s.load_at(self.scale, i),
            b: s.load_at(self.beta, i),
        }
    }
}

/// Calls `f` with the [`Block`] of channels `ks` of `p` (`ks.len() <= N`, validated): the
/// block's scales live on the stack.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn with_block<const N: usize, R>(
    p: &Src,
    ks: core::ops::Range<usize>,
    f: impl FnOnce(Block<'_>) -> R,
) -> R {
    let mut scale = [0.0f32; N];
    let w = ks.len().min(N);
    p.scales(ks.start, &mut scale[..w]);
    let ks = ks.start..ks.start + w;
    f(Block {
        mean: p.mean.get(ks.clone()).unwrap_or(&[]),
        scale: &scale[..w],
        beta: p.beta.get(ks).unwrap_or(&[]),
    })
}

/// The constants of a whole vector, one channel per lane.
#[derive(Clone, Copy)]
pub(crate) struct Consts<V> {
    m: V,
    s: V,
    b: V,
}

impl<V: Vf32> Consts<V> {
    /// Every lane channel `c`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn splat<S: Simd<F = V>>(s: S, c: Chan) -> Self {
        Consts {
            m: s.splat(c.mean),
            s: s.splat(c.scale),
            b: s.splat(c.beta),
        }
    }

    /// `self` with the lanes `from..` taken from `other`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn blend_from(self, other: Self, from: usize) -> Self {
        Consts {
            m: self.m.lanes_from(other.m, from),
            s: self.s.lanes_from(other.s, from),
            b: self.b.lanes_from(other.b, from),
        }
    }
}

/// An activation, applied to whole vectors (a type per variant, so the choice is made once
/// per call, outside the loops).
pub(crate) trait Act<V>: Copy {
    fn apply(self, v: V) -> V;
}

#[derive(Clone, Copy)]
pub(crate) struct NoAct;
#[derive(Clone, Copy)]
pub(crate) struct ReluAct;
#[derive(Clone, Copy)]
pub(crate) struct ClampAct<V> {
    lo: V,
    hi: V,
}

impl<V: Vf32> Act<V> for NoAct {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn apply(self, v: V) -> V {
        v
    }
}

impl<V: Vf32> Act<V> for ReluAct {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn apply(self, v: V) -> V {
        v.relu()
    }
}

impl<V: Vf32> Act<V> for ClampAct<V> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn apply(self, v: V) -> V {
        v.clamp(self.lo, self.hi)
    }
}

/// A computation generic over the activation type, run by [`with_act`].
pub(crate) trait WithAct<V> {
    fn call<A: Act<V>>(self, act: A);
}

/// Calls `f` with the activation type for `act` (checked).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn with_act<S: Simd>(s: S, act: Activation, f: impl WithAct<S::F>) {
    match act {
        Activation::Identity => f.call(NoAct),
        Activation::Relu => f.call(ReluAct),
        Activation::Clamp { min, max } => f.call(ClampAct {
            lo: s.splat(min),
            hi: s.splat(max),
        }),
    }
}

/// The per-element operation: `act((x - mean) * scale + beta)`, one subtract and one fused
/// multiply-add.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn norm<V: Vf32, A: Act<V>>(x: V, k: &Consts<V>, act: A) -> V {
    act.apply(affine(x, k))
}

/// `(x - mean) * scale + beta`, before the activation.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn affine<V: Vf32>(x: V, k: &Consts<V>) -> V {
    (x - k.m).mul_add(k.s, k.b)
}

/// Where a kernel reads its input and writes its output: two buffers, or one in place.
/// Kernels are written once over this trait, so both forms run the same instructions. Its
/// operations are small and `#[inline(always)]`, and kernels call them from plain loops
/// (no closures), so they are compiled for the kernel's ISA.
pub(crate) trait Io {
    /// The input values (before anything is written, in place).
    fn src(&self) -> &[f32];

    /// Writes `v` to `i..i + LANES` (nothing if that range leaves the buffer).
    fn store<V: Vf32>(&mut self, i: usize, v: V);

    /// Writes the first `n.min(LANES)` lanes of `v` at `i..`, stopping at the end of the
    /// buffer.
    fn write<V: Vf32>(&mut self, i: usize, n: usize, v: V);

    /// The `LANES` values at `i..`, zero-filled past the end.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn read<S: Simd>(&self, s: S, i: usize) -> S::F {
        s.load_at(self.src(), i)
    }

    /// Number of values.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn len(&self) -> usize {
        self.src().len()
    }

    /// Replaces the whole vector at `i` (inside the buffer) with `norm(it, k, act)`: one
    /// read, one store.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn norm_at<S: Simd, A: Act<S::F>>(&mut self, s: S, i: usize, k: &Consts<S::F>, act: A) {
        let y = norm(self.read(s, i), k, act);
        self.store(i, y);
    }
}

/// Out of place: read `x`, write `y` (same length).
pub(crate) struct OutOfPlace<'a> {
    pub x: &'a [f32],
    pub y: &'a mut [f32],
}

/// In place: read and write one buffer.
pub(crate) struct InPlace<'a>(pub &'a mut [f32]);

/// The whole vector of `buf` at `i`, if it lies inside.
#[cfg_attr(not(debug_assertions), inline(always))]
fn vector_at(buf: &mut [f32], i: usize) -> Option<&mut [f32; LANES]> {
    buf.get_mut(i..)?.first_chunk_mut::<LANES>()
}

impl Io for OutOfPlace<'_> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn src(&self) -> &[f32] {
        self.x
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn store<V: Vf32>(&mut self, i: usize, v: V) {
        if let Some(out) = vector_at(self.y, i) {
            v.store(out);
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn write<V: Vf32>(&mut self, i: usize, n: usize, v: V) {
        let end = self.y.len().min(i.saturating_add(n));
        if let Some(out) = self.y.get_mut(i..end) {
            v.store_partial(out);
        }
    }
}

impl Io for InPlace<'_> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn src(&self) -> &[f32] {
        self.0
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn store<V: Vf32>(&mut self, i: usize, v: V) {
        if let Some(out) = vector_at(self.0, i) {
            v.store(out);
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn write<V: Vf32>(&mut self, i: usize, n: usize, v: V) {
        let end = self.0.len().min(i.saturating_add(n));
        if let Some(out) = self.0.get_mut(i..end) {
            v.store_partial(out);
        }
    }
}

/// The sizes a layout kernel needs, for a validated shape.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LayoutDims {
    /// Planar with `plane = h*w >= 2`: `n` samples of `c` planes.
    Planar { n: usize, c: usize, plane: usize },
    /// Rows of `c` interleaved channels (NHWC, or NCHW with 1x1 planes).
    Rows { c: usize },
}

impl crate::shape::Dims {
    /// How the normalize kernels see this shape in `layout`.
    pub(crate) fn layout_dims(self, layout: Layout) -> LayoutDims {
        match layout {
            // A 1x1 plane is the interleaved layout with `n` rows.
            Layout::Nchw if self.plane != 1 => LayoutDims::Planar {
                n: self.n,
                c: self.c,
                plane: self.plane,
            },
            _ => LayoutDims::Rows { c: self.c },
        }
    }
}

/// Normalizes the whole buffer of `io` with the constants of `p` (validated).
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
            let Run { io, d, p, act } = self;
            with_act(s, act, WithS { s, io, d, p });
        }
    }
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
        LayoutDims::Rows { c } => interleaved::run(s, io, c, p, act),
    }
}
