//! NHWC statistics (and NCHW with 1x1 planes, which is the same thing): channels in lanes.
//!
//! The buffer is a matrix of rows; a block of up to `ACC` vectors of positions is held in
//! registers while the kernel streams down the rows, so no horizontal reduction is needed.
//! All positions advance together: one shared step number, one shared `1/k`.
//!
//! With few channels (`lcm(c, LANES)` small: c = 1, 3, 7, 16, 32…) a row is a *tile* of
//! `lcm(c, LANES)·u` values (whole pixels, whole vectors), so full vectors stream over the
//! flat buffer and position `i` holds channel `i % c`; the last pixels that do not fill a
//! tile are a second, short matrix with rows of `c`. With many channels the matrix has
//! rows of `c` values and is cut into blocks of `ACC * LANES` channels.

use super::{BLOCK, CHUNK, Centered, LaneOp, Method, Positions, Sum, Welford, end_step, two_pass};
use crate::Moments;
use crate::simd::{ACC, F32s, LANES, load, load_at};

pub(super) fn channel_moments(
    x: &[f32],
    c: usize,
    method: Method,
    emit: &mut impl FnMut(usize, Moments),
) {
    if c == 0 {
        return;
    }
    let tile = lcm(c, LANES);
    if tile <= BLOCK {
        tiled(x, c, (BLOCK / tile) * tile, method, emit);
    } else {
        let mut col = 0;
        while col < c {
            let width = (c - col).min(BLOCK);
            blocked(x.get(col..).unwrap_or(&[]), c, col, width, method, emit);
            col += width;
        }
    }
}

/// Which lane operation a pass runs.
#[derive(Clone, Copy)]
enum Op {
    Welford,
    Sum,
    Centered,
}

/// Few channels: rows of `period` values (a multiple of `c` and of `LANES`), then the
/// leftover pixels as rows of `c`.
fn tiled(
    x: &[f32],
    c: usize,
    period: usize,
    method: Method,
    emit: &mut impl FnMut(usize, Moments),
) {
    let main_rows = x.len() / period;
    let (main, rest) = x.split_at(main_rows * period);
    let parts = [(main, period, main_rows), (rest, c, rest.len() / c)];
    let first_row = |part: &[f32], i: usize| part.get(i).copied().unwrap_or(0.0);
    match method {
        Method::Welford => {
            let ch = tile_pass(Op::Welford, &parts, c, first_row);
            for (k, m) in ch.iter().enumerate().take(c) {
                emit(k, *m);
            }
        }
        Method::TwoPass => {
            let first = tile_pass(Op::Sum, &parts, c, first_row);
            let about = tile_pass(Op::Centered, &parts, c, |_, i| first[i % c].mean as f32);
            for (k, (f, a)) in first.iter().zip(&about).enumerate().take(c) {
                emit(k, two_pass(*f, *a));
            }
        }
    }
}

/// One pass of `op` over every part `(values, row length, rows)`; position `i` of a row is
/// channel `i % c` and gets parameter `param(values, i)`. Returns per-channel moments.
fn tile_pass(
    op: Op,
    parts: &[(&[f32], usize, usize)],
    c: usize,
    param: impl Fn(&[f32], usize) -> f32,
) -> [Moments; BLOCK] {
    let mut out = [Moments::EMPTY; BLOCK];
    for &(values, stride, rows) in parts {
        if rows == 0 {
            continue;
        }
        let width = stride.min(BLOCK);
        let mut prm = [0.0f32; BLOCK];
        for (i, p) in prm.iter_mut().enumerate().take(width) {
            *p = param(values, i);
        }
        let acc = pass(op, values, stride, rows, width, &prm);
        for i in 0..width {
            out[i % c] = out[i % c].merge(acc.moments(i));
        }
    }
    out
}

