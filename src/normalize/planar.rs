//! NCHW normalize (planes of `h*w >= 2` values): one flat stream of whole vectors over
//! consecutive planes.
//!
//! Channels go in blocks of [`PBLOCK`] (a whole number of vectors): a block's scales are
//! computed right before its planes are streamed, so that f64 work overlaps the memory
//! traffic of the stream, and each block's planes of one sample form a *segment* of whole
//! vectors. Inside a segment:
//!
//! - long planes (at least [`LONG`] values): the channel's constants are splat once and
//!   the plane streams through one subtract and one fused multiply-add per vector; the
//!   one vector that crosses into the next plane takes its lanes' constants from both
//!   channels with a select;
//! - short planes (7x7, 14x14: a vector holds at most one boundary): every vector is
//!   computed with the constants of the plane it starts in and of the next one, and the
//!   lanes from the boundary on take the second result — no branch per plane, so short
//!   planes do not fall off a cliff;
//! - planes shorter than a vector: the constants of each vector are assembled lane range
//!   by lane range.
//!
//! A segment that does not end on a whole vector ends with one whole vector that ends
//! exactly at the segment's end, computed from the input before anything else is written
//! (so it is right in place too) and stored last.

use super::{Act, Block, Consts, Io, Src, affine, norm, with_block};
use crate::simd::{LANES, select_from, splat};

/// Channels whose constants are computed together, a multiple of `LANES`.
pub(crate) const PBLOCK: usize = 2 * LANES;

/// Planes at least this long stream in runs with splat constants.
const LONG: usize = 256;

/// Normalizes `n` samples of `c` planes of `plane >= 2` values.
pub(super) fn run<I: Io, A: Act>(io: &mut I, n: usize, c: usize, plane: usize, p: &Src, act: A) {
    channels(io, n, c, plane, 0..c, p, act);
}

/// Normalizes channels `ks` of every sample.
pub(crate) fn channels<I: Io, A: Act>(
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
        with_block::<PBLOCK, _>(p, ks, |blk| segment(io, 0, n * c, plane, blk, act));
        return;
    }
    let mut k0 = ks.start;
    while k0 < ks.end {
        let k1 = ks.end.min(k0 + PBLOCK);
        with_block::<PBLOCK, _>(p, k0..k1, |blk| {
            for i in 0..n {
                segment(io, (i * c + k0) * plane, k1 - k0, plane, blk, act);
            }
        });
        k0 = k1;
    }
}

/// The next channel of a segment's cycle.
#[inline(always)]
fn next(k: usize, cycle: usize) -> usize {
    if k + 1 == cycle { 0 } else { k + 1 }
}

/// The constants of the vector at `pos` of a segment of `planes` planes from `start`,
/// plane `j` having channel `j % blk.len()` of the block.
fn consts_at(start: usize, pos: usize, planes: usize, plane: usize, blk: Block) -> Consts {
    let end = start + planes * plane;
    let j = (pos - start) / plane;
    let mut k = j % blk.len();
    let mut c = Consts::splat(blk.chan(k));
    let mut bound = start + (j + 1) * plane;
    while bound < end && bound < pos + LANES {
        k = next(k, blk.len());
        c = c.blend_from(Consts::splat(blk.chan(k)), bound - pos);
        bound += plane;
    }
    c
}

/// Normalizes `planes` consecutive planes of `plane` values from `start`; plane `j` has
/// channel `j % blk.len()` of the block (not empty).
fn segment<I: Io, A: Act>(
    io: &mut I,
    start: usize,
    planes: usize,
    plane: usize,
    blk: Block,
    act: A,
) {
    let len = planes * plane;
    let end = start + len;
    if len == 0 || blk.len() == 0 {
        return;
    }
    if len < LANES {
        let k = consts_at(start, start, planes, plane, blk);
        let v = norm(io.read(start), &k, act);
        io.write(start, len, v);
        return;
    }
    // The last `len % LANES` values: one whole vector ending at `end`, from the input.
    let body_end = end - len % LANES;
    let tail = (body_end != end).then(|| {
        let pos = end - LANES;
        norm(
            io.read(pos),
            &consts_at(start, pos, planes, plane, blk),
            act,
        )
    });
    if plane >= LONG {
        long_planes(io, start, body_end, plane, blk, act);
    } else if plane >= LANES {
        short_planes(io, start, body_end, plane, blk, act);
    } else {
        tiny_planes(io, start, body_end, plane, blk, act);
    }
    if let Some(v) = tail {
        io.write(end - LANES, LANES, v);
    }
}

/// Whole vectors `start..body_end` of planes of at least [`LONG`] values: runs with splat
/// constants, one select per plane boundary.
fn long_planes<I: Io, A: Act>(
    io: &mut I,
    start: usize,
    body_end: usize,
    plane: usize,
    blk: Block,
    act: A,
) {
    let cycle = blk.len();
    // `pos` is the next vector, `k` the channel of the plane holding it, ending at `pend`.
    let (mut pos, mut k, mut pend) = (start, 0, start + plane);
    while pos < body_end {
        let run = (pend.min(body_end) - pos) / LANES;
        if run > 0 {
            let c = Consts::splat(blk.chan(k));
            io.map::<1>(pos, run, |_, [x]| [norm(x, &c, act)]);
            pos += run * LANES;
        }
        if pos >= body_end {
            break;
        }
        if pos == pend {
            k = next(k, cycle);
            pend += plane;
            continue;
        }
        // The vector that starts in this plane and ends in the next.
        let c = Consts::splat(blk.chan(k));
        k = next(k, cycle);
        let c = c.blend_from(Consts::splat(blk.chan(k)), pend - pos);
        pend += plane;
        io.map::<1>(pos, 1, |_, [x]| [norm(x, &c, act)]);
        pos += LANES;
    }
}

/// Whole vectors `start..body_end` of planes of `LANES..LONG` values: each vector holds at
/// most one plane boundary; it is computed with both planes' constants and the lanes from
/// the boundary on take the second result.
fn short_planes<I: Io, A: Act>(
    io: &mut I,
    start: usize,
    body_end: usize,
    plane: usize,
    blk: Block,
    act: A,
) {
    let cycle = blk.len();
    let mut kn = next(0, cycle);
    let mut cur = Consts::splat(blk.chan(0));
    let mut nxt = Consts::splat(blk.chan(kn));
    // Offset of the next boundary from the current vector's start (>= 1), as an integer
    // and in every lane.
    let mut bound = plane;
    let mut bv = splat(plane as f32);
    let (step, back) = (splat(LANES as f32), splat(plane as f32));
    io.map::<1>(start, (body_end - start) / LANES, |_, [x]| {
        let y = select_from(bv, affine(x, &cur), affine(x, &nxt));
        if bound <= LANES {
            cur = nxt;
            kn = next(kn, cycle);
            nxt = Consts::splat(blk.chan(kn));
            bound += plane;
            bv += back;
        }
        bound -= LANES;
        bv -= step;
        [act.apply(y)]
    });
}

/// Whole vectors `start..body_end` of planes shorter than a vector: each vector's constants
/// are assembled boundary by boundary.
fn tiny_planes<I: Io, A: Act>(
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
    io.map::<1>(start, (body_end - start) / LANES, |_, [x]| {
        let mut c = Consts::splat(blk.chan(k));
        while pend <= pos + LANES {
            k = next(k, cycle);
            if pend < pos + LANES {
                c = c.blend_from(Consts::splat(blk.chan(k)), pend - pos);
            }
            pend += plane;
        }
        pos += LANES;
        [norm(x, &c, act)]
    });
}
