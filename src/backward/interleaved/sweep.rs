//! The sweeps of the NHWC backward: strips of whole vectors down blocks of `CHUNK` rows
//! with their sums in registers ([`chunk`]), the partial last vector row by row
//! ([`partial`]), and the `dx` sweep of rows 4 KiB apart row by row ([`dx_rows`]).

use super::{ConstsAt, Pattern, Region, Totals};
use crate::backward::shared::{Grads, Inputs, Lanes, Mask, load_or_zero};
use crate::normalize::io::{Back, Io, Span};
use crate::simd::{Body, HALF, LANES, Simd, Vf32, Vf64};
use crate::stats::CHUNK;

/// Vectors per strip for token `S` ([`Simd::STRIP`]): a strip's sums stay in registers,
/// and with AVX-512 its constants too (with AVX2, three vectors' sums fill 12 of the 16
/// registers and the constants are read from memory: 1x3x224x224 NHWC at AVX2 went from
/// 52% to 73% of its bound against strips of two). Eight vectors with AVX-512 measured
/// no faster than four.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn strip_max<S: Simd>() -> usize {
    S::STRIP.clamp(1, 4)
}

/// What one sweep of a region does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Sweep {
    /// Sums `Σdy` and `Σdy·xhat` per position.
    Sums,
    /// Sums, and writes `dx = a*dy` (running statistics).
    SumsDx,
    /// Writes `dx` from the final constants (batch statistics).
    Dx,
    /// Batch statistics over few rows ([`crate::plan::FUSED_ROWS`]): each strip sums
    /// ([`Sweep::Sums`]) down every row, then writes its `dx` with the final constants of
    /// its channels from its last row up, so that the rows it summed last are read again
    /// from L1 (64 rows of 4 vectors of `x` and `dy` are 32 KiB; of 256 rows, about the
    /// last 64) instead of from L2 by a second sweep of the region (the partial last
    /// vector, row by row, goes forward): 1x1280x7x7 NHWC (49 rows) went from 14.2 to
    /// 13.2 µs at AVX-512 and from 18.9 to 18.2 µs at AVX2, 1x256x14x14 (196 rows) 5%
    /// faster at AVX-512 and portable, 8% slower at AVX2 (Intel Xeon).
    ///
    /// Up, not down: at row pitches of many KiB times a power of two (c = 512, 640,
    /// 1280) a strip's rows fall in a quarter of L1's sets or fewer, so L1 keeps only the
    /// last rows summed. Down from the first row, each row missed and evicted the next ones
    /// (LRU); up, the last ones are hits. A/B new/old, best of 150-300 rounds, AVX-512:
    /// 1x1280x7x7 0.93-0.95, 4x640x4x4 0.88, 1x512x7x7 0.93, 1x256x14x14 0.98, and
    /// 1x1296x7x7 (no such conflicts) 0.93; AVX2 0.88-0.99, portable 0.93-0.96. (Rows a
    /// multiple of 4 KiB apart, [`chunk_aliased`], go down within each block of `CHUNK`
    /// rows, the blocks from the last.)
    SumsThenDx,
}

