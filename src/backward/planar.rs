//! NCHW backward (planes of 2 or more values), lanes along the planes, in groups of
//! channels walked in memory order: for each image, the group's planes one after the
//! other, each plane's sums `Σdy` and `Σdy·xhat` (two vector accumulators each, folded
//! into f64 every `CHUNK` vectors and at the plane's end) added to its channel's totals.
//! With batch statistics the group holds as many channels as fit in cache
//! ([`FUSE_BYTES`]): its sums, then its constants, then its `dx` over the planes the sums
//! left in cache, so a channel that fits is read from memory once (a larger one, a group
//! of one, twice). With running statistics one pass per group of 16 writes `dx = a*dy`
//! as it sums.

use super::shared::{DxConsts, Grads, Inputs, Lanes, Mask, load_or_zero};
use crate::normalize::io::{Io, Span};
use crate::plan::FUSE_BYTES;
use crate::simd::{Body, LANES, Simd, Vf32, Vf64};
use crate::stats::CHUNK;

/// Every channel in one function for the ISA ([`Simd::vectorize`]): short planes (7x7)
/// leave no room for a call per channel. With `short`, in groups of `LANES` channels
/// (`short.rs`); otherwise one after the other.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn run<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    m: M,
    g: Grads,
    short: bool,
) {
    struct Channels<'a, 'g, I, M> {
        io: &'a mut I,
        k: &'a Inputs<'a>,
        m: M,
        g: Grads<'g>,
        short: bool,
    }
    impl<S: Simd, I: Io, M: Mask<S::F>> Body<S> for Channels<'_, '_, I, M> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) {
            let Channels { io, k, m, g, short } = self;
            if short {
                super::short::groups(s, io, k, m, g);
                return;
            }
            groups(s, io, k, m, g);
        }
    }
    s.vectorize(Channels { io, k, m, g, short });
}

/// Every channel, in groups walked in memory order: for each image, the group's planes
/// one after the other (one stretch of memory), each plane's sums folded into its
/// channel's f64 totals at its end. Channel by channel instead, each plane of
/// 8x512x28x28 was a new stream 1.6 MB from the last, and the running statistics' pass ran
/// at 55% of its bound.
///
/// Running statistics: `dx = a*dy` needs no sums, so one pass does both, in groups of
/// `LANES` channels. Batch statistics: groups of channels whose `x` and `dy` fit in
/// [`FUSE_BYTES`] (at most `LANES`), their sums, then each channel's constants, then its
/// `dx` in the same order over planes the sums left in cache. A channel larger than that
/// is a group of one, read from memory twice; with one image every channel is a group of
/// one, which is memory order already.
#[cfg_attr(not(debug_assertions), inline(always))]
fn groups<S: Simd, I: Io, M: Mask<S::F>>(s: S, io: &mut I, k: &Inputs, m: M, g: Grads) {
    let d = k.d;
    // One image: the `dx` of each channel then finds it in L1 (a group of 16 64x56x56
    // channels ran 5% slower from L2).
    let per = if !k.batch {
        LANES
    } else if d.n == 1 {
        1
    } else {
        (FUSE_BYTES / d.count.saturating_mul(8).max(1)).clamp(1, LANES)
    };
    let inv_count = 1.0 / d.count as f64;
    let mut c0 = 0;
    while c0 < d.c {
        let group = (d.c - c0).min(per);
        let mut tot = [(0.0f64, 0.0f64); LANES];
        for i in 0..d.n {
            for (l, t) in tot.iter_mut().enumerate().take(group) {
                let ch = c0 + l;
                let start = (i * d.c + ch) * d.plane;
                let l0 = Lanes::splat(s, DxConsts::new(k.p, ch, 0.0, 0.0, 1.0));
                let mut acc = Acc::new(s);
                if k.batch {
                    sums_plane(s, io.src(), k, start, &l0, m, &mut acc);
                } else {
                    running_plane(s, io, k, start, &l0, m, &mut acc);
                }
                let (a, b) = acc.finish();
                (t.0, t.1) = (t.0 + a, t.1 + b);
            }
        }
        if k.batch {
            for i in 0..d.n {
                for (l, t) in tot.iter().enumerate().take(group) {
                    let ch = c0 + l;
                    let kc = Lanes::splat(s, DxConsts::new(k.p, ch, t.0, t.1, inv_count));
                    dx_plane(s, io, k, (i * d.c + ch) * d.plane, &kc, m);
                }
            }
        }
        let outs = g.dgamma.iter_mut().zip(g.dbeta.iter_mut()).skip(c0);
        for ((dgamma, dbeta), t) in outs.zip(tot).take(group) {
            *dbeta = t.0 as f32;
            *dgamma = t.1 as f32;
        }
        c0 += group;
    }
}

