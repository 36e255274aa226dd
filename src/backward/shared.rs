//! What the backward's layout kernels share: the driver that validated entry points call
//! ([`run`]: the plan's kernel at the chosen ISA), the kernels' inputs and outputs, the
//! masks of a fused activation, and the per-channel constants of `dx`.

use super::interleaved;
use super::planar;
use super::{Activated, BackwardParams, ForwardStats};
use crate::normalize::Activation;
use crate::normalize::io::Io;
use crate::plan::{self, Kernel, Op};
use crate::shape::{Dims, Layout};
use crate::simd::{Isa, LANES, Simd, Vf32, WithSimd, dispatch};

/// The per-channel outputs.
pub(crate) struct Grads<'a> {
    pub dgamma: &'a mut [f32],
    pub dbeta: &'a mut [f32],
}

impl Grads<'_> {
    /// Channels `k0..k0 + width` of both (empty where they leave them).
    pub(crate) fn range(&mut self, k0: usize, width: usize) -> Grads<'_> {
        let r = k0..k0.saturating_add(width);
        Grads {
            dgamma: self.dgamma.get_mut(r.clone()).unwrap_or(&mut []),
            dbeta: self.dbeta.get_mut(r).unwrap_or(&mut []),
        }
    }
}

/// The backward on validated arguments: `io` reads `dy` and writes `dx`.
#[allow(clippy::too_many_arguments)]
pub(super) fn run<I: Io>(
    isa: Isa,
    io: &mut I,
    x: &[f32],
    d: Dims,
    layout: Layout,
    p: &BackwardParams,
    stats: ForwardStats,
    fwd: Option<Activated>,
    g: Grads,
) {
    if d.count == 0 || io.len() == 0 {
        // No values: empty sums (a zero-sized shape with channels), nothing else.
        g.dgamma.fill(0.0);
        g.dbeta.fill(0.0);
        return;
    }
    struct Run<'a, 'g, I> {
        io: &'a mut I,
        x: &'a [f32],
        y: &'a [f32],
        d: Dims,
        kernel: Kernel,
        p: &'a BackwardParams<'a>,
        batch: bool,
        act: Activation,
        g: Grads<'g>,
    }
    impl<I: Io> WithSimd for Run<'_, '_, I> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) {
            // Streaming outputs come only at the levels with streaming stores (the
            // entry): not compiling the others' streaming forms saves build time.
            if I::STREAMS && !S::STREAMS {
                debug_assert!(
                    false,
                    "a streaming output at a level without streaming stores"
                );
                return;
            }
            let k = Inputs {
                x: self.x,
                y: self.y,
                d: self.d,
                p: self.p,
                batch: self.batch,
            };
            match mask_bounds(self.act) {
                None => go(s, self.io, &k, self.kernel, NoMask, self.g),
                Some((below, above)) => {
                    let m = Range {
                        below: s.splat(below),
                        above: s.splat(above),
                        zero: s.zero(),
                    };
                    go(s, self.io, &k, self.kernel, m, self.g);
                }
            }
            if I::STREAMS {
                s.fence();
            }
        }
    }
    let batch = stats == ForwardStats::Batch;
    let (y, act) = match fwd {
        Some(f) => (f.y, f.act),
        None => (&[][..], Activation::Identity),
    };
    dispatch(
        isa,
        Run {
            io,
            x,
            y,
            d,
            kernel: plan::plan(Op::Backward { batch }, layout, d, isa),
            p,
            batch,
            act,
            g,
        },
    );
}

/// The inputs every kernel reads besides `dy`.
pub(crate) struct Inputs<'a> {
    /// The forward's input.
    pub x: &'a [f32],
    /// The forward's output, read only by a [`Mask`] with `USES_Y`.
    pub y: &'a [f32],
    pub d: Dims,
    pub p: &'a BackwardParams<'a>,
    /// [`ForwardStats::Batch`].
    pub batch: bool,
}

impl Inputs<'_> {
    /// `x` and, for a mask `M` that reads it, `y` over `start..start + len` (empty where
    /// the range leaves the buffer, or `y` is not read).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn at<V, M: Mask<V>>(&self, start: usize, len: usize) -> (&[f32], &[f32]) {
        let r = start..start.saturating_add(len);
        let x = self.x.get(r.clone()).unwrap_or(&[]);
        let y = if M::USES_Y {
            self.y.get(r).unwrap_or(&[])
        } else {
            &[]
        };
        (x, y)
    }
}

/// The plan's kernel, with the mask type chosen.
#[cfg_attr(not(debug_assertions), inline(always))]
fn go<S: Simd, I: Io, M: Mask<S::F>>(s: S, io: &mut I, k: &Inputs, kernel: Kernel, m: M, g: Grads) {
    match kernel {
        Kernel::NchwBackwardFused => planar::run(s, io, k, m, g, false),
        Kernel::NchwBackwardShort16 => planar::run(s, io, k, m, g, true),
        Kernel::NhwcBackwardTiled { period } => interleaved::tiled(s, io, k, period, m, g),
        Kernel::NhwcBackwardWholeRows => interleaved::whole_rows(s, io, k, m, g),
        Kernel::NhwcBackwardBlocksFused => interleaved::blocks(s, io, k, m, g, true),
        _ => interleaved::blocks(s, io, k, m, g, false),
    }
}

