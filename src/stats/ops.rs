//! The per-lane operations the statistics kernels are generic over ([`LaneOp`]: [`Welford`],
//! and [`Sum`] then [`Centered`] for the two-pass method), the f64 per-position moments
//! they fold into ([`Positions`]), and the starting pivot ([`pivot`]).

use super::{Sink, clamp_m2};
use crate::moments::Moments;
use crate::simd::{HALF, LANES, Simd, Vf32, Vf64, Wide};

/// Values each lane accumulates in f32 before its state is merged into f64 (and, for
/// [`LaneOp::RECENTER`] operations, re-centered on the running mean). Short chunks keep
/// the f32 rounding error of a lane near `CHUNK/2 · u` of the deviations from the
/// center even on sorted data (ramps, steps), where rounding errors do not cancel.
pub(crate) const CHUNK: usize = 64;

/// `RECIP[k] = 1/k`: Welford's step weight, shared by all lanes (they advance together).
static RECIP: [f32; CHUNK + 1] = {
    let mut t = [0.0f32; CHUNK + 1];
    let mut k = 1;
    while k <= CHUNK {
        t[k] = 1.0 / k as f32;
        k += 1;
    }
    t
};

/// One per-lane accumulation, advanced one vector at a time; all lanes of all vectors of a
/// kernel advance together, so the step number `k` is one scalar.
pub(crate) trait LaneOp<S: Simd>: Copy {
    /// Per-vector state.
    type State: Copy;
    /// The state before any value.
    fn zero(s: S) -> Self::State;
    /// Adds `x` (the `k`-th value of every lane, `1 <= k <= CHUNK`) with per-lane
    /// parameter `p` (the pivot, or the center for the second pass).
    fn step(s: S, st: &mut Self::State, x: S::F, p: S::F, k: usize);
    /// Per-lane `(mean - p, M2)`, in f64, of a state that saw `k >= 1` values per lane
    /// with parameter `p`.
    fn finish(s: S, st: Self::State, k: usize, p: S::F) -> (Wide<S>, Wide<S>);
    /// Merges two states whose lanes each saw `k` values (same parameter) into one whose
    /// lanes saw `2k`.
    fn merge_equal(s: S, a: Self::State, b: Self::State, k: usize) -> Self::State;
    /// Whether a state is two vectors wide in f64 (so half as many fit in registers).
    const WIDE: bool = false;
    /// The most vectors a kernel should step at once: [`Simd::ACC`], or half that for
    /// states too wide for that many to stay in registers.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn max_v() -> usize {
        if Self::WIDE {
            (S::ACC / 2).max(1)
        } else {
            S::ACC
        }
    }
    /// Whether kernels move the parameter `p` to the running mean after each chunk (true
    /// for pivots; false for the second pass, whose center is fixed).
    const RECENTER: bool = true;
    /// Kernels call [`LaneOp::carry`] on every state after each step whose number is a
    /// multiple of `RUN` (to sum in two levels).
    const RUN: usize = usize::MAX;
    /// Moves the current run's partial sums into the state's outer sums.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn carry(_s: S, _st: &mut Self::State) {}
    /// The most steps between folds (`<= CHUNK`). Below `CHUNK`, kernels that support it
    /// fold after 1, 2, 4, … steps up to `FOLD`, so each block is at most as long as
    /// what came before it and its parameter (the running mean) is near its values.
    const FOLD: usize = CHUNK;
    /// The state as plain per-lane sums `(Σt, Σt²)` of `t = x - p`, for operations whose
    /// lanes can be added instead of Chan-merged.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn sums(_st: Self::State) -> Option<(S::F, S::F)> {
        None
    }
}

/// Calls [`LaneOp::carry`] on `states` when step `k` ends a run.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn end_step<S: Simd, O: LaneOp<S>>(s: S, states: &mut [O::State], k: usize) {
    if k.is_multiple_of(O::RUN) {
        for st in states.iter_mut() {
            O::carry(s, st);
        }
    }
}

/// The two-pass result from the first pass's moments and the second pass's moments
/// about the center `c = first.mean as f32` (`about.mean == c`, `about.m2 = Σ(x - c)²`):
/// `M2 = Σ(x - c)² - count·(mean - c)²`. The first pass's mean is accurate to a few
/// units of rounding of the spread, so the correction's error is `O(u²·κ)` relative.
pub(crate) fn two_pass(first: Moments, about: Moments) -> Moments {
    let r = first.mean - about.mean;
    let m2 = about.m2 - about.count as f64 * r * r;
    Moments {
        count: first.count,
        mean: first.mean,
        // Rounding can leave a tiny negative; NaN stays NaN.
        m2: clamp_m2(m2),
    }
}

/// Welford's update on pivot-shifted values: `t = x - p`, `d = t - mean`,
/// `mean += d/k`, `M2 += d*(t - mean)`, with `1/k` from a table.
#[derive(Clone, Copy)]
pub(crate) struct Welford;

