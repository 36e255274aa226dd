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
//!   written). Channels are taken in blocks of at most [`NORM_BLOCK`](crate::plan::NORM_BLOCK), so the constants stay on
//!   the stack, and rows a few at a time so that each vector of constants serves several
//!   rows: column by column over 2 or 4 rows for large tensors, or, for tensors that stay
//!   in cache, register tiles of `TILE_V` vectors of channels over `TILE_R` rows, whose
//!   scales are computed during the first rows so their f64 divisions overlap the stream.
//! - Strided rows (starts `pitch > c` values apart, the values between them never
//!   written): with `c >= LANES` and one pitch for input and output, the many-channel row
//!   kernels with the pitch as the row distance; with fewer channels, one pitch and a
//!   short period, the flat stream of whole vectors stored with a mask that skips the
//!   gaps ([`gap_tiles`]); otherwise ([`row_vectors`]) each row a vector at a time, the
//!   last vector stored partially.

mod rows;

use self::rows::{row_vectors, rows};
use super::act::{Act, norm};
use super::consts::{Block, Chan, Consts, Src};
use super::io::{Io, Span};
use crate::plan::{self, Kernel, NhwcNormalize, TILE_MAX, TILE_REGS};
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
            NhwcNormalize::Tile(Kernel::NhwcNormalizeGapTiles { vectors }) => {
                gap_tiles(s, io, c, xp, vectors, p, act)
            }
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

/// Strided rows of `c < LANES` channels `pitch` values apart in both buffers, a period of
/// `t = lcm(pitch, LANES) / LANES <= TILE_MAX` vectors: the flat stream of whole vectors
/// as for contiguous rows of `pitch` channels, each vector stored with a mask of the
/// lanes whose position in their row (`i % pitch`) is below `c`, so the gaps between rows
/// are never written (another thread may own them, through the C ABI). Row by row, a
/// vector and a partial store per row ran at a tenth of the contiguous speed with 3
/// channels. Its own function for the ISA ([`Simd::vectorize`]).
fn gap_tiles<S: Simd, I: Io, A: Act<S::F>>(
    s: S,
    io: &mut I,
    c: usize,
    pitch: usize,
    t: usize,
    p: &Src,
    act: A,
) {
    struct Gaps<'a, I, A> {
        io: &'a mut I,
        c: usize,
        pitch: usize,
        t: usize,
        p: &'a Src<'a>,
        act: A,
    }
    impl<S: Simd, I: Io, A: Act<S::F>> Body<S> for Gaps<'_, I, A> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) {
            const N: usize = TILE_MAX * LANES;
            let Gaps {
                io,
                c,
                pitch,
                t,
                p,
                act,
            } = self;
            let (c, pitch) = (c.clamp(1, LANES), pitch.max(1));
            let n = (t * LANES).min(N);
            let (mut m, mut sc, mut b) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
            // Lane `i` of the period is position `i % pitch` of its row: a channel below
            // `c`, a gap (zero constants, never stored) from `c` on.
            let mut at = [0.0f32; N];
            let mut scale = [0.0f32; LANES];
            p.scales(s, 0, &mut scale[..c]);
            for i in 0..n {
                let k = i % pitch;
                at[i] = k as f32;
                if k < c {
                    m[i] = p.mean.get(k).copied().unwrap_or(0.0);
                    sc[i] = scale[k];
                    b[i] = p.beta.get(k).copied().unwrap_or(0.0);
                }
            }
            let blk = Block {
                mean: &m[..n],
                scale: &sc[..n],
                beta: &b[..n],
            };
            let lim = s.splat(c as f32);
            let vectors = io.len() / LANES;
            let mut j = 0;
            {
                let mut span = io.span(0, vectors);
                for v in 0..span.vectors() {
                    let k = blk.consts_at(s, j * LANES);
                    let y = norm(span.get(s, v), &k, act);
                    span.set_where(v, y, s.load_at(&at, j * LANES), lim);
                    j = if j + 1 == t { 0 } else { j + 1 };
                }
            }
            // The last partial vector continues the pattern where the stream stopped.
            let i = vectors * LANES;
            if i < io.len() {
                let k = blk.consts_at(s, j * LANES);
                let y = norm(io.read(s, i), &k, act);
                io.write_where(i, y, s.load_at(&at, j * LANES), lim);
            }
        }
    }
    s.vectorize(Gaps {
        io,
        c,
        pitch,
        t,
        p,
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
