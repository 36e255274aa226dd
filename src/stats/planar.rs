//! NCHW statistics: each channel is `n` contiguous planes; lanes run along a plane.
//! Single-pass channels of [`plan::BLOCKED_COUNT`] values or more step [`Shifted`] sums
//! in blocks of up to 16 steps, others Welford's update.
//! Planes shorter than [`plan::SHORT_PLANE`] go to [`flat`] (a plane at a time, sixteen
//! channels' lanes added at once) instead.
//!
//! Per channel, `V` vector accumulators ([`Simd::ACC`], the ISA's number, or half that for
//! wide states: [`LaneOp::max_v`]) take whole rows of `V * LANES` values in lockstep (one
//! shared step number, so one shared `1/k`); what is left of each plane feeds a one-vector
//! accumulator (whole vectors) and a partial-vector one (the last `plane % LANES` values,
//! always the same lanes, so their counts stay equal). Each accumulator is folded into
//! the channel's f64 [`Moments`] every `CHUNK` steps and at the end of the channel.

use super::Method;
use super::Sink;
use super::flat;
use super::ops::{CHUNK, Centered, LaneOp, Shifted, Sum, Welford, end_step, pivot, two_pass};
use crate::moments::Moments;
use crate::plan::{self, Kernel};
use crate::shape::Dims;
use crate::simd::{Body, LANES, Simd, Vf32, add_lanes, fold_lanes, wide_lanes};

/// Moments of channel `c`, accumulated by `O` with first parameter `p0`.
///
/// Three accumulator groups: [`LaneOp::max_v`] vectors for whole rows, one vector for the whole
/// vectors left at the end of each plane, and one partial vector for the last
/// `plane % LANES` values. Each has its own parameter; with [`LaneOp::RECENTER`] it moves
/// to the channel's running mean after each fold, so the f32 lanes only ever hold
/// deviations from a nearby center.
#[cfg_attr(not(debug_assertions), inline(always))]
fn channel<S: Simd, O: LaneOp<S>>(s: S, x: &[f32], d: Dims, c: usize, p0: f32) -> Moments {
    match O::max_v() {
        1 => channel_v::<S, O, 1>(s, x, d, c, p0),
        2 => channel_v::<S, O, 2>(s, x, d, c, p0),
        4 => channel_v::<S, O, 4>(s, x, d, c, p0),
        _ => channel_v::<S, O, 8>(s, x, d, c, p0),
    }
}

/// [`channel`] with `V` accumulators for whole rows. Its own function for the ISA
/// ([`Simd::vectorize`]): one call per channel, so the states stay in registers from one
/// plane to the next.
fn channel_v<S: Simd, O: LaneOp<S>, const V: usize>(
    s: S,
    x: &[f32],
    d: Dims,
    c: usize,
    p0: f32,
) -> Moments {
    struct Chan<'a, O, const V: usize> {
        x: &'a [f32],
        d: Dims,
        c: usize,
        p0: f32,
        op: core::marker::PhantomData<O>,
    }
    impl<S: Simd, O: LaneOp<S>, const V: usize> Body<S> for Chan<'_, O, V> {
        type Output = Moments;
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) -> Moments {
            channel_in::<S, O, V>(s, self.x, self.d, self.c, self.p0)
        }
    }
    s.vectorize(Chan::<O, V> {
        x,
        d,
        c,
        p0,
        op: core::marker::PhantomData,
    })
}

