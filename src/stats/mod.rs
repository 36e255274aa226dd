//! Per-channel statistics: the public entry points (validate once, then dispatch on layout
//! and method) and the three lane operations the layout kernels are generic over.

mod interleaved;
mod planar;
mod rescue;

use crate::shape::{Dims, check_len};
use crate::simd::{Isa, LANES, MAX_ACC, Simd, Vf32, Wide, WithSimd, dispatch, wide_lanes};
use crate::{Error, Layout, Moments, Shape};

/// How [`batch_stats`] and [`accumulate_moments`] compute the statistics.
///
/// Error bounds per channel, against the exact (f64) statistics, with `u = 2⁻²⁴`,
/// `A = mean|x|`, `σ²` the variance and `κ = sqrt(1 + mean²/σ²)`, tested on offsets up
/// to 1e6, tiny spreads, constants, values up to 3e19, subnormals, sorted and
/// heavy-tailed data (see `tests/stats.rs`). A constant channel gives its value exactly
/// and variance exactly 0 with either method.
///
/// Both methods follow one rule for non-finite data, PyTorch's: a channel holding a NaN
/// gets mean NaN and variance NaN; one holding `+inf` (and otherwise finite values) mean
/// `+inf` and variance NaN; `-inf` likewise mean `-inf`, variance NaN; both `+inf` and
/// `-inf`, mean NaN and variance NaN. Finite values whose f32 squares overflow (|x| from
/// ~1.8e19 to `f32::MAX`) are computed again by a plain f64 two-pass over their channel,
/// so their statistics stay finite and within the bounds above (a variance beyond
/// `f32::MAX` is `+inf` once rounded to f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// One pass: every element is read from memory once. Each SIMD lane runs Welford's
    /// update (one shared `1/k` per step) on values shifted by a pivot that moves to the
    /// running mean every 64 steps; lanes and chunks merge with Chan's formula in f64.
    /// Mean error ≤ `16·u·max(A, σ)` (an f32 running mean rounds at the scale of the
    /// deviations it averages, which matters only on heavy-tailed channels where
    /// `σ > A`); variance relative error ≤ `1e-5 + 2·κ·u`.
    #[default]
    Welford,
    /// Two passes: the sum in f64, then the sum of squared deviations from that mean,
    /// corrected for the mean's rounding to f32. Mean error ≤ `16·u·A`; variance relative
    /// error ≤ `1e-6` at any κ. Reads the input twice.
    TwoPass,
}

/// Per-channel mean and biased variance (`M2 / count`) of `x`.
///
/// `x` holds `shape.numel()` values in `layout`; `mean` and `var` hold `shape.c` values.
/// A channel with a NaN or an infinity gets, with either method: a NaN anywhere, mean and
/// variance NaN; `+inf` (with finite values), mean `+inf` and variance NaN; `-inf`, mean
/// `-inf` and variance NaN; both `+inf` and `-inf`, mean and variance NaN (PyTorch's
/// results). Other channels are unaffected. `shape.c == 0` with empty buffers is `Ok`.
///
/// # Errors
/// - [`Error::ShapeOverflow`] when `n*c*h*w` overflows `usize` (never for a shape with a
///   zero dimension: see [`Shape`]);
/// - [`Error::LengthMismatch`] naming `x`, `mean` or `var` when a length disagrees with the shape;
/// - [`Error::EmptyChannel`] when `n*h*w == 0` and `c > 0`.
///
/// On error `mean` and `var` are untouched.
pub fn batch_stats(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    batch_stats_at(Isa::detected(), x, shape, layout, method, mean, var)
}

/// [`batch_stats`] at level `isa` (supported: checked by the caller).
pub(crate) fn batch_stats_at(
    isa: Isa,
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    let d = shape.dims(x.len(), true)?;
    check_len("mean", d.c, mean.len())?;
    check_len("var", d.c, var.len())?;
    // Every channel has `count` values: one reciprocal instead of a divide per channel.
    let inv_count = 1.0 / d.count as f64;
    channel_moments(isa, x, d, layout, method, |c, m| {
        mean[c] = m.mean as f32;
        var[c] = (m.m2 * inv_count) as f32;
    });
    Ok(())
}

/// Adds the per-channel statistics of the batch `x` to `acc` (one [`Moments`] per channel),
/// with [`Moments::merge`]. Accumulating several batches, or pieces of one, gives the
/// statistics of their union. A channel with a NaN or an infinity gets the `Moments` of
/// the rule in [`batch_stats`] (`count` as usual, `m2` NaN), and merging follows the same
/// rule (see [`Moments::merge`]).
///
/// # Errors
/// As [`batch_stats`], with `acc` in place of `mean`/`var`. On error `acc` is untouched.
pub fn accumulate_moments(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    accumulate_moments_at(Isa::detected(), x, shape, layout, method, acc)
}

