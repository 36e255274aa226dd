//! The NHWC statistics kernel: one pass of a lane operation down a grid of rows. A block
//! of `BLOCK` positions (`MAX_ACC` vectors) is stepped [`Simd::ACC`] vectors at a time
//! (half that for wide states), their states held in registers while the rows stream by.
//! The plan that chooses the grids is in `interleaved.rs`.

use super::ops::{BLOCK, CHUNK, Centered, LaneOp, Positions, Sum, Welford, end_step};
use crate::simd::{Body, LANES, MAX_ACC, Simd};

/// Register blocks in one super-block.
pub(super) const BLOCKS: usize = 2;
/// Channels in one super-block: their f32 states and f64 moments live on the stack.
pub(super) const SUPER: usize = BLOCKS * BLOCK;
/// Rows in one tile: a tile of a super-block (`TILE_ROWS * SUPER` values, 16 KiB on every
/// ISA) stays in L1 while its blocks are swept.
pub(super) const TILE_ROWS: usize = 16;

/// Which lane operation a pass runs.
#[derive(Clone, Copy)]
pub(super) enum Op {
    Welford,
    Sum,
    Centered,
}

/// Runs `op` over `rows` rows of `stride` values, positions `s0..s0 + width`
/// (`width <= SUPER`) with parameters `prm`, adding to `acc`.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn pass<S: Simd>(
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
        // Plain loops, not `array::from_fn`: a closure would be compiled outside the ISA's
        // function, its lane operations calls (see `Simd::vectorize`).
        let mut p = [[s.zero(); MAX_ACC]; BLOCKS];
        for (b, pb) in p.iter_mut().enumerate() {
            for (j, pj) in pb.iter_mut().enumerate() {
                *pj = s.load_at(prm, b * BLOCK + j * LANES);
            }
        }
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
                let mut fin = [(s.zero(), [s.zero64(); 2], [s.zero64(); 2]); MAX_ACC];
                for ((f, a), pj) in fin.iter_mut().zip(st.iter()).zip(p.iter()).take(v) {
                    let (m, q) = O::finish(s, *a, k_max, *pj);
                    *f = (*pj, m, q);
                }
                acc.absorb::<S>(k_max, &fin[..v.min(MAX_ACC)]);
                *st = [O::zero(s); MAX_ACC];
                if O::RECENTER {
                    for (j, pj) in p.iter_mut().enumerate() {
                        *pj = acc.means(s, j);
                    }
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
        let mut st = [O::zero(s); V];
        for (a, b) in st.iter_mut().zip(state.iter()) {
            *a = *b;
        }
        let mut pv = [s.zero(); V];
        for (a, b) in pv.iter_mut().zip(p) {
            *a = *b;
        }
        let p = pv;
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
