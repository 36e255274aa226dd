//! The NHWC normalize of many channels: rows in blocks of channels, a few rows at a time
//! (register tiles over `TILE_R` rows, or column by column over 2 or 4 rows), and strided
//! rows of few channels or two pitches a vector at a time ([`row_vectors`]).

use crate::normalize::act::{Act, norm};
use crate::normalize::consts::{Block, Chan, Consts, ScaleFrom, Src};
use crate::normalize::io::{Io, Span};
use crate::plan::{self, Kernel, NORM_BLOCK, TILE_R};
use crate::simd::{Body, LANES, Simd};

/// Many channels (`c > LANES`): row by row (rows `pitch >= c` values apart), in blocks
/// of at most [`NORM_BLOCK`] channels.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn rows<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    pitch: usize,
    p: &Src,
    act: A,
) {
    let nrows = (io.len() - c) / pitch + 1;
    let mut scale = [0.0f32; NORM_BLOCK];
    let mut k0 = 0;
    while k0 < c {
        let width = plan::block_width(c, k0);
        let scale = &mut scale[..width];
        let given = matches!(p.scale, ScaleFrom::Given(_));
        let kernel = plan::nhwc_rows(c, pitch, nrows, width, S::ACC, given);
        // Strided rows far larger than the caches: streaming stores.
        let stream = plan::stream_rows(c, pitch, nrows);
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
        let at = [pitch, nrows, k0];
        match (kernel, stream) {
            (Kernel::NhwcNormalizeRowGroups { rows: 4 }, false) => {
                done = block_rows::<4, false, S, I, A>(s, io, at, blk, act);
            }
            (Kernel::NhwcNormalizeRowGroups { rows: 4 }, true) => {
                done = block_rows::<4, true, S, I, A>(s, io, at, blk, act);
            }
            (Kernel::NhwcNormalizeRowGroups { .. }, false) => {
                done = block_rows::<2, false, S, I, A>(s, io, at, blk, act);
            }
            (Kernel::NhwcNormalizeRowGroups { .. }, true) => {
                done = block_rows::<2, true, S, I, A>(s, io, at, blk, act);
            }
            _ => {}
        }
        // The last rows that do not fill a group, one at a time.
        let at = [pitch, nrows - done, k0 + done * pitch];
        if stream {
            block_rows::<1, true, S, I, A>(s, io, at, blk, act);
        } else {
            block_rows::<1, false, S, I, A>(s, io, at, blk, act);
        }
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
                    // With rows a whole number of vectors apart, the tile's rows are one
                    // span (row `r`'s vector `i` is `r * cv + i`): one bounds test per tile
                    // column, not one per row.
                    let cv = pitch / LANES;
                    let n = (R - 1) * cv + V;
                    let top = g * R * pitch + k0 + j * V * LANES;
                    let spanned = pitch.is_multiple_of(LANES) && {
                        let mut span = io.span(top, n);
                        let fits = span.vectors() == n;
                        if fits {
                            for r in 0..R {
                                tile_row(s, &mut span, r * cv, &k, act);
                            }
                        }
                        fits
                    };
                    for r in (0..R).filter(|_| !spanned) {
                        let row = (g * R + r) * pitch + k0 + j * V * LANES;
                        let mut span = io.span(row, V);
                        if span.vectors() == V {
                            tile_row(s, &mut span, 0, &k, act);
                        } else {
                            for (i, k) in k.iter().enumerate().take(span.vectors()) {
                                span.set(i, norm(span.get(s, i), k, act));
                            }
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

/// One row of a register tile, `V` vectors from vector `at` of `span`: all its loads
/// before its stores, since a load right after a store 4 KiB away would wait on it (4K
/// aliasing).
#[cfg_attr(not(debug_assertions), inline(always))]
fn tile_row<const V: usize, S: Simd, P: Span, A: Act<S::F>>(
    s: S,
    span: &mut P,
    at: usize,
    k: &[Consts<S::F>; V],
    act: A,
) {
    let mut v = [s.zero(); V];
    for (i, v) in v.iter_mut().enumerate() {
        *v = span.get(s, at + i);
    }
    for (i, (v, k)) in v.into_iter().zip(k).enumerate() {
        span.set(at + i, norm(v, k, act));
    }
}

/// `R` rows at a time, `at = [pitch, nrows, k0]`: `nrows` rows `pitch` values apart from
/// channel `k0`; returns how many rows it did (a multiple of `R`). With `NT` the whole
/// vectors are stored streaming ([`Vf32::store_stream`](crate::simd::Vf32::store_stream)),
/// then fenced. Its own function for the ISA ([`Simd::vectorize`]).
fn block_rows<const R: usize, const NT: bool, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    at: [usize; 3],
    blk: Block,
    act: A,
) -> usize {
    struct BlockRows<'a, const R: usize, const NT: bool, I, A> {
        io: &'a mut I,
        at: [usize; 3],
        blk: Block<'a>,
        act: A,
    }
    impl<const R: usize, const NT: bool, S: Simd, I: Io, A: Act<S::F>> Body<S>
        for BlockRows<'_, R, NT, I, A>
    {
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
                        for (j, k) in blk.vectors(s).enumerate() {
                            // All loads of the column before its stores: a load right after
                            // a store 4 KiB away would wait on it (4K aliasing).
                            let mut v = [s.zero(); R];
                            for (r, v) in v.iter_mut().enumerate() {
                                *v = span.get(s, r * cv + j);
                            }
                            for (r, v) in v.into_iter().enumerate() {
                                if NT {
                                    span.set_stream(r * cv + j, norm(v, &k, act));
                                } else {
                                    span.set(r * cv + j, norm(v, &k, act));
                                }
                            }
                        }
                    }
                    fits
                };
                if !spanned {
                    for (j, k) in blk.vectors(s).enumerate() {
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
            if NT {
                s.fence();
            }
            groups * R
        }
    }
    s.vectorize(BlockRows::<R, NT, I, A> { io, at, blk, act })
}

/// Rows `pitch[0]` values apart in the input, `pitch[1]` in the output, each a vector at
/// a time, the row's last vector stored partially (so nothing between rows is written),
/// in blocks of at most [`NORM_BLOCK`] channels. For strided rows of fewer than `LANES`
/// channels, or with two pitches. Its own function for the ISA ([`Simd::vectorize`]).
pub(super) fn row_vectors<S: Simd, I: Io, A: Act<S::F>>(
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
