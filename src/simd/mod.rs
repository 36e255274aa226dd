//! The lane vocabulary the kernels are written against: the [`Simd`] token trait, its
//! vectors ([`Vf32`]: 16 f32 lanes, [`Vf64`]: 8 f64 lanes), and the lane helpers built on
//! them (loads with tails, transposed loads, lane folds).
//!
//! Every implementation has the same 16 logical lanes, so a kernel is one body whatever the
//! ISA, and two ISAs with fused multiply-add give the same bits. An implementation maps the
//! 16 lanes onto its registers: one zmm (AVX-512F+DQ), two ymm (AVX2+FMA), or `wide`'s
//! `f32x16` (portable: SSE2, NEON, simd128 or scalar, as compiled).
//!
//! A token (a value of a type implementing [`Simd`]) exists only when its instructions can
//! run: [`Portable`] always, the x86 ones only through [`fn@dispatch`], after the CPU was
//! checked. Vectors are made from a token, so holding a vector proves the same.

#[allow(unsafe_code)]
mod dispatch;
mod portable;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

use core::ops::{Add, AddAssign, Div, Mul, Sub};

pub use dispatch::Isa;
pub(crate) use dispatch::{WithSimd, amd, dispatch, l2_bytes};
pub(crate) use portable::Portable;

/// Lanes in one vector, on every ISA.
pub(crate) const LANES: usize = 16;
/// Lanes in one f64 vector (half a [`Vf32`]).
pub(crate) const HALF: usize = LANES / 2;
/// The most independent vector accumulators any ISA keeps in flight ([`Simd::ACC`]).
pub(crate) const MAX_ACC: usize = 8;