/// [`accumulate_moments`] at level `isa` (supported: checked by the caller).
pub(crate) fn accumulate_moments_at(
    isa: Isa,
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    let d = shape.dims(x.len(), true)?;
    check_len("acc", d.c, acc.len())?;
    channel_moments(isa, x, d, layout, method, |c, m| acc[c] = acc[c].merge(m));
    Ok(())
}

/// Calls `emit(c, moments)` once per channel of a validated tensor with at least one
/// value per channel.
///
/// The SIMD kernels accumulate in f32 lanes; a channel whose result comes out non-finite
/// (a NaN or infinity in the data, or an f32 overflow on values beyond ~1e19) is handled
/// by [`rescue::channel_moments`]: the NaN/infinity rule in the first case, a plain f64
/// two-pass (the right finite answer) in the second.
pub(crate) fn channel_moments(
    isa: Isa,
    x: &[f32],
    d: Dims,
    layout: Layout,
    method: Method,
    emit: impl FnMut(usize, Moments),
) {
    struct Job<'a, E> {
        x: &'a [f32],
        d: Dims,
        layout: Layout,
        method: Method,
        emit: E,
    }
    impl<E: FnMut(usize, Moments)> WithSimd for Job<'_, E> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) {
            moments_with(s, self.x, self.d, self.layout, self.method, self.emit);
        }
    }
    dispatch(
        isa,
        Job {
            x,
            d,
            layout,
            method,
            emit,
        },
    );
}

/// [`channel_moments`] with the lanes `s`.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn moments_with<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    layout: Layout,
    method: Method,
    emit: impl FnMut(usize, Moments),
) {
    let mut checked = checked(x, d, layout, emit);
    match layout {
        // A 1x1 plane is the interleaved layout with `n` rows.
        Layout::Nchw if d.plane != 1 => {
            planar::channel_range(s, x, d, method, 0..d.c, &mut checked)
        }
        _ => interleaved::channel_moments(s, x, d.c, method, &mut checked),
    }
}

/// `emit`, with non-finite results replaced by [`rescue::channel_moments`]'s (see
/// [`channel_moments`]).
fn checked(
    x: &[f32],
    d: Dims,
    layout: Layout,
    mut emit: impl FnMut(usize, Moments),
) -> impl FnMut(usize, Moments) {
    move |c, m: Moments| {
        if m.mean.is_finite() && m.m2.is_finite() {
            emit(c, m);
        } else {
            emit(c, rescue::channel_moments(x, d, layout, c));
        }
    }
}

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
        m2: if m2 < 0.0 { 0.0 } else { m2 },
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
pub(crate) const BLOCK: usize = MAX_ACC * LANES;

/// Per-position f64 moments of up to `N` positions that have all seen `count` values.
pub(crate) struct Positions<const N: usize = BLOCK> {
    count: u64,
    mean: [f64; N],
    m2: [f64; N],
}

impl<const N: usize> Positions<N> {
    pub(crate) fn new() -> Self {
        Positions {
            count: 0,
            mean: [0.0; N],
            m2: [0.0; N],
        }
    }

    /// Chan-merges finished lane states `(p, mean - p, M2)`, vector `j` holding
    /// positions `j*LANES..`, each lane having seen `k` values.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn absorb<S: Simd>(
        &mut self,
        k: usize,
        fin: impl IntoIterator<Item = (S::F, Wide<S>, Wide<S>)>,
    ) {
        let (na, nb) = (self.count as f64, k as f64);
        let w = nb / (na + nb);
        let c2 = na * w;
        for (j, (p, m, q)) in fin.into_iter().enumerate().take(N / LANES) {
            let (p, m, q) = (p.to_array(), wide_lanes(m), wide_lanes(q));
            for l in 0..LANES {
                let i = j * LANES + l;
                let delta = f64::from(p[l]) + m[l] - self.mean[i];
                self.mean[i] += delta * w;
                self.m2[i] += q[l] + delta * delta * c2;
            }
        }
        self.count += k as u64;
    }

    /// Position `i`'s moments.
    pub(crate) fn moments(&self, i: usize) -> Moments {
        Moments {
            count: self.count,
            mean: self.mean[i],
            m2: self.m2[i],
        }
    }

    /// The means of positions `j*LANES..(j+1)*LANES`, rounded to f32 (zero past `N`).
    pub(crate) fn means<S: Simd>(&self, s: S, j: usize) -> S::F {
        s.load(&core::array::from_fn(|l| {
            self.mean.get(j * LANES + l).map_or(0.0, |m| *m as f32)
        }))
    }
}

/// [`channel_moments`] for NCHW channels `ks` only (`d.plane >= 2`), bitwise the same
/// results, with the same fallback for non-finite ones. Lets the training forward normalize a few channels right after
/// their statistics, while they are still in cache.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn planar_channel_range<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    method: Method,
    ks: core::ops::Range<usize>,
    emit: impl FnMut(usize, Moments),
) {
    planar::channel_range(s, x, d, method, ks, &mut checked(x, d, Layout::Nchw, emit));
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
