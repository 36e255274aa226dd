//! NCHW statistics: each channel is `n` contiguous planes; lanes run along a plane.
//!
//! Per channel, `ACC` vector accumulators take whole rows of `ACC * LANES` values in
//! lockstep (one shared step number, so one shared `1/k`); what is left of each plane
//! feeds a one-vector accumulator (whole vectors) and a partial-vector one (the last
//! `plane % LANES` values, always the same lanes, so their counts stay equal). Each
//! accumulator is folded into the channel's f64 [`Moments`] every `CHUNK` steps and at
//! the end of the channel.

use super::{CHUNK, Centered, LaneOp, Method, Positions, Sum, Welford, end_step, two_pass};
use crate::Moments;
use crate::shape::Dims;
use crate::simd::{
    ACC, F32s, LANES, T, fold_lanes, gather, load, load_partial, load_transposed, merge_equal,
    splat, to_array,
};

/// Values in one lockstep row of the `ACC` accumulators.
const ROW: usize = ACC * LANES;

/// Moments of channel `c`, accumulated by `O` with per-lane parameter `p`.
///
/// The states are plain locals passed by value, so they stay in registers.
fn channel<O: LaneOp>(x: &[f32], d: Dims, c: usize, p: f32) -> Moments {
    let pv = splat(p);
    let mut total = Moments::EMPTY;
    let (mut main, mut k_main) = ([O::ZERO; ACC], 0);
    let (mut tail, mut k_tail) = ([O::ZERO; 1], 0);
    let (mut part, mut k_part, mut part_len) = (O::ZERO, 0, 0);
    for i in 0..d.n {
        let start = (i * d.c + c) * d.plane;
        let plane = x.get(start..start + d.plane).unwrap_or(&[]);
        let (rows, rest) = plane.as_chunks::<ROW>();
        for row in rows {
            k_main += 1;
            let (vs, _) = row.as_chunks::<LANES>();
            for (s, v) in main.iter_mut().zip(vs) {
                O::step(s, load(v), pv, k_main);
            }
            end_step::<O>(&mut main, k_main);
            if k_main == CHUNK {
                total = total.merge(fold_rows::<O, ACC>(main, k_main, p));
                (main, k_main) = ([O::ZERO; ACC], 0);
            }
        }
        let (vs, rem) = rest.as_chunks::<LANES>();
        for v in vs {
            k_tail += 1;
            O::step(&mut tail[0], load(v), pv, k_tail);
            end_step::<O>(&mut tail, k_tail);
            if k_tail == CHUNK {
                total = total.merge(fold_rows::<O, 1>(tail, k_tail, p));
                (tail, k_tail) = ([O::ZERO; 1], 0);
            }
        }
        if !rem.is_empty() {
            k_part += 1;
            part_len = rem.len();
            O::step(&mut part, load_partial(rem), pv, k_part);
            end_step::<O>(core::slice::from_mut(&mut part), k_part);
            if k_part == CHUNK {
                total = total.merge(fold_part::<O>(part, k_part, part_len, p));
                (part, k_part) = (O::ZERO, 0);
            }
        }
    }
    if k_main > 0 {
        total = total.merge(fold_rows::<O, ACC>(main, k_main, p));
    }
    if k_tail > 0 {
        total = total.merge(fold_rows::<O, 1>(tail, k_tail, p));
    }
    if k_part > 0 {
        total = total.merge(fold_part::<O>(part, k_part, part_len, p));
    }
    total
}

/// Folds `V` full accumulators that each saw `k` values per lane into f64 moments.
fn fold_rows<O: LaneOp, const V: usize>(st: [O::State; V], k: usize, p: f32) -> Moments {
    let mut v = st.map(|s| O::finish(s, k));
    // Pairwise tree over the vectors (V is a power of two or 1), then over the lanes.
    let (mut width, mut kf) = (V / 2, k as f32);
    while width > 0 {
        for i in 0..width {
            v[i] = merge_equal(v[i], v[i + width], kf);
        }
        width /= 2;
        kf *= 2.0;
    }
    let (mean, m2) = fold_lanes(v[0].0, v[0].1, f64::from(kf));
    Moments {
        count: (k * V * LANES) as u64,
        mean: f64::from(p) + mean,
        m2,
    }
}

