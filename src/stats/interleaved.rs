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
//! rows of `c` values, cut into super-blocks of up to `SUPER` channels; the rows are
//! walked in tiles of `TILE_ROWS` rows, and each tile is swept block by block (`BLOCK`
//! channels in registers at a time), so memory is read in order, not in long strides.

use super::Method;
use super::ops::{
    BLOCK, CHUNK, Centered, LaneOp, PIVOT_SPAN, Positions, Sum, Welford, end_step, two_pass,
};
use crate::moments::Moments;
use crate::simd::{Body, LANES, MAX_ACC, Simd, Vf32, Vf64};

/// Register blocks in one super-block.
const BLOCKS: usize = 2;
/// Channels in one super-block: their f32 states and f64 moments live on the stack.
const SUPER: usize = BLOCKS * BLOCK;
/// Rows in one tile: a tile of a super-block (`TILE_ROWS * SUPER` values, 32 KiB with
/// AVX-512) stays in L1 while its blocks are swept.
const TILE_ROWS: usize = 16;

#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn channel_moments<S: Simd>(
    s: S,
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
        tiled(s, x, c, (BLOCK / tile) * tile, method, emit);
    } else {
        let mut s0 = 0;
        while s0 < c {
            let width = (c - s0).min(SUPER);
            blocked(s, x, c, s0, width, method, emit);
            s0 += width;
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

/// Per-position moments of a super-block.
type Acc = [Positions; BLOCKS];

fn new_acc() -> Acc {
    core::array::from_fn(|_| Positions::new())
}

/// Few channels: rows of `period` values (a multiple of `c` and of `LANES`), then the
/// leftover pixels as rows of `c`.
#[cfg_attr(not(debug_assertions), inline(always))]
fn tiled<S: Simd>(
    s: S,
    x: &[f32],
    c: usize,
    period: usize,
    method: Method,
    emit: &mut impl FnMut(usize, Moments),
) {
    let main_rows = x.len() / period;
    let (main, rest) = x.split_at(main_rows * period);
    let parts = [(main, period, main_rows), (rest, c, rest.len() / c)];
    let first_rows =
        |part: &[f32], stride: usize, rows: usize| pivots(s, part, stride, rows, 0, stride);
    match method {
        Method::Welford => {
            let ch = tile_pass(s, Op::Welford, &parts, c, first_rows);
            for (k, m) in ch.iter().enumerate().take(c) {
                emit(k, *m);
            }
        }
        Method::TwoPass => {
            let first = tile_pass(s, Op::Sum, &parts, c, first_rows);
            let centers = |_: &[f32], _, _| core::array::from_fn(|i| first[i % c].mean as f32);
            let about = tile_pass(s, Op::Centered, &parts, c, centers);
            for (k, (f, a)) in first.iter().zip(&about).enumerate().take(c) {
                emit(k, two_pass(*f, *a));
            }
        }
    }
}

/// One pass of `op` over every part `(values, row length, rows)`; position `i` of a row is
/// channel `i % c` and gets parameter `param(values, row length, rows)[i]`. Returns
/// per-channel moments.
#[cfg_attr(not(debug_assertions), inline(always))]
fn tile_pass<S: Simd>(
    s: S,
    op: Op,
    parts: &[(&[f32], usize, usize)],
    c: usize,
    param: impl Fn(&[f32], usize, usize) -> [f32; SUPER],
) -> [Moments; BLOCK] {
    let mut out = [Moments::EMPTY; BLOCK];
    for &(values, stride, rows) in parts {
        if rows == 0 {
            continue;
        }
        let width = stride.min(BLOCK);
        let prm = param(values, stride, rows);
        let mut acc = [Positions::new()];
        pass(s, op, values, stride, rows, 0, width, &prm, &mut acc);
        for i in 0..width {
            out[i % c] = out[i % c].merge(acc[0].moments(i));
        }
    }
    out
}

/// Many channels: channels `s0..s0 + width` (`width <= SUPER`) of rows of `c` values.
#[cfg_attr(not(debug_assertions), inline(always))]
fn blocked<S: Simd>(
    s: S,
    x: &[f32],
    c: usize,
    s0: usize,
    width: usize,
    method: Method,
    emit: &mut impl FnMut(usize, Moments),
) {
    let rows = x.len() / c;
    let mut prm = pivots(s, x, c, rows, s0, width);
    let at = |acc: &Acc, i: usize| acc[i / BLOCK].moments(i % BLOCK);
    let mut acc = new_acc();
    match method {
        Method::Welford => {
            pass(s, Op::Welford, x, c, rows, s0, width, &prm, &mut acc);
            for i in 0..width {
                emit(s0 + i, at(&acc, i));
            }
        }
        Method::TwoPass => {
            pass(s, Op::Sum, x, c, rows, s0, width, &prm, &mut acc);
            for (i, p) in prm.iter_mut().enumerate().take(width) {
                *p = at(&acc, i).mean as f32;
            }
            let mut about = new_acc();
            pass(s, Op::Centered, x, c, rows, s0, width, &prm, &mut about);
            for i in 0..width {
                emit(s0 + i, two_pass(at(&acc, i), at(&about, i)));
            }
        }
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

/// Runs `op` over `rows` rows of `stride` values, positions `s0..s0 + width`
/// (`width <= SUPER`) with parameters `prm`, adding to `acc`.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn pass<S: Simd>(
    s: S,
    op: Op,
    x: &[f32],
    stride: usize,
    rows: usize,
    s0: usize,
    width: usize,
    prm: &[f32; SUPER],
    acc: &mut [Positions],
) {
    let g = Grid {
        s,
        x,
        stride,
        rows,
        s0,
        width,
    };
    match op {
        Op::Welford => g.run::<Welford>(prm, acc),
        Op::Sum => g.run::<Sum>(prm, acc),
        Op::Centered => g.run::<Centered>(prm, acc),
    }
}

/// Where a pass reads: `rows` rows of `stride` values, positions `s0..s0 + width`.
#[derive(Clone, Copy)]
struct Grid<'a, S> {
    s: S,
    x: &'a [f32],
    stride: usize,
    rows: usize,
    s0: usize,
    width: usize,
}

impl<S: Simd> Grid<'_, S> {
    /// Streams the rows in chunks of `CHUNK` (f32 states, then folded into `acc`) and
    /// tiles of `TILE_ROWS`, sweeping the blocks of each tile in turn.
    fn run<O: LaneOp<S>>(&self, prm: &[f32; SUPER], acc: &mut [Positions]) {
        struct Run<'a, 'g, S, O> {
            g: &'a Grid<'g, S>,
            prm: &'a [f32; SUPER],
            acc: &'a mut [Positions],
            op: core::marker::PhantomData<O>,
        }
        impl<S: Simd, O: LaneOp<S>> Body<S> for Run<'_, '_, S, O> {
            type Output = ();
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn run(self, _s: S) {
                self.g.run_in::<O>(self.prm, self.acc);
            }
        }
        self.s.vectorize(Run::<S, O> {
            g: self,
            prm,
            acc,
            op: core::marker::PhantomData,
        });
    }

    /// [`Grid::run`], inside the ISA's function.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run_in<O: LaneOp<S>>(&self, prm: &[f32; SUPER], acc: &mut [Positions]) {
        let s = self.s;
        let blocks = self.width.div_ceil(BLOCK);
        let mut p: [[S::F; MAX_ACC]; BLOCKS] = core::array::from_fn(|b| {
            core::array::from_fn(|j| s.load_at(prm, b * BLOCK + j * LANES))
        });
        // One block keeps its states in registers for a whole chunk; several blocks are
        // swept tile by tile.
        let tile = if blocks == 1 { CHUNK } else { TILE_ROWS };
        let mut st = [[O::zero(s); MAX_ACC]; BLOCKS];
        let mut done = 0;
        while done < self.rows {
            let k_max = (self.rows - done).min(CHUNK);
            let mut k0 = 0;
            while k0 < k_max {
                let r = (k_max - k0).min(tile);
                for (b, (st, p)) in st.iter_mut().zip(&p).enumerate().take(blocks) {
                    let v = (self.width - b * BLOCK).min(BLOCK).div_ceil(LANES);
                    // Operations with wide states take the block in parts of `MAX_V`
                    // vectors, so their states still fit in registers.
                    let mut j = 0;
                    while j < v {
                        let w = (v - j).min(O::max_v());
                        let at = self.s0 + b * BLOCK + j * LANES;
                        self.by_width::<O>(w, at, done + k0, k0, r, &p[j..], &mut st[j..]);
                        j += w;
                    }
                }
                k0 += r;
            }
            let blocks_acc = st.iter_mut().zip(p.iter_mut()).zip(acc.iter_mut());
            for (b, ((st, p), acc)) in blocks_acc.enumerate().take(blocks) {
                let v = (self.width - b * BLOCK).min(BLOCK).div_ceil(LANES);
                let fin = st.iter().zip(p.iter()).take(v).map(|(a, pj)| {
                    let (m, q) = O::finish(s, *a, k_max, *pj);
                    (*pj, m, q)
                });
                acc.absorb::<S>(k_max, fin);
                *st = [O::zero(s); MAX_ACC];
                if O::RECENTER {
                    *p = core::array::from_fn(|j| acc.means(s, j));
                }
            }
            done += k_max;
        }
    }

    /// Picks the kernel instance whose block is `v` vectors wide
    /// (`1 <= v <= O::max_v()`), with the states and parameters of those vectors.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn by_width<O: LaneOp<S>>(
        &self,
        v: usize,
        col: usize,
        row: usize,
        k0: usize,
        r: usize,
        p: &[S::F],
        st: &mut [O::State],
    ) {
        match v {
            1 => self.columns::<O, 1>(col, row, k0, r, p, st),
            2 => self.columns::<O, 2>(col, row, k0, r, p, st),
            3 => self.columns::<O, 3>(col, row, k0, r, p, st),
            4 => self.columns::<O, 4>(col, row, k0, r, p, st),
            5 => self.columns::<O, 5>(col, row, k0, r, p, st),
            6 => self.columns::<O, 6>(col, row, k0, r, p, st),
            7 => self.columns::<O, 7>(col, row, k0, r, p, st),
            _ => self.columns::<O, MAX_ACC>(col, row, k0, r, p, st),
        }
    }

    /// The kernel: `V` vectors of positions `col..` held in registers, streamed down
    /// rows `row..row + r`, which are steps `k0 + 1..=k0 + r` of the current chunk. Its
    /// own function for the ISA: one call per tile of rows is cheap, and each width keeps
    /// its own small frame (a debug build inlining all eight would need them all at once).
    #[allow(clippy::too_many_arguments)]
    fn columns<O: LaneOp<S>, const V: usize>(
        &self,
        col: usize,
        row: usize,
        k0: usize,
        r: usize,
        p: &[S::F],
        state: &mut [O::State],
    ) {
        struct Cols<'a, 'g, S: Simd, O: LaneOp<S>, const V: usize> {
            g: &'a Grid<'g, S>,
            at: [usize; 4],
            p: &'a [S::F],
            state: &'a mut [O::State],
        }
        impl<S: Simd, O: LaneOp<S>, const V: usize> Body<S> for Cols<'_, '_, S, O, V> {
            type Output = ();
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn run(self, _s: S) {
                let [col, row, k0, r] = self.at;
                self.g
                    .columns_in::<O, V>(col, row, k0, r, self.p, self.state);
            }
        }
        self.s.vectorize(Cols::<S, O, V> {
            g: self,
            at: [col, row, k0, r],
            p,
            state,
        });
    }

    /// [`Grid::columns`], inside the ISA's function.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn columns_in<O: LaneOp<S>, const V: usize>(
        &self,
        col: usize,
        row: usize,
        k0: usize,
        r: usize,
        p: &[S::F],
        state: &mut [O::State],
    ) {
        let s = self.s;
        let mut st: [O::State; V] =
            core::array::from_fn(|j| state.get(j).copied().unwrap_or(O::zero(s)));
        let p: [S::F; V] = core::array::from_fn(|j| p.get(j).copied().unwrap_or(s.zero()));
        let x = self.x;
        for i in 0..r {
            let k = k0 + i + 1;
            let a = (row + i) * self.stride + col;
            match x.get(a..a + V * LANES) {
                Some(seg) => {
                    let (vs, _) = seg.as_chunks::<LANES>();
                    for ((a, v), pj) in st.iter_mut().zip(vs).zip(&p) {
                        O::step(s, a, s.load(v), *pj, k);
                    }
                }
                // The last row of a block whose vectors reach past the buffer.
                None => {
                    for (j, (st, pj)) in st.iter_mut().zip(&p).enumerate() {
                        O::step(s, st, s.load_at(x, a + j * LANES), *pj, k);
                    }
                }
            }
            end_step::<S, O>(s, &mut st, k);
        }
        for (s, v) in state.iter_mut().zip(st) {
            *s = v;
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Least common multiple, saturating (only compared against `BLOCK`).
fn lcm(a: usize, b: usize) -> usize {
    (a / gcd(a, b)).saturating_mul(b)
}