/// One sweep over a region: strips of up to [`strip_max`] whole vectors, each swept down
/// every row with its sums and constants in registers (the `dx` sweeps up, from the last
/// rows), then the last partial vector (`width % LANES` positions) row by row, down. Writes the per-position sums to positions
/// `0..width` of `t`, rounded up to whole vectors (no sums and `t` untouched for
/// [`Sweep::Dx`]). With `out` (positions `0..width` are channels), the sums also go
/// straight to `dbeta` and `dgamma` as each strip finishes, rounded to f32 (and with
/// [`Sweep::SumsDx`] only there, `t` unused): read back from `t` by a loop of its own
/// instead, 1x1280x7x7 NHWC ran 6% slower (running statistics, AVX-512). Its own
/// function for the ISA ([`Simd::vectorize`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn sweep<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    r: Region,
    pat: &Pattern,
    m: M,
    how: Sweep,
    t: &mut Totals,
    out: Option<Grads>,
) {
    struct Run<'a, 'g, I, M> {
        io: &'a mut I,
        k: &'a Inputs<'a>,
        r: Region,
        pat: &'a Pattern,
        m: M,
        how: Sweep,
        t: &'a mut Totals,
        out: Option<Grads<'g>>,
    }
    impl<S: Simd, I: Io, M: Mask<S::F>> Body<S> for Run<'_, '_, I, M> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) {
            let Run {
                io,
                k,
                r,
                pat,
                m,
                how,
                t,
                mut out,
            } = self;
            let full = r.width / LANES;
            if how == Sweep::Dx && (r.stride * 4).is_multiple_of(4096) {
                dx_rows(s, io, k, r, pat, m, t);
                return;
            }
            if how == Sweep::SumsThenDx {
                // Strip by strip: its sums down every row (its constants are final only
                // then), then its `dx` from the last rows back, which are in L1.
                let mut j = 0;
                while j < full {
                    let left = full - j;
                    let w = left.div_ceil(left.div_ceil(strip_max::<S>()));
                    let mut row = 0;
                    while row < r.rows {
                        let rows = row..(row + CHUNK).min(r.rows);
                        let o = out.as_mut().filter(|_| rows.end == r.rows);
                        let st = Strip {
                            j0: j,
                            how: Sweep::Sums,
                            fin: false,
                            rows: rows.clone(),
                        };
                        st.width(w, s, io, k, r, pat, m, (t, o));
                        row = rows.end;
                    }
                    let mut end = r.rows;
                    while end > 0 {
                        let start = (end - 1) / CHUNK * CHUNK;
                        let st = Strip {
                            j0: j,
                            how: Sweep::Dx,
                            fin: true,
                            rows: start..end,
                        };
                        st.width(w, s, io, k, r, pat, m, (t, None));
                        end = start;
                    }
                    j += w;
                }
            }
            // The other sweeps: blocks of `CHUNK` rows (a fold of the f32 sums each), and
            // in each block the strips one after the other, so a block's rows are read
            // from memory once, in order, and from cache by its later strips. The `dx`
            // sweep takes the blocks from the last and each strip from its last row up:
            // the rows the sums read last, still in cache, are read again first. A/B
            // new/old, best of 100 rounds on an Intel Xeon, AVX-512 and AVX2: 1x32x112x112
            // 0.74 and 0.77, 1x64x56x56 0.90 and 0.83, 1x3x224x224 0.98 and 0.96
            // (tiled); 8x512x28x28 0.98 (AVX-512), 2x1000x14x14 0.96 and 1.01,
            // 1x256x14x14 0.97 (AVX2) (blocks).
            let blocks = if how == Sweep::SumsThenDx {
                0
            } else {
                r.rows.div_ceil(CHUNK)
            };
            for b in 0..blocks {
                // `dx` from the last block of rows up, so that the rows the sums read
                // last are read again first, from cache.
                let b = if how == Sweep::Dx { blocks - 1 - b } else { b };
                let rows = b * CHUNK..((b + 1) * CHUNK).min(r.rows);
                let mut j = 0;
                while j < full {
                    // Strips of equal widths: 4 vectors at a width of 3 are 2 + 2, not
                    // 3 + 1 (a strip of one pays its per-row work for one vector).
                    let left = full - j;
                    let w = left.div_ceil(left.div_ceil(strip_max::<S>()));
                    let st = |how, fin| Strip {
                        j0: j,
                        how,
                        fin,
                        rows: rows.clone(),
                    };
                    let o = out.as_mut().filter(|_| rows.end == r.rows);
                    st(how, false).width(w, s, io, k, r, pat, m, (t, o));
                    j += w;
                }
            }
            if r.width % LANES != 0 {
                let o = full * LANES;
                let l = pat.lanes(s, o);
                if how == Sweep::SumsThenDx {
                    partial(s, io, k, r, l, m, Sweep::Sums, (t, out.as_mut()));
                    let (dy, dyxh) = (t.lanes(s, &t.dy, o), t.lanes(s, &t.dyxh, o));
                    let l = finish(s, l, dy, dyxh, inv_count(k));
                    partial(s, io, k, r, l, m, Sweep::Dx, (t, None));
                } else {
                    partial(s, io, k, r, l, m, how, (t, out.as_mut()));
                }
            }
        }
    }
    s.vectorize(Run {
        io,
        k,
        r,
        pat,
        m,
        how,
        t,
        out,
    });
}

/// Where a strip's sums go: the f64 sums, and with the region's last rows the outputs
/// ([`sweep`]'s `out`).
type Sums<'t, 'o, 'g> = (&'t mut Totals, Option<&'o mut Grads<'g>>);

