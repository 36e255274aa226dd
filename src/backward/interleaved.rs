//! NHWC backward (and NCHW with 1x1 planes, which is the same thing): channels in lanes.
//!
//! The buffer is seen as rows of positions, position `i` of a row holding one channel.
//! Few channels (`lcm(c, LANES)` at most [`BACKWARD_BLOCK`]: c = 1, 3, 7, 16, 64…): rows
//! of `period = lcm(c, LANES)` values, whole vectors over the flat buffer, position `i`
//! holding channel `i % c`; the last pixels that do not fill a row are a second, short
//! region with rows of `c`. Many channels: rows of `c`, in blocks of at most
//! [`BACKWARD_BLOCK`] channels. Per region, one sweep down the rows sums `dy` and
//! `dy·xhat` per position (f32 on the stack, folded into f64 every `CHUNK` rows); the
//! positions fold into channels, whose constants give a pattern of per-position constants
//! for the second sweep, which writes `dx`.

use super::{DxConsts, Grads, Inputs, Lanes, Mask, load_or_zero};
use crate::normalize::io::{Io, Span};
use crate::plan::BACKWARD_BLOCK as B;
use crate::simd::{Body, LANES, Simd, Vf32};
use crate::stats::CHUNK;

/// A part of the buffer: `rows` rows of `stride` values from `base`, of which the
/// positions `col0..col0 + width` (`width <= B`) are swept.
#[derive(Clone, Copy)]
struct Region {
    base: usize,
    rows: usize,
    stride: usize,
    col0: usize,
    width: usize,
}

impl Region {
    /// The flat index of the first swept position of row `r`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn start(&self, r: usize) -> usize {
        self.base + r * self.stride + self.col0
    }
}

/// Per-position constants of a region, on the stack.
struct Pattern {
    k: [[f32; B]; 5],
}

impl Pattern {
    fn new() -> Self {
        Pattern { k: [[0.0; B]; 5] }
    }

    /// Position `i` gets `k` (`i < B`).
    fn set(&mut self, i: usize, k: DxConsts) {
        let [mean, invstd, a, cb, ndg] = &mut self.k;
        if let (Some(m), Some(v), Some(a), Some(c), Some(n)) = (
            mean.get_mut(i),
            invstd.get_mut(i),
            a.get_mut(i),
            cb.get_mut(i),
            ndg.get_mut(i),
        ) {
            (*m, *v, *a, *c, *n) = (k.mean, k.invstd, k.a, k.cb, -k.dg);
        }
    }

    /// The constants of positions `i..i + LANES` (zeros past `B`).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn lanes<S: Simd>(&self, s: S, i: usize) -> Lanes<S::F> {
        let [mean, invstd, a, cb, ndg] = &self.k;
        Lanes {
            mean: s.load_at(mean, i),
            invstd: s.load_at(invstd, i),
            a: s.load_at(a, i),
            cb: s.load_at(cb, i),
            ndg: s.load_at(ndg, i),
        }
    }
}

/// Per-position f64 sums of a region.
struct Totals {
    dy: [f64; B],
    dyxh: [f64; B],
}

