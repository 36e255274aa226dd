//! NCHW backward of short planes (`h*w <` [`SHORT_PLANE`]: 7x7, 14x14) in groups of
//! `LANES` channels whose data fits in cache ([`FUSE_BYTES`]), read flat. In one image
//! the group's planes are one run of `LANES*h*w` values: whole vectors from its start,
//! each plane a stretch of them whose first and last vectors it may share with its
//! neighbours. A channel's walk over its stretch masks those two to its own lanes (a
//! select, so a neighbour's NaN or infinity never enters its sums), and its `dx` in a
//! shared vector is blended with the neighbour's before the one store. Every vector is
//! loaded whole and aligned to the run; walking plane by plane instead, a 7x7 plane is
//! three vectors and a partial one, and the per-plane slicing, the partial loads and
//! stores and the constants' setup cost more than the plane's arithmetic (1x1280x7x7 at
//! 31% of its bound). A whole group of planes of at least a vector ([`walk_wide`]) goes
//! vector by vector instead, as the NCHW normalize does: each vector holds at most one
//! plane boundary, and only the vector a boundary crosses does both channels' work
//! (1x1280x7x7 with running statistics 41% -> 50% of a two-input copy loop, 14x14 65% ->
//! 70%).
//!
//! The sums of each channel stay in f32 lanes (one row of `LANES` per channel) for at
//! most `CHUNK` values a lane, over as many images as that allows; then the group's rows
//! are added across their lanes at once ([`Simd::sum_rows`], one channel per lane) and
//! into f64. Then each channel's constants, and with batch statistics a second walk
//! writes `dx` over the runs the first left in cache. With running statistics `dx = a*dy`
//! is written in the walk that sums. With AVX-512 and planes of 16 to 64 values, the
//! second walk of a whole group is the first walk of the next one ([`walk_pair`]): the groups'
//! vectors have the same boundaries, so one loop and one boundary's bookkeeping serve
//! both (1x1280x7x7 0.94 of the time).
//!
//! [`SHORT_PLANE`]: crate::plan::SHORT_PLANE
//! [`FUSE_BYTES`]: crate::plan::FUSE_BYTES

use super::shared::{Grads, Inputs, Lanes, Mask, load_or_zero, load_range};
use crate::normalize::io::{Io, Span};
use crate::simd::{LANES, Simd, Vf32, Vf64};
use crate::stats::CHUNK;

/// Every group of `LANES` channels (inside [`super::planar::run`]'s function for the ISA).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn groups<S: Simd, I: Io, M: Mask<S::F>>(s: S, io: &mut I, k: &Inputs, m: M, g: Grads) {
    // The channels' rows of f32 sums, shared by the groups: zeroed once here, not per
    // group (a 2 KiB `memset` per group was 5-8% of 1x1280x7x7).
    let mut rows = ([s.zero(); LANES], [s.zero(); LANES]);
    let mut held = None;
    let mut c0 = 0;
    while c0 < k.d.c {
        let chans = (k.d.c - c0).min(LANES);
        let dgamma = g.dgamma.get_mut(c0..c0 + chans).unwrap_or(&mut []);
        let dbeta = g.dbeta.get_mut(c0..c0 + chans).unwrap_or(&mut []);
        group(s, io, k, c0, m, dgamma, dbeta, &mut rows, &mut held);
        c0 += chans;
    }
    if let Some(h) = held {
        h.flush(s, io, k, m, &mut rows);
    }
}

/// A whole group (batch statistics) whose `dx` is still to be written: its first channel
/// and final constants. [`group`] writes it in the walks that sum the next group.
struct Held {
    c0: usize,
    kc: Group,
}

impl Held {
    /// Writes the held group's `dx` on its own.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn flush<S: Simd, I: Io, M: Mask<S::F>>(
        &self,
        s: S,
        io: &mut I,
        k: &Inputs,
        m: M,
        rows: &mut Rows<S::F>,
    ) {
        for i in 0..k.d.n {
            let base = (i * k.d.c + self.c0) * k.d.plane;
            walk_wide::<S, I, M, DX>(s, io, k, base, &self.kc, m, rows, false);
        }
    }
}