/// `(below, above)` for an activation that masks: the gradient is zeroed where
/// `y < below` (i.e. `y <= lo`: `below` is the next float up from `lo`) or `above < y`
/// (`y >= hi`; `above = NaN` for no upper bound). `None` for no mask.
fn mask_bounds(act: Activation) -> Option<(f32, f32)> {
    match act {
        Activation::Relu => Some((0.0f32.next_up(), f32::NAN)),
        Activation::Clamp { min, max } => Some((min.next_up(), max.next_down())),
        _ => None,
    }
}

/// Masks the incoming gradient by the forward's output.
pub(crate) trait Mask<V>: Copy {
    /// Whether `apply` reads `y` (otherwise kernels do not load it).
    const USES_Y: bool;
    /// `dy` where the activation passed its input through (given its output `y`), else 0.
    fn apply(self, dy: V, y: V) -> V;
}

/// No activation: `dy` as is.
#[derive(Clone, Copy)]
pub(crate) struct NoMask;

impl<V: Vf32> Mask<V> for NoMask {
    const USES_Y: bool = false;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn apply(self, dy: V, _y: V) -> V {
        dy
    }
}

/// ReLU or clamp: zero where `y < below` or `above < y` (ordered compares: NaN keeps).
#[derive(Clone, Copy)]
pub(crate) struct Range<V> {
    below: V,
    above: V,
    zero: V,
}

impl<V: Vf32> Mask<V> for Range<V> {
    const USES_Y: bool = true;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn apply(self, dy: V, y: V) -> V {
        let d = y.select_lt(self.below, self.zero, dy);
        self.above.select_lt(y, self.zero, d)
    }
}

/// One channel's constants for `dx`, from its f64 sums: `a = gamma*invstd`,
/// `cb = Σdy/m`, `dg = Σ(dy·xhat)/m`, each computed in f64 (`/m` as a product with
/// `1/m`, computed once per call) and rounded once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DxConsts {
    pub mean: f32,
    pub invstd: f32,
    pub a: f32,
    pub cb: f32,
    pub dg: f32,
}

impl DxConsts {
    /// Channel `k`'s constants (`k < c`) from its sums over `m` values (`inv_m = 1/m`).
    pub(crate) fn new(
        p: &BackwardParams,
        k: usize,
        sum_dy: f64,
        sum_dyxh: f64,
        inv_m: f64,
    ) -> Self {
        let get = |s: &[f32]| s.get(k).copied().unwrap_or(0.0);
        let (mean, invstd, gamma) = (get(p.mean), get(p.invstd), get(p.gamma));
        DxConsts {
            mean,
            invstd,
            a: (f64::from(gamma) * f64::from(invstd)) as f32,
            cb: (sum_dy * inv_m) as f32,
            dg: (sum_dyxh * inv_m) as f32,
        }
    }
}

/// The constants of [`DxConsts`] in lanes (one channel per lane, or one for all).
#[derive(Clone, Copy)]
pub(crate) struct Lanes<V> {
    pub mean: V,
    pub invstd: V,
    pub a: V,
    pub cb: V,
    /// `-dg`.
    pub ndg: V,
}

impl<V: Vf32> Lanes<V> {
    /// Every lane `k`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn splat<S: Simd<F = V>>(s: S, k: DxConsts) -> Self {
        Lanes {
            mean: s.splat(k.mean),
            invstd: s.splat(k.invstd),
            a: s.splat(k.a),
            cb: s.splat(k.cb),
            ndg: s.splat(-k.dg),
        }
    }

    /// `xhat = (x - mean)*invstd`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn xhat(&self, x: V) -> V {
        (x - self.mean) * self.invstd
    }

    /// `dx` from the (masked) `dy` and `x`: `a*(dy - cb - xhat*dg)` for batch statistics,
    /// `a*dy` (`x` not read) for running ones.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn dx(&self, dy: V, x: V, batch: bool) -> V {
        if batch {
            self.xhat(x).mul_add(self.ndg, dy - self.cb) * self.a
        } else {
            dy * self.a
        }
    }
}

/// A vector of `LANES` values, or zeros when absent (a mask's `y` where it is not read).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn load_or_zero<S: Simd>(s: S, v: Option<&[f32; LANES]>) -> S::F {
    match v {
        Some(a) => s.load(a),
        None => s.zero(),
    }
}

/// `v[r]` as one vector, zero-filled past its end (nothing where `r` leaves `v`): up to
/// 16 channels' parameters at once.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn load_range<S: Simd>(s: S, v: &[f32], r: core::ops::Range<usize>) -> S::F {
    s.load_partial(v.get(r).unwrap_or(&[]))
}
