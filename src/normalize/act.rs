//! The lane side of [`Activation`]: one type per activation ([`Act`]), chosen once per
//! call ([`with_act`]), and the per-element operation ([`norm`], [`affine`]). Each keeps
//! NaN: a NaN lane in gives a NaN lane out.

use super::Activation;
use super::consts::Consts;
use crate::simd::{Body, Simd, Vf32};

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

#[derive(Clone, Copy)]
pub(crate) struct LeakyReluAct<V> {
    slope: V,
    zero: V,
}

impl<V: Vf32> Act<V> for LeakyReluAct<V> {
    /// `v < 0 ? slope*v : v`: one rounding; NaN and `-0.0` pass through.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn apply(self, v: V) -> V {
        v.select_lt(self.zero, v * self.slope, v)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct HardSwishAct<V> {
    three: V,
    neg_three: V,
    sixth: V,
}

impl<V: Vf32> Act<V> for HardSwishAct<V> {
    /// `v * ((3 + clamp(v, -3, 3)) * (1/6))`, which is `v * (clamp(v + 3, 0, 6) * (1/6))`
    /// bit for bit (the same one rounding of `v + 3` inside the clamp, `±0` and `6`
    /// outside it): three roundings and the constant's half ulp, so within 3.5 ulp; `v >=
    /// 3` gives `v` exactly (`6 * (1/6)` rounds to 1), and no intermediate overflows. The
    /// clamp keeps NaN. At AVX-512 the symmetric clamp is one instruction
    /// ([`Vf32::clamp_sym`]): 1x1280x7x7 NCHW went from 79%
    /// to 86% of a copy loop on an Intel Xeon, where this activation is bound by the FP
    /// port.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn apply(self, v: V) -> V {
        v * ((self.three + v.clamp_sym(self.neg_three, self.three)) * self.sixth)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct SiluAct<S>(S);

impl<S: Simd> Act<S::F> for SiluAct<S> {
    /// `v / (1 + exp(-v))`: `exp` within 1.5 ulp (3u relative), then the sum and the
    /// quotient round once each: within 5u ≈ 3e-7 relative, under the documented
    /// `5e-7·|silu| + 1e-35` (the absolute part for results that underflow). In a function of its own
    /// per ISA ([`Simd::vectorize`]): a call per vector, not a copy of `exp` at
    /// each of the kernels' unrolled call sites.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn apply(self, v: S::F) -> S::F {
        struct Silu<V>(V);
        impl<S: Simd> Body<S> for Silu<S::F> {
            type Output = S::F;
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn run(self, s: S) -> S::F {
                let v = self.0;
                v / (s.splat(1.0) + crate::simd::exp(s, s.zero() - v))
            }
        }
        self.0.vectorize(Silu(v))
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
        Activation::LeakyRelu { slope } => f.call(LeakyReluAct {
            slope: s.splat(slope),
            zero: s.zero(),
        }),
        Activation::HardSwish => f.call(HardSwishAct {
            three: s.splat(3.0),
            neg_three: s.splat(-3.0),
            sixth: s.splat(1.0 / 6.0),
        }),
        Activation::Silu => f.call(SiluAct(s)),
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