/// Few channels: `period = lcm(c, LANES) <= B` positions per row.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn tiled<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    period: usize,
    m: M,
    g: Grads,
) {
    let (c, len) = (k.d.c.max(1), io.len());
    let period = period.clamp(1, B);
    let rows = len / period;
    let rest = rows * period;
    let regions = [
        Region {
            base: 0,
            rows,
            stride: period,
            col0: 0,
            width: period,
        },
        Region {
            base: rest,
            rows: (len - rest) / c,
            stride: c,
            col0: 0,
            width: c.min(B),
        },
    ];
    let mut pat = Pattern::new();
    for i in 0..period {
        pat.set(i, DxConsts::new(k.p, i % c, 0.0, 0.0, 1.0));
    }
    let mut ch = Totals {
        dy: [0.0; B],
        dyxh: [0.0; B],
    };
    for r in regions {
        if r.rows > 0 {
            let t = if k.batch {
                sums(s, io.src(), k, r, &pat, m)
            } else {
                running(s, io, k, r, &pat, m)
            };
            for i in 0..r.width {
                if let (Some(a), Some(b), Some(x), Some(y)) = (
                    ch.dy.get_mut(i % c),
                    ch.dyxh.get_mut(i % c),
                    t.dy.get(i),
                    t.dyxh.get(i),
                ) {
                    *a += x;
                    *b += y;
                }
            }
        }
    }
    let count = k.d.count as f64;
    let chans = g.dgamma.iter_mut().zip(g.dbeta.iter_mut());
    for (j, ((dgamma, dbeta), (sdy, sdyxh))) in chans.zip(ch.dy.iter().zip(&ch.dyxh)).enumerate() {
        *dbeta = *sdy as f32;
        *dgamma = *sdyxh as f32;
        if !k.batch {
            continue;
        }
        let kc = DxConsts::new(k.p, j, *sdy, *sdyxh, count);
        let mut i = j;
        while i < period {
            pat.set(i, kc);
            i += c;
        }
    }
    if k.batch {
        for r in regions {
            if r.rows > 0 {
                dx(s, io, k, r, &pat, m);
            }
        }
    }
}

/// Many channels: blocks of at most `B` channels (of similar widths), each summed over
/// every row, then given its `dx`.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn blocks<S: Simd, I: Io, M: Mask<S::F>>(s: S, io: &mut I, k: &Inputs, m: M, g: Grads) {
    let c = k.d.c;
    if c == 0 {
        return;
    }
    let rows = io.len() / c;
    let count = k.d.count as f64;
    let per = c.div_ceil(c.div_ceil(B)).next_multiple_of(LANES).min(B);
    let mut pat = Pattern::new();
    let mut k0 = 0;
    while k0 < c {
        let width = (c - k0).min(per);
        let r = Region {
            base: 0,
            rows,
            stride: c,
            col0: k0,
            width,
        };
        for i in 0..width {
            pat.set(i, DxConsts::new(k.p, k0 + i, 0.0, 0.0, 1.0));
        }
        if !k.batch {
            // Running statistics: `dx = a*dy` written in the pass that sums.
            let t = running(s, io, k, r, &pat, m);
            let outs = g.dgamma.iter_mut().zip(g.dbeta.iter_mut()).skip(k0);
            for ((dgamma, dbeta), (sdy, sdyxh)) in outs.zip(t.dy.iter().zip(&t.dyxh)).take(width) {
                *dbeta = *sdy as f32;
                *dgamma = *sdyxh as f32;
            }
            k0 += width;
            continue;
        }
        let t = sums(s, io.src(), k, r, &pat, m);
        let outs = g.dgamma.iter_mut().zip(g.dbeta.iter_mut()).skip(k0);
        for (i, ((dgamma, dbeta), (sdy, sdyxh))) in
            outs.zip(t.dy.iter().zip(&t.dyxh)).enumerate().take(width)
        {
            *dbeta = *sdy as f32;
            *dgamma = *sdyxh as f32;
            pat.set(i, DxConsts::new(k.p, k0 + i, *sdy, *sdyxh, count));
        }
        dx(s, io, k, r, &pat, m);
        k0 += width;
    }
}