/// `1/m`, `m` the values per channel.
#[cfg_attr(not(debug_assertions), inline(always))]
fn inv_count(k: &Inputs) -> f64 {
    1.0 / k.d.count as f64
}

/// `l` with the final constants of batch statistics from the f64 sums `Σdy` and
/// `Σdy·xhat` of its positions (two f64 vectors each), as [`Pattern::block`] computes them.
#[cfg_attr(not(debug_assertions), inline(always))]
fn finish<S: Simd>(s: S, l: Lanes<S::F>, dy: [S::D; 2], dyxh: [S::D; 2], inv: f64) -> Lanes<S::F> {
    let inv = s.splat64(inv);
    Lanes {
        cb: S::D::narrow(dy[0] * inv, dy[1] * inv),
        ndg: S::D::narrow(dyxh[0] * inv, dyxh[1] * inv) * s.splat(-1.0),
        ..l
    }
}

/// A strip of whole vectors from vector `j0` of a region's rows `rows` (at most `CHUNK`).
struct Strip {
    j0: usize,
    how: Sweep,
    /// With [`Sweep::Dx`]: the constants of batch statistics taken from the sums in `t`
    /// (for [`Sweep::SumsThenDx`]) instead of the pattern's.
    fin: bool,
    rows: core::ops::Range<usize>,
}

impl Strip {
    /// [`Strip::run`] with `w` vectors (1 to 4).
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn width<S: Simd, I: Io, M: Mask<S::F>>(
        self,
        w: usize,
        s: S,
        io: &mut I,
        k: &Inputs,
        r: Region,
        pat: &Pattern,
        m: M,
        sums: Sums,
    ) {
        match w {
            4 => self.run::<S, I, M, 4>(s, io, k, r, pat, m, sums),
            3 => self.run::<S, I, M, 3>(s, io, k, r, pat, m, sums),
            2 => self.run::<S, I, M, 2>(s, io, k, r, pat, m, sums),
            _ => self.run::<S, I, M, 1>(s, io, k, r, pat, m, sums),
        }
    }

    /// Sweeps `W` vectors down the strip's rows of `r`.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run<S: Simd, I: Io, M: Mask<S::F>, const W: usize>(
        self,
        s: S,
        io: &mut I,
        k: &Inputs,
        r: Region,
        pat: &Pattern,
        m: M,
        sums: Sums,
    ) {
        let o = self.j0 * LANES;
        let mut l = [pat.lanes(s, o); W];
        for (w, l) in l.iter_mut().enumerate() {
            let i = o + w * LANES;
            *l = pat.lanes(s, i);
            if self.fin {
                let t = &*sums.0;
                *l = finish(
                    s,
                    *l,
                    t.lanes(s, &t.dy, i),
                    t.lanes(s, &t.dyxh, i),
                    inv_count(k),
                );
            }
        }
        let (rows, first) = (self.rows.clone(), self.rows.start == 0);
        let (ad, ap) = if (r.stride * 4).is_multiple_of(4096) {
            match self.how {
                Sweep::Sums | Sweep::SumsThenDx => {
                    chunk_aliased::<S, I, M, W, SUMS>(s, io, k, r, o, &l, m, rows)
                }
                Sweep::SumsDx if S::ACC >= 8 && crate::plan::hold_aliased_rows() => {
                    chunk_aliased::<S, I, M, W, SUMS_DX_HELD>(s, io, k, r, o, &l, m, rows)
                }
                Sweep::SumsDx => chunk_aliased::<S, I, M, W, SUMS_DX>(s, io, k, r, o, &l, m, rows),
                Sweep::Dx => {
                    chunk_aliased::<S, I, M, W, DX>(s, io, k, r, o, &l, m, rows);
                    return;
                }
            }
        } else {
            match self.how {
                Sweep::Sums | Sweep::SumsThenDx => {
                    chunk::<S, I, M, W, SUMS>(s, io, k, r, o, &l, m, rows)
                }
                Sweep::SumsDx => chunk::<S, I, M, W, SUMS_DX>(s, io, k, r, o, &l, m, rows),
                // From the last row up, as the sweep's blocks go (see [`sweep`]).
                Sweep::Dx => {
                    chunk::<S, I, M, W, DX_BACK>(s, io, k, r, o, &l, m, rows);
                    return;
                }
            }
        };
        // The first block of rows sets the strip's sums, the later ones add to them.
        fold_strip(s, ad, ap, sums, o, first, self.how != Sweep::SumsDx);
    }
}