/// An instruction set's token: proof that its instructions run on this CPU, and the
/// constructors of its vectors.
pub(crate) trait Simd: Copy + 'static {
    /// 16 f32 lanes.
    type F: Vf32<D = Self::D>;
    /// 8 f64 lanes.
    type D: Vf64<F = Self::F>;
    /// Independent vector accumulators a kernel keeps in flight: enough to cover the latency
    /// of a dependent subtract + fused multiply-add chain, few enough that the states stay
    /// in the register file (`<= MAX_ACC`, a power of two).
    const ACC: usize;
    /// Vectors a strip of per-position sums keeps in registers (two accumulators each,
    /// plus temporaries): 4 with 32 zmm, 3 with 16 ymm (two per vector), 2 for the
    /// portable vectors (four 128-bit registers per vector).
    const STRIP: usize;
    /// Whether [`Vf32::store_stream`] is a streaming store (the x86 levels); elsewhere it
    /// is a plain store, and the plan never asks for streaming.
    const STREAMS: bool;

    /// Runs `body` in a function compiled for this ISA (`#[target_feature]`), into which
    /// `body.run` and every `#[inline(always)]` function it calls are inlined, so that their
    /// lane operations become single instructions. A function the body calls that is not
    /// inlined is compiled without the ISA's features: kernel code is `#[inline(always)]`,
    /// or runs its own body through `vectorize`, and keeps closures out of hot loops
    /// (a closure is a function of its own, inlined only if the optimizer chooses).
    ///
    /// The function is never inlined, at every level: a body is an *island*, one function
    /// per ISA and body type, called (a few nanoseconds) from wherever it is used. Inlined,
    /// the islands of a call would merge into one function per entry point, megabytes of
    /// code whose optimization dominated the crate's compile time. So a body is a unit of
    /// work worth a call: a pass, a tile of rows, a block (or one vector of a long lane
    /// computation such as the SiLU's [`exp`], which the kernels call at many unrolled
    /// sites).
    ///
    /// Kernel functions are `#[inline(always)]` only without `debug_assertions`: an
    /// unoptimized build keeps every inlined call's locals in slots of their own, and one
    /// kernel inlined whole would need megabytes of stack. Unoptimized, the lane operations
    /// are calls (slow, and the same results).
    fn vectorize<B: Body<Self>>(self, body: B) -> B::Output;
    /// Every lane `v`.
    fn splat(self, v: f32) -> Self::F;
    /// Lane `i` is `a[i]`.
    fn load(self, a: &[f32; LANES]) -> Self::F;
    /// Every f64 lane `v`.
    fn splat64(self, v: f64) -> Self::D;
    /// Lane `i` is `a[i]`.
    fn load64(self, a: &[f64; HALF]) -> Self::D;
    /// Transposes 16 rows of 8: lane `l` of `out[j]` is `rows[l][j]`.
    fn transpose8(self, rows: &[[f32; 8]; LANES]) -> [Self::F; 8];

    /// Every lane zero.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn zero(self) -> Self::F {
        self.splat(0.0)
    }

    /// `LANES` values from `x[i..]`, zero-filled where `x` ends first. Never reads past `x`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn load_at(self, x: &[f32], i: usize) -> Self::F {
        let tail = x.get(i..).unwrap_or(&[]);
        match tail.first_chunk::<LANES>() {
            Some(a) => self.load(a),
            None => self.load_partial(tail),
        }
    }

    /// The first `min(s.len(), LANES)` values of `s`, zero-filled to a whole vector.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn load_partial(self, s: &[f32]) -> Self::F {
        let mut a = [0.0f32; LANES];
        for (d, v) in a.iter_mut().zip(s) {
            *d = *v;
        }
        self.load(&a)
    }

    /// Lane `l` is the sum of the lanes of `v[l]`, added as a tree of halves: lanes
    /// `i` and `i + 8` first, then `i` and `i + 4`, `i + 2`, `i + 1`. The same order, so
    /// the same bits, on every ISA. Sixteen horizontal sums for the price of a transpose.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn sum_rows(self, v: &[Self::F; LANES]) -> Self::F {
        let mut out = [0.0f32; LANES];
        for (o, row) in out.iter_mut().zip(v) {
            let mut a = row.to_array();
            let mut width = LANES / 2;
            while width > 0 {
                for i in 0..width {
                    a[i] += a[i + width];
                }
                width /= 2;
            }
            *o = a[0];
        }
        self.load(&out)
    }

    /// Orders the streaming stores ([`Vf32::store_stream`]) made so far before any later
    /// store (`sfence`): a kernel that streamed calls it before it returns, so whoever
    /// reads the output next (another thread included) sees it. The portable level, which
    /// never streams, does nothing.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn fence(self) {}

    /// A hint that `x` will be read soon: its cache lines are fetched towards L1 without
    /// waiting for them. Changes no result; the portable level does nothing.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn prefetch(self, x: &[f32]) {
        let _ = x;
    }

    /// Every f64 lane zero.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn zero64(self) -> Self::D {
        self.splat64(0.0)
    }
}

/// A kernel body run by [`Simd::vectorize`]: a struct holding the body's arguments.
/// Implementations mark `run` `#[inline(always)]`.
pub(crate) trait Body<S> {
    /// What the body returns.
    type Output;
    /// The body, with the token `s`.
    fn run(self, s: S) -> Self::Output;
}

