//! NHWC normalize (and NCHW with 1x1 planes, which is the same thing): rows of `c`
//! interleaved channels, so lane `i` of a vector at flat position `p` has channel
//! `(p + i) % c`.
//!
//! - Few channels (`lcm(c, LANES)` at most `min(MAX_ACC, 4 * Simd::ACC)` vectors: c = 1, 2,
//!   3, 4, 6, 8, 12, 16, 32, 64…): the constants repeat every `lcm(c, LANES)` values, so a *tile* of that many
//!   vectors (times a small factor) is built once, held in registers, and full vectors
//!   stream over the flat buffer.
//! - Other channel counts below `2 * LANES` (c = 9, 13, 17, 31…): the same tile, kept on
//!   the stack and indexed by a wrapping counter.
//! - Many channels: each row is `c / LANES` whole vectors whose constants are the same for
//!   every row, plus, when `LANES` does not divide `c`, one whole vector that ends at the
//!   row's end (overlapping the previous one, computed from the input before the row is
//!   written). Channels are taken in blocks of at most [`BLOCK`], so the constants stay on
//!   the stack, and rows a few at a time so that each vector of constants serves several
//!   rows: column by column over 2 or 4 rows for large tensors, or, for tensors that stay
//!   in cache, register tiles of `TILE_V` vectors of channels over `TILE_R` rows, whose
//!   scales are computed during the first rows so their f64 divisions overlap the stream.
//! - Strided rows (starts `pitch > c` values apart, the values between them never
//!   written): with `c >= LANES` and one pitch for input and output, the many-channel row
//!   kernels with the pitch as the row distance; otherwise ([`row_vectors`]) each row a
//!   vector at a time, the row's last vector stored partially.

use super::act::{Act, norm};
use super::consts::{Block, Chan, Consts, Src};
use super::io::{Io, Span};
use crate::plan::{self, Kernel, NORM_BLOCK, NhwcNormalize, TILE_MAX, TILE_R, TILE_REGS};
use crate::simd::{Body, LANES, Simd};

/// Normalizes rows of `c` channels, `pitch[0] >= c` values apart in the input and
/// `pitch[1] >= c` in the output (equal in place), the input ending with the last row.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn run<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    pitch: [usize; 2],
    p: &Src,
    act: A,
) {
    if c == 0 || io.len() < c {
        return;
    }
    let [xp, yp] = [pitch[0].max(c), pitch[1].max(c)];
    if xp != c || yp != c {
        match plan::nhwc_strided(c, xp, yp) {
            NhwcNormalize::Rows => rows(s, io, c, xp, p, act),
            _ => row_vectors(s, io, c, [xp, yp], p, act),
        }
        return;
    }
    match plan::nhwc_normalize(c, S::ACC) {
        NhwcNormalize::Tile(Kernel::NhwcNormalizeTileRegs { vectors }) => match vectors {
            1 => tile_reg::<1, S, I, A>(s, io, c, p, act),
            2 => tile_reg::<2, S, I, A>(s, io, c, p, act),
            3 => tile_reg::<3, S, I, A>(s, io, c, p, act),
            4 => tile_reg::<4, S, I, A>(s, io, c, p, act),
            5 => tile_reg::<5, S, I, A>(s, io, c, p, act),
            6 => tile_reg::<6, S, I, A>(s, io, c, p, act),
            7 => tile_reg::<7, S, I, A>(s, io, c, p, act),
            _ => tile_reg::<TILE_REGS, S, I, A>(s, io, c, p, act),
        },
        NhwcNormalize::Tile(Kernel::NhwcNormalizeTileStack { vectors }) => {
            tile_mem(s, io, c, vectors, p, act)
        }
        _ => rows(s, io, c, c, p, act),
    }
}

/// Fills the constants of positions `0..m.len()` of the flat stream, position `i` having
/// channel `i % c` (`1 <= c`; the slices have one length). Each channel's scale is computed
/// once, then copied to every position it holds.
#[cfg_attr(not(debug_assertions), inline(always))]
fn pattern<S: Simd>(t: S, c: usize, p: &Src, m: &mut [f32], s: &mut [f32], b: &mut [f32]) {
    let n = m.len().min(s.len()).min(b.len());
    let c = c.clamp(1, n.max(1));
    p.scales(t, 0, &mut s[..c.min(n)]);
    for i in c..n {
        s[i] = s[i - c];
    }
    for (i, (m, b)) in m.iter_mut().zip(b.iter_mut()).enumerate() {
        *m = p.mean.get(i % c).copied().unwrap_or(0.0);
        *b = p.beta.get(i % c).copied().unwrap_or(0.0);
    }
}