/// One plane of `dy` from `start`: its sums into `acc` (`l` gives `mean` and `invstd`).
#[cfg_attr(not(debug_assertions), inline(always))]
fn sums_plane<S: Simd, M: Mask<S::F>>(
    s: S,
    dy: &[f32],
    k: &Inputs,
    start: usize,
    l: &Lanes<S::F>,
    m: M,
    acc: &mut Acc<S>,
) {
    let (xs, ys) = k.at::<S::F, M>(start, k.d.plane);
    let dys = dy.get(start..start + k.d.plane).unwrap_or(&[]);
    let (xv, xr) = xs.as_chunks::<LANES>();
    let (dv, dr) = dys.as_chunks::<LANES>();
    let (yv, yr) = ys.as_chunks::<LANES>();
    let nv = xv.len().min(dv.len());
    let mut j = 0;
    while j + 2 <= nv {
        let dy0 = m.apply(s.load(&dv[j]), load_or_zero(s, yv.get(j)));
        let dy1 = m.apply(s.load(&dv[j + 1]), load_or_zero(s, yv.get(j + 1)));
        let (x0, x1) = (s.load(&xv[j]), s.load(&xv[j + 1]));
        acc.step([dy0, dy1], [l.xhat(x0), l.xhat(x1)]);
        j += 2;
    }
    if j < nv {
        let dy0 = m.apply(s.load(&dv[j]), load_or_zero(s, yv.get(j)));
        let x0 = s.load(&xv[j]);
        acc.step([dy0, s.zero()], [l.xhat(x0), s.zero()]);
    }
    if !xr.is_empty() {
        let dy = m.apply(s.load_partial(dr), s.load_partial(yr));
        let xh = l.xhat(s.load_partial(xr)).lanes_from(s.zero(), xr.len());
        acc.step([dy, s.zero()], [xh, s.zero()]);
    }
}

/// `dx` over the plane from `start`, with one channel's final constants `l`.
#[cfg_attr(not(debug_assertions), inline(always))]
fn dx_plane<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    start: usize,
    l: &Lanes<S::F>,
    m: M,
) {
    let plane = k.d.plane;
    let (xs, ys) = k.at::<S::F, M>(start, plane);
    let (xv, xr) = xs.as_chunks::<LANES>();
    let (yv, yr) = ys.as_chunks::<LANES>();
    {
        let mut span = io.span(start, xv.len());
        for (j, xa) in xv.iter().enumerate().take(span.vectors()) {
            let dy = m.apply(span.get(s, j), load_or_zero(s, yv.get(j)));
            span.set(j, l.dx(dy, s.load(xa), k.batch));
        }
    }
    if !xr.is_empty() {
        let pos = start + xv.len() * LANES;
        let dys = io.src().get(pos..start + plane).unwrap_or(&[]);
        let dy = m.apply(s.load_partial(dys), s.load_partial(yr));
        io.write(pos, xr.len(), l.dx(dy, s.load_partial(xr), k.batch));
    }
}