/// 16 f32 lanes of one ISA.
pub(crate) trait Vf32:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + AddAssign
{
    /// The f64 vector of the same ISA.
    type D: Vf64<F = Self>;
    /// `self * a + b`: one rounding where the ISA has fused multiply-add (the x86
    /// implementations; the portable one as `wide` compiles it).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// The lanes as an array.
    fn to_array(self) -> [f32; LANES];
    /// Writes the lanes to `out`.
    fn store(self, out: &mut [f32; LANES]);
    /// Writes the lanes to `out` as [`store`](Vf32::store) does, past the caches where the
    /// level can: a non-temporal store where `out` starts a 64-byte line (AVX2, AVX-512),
    /// else a plain store. For outputs far larger than the caches, whose lines would only
    /// be read for ownership and evicted; the kernel calls [`Simd::fence`] before it returns.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn store_stream(self, out: &mut [f32; LANES]) {
        self.store(out);
    }
    /// The lanes widened to f64: lanes `0..8`, then `8..16`.
    fn widen(self) -> [Self::D; 2];
    /// ReLU that keeps NaN: lanes below zero become `+0.0`; every other lane (NaN, `-0.0`,
    /// `+inf`) passes through unchanged.
    fn relu(self) -> Self;
    /// Clamp to `[lo, hi]` (`lo <= hi`, neither NaN) that keeps NaN: lanes below `lo`
    /// become `lo`, lanes above `hi` become `hi`, every other lane passes through.
    fn clamp(self, lo: Self, hi: Self) -> Self;
    /// [`clamp`](Vf32::clamp) to `[-hi, hi]` (`lo == -hi`, `hi >= 0`): the same lanes,
    /// bit for bit, except that a NaN lane may give any value of `[lo, hi]` (AVX-512 gives
    /// `hi`). For uses where a NaN `self` decides the result anyway, as in the hard swish
    /// `v * ((3 + clamp_sym(v, -3, 3)) / 6)`. AVX-512 does it in one instruction
    /// (`vrangeps`, the lesser magnitude with the sign of `self`); the default is `clamp`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn clamp_sym(self, lo: Self, hi: Self) -> Self {
        self.clamp(lo, hi)
    }
    /// `self` where the lane index is `< from[lane]` (`from` holds small integers), else
    /// `other`.
    fn select_from(self, other: Self, from: Self) -> Self;
    /// `self` with lanes `from..` replaced by those of `other` (`from <= LANES`).
    fn lanes_from(self, other: Self, from: usize) -> Self;
    /// `a` in the lanes where `self < rhs` (an ordered compare: false where either is
    /// NaN), `b` in the others.
    fn select_lt(self, rhs: Self, a: Self, b: Self) -> Self;
    /// `2^n` exactly, for lanes holding integers `n` in `[-126, 127]` (other lanes: some
    /// value, which [`exp`] only multiplies NaN with).
    fn pow2i(self) -> Self;

    /// Writes the first `min(out.len(), LANES)` lanes to `out`. Never writes past `out`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn store_partial(self, out: &mut [f32]) {
        for (d, s) in out.iter_mut().zip(self.to_array()) {
            *d = s;
        }
    }

    /// Writes lane `i` to `out[i]` where `pos[i] < lim[i]` (an ordered compare), and
    /// nothing at all to the other elements of `out`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn store_where_lt(self, out: &mut [f32; LANES], pos: Self, lim: Self) {
        let (v, p, l) = (self.to_array(), pos.to_array(), lim.to_array());
        for i in 0..LANES {
            if p[i] < l[i] {
                out[i] = v[i];
            }
        }
    }
}

/// 8 f64 lanes of one ISA.
pub(crate) trait Vf64:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    /// The f32 vector of the same ISA.
    type F: Vf32<D = Self>;
    /// `self * a + b` (fused on x86; as `wide` compiles it elsewhere).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// The lanes as an array.
    fn to_array(self) -> [f64; HALF];
    /// The correctly rounded square root of every lane.
    fn sqrt(self) -> Self;
    /// `lo`'s lanes then `hi`'s, each rounded to f32.
    fn narrow(lo: Self, hi: Self) -> Self::F;

    /// Whether some lane of `self` is greater than the same lane of `other` (an ordered
    /// compare: false where either is NaN).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn any_gt(self, other: Self) -> bool {
        self.to_array()
            .iter()
            .zip(other.to_array())
            .any(|(a, b)| *a > b)
    }
}

/// One vector's lanes widened to f64: two half vectors, low lanes first.
pub(crate) type Wide<S> = [<S as Simd>::D; 2];

/// The lanes of a widened vector as one array.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn wide_lanes<D: Vf64>(v: [D; 2]) -> [f64; LANES] {
    let (lo, hi) = (v[0].to_array(), v[1].to_array());
    let mut out = [0.0; LANES];
    out[..HALF].copy_from_slice(&lo);
    out[HALF..].copy_from_slice(&hi);
    out
}

