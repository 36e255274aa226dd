//! NCHW statistics: each channel is `n` contiguous planes; lanes run along a plane.
//!
//! Per channel, `ACC` vector accumulators take whole rows of `ACC * LANES` values in
//! lockstep (one shared step number, so one shared `1/k`); what is left of each plane
//! feeds a one-vector accumulator (whole vectors) and a partial-vector one (the last
//! `plane % LANES` values, always the same lanes, so their counts stay equal). Each
//! accumulator is folded into the channel's f64 [`Moments`] every `CHUNK` steps and at
//! the end of the channel.

use super::{
    CHUNK, Centered, FIRST_CHUNK, LaneOp, Method, Positions, Sum, Welford, end_step, two_pass,
};
use crate::Moments;
use crate::shape::Dims;
use crate::simd::{
    ACC, F32s, LANES, T, fold_lanes, gather, load, load_partial, load_transposed, splat, wide_lanes,
};

/// Values in one lockstep row of the `ACC` accumulators.
const ROW: usize = ACC * LANES;

/// Moments of channel `c`, accumulated by `O` with first parameter `p0`.
///
/// The states are plain locals passed by value, so they stay in registers. Each of the
/// three accumulators has its own parameter; with [`LaneOp::RECENTER`] it moves to the
/// channel's running mean after each fold, so the f32 lanes only ever hold deviations
/// from a nearby center.
fn channel<O: LaneOp>(x: &[f32], d: Dims, c: usize, p0: f32) -> Moments {
    let mut total = Moments::EMPTY;
    let center = |total: &Moments, p: f32| {
        if O::RECENTER { total.mean as f32 } else { p }
    };
    // State, steps, parameter and chunk length of each accumulator (the first chunk is
    // short: see FIRST_CHUNK).
    let (mut main, mut k_main, mut p_main, mut lim_main) = ([O::ZERO; ACC], 0, p0, FIRST_CHUNK);
    let (mut tail, mut k_tail, mut p_tail, mut lim_tail) = ([O::ZERO; 1], 0, p0, FIRST_CHUNK);
    let (mut part, mut k_part, mut p_part, mut lim_part) = (O::ZERO, 0, p0, FIRST_CHUNK);
    let mut part_len = 0;
    for i in 0..d.n {
        let start = (i * d.c + c) * d.plane;
        let plane = x.get(start..start + d.plane).unwrap_or(&[]);
        let (rows, rest) = plane.as_chunks::<ROW>();
        let mut pv = splat(p_main);
        for row in rows {
            k_main += 1;
            let (vs, _) = row.as_chunks::<LANES>();
            for (s, v) in main.iter_mut().zip(vs) {
                O::step(s, load(v), pv, k_main);
            }
            end_step::<O>(&mut main, k_main);
            if k_main == lim_main {
                total = total.merge(fold_rows::<O, ACC>(main, k_main, p_main));
                (main, k_main, p_main, lim_main) =
                    ([O::ZERO; ACC], 0, center(&total, p_main), CHUNK);
                pv = splat(p_main);
            }
        }
        let (vs, rem) = rest.as_chunks::<LANES>();
        for v in vs {
            k_tail += 1;
            O::step(&mut tail[0], load(v), splat(p_tail), k_tail);
            end_step::<O>(&mut tail, k_tail);
            if k_tail == lim_tail {
                total = total.merge(fold_rows::<O, 1>(tail, k_tail, p_tail));
                (tail, k_tail, p_tail, lim_tail) = ([O::ZERO; 1], 0, center(&total, p_tail), CHUNK);
            }
        }
        if !rem.is_empty() {
            k_part += 1;
            part_len = rem.len();
            O::step(&mut part, load_partial(rem), splat(p_part), k_part);
            end_step::<O>(core::slice::from_mut(&mut part), k_part);
            if k_part == lim_part {
                total = total.merge(fold_part::<O>(part, k_part, part_len, p_part));
                (part, k_part, p_part, lim_part) = (O::ZERO, 0, center(&total, p_part), CHUNK);
            }
        }
    }
    if k_main > 0 {
        total = total.merge(fold_rows::<O, ACC>(main, k_main, p_main));
    }
    if k_tail > 0 {
        total = total.merge(fold_rows::<O, 1>(tail, k_tail, p_tail));
    }
    if k_part > 0 {
        total = total.merge(fold_part::<O>(part, k_part, part_len, p_part));
    }
    total
}

/// Folds `V` full accumulators that each saw `k` values per lane into f64 moments.
fn fold_rows<O: LaneOp, const V: usize>(st: [O::State; V], k: usize, p: f32) -> Moments {
    let (mean, m2) = fold_lanes(&st.map(|s| O::finish(s, k)), k as f64);
    Moments {
        count: (k * V * LANES) as u64,
        mean: f64::from(p) + mean,
        m2,
    }
}