/// The per-position sums of a region of `dy` (not generic over the output: one copy for
/// in place and out of place). Its own function for the ISA ([`Simd::vectorize`]).
fn sums<S: Simd, M: Mask<S::F>>(
    s: S,
    dy: &[f32],
    k: &Inputs,
    r: Region,
    pat: &Pattern,
    m: M,
) -> Totals {
    struct Sums<'a, M> {
        dy: &'a [f32],
        k: &'a Inputs<'a>,
        r: Region,
        pat: &'a Pattern,
        m: M,
    }
    impl<S: Simd, M: Mask<S::F>> Body<S> for Sums<'_, M> {
        type Output = Totals;
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) -> Totals {
            let Sums { dy, k, r, pat, m } = self;
            let mut t = Totals {
                dy: [0.0; B],
                dyxh: [0.0; B],
            };
            let mut acc_dy = [[0.0f32; LANES]; B / LANES];
            let mut acc_p = [[0.0f32; LANES]; B / LANES];
            let mut since = 0;
            for row in 0..r.rows {
                let st = r.start(row);
                let span = st..st + r.width;
                let xs = k.x.get(span.clone()).unwrap_or(&[]);
                let dys = dy.get(span.clone()).unwrap_or(&[]);
                let ys = if M::USES_Y {
                    k.y.get(span).unwrap_or(&[])
                } else {
                    &[]
                };
                let (xv, xr) = xs.as_chunks::<LANES>();
                let (dv, dr) = dys.as_chunks::<LANES>();
                let (yv, yr) = ys.as_chunks::<LANES>();
                let accs = acc_dy.iter_mut().zip(acc_p.iter_mut());
                for (j, ((xa, da), (ad, ap))) in xv.iter().zip(dv).zip(accs).enumerate() {
                    let l = pat.lanes(s, j * LANES);
                    let dy = m.apply(s.load(da), load_or_zero(s, yv.get(j)));
                    let p = dy * l.xhat(s.load(xa));
                    (s.load(ad) + dy).store(ad);
                    (s.load(ap) + p).store(ap);
                }
                let j = xv.len();
                if let (false, Some(ad), Some(ap)) =
                    (xr.is_empty(), acc_dy.get_mut(j), acc_p.get_mut(j))
                {
                    let l = pat.lanes(s, j * LANES);
                    let dy = m.apply(s.load_partial(dr), s.load_partial(yr));
                    let p = (dy * l.xhat(s.load_partial(xr))).lanes_from(s.zero(), xr.len());
                    (s.load(ad) + dy).store(ad);
                    (s.load(ap) + p).store(ap);
                }
                since += 1;
                if since == CHUNK {
                    fold(&mut acc_dy, &mut acc_p, &mut t);
                    since = 0;
                }
            }
            fold(&mut acc_dy, &mut acc_p, &mut t);
            t
        }
    }
    s.vectorize(Sums { dy, k, r, pat, m })
}

/// With running statistics: the per-position sums of a region, and `dx = a*dy` written
/// in the same pass. Its own function for the ISA ([`Simd::vectorize`]).
fn running<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    r: Region,
    pat: &Pattern,
    m: M,
) -> Totals {
    struct Running<'a, I, M> {
        io: &'a mut I,
        k: &'a Inputs<'a>,
        r: Region,
        pat: &'a Pattern,
        m: M,
    }
    impl<S: Simd, I: Io, M: Mask<S::F>> Body<S> for Running<'_, I, M> {
        type Output = Totals;
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) -> Totals {
            let Running { io, k, r, pat, m } = self;
            let mut t = Totals {
                dy: [0.0; B],
                dyxh: [0.0; B],
            };
            let mut acc_dy = [[0.0f32; LANES]; B / LANES];
            let mut acc_p = [[0.0f32; LANES]; B / LANES];
            let mut since = 0;
            for row in 0..r.rows {
                let st = r.start(row);
                let xs = k.x.get(st..st + r.width).unwrap_or(&[]);
                let ys = if M::USES_Y {
                    k.y.get(st..st + r.width).unwrap_or(&[])
                } else {
                    &[]
                };
                let (xv, xr) = xs.as_chunks::<LANES>();
                let (yv, yr) = ys.as_chunks::<LANES>();
                {
                    let mut span = io.span(st, xv.len());
                    let accs = acc_dy.iter_mut().zip(acc_p.iter_mut());
                    for (j, (xa, (ad, ap))) in xv.iter().zip(accs).enumerate().take(span.vectors())
                    {
                        let l = pat.lanes(s, j * LANES);
                        let dy = m.apply(span.get(s, j), load_or_zero(s, yv.get(j)));
                        (s.load(ad) + dy).store(ad);
                        (s.load(ap) + dy * l.xhat(s.load(xa))).store(ap);
                        span.set(j, dy * l.a);
                    }
                }
                let j = xv.len();
                if let (false, Some(ad), Some(ap)) =
                    (xr.is_empty(), acc_dy.get_mut(j), acc_p.get_mut(j))
                {
                    let pos = st + j * LANES;
                    let l = pat.lanes(s, j * LANES);
                    let dys = io.src().get(pos..st + r.width).unwrap_or(&[]);
                    let dy = m.apply(s.load_partial(dys), s.load_partial(yr));
                    let p = (dy * l.xhat(s.load_partial(xr))).lanes_from(s.zero(), xr.len());
                    (s.load(ad) + dy).store(ad);
                    (s.load(ap) + p).store(ap);
                    io.write(pos, xr.len(), dy * l.a);
                }
                since += 1;
                if since == CHUNK {
                    fold(&mut acc_dy, &mut acc_p, &mut t);
                    since = 0;
                }
            }
            fold(&mut acc_dy, &mut acc_p, &mut t);
            t
        }
    }
    s.vectorize(Running { io, k, r, pat, m })
}