/// [`channel_v`], inside the ISA's function.
#[cfg_attr(not(debug_assertions), inline(always))]
fn channel_in<S: Simd, O: LaneOp<S>, const V: usize>(
    s: S,
    x: &[f32],
    d: Dims,
    c: usize,
    p0: f32,
) -> Moments {
    let mut total = Moments::EMPTY;
    let mut main = Group::<S, O, V>::new(s, p0);
    let mut tail = Group::<S, O, 1>::new(s, p0);
    let mut part = Group::<S, O, 1>::new(s, p0);
    let mut part_len = 0;
    for i in 0..d.n {
        let start = (i * d.c + c) * d.plane;
        let plane = x.get(start..start + d.plane).unwrap_or(&[]);
        if i + 1 < d.n && d.plane <= plan::PREFETCH_PLANE {
            // The next plane is a new stream, far away: start fetching its head.
            let next = start + d.c * d.plane;
            s.prefetch(
                x.get(next..next + d.plane.min(plan::PREFETCH_HEAD))
                    .unwrap_or(&[]),
            );
        }
        let (vs, rem) = plane.as_chunks::<LANES>();
        let (rows, rest) = vs.split_at(vs.len() - vs.len() % V);
        main.run(rows, &mut total);
        tail.run(rest, &mut total);
        if !rem.is_empty() {
            part_len = rem.len();
            part.run_partial(rem, &mut total);
        }
    }
    main.fold(&mut total, LANES);
    tail.fold(&mut total, LANES);
    part.fold(&mut total, part_len);
    total
}

/// `V` accumulators stepping in lockstep, with their step count and parameter.
struct Group<S: Simd, O: LaneOp<S>, const V: usize> {
    s: S,
    st: [O::State; V],
    k: usize,
    /// Steps before the next fold: [`LaneOp::FOLD`], reached by doubling from 1 when it
    /// is below `CHUNK`.
    limit: usize,
    p: f32,
    /// The pivot of the block after next (see [`Group::fold`]).
    next_p: f32,
}

impl<S: Simd, O: LaneOp<S>, const V: usize> Group<S, O, V> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn new(s: S, p: f32) -> Self {
        Group {
            s,
            st: [O::zero(s); V],
            k: 0,
            limit: if O::FOLD < CHUNK { 1 } else { CHUNK },
            p,
            next_p: p,
        }
    }

    /// Steps whole rows of `V` vectors (`vs.len()` a multiple of `V`), folding every
    /// `limit` steps. Between folds the states are locals of a loop with no fold in it,
    /// so they stay in registers.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run(&mut self, vs: &[[f32; LANES]], total: &mut Moments) {
        let s = self.s;
        let mut rows = vs.chunks_exact(V);
        loop {
            let (mut st, mut k, pv) = (self.st, self.k, s.splat(self.p));
            for row in rows.by_ref().take(self.limit - k) {
                k += 1;
                for (a, v) in st.iter_mut().zip(row) {
                    O::step(s, a, s.load(v), pv, k);
                }
                end_step::<S, O>(s, &mut st, k);
            }
            (self.st, self.k) = (st, k);
            if k < self.limit {
                return;
            }
            self.fold(total, LANES);
        }
    }

    /// Steps one partial vector (`rem.len() < LANES`, the same length every time).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run_partial(&mut self, rem: &[f32], total: &mut Moments) {
        let s = self.s;
        self.k += 1;
        O::step(
            s,
            &mut self.st[0],
            s.load_partial(rem),
            s.splat(self.p),
            self.k,
        );
        end_step::<S, O>(s, &mut self.st, self.k);
        if self.k == self.limit {
            self.fold(total, rem.len());
        }
    }

    /// Folds the states (their first `lanes` lanes: all but for the partial vector) into
    /// `total`, resets them and re-centers the parameter.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn fold(&mut self, total: &mut Moments, lanes: usize) {
        let s = self.s;
        if self.k > 0 {
            let m = if lanes == LANES {
                fold_rows::<S, O, V>(s, self.st, self.k, self.p)
            } else {
                fold_part::<S, O>(s, self.st[0], self.k, lanes, self.p)
            };
            *total = total.merge(m);
            if O::RECENTER {
                if O::FOLD < CHUNK && self.limit >= 4 {
                    // The mean one fold late: the next block does not wait for this fold.
                    (self.p, self.next_p) = (self.next_p, total.mean as f32);
                } else {
                    (self.p, self.next_p) = (total.mean as f32, total.mean as f32);
                }
            }
            self.limit = (2 * self.limit).min(O::FOLD);
        }
        (self.st, self.k) = ([O::zero(s); V], 0);
    }
}