/// One plane from `start` with running statistics: its sums into `acc`, and `dx = a*dy`
/// written as each vector of `dy` is read.
#[cfg_attr(not(debug_assertions), inline(always))]
fn running_plane<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    start: usize,
    l: &Lanes<S::F>,
    m: M,
    acc: &mut Acc<S>,
) {
    let plane = k.d.plane;
    let (xs, ys) = k.at::<S::F, M>(start, plane);
    let (xv, xr) = xs.as_chunks::<LANES>();
    let (yv, yr) = ys.as_chunks::<LANES>();
    {
        let mut span = io.span(start, xv.len());
        let nv = span.vectors().min(xv.len());
        let mut j = 0;
        while j + 2 <= nv {
            let dy0 = m.apply(span.get(s, j), load_or_zero(s, yv.get(j)));
            let dy1 = m.apply(span.get(s, j + 1), load_or_zero(s, yv.get(j + 1)));
            let (x0, x1) = (s.load(&xv[j]), s.load(&xv[j + 1]));
            acc.step([dy0, dy1], [l.xhat(x0), l.xhat(x1)]);
            span.set(j, dy0 * l.a);
            span.set(j + 1, dy1 * l.a);
            j += 2;
        }
        if j < nv {
            let dy0 = m.apply(span.get(s, j), load_or_zero(s, yv.get(j)));
            acc.step([dy0, s.zero()], [l.xhat(s.load(&xv[j])), s.zero()]);
            span.set(j, dy0 * l.a);
        }
    }
    if !xr.is_empty() {
        let pos = start + xv.len() * LANES;
        let dys = io.src().get(pos..start + plane).unwrap_or(&[]);
        let dy = m.apply(s.load_partial(dys), s.load_partial(yr));
        let xh = l.xhat(s.load_partial(xr)).lanes_from(s.zero(), xr.len());
        acc.step([dy, s.zero()], [xh, s.zero()]);
        io.write(pos, xr.len(), dy * l.a);
    }
}

/// Two pairs of vector accumulators (`Σdy`, `Σdy·xhat`), folded into f64 every `CHUNK`
/// steps so each f32 lane sums at most `CHUNK` values.
struct Acc<S: Simd> {
    s: S,
    dy: [S::F; 2],
    dyxh: [S::F; 2],
    steps: usize,
    total: (f64, f64),
}

impl<S: Simd> Acc<S> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn new(s: S) -> Self {
        Acc {
            s,
            dy: [s.zero(); 2],
            dyxh: [s.zero(); 2],
            steps: 0,
            total: (0.0, 0.0),
        }
    }

    /// Adds `dy` to the first accumulators and `dy·xhat` to the second (one rounding: a
    /// fused multiply-add; `xhat` is 0 in lanes past the data).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step(&mut self, dy: [S::F; 2], xhat: [S::F; 2]) {
        self.dy[0] += dy[0];
        self.dy[1] += dy[1];
        self.dyxh[0] = dy[0].mul_add(xhat[0], self.dyxh[0]);
        self.dyxh[1] = dy[1].mul_add(xhat[1], self.dyxh[1]);
        self.steps += 1;
        if self.steps >= CHUNK {
            self.fold();
        }
    }

    /// Moves the f32 lanes into the f64 totals: widened to f64 vectors and added there,
    /// then the 8 lanes of the sum added pairwise.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn fold(&mut self) {
        self.total.0 += hsum64(self.dy);
        self.total.1 += hsum64(self.dyxh);
        self.dy = [self.s.zero(); 2];
        self.dyxh = [self.s.zero(); 2];
        self.steps = 0;
    }

    /// The f64 totals.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn finish(mut self) -> (f64, f64) {
        self.fold();
        self.total
    }
}

/// The sum of every lane of `v`, in f64: the lanes widened, added as f64 vectors, then
/// the 8 lanes of the result pairwise.
#[cfg_attr(not(debug_assertions), inline(always))]
fn hsum64<V: Vf32>(v: [V; 2]) -> f64 {
    let ([a0, a1], [b0, b1]) = (v[0].widen(), v[1].widen());
    let l = ((a0 + a1) + (b0 + b1)).to_array();
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}
