//! NCHW normalize (planes of `h*w >= 2` values): one flat stream of whole vectors over
//! consecutive planes.
//!
//! Channels go in blocks of [`PBLOCK`] (a whole number of vectors, so each block's planes
//! of one sample form a *segment* of whole vectors). The next block's scales (f64 square
//! roots and divisions) are computed before the current block streams: they do not feed
//! that stream, so they run in the shadow of its memory traffic. Inside a segment:
//!
//! - planes of at least a vector (a vector then holds at most one plane boundary): the
//!   plane's constants are splat once and every vector costs one subtract and one fused
//!   multiply-add; the vector that crosses into the next plane is also computed with the
//!   next plane's constants and its lanes from the boundary on take that result. One
//!   well-predicted branch per vector and no loop per plane, so short planes (7x7, 14x14)
//!   do not fall off a cliff;
//! - planes shorter than a vector: the constants of each vector are assembled lane range
//!   by lane range.
//!
//! A segment that does not end on a whole vector ends with one whole vector that ends
//! exactly at the segment's end, computed from the input before anything else is written
//! (so it is right in place too) and stored last.

use super::act::{Act, affine, norm};
use super::consts::{Block, Consts, ScaleFrom, Src, with_block};
use super::io::{Io, Span};
use crate::plan::{self, Kernel};
use crate::simd::{Body, LANES, Simd, Vf32};

/// Channels whose constants are computed together, a multiple of `LANES`.
pub(crate) const PBLOCK: usize = LANES;

/// Normalizes `n` samples of `c` planes of `plane >= 2` values.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn run<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    n: usize,
    c: usize,
    plane: usize,
    p: &Src,
    act: A,
) {
    channels(s, io, n, c, plane, 0..c, p, act);
}

/// Normalizes channels `ks` of every sample.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn channels<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    n: usize,
    c: usize,
    plane: usize,
    ks: core::ops::Range<usize>,
    p: &Src,
    act: A,
) {
    if ks.len() == c && c <= PBLOCK {
        // Few channels: the whole buffer is one segment, plane `j` is channel `j % c`.
        with_block::<PBLOCK, S, _>(s, p, ks, |blk| {
            segment(s, io, 0, n * c, plane, blk, act);
        });
        return;
    }
    if let ScaleFrom::Given(scale) = p.scale {
        // Prepared constants: nothing to compute per block, so each sample's channels
        // are one segment (one entry into the ISA's function per sample, not per block).
        let blk = Block {
            mean: p.mean.get(ks.clone()).unwrap_or(&[]),
            scale: scale.get(ks.clone()).unwrap_or(&[]),
            beta: p.beta.get(ks.clone()).unwrap_or(&[]),
        };
        for i in 0..n {
            segment(s, io, (i * c + ks.start) * plane, ks.len(), plane, blk, act);
        }
        return;
    }
    // Blocks of PBLOCK channels. The scales of the next block are computed before the
    // current block streams: that f64 work does not feed the stream, so it can run in the
    // shadow of the memory traffic instead of in front of it.
    let mut bufs = [[0.0f32; PBLOCK]; 2];
    let block = |b: usize| {
        let k0 = ks.start + b * PBLOCK;
        k0..ks.end.min(k0 + PBLOCK)
    };
    let blocks = ks.len().div_ceil(PBLOCK);
    p.scales(s, block(0).start, &mut bufs[0][..block(0).len()]);
    for b in 0..blocks {
        let (first, second) = bufs.split_at_mut(1);
        let (now, ahead) = if b % 2 == 0 {
            (&first[0], &mut second[0])
        } else {
            (&second[0], &mut first[0])
        };
        if b + 1 < blocks {
            let kb = block(b + 1);
            p.scales(s, kb.start, &mut ahead[..kb.len()]);
        }
        let kb = block(b);
        let blk = Block {
            mean: p.mean.get(kb.clone()).unwrap_or(&[]),
            scale: &now[..kb.len()],
            beta: p.beta.get(kb.clone()).unwrap_or(&[]),
        };
        for i in 0..n {
            segment(s, io, (i * c + kb.start) * plane, kb.len(), plane, blk, act);
        }
    }
}

/// The next channel of a segment's cycle.
#[cfg_attr(not(debug_assertions), inline(always))]
fn next(k: usize, cycle: usize) -> usize {
    if k + 1 == cycle { 0 } else { k + 1 }
}

/// The constants of the vector at `pos` of a segment of `planes` planes from `start`,
/// plane `j` having channel `j % blk.len()` of the block.
#[cfg_attr(not(debug_assertions), inline(always))]
fn consts_at<S: Simd>(
    s: S,
    start: usize,
    pos: usize,
    planes: usize,
    plane: usize,
    blk: Block,
) -> Consts<S::F> {
    let end = start + planes * plane;
    let j = (pos - start) / plane;
    let mut k = j % blk.len();
    let mut c = Consts::splat(s, blk.chan(k));
    let mut bound = start + (j + 1) * plane;
    while bound < end && bound < pos + LANES {
        k = next(k, blk.len());
        c = c.blend_from(Consts::splat(s, blk.chan(k)), bound - pos);
        bound += plane;
    }
    c
}