/// Folds `V` full accumulators that each saw `k` values per lane into f64 moments.
///
/// The vectors merge in their own precision first (pairwise, equal counts; the values are
/// deviations from a nearby center by then), then the one left is widened and its lanes
/// merge in f64.
#[cfg_attr(not(debug_assertions), inline(always))]
fn fold_rows<S: Simd, O: LaneOp<S>, const V: usize>(
    s: S,
    mut st: [O::State; V],
    k: usize,
    p: f32,
) -> Moments {
    let (mut width, mut kv) = (V / 2, k);
    while width > 0 {
        for i in 0..width {
            st[i] = O::merge_equal(s, st[i], st[i + width], kv);
        }
        width /= 2;
        kv *= 2;
    }
    if let Some((sum, sq)) = O::sums(st[0]) {
        // Plain sums about one pivot: the lanes add (in f64), no Chan merges.
        let count = (k * V * LANES) as f64;
        let (sum, sq) = (add_lanes(sum.widen()), add_lanes(sq.widen()));
        let m = sum / count;
        return Moments {
            count: count as u64,
            mean: f64::from(p) + m,
            m2: sq - sum * m,
        };
    }
    let (mean, m2) = fold_lanes(s, &[O::finish(s, st[0], kv, s.splat(p))], kv as f64);
    Moments {
        count: (k * V * LANES) as u64,
        mean: f64::from(p) + mean,
        m2,
    }
}

/// Folds the first `len` lanes of the partial-vector accumulator into f64 moments.
#[cfg_attr(not(debug_assertions), inline(always))]
fn fold_part<S: Simd, O: LaneOp<S>>(s: S, st: O::State, k: usize, len: usize, p: f32) -> Moments {
    let (mean, m2) = O::finish(s, st, k, s.splat(p));
    let (mean, m2) = (wide_lanes(mean), wide_lanes(m2));
    let mut total = Moments::EMPTY;
    for (m, q) in mean.iter().zip(&m2).take(len) {
        total = total.merge(Moments {
            count: k as u64,
            mean: f64::from(p) + *m,
            m2: *q,
        });
    }
    total
}

/// Gives `emit` the moments of each channel `c` in `ks` (`d.plane >= 2`). Channels are
/// independent (lanes never mix channels), so any range gives the same per-channel
/// results; the training forward uses short ranges to normalize channels while they are
/// still in cache.
///
/// Short planes (`plane < plan::SHORT_PLANE`: 7x7, 14x14, …) go to [`flat::channel_range`]
/// (each plane along the lanes, 16 channels' lanes added at once). Longer planes go
/// through [`channel`], lanes along the plane.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn channel_range<S: Simd>(
    s: S,
    x: &[f32],
    d: Dims,
    method: Method,
    ks: core::ops::Range<usize>,
    emit: &mut impl Sink,
) {
    let kernel = plan::nchw_stats(d, method);
    if kernel == Kernel::NchwStatsShortPlanesFlat {
        return flat::channel_range(s, x, d, method, ks, emit);
    }
    for c in ks {
        // Shifting by a pivot near the channel's values keeps the f32 lanes' error
        // proportional to the spread, not to the offset.
        let pivot = pivot(x.get(c * d.plane..).unwrap_or(&[]), 1, d.plane);
        let m = match method {
            Method::Welford if kernel == Kernel::NchwStatsLongPlanesBlocks => {
                channel::<S, Shifted>(s, x, d, c, pivot)
            }
            Method::Welford => channel::<S, Welford>(s, x, d, c, pivot),
            Method::TwoPass => {
                let first = channel::<S, Sum>(s, x, d, c, pivot);
                two_pass(first, channel::<S, Centered>(s, x, d, c, first.mean as f32))
            }
        };
        emit.one(c, m);
    }
}
