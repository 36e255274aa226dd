//! The lane side of [`Activation`]: one type per activation ([`Act`]), chosen once per
//! call ([`with_act`]), and the per-element operation ([`norm`], [`affine`]).

use super::Activation;
use super::consts::Consts;
use crate::simd::{Simd, Vf32};

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
