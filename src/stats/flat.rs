//! NCHW statistics of short planes (`h*w <` [`crate::plan::SHORT_PLANE`]: 7x7, 14x14, …),
//! read flat: each plane runs along the lanes, with no transpose, and sixteen channels'
//! lanes are added at once ([`Simd::sum_rows`]). The two-pass method is
//! [`two_pass_in`]; the single pass follows.
//!
//! Welford's method at the granularity of a plane (the block-shifted sums of Welford's
//! update in Chan's form). Each lane sums `t = x - p` and `t²` about its channel's pivot
//! `p`: the floor's three operations per vector, in two accumulators, so a lane adds at
//! most 16 values (a plane of at most 511). Then the per-lane sums of `LANES` channels
//! are added across lanes in one [`Simd::sum_rows`], and each plane's `(mean, M2)`
//! (`mean = p + Σt/n`, `M2 = Σt² - (Σt)²/n`, in f64) is merged into its channel with
//! Chan's formula, in f64 vectors. The first pivot is the mean of the channel's first 8
//! values; each next sample's is the channel's running mean.
//!
//! The sums lose accuracy when the pivot is far from the plane's mean (`M2` cancels
//! against the offset `(Σt)²/n`). A plane whose offset exceeds its `M2` (a pivot more
//! than one standard deviation from the plane's mean: an outlier among the first values,
//! a far step, a sample shifted from the previous ones) is summed again about the mean
//! just found, up to [`ROUNDS`] times; each round brings the pivot within a few units of
//! rounding of the mean. With the offset at most `M2`, the f32 sums' error in `M2` is at
//! most `2·depth·u·(M2 + offset) <= 4·depth·u·M2` with a depth of at most 21 additions:
//! `84·u`, 5e-6, inside the bound of [`super::Method::Welford`].

use super::Method;
use super::Sink;
use super::ops::{Positions, pivot};
use crate::shape::Dims;
use crate::simd::{Body, LANES, Simd, T, Vf32, Vf64, add_lanes, load_transposed};

/// The most times one plane is summed (the first time and the times again about a
/// better pivot). Two are enough for any finite data: the second round's pivot is the
/// mean to within a few units of rounding of the first round's deviations.
const ROUNDS: usize = 3;

/// Gives `emit` the moments of each channel `c` in `ks` (`d.plane >= 2` and
/// `< SHORT_PLANE`), in blocks of `LANES` channels ([`Sink::block`]).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn channel_range<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    method: Method,
    ks: core::ops::Range<usize>,
    emit: &mut impl Sink,
) {
    let mut c0 = ks.start;
    while c0 < ks.end {
        let group = (ks.end - c0).min(LANES);
        let acc = group_moments(s, x, d, method, c0, group);
        acc.emit(c0, group, emit);
        c0 += group;
    }
}

/// Per-lane moments of channels `c0..c0 + group` (`group <= LANES`; the other lanes
/// hold zeros). Its own function for the ISA ([`Simd::vectorize`]): one call per group.
fn group_moments<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    method: Method,
    c0: usize,
    group: usize,
) -> Positions<LANES> {
    struct Group<'a> {
        x: &'a [f32],
        d: Dims,
        method: Method,
        c0: usize,
        group: usize,
    }
    impl<S: Simd> Body<S> for Group<'_> {
        type Output = Positions<LANES>;
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) -> Positions<LANES> {
            match self.method {
                Method::TwoPass => two_pass_in(s, self.x, self.d, self.c0, self.group),
                _ => group_in(s, self.x, self.d, self.c0, self.group),
            }
        }
    }
    s.vectorize(Group {
        x,
        d,
        method,
        c0,
        group,
    })
}

/// [`group_moments`] by the two-pass method, inside the ISA's function. Each plane is
/// read twice while it is in L1: its sum in f64 lanes, added across lanes in f64, gives
/// its mean; then `Σ(x - c)²` about `c`, the mean rounded to f32, in f32 lanes (four
/// accumulators, so a lane adds at most 8 values), added across lanes with the other
/// channels' in one [`Simd::sum_rows`]. `M2 = Σ(x - c)² - n·(mean - c)²`, and the planes
/// merge with Chan's formula in f64. A sum of at most 14 additions of positive f32 terms
/// is within `14·u` (8.3e-7) of exact, and each `(x - c)²` within `2·u`.
#[cfg_attr(not(debug_assertions), inline(always))]
fn two_pass_in<S: Simd>(s: S, x: &[f32], d: Dims, c0: usize, group: usize) -> Positions<LANES> {
    let mut acc = Positions::new();
    let shape = PlaneShape::new(d.plane);
    let count = s.splat64(d.plane as f64);
    let mut squares = [s.zero(); LANES];
    let (mut means, mut centers) = ([0.0f64; LANES], [0.0f32; LANES]);
    for i in 0..d.n {
        let base = (i * d.c + c0) * d.plane;
        let planes = x.get(base..base + group * d.plane).unwrap_or(&[]);
        for (plane, ((mean, c), sq)) in planes.chunks_exact(d.plane).zip(
            means
                .iter_mut()
                .zip(centers.iter_mut())
                .zip(squares.iter_mut()),
        ) {
            *mean = plane_sum(s, plane, shape) / d.plane as f64;
            *c = *mean as f32;
            *sq = plane_squares(s, plane, *c, shape);
        }
        let q = s.sum_rows(&squares).widen();
        let (lo, hi) = means.split_at(LANES / 2);
        let m = [s.load64(half(lo)), s.load64(half(hi))];
        let p = s.load(&centers);
        let cw = p.widen();
        let r = [m[0] - cw[0], m[1] - cw[1]];
        let m2 = [q[0] - count * r[0] * r[0], q[1] - count * r[1] * r[1]];
        acc.absorb(s, d.plane, &[(p, r, m2)]);
    }
    acc
}