/// Few channels: `T <= TILE_REGS` vectors of constants (a whole number of periods) in
/// registers. Its own function for the ISA ([`Simd::vectorize`]).
fn tile_reg<const T: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    p: &Src,
    act: A,
) {
    const N: usize = TILE_REGS * LANES;
    let (mut m, mut sv, mut b) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
    let n = (T * LANES).min(N);
    s.vectorize(Tiles::<T, I, A> {
        io,
        c,
        p,
        pat: [&mut m[..n], &mut sv[..n], &mut b[..n]],
        act,
    });
}

/// The body of [`tile_reg`] (`T` vectors in registers) and [`tile_mem`] (`T == 0`: the
/// pattern's vectors loaded one by one): the pattern filled (inside the ISA's function,
/// like everything that uses lanes), the flat stream, then the last partial vector.
struct Tiles<'a, const T: usize, I, A> {
    io: &'a mut I,
    c: usize,
    p: &'a Src<'a>,
    /// To fill with the mean, scale and beta of the positions `0..period`.
    pat: [&'a mut [f32]; 3],
    act: A,
}

/// The pattern's vector `j` (zeros past its end).
#[cfg_attr(not(debug_assertions), inline(always))]
fn tile_consts<S: Simd>(s: S, pat: [&[f32]; 3], j: usize) -> Consts<S::F> {
    let [m, sc, b] = pat;
    Block {
        mean: m,
        scale: sc,
        beta: b,
    }
    .consts_at(s, j * LANES)
}

impl<const T: usize, S: Simd, I: Io, A: Act<S::F>> Body<S> for Tiles<'_, T, I, A> {
    type Output = ();
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run(self, s: S) {
        let act = self.act;
        let [m, sc, b] = self.pat;
        pattern(s, self.c, self.p, m, sc, b);
        let pat: [&[f32]; 3] = [m, sc, b];
        if T > 0 {
            let mut k = [Consts::splat(s, Chan::ZERO); T];
            for (j, k) in k.iter_mut().enumerate() {
                *k = tile_consts(s, pat, j);
            }
            let pat = k;
            let io = self.io;
            let rows = io.len() / (T * LANES);
            {
                let mut span = io.span(0, rows * T);
                for r in 0..span.vectors() / T {
                    for (t, k) in pat.iter().enumerate() {
                        let j = r * T + t;
                        span.set(j, norm(span.get(s, j), k, act));
                    }
                }
            }
            leftover(s, io, rows * T * LANES, &pat, act);
        } else {
            let period = pat[0].len() / LANES;
            let vectors = self.io.len() / LANES;
            let mut j = 0;
            {
                let [m, sc, b] = pat;
                let blk = Block {
                    mean: m,
                    scale: sc,
                    beta: b,
                };
                let mut span = self.io.span(0, vectors);
                for v in 0..span.vectors() {
                    let k = blk.consts_at(s, j * LANES);
                    span.set(v, norm(span.get(s, v), &k, act));
                    j = if j + 1 == period { 0 } else { j + 1 };
                }
            }
            // The last partial vector continues the pattern where the stream stopped.
            let pos = vectors * LANES;
            if pos < self.io.len() {
                let k = tile_consts(s, pat, j);
                let v = norm(self.io.read(s, pos), &k, act);
                self.io.write(pos, LANES, v);
            }
        }
    }
}

/// Odd channel counts: a tile of `t <= TILE_MAX` vectors on the stack, loaded vector by
/// vector. Its own function for the ISA ([`Simd::vectorize`]).
fn tile_mem<S: Simd, I: Io, A: Act<S::F>>(s: S, io: &mut I, c: usize, t: usize, p: &Src, act: A) {
    const N: usize = TILE_MAX * LANES;
    let (mut m, mut sv, mut b) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
    let n = (t * LANES).min(N);
    s.vectorize(Tiles::<0, I, A> {
        io,
        c,
        p,
        pat: [&mut m[..n], &mut sv[..n], &mut b[..n]],
        act,
    });
}

/// What is left after the whole tiles: it starts a tile, so vector `v` uses `pat[v]`.
#[cfg_attr(not(debug_assertions), inline(always))]
fn leftover<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    mut pos: usize,
    pat: &[Consts<S::F>],
    act: A,
) {
    let len = io.len();
    for k in pat {
        if pos >= len {
            break;
        }
        if pos + LANES <= len {
            io.norm_at(s, pos, k, act);
        } else {
            let v = norm(io.read(s, pos), k, act);
            io.write(pos, LANES, v);
        }
        pos += LANES;
    }
}