/// Folds the first `len` lanes of the partial-vector accumulator into f64 moments.
fn fold_part<O: LaneOp>(st: O::State, k: usize, len: usize, p: f32) -> Moments {
    let (mean, m2) = O::finish(st, k);
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

/// Planes shorter than this go to [`short_planes`]: per-channel horizontal folds would
/// cost more than the transposes.
const SHORT: usize = 512;

/// Start of sample `i`'s plane of channel `c0 + l` for each lane `l`; lanes past the last
/// channel repeat it (their results are ignored).
fn starts(d: Dims, c0: usize, i: usize) -> [usize; LANES] {
    core::array::from_fn(|l| (i * d.c + (c0 + l).min(d.c - 1)) * d.plane)
}

/// Per-lane moments of channels `c0..c0 + LANES`, accumulated by `O` with first
/// parameters `p0` (re-centered after each fold, as in [`channel`]).
fn transposed<O: LaneOp>(x: &[f32], d: Dims, c0: usize, p0: F32s) -> Positions<LANES> {
    let mut acc = Positions::new();
    let center = |acc: &Positions<LANES>, p: F32s| {
        if O::RECENTER { acc.means(0) } else { p }
    };
    // `cols[j]` takes column `j` of every block, `rest[j]` column `j` of the leftover.
    let (mut cols, mut k_cols, mut p_cols, mut lim_cols) = ([O::ZERO; T], 0, p0, FIRST_CHUNK);
    let (mut rest, mut k_rest, mut p_rest, mut lim_rest) = ([O::ZERO; T], 0, p0, FIRST_CHUNK);
    let (blocks, rem) = (d.plane / T, d.plane % T);
    for i in 0..d.n {
        let s = starts(d, c0, i);
        for b in 0..blocks {
            k_cols += 1;
            let v = load_transposed(x, &s, b * T);
            for (st, v) in cols.iter_mut().zip(v) {
                O::step(st, v, p_cols, k_cols);
            }
            end_step::<O>(&mut cols, k_cols);
            if k_cols == lim_cols {
                flush::<O>(&mut acc, &cols, k_cols, T, p_cols);
                (cols, k_cols, p_cols, lim_cols) = ([O::ZERO; T], 0, center(&acc, p_cols), CHUNK);
            }
        }
        if rem > 0 {
            k_rest += 1;
            for (j, st) in rest.iter_mut().enumerate().take(rem) {
                O::step(st, gather(x, &s, blocks * T + j), p_rest, k_rest);
            }
            end_step::<O>(&mut rest, k_rest);
            if k_rest == lim_rest {
                flush::<O>(&mut acc, &rest, k_rest, rem, p_rest);
                (rest, k_rest, p_rest, lim_rest) = ([O::ZERO; T], 0, center(&acc, p_rest), CHUNK);
            }
        }
    }
    flush::<O>(&mut acc, &cols, k_cols, T, p_cols);
    flush::<O>(&mut acc, &rest, k_rest, rem, p_rest);
    acc
}

/// Adds the first `used` accumulators, which saw `k` values per lane each, to `acc`
/// (widened to f64 before any merge).
fn flush<O: LaneOp>(
    acc: &mut Positions<LANES>,
    st: &[O::State; T],
    k: usize,
    used: usize,
    p: F32s,
) {
    if k > 0 {
        for s in st.iter().take(used) {
            let (m, q) = O::finish(*s, k);
            acc.absorb(k, &[(p, m, q)]);
        }
    }
}

/// Calls `emit(c, moments)` for each channel `c` in `ks` (`d.plane >= 2`). Channels are
/// independent (lanes never mix channels), so any range gives the same per-channel
/// results; the training forward uses short ranges to normalize channels while they are
/// still in cache.
///
/// Short planes (`plane < SHORT`: 7x7, 14x14, …): `LANES` channels side by side, one per
/// lane. An
/// `LANES x 8` block of the channels' planes is loaded and transposed, so each vector
/// holds one position of `LANES` channels and the lanes never need a horizontal fold.
/// The 8 vectors of a block feed 8 independent accumulators.
pub(super) fn channel_range(
    x: &[f32],
    d: Dims,
    method: Method,
    ks: core::ops::Range<usize>,
    emit: &mut impl FnMut(usize, Moments),
) {
    if d.plane < SHORT {
        let mut c0 = ks.start;
        while c0 < ks.end {
            let group = (ks.end - c0).min(LANES);
            let pivots = gather(x, &starts(d, c0, 0), 0);
            match method {
                Method::Welford => {
                    let acc = transposed::<Welford>(x, d, c0, pivots);
                    for l in 0..group {
                        emit(c0 + l, acc.moments(l));
                    }
                }
                Method::TwoPass => {
                    let first = transposed::<Sum>(x, d, c0, pivots);
                    let centers = F32s::new(core::array::from_fn(|l| first.mean(l) as f32));
                    let about = transposed::<Centered>(x, d, c0, centers);
                    for l in 0..group {
                        emit(c0 + l, two_pass(first.moments(l), about.moments(l)));
                    }
                }
            }
            c0 += group;
        }
        return;
    }
    for c in ks {
        // The channel's first value is its pivot: shifting by it keeps the f32 lanes'
        // error proportional to the spread, not to the offset.
        let pivot = x.get(c * d.plane).copied().unwrap_or(0.0);
        let m = match method {
            Method::Welford => channel::<Welford>(x, d, c, pivot),
            Method::TwoPass => {
                let first = channel::<Sum>(x, d, c, pivot);
                two_pass(first, channel::<Centered>(x, d, c, first.mean as f32))
            }
        };
        emit(c, m);
    }
}