/// `a` as an array of 8 (`a.len() == 8`; zeros otherwise).
fn half(a: &[f64]) -> &[f64; 8] {
    a.first_chunk().unwrap_or(&[0.0; 8])
}

/// The sum of one plane (`plane.len() >= 1`, of `shape`), each vector widened to f64 and
/// added in f64 lanes, then the lanes added in f64 (a tree of halves): exact to f64
/// rounding.
#[cfg_attr(not(debug_assertions), inline(always))]
fn plane_sum<S: Simd>(s: S, plane: &[f32], shape: PlaneShape) -> f64 {
    let (vs, _) = plane.as_chunks::<LANES>();
    let z = s.zero64();
    let (mut a, mut b) = ([z; 2], [z; 2]);
    let mut pairs = vs.chunks_exact(2);
    for pair in &mut pairs {
        let (u, v) = (s.load(&pair[0]).widen(), s.load(&pair[1]).widen());
        a = [a[0] + u[0], a[1] + u[1]];
        b = [b[0] + v[0], b[1] + v[1]];
    }
    if let [v] = pairs.remainder() {
        let u = s.load(v).widen();
        a = [a[0] + u[0], a[1] + u[1]];
    }
    if shape.rem != 0 {
        let u = tail(s, plane, s.zero(), shape).widen();
        b = [b[0] + u[0], b[1] + u[1]];
    }
    add_lanes([a[0] + b[0], a[1] + b[1]])
}

/// Per-lane `Σ(x - c)²` over one plane (`plane.len() >= 1`, of `shape`), in four
/// accumulators added pairwise; lanes past the plane's end add zero.
#[cfg_attr(not(debug_assertions), inline(always))]
fn plane_squares<S: Simd>(s: S, plane: &[f32], c: f32, shape: PlaneShape) -> S::F {
    let c = s.splat(c);
    let (vs, _) = plane.as_chunks::<LANES>();
    let mut q = [s.zero(); 4];
    let mut quads = vs.chunks_exact(4);
    for quad in &mut quads {
        for (q, v) in q.iter_mut().zip(quad) {
            let d = s.load(v) - c;
            *q = d.mul_add(d, *q);
        }
    }
    for (q, v) in q.iter_mut().zip(quads.remainder()) {
        let d = s.load(v) - c;
        *q = d.mul_add(d, *q);
    }
    if shape.rem != 0 {
        let d = tail(s, plane, c, shape);
        q[3] = d.mul_add(d, q[3]);
    }
    (q[0] + q[1]) + (q[2] + q[3])
}

/// [`group_moments`], inside the ISA's function.
#[cfg_attr(not(debug_assertions), inline(always))]
fn group_in<S: Simd>(s: S, x: &[f32], d: Dims, c0: usize, group: usize) -> Positions<LANES> {
    let mut acc = Positions::new();
    let mut starts = [0usize; LANES];
    for (l, st) in starts.iter_mut().enumerate() {
        *st = (c0 + l.min(group - 1)) * d.plane;
    }
    let mut pivots = lane_pivots(s, x, &starts, d.plane).to_array();
    let inv_count = s.splat64(1.0 / d.plane as f64);
    let shape = PlaneShape::new(d.plane);
    let (mut sums, mut squares) = ([s.zero(); LANES], [s.zero(); LANES]);
    for i in 0..d.n {
        let base = (i * d.c + c0) * d.plane;
        let planes = x.get(base..base + group * d.plane).unwrap_or(&[]);
        for ((plane, p), (sum, sq)) in planes
            .chunks_exact(d.plane)
            .zip(&pivots)
            .zip(sums.iter_mut().zip(squares.iter_mut()))
        {
            (*sum, *sq) = plane_sums(s, plane, *p, shape);
        }
        let mut round = 1;
        loop {
            let (sum, sq) = (s.sum_rows(&sums).widen(), s.sum_rows(&squares).widen());
            let off = [sum[0] * inv_count, sum[1] * inv_count];
            let shift = [sum[0] * off[0], sum[1] * off[1]];
            let m2 = [sq[0] - shift[0], sq[1] - shift[1]];
            // Lanes whose offset exceeds their `M2` (NaN compares false: kept as is).
            let again = shift[0].any_gt(m2[0]) || shift[1].any_gt(m2[1]);
            if !again || round == ROUNDS {
                // A tiny negative `M2` left after the last round is clamped by
                // `Positions::moments`.
                acc.absorb(s, d.plane, &[(s.load(&pivots), off, m2)]);
                break;
            }
            let (sh, q, off) = (wide(shift), wide(m2), wide(off));
            for (l, plane) in planes.chunks_exact(d.plane).enumerate() {
                if sh[l] > q[l] {
                    pivots[l] = (f64::from(pivots[l]) + off[l]) as f32;
                    (sums[l], squares[l]) = plane_sums(s, plane, pivots[l], shape);
                }
            }
            round += 1;
        }
        if i + 1 < d.n {
            pivots = acc.means(s, 0).to_array();
        }
    }
    acc
}

