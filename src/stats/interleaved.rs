//! NHWC statistics (and NCHW with 1x1 planes, which is the same thing): channels in lanes.
//!
//! The buffer is a matrix of rows; a block of positions ([`Simd::ACC`] vectors at a time)
//! is held in registers while the kernel streams down the rows, so no horizontal reduction is needed.
//! All positions advance together: one shared step number, one shared `1/k`.
//!
//! With few channels (`lcm(c, LANES)` small: c = 1, 3, 7, 16, 32…) a row is a *tile* of
//! `lcm(c, LANES)·u` values (whole pixels, whole vectors), so full vectors stream over the
//! flat buffer and position `i` holds channel `i % c`; the last pixels that do not fill a
//! tile are a second, short matrix with rows of `c`. With many channels the matrix has
//! rows of `c` values, cut into super-blocks of up to `SUPER` channels; the rows are
//! walked a chunk of `CHUNK` rows at a time, and each chunk is swept block by block
//! (`BLOCK` channels in registers at a time).
//!
//! Strided rows (starts `pitch > c` values apart) are the same matrices with rows of
//! `pitch` values: rows shorter than a vector are tiled when `lcm(pitch, LANES)` is small
//! (the gaps' positions are computed and dropped), others sweep the super-blocks of the
//! `c` channels.
//!
//! This file is the plan (which grids, which pivots, which passes); the register kernel
//! that runs one pass over a grid is in `grid.rs`.

use super::Method;
use super::Sink;
use super::grid::{BLOCKS, Op, SUPER, pass};
use super::ops::{BLOCK, PIVOT_SPAN, Positions};
use crate::moments::Moments;
use crate::plan::{self, Kernel};
use crate::simd::{LANES, Simd, Vf32, Vf64};

/// Per-channel moments of rows of `c` channels whose starts are `pitch >= c` values
/// apart (`x` ends with the last row's `c` values); the values between rows are read by
/// whole vectors but never reach a channel's moments.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn channel_moments<S: Simd>(
    s: S,
    x: &[f32],
    c: usize,
    pitch: usize,
    method: Method,
    emit: &mut impl Sink,
) {
    if c == 0 || x.len() < c {
        return;
    }
    let pitch = pitch.max(c);
    // A tile of rows `pitch` apart is a tile of `pitch` channels, the gaps' positions
    // computed and dropped.
    if let Kernel::NhwcStatsTiled { period } = plan::nhwc_stats_strided(c, pitch) {
        tiled(s, x, c, pitch, period, method, emit);
    } else {
        let rows = (x.len() - c) / pitch + 1;
        let mut s0 = 0;
        while s0 < c {
            let width = (c - s0).min(SUPER);
            blocked(s, x, pitch, rows, s0, width, method, emit);
            s0 += width;
        }
    }
}

/// Per-position moments of a super-block.
type Acc = [Positions; BLOCKS];

fn new_acc() -> Acc {
    [const { Positions::new() }; BLOCKS]
}

/// Few channels: rows of `period` values (a multiple of `pitch` and of `LANES`), then the
/// leftover pixels as rows of `pitch` (the last one cut short at `x`'s end). Position `i`
/// of a row is pixel position `i % pitch`: channel `i % pitch` when that is below `c`, a
/// gap between rows otherwise (computed, then dropped).
#[cfg_attr(not(debug_assertions), inline(always))]
fn tiled<S: Simd>(
    s: S,
    x: &[f32],
    c: usize,
    pitch: usize,
    period: usize,
    method: Method,
    emit: &mut impl Sink,
) {
    let main_rows = x.len() / period;
    let (main, rest) = x.split_at(main_rows * period);
    let parts = [
        (main, period, main_rows),
        (rest, pitch, rest.len().div_ceil(pitch)),
    ];
    let op = match method {
        Method::Welford => Op::Welford,
        Method::TwoPass => Op::TwoPass,
    };
    let ch = tile_pass(s, op, &parts, pitch);
    for (k, m) in ch.iter().enumerate().take(c) {
        emit.one(k, *m);
    }
}

/// One pass of `op` over every part `(values, row length, rows)`; position `i` of a row is
/// pixel position `i % pitch` (Welford's starting pivots are read from each part's first
/// rows). Returns per-position moments (`pitch <= BLOCK`).
#[cfg_attr(not(debug_assertions), inline(always))]
fn tile_pass<S: Simd>(
    s: S,
    op: Op,
    parts: &[(&[f32], usize, usize)],
    pitch: usize,
) -> [Moments; BLOCK] {
    let mut out = [Moments::EMPTY; BLOCK];
    for &(values, stride, rows) in parts {
        if rows == 0 {
            continue;
        }
        let width = stride.min(BLOCK);
        let prm = match op {
            Op::Welford => pivots(s, values, stride, rows, 0, stride),
            Op::TwoPass => [0.0; SUPER],
        };
        let mut acc = [Positions::new()];
        pass(s, op, values, stride, rows, 0, width, &prm, &mut acc, 0);
        for i in 0..width {
            if let Some(o) = out.get_mut(i % pitch) {
                *o = o.merge(acc[0].moments(i));
            }
        }
    }
    out
}

/// Many channels: channels `s0..s0 + width` (`width <= SUPER`) of `rows` rows `pitch`
/// values apart.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn blocked<S: Simd>(
    s: S,
    x: &[f32],
    pitch: usize,
    rows: usize,
    s0: usize,
    width: usize,
    method: Method,
    emit: &mut impl Sink,
) {
    let (op, prm) = match method {
        Method::Welford => (Op::Welford, pivots(s, x, pitch, rows, s0, width)),
        Method::TwoPass => (Op::TwoPass, [0.0; SUPER]),
    };
    let mut acc = new_acc();
    let ahead = plan::stats_prefetch(rows, pitch, width);
    pass(s, op, x, pitch, rows, s0, width, &prm, &mut acc, ahead);
    for (b, acc) in acc.iter().enumerate().take(width.div_ceil(BLOCK)) {
        let at = b * BLOCK;
        acc.emit(s0 + at, (width - at).min(BLOCK), emit);
    }
}

/// Starting pivots of positions `s0..s0 + width` (`width <= SUPER`) of `rows` rows of
/// `stride` values: as [`super::ops::pivot`], the mean of each position's first `PIVOT_SPAN`
/// values, summed in f64 a vector of positions at a time.
#[cfg_attr(not(debug_assertions), inline(always))]
fn pivots<S: Simd>(
    s: S,
    x: &[f32],
    stride: usize,
    rows: usize,
    s0: usize,
    width: usize,
) -> [f32; SUPER] {
    let take = rows.min(PIVOT_SPAN);
    let mut out = [0.0f32; SUPER];
    let n = s.splat64(take.max(1) as f64);
    for (j, o) in out
        .as_chunks_mut::<LANES>()
        .0
        .iter_mut()
        .enumerate()
        .take(width.div_ceil(LANES))
    {
        let mut sum = [s.zero64(); 2];
        for r in 0..take {
            let v = s.load_at(x, r * stride + s0 + j * LANES).widen();
            sum = [sum[0] + v[0], sum[1] + v[1]];
        }
        S::D::narrow(sum[0] / n, sum[1] / n).store(o);
    }
    out
}