/// Many channels: positions `col..col + width` of rows of `c` values; `x` starts at `col`.
fn blocked(
    x: &[f32],
    c: usize,
    col: usize,
    width: usize,
    method: Method,
    emit: &mut impl FnMut(usize, Moments),
) {
    let rows = (x.len() + col) / c;
    let mut prm = [0.0f32; BLOCK];
    for (p, v) in prm.iter_mut().zip(x).take(width) {
        *p = *v;
    }
    match method {
        Method::Welford => {
            let acc = pass(Op::Welford, x, c, rows, width, &prm);
            for i in 0..width {
                emit(col + i, acc.moments(i));
            }
        }
        Method::TwoPass => {
            let first = pass(Op::Sum, x, c, rows, width, &prm);
            for (i, p) in prm.iter_mut().enumerate().take(width) {
                *p = first.mean(i) as f32;
            }
            let about = pass(Op::Centered, x, c, rows, width, &prm);
            for i in 0..width {
                emit(col + i, two_pass(first.moments(i), about.moments(i)));
            }
        }
    }
}

/// Runs `op` over `rows` rows of `stride` values, positions `0..width` (`width <= BLOCK`).
fn pass(
    op: Op,
    x: &[f32],
    stride: usize,
    rows: usize,
    width: usize,
    prm: &[f32; BLOCK],
) -> Positions {
    let mut acc = Positions::new();
    let v = width.div_ceil(LANES);
    match op {
        Op::Welford => by_width::<Welford>(v, x, stride, rows, prm, &mut acc),
        Op::Sum => by_width::<Sum>(v, x, stride, rows, prm, &mut acc),
        Op::Centered => by_width::<Centered>(v, x, stride, rows, prm, &mut acc),
    }
    acc
}

/// Picks the kernel instance whose block is `v` vectors wide (`1 <= v <= ACC`).
fn by_width<O: LaneOp>(
    v: usize,
    x: &[f32],
    stride: usize,
    rows: usize,
    prm: &[f32; BLOCK],
    acc: &mut Positions,
) {
    match v {
        1 => columns::<O, 1>(x, stride, rows, prm, acc),
        2 => columns::<O, 2>(x, stride, rows, prm, acc),
        3 => columns::<O, 3>(x, stride, rows, prm, acc),
        #[cfg(target_feature = "avx512f")]
        4 => columns::<O, 4>(x, stride, rows, prm, acc),
        #[cfg(target_feature = "avx512f")]
        5 => columns::<O, 5>(x, stride, rows, prm, acc),
        #[cfg(target_feature = "avx512f")]
        6 => columns::<O, 6>(x, stride, rows, prm, acc),
        #[cfg(target_feature = "avx512f")]
        7 => columns::<O, 7>(x, stride, rows, prm, acc),
        _ => columns::<O, ACC>(x, stride, rows, prm, acc),
    }
}

/// The kernel: `V` vectors of positions held in registers, streamed down `rows` rows
/// (row `i` starts at `x[i * stride]`), folded into `acc` every `CHUNK` rows.
#[inline(always)]
fn columns<O: LaneOp, const V: usize>(
    x: &[f32],
    stride: usize,
    rows: usize,
    prm: &[f32; BLOCK],
    acc: &mut Positions,
) {
    let mut p = [F32s::ZERO; V];
    for (j, pj) in p.iter_mut().enumerate() {
        *pj = load_at(prm, j * LANES);
    }
    let mut done = 0;
    while done < rows {
        let k_max = (rows - done).min(CHUNK);
        let mut st = [O::ZERO; V];
        for k in 1..=k_max {
            let a = (done + k - 1) * stride;
            match x.get(a..a + V * LANES) {
                Some(seg) => {
                    let (vs, _) = seg.as_chunks::<LANES>();
                    for ((s, v), pj) in st.iter_mut().zip(vs).zip(&p) {
                        O::step(s, load(v), *pj, k);
                    }
                }
                // The last row of a block whose vectors reach past the buffer.
                None => {
                    for (j, (s, pj)) in st.iter_mut().zip(&p).enumerate() {
                        O::step(s, load_at(x, a + j * LANES), *pj, k);
                    }
                }
            }
            end_step::<O>(&mut st, k);
        }
        let mut fin = [(F32s::ZERO, F32s::ZERO, F32s::ZERO); V];
        for (f, (s, pj)) in fin.iter_mut().zip(st.iter().zip(&p)) {
            let (m, q) = O::finish(*s, k_max);
            *f = (*pj, m, q);
        }
        acc.absorb(k_max, &fin);
        done += k_max;
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Least common multiple, saturating (only compared against `BLOCK`).
fn lcm(a: usize, b: usize) -> usize {
    (a / gcd(a, b)).saturating_mul(b)
}