/// The sum of the 16 lanes of a widened vector, in f64, as a tree of halves (lanes `i`
/// and `i + 8` first).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn add_lanes<D: Vf64>(v: [D; 2]) -> f64 {
    let mut a = (v[0] + v[1]).to_array();
    let mut width = HALF / 2;
    while width > 0 {
        for i in 0..width {
            a[i] += a[i + width];
        }
        width /= 2;
    }
    a[0]
}

/// Folds `v.len() <= MAX_ACC` vectors (a power of two) of widened per-lane `(mean, M2)`
/// states, every lane having seen `k` values, into one `(mean, M2)` for
/// `k * v.len() * LANES` values: a pairwise tree of equal-count Chan merges,
/// `mean = (a + b)/2`, `M2 = M2a + M2b + δ²·n/2`, over whole f64 vectors first, then over
/// the last vector's lanes.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn fold_lanes<S: Simd>(s: S, v: &[(Wide<S>, Wide<S>)], k: f64) -> (f64, f64) {
    let half = s.splat64(0.5);
    let z = s.zero64();
    let mut h = [(z, z); 2 * MAX_ACC];
    let used = v.len().min(MAX_ACC);
    for (j, (m, q)) in v.iter().enumerate().take(used) {
        h[2 * j] = (m[0], q[0]);
        h[2 * j + 1] = (m[1], q[1]);
    }
    let (mut width, mut n) = (used, k);
    while width > 0 {
        let c = s.splat64(0.5 * n);
        for i in 0..width {
            let ((a, qa), (b, qb)) = (h[i], h[i + width]);
            let delta = b - a;
            h[i] = (delta.mul_add(half, a), (delta * delta).mul_add(c, qa + qb));
        }
        width /= 2;
        n *= 2.0;
    }
    let (mut mean, mut m2) = (h[0].0.to_array(), h[0].1.to_array());
    let mut width = HALF / 2;
    while width > 0 {
        for i in 0..width {
            let delta = mean[i + width] - mean[i];
            mean[i] += 0.5 * delta;
            m2[i] += m2[i + width] + delta * delta * (0.5 * n);
        }
        width /= 2;
        n *= 2.0;
    }
    (mean[0], m2[0])
}

/// Columns in one transposed load.
pub(crate) const T: usize = 8;

/// Loads a `LANES x 8` block and transposes it: lane `l` of `out[j]` is
/// `x[starts[l] + col + j]`. Rows that end before `col + 8` read as zeros.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn load_transposed<S: Simd>(
    s: S,
    x: &[f32],
    starts: &[usize; LANES],
    col: usize,
) -> [S::F; T] {
    let mut rows = [[0.0f32; T]; LANES];
    for (r, st) in rows.iter_mut().zip(starts) {
        if let Some(a) = x.get(st + col..).and_then(|v| v.first_chunk::<T>()) {
            *r = *a;
        }
    }
    s.transpose8(&rows)
}

/// The correctly rounded square root of `v` (`core` has no `f64::sqrt`; `wide` uses the
/// hardware instruction where there is one and an exact software routine elsewhere).
#[inline]
pub(crate) fn sqrt_f64(v: f64) -> f64 {
    wide::f64x2::splat(v).sqrt().to_array()[0]
}

/// `out[i] = gamma[i] / sqrt(var[i] + eps)` for `i < out.len()` (`gamma`, `var` at least as
/// long): IEEE f64 square root and division eight channels at a time, rounded once to
/// f32. Bitwise what the same operations give one channel at a time (they are correctly
/// rounded), on every ISA.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn scales<S: Simd>(s: S, gamma: &[f32], var: &[f32], eps: f32, out: &mut [f32]) {
    let n = out.len().min(gamma.len()).min(var.len());
    let (gc, gr) = gamma[..n].as_chunks::<8>();
    let (vc, vr) = var[..n].as_chunks::<8>();
    let (oc, or) = out[..n].as_chunks_mut::<8>();
    for ((g, v), o) in gc.iter().zip(vc).zip(oc.iter_mut()) {
        *o = scales8(s, *g, *v, eps);
    }
    if !or.is_empty() {
        let (mut g, mut v) = ([1.0f32; 8], [1.0f32; 8]);
        g[..gr.len()].copy_from_slice(gr);
        v[..vr.len()].copy_from_slice(vr);
        let sc = scales8(s, g, v, eps);
        or.copy_from_slice(&sc[..or.len()]);
    }
}

