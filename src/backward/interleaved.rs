//! NHWC backward (and NCHW with 1x1 planes, which is the same thing): channels in lanes.
//!
//! The buffer is seen as rows of positions, position `i` of a row holding one channel.
//! Few channels (`lcm(c, LANES)` below [`BACKWARD_BLOCK`](crate::plan::BACKWARD_BLOCK): c = 1, 3, 7, 16, 64…): rows
//! of `period = lcm(c, LANES)` values, whole vectors over the flat buffer, position `i`
//! holding channel `i % c`; the last pixels that do not fill a row are a second, short
//! region with rows of `c`. Many channels: rows of `c`, in blocks of at most
//! [`BACKWARD_BLOCK`](crate::plan::BACKWARD_BLOCK) channels. Per region, one sweep down the rows sums `dy` and
//! `dy·xhat` per position; the positions fold into channels, whose constants give a
//! pattern of per-position constants for the second sweep, which writes `dx` (with
//! running statistics `dx = a*dy` is written by the first sweep, and there is no second).
//! Blocks of few rows (1x1280x7x7, and 1x256x14x14 but at AVX2) need no second sweep
//! either: each strip writes its `dx` right after its sums, mostly from L1
//! ([`Sweep::SumsThenDx`]). The blocks' sums
//! go to `dgamma` and `dbeta` as each strip finishes. With batch statistics over more
//! rows a multiple of 4 KiB apart (at most [`BACKWARD_WIDE`] channels: 256x1024x1x1),
//! every block is summed first and `dx` then written over whole rows ([`whole_rows`]).
//! The `dx` sweeps of whole vectors go up from the last rows, which the sums read last:
//! those still in cache are read again first (the partial last vector of a row goes down,
//! and so does [`Sweep::SumsThenDx`] within each block of rows 4 KiB apart).
//!
//! A sweep (`sweep.rs`) goes down blocks of `CHUNK` rows (a `dx` sweep up them, from the
//! last); in each block, strips of up to 4 (AVX-512) or 2 vectors go down (`dx`: up) the
//! block's rows with their sums and constants in registers (the f32 sums are folded into
//! f64 at the end of each block). Sums kept in memory
//! instead, loaded and stored for every vector, ran at half the speed. The `dx` sweep of
//! rows a multiple of 4 KiB apart goes row by row instead (`sweep::dx_rows`): down a strip,
//! each load would follow a store at the same address modulo 4 KiB, and wait on it.

mod sweep;

use self::sweep::{Sweep, dx_rows, strip_max, sweep};
use super::BackwardParams;
use super::shared::{DxConsts, Grads, Inputs, Lanes, Mask, load_range};
use crate::normalize::io::Io;
use crate::plan::{BACKWARD_BLOCK as B, BACKWARD_WIDE};
use crate::simd::{Body, HALF, LANES, Simd, Vf32, Vf64};

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
    /// Positions `col0..col0 + width` of the `rows` rows of `c` channels.
    fn columns(rows: usize, c: usize, col0: usize, width: usize) -> Self {
        Region {
            base: 0,
            rows,
            stride: c,
            col0,
            width,
        }
    }

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

    /// Positions `0..width` get the constants of channels `k0..k0 + width`, 16 at a time
    /// in f64 vectors (as [`DxConsts::new`] computes one channel's): with `sums` (the
    /// block's [`Totals`] and `1/m`) the final ones, without them those of the first
    /// sweep (`cb = dg = 0`).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn block<S: Simd>(
        &mut self,
        s: S,
        p: &BackwardParams,
        k0: usize,
        width: usize,
        sums: Option<(&Totals, f64)>,
    ) {
        let mut j = 0;
        while j < width.min(B) {
            let n = (width - j).min(LANES);
            let r = k0 + j..k0 + j + n;
            let (mean, invstd, gamma) = (
                load_range(s, p.mean, r.clone()),
                load_range(s, p.invstd, r.clone()),
                load_range(s, p.gamma, r),
            );
            let ([g0, g1], [i0, i1]) = (gamma.widen(), invstd.widen());
            let a = S::D::narrow(g0 * i0, g1 * i1);
            let (cb, dg) = match sums {
                Some((t, inv)) => {
                    let (inv, dy, p) =
                        (s.splat64(inv), t.lanes(s, &t.dy, j), t.lanes(s, &t.dyxh, j));
                    (
                        S::D::narrow(dy[0] * inv, dy[1] * inv),
                        S::D::narrow(p[0] * inv, p[1] * inv),
                    )
                }
                None => (s.zero(), s.zero()),
            };
            let [km, kv, ka, kc, kn] = &mut self.k;
            for (out, v) in [
                (km, mean),
                (kv, invstd),
                (ka, a),
                (kc, cb),
                (kn, dg * s.splat(-1.0)),
            ] {
                if let Some(o) = out.get_mut(j..).and_then(|o| o.first_chunk_mut::<LANES>()) {
                    v.store(o);
                }
            }
            j += LANES;
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

/// Where the `dx` sweep over rows 4 KiB apart reads its per-position constants.
pub(super) trait ConstsAt {
    /// The constants of positions `i..i + LANES`.
    fn lanes<S: Simd>(&self, s: S, i: usize) -> Lanes<S::F>;
}

impl ConstsAt for Pattern {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn lanes<S: Simd>(&self, s: S, i: usize) -> Lanes<S::F> {
        Pattern::lanes(self, s, i)
    }
}

/// The final constants of up to [`BACKWARD_WIDE`] channels from channel 0, in 8 KiB: `cb`
/// and `-dg` kept, `mean`, `invstd` and `a = gamma*invstd` read from the parameters (the
/// f32 product of two f32 values is the f64 one rounded, as [`Pattern::block`] has it).
struct Finals<'a> {
    p: &'a BackwardParams<'a>,
    cb: [f32; BACKWARD_WIDE],
    ndg: [f32; BACKWARD_WIDE],
}

impl ConstsAt for Finals<'_> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn lanes<S: Simd>(&self, s: S, i: usize) -> Lanes<S::F> {
        let invstd = s.load_at(self.p.invstd, i);
        Lanes {
            mean: s.load_at(self.p.mean, i),
            invstd,
            a: s.load_at(self.p.gamma, i) * invstd,
            cb: s.load_at(&self.cb, i),
            ndg: s.load_at(&self.ndg, i),
        }
    }
}