/// [`chunk`]'s modes, as [`Sweep`]'s cases (a const parameter, so each is its own loop).
const SUMS: u8 = 0;
const SUMS_DX: u8 = 1;
const DX: u8 = 2;
/// `SUMS_DX` for rows a multiple of 4 KiB apart: each row's `dx` is stored after the
/// next row's loads. Stored at once, each load down the strip followed a store to the
/// same address modulo 4 KiB and waited on it (4K aliasing): 256x1024x1x1 at AVX-512 went
/// from 35 to 47 GB/s so on an AMD EPYC, but lost a third on an Intel Xeon, so only where
/// [`crate::plan::hold_aliased_rows`] says. Not with AVX2's 16 registers, where the held
/// row spills (35 -> 31 GB/s), nor for other strides, where holding the row cost 15%
/// (1x256x14x14).
const SUMS_DX_HELD: u8 = 3;
/// `DX` from the last row up ([`Sweep::SumsThenDx`], [`Sweep::Dx`]).
const DX_BACK: u8 = 4;

/// `W` vectors from position `o` down `rows` (at most `CHUNK` of them): with `SUMS`,
/// their sums; with `SUMS_DX`, also the running statistics' `dx = a*dy` (for rows a
/// multiple of 4 KiB apart, [`chunk_aliased`]); with `DX`, the
/// batch statistics' `dx` from the final constants (and no sums; [`chunk_aliased`]
/// only); with `DX_BACK`, the same from the last row up (forward if that walk finds no
/// row, which a region's rows never are). The accumulators are local values, returned, so they live in registers.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn chunk<S: Simd, I: Io, M: Mask<S::F>, const W: usize, const HOW: u8>(
    s: S,
    io: &mut I,
    k: &Inputs,
    r: Region,
    o: usize,
    l: &[Lanes<S::F>; W],
    m: M,
    rows: core::ops::Range<usize>,
) -> ([S::F; W], [S::F; W]) {
    let mut ad = [s.zero(); W];
    let mut ap = [s.zero(); W];
    // The strip's rows: `x`, `y` (for a mask that reads it) and the `Io`'s, one slice
    // step per row.
    let (st0, stride) = (r.start(rows.start) + o, r.stride.max(1));
    if HOW == DX_BACK {
        let (n, len) = (rows.len(), W * LANES);
        let mut xrows = Back::new(k.x, st0, stride, n, len);
        let mut yrows = Back::new(if M::USES_Y { k.y } else { &[] }, st0, stride, n, len);
        let mut spans = io.rows_back(st0, stride, n, W);
        // Both walks have every row or none (a last row out of the buffer, which a
        // region does not have): with none, nothing is written and the rows go forward.
        let mut done = false;
        while let (Some(mut span), Some(xr)) = (spans.next(), xrows.next()) {
            let (yv, _) = yrows.next().unwrap_or(&[]).as_chunks::<LANES>();
            if let (Some(xv), true) = (
                xr.as_chunks::<LANES>().0.first_chunk::<W>(),
                span.vectors() >= W,
            ) {
                row_step::<S, _, M, W, DX>(s, &mut span, xv, yv, l, m, (&mut ad, &mut ap));
                done = true;
            }
        }
        // A region's rows lie inside the buffer: the walk cannot come out empty.
        debug_assert!(done || n == 0, "rows_back walked no row");
        if done {
            return (ad, ap);
        }
    }
    let mut xrows = k.x.get(st0..).unwrap_or(&[]).chunks(stride);
    let ys = if M::USES_Y { k.y } else { &[] };
    let mut yrows = ys.get(st0..).unwrap_or(&[]).chunks(stride);
    for mut span in io.rows(st0, stride).take(rows.len()) {
        let xr = xrows.next().unwrap_or(&[]);
        let (yv, _) = yrows.next().unwrap_or(&[]).as_chunks::<LANES>();
        let (Some(xv), true) = (
            xr.as_chunks::<LANES>().0.first_chunk::<W>(),
            span.vectors() >= W,
        ) else {
            continue;
        };
        row_step::<S, _, M, W, HOW>(s, &mut span, xv, yv, l, m, (&mut ad, &mut ap));
    }
    (ad, ap)
}

