//! NHWC normalize (and NCHW with 1x1 planes, which is the same thing): rows of `c`
//! interleaved channels, so lane `i` of a vector at flat position `p` has channel
//! `(p + i) % c`.
//!
//! - Few channels (`lcm(c, LANES)` at most `ACC` vectors: c = 1, 2, 3, 4, 6, 8, 12, 16, 32,
//!   64…): the constants repeat every `lcm(c, LANES)` values, so a *tile* of that many
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

use super::{Act, Block, Chan, Consts, Io, Src, array, norm};
use crate::simd::{LANES, MAX_ACC, Simd};

/// Channels whose scales one block keeps on the stack (4 KiB), a multiple of `LANES`.
pub(crate) const BLOCK: usize = 1024;

/// Most vectors in a stack-held tile: channel counts below `2 * LANES` whose period is
/// too long for the registers.
pub(crate) const TILE_MAX: usize = 2 * LANES;

/// Normalizes rows of `c` channels.
pub(super) fn run<S: Simd, I: Io, A: Act<S::F>>(s: S, io: &mut I, c: usize, p: &Src, act: A) {
    if c == 0 || io.len() == 0 {
        return;
    }
    let t = lcm(c, LANES) / LANES;
    let regs = TILE_REGS.min(S::ACC * 4);
    if t <= regs {
        // The largest multiple of the period that fits the registers.
        match (regs / t) * t {
            1 => tile_reg::<1, S, I, A>(s, io, c, p, act),
            2 => tile_reg::<2, S, I, A>(s, io, c, p, act),
            3 => tile_reg::<3, S, I, A>(s, io, c, p, act),
            4 => tile_reg::<4, S, I, A>(s, io, c, p, act),
            5 => tile_reg::<5, S, I, A>(s, io, c, p, act),
            6 => tile_reg::<6, S, I, A>(s, io, c, p, act),
            7 => tile_reg::<7, S, I, A>(s, io, c, p, act),
            _ => tile_reg::<TILE_REGS, S, I, A>(s, io, c, p, act),
        }
    } else if c < 2 * LANES {
        tile_mem(s, io, c, t, p, act);
    } else {
        rows(s, io, c, p, act);
    }
}

/// Most vectors of constants a register tile holds ([`tile_reg`]); an ISA with fewer
/// registers holds fewer (`4 * Simd::ACC`).
const TILE_REGS: usize = MAX_ACC;

/// Fills the constants of positions `0..m.len()` of the flat stream, position `i` having
/// channel `i % c` (`1 <= c`; the slices have one length). Each channel's scale is computed
/// once, then copied to every position it holds.
fn pattern(c: usize, p: &Src, m: &mut [f32], s: &mut [f32], b: &mut [f32]) {
    let n = m.len().min(s.len()).min(b.len());
    let c = c.clamp(1, n.max(1));
    p.scales(0, &mut s[..c.min(n)]);
    for i in c..n {
        s[i] = s[i - c];
    }
    for (i, (m, b)) in m.iter_mut().zip(b.iter_mut()).enumerate() {
        *m = p.mean.get(i % c).copied().unwrap_or(0.0);
        *b = p.beta.get(i % c).copied().unwrap_or(0.0);
    }
}

/// Few channels: `T <= ACC` vectors of constants (a whole number of periods) in registers.
fn tile_reg<const T: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    p: &Src,
    act: A,
) {
    s.vectorize(|| tile_reg_in::<T, S, I, A>(s, io, c, p, act))
}

/// [`tile_reg`], inside the ISA's function.
#[inline(always)]
fn tile_reg_in<const T: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    p: &Src,
    act: A,
) {
    const N: usize = TILE_REGS * LANES;
    let (mut m, mut sv, mut b) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
    let n = (T * LANES).min(N);
    pattern(c, p, &mut m[..n], &mut sv[..n], &mut b[..n]);
    let (mc, _) = m.as_chunks::<LANES>();
    let (sc, _) = sv.as_chunks::<LANES>();
    let (bc, _) = b.as_chunks::<LANES>();
    let zero = [0.0f32; LANES];
    let pat: [Consts<S::F>; T] = array(Consts::splat(s, Chan::ZERO), |v| {
        Consts::from_arrays(
            s,
            mc.get(v).unwrap_or(&zero),
            sc.get(v).unwrap_or(&zero),
            bc.get(v).unwrap_or(&zero),
        )
    });
    let rows = io.len() / (T * LANES);
    io.map::<S, T>(s, 0, rows, |_, xs| {
        array(s.zero(), |i| norm(xs[i], &pat[i], act))
    });
    leftover(s, io, rows * T * LANES, &pat, act);
}