/// Folds the first `len` lanes of the partial-vector accumulator into f64 moments.
fn fold_part<O: LaneOp>(st: O::State, k: usize, len: usize, p: f32) -> Moments {
    let (mean, m2): (F32s, F32s) = O::finish(st, k);
    let (mean, m2) = (to_array(mean), to_array(m2));
    let mut total = Moments::EMPTY;
    for (m, q) in mean.iter().zip(&m2).take(len) {
        total = total.merge(Moments {
            count: k as u64,
            mean: f64::from(p) + f64::from(*m),
            m2: f64::from(*q),
        });
    }
    total
}

/// Planes shorter than this go to [`short_planes`]: per-channel horizontal folds would
/// cost more than the transposes.
const SHORT: usize = 512;

// A sample's worth of steps must fit in one chunk.
const _: () = assert!(SHORT / T < CHUNK);

/// Start of sample `i`'s plane of channel `c0 + l` for each lane `l`; lanes past the last
/// channel repeat it (their results are ignored).
fn starts(d: Dims, c0: usize, i: usize) -> [usize; LANES] {
    core::array::from_fn(|l| (i * d.c + (c0 + l).min(d.c - 1)) * d.plane)
}

/// Per-lane moments of channels `c0..c0 + LANES`, accumulated by `O` with parameters `p`.
fn transposed<O: LaneOp>(x: &[f32], d: Dims, c0: usize, p: F32s) -> Positions<LANES> {
    let mut acc = Positions::new();
    // `cols[j]` takes column `j` of every block, `rest[j]` column `j` of the leftover.
    let (mut cols, mut k_cols) = ([O::ZERO; T], 0);
    let (mut rest, mut k_rest) = ([O::ZERO; T], 0);
    let (blocks, rem) = (d.plane / T, d.plane % T);
    for i in 0..d.n {
        if k_cols + blocks > CHUNK || k_rest == CHUNK {
            flush::<O>(&mut acc, &[(cols, k_cols, T), (rest, k_rest, rem)], p);
            (cols, k_cols, rest, k_rest) = ([O::ZERO; T], 0, [O::ZERO; T], 0);
        }
        let s = starts(d, c0, i);
        for b in 0..blocks {
            k_cols += 1;
            let v = load_transposed(x, &s, b * T);
            for (st, v) in cols.iter_mut().zip(v) {
                O::step(st, v, p, k_cols);
            }
            end_step::<O>(&mut cols, k_cols);
        }
        if rem > 0 {
            k_rest += 1;
            for (j, st) in rest.iter_mut().enumerate().take(rem) {
                O::step(st, gather(x, &s, blocks * T + j), p, k_rest);
            }
            end_step::<O>(&mut rest, k_rest);
        }
    }
    flush::<O>(&mut acc, &[(cols, k_cols, T), (rest, k_rest, rem)], p);
    acc
}

/// Merges the first `used` accumulators of each set, which saw `k` values per lane each
/// (Chan, scalar weights), and adds the result to `acc`.
fn flush<O: LaneOp>(
    acc: &mut Positions<LANES>,
    sets: &[([O::State; T], usize, usize); 2],
    p: F32s,
) {
    let (mut mean, mut m2, mut n) = (F32s::ZERO, F32s::ZERO, 0usize);
    for &(st, k, used) in sets.iter().filter(|s| s.1 > 0) {
        for s in st.iter().take(used) {
            let (m, q) = O::finish(*s, k);
            let w = k as f32 / (n + k) as f32;
            let delta = m - mean;
            mean = delta.mul_add(splat(w), mean);
            m2 = (delta * delta).mul_add(splat(n as f32 * w), m2 + q);
            n += k;
        }
    }
    if n > 0 {
        acc.absorb(n, &[(p, mean, m2)]);
    }
}

/// Calls `emit(c, moments)` for each channel `c` in `ks` (`d.plane >= 2`). Channels are
/// independent (lanes never mix channels), so any range gives the same per-channel
/// results; the training forward uses short ranges to normalize channels while they are
/// still in cache.
///
/// Short planes (`plane < SHORT`) (7x7, 14x14, …): `LANES` channels side by side, one per lane. An
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