/// Many channels (`c > LANES`): row by row (rows `pitch >= c` values apart), in blocks
/// of at most [`BLOCK`] channels.
#[cfg_attr(not(debug_assertions), inline(always))]
fn rows<S: Simd, I: Io, A: Act<S::F>>(s: S, io: &mut I, c: usize, pitch: usize, p: &Src, act: A) {
    let nrows = (io.len() - c) / pitch + 1;
    let mut scale = [0.0f32; NORM_BLOCK];
    let mut k0 = 0;
    while k0 < c {
        let width = plan::block_width(c, k0);
        let scale = &mut scale[..width];
        let kernel = plan::nhwc_rows(pitch, nrows, width, S::ACC);
        let mut done = 0;
        match kernel {
            Kernel::NhwcNormalizeRowTiles { v: 4, r: TILE_R } => {
                done = block_tiles::<4, TILE_R, S, I, A>(s, io, pitch, nrows, k0, p, scale, act);
            }
            Kernel::NhwcNormalizeRowTiles { r: TILE_R, .. } => {
                done = block_tiles::<2, TILE_R, S, I, A>(s, io, pitch, nrows, k0, p, scale, act);
            }
            _ => p.scales(s, k0, scale),
        }
        let blk = Block {
            mean: p.mean.get(k0..k0 + width).unwrap_or(&[]),
            scale,
            beta: p.beta.get(k0..k0 + width).unwrap_or(&[]),
        };
        match kernel {
            Kernel::NhwcNormalizeRowGroups { rows: 4 } => {
                done = block_rows::<4, S, I, A>(s, io, pitch, nrows, k0, blk, act);
            }
            Kernel::NhwcNormalizeRowGroups { .. } => {
                done = block_rows::<2, S, I, A>(s, io, pitch, nrows, k0, blk, act);
            }
            _ => {}
        }
        // The last rows that do not fill a group, one at a time.
        block_rows::<1, S, I, A>(s, io, pitch, nrows - done, k0 + done * pitch, blk, act);
        k0 += width;
    }
}

/// `R` rows (`pitch` values apart) at a time, in tiles of `V` vectors of channels (`V * LANES` divides the
/// block's width, at least `R` rows): a tile's constants are loaded once into registers
/// and used for all `R` rows. The block's scales are computed tile by tile during the
/// first `R` rows, inline, so that their f64 divisions overlap the stream. Returns how
/// many rows it did (a multiple of `R`); the scales are all computed. Its own function
/// for the ISA ([`Simd::vectorize`]).
#[allow(clippy::too_many_arguments)]
fn block_tiles<const V: usize, const R: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    pitch: usize,
    nrows: usize,
    k0: usize,
    p: &Src,
    scale: &mut [f32],
    act: A,
) -> usize {
    struct BlockTiles<'a, const V: usize, const R: usize, I, A> {
        io: &'a mut I,
        at: [usize; 3],
        p: &'a Src<'a>,
        scale: &'a mut [f32],
        act: A,
    }
    impl<const V: usize, const R: usize, S: Simd, I: Io, A: Act<S::F>> Body<S>
        for BlockTiles<'_, V, R, I, A>
    {
        type Output = usize;
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) -> usize {
            let [pitch, nrows, k0] = self.at;
            let (io, p, scale, act) = (self.io, self.p, self.scale, self.act);
            let tiles = scale.len() / (V * LANES);
            let mean = p.mean.get(k0..).unwrap_or(&[]);
            let beta = p.beta.get(k0..).unwrap_or(&[]);
            let groups = nrows / R;
            for g in 0..groups {
                for j in 0..tiles {
                    if g == 0 {
                        let (sc, _) = scale.as_chunks_mut::<8>();
                        for t in 0..V * LANES / 8 {
                            let i = j * (V * LANES / 8) + t;
                            if let Some(s8) = sc.get_mut(i) {
                                *s8 = p.scales8(s, k0 + i * 8);
                            }
                        }
                    }
                    let blk = Block { mean, scale, beta };
                    let mut k = [Consts::splat(s, Chan::ZERO); V];
                    for (i, k) in k.iter_mut().enumerate() {
                        *k = blk.consts_at(s, (j * V + i) * LANES);
                    }
                    for r in 0..R {
                        let row = (g * R + r) * pitch + k0 + j * V * LANES;
                        let mut span = io.span(row, V);
                        for (i, k) in k.iter().enumerate().take(span.vectors()) {
                            span.set(i, norm(span.get(s, i), k, act));
                        }
                    }
                }
            }
            groups * R
        }
    }
    s.vectorize(BlockTiles::<V, R, I, A> {
        io,
        at: [pitch, nrows, k0],
        p,
        scale,
        act,
    })
}