/// Odd channel counts: a tile of `t <= TILE_MAX` vectors on the stack, loaded vector by
/// vector.
fn tile_mem<S: Simd, I: Io, A: Act<S::F>>(s: S, io: &mut I, c: usize, t: usize, p: &Src, act: A) {
    const N: usize = TILE_MAX * LANES;
    let (mut m, mut sv, mut b) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
    let n = (t * LANES).min(N);
    pattern(c, p, &mut m[..n], &mut sv[..n], &mut b[..n]);
    s.vectorize(|| tile_mem_in(s, io, &m[..n], &sv[..n], &b[..n], act))
}

/// [`tile_mem`] with its pattern of constants, inside the ISA's function.
#[inline(always)]
fn tile_mem_in<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    m: &[f32],
    sv: &[f32],
    b: &[f32],
    act: A,
) {
    let (mc, _) = m.as_chunks::<LANES>();
    let (sc, _) = sv.as_chunks::<LANES>();
    let (bc, _) = b.as_chunks::<LANES>();
    let zero = [0.0f32; LANES];
    let at = |j: usize| {
        Consts::from_arrays(
            s,
            mc.get(j).unwrap_or(&zero),
            sc.get(j).unwrap_or(&zero),
            bc.get(j).unwrap_or(&zero),
        )
    };
    let vectors = io.len() / LANES;
    let mut j = 0;
    io.map::<S, 1>(s, 0, vectors, |_, [x]| {
        let y = norm(x, &at(j), act);
        j = if j + 1 == mc.len() { 0 } else { j + 1 };
        [y]
    });
    // The last partial vector continues the pattern where the stream stopped.
    let pos = vectors * LANES;
    if pos < io.len() {
        let v = norm(io.read(s, pos), &at(j), act);
        io.write(pos, LANES, v);
    }
}

/// What is left after the whole tiles: it starts a tile, so vector `v` uses `pat[v]`.
#[inline(always)]
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
            io.map::<S, 1>(s, pos, 1, |_, [x]| [norm(x, k, act)]);
        } else {
            let v = norm(io.read(s, pos), k, act);
            io.write(pos, LANES, v);
        }
        pos += LANES;
    }
}

/// Many channels (`c > LANES`): row by row, in blocks of at most [`BLOCK`] channels.
fn rows<S: Simd, I: Io, A: Act<S::F>>(s: S, io: &mut I, c: usize, p: &Src, act: A) {
    let nrows = io.len() / c;
    let mut scale = [0.0f32; BLOCK];
    let mut k0 = 0;
    while k0 < c {
        // Every block is at least one vector wide.
        let width = match c - k0 {
            w if w <= BLOCK => w,
            w if w - BLOCK < LANES => BLOCK - LANES,
            _ => BLOCK,
        };
        let scale = &mut scale[..width];
        let mut done = 0;
        let tiles = nrows.saturating_mul(c) <= CACHED
            && !(c * 4).is_multiple_of(2048)
            && nrows >= TILE_R
            && width.is_multiple_of(tile_v::<S>() * LANES);
        if tiles {
            done = if tile_v::<S>() == 4 {
                block_tiles::<4, TILE_R, S, I, A>(s, io, c, nrows, k0, p, scale, act)
            } else {
                block_tiles::<2, TILE_R, S, I, A>(s, io, c, nrows, k0, p, scale, act)
            };
        } else {
            p.scales(k0, scale);
        }
        let blk = Block {
            mean: p.mean.get(k0..k0 + width).unwrap_or(&[]),
            scale,
            beta: p.beta.get(k0..k0 + width).unwrap_or(&[]),
        };
        if done == 0 && nrows.saturating_mul(c) <= STREAMED {
            done = match rows_per_group(c) {
                4 => block_rows::<4, S, I, A>(s, io, c, nrows, k0, blk, act),
                2 => block_rows::<2, S, I, A>(s, io, c, nrows, k0, blk, act),
                _ => 0,
            };
        }
        // The last rows that do not fill a group, one at a time.
        block_rows::<1, S, I, A>(s, io, c, nrows - done, k0 + done * c, blk, act);
        k0 += width;
    }
}

/// Rows taken together: each vector of constants is loaded once for the group, which
/// keeps the loads per output vector near one. Rows whose distance is a multiple of 4 KiB
/// compete for the same cache sets (and alias in the store-to-load check), so those
/// strides get fewer rows per group.
fn rows_per_group(c: usize) -> usize {
    match (c * 4) % 4096 {
        0 => 2,
        2048 => 2,
        _ => 4,
    }
}

/// Tensors of more than this many values come from memory: one row at a time keeps the
/// access pattern a plain stream, which the prefetchers follow best (several rows at
/// once lose more to that than they gain on the constants' loads).
const STREAMED: usize = 512 * 1024;