/// Whether whole groups of planes of `plane` values with batch statistics write their
/// `dx` in the walk that sums the next group ([`walk_pair`]): with AVX-512's 32 registers
/// (`S::ACC >= 8`; with AVX2's 16 the walk's constants would spill), and planes of at
/// most [`PAIR_BYTES`] a group, so that in one image a group's `x` and `dy` are still in
/// L1 when its `dx` is written a group later (with more images, the walks of the others
/// come between, as they do unpaired: A/B paired/not at AVX-512, 2x512x7x7 0.94,
/// 4x512x7x7 0.98, 8x512x7x7 0.97).
#[cfg_attr(not(debug_assertions), inline(always))]
fn pairs<S: Simd>(plane: usize) -> bool {
    S::ACC >= 8 && plane * LANES * 4 <= PAIR_BYTES
}

/// The largest group of planes ([`pairs`]), per tensor: 4 KiB, 8x8 planes at AVX-512.
/// A/B paired/not, best of 300 rounds at AVX-512 on an Intel Xeon: 1x1280x7x7 0.94,
/// 1x512x5x5 0.95, 1x512x8x8 0.96, 1x512x10x10 0.99, 1x512x13x13 1.09, 1x256x14x14 1.14.
const PAIR_BYTES: usize = 4096;

/// A group's rows of f32 sums, one per channel: `(Σdy, Σdy·xhat)`.
type Rows<F> = ([F; LANES], [F; LANES]);

/// What one walk over a run does.
const SUMS: u8 = 0;
const DX: u8 = 1;
const SUMS_DX: u8 = 2;

/// The constants of a group's channels, lane `l` for channel `c0 + l` (0 past the group).
/// [`Group::lanes`] takes the channel modulo `LANES`: a walk asks for channel `LANES`
/// (the next group's first) at the group's last vector, whose lanes are all the last
/// channel's, so those constants are never used.
struct Group {
    mean: [f32; LANES],
    invstd: [f32; LANES],
    a: [f32; LANES],
    cb: [f32; LANES],
    ndg: [f32; LANES],
}

impl Group {
    /// Channel `l`'s constants, every lane.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn lanes<S: Simd>(&self, s: S, l: usize) -> Lanes<S::F> {
        let l = l % LANES;
        Lanes {
            mean: s.splat(self.mean[l]),
            invstd: s.splat(self.invstd[l]),
            a: s.splat(self.a[l]),
            cb: s.splat(self.cb[l]),
            ndg: s.splat(self.ndg[l]),
        }
    }
}

