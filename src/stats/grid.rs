//! The NHWC statistics kernels: one pass of a lane operation down a grid of rows, or the
//! two-pass method a chunk of rows at a time ([`Op::TwoPass`]). A block
//! of `BLOCK` positions (`MAX_ACC` vectors) is stepped [`Simd::ACC`] vectors at a time
//! (half that for wide states), their states held in registers while the rows stream by.
//! The plan that chooses the grids is in `interleaved.rs`.

use super::ops::{BLOCK, CHUNK, Centered, LaneOp, Positions, Sum, Welford, end_step};
use crate::simd::{Body, LANES, MAX_ACC, Simd, Vf32, Vf64, Wide};

/// Register blocks in one super-block.
pub(super) const BLOCKS: usize = 2;
/// Channels in one super-block: their f32 states and f64 moments live on the stack.
pub(super) const SUPER: usize = BLOCKS * BLOCK;
/// Which lane operation a pass runs.
#[derive(Clone, Copy)]
pub(super) enum Op {
    /// Welford's update, about the parameters as pivots.
    Welford,
    /// The two-pass method a chunk of rows at a time ([`Grid::run_two`]); no parameters.
    TwoPass,
}

/// Runs `op` over `rows` rows of `stride` values, positions `s0..s0 + width`
/// (`width <= SUPER`) with parameters `prm`, adding to `acc`; with `ahead > 0`, each
/// row's positions are prefetched `ahead` rows before they are read
/// ([`plan::stats_prefetch`](crate::plan::stats_prefetch)).
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
    ahead: usize,
) {
    let g = Grid {
        s,
        x,
        stride,
        rows,
        s0,
        width,
        ahead,
    };
    // The prefetch is a constant of each kernel instance: a test per row cost 5% of the
    // instructions of the rows that do not prefetch, and one loop for each under a
    // branch made the tiled Welford 30% slower at AVX2 (1x64x56x56).
    match (op, ahead > 0) {
        (Op::Welford, false) => g.run::<Welford, false>(prm, acc),
        (Op::Welford, true) => g.run::<Welford, true>(prm, acc),
        (Op::TwoPass, false) => g.run_two::<false>(acc),
        (Op::TwoPass, true) => g.run_two::<true>(acc),
    }
}

/// Where a pass reads: `rows` rows of `stride` values, positions `s0..s0 + width`; and
/// how many rows ahead it prefetches them (0: none).
#[derive(Clone, Copy)]
struct Grid<'a, S> {
    s: S,
    x: &'a [f32],
    stride: usize,
    rows: usize,
    s0: usize,
    width: usize,
    ahead: usize,
}