/// Per-position f64 sums of a region: `Σdy` and `Σdy·xhat`.
struct Totals {
    dy: [f64; B],
    dyxh: [f64; B],
}

impl Totals {
    fn new() -> Self {
        Totals {
            dy: [0.0; B],
            dyxh: [0.0; B],
        }
    }

    /// Positions `i..i + LANES` of `v` (one of the two sums; zeros past `B`), as two
    /// f64 vectors.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn lanes<S: Simd>(&self, s: S, v: &[f64; B], i: usize) -> [S::D; 2] {
        [half(s, v, i), half(s, v, i + HALF)]
    }
}

/// `v[j..j + HALF]` as one f64 vector (zeros where that leaves `v`).
#[cfg_attr(not(debug_assertions), inline(always))]
fn half<S: Simd>(s: S, v: &[f64; B], j: usize) -> S::D {
    match v.get(j..).and_then(|r| r.first_chunk::<HALF>()) {
        Some(a) => s.load64(a),
        None => s.zero64(),
    }
}

/// Few channels: `period = lcm(c, LANES) < B` positions per row.
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
    // A row narrower than the widest strip is widened to a multiple of itself (still a
    // period of the channels) that one strip covers: rows of one vector (c = 16) paid
    // their per-row work for every vector and ran at half the speed of rows of four.
    let period = period.clamp(1, B);
    let period = period * ((strip_max::<S>() * LANES) / period).max(1);
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
    let mut ch = Totals::new();
    let mut t = Totals::new();
    for r in regions {
        if r.rows > 0 {
            let how = if k.batch { Sweep::Sums } else { Sweep::SumsDx };
            sweep(s, io, k, r, &pat, m, how, &mut t, None);
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
    let inv_count = 1.0 / k.d.count as f64;
    let chans = g.dgamma.iter_mut().zip(g.dbeta.iter_mut());
    for (j, ((dgamma, dbeta), (sdy, sdyxh))) in chans.zip(ch.dy.iter().zip(&ch.dyxh)).enumerate() {
        let sdyxh = *sdyxh;
        *dbeta = *sdy as f32;
        *dgamma = sdyxh as f32;
        if !k.batch {
            continue;
        }
        let kc = DxConsts::new(k.p, j, *sdy, sdyxh, inv_count);
        let mut i = j;
        while i < period {
            pat.set(i, kc);
            i += c;
        }
    }
    if k.batch {
        for r in regions {
            if r.rows > 0 {
                sweep(s, io, k, r, &pat, m, Sweep::Dx, &mut t, None);
            }
        }
    }
}

/// The blocks of `c` channels, `(first channel, width)`: of similar widths, whole
/// vectors but the last, at most `B`.
fn channel_blocks(c: usize) -> impl Iterator<Item = (usize, usize)> {
    let per = c
        .div_ceil(c.div_ceil(B))
        .next_multiple_of(LANES)
        .clamp(LANES, B);
    (0..c).step_by(per).map(move |k0| (k0, (c - k0).min(per)))
}

/// Many channels ([`Kernel::NhwcBackwardBlocks`]): blocks of at most `B` channels (of
/// similar widths), each summed over every row, then given its `dx`; with `fused`
/// ([`Kernel::NhwcBackwardBlocksFused`], batch statistics over few rows), each strip's
/// `dx` right after its sums. Its own function for the ISA
/// ([`Simd::vectorize`]): the blocks' constants are lane operations (each sweep is an
/// island of its own).
///
/// [`Kernel::NhwcBackwardBlocks`]: crate::plan::Kernel::NhwcBackwardBlocks
/// [`Kernel::NhwcBackwardBlocksFused`]: crate::plan::Kernel::NhwcBackwardBlocksFused
pub(super) fn blocks<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    m: M,
    g: Grads,
    fused: bool,
) {
    struct Blocks<'a, 'g, I, M> {
        io: &'a mut I,
        k: &'a Inputs<'a>,
        m: M,
        g: Grads<'g>,
        fused: bool,
    }
    impl<S: Simd, I: Io, M: Mask<S::F>> Body<S> for Blocks<'_, '_, I, M> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) {
            let Blocks { io, k, m, g, fused } = self;
            blocks_in(s, io, k, m, g, fused);
        }
    }
    s.vectorize(Blocks { io, k, m, g, fused });
}