/// `R` rows (`pitch` values apart) at a time; returns how many rows it did (a multiple of `R`). Its own function
/// for the ISA ([`Simd::vectorize`]).
#[allow(clippy::too_many_arguments)]
fn block_rows<const R: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    pitch: usize,
    nrows: usize,
    k0: usize,
    blk: Block,
    act: A,
) -> usize {
    struct BlockRows<'a, const R: usize, I, A> {
        io: &'a mut I,
        at: [usize; 3],
        blk: Block<'a>,
        act: A,
    }
    impl<const R: usize, S: Simd, I: Io, A: Act<S::F>> Body<S> for BlockRows<'_, R, I, A> {
        type Output = usize;
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) -> usize {
            let [pitch, nrows, k0] = self.at;
            let (io, blk, act) = (self.io, self.blk, self.act);
            let width = blk.len();
            let nv = width / LANES;
            // The block's last LANES channels, for the vector that ends each row's block.
            let tail = (!width.is_multiple_of(LANES)).then(|| blk.consts_at(s, width - LANES));
            let groups = nrows / R;
            for g in 0..groups {
                let base = g * R * pitch + k0;
                let last = base + width - LANES;
                // Read before anything of these rows is written (the vectors overlap).
                let mut t = [s.zero(); R];
                if let Some(k) = &tail {
                    for (r, t) in t.iter_mut().enumerate() {
                        *t = norm(io.read(s, last + r * pitch), k, act);
                    }
                }
                // With rows a whole number of vectors apart, the group's rows are one
                // span: row `r`'s vector `j` is `r * cv + j` (the gaps between rows are
                // in the span, never set).
                let cv = pitch / LANES;
                let n = (R - 1) * cv + nv;
                let spanned = pitch.is_multiple_of(LANES) && {
                    let mut span = io.span(base, n);
                    let fits = span.vectors() == n;
                    if fits {
                        for j in 0..nv {
                            let k = blk.consts_at(s, j * LANES);
                            // All loads of the column before its stores: a load right after
                            // a store 4 KiB away would wait on it (4K aliasing).
                            let mut v = [s.zero(); R];
                            for (r, v) in v.iter_mut().enumerate() {
                                *v = span.get(s, r * cv + j);
                            }
                            for (r, v) in v.into_iter().enumerate() {
                                span.set(r * cv + j, norm(v, &k, act));
                            }
                        }
                    }
                    fits
                };
                if !spanned {
                    for j in 0..nv {
                        let k = blk.consts_at(s, j * LANES);
                        let at = base + j * LANES;
                        let mut v = [s.zero(); R];
                        for (r, v) in v.iter_mut().enumerate() {
                            *v = io.read(s, at + r * pitch);
                        }
                        for (r, v) in v.into_iter().enumerate() {
                            io.store(at + r * pitch, norm(v, &k, act));
                        }
                    }
                }
                if tail.is_some() {
                    for (r, v) in t.into_iter().enumerate() {
                        io.store(last + r * pitch, v);
                    }
                }
            }
            groups * R
        }
    }
    s.vectorize(BlockRows::<R, I, A> {
        io,
        at: [pitch, nrows, k0],
        blk,
        act,
    })
}

/// Rows `pitch[0]` values apart in the input, `pitch[1]` in the output, each a vector at
/// a time, the row's last vector stored partially (so nothing between rows is written),
/// in blocks of at most [`BLOCK`] channels. For strided rows of fewer than `LANES`
/// channels, or with two pitches. Its own function for the ISA ([`Simd::vectorize`]).
fn row_vectors<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    pitch: [usize; 2],
    p: &Src,
    act: A,
) {
    struct RowVectors<'a, I, A> {
        io: &'a mut I,
        c: usize,
        pitch: [usize; 2],
        p: &'a Src<'a>,
        act: A,
    }
    impl<S: Simd, I: Io, A: Act<S::F>> Body<S> for RowVectors<'_, I, A> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) {
            let RowVectors {
                io,
                c,
                pitch: [xp, yp],
                p,
                act,
            } = self;
            let nrows = (io.len() - c) / xp + 1;
            let mut scale = [0.0f32; NORM_BLOCK];
            let mut k0 = 0;
            while k0 < c {
                let width = (c - k0).min(NORM_BLOCK);
                let scale = &mut scale[..width];
                p.scales(s, k0, scale);
                let blk = Block {
                    mean: p.mean.get(k0..k0 + width).unwrap_or(&[]),
                    scale,
                    beta: p.beta.get(k0..k0 + width).unwrap_or(&[]),
                };
                if width <= LANES {
                    // One vector per row: its constants stay in registers.
                    let k = blk.consts_at(s, 0);
                    for r in 0..nrows {
                        let v = norm(io.read(s, r * xp + k0), &k, act);
                        io.write(r * yp + k0, width, v);
                    }
                } else {
                    for r in 0..nrows {
                        let (xr, yr) = (r * xp + k0, r * yp + k0);
                        let mut j = 0;
                        while j < width {
                            let k = blk.consts_at(s, j);
                            let v = norm(io.read(s, xr + j), &k, act);
                            io.write(yr + j, width - j, v);
                            j += LANES;
                        }
                    }
                }
                k0 += width;
            }
        }
    }
    s.vectorize(RowVectors {
        io,
        c,
        pitch,
        p,
        act,
    });
}