/// Adds the f32 sums to the f64 ones and clears them.
#[cfg_attr(not(debug_assertions), inline(always))]
fn fold(dy: &mut [[f32; LANES]; B / LANES], p: &mut [[f32; LANES]; B / LANES], t: &mut Totals) {
    for (a, v) in t.dy.iter_mut().zip(dy.as_flattened_mut()) {
        *a += f64::from(*v);
        *v = 0.0;
    }
    for (a, v) in t.dyxh.iter_mut().zip(p.as_flattened_mut()) {
        *a += f64::from(*v);
        *v = 0.0;
    }
}

/// Writes `dx` over a region. Its own function for the ISA ([`Simd::vectorize`]).
fn dx<S: Simd, I: Io, M: Mask<S::F>>(s: S, io: &mut I, k: &Inputs, r: Region, pat: &Pattern, m: M) {
    struct Dx<'a, I, M> {
        io: &'a mut I,
        k: &'a Inputs<'a>,
        r: Region,
        pat: &'a Pattern,
        m: M,
    }
    impl<S: Simd, I: Io, M: Mask<S::F>> Body<S> for Dx<'_, I, M> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) {
            let Dx { io, k, r, pat, m } = self;
            for row in 0..r.rows {
                let st = r.start(row);
                let xs = k.x.get(st..st + r.width).unwrap_or(&[]);
                let ys = if M::USES_Y {
                    k.y.get(st..st + r.width).unwrap_or(&[])
                } else {
                    &[]
                };
                let (xv, xr) = xs.as_chunks::<LANES>();
                let (yv, yr) = ys.as_chunks::<LANES>();
                {
                    let mut span = io.span(st, xv.len());
                    for (j, xa) in xv.iter().enumerate().take(span.vectors()) {
                        let l = pat.lanes(s, j * LANES);
                        let dy = m.apply(span.get(s, j), load_or_zero(s, yv.get(j)));
                        span.set(j, l.dx(dy, s.load(xa), k.batch));
                    }
                }
                if !xr.is_empty() {
                    let pos = st + xv.len() * LANES;
                    let l = pat.lanes(s, xv.len() * LANES);
                    let dys = io.src().get(pos..st + r.width).unwrap_or(&[]);
                    let dy = m.apply(s.load_partial(dys), s.load_partial(yr));
                    io.write(pos, xr.len(), l.dx(dy, s.load_partial(xr), k.batch));
                }
            }
        }
    }
    s.vectorize(Dx { io, k, r, pat, m });
}