/// Channels `c0..c0 + dgamma.len()` (at most `LANES`). Their constants are computed
/// for all at once, in f64 vectors, as [`DxConsts`](super::shared::DxConsts) computes one channel's.
/// `rows` may hold anything on entry. With batch statistics and [`pairs`], the `dx` of a
/// whole group is left to the next call (`held`), whose walks that sum write it
/// ([`walk_pair`]); a held group that cannot pair with this one is written first.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn group<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    c0: usize,
    m: M,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    rows: &mut Rows<S::F>,
    held: &mut Option<Held>,
) {
    let d = k.d;
    let chans = dgamma.len().min(LANES);
    let r = c0..c0 + chans;
    let (mean, invstd, gamma) = (
        load_range(s, k.p.mean, r.clone()),
        load_range(s, k.p.invstd, r.clone()),
        load_range(s, k.p.gamma, r),
    );
    let ([g0, g1], [i0, i1]) = (gamma.widen(), invstd.widen());
    let mut kc = Group {
        mean: mean.to_array(),
        invstd: invstd.to_array(),
        a: S::D::narrow(g0 * i0, g1 * i1).to_array(),
        cb: [0.0; LANES],
        ndg: [0.0; LANES],
    };
    // A lane of a row gains at most one value per vector of its channel's stretch: at
    // most `plane / LANES + 2` per image.
    let per_image = d.plane / LANES + 2;
    let images = (CHUNK / per_image).max(1);
    let mut tot = ([s.zero64(); 2], [s.zero64(); 2]);
    let mut since = 0;
    // A whole group of planes of at least a vector: every vector of a run holds at most
    // one plane boundary ([`walk_wide`]), and each channel's row is written once per
    // image, so the first image after a fold sets the rows instead of adding to them.
    let wide = chans == LANES && d.plane >= LANES;
    // The previous group's `dx`, in this group's walks if both are whole, else now.
    let prev = held.take();
    let paired = match prev {
        Some(h) if wide && k.batch && h.c0 + LANES == c0 => Some(h),
        Some(h) => {
            h.flush(s, io, k, m, rows);
            None
        }
        None => None,
    };
    if !wide {
        // [`walk`] adds to the rows, which a group of whole planes before may have left.
        *rows = ([s.zero(); LANES], [s.zero(); LANES]);
    }
    for i in 0..d.n {
        let base = (i * d.c + c0) * d.plane;
        let set = since == 0;
        match (k.batch, wide) {
            (true, true) => match &paired {
                Some(h) => {
                    let prev = (i * d.c + h.c0) * d.plane;
                    walk_pair(s, io, k, prev, &h.kc, &kc, m, rows, set);
                }
                None => walk_wide::<S, I, M, SUMS>(s, io, k, base, &kc, m, rows, set),
            },
            (false, true) => walk_wide::<S, I, M, SUMS_DX>(s, io, k, base, &kc, m, rows, set),
            (true, false) => walk::<S, I, M, SUMS>(s, io, k, base, chans, &kc, m, rows),
            (false, false) => walk::<S, I, M, SUMS_DX>(s, io, k, base, chans, &kc, m, rows),
        }
        since += 1;
        if since == images || i + 1 == d.n {
            fold(s, rows, &mut tot, !wide && i + 1 < d.n);
            since = 0;
        }
    }
    S::D::narrow(tot.0[0], tot.0[1]).store_partial(dbeta);
    S::D::narrow(tot.1[0], tot.1[1]).store_partial(dgamma);
    if k.batch {
        let inv = s.splat64(1.0 / d.count as f64);
        kc.cb = S::D::narrow(tot.0[0] * inv, tot.0[1] * inv).to_array();
        let dg = S::D::narrow(tot.1[0] * inv, tot.1[1] * inv);
        kc.ndg = (dg * s.splat(-1.0)).to_array();
        if wide && pairs::<S>(d.plane) {
            *held = Some(Held { c0, kc });
            return;
        }
        for i in 0..d.n {
            let base = (i * d.c + c0) * d.plane;
            if wide {
                walk_wide::<S, I, M, DX>(s, io, k, base, &kc, m, rows, false);
            } else {
                walk::<S, I, M, DX>(s, io, k, base, chans, &kc, m, rows);
            }
        }
    }
}

/// Adds the rows' lanes across (lane `l`: row `l`'s sum, in f32, a tree of halves),
/// widened, to the f64 totals, and with `clear` zeroes the rows (for [`walk`], which
/// adds to them; [`walk_wide`] sets them on the first image after a fold).
#[cfg_attr(not(debug_assertions), inline(always))]
fn fold<S: Simd>(s: S, rows: &mut Rows<S::F>, tot: &mut ([S::D; 2], [S::D; 2]), clear: bool) {
    let ([d0, d1], [p0, p1]) = (s.sum_rows(&rows.0).widen(), s.sum_rows(&rows.1).widen());
    tot.0 = [tot.0[0] + d0, tot.0[1] + d1];
    tot.1 = [tot.1[0] + p0, tot.1[1] + p1];
    if clear {
        *rows = ([s.zero(); LANES], [s.zero(); LANES]);
    }
}