/// Each lane's starting pivot (as [`super::ops::pivot`]): the mean of the first 8 values of its
/// plane; for planes of 8 or more, from one transposed block, summed pairwise (exact for a
/// constant plane).
#[cfg_attr(not(debug_assertions), inline(always))]
fn lane_pivots<S: Simd>(s: S, x: &[f32], starts: &[usize; LANES], plane: usize) -> S::F {
    if plane < T {
        let mut p = [0.0f32; LANES];
        for (p, &start) in p.iter_mut().zip(starts) {
            *p = pivot(x.get(start..).unwrap_or(&[]), 1, plane);
        }
        return s.load(&p);
    }
    let mut v = load_transposed(s, x, starts, 0);
    let mut width = T / 2;
    while width > 0 {
        for i in 0..width {
            v[i] += v[i + width];
        }
        width /= 2;
    }
    v[0] * s.splat(1.0 / T as f32)
}

/// The lanes of two f64 half vectors, low first.
#[cfg_attr(not(debug_assertions), inline(always))]
fn wide<D: Vf64>(v: [D; 2]) -> [f64; LANES] {
    crate::simd::wide_lanes(v)
}

/// How a plane splits into vectors, worked out once per call.
#[derive(Clone, Copy)]
struct PlaneShape {
    /// Values past the last whole vector (`plane % LANES`).
    rem: usize,
    /// The lane from which the last vector holds new values: the vector of the plane's
    /// last `LANES` values starts at `LANES - rem` (or the partial vector at lane `rem`
    /// ends, for a plane shorter than a vector).
    from: f32,
}

impl PlaneShape {
    fn new(plane: usize) -> Self {
        let rem = plane % LANES;
        let from = if plane >= LANES { LANES - rem } else { rem };
        PlaneShape {
            rem,
            from: from as f32,
        }
    }
}

/// `x - p` over the last values of a plane that is not a whole number of vectors
/// (`shape.rem != 0`): the vector of its last `LANES` values with the lanes already
/// counted set to zero, or for a plane shorter than a vector, its values with the lanes
/// past its end set to zero.
#[cfg_attr(not(debug_assertions), inline(always))]
fn tail<S: Simd>(s: S, plane: &[f32], p: S::F, shape: PlaneShape) -> S::F {
    let from = s.splat(shape.from);
    match plane.last_chunk::<LANES>() {
        Some(last) => s.zero().select_from(s.load(last) - p, from),
        None => (s.load_partial(plane) - p).select_from(s.zero(), from),
    }
}

/// Per-lane `Σt` and `Σt²` of `t = v - p` over one plane (`plane.len() >= 1`, of
/// `shape`), each lane a strided part of the plane; lanes past the plane's end add
/// zero. A plane that is not a whole number of vectors ends with the vector of its last
/// `LANES` values, its first lanes (already counted) set to zero.
#[cfg_attr(not(debug_assertions), inline(always))]
fn plane_sums<S: Simd>(s: S, plane: &[f32], p: f32, shape: PlaneShape) -> (S::F, S::F) {
    let p = s.splat(p);
    let (vs, _) = plane.as_chunks::<LANES>();
    let (mut s0, mut q0, mut s1, mut q1) = (s.zero(), s.zero(), s.zero(), s.zero());
    let mut pairs = vs.chunks_exact(2);
    for pair in &mut pairs {
        let (t0, t1) = (s.load(&pair[0]) - p, s.load(&pair[1]) - p);
        s0 += t0;
        q0 = t0.mul_add(t0, q0);
        s1 += t1;
        q1 = t1.mul_add(t1, q1);
    }
    if let [v] = pairs.remainder() {
        let t = s.load(v) - p;
        s0 += t;
        q0 = t.mul_add(t, q0);
    }
    if shape.rem != 0 {
        let t = tail(s, plane, p, shape);
        s1 += t;
        q1 = t.mul_add(t, q1);
    }
    (s0 + s1, q0 + q1)
}