/// [`blocks`], inside its function for the ISA.
#[cfg_attr(not(debug_assertions), inline(always))]
fn blocks_in<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    m: M,
    mut g: Grads,
    fused: bool,
) {
    let c = k.d.c;
    if c == 0 {
        return;
    }
    let rows = io.len() / c;
    let inv_count = 1.0 / k.d.count as f64;
    let mut pat = Pattern::new();
    // One `Totals` for every block: each sweep writes the positions it sums (no 4 KiB
    // cleared and returned per block).
    let mut t = Totals::new();
    for (k0, width) in channel_blocks(c) {
        let r = Region::columns(rows, c, k0, width);
        pat.block(s, k.p, k0, width, None);
        let how = match (k.batch, fused) {
            (true, true) => Sweep::SumsThenDx,
            (true, false) => Sweep::Sums,
            _ => Sweep::SumsDx,
        };
        // The block's sums go to `dbeta` and `dgamma` as the sweep finishes each strip.
        let out = g.range(k0, width);
        sweep(s, io, k, r, &pat, m, how, &mut t, Some(out));
        if k.batch && !fused {
            // Batch statistics: the constants from the sums, then a second sweep.
            pat.block(s, k.p, k0, width, Some((&t, inv_count)));
            sweep(s, io, k, r, &pat, m, Sweep::Dx, &mut t, None);
        }
    }
}

/// Batch statistics over rows a multiple of 4 KiB apart, at most [`BACKWARD_WIDE`]
/// channels ([`Kernel::NhwcBackwardWholeRows`]): each block of channels summed as in
/// [`blocks`], its final constants kept
/// for every channel ([`Finals`]), then one `dx` sweep over whole rows, from the last.
/// Block by block,
/// each row's loads followed the previous row's stores to the same addresses modulo
/// 4 KiB a block's width earlier, and waited on them: a plain intrinsics loop of
/// 256x1024x1x1 at AVX-512 took 168-190 µs so and 148-160 µs with whole rows. Its own
/// function for the ISA ([`Simd::vectorize`]), whose frame alone holds the 8 KiB of
/// [`Finals`] (kept small: the crate runs in a 64 KiB stack).
///
/// [`Kernel::NhwcBackwardWholeRows`]: crate::plan::Kernel::NhwcBackwardWholeRows
pub(super) fn whole_rows<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    m: M,
    g: Grads,
) {
    struct Wide<'a, 'g, I, M> {
        io: &'a mut I,
        k: &'a Inputs<'a>,
        m: M,
        g: Grads<'g>,
    }
    impl<S: Simd, I: Io, M: Mask<S::F>> Body<S> for Wide<'_, '_, I, M> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run(self, s: S) {
            let Wide { io, k, m, mut g } = self;
            let c = k.d.c.min(BACKWARD_WIDE);
            let rows = io.len() / c.max(1);
            let inv_count = 1.0 / k.d.count as f64;
            let (mut pat, mut t) = (Pattern::new(), Totals::new());
            let mut all = Finals {
                p: k.p,
                cb: [0.0; BACKWARD_WIDE],
                ndg: [0.0; BACKWARD_WIDE],
            };
            for (k0, width) in channel_blocks(c) {
                let r = Region::columns(rows, c, k0, width);
                pat.block(s, k.p, k0, width, None);
                let out = g.range(k0, width);
                sweep(s, io, k, r, &pat, m, Sweep::Sums, &mut t, Some(out));
                pat.block(s, k.p, k0, width, Some((&t, inv_count)));
                let [.., cb, ndg] = &pat.k;
                for (to, from) in [(&mut all.cb, cb), (&mut all.ndg, ndg)] {
                    if let (Some(to), Some(from)) = (to.get_mut(k0..k0 + width), from.get(..width))
                    {
                        to.copy_from_slice(from);
                    }
                }
            }
            dx_rows(s, io, k, Region::columns(rows, c, 0, c), &all, m, &mut t);
        }
    }
    s.vectorize(Wide { io, k, m, g });
}
