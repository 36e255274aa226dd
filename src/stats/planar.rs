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

/// One accumulator state and how many values each of its lanes has seen.
struct Counted<S> {
    st: S,
    k: usize,
}

impl<S: Copy> Counted<S> {
    fn new(zero: S) -> Self {
        Counted { st: zero, k: 0 }
    }
}

/// Moments of channel `c`, accumulated by `O` with per-lane parameter `p`.
fn channel<O: LaneOp>(x: &[f32], d: Dims, c: usize, p: f32) -> Moments {
    let pv = splat(p);
    let mut total = Moments::EMPTY;
    let mut main = Counted::new([O::ZERO; ACC]);
    let mut tail = Counted::new(O::ZERO);
    let mut part = Counted::new(O::ZERO);
    let mut part_len = 0;
    for i in 0..d.n {
        let start = (i * d.c + c) * d.plane;
        let plane = x.get(start..start + d.plane).unwrap_or(&[]);
        let (rows, rest) = plane.as_chunks::<ROW>();
        for row in rows {
            main.k += 1;
            let (vs, _) = row.as_chunks::<LANES>();
            for (s, v) in main.st.iter_mut().zip(vs) {
                O::step(s, load(v), pv, main.k);
            }
            if main.k == CHUNK {
                total = total.merge(fold_rows::<O, ACC>(&main, p));
                main = Counted::new([O::ZERO; ACC]);
            }
        }
        let (vs, rem) = rest.as_chunks::<LANES>();
        for v in vs {
            tail.k += 1;
            O::step(&mut tail.st, load(v), pv, tail.k);
            if tail.k == CHUNK {
                total = total.merge(fold_rows::<O, 1>(
                    &Counted {
                        st: [tail.st],
                        k: tail.k,
                    },
                    p,
                ));
                tail = Counted::new(O::ZERO);
            }
        }
        if !rem.is_empty() {
            part.k += 1;
            part_len = rem.len();
            O::step(&mut part.st, load_partial(rem), pv, part.k);
            if part.k == CHUNK {
                total = total.merge(fold_part::<O>(&part, part_len, p));
                part = Counted::new(O::ZERO);
            }
        }
    }
    if main.k > 0 {
        total = total.merge(fold_rows::<O, ACC>(&main, p));
    }
    if tail.k > 0 {
        total = total.merge(fold_rows::<O, 1>(
            &Counted {
                st: [tail.st],
                k: tail.k,
            },
            p,
        ));
    }
    if part.k > 0 {
        total = total.merge(fold_part::<O>(&part, part_len, p));
    }
    total
}

/// Folds `V` full accumulators that each saw `k` values per lane into f64 moments.
fn fold_rows<O: LaneOp, const V: usize>(acc: &Counted<[O::State; V]>, p: f32) -> Moments {
    let mut v = acc.st.map(|s| O::finish(s, acc.k));
    // Pairwise tree over the vectors (V is a power of two or 1), then over the lanes.
    let (mut width, mut k) = (V / 2, acc.k as f32);
    while width > 0 {
        for i in 0..width {
            v[i] = merge_equal(v[i], v[i + width], k);
        }
        width /= 2;
        k *= 2.0;
    }
    let (mean, m2) = fold_lanes(v[0].0, v[0].1, f64::from(k));
    Moments {
        count: (acc.k * V * LANES) as u64,
        mean: f64::from(p) + mean,
        m2,
    }
}

/// Folds the first `len` lanes of the partial-vector accumulator into f64 moments.
fn fold_part<O: LaneOp>(acc: &Counted<O::State>, len: usize, p: f32) -> Moments {
    let (mean, m2): (F32s, F32s) = O::finish(acc.st, acc.k);
    let (mean, m2) = (to_array(mean), to_array(m2));
    let mut total = Moments::EMPTY;
    for (m, q) in mean.iter().zip(&m2).take(len) {
        total = total.merge(Moments {
            count: acc.k as u64,
            mean: f64::from(p) + f64::from(*m),
            m2: f64::from(*q),
        });
    }
    total
}