/// Tensors of at most this many values (and as many again in `y`) stay in cache while a
/// tile of rows is revisited: there, loading the constants, not memory, is the limit.
const CACHED: usize = 64 * 1024;

/// Vectors of channels whose constants a tile keeps in registers.
fn tile_v<S: Simd>() -> usize {
    if S::ACC >= 8 { 4 } else { 2 }
}

/// Rows per tile.
const TILE_R: usize = 8;

/// `R` rows at a time, in tiles of `V` vectors of channels (`V * LANES` divides the
/// block's width, at least `R` rows): a tile's constants are loaded once into registers
/// and used for all `R` rows. The block's scales are computed tile by tile during the
/// first `R` rows, inline, so that their f64 divisions overlap the stream. Returns how
/// many rows it did (a multiple of `R`); the scales are all computed.
#[allow(clippy::too_many_arguments)]
fn block_tiles<const V: usize, const R: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    nrows: usize,
    k0: usize,
    p: &Src,
    scale: &mut [f32],
    act: A,
) -> usize {
    s.vectorize(|| block_tiles_in::<V, R, S, I, A>(s, io, c, nrows, k0, p, scale, act))
}

/// [`block_tiles`], inside the ISA's function.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block_tiles_in<const V: usize, const R: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    nrows: usize,
    k0: usize,
    p: &Src,
    scale: &mut [f32],
    act: A,
) -> usize {
    let tiles = scale.len() / (V * LANES);
    let zero = [0.0f32; LANES];
    let (mc, _) = p.mean.get(k0..).unwrap_or(&[]).as_chunks::<LANES>();
    let (bc, _) = p.beta.get(k0..).unwrap_or(&[]).as_chunks::<LANES>();
    let groups = nrows / R;
    for g in 0..groups {
        let first = g == 0;
        io.map_tile::<S, V, R, [Consts<S::F>; V]>(
            s,
            g * R * c + k0,
            c,
            tiles,
            |j| {
                if first {
                    let (sc, _) = scale.as_chunks_mut::<8>();
                    for t in 0..V * LANES / 8 {
                        let i = j * (V * LANES / 8) + t;
                        if let Some(s) = sc.get_mut(i) {
                            *s = p.scales8(k0 + i * 8);
                        }
                    }
                }
                let (sc, _) = scale.as_chunks::<LANES>();
                array(Consts::splat(s, Chan::ZERO), |i| {
                    let v = j * V + i;
                    Consts::from_arrays(
                        s,
                        mc.get(v).unwrap_or(&zero),
                        sc.get(v).unwrap_or(&zero),
                        bc.get(v).unwrap_or(&zero),
                    )
                })
            },
            |k, xs| array(s.zero(), |i| norm(xs[i], &k[i], act)),
        );
    }
    groups * R
}

/// `R` rows at a time; returns how many rows it did (a multiple of `R`).
#[allow(clippy::too_many_arguments)]
fn block_rows<const R: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    nrows: usize,
    k0: usize,
    blk: Block,
    act: A,
) -> usize {
    s.vectorize(|| block_rows_in::<R, S, I, A>(s, io, c, nrows, k0, blk, act))
}

/// [`block_rows`], inside the ISA's function.
#[inline(always)]
fn block_rows_in<const R: usize, S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    nrows: usize,
    k0: usize,
    blk: Block,
    act: A,
) -> usize {
    let width = blk.len();
    let nv = width / LANES;
    let (m, _) = blk.mean.as_chunks::<LANES>();
    let (sc, _) = blk.scale.as_chunks::<LANES>();
    let (b, _) = blk.beta.as_chunks::<LANES>();
    let zero = [0.0f32; LANES];
    // The block's last LANES channels, for the vector that ends each row's block.
    let tail = (!width.is_multiple_of(LANES)).then(|| blk.consts_at(s, width - LANES));
    let groups = nrows / R;
    for g in 0..groups {
        let base = g * R * c + k0;
        let last = base + width - LANES;
        // Read before anything of these rows is written (the vectors overlap).
        let t: Option<[S::F; R]> =
            tail.map(|k| array(s.zero(), |r| norm(io.read(s, last + r * c), &k, act)));
        io.map_rows::<S, R>(s, base, c, nv, |j, xs| {
            let k = Consts::from_arrays(
                s,
                m.get(j).unwrap_or(&zero),
                sc.get(j).unwrap_or(&zero),
                b.get(j).unwrap_or(&zero),
            );
            array(s.zero(), |r| norm(xs[r], &k, act))
        });
        if let Some(t) = t {
            for (r, v) in t.into_iter().enumerate() {
                io.write(last + r * c, LANES, v);
            }
        }
    }
    groups * R
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Least common multiple, saturating (only compared against small bounds).
fn lcm(a: usize, b: usize) -> usize {
    (a / gcd(a, b)).saturating_mul(b)
}
