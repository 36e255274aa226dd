//! The per-channel constants of a normalize call, derived from its parameters: where the
//! scales come from ([`Src`], [`ScaleFrom`]), a block of channels' constants on the stack
//! ([`Block`], [`with_block`]), one channel's ([`Chan`]) and a vector's ([`Consts`]).

use super::NormParams;
use super::prepared::Prepared;
use crate::simd::{LANES, Simd, Vf32};

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

impl<'a> From<&Prepared<'a>> for Src<'a> {
    fn from(p: &Prepared<'a>) -> Src<'a> {
        Src {
            mean: p.mean,
            beta: p.beta,
            scale: ScaleFrom::Given(p.scale),
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
    /// Given, already rounded to f32 ([`crate::prepare`]): used as they are.
    Given(&'a [f32]),
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
    pub(crate) fn scales8<S: Simd>(&self, s: S, k0: usize) -> [f32; 8] {
        fn eight(s: &[f32], k0: usize) -> [f32; 8] {
            s.get(k0..)
                .and_then(|t| t.first_chunk::<8>())
                .copied()
                .unwrap_or([1.0; 8])
        }
        match self.scale {
            ScaleFrom::Var { gamma, var, eps } => {
                crate::simd::scales8(s, eight(gamma, k0), eight(var, k0), eps)
            }
            ScaleFrom::Invstd { gamma, invstd } => {
                let (g, i) = (eight(gamma, k0), eight(invstd, k0));
                let mut out = [0.0f32; 8];
                for (o, (g, i)) in out.iter_mut().zip(g.iter().zip(&i)) {
                    *o = (f64::from(*g) * f64::from(*i)) as f32;
                }
                out
            }
            ScaleFrom::Given(scale) => eight(scale, k0),
        }
    }

    /// `out[i]` = the scale of channel `k0 + i` (`k0 + out.len() <= c`), rounded once.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn scales<S: Simd>(&self, s: S, k0: usize, out: &mut [f32]) {
        fn tail(s: &[f32], k0: usize) -> &[f32] {
            s.get(k0..).unwrap_or(&[])
        }
        match self.scale {
            ScaleFrom::Var { gamma, var, eps } => {
                crate::simd::scales(s, tail(gamma, k0), tail(var, k0), eps, out);
            }
            ScaleFrom::Invstd { gamma, invstd } => {
                crate::simd::scales_from_invstd(tail(gamma, k0), tail(invstd, k0), out);
            }
            ScaleFrom::Given(scale) => {
                for (o, v) in out.iter_mut().zip(tail(scale, k0)) {
                    *o = *v;
                }
            }
        }
    }
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

    /// The block's whole vectors of constants in order (vector `j`: channels
    /// `j * LANES..(j + 1) * LANES`), loaded with no bounds test or partial-load branch
    /// per vector, as [`Block::consts_at`] has; a partial last vector is not included.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn vectors<S: Simd>(&self, s: S) -> impl Iterator<Item = Consts<S::F>> + '_ {
        let (m, _) = self.mean.as_chunks::<LANES>();
        let (sc, _) = self.scale.as_chunks::<LANES>();
        let (b, _) = self.beta.as_chunks::<LANES>();
        m.iter().zip(sc).zip(b).map(move |((m, sc), b)| Consts {
            m: s.load(m),
            s: s.load(sc),
            b: s.load(b),
        })
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
pub(crate) fn with_block<const N: usize, S: Simd, R>(
    s: S,
    p: &Src,
    ks: core::ops::Range<usize>,
    f: impl FnOnce(Block<'_>) -> R,
) -> R {
    let mut scale = [0.0f32; N];
    let w = ks.len().min(N);
    p.scales(s, ks.start, &mut scale[..w]);
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
    /// The means.
    pub(super) m: V,
    /// The scales.
    pub(super) s: V,
    /// The betas.
    pub(super) b: V,
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
