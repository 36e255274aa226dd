//! NCHW statistics: each channel is `n` contiguous planes; lanes run along a plane.
//!
//! Per channel, `ACC` vector accumulators take whole rows of `ACC * LANES` values in
//! lockstep (one shared step number, so one shared `1/k`); what is left of each plane
//! feeds a one-vector accumulator (whole vectors) and a partial-vector one (the last
//! `plane % LANES` values, always the same lanes, so their counts stay equal). Each
//! accumulator is folded into the channel's f64 [`Moments`] every `CHUNK` steps and at
//! the end of the channel.

use super::{CHUNK, Centered, LaneOp, Method, Sum, Welford};
use crate::Moments;
use crate::shape::Dims;
use crate::simd::{ACC, F32s, LANES, fold_lanes, load, load_partial, merge_equal, splat, to_array};

/// Values in one lockstep row of the `ACC` accumulators.
const ROW: usize = ACC * LANES;

pub(super) fn channel_moments(
    x: &[f32],
    d: Dims,
    method: Method,
    emit: &mut impl FnMut(usize, Moments),
) {
    for c in 0..d.c {
        // The channel's first value is its pivot: shifting by it keeps the f32 lanes'
        // error proportional to the spread, not to the offset.
        let pivot = x.get(c * d.plane).copied().unwrap_or(0.0);
        let m = match method {
            Method::Welford => channel::<Welford>(x, d, c, pivot),
            Method::TwoPass => {
                let first = channel::<Sum>(x, d, c, pivot);
                channel::<Centered>(x, d, c, first.mean as f32)
            }
        };
        emit(c, m);
    }
}

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
            if k_main == CHUNK {
                total = total.merge(fold_rows::<O, ACC>(main, k_main, p));
                (main, k_main) = ([O::ZERO; ACC], 0);
            }
        }
        let (vs, rem) = rest.as_chunks::<LANES>();
        for v in vs {
            k_tail += 1;
            O::step(&mut tail[0], load(v), pv, k_tail);
            if k_tail == CHUNK {
                total = total.merge(fold_rows::<O, 1>(tail, k_tail, p));
                (tail, k_tail) = ([O::ZERO; 1], 0);
            }
        }
        if !rem.is_empty() {
            k_part += 1;
            part_len = rem.len();
            O::step(&mut part, load_partial(rem), pv, k_part);
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
