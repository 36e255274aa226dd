//! NCHW statistics of short planes (`h*w <` [`crate::plan::SHORT_PLANE`]: 7x7, 14x14, …) by
//! the two-pass method (the single pass is [`super::flat`]): `LANES` channels side by
//! side, one per lane. An `LANES x 8` block of the channels' planes is loaded and
//! transposed, so each vector holds one position of `LANES` channels and the lanes never
//! need a horizontal fold. The 8 vectors of a block feed 8 independent accumulators.

use super::ops::{CHUNK, Centered, LaneOp, Positions, Sum, end_step, pivot, two_pass};
use crate::moments::Moments;
use crate::shape::Dims;
use crate::simd::{Body, LANES, Simd, T, gather, load_transposed};

/// Each lane's starting pivot (as [`super::ops::pivot`]): the mean of the first 8 values of its
/// plane; for planes of 8 or more, from one transposed block, summed pairwise (exact for a
/// constant plane).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn lane_pivots<S: Simd>(s: S, x: &[f32], starts: &[usize; LANES], plane: usize) -> S::F {
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

/// Start of sample `i`'s plane of channel `c0 + l` for each lane `l`; lanes past the last
/// channel repeat it (their results are ignored).
#[cfg_attr(not(debug_assertions), inline(always))]
fn starts(d: Dims, c0: usize, i: usize) -> [usize; LANES] {
    let mut out = [0; LANES];
    for (l, o) in out.iter_mut().enumerate() {
        *o = (i * d.c + (c0 + l).min(d.c - 1)) * d.plane;
    }
    out
}

/// Per-lane moments of channels `c0..c0 + LANES`, accumulated by `O` with first
/// parameters `p0` (re-centered after each fold, as in `planar`'s per-channel kernel).
#[cfg_attr(not(debug_assertions), inline(always))]
fn transposed<S: Simd, O: LaneOp<S>>(
    s: S,
    x: &[f32],
    d: Dims,
    c0: usize,
    p0: S::F,
) -> Positions<LANES> {
    let mut acc = Positions::new();
    // `cols[j]` takes column `j` of every 8-column block, `rest[j]` column `j` of the
    // columns left over.
    let mut cols = Columns::<S, O>::new(s, p0);
    let mut rest = Columns::<S, O>::new(s, p0);
    let (blocks, rem) = (d.plane / T, d.plane % T);
    for i in 0..d.n {
        let st = starts(d, c0, i);
        cols.blocks(x, &st, blocks, &mut acc);
        if rem > 0 {
            rest.step_columns(x, &st, blocks * T, rem, &mut acc);
        }
    }
    cols.flush(T, &mut acc);
    rest.flush(rem, &mut acc);
    acc
}

/// `T` accumulators, one per column of a transposed block (lanes are channels), with
/// their step count and per-lane parameters.
struct Columns<S: Simd, O: LaneOp<S>> {
    s: S,
    st: [O::State; T],
    k: usize,
    p: S::F,
}

impl<S: Simd, O: LaneOp<S>> Columns<S, O> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn new(s: S, p: S::F) -> Self {
        Columns {
            s,
            st: [O::zero(s); T],
            k: 0,
            p,
        }
    }

    /// Steps the `blocks` transposed blocks of one sample (`starts` as [`starts`]). The
    /// states are copied to locals for the loop, so they stay in registers.
    /// Its own function for the ISA ([`Simd::vectorize`]): one call per sample.
    fn blocks(
        &mut self,
        x: &[f32],
        starts: &[usize; LANES],
        blocks: usize,
        acc: &mut Positions<LANES>,
    ) {
        struct Blocks<'a, S: Simd, O: LaneOp<S>> {
            c: &'a mut Columns<S, O>,
            x: &'a [f32],
            starts: &'a [usize; LANES],
            blocks: usize,
            acc: &'a mut Positions<LANES>,
        }
        impl<S: Simd, O: LaneOp<S>> Body<S> for Blocks<'_, S, O> {
            type Output = ();
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn run(self, _s: S) {
                self.c.blocks_in(self.x, self.starts, self.blocks, self.acc);
            }
        }
        self.s.vectorize(Blocks {
            c: self,
            x,
            starts,
            blocks,
            acc,
        });
    }

    /// [`Columns::blocks`], inside the ISA's function.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn blocks_in(
        &mut self,
        x: &[f32],
        starts: &[usize; LANES],
        blocks: usize,
        acc: &mut Positions<LANES>,
    ) {
        let s = self.s;
        let (mut st, mut k, mut p) = (self.st, self.k, self.p);
        for b in 0..blocks {
            k += 1;
            let v = load_transposed(s, x, starts, b * T);
            for (a, v) in st.iter_mut().zip(v) {
                O::step(s, a, v, p, k);
            }
            end_step::<S, O>(s, &mut st, k);
            if k == CHUNK {
                (self.st, self.k) = (st, k);
                self.flush(T, acc);
                (st, k, p) = (self.st, 0, self.p);
            }
        }
        (self.st, self.k) = (st, k);
    }

    /// Steps the first `used` accumulators, accumulator `j` with column `col + j` of the
    /// rows at `starts`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step_columns(
        &mut self,
        x: &[f32],
        starts: &[usize; LANES],
        col: usize,
        used: usize,
        acc: &mut Positions<LANES>,
    ) {
        let s = self.s;
        self.k += 1;
        for (j, a) in self.st.iter_mut().enumerate().take(used) {
            O::step(s, a, gather(s, x, starts, col + j), self.p, self.k);
        }
        end_step::<S, O>(s, &mut self.st, self.k);
        if self.k == CHUNK {
            self.flush(used, acc);
        }
    }

    /// Adds the first `used` accumulators to `acc`, resets them and re-centers the
    /// parameters. All `T` of them merge pairwise in their own precision first (equal
    /// counts); fewer are widened to f64 one by one.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn flush(&mut self, used: usize, acc: &mut Positions<LANES>) {
        let s = self.s;
        if self.k > 0 {
            if used == T {
                let (mut st, mut width, mut k) = (self.st, T / 2, self.k);
                while width > 0 {
                    for i in 0..width {
                        st[i] = O::merge_equal(s, st[i], st[i + width], k);
                    }
                    width /= 2;
                    k *= 2;
                }
                let (m, q) = O::finish(s, st[0], k, self.p);
                acc.absorb(s, k, &[(self.p, m, q)]);
            } else {
                for a in self.st.iter().take(used) {
                    let (m, q) = O::finish(s, *a, self.k, self.p);
                    acc.absorb(s, self.k, &[(self.p, m, q)]);
                }
            }
            if O::RECENTER {
                self.p = acc.means(s, 0);
            }
        }
        (self.st, self.k) = ([O::zero(s); T], 0);
    }
}

/// Calls `emit(c, moments)` for each channel `c` in `ks` (`d.plane >= 2`), by the
/// two-pass method, `LANES` channels at a time (see the module's documentation).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn channel_range<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    ks: core::ops::Range<usize>,
    emit: &mut impl FnMut(usize, Moments),
) {
    let mut c0 = ks.start;
    while c0 < ks.end {
        let group = (ks.end - c0).min(LANES);
        let pivots = lane_pivots(s, x, &starts(d, c0, 0), d.plane);
        let first = transposed::<S, Sum>(s, x, d, c0, pivots);
        let about = transposed::<S, Centered>(s, x, d, c0, first.means(s, 0));
        for l in 0..group {
            emit(c0 + l, two_pass(first.moments(l), about.moments(l)));
        }
        c0 += group;
    }
}