/// [`scales`] for eight channels.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn scales8<S: Simd>(s: S, gamma: [f32; 8], var: [f32; 8], eps: f32) -> [f32; 8] {
    let w = s.load64(&var.map(f64::from)) + s.splat64(f64::from(eps));
    let q = s.load64(&gamma.map(f64::from)) / w.sqrt();
    q.to_array().map(|v| v as f32)
}

/// `1 / sqrt(w + eps)` for eight f64 values (IEEE f64), rounded to f32.
pub(crate) fn inv_sqrt(w: [f64; 8], eps: f32) -> [f32; 8] {
    let w = wide::f64x8::new(w) + wide::f64x8::splat(f64::from(eps));
    (wide::f64x8::ONE / w.sqrt()).to_array().map(|v| v as f32)
}

/// `out[i] = gamma[i] * invstd[i]` in f64, rounded once to f32.
pub(crate) fn scales_from_invstd(gamma: &[f32], invstd: &[f32], out: &mut [f32]) {
    for ((o, g), i) in out.iter_mut().zip(gamma).zip(invstd) {
        *o = (f64::from(*g) * f64::from(*i)) as f32;
    }
}

/// `exp(x)` on every lane, written once over the lane operations: `x = n·ln 2 + r` with
/// `|r| <= ln 2 / 2` (Cody-Waite, `ln 2` in two parts), `exp(r)` by Cephes' `expf`
/// polynomial, then `2^n` applied in two exact halves so that subnormal results are
/// rounded once. Within 1.5 ulp of the true value over the whole f32 range, subnormal
/// results in quanta of `2^-149` (0.95 ulp measured by the sweep in `tests.rs`, at every
/// level); `+inf` where the true value rounds to `+inf` (for `x > 88.7228`), `+0.0` for
/// `x < -103.97` and `-inf`, NaN for NaN.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn exp<S: Simd>(s: S, x: S::F) -> S::F {
    /// `1.5 * 2^23`: adding it rounds a value of magnitude `< 2^22` to an integer.
    const ROUND: f32 = 12_582_912.0;
    /// `ln 2 = C1 + C2`, `C1` with 9 significant bits, so `n * C1` is exact for
    /// `|n| <= 2^15`.
    const C1: f32 = 355.0 / 512.0;
    const C2: f32 = -2.121_944_4e-4;
    /// Cephes `expf`: `exp(r) ≈ 1 + r + r²·P(r)` on `|r| <= ln 2 / 2`.
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ];
    // Beyond [-104, 89] the result is 0 or +inf whatever the value; the clamp keeps NaN.
    let x = x.clamp(s.splat(-104.0), s.splat(89.0));
    let round = s.splat(ROUND);
    // n = round(x / ln 2), an integer in [-150, 129].
    let n = x.mul_add(s.splat(core::f32::consts::LOG2_E), round) - round;
    let r = n.mul_add(s.splat(-C1), x);
    let r = n.mul_add(s.splat(-C2), r);
    let mut p = s.splat(P[0]);
    for c in &P[1..] {
        p = p.mul_add(r, s.splat(*c));
    }
    let y = p.mul_add(r * r, r) + s.splat(1.0);
    // 2^n = 2^n1 · 2^n2 with n1, n2 in [-75, 65]: y·2^n1 is exact (normal), the second
    // product rounds once, to a subnormal, a normal or +inf.
    let n1 = n.mul_add(s.splat(0.5), round) - round;
    let n2 = n - n1;
    y * n1.pow2i() * n2.pow2i()
}

#[cfg(test)]
mod tests;