impl<S: Simd> Grid<'_, S> {
    /// Streams the rows in chunks of `CHUNK` (f32 states, then folded into `acc`), each
    /// chunk swept block by block, part by part.
    fn run<O: LaneOp<S>, const PF: bool>(&self, prm: &[f32; SUPER], acc: &mut [Positions]) {
        struct Run<'a, 'g, S, O, const PF: bool> {
            g: &'a Grid<'g, S>,
            prm: &'a [f32; SUPER],
            acc: &'a mut [Positions],
            op: core::marker::PhantomData<O>,
        }
        impl<S: Simd, O: LaneOp<S>, const PF: bool> Body<S> for Run<'_, '_, S, O, PF> {
            type Output = ();
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn run(self, _s: S) {
                self.g.run_in::<O, PF>(self.prm, self.acc);
            }
        }
        self.s.vectorize(Run::<S, O, PF> {
            g: self,
            prm,
            acc,
            op: core::marker::PhantomData,
        });
    }

    /// [`Grid::run`], inside the ISA's function.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run_in<O: LaneOp<S>, const PF: bool>(&self, prm: &[f32; SUPER], acc: &mut [Positions]) {
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
        // Each part of a block keeps its states in registers down a whole chunk, then the
        // next part goes down the same rows (tiles of 16 rows swept part by part, to read
        // each row once from memory, measured slower: 1x256x14x14 36% against 40% of
        // min(floor, read) at AVX-512).
        let mut st = [[O::zero(s); MAX_ACC]; BLOCKS];
        let mut done = 0;
        while done < self.rows {
            let k_max = (self.rows - done).min(CHUNK);
            for (b, (st, p)) in st.iter_mut().zip(&p).enumerate().take(blocks) {
                let v = (self.width - b * BLOCK).min(BLOCK).div_ceil(LANES);
                // Operations with wide states take the block in parts of `MAX_V`
                // vectors, so their states still fit in registers.
                let mut j = 0;
                while j < v {
                    let w = (v - j).min(O::max_v());
                    let at = self.s0 + b * BLOCK + j * LANES;
                    self.by_width::<O, PF>(w, at, done, 0, k_max, &p[j..], &mut st[j..]);
                    j += w;
                }
            }
            let blocks_acc = st.iter_mut().zip(p.iter_mut()).zip(acc.iter_mut());
            for (b, ((st, p), acc)) in blocks_acc.enumerate().take(blocks) {
                let v = (self.width - b * BLOCK).min(BLOCK).div_ceil(LANES);
                let mut fin = [(s.zero(), [s.zero64(); 2], [s.zero64(); 2]); MAX_ACC];
                for ((f, a), pj) in fin.iter_mut().zip(st.iter()).zip(p.iter()).take(v) {
                    let (m, q) = O::finish(s, *a, k_max, *pj);
                    *f = (*pj, m, q);
                }
                acc.absorb(s, k_max, &fin[..v.min(MAX_ACC)]);
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
    fn by_width<O: LaneOp<S>, const PF: bool>(
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
            1 => self.columns::<O, 1, PF>(col, row, k0, r, p, st),
            2 => self.columns::<O, 2, PF>(col, row, k0, r, p, st),
            3 => self.columns::<O, 3, PF>(col, row, k0, r, p, st),
            4 => self.columns::<O, 4, PF>(col, row, k0, r, p, st),
            5 => self.columns::<O, 5, PF>(col, row, k0, r, p, st),
            6 => self.columns::<O, 6, PF>(col, row, k0, r, p, st),
            7 => self.columns::<O, 7, PF>(col, row, k0, r, p, st),
            _ => self.columns::<O, MAX_ACC, PF>(col, row, k0, r, p, st),
        }
    }

    /// The kernel: `V` vectors of positions `col..` held in registers, streamed down
    /// rows `row..row + r`, which are steps `k0 + 1..=k0 + r` of the current chunk. Its
    /// own function for the ISA: one call per chunk of rows is cheap, and each width keeps
    /// its own small frame (a debug build inlining all eight would need them all at once).
    #[allow(clippy::too_many_arguments)]
    fn columns<O: LaneOp<S>, const V: usize, const PF: bool>(
        &self,
        col: usize,
        row: usize,
        k0: usize,
        r: usize,
        p: &[S::F],
        state: &mut [O::State],
    ) {
        struct Cols<'a, 'g, S: Simd, O: LaneOp<S>, const V: usize, const PF: bool> {
            g: &'a Grid<'g, S>,
            at: [usize; 4],
            p: &'a [S::F],
            state: &'a mut [O::State],
        }
        impl<S: Simd, O: LaneOp<S>, const V: usize, const PF: bool> Body<S> for Cols<'_, '_, S, O, V, PF> {
            type Output = ();
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn run(self, _s: S) {
                let [col, row, k0, r] = self.at;
                self.g
                    .columns_in::<O, V, PF>(col, row, k0, r, self.p, self.state);
            }
        }
        self.s.vectorize(Cols::<S, O, V, PF> {
            g: self,
            at: [col, row, k0, r],
            p,
            state,
        });
    }

    /// [`Grid::columns`], inside the ISA's function.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn columns_in<O: LaneOp<S>, const V: usize, const PF: bool>(
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
        self.rows_of::<O, V, PF>(col, row, k0, r, &pv, &mut st);
        for (s, v) in state.iter_mut().zip(st) {
            *s = v;
        }
    }

    /// The two-pass method, a chunk of at most `CHUNK` rows at a time: each part of up to
    /// `Centered::max_v()` vectors of positions (at least 2: one vector's four f64 sums
    /// were too few chains in flight for AVX2, 19% -> 23% of min(floor, read) on
    /// 1x3x224x224) sums the chunk's rows in f64 lanes, then
    /// reads them again (16 KiB at 4 vectors: from L1, so memory is read once) for
    /// `Σ(x - c)²` about the chunk's mean `c` rounded to f32, corrected for `mean - c`. The
    /// chunks' exact-to-f64 `(mean, M2)` are Chan-merged into `acc` in f64.
    fn run_two<const PF: bool>(&self, acc: &mut [Positions]) {
        struct Run<'a, 'g, S, const PF: bool> {
            g: &'a Grid<'g, S>,
            acc: &'a mut [Positions],
        }
        impl<S: Simd, const PF: bool> Body<S> for Run<'_, '_, S, PF> {
            type Output = ();
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn run(self, _s: S) {
                self.g.run_two_in::<PF>(self.acc);
            }
        }
        self.s.vectorize(Run::<S, PF> { g: self, acc });
    }

    /// [`Grid::run_two`], inside the ISA's function.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run_two_in<const PF: bool>(&self, acc: &mut [Positions]) {
        let s = self.s;
        let blocks = self.width.div_ceil(BLOCK);
        let max_v = <Centered as LaneOp<S>>::max_v().max(2);
        let mut done = 0;
        while done < self.rows {
            let k = (self.rows - done).min(CHUNK);
            for (b, acc) in acc.iter_mut().enumerate().take(blocks) {
                let v = (self.width - b * BLOCK).min(BLOCK).div_ceil(LANES);
                let mut fin = [(s.zero(), [s.zero64(); 2], [s.zero64(); 2]); MAX_ACC];
                let mut j = 0;
                while j < v {
                    let w = (v - j).min(max_v);
                    let at = self.s0 + b * BLOCK + j * LANES;
                    let out = fin.get_mut(j..).unwrap_or(&mut []);
                    match w {
                        1 => self.chunk_two::<1, PF>(at, done, k, out),
                        2 => self.chunk_two::<2, PF>(at, done, k, out),
                        3 => self.chunk_two::<3, PF>(at, done, k, out),
                        _ => self.chunk_two::<4, PF>(at, done, k, out),
                    }
                    j += w;
                }
                acc.absorb(s, k, &fin[..v.min(MAX_ACC)]);
            }
            done += k;
        }
    }

    /// One part of [`Grid::run_two`]: `V` vectors of positions `col..`, rows
    /// `row..row + k` (`1 <= k <= CHUNK`); writes each vector's finished
    /// `(c, mean - c, M2)` to `out`. Its own function for the ISA, as [`Grid::columns`].
    fn chunk_two<const V: usize, const PF: bool>(
        &self,
        col: usize,
        row: usize,
        k: usize,
        out: &mut [(S::F, Wide<S>, Wide<S>)],
    ) {
        struct Two<'a, 'g, S: Simd, const V: usize, const PF: bool> {
            g: &'a Grid<'g, S>,
            at: [usize; 3],
            out: &'a mut [(S::F, Wide<S>, Wide<S>)],
        }
        impl<S: Simd, const V: usize, const PF: bool> Body<S> for Two<'_, '_, S, V, PF> {
            type Output = ();
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn run(self, _s: S) {
                let [col, row, k] = self.at;
                self.g.chunk_two_in::<V, PF>(col, row, k, self.out);
            }
        }
        self.s.vectorize(Two::<S, V, PF> {
            g: self,
            at: [col, row, k],
            out,
        });
    }

    /// [`Grid::chunk_two`], inside the ISA's function.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn chunk_two_in<const V: usize, const PF: bool>(
        &self,
        col: usize,
        row: usize,
        k: usize,
        out: &mut [(S::F, Wide<S>, Wide<S>)],
    ) {
        let s = self.s;
        let zero = s.zero();
        let mut sum = [<Sum as LaneOp<S>>::zero(s); V];
        self.rows_of::<Sum, V, PF>(col, row, 0, k, &[zero; V], &mut sum);
        // The chunk's mean (a true division: exact for a constant chunk), and the center
        // `c`, that mean rounded to f32.
        let kv = s.splat64(k as f64);
        let mut mean = [[s.zero64(); 2]; V];
        let mut c = [zero; V];
        for ((m, cj), sj) in mean.iter_mut().zip(c.iter_mut()).zip(&sum) {
            *m = [sj[0] / kv, sj[1] / kv];
            *cj = S::D::narrow(m[0], m[1]);
        }
        let mut sq = [<Centered as LaneOp<S>>::zero(s); V];
        // Read again from L1: nothing to prefetch.
        self.rows_of::<Centered, V, false>(col, row, 0, k, &c, &mut sq);
        for (((o, m), cj), st) in out.iter_mut().zip(&mean).zip(&c).zip(sq) {
            // `M2 = Σ(x - c)² - k·(mean - c)²`: `mean - c` is below half an f32 ulp of
            // the mean, so the correction is small; rounding may leave a tiny negative,
            // which `Positions::moments` clamps.
            let q = <Centered as LaneOp<S>>::finish(s, st, k, *cj).1;
            let cw = cj.widen();
            let d = [m[0] - cw[0], m[1] - cw[1]];
            let q = [q[0] - kv * d[0] * d[0], q[1] - kv * d[1] * d[1]];
            *o = (*cj, d, q);
        }
    }

    /// Steps `O` over rows `row..row + r`, which are steps `k0 + 1..=k0 + r` of the current
    /// chunk, for `V` vectors of positions `col..` with parameters `p`, in `st`; with `PF`,
    /// prefetching each row's vectors `self.ahead` rows ahead.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn rows_of<O: LaneOp<S>, const V: usize, const PF: bool>(
        &self,
        col: usize,
        row: usize,
        k0: usize,
        r: usize,
        p: &[S::F; V],
        st: &mut [O::State; V],
    ) {
        let (s, x) = (self.s, self.x);
        for i in 0..r {
            let k = k0 + i + 1;
            let a = (row + i) * self.stride + col;
            // Only rows of the pass: their starts are below `x.len()`, so nothing overflows.
            if PF && row + i + self.ahead < self.rows {
                let f = (row + i + self.ahead) * self.stride + col;
                if let Some(next) = x.get(f..f + V * LANES) {
                    s.prefetch(next);
                }
            }
            match x.get(a..a + V * LANES) {
                Some(seg) => {
                    let (vs, _) = seg.as_chunks::<LANES>();
                    for ((st, v), pj) in st.iter_mut().zip(vs).zip(p) {
                        O::step(s, st, s.load(v), *pj, k);
                    }
                }
                // The last row of a block whose vectors reach past the buffer.
                None => {
                    for (j, (st, pj)) in st.iter_mut().zip(p).enumerate() {
                        O::step(s, st, s.load_at(x, a + j * LANES), *pj, k);
                    }
                }
            }
            end_step::<S, O>(s, st, k);
        }
    }
}