/// Normalizes `planes` consecutive planes of `plane` values from `start`; plane `j` has
/// channel `j % blk.len()` of the block (not empty).
fn segment<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    start: usize,
    planes: usize,
    plane: usize,
    blk: Block,
    act: A,
) {
    if blk.len() == 0 {
        return;
    }
    let len = planes * plane;
    if len == 0 {
        return;
    }
    struct Segment<'a, I, A> {
        io: &'a mut I,
        at: [usize; 3],
        blk: Block<'a>,
        act: A,
    }
    impl<S: Simd, I: Io, A: Act<S::F>> Body<S> for Segment<'_, I, A> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) {
            let [start, planes, plane] = self.at;
            segment_in(s, self.io, start, planes, plane, self.blk, self.act);
        }
    }
    s.vectorize(Segment {
        io,
        at: [start, planes, plane],
        blk,
        act,
    });
}

/// [`segment`], inside the ISA's function.
#[cfg_attr(not(debug_assertions), inline(always))]
fn segment_in<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    start: usize,
    planes: usize,
    plane: usize,
    blk: Block,
    act: A,
) {
    let len = planes * plane;
    if len < LANES {
        let k = consts_at(s, start, start, planes, plane, blk);
        let v = norm(io.read(s, start), &k, act);
        io.write(start, len, v);
        return;
    }
    segment_body(s, io, start, planes, plane, blk, act);
}

/// [`segment`] of at least one vector, inside the ISA's function.
#[cfg_attr(not(debug_assertions), inline(always))]
fn segment_body<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    start: usize,
    planes: usize,
    plane: usize,
    blk: Block,
    act: A,
) {
    let len = planes * plane;
    let end = start + len;
    // The last `len % LANES` values: one whole vector ending at `end`, from the input.
    let body_end = end - len % LANES;
    let tail = (body_end != end).then(|| {
        let pos = end - LANES;
        norm(
            io.read(s, pos),
            &consts_at(s, start, pos, planes, plane, blk),
            act,
        )
    });
    if plan::nchw_normalize(plane) == Kernel::NchwNormalizeWidePlanes {
        wide_planes(s, io, start, body_end, plane, blk, act);
    } else {
        tiny_planes(s, io, start, body_end, plane, blk, act);
    }
    if let Some(v) = tail {
        io.write(end - LANES, LANES, v);
    }
}

/// Whole vectors `start..body_end` of planes of at least `LANES` values: each vector holds
/// at most one plane boundary. Every vector is computed with the constants of the plane
/// it starts in; the one that crosses into the next plane is computed with that plane's
/// constants too, and the lanes from the boundary on take the second result. The only
/// branch per vector is the (well predicted) test for the crossing, so short planes (7x7,
/// 14x14) run nearly as fast as long ones.
#[cfg_attr(not(debug_assertions), inline(always))]
fn wide_planes<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    start: usize,
    body_end: usize,
    plane: usize,
    blk: Block,
    act: A,
) {
    let cycle = blk.len();
    let mut kn = next(0, cycle);
    let mut cur = Consts::splat(s, blk.chan(0));
    let mut nxt = Consts::splat(s, blk.chan(kn));
    // Offset of the current plane's end from the current vector's start (>= 1).
    let mut bound = plane;
    let mut span = io.span(start, (body_end - start) / LANES);
    for j in 0..span.vectors() {
        let x = span.get(s, j);
        let mut y = affine(x, &cur);
        if bound <= LANES {
            if bound < LANES {
                y = y.select_from(affine(x, &nxt), s.splat(bound as f32));
            }
            kn = next(kn, cycle);
            cur = nxt;
            nxt = Consts::splat(s, blk.chan(kn));
            bound += plane;
        }
        bound -= LANES;
        span.set(j, act.apply(y));
    }
}

/// Whole vectors `start..body_end` of planes shorter than a vector: each vector's constants
/// are assembled boundary by boundary.
#[cfg_attr(not(debug_assertions), inline(always))]
fn tiny_planes<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    start: usize,
    body_end: usize,
    plane: usize,
    blk: Block,
    act: A,
) {
    let cycle = blk.len();
    let (mut k, mut pend) = (0, start + plane);
    let mut pos = start;
    let mut span = io.span(start, (body_end - start) / LANES);
    for j in 0..span.vectors() {
        let mut c = Consts::splat(s, blk.chan(k));
        while pend <= pos + LANES {
            k = next(k, cycle);
            if pend < pos + LANES {
                c = c.blend_from(Consts::splat(s, blk.chan(k)), pend - pos);
            }
            pend += plane;
        }
        span.set(j, norm(span.get(s, j), &c, act));
        pos += LANES;
    }
}