/// Where channel `ch` of a run lies: lanes `a..` of vector `v0` to lanes `..b` of vector
/// `v1` (`a < LANES`, `1 <= b <= LANES`; lanes `a..b` of `v0` when `v0 == v1`).
#[derive(Clone, Copy)]
struct Stretch {
    v0: usize,
    a: usize,
    v1: usize,
    b: usize,
}

impl Stretch {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn new(ch: usize, plane: usize) -> Self {
        let start = ch * plane;
        let stop = start + plane.max(1);
        let v1 = (stop - 1) / LANES;
        Stretch {
            v0: start / LANES,
            a: start % LANES,
            v1,
            b: stop - v1 * LANES,
        }
    }
}

/// `v` in lanes `a..b`, 0 in the others.
#[cfg_attr(not(debug_assertions), inline(always))]
fn keep<S: Simd>(s: S, v: S::F, a: usize, b: usize) -> S::F {
    let v = if b < LANES {
        v.lanes_from(s.zero(), b)
    } else {
        v
    };
    if a > 0 { s.zero().lanes_from(v, a) } else { v }
}

/// One walk over the run of `chans` planes from `base` (one image of a group). `SUMS`:
/// each channel's `Σdy` and `Σdy·xhat` added to its row; `SUMS_DX`: also `dx = a*dy`
/// (running statistics); `DX`: `dx` from the final constants `kc`.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn walk<S: Simd, I: Io, M: Mask<S::F>, const HOW: u8>(
    s: S,
    io: &mut I,
    k: &Inputs,
    base: usize,
    chans: usize,
    kc: &Group,
    m: M,
    rows: &mut Rows<S::F>,
) {
    let plane = k.d.plane;
    let len = chans * plane;
    let (xs, ys) = k.at::<S::F, M>(base, len);
    if xs.len() != len {
        return;
    }
    let (xv, xt) = xs.as_chunks::<LANES>();
    let (yv, yt) = ys.as_chunks::<LANES>();
    let full = xv.len();
    // The run's last, partial vector (a group of fewer than `LANES` channels), read
    // before the span takes the buffer.
    let tail_at = base + full * LANES;
    let dy_tail = s.load_partial(io.src().get(tail_at..base + len).unwrap_or(&[]));
    let (x_tail, y_tail) = (s.load_partial(xt), s.load_partial(yt));
    // `dx` of the vector a channel's stretch ended in, its later lanes still to come.
    let mut pending = s.zero();
    {
        let mut span = io.span(base, full);
        if span.vectors() != full {
            return;
        }
        let run = Run {
            xv,
            yv,
            tail: (dy_tail, x_tail, y_tail),
            m,
        };
        for ch in 0..chans {
            let st = Stretch::new(ch, plane);
            let l = kc.lanes(s, ch);
            let (mut d0, mut p0, mut d1, mut p1) = (s.zero(), s.zero(), s.zero(), s.zero());
            // The stretch's first vector (also its last when `v0 == v1`).
            let b0 = if st.v0 == st.v1 { st.b } else { LANES };
            let (dy, x) = run.at(s, &span, st.v0);
            if HOW != DX {
                d0 = keep(s, dy, st.a, b0);
                p0 = keep(s, dy * l.xhat(x), st.a, b0);
            }
            if HOW != SUMS {
                let v = if HOW == DX {
                    l.dx(dy, x, true)
                } else {
                    dy * l.a
                };
                let v = if st.a > 0 {
                    pending.lanes_from(v, st.a)
                } else {
                    v
                };
                if b0 < LANES {
                    pending = v;
                } else if st.v0 < full {
                    span.set(st.v0, v);
                }
            }
            if st.v0 == st.v1 {
                if HOW != DX
                    && let (Some(rd), Some(rp)) = (rows.0.get_mut(ch), rows.1.get_mut(ch))
                {
                    *rd += d0;
                    *rp += p0;
                }
                continue;
            }
            // The whole vectors between, two at a time.
            let mut v = st.v0 + 1;
            while v + 2 <= st.v1 && v + 2 <= full {
                let (xa, xb) = (s.load(&xv[v]), s.load(&xv[v + 1]));
                let da = m.apply(span.get(s, v), load_or_zero(s, yv.get(v)));
                let db = m.apply(span.get(s, v + 1), load_or_zero(s, yv.get(v + 1)));
                if HOW != DX {
                    d0 += da;
                    d1 += db;
                    p0 = da.mul_add(l.xhat(xa), p0);
                    p1 = db.mul_add(l.xhat(xb), p1);
                }
                match HOW {
                    DX => {
                        span.set(v, l.dx(da, xa, true));
                        span.set(v + 1, l.dx(db, xb, true));
                    }
                    SUMS_DX => {
                        span.set(v, da * l.a);
                        span.set(v + 1, db * l.a);
                    }
                    _ => {}
                }
                v += 2;
            }
            if v < st.v1 && v < full {
                let xa = s.load(&xv[v]);
                let da = m.apply(span.get(s, v), load_or_zero(s, yv.get(v)));
                if HOW != DX {
                    d0 += da;
                    p0 = da.mul_add(l.xhat(xa), p0);
                }
                match HOW {
                    DX => span.set(v, l.dx(da, xa, true)),
                    SUMS_DX => span.set(v, da * l.a),
                    _ => {}
                }
            }
            // The last vector: lanes `..b`.
            let (dy, x) = run.at(s, &span, st.v1);
            if HOW != DX {
                d1 += keep(s, dy, 0, st.b);
                p1 += keep(s, dy * l.xhat(x), 0, st.b);
                if let (Some(rd), Some(rp)) = (rows.0.get_mut(ch), rows.1.get_mut(ch)) {
                    *rd += d0 + d1;
                    *rp += p0 + p1;
                }
            }
            if HOW != SUMS {
                let v = if HOW == DX {
                    l.dx(dy, x, true)
                } else {
                    dy * l.a
                };
                if st.b < LANES {
                    pending = v;
                } else if st.v1 < full {
                    span.set(st.v1, v);
                }
            }
        }
    }
    if HOW != SUMS && full * LANES < len {
        io.write(tail_at, len - full * LANES, pending);
    }
}