/// One row of a strip: `W` vectors of `dy` (masked) from `span` and of `x` from `xv`, by
/// [`chunk`]'s mode `HOW`: sums into `acc`, and `dx` stored to `span` (`DX`, `SUMS_DX`)
/// or returned (`SUMS_DX_HELD`, for the caller to store a row later).
#[cfg_attr(not(debug_assertions), inline(always))]
fn row_step<S: Simd, P: Span, M: Mask<S::F>, const W: usize, const HOW: u8>(
    s: S,
    span: &mut P,
    xv: &[[f32; LANES]; W],
    yv: &[[f32; LANES]],
    l: &[Lanes<S::F>; W],
    m: M,
    acc: (&mut [S::F; W], &mut [S::F; W]),
) -> [S::F; W] {
    let (ad, ap) = acc;
    let mut out = [s.zero(); W];
    for w in 0..W {
        let dy = m.apply(span.get(s, w), load_or_zero(s, yv.get(w)));
        let x = s.load(&xv[w]);
        if HOW == DX || HOW == DX_BACK {
            span.set(w, l[w].dx(dy, x, true));
            continue;
        }
        ad[w] += dy;
        ap[w] = dy.mul_add(l[w].xhat(x), ap[w]);
        if HOW == SUMS_DX {
            span.set(w, dy * l[w].a);
        } else if HOW == SUMS_DX_HELD {
            out[w] = dy * l[w].a;
        }
    }
    out
}

/// [`chunk`] for rows a multiple of 4 KiB apart, each row's span taken by [`Io::span`]:
/// down [`Io::rows`] instead, 256x1024x1x1 ran 5% slower at AVX-512 and 15% slower at
/// AVX2 (running statistics), and holding the previous row's span for `SUMS_DX_HELD`
/// 15% slower (AVX-512).
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn chunk_aliased<S: Simd, I: Io, M: Mask<S::F>, const W: usize, const HOW: u8>(
    s: S,
    io: &mut I,
    k: &Inputs,
    r: Region,
    o: usize,
    l: &[Lanes<S::F>; W],
    m: M,
    rows: core::ops::Range<usize>,
) -> ([S::F; W], [S::F; W]) {
    let n = W * LANES;
    let mut ad = [s.zero(); W];
    let mut ap = [s.zero(); W];
    // `SUMS_DX_HELD`: the row whose `dx` waits for the next row's loads.
    let mut held: Option<(usize, [S::F; W])> = None;
    for row in rows {
        let st = r.start(row) + o;
        let (xs, ys) = k.at::<S::F, M>(st, n);
        let (yv, _) = ys.as_chunks::<LANES>();
        let out = {
            let mut span = io.span(st, W);
            let Some(xv) = xs.as_chunks::<LANES>().0.first_chunk::<W>() else {
                continue;
            };
            if span.vectors() != W {
                continue;
            }
            row_step::<S, _, M, W, HOW>(s, &mut span, xv, yv, l, m, (&mut ad, &mut ap))
        };
        if HOW == SUMS_DX_HELD
            && let Some((at, v)) = held.replace((st, out))
        {
            for (w, v) in v.into_iter().enumerate() {
                io.store(at + w * LANES, v);
            }
        }
    }
    if let Some((at, v)) = held {
        for (w, v) in v.into_iter().enumerate() {
            io.store(at + w * LANES, v);
        }
    }
    (ad, ap)
}

/// Adds the f32 sums of a strip from position `o` to the f64 ones, or with `set` writes
/// them over the f64 ones (the strip's first block of rows). With outputs (the region's
/// last rows), also writes the sums to `dbeta` and `dgamma` rounded to f32, and to the
/// f64 ones only if `keep` (batch statistics: their constants read them).
#[cfg_attr(not(debug_assertions), inline(always))]
fn fold_strip<S: Simd, const W: usize>(
    s: S,
    ad: [S::F; W],
    ap: [S::F; W],
    sums: Sums,
    o: usize,
    set: bool,
    keep: bool,
) {
    let (t, mut out) = sums;
    for w in 0..W {
        let i = o + w * LANES;
        let outs: [Option<&mut [f32]>; 2] = match out.as_mut() {
            Some(g) => [g.dbeta.get_mut(i..), g.dgamma.get_mut(i..)],
            None => [None, None],
        };
        for ((sums, v), dst) in [(&mut t.dy, ad[w]), (&mut t.dyxh, ap[w])]
            .into_iter()
            .zip(outs)
        {
            let Some(at) = sums.get_mut(i..).and_then(|r| r.first_chunk_mut::<LANES>()) else {
                continue;
            };
            let (lo, hi) = at.split_at_mut(HALF);
            let [vl, vh] = v.widen();
            let (Ok(lo), Ok(hi)) = (
                <&mut [f64; HALF]>::try_from(lo),
                <&mut [f64; HALF]>::try_from(hi),
            ) else {
                continue;
            };
            // With `set` the f64 sums are the f32 ones widened, which round back to them.
            let (vl, vh, total) = if set {
                (vl, vh, v)
            } else {
                let (vl, vh) = (s.load64(lo) + vl, s.load64(hi) + vh);
                (vl, vh, S::D::narrow(vl, vh))
            };
            if dst.is_none() || keep {
                (*lo, *hi) = (vl.to_array(), vh.to_array());
            }
            if let Some(dst) = dst {
                match dst.first_chunk_mut::<LANES>() {
                    Some(d) => total.store(d),
                    None => total.store_partial(dst),
                }
            }
        }
    }
}