impl<S: Simd> LaneOp<S> for Welford {
    type State = (S::F, S::F);
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn zero(s: S) -> Self::State {
        (s.zero(), s.zero())
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step(s: S, st: &mut Self::State, x: S::F, p: S::F, k: usize) {
        let r = s.splat(RECIP[k]);
        let t = x - p;
        let d = t - st.0;
        st.0 = d.mul_add(r, st.0);
        st.1 = d.mul_add(d * s.splat(1.0 - RECIP[k]), st.1);
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn finish(_s: S, st: Self::State, _k: usize, _p: S::F) -> (Wide<S>, Wide<S>) {
        (st.0.widen(), st.1.widen())
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn merge_equal(s: S, a: Self::State, b: Self::State, k: usize) -> Self::State {
        // Chan with equal counts: mean = (a + b)/2, M2 = M2a + M2b + δ²·k/2.
        let delta = b.0 - a.0;
        (
            delta.mul_add(s.splat(0.5), a.0),
            (delta * delta).mul_add(s.splat(0.5 * k as f32), a.1 + b.1),
        )
    }
}

/// Welford's method in blocks (Chan's form): each lane sums `t = x - p` and `t²` about the
/// block's pivot `p` (the running mean), the floor's three operations per value; a block
/// of at most [`LaneOp::FOLD`] = 16 steps per lane is then added across lanes and folded
/// into f64 as `mean - p = Σt/n`, `M2 = Σt² - (Σt)²/n`, merged with Chan's formula. A
/// sum of `t²` cancels against `(Σt)²/n` by the factor `1 + n(mean - p)²/M2`, which the
/// doubling blocks keep small: the first block is one step about the mean of the first 8
/// values, each later one at most as long as all before it, about their mean.
#[derive(Clone, Copy)]
pub(crate) struct Shifted;

impl<S: Simd> LaneOp<S> for Shifted {
    /// `(Σt, Σt²)` per lane.
    type State = (S::F, S::F);
    const FOLD: usize = 16;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn zero(s: S) -> Self::State {
        (s.zero(), s.zero())
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step(_s: S, st: &mut Self::State, x: S::F, p: S::F, _k: usize) {
        let t = x - p;
        st.0 += t;
        st.1 = t.mul_add(t, st.1);
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn finish(s: S, st: Self::State, k: usize, _p: S::F) -> (Wide<S>, Wide<S>) {
        let (sum, sq) = (st.0.widen(), st.1.widen());
        let inv = s.splat64(1.0 / k as f64);
        let m = [sum[0] * inv, sum[1] * inv];
        (m, [sq[0] - sum[0] * m[0], sq[1] - sum[1] * m[1]])
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn merge_equal(_s: S, a: Self::State, b: Self::State, _k: usize) -> Self::State {
        // The same pivot: the sums add.
        (a.0 + b.0, a.1 + b.1)
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn sums(st: Self::State) -> Option<(S::F, S::F)> {
        Some(st)
    }
}

/// First pass of the two-pass method: the sum of `x` in f64 lanes (each f32 vector
/// widened to two f64 vectors), exact to f64 rounding whatever the data (sorted,
/// heavy-tailed, offset or constant), so the pivot is not needed: `finish` returns the
/// mean relative to it.
#[derive(Clone, Copy)]
pub(crate) struct Sum;

impl<S: Simd> LaneOp<S> for Sum {
    type State = Wide<S>;
    const WIDE: bool = true;
    const RECENTER: bool = false;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn zero(s: S) -> Self::State {
        [s.zero64(); 2]
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step(_s: S, st: &mut Self::State, x: S::F, _p: S::F, _k: usize) {
        let t = x.widen();
        st[0] = st[0] + t[0];
        st[1] = st[1] + t[1];
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn finish(s: S, st: Self::State, k: usize, p: S::F) -> (Wide<S>, Wide<S>) {
        // A true division: `k·c / k` is exactly `c` for a constant channel.
        let (kv, p) = (s.splat64(k as f64), p.widen());
        ([st[0] / kv - p[0], st[1] / kv - p[1]], [s.zero64(); 2])
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn merge_equal(_s: S, a: Self::State, b: Self::State, _k: usize) -> Self::State {
        [a[0] + b[0], a[1] + b[1]]
    }
}

/// Second pass of the two-pass method: `Σd²` of `d = x - c` about the center `c` (the
/// first pass's mean, in f32), summed in two levels: runs of `RUN = 8` values in f32 (one
/// subtract and one fused multiply-add per value), each run then widened and added to an
/// f64 sum. Within a run, an addend below half an ulp of the run's partial sum is lost,
/// so a lane loses at most `(RUN - 1)·u` relative of what it sums (e.g. one square of 1
/// followed by seven of 5.6e-8); the f64 level adds no error at f32 scale. Finished as
/// mean offset 0 and `M2 = Σd²` about `c`; [`two_pass`] applies the correction for
/// `mean - c`.
#[derive(Clone, Copy)]
pub(crate) struct Centered;

impl<S: Simd> LaneOp<S> for Centered {
    /// The current run's f32 partial sums and the f64 sums of the finished runs.
    type State = (S::F, Wide<S>);
    const WIDE: bool = true;
    const RECENTER: bool = false;
    const RUN: usize = 8;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn zero(s: S) -> Self::State {
        (s.zero(), [s.zero64(); 2])
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step(_s: S, st: &mut Self::State, x: S::F, p: S::F, _k: usize) {
        let d = x - p;
        st.0 = d.mul_add(d, st.0);
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn finish(s: S, st: Self::State, _k: usize, _p: S::F) -> (Wide<S>, Wide<S>) {
        let run = st.0.widen();
        ([s.zero64(); 2], [st.1[0] + run[0], st.1[1] + run[1]])
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn merge_equal(s: S, a: Self::State, b: Self::State, k: usize) -> Self::State {
        // Both runs are widened first: the merge adds in f64 only.
        let (a, b) = (
            Self::finish(s, a, k, s.zero()).1,
            Self::finish(s, b, k, s.zero()).1,
        );
        (s.zero(), [a[0] + b[0], a[1] + b[1]])
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn carry(s: S, st: &mut Self::State) {
        let run = st.0.widen();
        st.1 = [st.1[0] + run[0], st.1[1] + run[1]];
        st.0 = s.zero();
    }
}

/// Positions in one register block of the kernels: the widest block any ISA keeps in
/// registers (an ISA with fewer accumulators sweeps it in parts).
pub(crate) const BLOCK: usize = crate::plan::STATS_BLOCK;

/// Per-position f64 moments of up to `N` positions that have all seen `count` values.
pub(crate) struct Positions<const N: usize = BLOCK> {
    count: u64,
    mean: [f64; N],
    m2: [f64; N],
}

impl<const N: usize> Positions<N> {
    pub(crate) const fn new() -> Self {
        Positions {
            count: 0,
            mean: [0.0; N],
            m2: [0.0; N],
        }
    }

    /// Chan-merges finished lane states `(p, mean - p, M2)`, vector `j` holding
    /// positions `j*LANES..`, each lane having seen `k` values. In f64 vectors, the same
    /// operations in the same order as lane by lane (no fused multiply-add), so the same
    /// bits on every ISA.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn absorb<S: Simd>(&mut self, s: S, k: usize, fin: &[(S::F, Wide<S>, Wide<S>)]) {
        let (na, nb) = (self.count as f64, k as f64);
        let w = nb / (na + nb);
        let (w, c2) = (s.splat64(w), s.splat64(na * w));
        let (means, _) = self.mean.as_chunks_mut::<HALF>();
        let (m2s, _) = self.m2.as_chunks_mut::<HALF>();
        let halves = means.chunks_exact_mut(2).zip(m2s.chunks_exact_mut(2));
        for (&(p, m, q), (mean, m2)) in fin.iter().zip(halves) {
            let p = p.widen();
            for h in 0..2 {
                let (mv, qv) = (s.load64(&mean[h]), s.load64(&m2[h]));
                let delta = p[h] + m[h] - mv;
                mean[h] = (mv + delta * w).to_array();
                m2[h] = (qv + (q[h] + delta * delta * c2)).to_array();
            }
        }
        self.count += k as u64;
    }

    /// Gives `sink` the moments of positions `0..n` as channels `c0..c0 + n`, in one
    /// [`Sink::block`].
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn emit(&self, c0: usize, n: usize, sink: &mut impl Sink) {
        let n = n.min(N);
        sink.block(c0, self.count, &self.mean[..n], &self.m2[..n]);
    }

    /// Position `i`'s moments.
    pub(crate) fn moments(&self, i: usize) -> Moments {
        // A two-pass chunk's `M2` may round to a tiny negative; NaN stays NaN.
        let m2 = self.m2[i];
        Moments {
            count: self.count,
            mean: self.mean[i],
            m2: clamp_m2(m2),
        }
    }

    /// The means of positions `j*LANES..(j+1)*LANES`, rounded to f32 (zero past `N`).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn means<S: Simd>(&self, s: S, j: usize) -> S::F {
        let mut m = [0.0f32; LANES];
        for (m, mean) in m.iter_mut().zip(self.mean.iter().skip(j * LANES)) {
            *m = *mean as f32;
        }
        s.load(&m)
    }
}

/// How many values a starting pivot averages.
pub(crate) const PIVOT_SPAN: usize = 8;

/// A starting pivot: the mean (in f64, rounded to f32) of the first `PIVOT_SPAN` of the
/// values `values[i * stride]`, `i < count`. Near the bulk of the data, unlike a lone first
/// value that may be an outlier, and exactly the value of a constant channel.
pub(crate) fn pivot(values: &[f32], stride: usize, count: usize) -> f32 {
    let take = count.min(PIVOT_SPAN);
    let sum: f64 = (0..take)
        .map(|i| values.get(i * stride).map_or(0.0, |v| f64::from(*v)))
        .sum();
    if take == 0 {
        0.0
    } else {
        (sum / take as f64) as f32
    }
}