/// [`walk`] for a whole group (`LANES` channels) of planes of at least `LANES` values,
/// so that the run is whole vectors and each holds at most one plane boundary. Vector by
/// vector, as the NCHW normalize walks its planes: a vector inside a plane costs its
/// arithmetic alone; the vector a boundary crosses is computed with both channels'
/// constants, its lanes split between them by a select (a neighbour's NaN or infinity
/// never enters a channel's sums), and the finished channel's sums go to its row (added,
/// or with `set` written over it). Per channel that is one boundary's work, not
/// [`walk`]'s first, middle and last stretches.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn walk_wide<S: Simd, I: Io, M: Mask<S::F>, const HOW: u8>(
    s: S,
    io: &mut I,
    k: &Inputs,
    base: usize,
    kc: &Group,
    m: M,
    rows: &mut Rows<S::F>,
    set: bool,
) {
    let plane = k.d.plane;
    let full = plane;
    let (xs, ys) = k.at::<S::F, M>(base, LANES * plane);
    let (xv, _) = xs.as_chunks::<LANES>();
    let (yv, _) = ys.as_chunks::<LANES>();
    let mut span = io.span(base, full);
    if xv.len() != full || span.vectors() != full {
        return;
    }
    let mut w = Wide::new(s, kc, plane, set);
    // Two vectors a step, each summed into its own accumulators, so that the adds of
    // long planes (14x14) do not wait on each other.
    let mut j = 0;
    while j + 2 <= full {
        let dy = m.apply(span.get(s, j), load_or_zero(s, yv.get(j)));
        w.step::<S, _, HOW, 0>(s, kc, plane, &mut span, j, s.load(&xv[j]), dy, rows);
        let dy = m.apply(span.get(s, j + 1), load_or_zero(s, yv.get(j + 1)));
        w.step::<S, _, HOW, 1>(s, kc, plane, &mut span, j + 1, s.load(&xv[j + 1]), dy, rows);
        j += 2;
    }
    if j < full {
        let dy = m.apply(span.get(s, j), load_or_zero(s, yv.get(j)));
        w.step::<S, _, HOW, 0>(s, kc, plane, &mut span, j, s.load(&xv[j]), dy, rows);
    }
}