/// The `dx` sweep over rows a multiple of 4 KiB apart: row by row, every vector of a row
/// before the next row, the constants read from the pattern. Down strips, each row's loads
/// followed the previous row's stores at a multiple of 4 KiB and waited on them (4K
/// aliasing): 256x1024x1x1 ran 20% slower. (The sweeps that sum keep their strips: with
/// the sums in memory instead of registers, row by row measured slower still.)
///
/// From the last row up: the rows the sums read last are still in L2 and are read first
/// (the 2 MiB of `x` and `dy` of 256x1024x1x1 do not all stay in a 2 MiB L2; read down
/// from the first row, every row had been evicted). A/B new/old, best of 200 rounds on
/// an Intel Xeon: 0.82-0.84 at AVX-512, 0.85 at AVX2, 0.91 portable. Each row's vectors
/// from its last as well measured 0.89 instead of 0.84.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn dx_rows<S: Simd, I: Io, M: Mask<S::F>, P: ConstsAt>(
    s: S,
    io: &mut I,
    k: &Inputs,
    r: Region,
    pat: &P,
    m: M,
    t: &mut Totals,
) {
    let full = r.width / LANES;
    for row in (0..r.rows).rev() {
        let st = r.start(row);
        let (xs, ys) = k.at::<S::F, M>(st, full * LANES);
        let (xv, _) = xs.as_chunks::<LANES>();
        let (yv, _) = ys.as_chunks::<LANES>();
        let mut span = io.span(st, full);
        if span.vectors() != full || xv.len() != full {
            continue;
        }
        for (j, x) in xv.iter().enumerate() {
            let l = pat.lanes(s, j * LANES);
            let dy = m.apply(span.get(s, j), load_or_zero(s, yv.get(j)));
            span.set(j, l.dx(dy, s.load(x), true));
        }
    }
    if !r.width.is_multiple_of(LANES) {
        // (`t` is not touched by a `dx` sweep.)
        let l = pat.lanes(s, full * LANES);
        partial(s, io, k, r, l, m, Sweep::Dx, (t, None));
    }
}

/// The last `width % LANES` positions of a region's rows (a partial vector), row by row.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn partial<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    r: Region,
    l: Lanes<S::F>,
    m: M,
    how: Sweep,
    sums: Sums,
) {
    let (t, out) = sums;
    let o = r.width / LANES * LANES;
    let rem = r.width - o;
    let (mut ad, mut ap) = (s.zero(), s.zero());
    let mut since = 0;
    for row in 0..r.rows {
        let st = r.start(row) + o;
        let (xr, yr) = k.at::<S::F, M>(st, rem);
        let dys = io.src().get(st..st + rem).unwrap_or(&[]);
        let dy = m.apply(s.load_partial(dys), s.load_partial(yr));
        let x = s.load_partial(xr);
        if how == Sweep::Dx {
            io.write(st, rem, l.dx(dy, x, true));
            continue;
        }
        ad += dy;
        ap = dy.mul_add(l.xhat(x).lanes_from(s.zero(), rem), ap);
        if how == Sweep::SumsDx {
            io.write(st, rem, dy * l.a);
        }
        since += 1;
        if since == CHUNK {
            fold_strip(s, [ad], [ap], (t, None), o, row + 1 == CHUNK, true);
            (ad, ap, since) = (s.zero(), s.zero(), 0);
        }
    }
    let keep = how == Sweep::Sums;
    fold_strip(s, [ad], [ap], (t, out), o, r.rows < CHUNK, keep);
}