/// [`walk_wide`]'s and [`walk_pair`]'s state: the current channel, its constants (of the
/// group summed), where it ends, and its
/// sums so far in two pairs of accumulators.
struct Wide<F> {
    ch: usize,
    l: Lanes<F>,
    /// Offset of the channel's end from the current vector's start (>= 1).
    bound: usize,
    /// Write a finished channel's sums over its row instead of adding them.
    set: bool,
    d: [F; 2],
    p: [F; 2],
}

impl<F: Vf32> Wide<F> {
    /// At the start of a run: channel 0 of `kc`, whose plane ends `plane` values on.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn new<S: Simd<F = F>>(s: S, kc: &Group, plane: usize, set: bool) -> Self {
        Wide {
            ch: 0,
            l: kc.lanes(s, 0),
            bound: plane,
            set,
            d: [s.zero(); 2],
            p: [s.zero(); 2],
        }
    }

    /// A vector inside the channel's plane: its sums into accumulators `w` (0 or 1).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn add(&mut self, w: usize, x: F, dy: F) {
        let w = w & 1;
        self.d[w] += dy;
        self.p[w] = dy.mul_add(self.l.xhat(x), self.p[w]);
    }

    /// The vector where the channel ends at lane `at` (`z` is zero): its lanes `..at`
    /// finish the channel's sums, which go to its row (added, or with `set` written over
    /// it), and its lanes `at..` start the next channel's (constants `next`) in
    /// accumulators `w`.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn close(&mut self, z: F, next: &Lanes<F>, at: F, x: F, dy: F, rows: &mut Rows<F>, w: usize) {
        let (dc, pc) = (
            dy.select_from(z, at),
            (dy * self.l.xhat(x)).select_from(z, at),
        );
        let c = self.ch % LANES;
        let (rd, rp) = (&mut rows.0[c], &mut rows.1[c]);
        let (d, p) = ((self.d[0] + self.d[1]) + dc, (self.p[0] + self.p[1]) + pc);
        (*rd, *rp) = if self.set { (d, p) } else { (*rd + d, *rp + p) };
        self.d = [z; 2];
        self.p = [z; 2];
        let w = w & 1;
        self.d[w] = z.select_from(dy, at);
        self.p[w] = z.select_from(dy * next.xhat(x), at);
    }

    /// Vector `j` (`x`, masked `dy`), its sums into accumulators `W`.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step<S: Simd<F = F>, P: Span, const HOW: u8, const W: usize>(
        &mut self,
        s: S,
        kc: &Group,
        plane: usize,
        span: &mut P,
        j: usize,
        x: F,
        dy: F,
        rows: &mut Rows<F>,
    ) {
        let l = self.l;
        if self.bound > LANES {
            if HOW != DX {
                self.add(W, x, dy);
            }
            match HOW {
                DX => span.set(j, l.dx(dy, x, true)),
                SUMS_DX => span.set(j, dy * l.a),
                _ => {}
            }
            self.bound -= LANES;
            return;
        }
        // Lanes `..bound` are channel `ch`'s last, lanes `bound..` the next one's first.
        let z = s.zero();
        let next = kc.lanes(s, self.ch + 1);
        let at = s.splat(self.bound as f32);
        if HOW != DX {
            self.close(z, &next, at, x, dy, rows, W);
        }
        match HOW {
            DX => span.set(j, l.dx(dy, x, true).select_from(next.dx(dy, x, true), at)),
            SUMS_DX => span.set(j, (dy * l.a).select_from(dy * next.a, at)),
            _ => {}
        }
        self.ch += 1;
        self.l = next;
        self.bound = self.bound + plane - LANES;
    }
}

/// A run's vectors besides the span's `dy`: `x`, `y` for the mask, and the last partial
/// vector's `(dy, x, y)`.
struct Run<'a, F, M> {
    xv: &'a [[f32; LANES]],
    yv: &'a [[f32; LANES]],
    tail: (F, F, F),
    m: M,
}

impl<F: Vf32, M: Mask<F>> Run<'_, F, M> {
    /// Vector `v` of the run (the partial last one when `v` is past the whole ones):
    /// `(dy masked, x)`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn at<S: Simd<F = F>, P: Span>(&self, s: S, span: &P, v: usize) -> (F, F) {
        match self.xv.get(v) {
            Some(x) if v < span.vectors() => {
                let dy = self
                    .m
                    .apply(span.get(s, v), load_or_zero(s, self.yv.get(v)));
                (dy, s.load(x))
            }
            _ => (self.m.apply(self.tail.0, self.tail.2), self.tail.1),
        }
    }
}

/// [`walk_wide`] over two neighbouring whole groups at once: `dx` of the first (from
/// `base`, final constants `kd`) and the sums of the second (`ks`), which has the same
/// boundaries in its vectors. One walk's loop and boundary work serve both.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn walk_pair<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    base: usize,
    kd: &Group,
    ks: &Group,
    m: M,
    rows: &mut Rows<S::F>,
    set: bool,
) {
    let plane = k.d.plane;
    let full = plane;
    let (xs, ys) = k.at::<S::F, M>(base, 2 * LANES * plane);
    let (xv, _) = xs.as_chunks::<LANES>();
    let (yv, _) = ys.as_chunks::<LANES>();
    let mut span = io.span(base, 2 * full);
    if xv.len() != 2 * full || span.vectors() != 2 * full {
        return;
    }
    let mut w = Wide::new(s, ks, plane, set);
    let mut ld = kd.lanes(s, 0);
    // Two vectors a step (the last step may have one), each group's sums alternating
    // between two accumulators as in [`walk_wide`].
    let mut j = 0;
    while j < full {
        for u in 0..2 {
            let v = j + u;
            if v >= full {
                break;
            }
            let dyd = m.apply(span.get(s, v), load_or_zero(s, yv.get(v)));
            let xd = s.load(&xv[v]);
            let dys = m.apply(span.get(s, full + v), load_or_zero(s, yv.get(full + v)));
            let xs = s.load(&xv[full + v]);
            let d = (xd, dyd, ld);
            ld = w.step_pair(s, kd, ks, plane, &mut span, v, d, xs, dys, rows, u);
        }
        j += 2;
    }
}

impl<F: Vf32> Wide<F> {
    /// Vector `j` of both groups of [`walk_pair`]: `dx` of the first (`x`, `dy`, its
    /// channel's constants; returns the constants for the next vector), the sums of the
    /// second into accumulators `u`.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step_pair<S: Simd<F = F>, P: Span>(
        &mut self,
        s: S,
        kd: &Group,
        ks: &Group,
        plane: usize,
        span: &mut P,
        j: usize,
        d: (F, F, Lanes<F>),
        x: F,
        dy: F,
        rows: &mut Rows<F>,
        u: usize,
    ) -> Lanes<F> {
        let (xd, dyd, ld) = d;
        let u = u & 1;
        if self.bound > LANES {
            self.add(u, x, dy);
            span.set(j, ld.dx(dyd, xd, true));
            self.bound -= LANES;
            return ld;
        }
        let z = s.zero();
        let next = ks.lanes(s, self.ch + 1);
        let nextd = kd.lanes(s, self.ch + 1);
        let at = s.splat(self.bound as f32);
        self.close(z, &next, at, x, dy, rows, u);
        span.set(
            j,
            ld.dx(dyd, xd, true)
                .select_from(nextd.dx(dyd, xd, true), at),
        );
        self.ch += 1;
        self.l = next;
        self.bound = self.bound + plane - LANES;
        nextd
    }
}
