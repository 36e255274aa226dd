//! The kernel plan: which kernel runs an operation on a shape, as pure functions of
//! (operation, layout, sizes, instruction set). Every size threshold that picks a kernel
//! lives here; the kernels dispatch on what these functions return, and the tests in this
//! file pin which kernel each shape of the benchmark grid gets.

use crate::shape::{Dims, Layout};
use crate::simd::{Isa, LANES, MAX_ACC};
use crate::stats::{CHUNK, Method};

/// What is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Per-channel statistics by a method (the two differ only on short NCHW planes).
    Stats(Method),
    /// Normalize with the scales computed from the variance.
    Normalize,
    /// Normalize with prepared scales ([`crate::Prepared`]).
    NormalizePrepared,
    /// The training forward: statistics, then normalize.
    Train,
    /// The backward pass: the sums `Σdy`, `Σdy·xhat`, then `dx`; `batch` when the forward
    /// used batch statistics (the `dx` then needs the sums).
    Backward {
        /// [`crate::ForwardStats::Batch`].
        batch: bool,
    },
}

/// A kernel, named as XNNPACK names its micro-kernels: layout, operation, tiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// NCHW planes of at least [`SHORT_PLANE`] values: lanes along each plane, `Simd::ACC`
    /// accumulators stepping in lockstep.
    NchwStatsLongPlanes,
    /// Single pass on NCHW channels of at least [`BLOCKED_COUNT`] values in planes of at
    /// least [`SHORT_PLANE`]: as [`Kernel::NchwStatsLongPlanes`], shifted sums in blocks
    /// of up to 16 steps instead of Welford's update.
    NchwStatsLongPlanesBlocks,
    /// NCHW planes shorter than [`SHORT_PLANE`] (7x7, 14x14): each plane along the lanes
    /// (single pass: shifted sums about a pivot; two-pass: an f64 sum, then the squares
    /// about the mean), 16 channels' lanes added at once.
    NchwStatsShortPlanesFlat,
    /// Rows of interleaved channels (NHWC, or NCHW 1x1) whose period `lcm(c, 16)` fits a
    /// register block: full vectors over the flat buffer, `period` positions per row.
    NhwcStatsTiled {
        /// Positions per tile row (a multiple of `c` and of 16).
        period: usize,
    },
    /// Many interleaved channels: super-blocks of up to 256 channels, swept tile by tile.
    NhwcStatsSuperBlocks,
    /// NCHW planes of at least a vector: one stream, one boundary blend per plane.
    NchwNormalizeWidePlanes,
    /// NCHW planes shorter than a vector: each vector's constants assembled per plane.
    NchwNormalizeTinyPlanes,
    /// Interleaved channels whose period fits the registers: `vectors` vectors of
    /// constants held in registers over the flat stream.
    NhwcNormalizeTileRegs {
        /// Vectors of constants (a whole number of periods).
        vectors: usize,
    },
    /// Interleaved channels below 32 with a long period: the period's `vectors` vectors
    /// of constants on the stack.
    NhwcNormalizeTileStack {
        /// Vectors in one period.
        vectors: usize,
    },
    /// Many channels, a tensor that stays in cache: register tiles of `v` vectors of
    /// channels over `r` rows, the scales computed inside the first rows.
    NhwcNormalizeRowTiles {
        /// Vectors of channels per tile.
        v: usize,
        /// Rows per tile.
        r: usize,
    },
    /// Many channels: `rows` rows at a time, column by column.
    NhwcNormalizeRowGroups {
        /// Rows per group.
        rows: usize,
    },
    /// Many channels, a tensor from memory: one row at a time, a plain stream.
    NhwcNormalizeRows,
    /// Strided rows of few channels, or with different input and output pitches: each
    /// row a vector at a time, its last vector stored partially.
    NhwcNormalizeRowVectors,
    /// Strided rows of fewer than `LANES` channels, one pitch, `lcm(pitch, LANES)` at
    /// most `TILE_MAX` vectors: the flat stream of whole vectors, each stored with a mask
    /// that leaves the gaps between rows unwritten.
    NhwcNormalizeGapTiles {
        /// Vectors in one period.
        vectors: usize,
    },
    /// Training forward on NCHW: statistics, then normalize, `channels` channels at a
    /// time, so a group is read from memory once and normalized from cache.
    NchwTrainFused {
        /// Channels per group.
        channels: usize,
    },
    /// Training forward: all statistics, then normalize (NHWC, or channels too large to
    /// stay in cache).
    TrainStatsThenNormalize,
    /// Backward on NCHW planes of 2 or more values: groups of channels that fit in
    /// [`FUSE_BYTES`] (at most 16), their sums over their planes in memory order, then
    /// their `dx` over the same planes while they are in cache (with running statistics,
    /// one pass: `dx` does not need the sums).
    NchwBackwardFused,
    /// Backward on NCHW planes shorter than [`SHORT_PLANE`] whose groups of 16 channels
    /// fit in [`FUSE_BYTES`]: each image's 16 planes read flat as whole vectors (a plane's
    /// first and last vectors masked to its lanes), the channels' sums folded 16 at a time
    /// through a transpose, then their `dx` over the same vectors.
    NchwBackwardShort16,
    /// Backward on interleaved channels whose period `lcm(c, 16)` is below
    /// [`BACKWARD_BLOCK`]: rows of `period` positions over the flat buffer (widened by the
    /// kernel to a multiple as wide as its widest strip), per-position sums, then `dx`.
    NhwcBackwardTiled {
        /// Positions per tile row (a multiple of `c` and of 16).
        period: usize,
    },
    /// Backward on many interleaved channels: blocks of at most [`BACKWARD_BLOCK`]
    /// channels, each swept down every row for its sums, then (batch statistics) for `dx`.
    NhwcBackwardBlocks,
    /// [`Kernel::NhwcBackwardBlocks`] with batch statistics over few rows (at most
    /// [`FUSED_ROWS`]; `CHUNK` with AVX2): each strip of a block writes its `dx` right
    /// after its sums, from its last rows back, which are still in L1.
    NhwcBackwardBlocksFused,
    /// Batch statistics over more than `CHUNK` rows a multiple of 4 KiB apart, at most
    /// [`BACKWARD_WIDE`] channels: every block's sums first, then one `dx` sweep over
    /// whole rows (block by block, each row's loads would wait on the stores of the row
    /// before to the same addresses modulo 4 KiB).
    NhwcBackwardWholeRows,
}

impl core::fmt::Display for Kernel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Kernel::NchwStatsLongPlanes => f.write_str("nchw_stats_long_planes"),
            Kernel::NchwStatsLongPlanesBlocks => f.write_str("nchw_stats_long_planes_blocks"),
            Kernel::NchwStatsShortPlanesFlat => f.write_str("nchw_stats_short_planes_flat"),
            Kernel::NhwcStatsTiled { period } => write!(f, "nhwc_stats_tiled_p{period}"),
            Kernel::NhwcStatsSuperBlocks => f.write_str("nhwc_stats_super_blocks"),
            Kernel::NchwNormalizeWidePlanes => f.write_str("nchw_normalize_wide_planes"),
            Kernel::NchwNormalizeTinyPlanes => f.write_str("nchw_normalize_tiny_planes"),
            Kernel::NhwcNormalizeTileRegs { vectors } => {
                write!(f, "nhwc_normalize_tile_regs_{vectors}v")
            }
            Kernel::NhwcNormalizeTileStack { vectors } => {
                write!(f, "nhwc_normalize_tile_stack_{vectors}v")
            }
            Kernel::NhwcNormalizeRowTiles { v, r } => {
                write!(f, "nhwc_normalize_row_tiles_{v}vx{r}")
            }
            Kernel::NhwcNormalizeRowGroups { rows } => {
                write!(f, "nhwc_normalize_row_groups_x{rows}")
            }
            Kernel::NhwcNormalizeRows => f.write_str("nhwc_normalize_rows"),
            Kernel::NhwcNormalizeRowVectors => f.write_str("nhwc_normalize_row_vectors"),
            Kernel::NhwcNormalizeGapTiles { vectors } => {
                write!(f, "nhwc_normalize_gap_tiles_{vectors}v")
            }
            Kernel::NchwTrainFused { channels } => write!(f, "nchw_train_fused_c{channels}"),
            Kernel::TrainStatsThenNormalize => f.write_str("train_stats_then_normalize"),
            Kernel::NchwBackwardFused => f.write_str("nchw_backward_fused"),
            Kernel::NchwBackwardShort16 => f.write_str("nchw_backward_short16"),
            Kernel::NhwcBackwardTiled { period } => write!(f, "nhwc_backward_tiled_p{period}"),
            Kernel::NhwcBackwardBlocks => f.write_str("nhwc_backward_blocks"),
            Kernel::NhwcBackwardBlocksFused => f.write_str("nhwc_backward_blocks_fused"),
            Kernel::NhwcBackwardWholeRows => f.write_str("nhwc_backward_whole_rows"),
        }
    }
}

/// The kernel for `op` on a validated shape (`d`, with at least one element) in `layout`
/// at level `isa`. For the interleaved normalize with many channels, the kernel of the
/// first block of channels (a last, narrower block may take another: [`nhwc_rows`]).
pub(crate) fn plan(op: Op, layout: Layout, d: Dims, isa: Isa) -> Kernel {
    let rows = d.n * d.plane;
    match (op, planar(layout, d)) {
        (Op::Stats(method), true) => nchw_stats(d, method),
        (Op::Stats(_), false) => nhwc_stats(d.c),
        (Op::Normalize | Op::NormalizePrepared, true) => nchw_normalize(d.plane),
        (Op::Normalize | Op::NormalizePrepared, false) => match nhwc_normalize(d.c, acc(isa)) {
            NhwcNormalize::Rows => {
                let given = op == Op::NormalizePrepared;
                nhwc_rows(d.c, d.c, rows, block_width(d.c, 0), acc(isa), given)
            }
            NhwcNormalize::Tile(k) => k,
        },
        (Op::Train, true) => nchw_train(d.count),
        (Op::Train, false) => Kernel::TrainStatsThenNormalize,
        (Op::Backward { .. }, true) => nchw_backward(d),
        (Op::Backward { batch }, false) => nhwc_backward(d.c, rows, batch, isa),
    }
}

/// An identity normalize (no activation) at [`Isa::Avx512`] of an input of at least this
/// many bytes runs at [`Isa::Avx2`] ([`normalize_level`]): past L1 (48 KiB here).
pub(crate) const NARROW_BYTES: usize = 48 * 1024;

/// NCHW planes of at least this many values may run an identity normalize at
/// [`Isa::Avx2`] ([`normalize_level`]); shorter ones, whose many plane boundaries the
/// AVX-512 masks serve better, do not.
pub(crate) const NARROW_PLANE: usize = 256;

/// The level a normalize asked to run at `isa` runs at: [`Isa::Avx2`] instead of
/// [`Isa::Avx512`] for the identity activation (one fused multiply-add per value, a
/// plain stream) on at least [`NARROW_BYTES`] of input (`values`), as NCHW planes of at
/// least [`NARROW_PLANE`] values (`plane`, `None` for rows) or contiguous NHWC rows
/// (`contiguous`), and `isa` otherwise. Both levels fuse the multiply-add, so the bits are
/// the same.
///
/// Why: 512-bit arithmetic lowers the clock of an Intel core, and with it the speed of a
/// stream from L2. On an Intel Xeon (AVX-512), `y = a*x + b` over 196 KiB ran at 95 GB/s
/// with 512-bit FMAs, 107 with 256-bit ones and 110 with 512-bit loads and stores alone;
/// the identity normalize at AVX-512 took 1.05-1.22x the time of the AVX2 one on every
/// grid shape that fits in L2 (1x256x14x14 NHWC 1.19, 1x1280x7x7 NHWC 1.22, 1x3x224x224
/// NCHW 1.12, 1x64x56x56 NCHW 1.08), and the same beyond the caches (memory-bound
/// either way) or in L1 (where AVX-512 is faster). The NCHW 7x7 planes ran faster at
/// AVX-512 (0.90-0.92), and so did ReLU6 (0.83-1.0; but 1.04-1.12 at 256x1024x1x1) and
/// the costlier activations, whose AVX2 code takes more instructions: they keep their
/// level. Strided rows keep theirs too (the
/// AVX2 gap tiles of few channels are twice as slow).
pub(crate) fn normalize_level(
    isa: Isa,
    plane: Option<usize>,
    contiguous: bool,
    values: usize,
    identity: bool,
) -> Isa {
    #[cfg(test)]
    if NARROW.load(core::sync::atomic::Ordering::Relaxed) == 2 {
        return isa;
    }
    let stream = match plane {
        Some(plane) => plane >= NARROW_PLANE,
        None => contiguous,
    };
    if isa == Isa::Avx512 && identity && stream && values.saturating_mul(4) >= NARROW_BYTES {
        Isa::Avx2
    } else {
        isa
    }
}

/// Tests force [`normalize_level`] (2: keep the level asked for, 0: by the rule).
#[cfg(test)]
pub(crate) static NARROW: Hook = Hook(0);

/// [`plan`] for NHWC rows `stride > c` values apart (input and output alike), for
/// [`Op::Stats`] and [`Op::Normalize`] (other ops: as [`plan`] on contiguous rows).
pub(crate) fn plan_strided(op: Op, d: Dims, stride: usize, isa: Isa) -> Kernel {
    match op {
        Op::Stats(_) => nhwc_stats_strided(d.c, stride),
        Op::Normalize | Op::NormalizePrepared => match nhwc_strided(d.c, stride, stride) {
            NhwcNormalize::Rows => {
                let given = op == Op::NormalizePrepared;
                nhwc_rows(d.c, stride, d.count, block_width(d.c, 0), acc(isa), given)
            }
            NhwcNormalize::Tile(k) => k,
        },
        Op::Train | Op::Backward { .. } => plan(op, Layout::Nhwc, d, isa),
    }
}

/// `Simd::ACC` of a level (the portable one as this build compiles it).
fn acc(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 8,
        Isa::Avx2 => 2,
        _ => {
            if cfg!(target_feature = "avx512f") {
                8
            } else {
                2
            }
        }
    }
}

/// Whether the planar kernels run: NCHW with planes of 2 or more values (a 1x1 plane is
/// the interleaved layout with `n` rows).
pub(crate) fn planar(layout: Layout, d: Dims) -> bool {
    layout == Layout::Nchw && d.plane != 1
}

/// NCHW planes shorter than this put channels in lanes (or, single pass, add 16
/// channels' lanes at once): one horizontal fold per channel would cost too much.
pub(crate) const SHORT_PLANE: usize = 512;

/// Single-pass channels of at least this many values (in planes of at least
/// [`SHORT_PLANE`]) sum in blocks: shorter ones would spend more on the blocks' first,
/// doubling folds than the three operations per value save (measured on 1x64x56x56 and
/// 8x512x28x28: 11–25% slower at AVX-512; 1x3x224x224 and 32x64x56x56: 8–14% faster at
/// both levels).
pub(crate) const BLOCKED_COUNT: usize = 32 * 1024;

/// The NCHW statistics kernel for planes of `d.plane >= 2` values.
pub(crate) fn nchw_stats(d: Dims, method: Method) -> Kernel {
    if d.plane < SHORT_PLANE {
        Kernel::NchwStatsShortPlanesFlat
    } else if method == Method::Welford && d.count >= BLOCKED_COUNT {
        Kernel::NchwStatsLongPlanesBlocks
    } else {
        Kernel::NchwStatsLongPlanes
    }
}

/// Positions in one register block of the interleaved statistics (the widest any ISA
/// keeps in registers; narrower ISAs sweep it in parts).
pub(crate) const STATS_BLOCK: usize = MAX_ACC * LANES;

/// The interleaved statistics kernel for `c >= 1` channels.
pub(crate) fn nhwc_stats(c: usize) -> Kernel {
    let tile = lcm(c, LANES);
    if tile <= STATS_BLOCK {
        Kernel::NhwcStatsTiled {
            period: (STATS_BLOCK / tile) * tile,
        }
    } else {
        Kernel::NhwcStatsSuperBlocks
    }
}

/// The interleaved statistics kernel for rows of `c >= 1` channels `pitch >= c` values
/// apart. Rows shorter than a vector are tiled over the pitch (`lcm(pitch, LANES)` small:
/// the gaps' positions are computed and dropped, fewer vectors than one per row); longer
/// rows, or long periods, sweep the super-blocks over the `c` channels, skipping the gaps.
pub(crate) fn nhwc_stats_strided(c: usize, pitch: usize) -> Kernel {
    if pitch == c || c < LANES {
        nhwc_stats(pitch)
    } else {
        Kernel::NhwcStatsSuperBlocks
    }
}

/// The NCHW normalize kernel for planes of `plane >= 2` values.
pub(crate) fn nchw_normalize(plane: usize) -> Kernel {
    if plane >= LANES {
        Kernel::NchwNormalizeWidePlanes
    } else {
        Kernel::NchwNormalizeTinyPlanes
    }
}

/// Channels whose scales one block of the interleaved normalize keeps on the stack
/// (4 KiB), a multiple of `LANES`.
pub(crate) const NORM_BLOCK: usize = 1024;

/// Most vectors of constants a register tile holds; an ISA with fewer registers holds
/// `4 * Simd::ACC`.
pub(crate) const TILE_REGS: usize = MAX_ACC;

/// Most vectors in a stack-held tile: channel counts below `2 * LANES` whose period is
/// too long for the registers.
pub(crate) const TILE_MAX: usize = 2 * LANES;

/// The first decision of the interleaved normalize.
pub(crate) enum NhwcNormalize {
    /// A tile kernel over the flat stream.
    Tile(Kernel),
    /// Rows of many channels, block by block ([`nhwc_rows`]).
    Rows,
}

/// The interleaved normalize for `c >= 1` channels with `acc` accumulators (`Simd::ACC`).
pub(crate) fn nhwc_normalize(c: usize, acc: usize) -> NhwcNormalize {
    let t = lcm(c, LANES) / LANES;
    let regs = TILE_REGS.min(acc * 4);
    if t <= regs {
        // The largest multiple of the period that fits the registers.
        NhwcNormalize::Tile(Kernel::NhwcNormalizeTileRegs {
            vectors: (regs / t) * t,
        })
    } else if c < 2 * LANES {
        NhwcNormalize::Tile(Kernel::NhwcNormalizeTileStack { vectors: t })
    } else {
        NhwcNormalize::Rows
    }
}

/// The interleaved normalize of strided rows (`x_pitch` or `y_pitch` above `c >= 1`):
/// the many-channel row kernels, with the pitch as the row distance, when the rows hold
/// at least a vector and both pitches are one; the flat stream with masked stores
/// ([`Kernel::NhwcNormalizeGapTiles`]) for shorter rows of one pitch whose period is
/// short; else [`Kernel::NhwcNormalizeRowVectors`].
pub(crate) fn nhwc_strided(c: usize, x_pitch: usize, y_pitch: usize) -> NhwcNormalize {
    let period = lcm(x_pitch, LANES) / LANES;
    if c >= LANES && x_pitch == y_pitch {
        NhwcNormalize::Rows
    } else if x_pitch == y_pitch && period <= TILE_MAX {
        NhwcNormalize::Tile(Kernel::NhwcNormalizeGapTiles { vectors: period })
    } else {
        NhwcNormalize::Tile(Kernel::NhwcNormalizeRowVectors)
    }
}

/// The width of the block of channels starting at `k0` (`k0 < c`): every block is at
/// least one vector wide.
pub(crate) fn block_width(c: usize, k0: usize) -> usize {
    match c - k0 {
        w if w <= NORM_BLOCK => w,
        w if w - NORM_BLOCK < LANES => NORM_BLOCK - LANES,
        _ => NORM_BLOCK,
    }
}

/// Tensors of more than this many values come from memory: one row at a time keeps the
/// access pattern a plain stream, which the prefetchers follow best. Rows that are not
/// one stream anyway (a block of channels narrower than the row distance: strided rows,
/// or more than [`NORM_BLOCK`] channels) still go in groups of rows: strided rows of 32
/// channels 64 apart (1x32x112x112) went from 28 to 52 GB/s at AVX-512 so.
pub(crate) const STREAMED: usize = 512 * 1024;

/// How far ahead the interleaved statistics prefetch ([`Simd::prefetch`](crate::simd::Simd::prefetch)),
/// in bytes of rows.
pub(crate) const STATS_AHEAD: usize = 32 * 1024;

/// Rows ahead that the interleaved statistics prefetch a super-block of `width` channels
/// of `rows` rows `pitch` values apart (0: none): [`STATS_AHEAD`] bytes ahead, 2 to 32
/// rows, when the rows span more than [`STREAMED`] values and have gaps between the
/// super-block's positions (strided rows, or more channels than a super-block). Each
/// row's positions are then a short run in a page of their own or a few to a page, which
/// the hardware prefetcher follows poorly. Interleaved A/B on an Intel Xeon, new/old
/// time, rows 2c apart: 32x64x56x56 0.81-0.84 at AVX-512 and 0.73-0.75 at AVX2,
/// 8x512x28x28 0.90 and 0.70, 1x32x112x112 0.88; contiguous 8x512x28x28 0.95 and 0.81.
/// Rows that fit in L2 lost up to 6% (256x1024x1x1 at stride 2c), so they do not
/// prefetch. One row spans only its own values, whatever the pitch, and never
/// prefetches; no arithmetic here overflows, even at a pitch of `usize::MAX`.
pub(crate) fn stats_prefetch(rows: usize, pitch: usize, width: usize) -> usize {
    if rows >= 2 && pitch > width && (rows - 1).saturating_mul(pitch) > STREAMED {
        (STATS_AHEAD / 4 / pitch).clamp(2, 32)
    } else {
        0
    }
}

/// Tensors of at most this many values (and as many again in `y`) stay in cache while a
/// tile of rows is revisited: there, loading the constants, not memory, is the limit.
pub(crate) const CACHED: usize = 64 * 1024;

/// Rows per register tile.
pub(crate) const TILE_R: usize = 8;

/// Strided normalize output of at least this many bytes (rows times pitch) is written with
/// streaming stores ([`Vf32::store_stream`](crate::simd::Vf32::store_stream)).
pub(crate) const STREAM_BYTES: usize = 8 << 20;

/// Whether the many-channel normalize of `nrows` rows of `c` channels `pitch > c` values
/// apart streams its stores: when the output spans [`STREAM_BYTES`] or more. Rows with
/// gaps are the worst case for plain stores on a buffer beyond the caches: each written
/// line is first read (for ownership), and the prefetchers fetch the gaps' lines too. A
/// streaming store of a whole line reads nothing. On an Intel Xeon at AVX-512, a strided
/// `y = a*x + b` over 100352 rows of 64 channels 128 apart went from 8.4 to 21.6 GB/s of
/// touched bytes (a contiguous one: 27 GB/s), and 6272 rows of 512 channels 1024 apart
/// from 21 to 23. Contiguous rows of those sizes gained nothing; they stream only around
/// the L2 size ([`stream_out`]).
pub(crate) fn stream_rows(c: usize, pitch: usize, nrows: usize) -> bool {
    #[cfg(test)]
    match STREAM.load(core::sync::atomic::Ordering::Relaxed) {
        1 => return pitch > c,
        2 => return false,
        _ => {}
    }
    pitch > c && nrows.saturating_mul(pitch).saturating_mul(4) >= STREAM_BYTES
}

/// Whether a normalize of `values` contiguous values out of place at `isa` streams its
/// stores: never at the portable level, which has no streaming store
/// ([`Simd::STREAMS`](crate::simd::Simd::STREAMS)); otherwise [`stream_window`] with an
/// input and an output of `values`.
///
/// Interleaved A/B, NCHW ReLU6 at AVX-512 over 1 x c x 112 x 112 (Intel Xeon, 2 MiB L2),
/// streamed/plain time, by input size over L2: 0.57 lost 9%, 0.62 0.96, 0.77 (c = 32)
/// 0.71-0.81 (also NHWC, every activation, and AVX2), 0.96 0.84, 1.05 0.80, 1.15 0.89,
/// 1.34 0.95; 1.53 lost 2% and 2.3 and 3.1 5%, so larger tensors stay plain (up to
/// 12.8 MB of input a plain `y = a*x + b` kept within 4%).
pub(crate) fn stream_out(isa: Isa, values: usize) -> bool {
    isa != Isa::Portable && stream_out_with(values, cache_l2())
}

/// [`stream_out`] with an L2 cache of `l2` bytes.
pub(crate) fn stream_out_with(values: usize, l2: usize) -> bool {
    let bytes = values.saturating_mul(4);
    stream_window(bytes, bytes, l2)
}

/// Whether the backward pass of `values` values out of place at `isa` streams its `dx`:
/// never at the portable level; otherwise [`stream_dx_with`].
pub(crate) fn stream_dx(isa: Isa, values: usize) -> bool {
    isa != Isa::Portable && stream_dx_with(values, cache_l2())
}

/// Whether the backward pass streams its `dx` with an L2 cache of `l2` bytes (0:
/// unknown; `usize::MAX`: tests, always): when its inputs `x` and `dy` and its output
/// `dx`, of `values` each, together overflow L2 by more than a tenth. Unlike the
/// normalize ([`stream_window`]) there is no upper edge: past L2, plain stores read every
/// line of `dx` first and write it back through L3, and on the Xeon below that cost the
/// backward more than its streamed stores at every size measured, up to 37 times L2.
///
/// Interleaved A/B on an Intel Xeon (family 6 model 207, 2 MiB L2), this rule over the
/// old window (inputs at most 1.4 times L2), time, at AVX-512 then AVX2, each as NCHW
/// and NHWC with running statistics, then with batch statistics (best of 15 rounds;
/// unchanged cases repeat within 5%):
///
/// | shape | in all, over L2 | AVX-512 | AVX2 |
/// |---|---:|---|---|
/// | 1x64x56x56 | 1.15 | 0.93 0.86 0.86 0.80 | 0.65 0.75 0.88 0.91 |
/// | 1x32x112x112 | 2.3 | 0.80 0.78 1.07 0.83 | 0.76 0.83 1.07 0.89 |
/// | 2x32x112x112 | 4.6 | 0.77 0.81 0.97 0.88 | 0.74 0.84 1.03 0.93 |
/// | 4x64x56x56 | 4.6 | 0.85 0.85 1.02 0.85 | 0.72 0.87 1.02 0.95 |
/// | 8x64x56x56 | 9.2 | 0.81 0.80 0.99 0.87 | 0.68 0.86 1.00 0.94 |
/// | 16x64x56x56 | 18 | 0.77 0.78 0.91 0.84 | 0.62 0.81 0.92 0.87 |
/// | 32x64x56x56 | 37 | 0.73 0.72 0.80 0.75 | 0.56 0.80 0.86 0.84 |
/// | 8x512x28x28 | 18 | 0.79 0.73 0.91 0.79 | 0.66 0.72 0.92 0.80 |
///
/// Below the edge streaming lost (every case streamed, over plain: 1x48x56x56, 0.86 of
/// L2, 1.16-1.29; 1x56x56x56, 1.0, 0.84-1.14). The NCHW batch statistics, whose second
/// walk rereads each channel from L2 and only writes, gain nothing from 2 to 9 times L2
/// and lose 7% on 1x32x112x112; an earlier Intel Xeon had lost 6% there too. Left so
/// for one rule: a second edge for that one kernel would move the other three.
pub(crate) fn stream_dx_with(values: usize, l2: usize) -> bool {
    if l2 == usize::MAX {
        return true;
    }
    let total10 = values.saturating_mul(12).saturating_mul(10);
    l2 > 0 && total10 > l2.saturating_mul(11)
}

/// The core's L2 size in bytes ([`crate::simd::l2_bytes`]); tests force it with
/// `STREAM` (1: as if every size fell in [`stream_window`], 2: unknown).
fn cache_l2() -> usize {
    #[cfg(test)]
    match STREAM.load(core::sync::atomic::Ordering::Relaxed) {
        1 => return usize::MAX,
        2 => return 0,
        _ => {}
    }
    crate::simd::l2_bytes()
}

/// Whether a kernel that reads `input` bytes and writes `output` bytes, contiguous, with
/// an L2 cache of `l2` bytes (0: unknown; `usize::MAX`: tests, always) writes with
/// streaming stores: when inputs and output together overflow L2 by more than a fifth, but
/// the inputs alone are at most 1.4 times L2. Plain stores then read every output line
/// first and evict the inputs as they go, so each call reads much of its inputs from L3
/// again; streaming stores read nothing and leave the inputs in L2. Past that, the inputs
/// come from L3 whatever the stores do, and plain stores were as fast or faster. The
/// output then starts in memory, not in cache, for the next layer: at these sizes much of
/// it would have been evicted by then anyway.
pub(crate) fn stream_window(input: usize, output: usize, l2: usize) -> bool {
    if l2 == usize::MAX {
        return true;
    }
    let total5 = input.saturating_add(output).saturating_mul(5);
    l2 > 0 && total5 > l2.saturating_mul(6) && input.saturating_mul(5) <= l2.saturating_mul(7)
}

/// Tests force [`stream_rows`], [`stream_out`] and [`stream_dx`] (1: stream any strided
/// rows and any contiguous output, 2: never, 0: by size).
#[cfg(test)]
pub(crate) static STREAM: Hook = Hook(1);

/// The kernel for a block of `width` channels of rows of `c` channels `pitch >= c`
/// values apart, `nrows` rows, with `acc` accumulators (`Simd::ACC`); `given`: the scales
/// are prepared. Rows that do not fill a group go one at a time. The register tiles pay
/// for themselves by hiding the scales' f64 divisions; with prepared scales, groups of
/// rows are the faster (`normalize_prepared` of 1x1280x7x7 NHWC 80 -> 88% of a copy
/// loop, 1x256x14x14 101 -> 105%, on an Intel Xeon at AVX-512). Whether the tensor stays
/// in cache counts the values the rows hold, not the gaps between them; and the rows of
/// a contiguous tensor a multiple of 2 KiB apart go in groups, but strided ones in tiles:
/// `normalize_strided` at stride 2c, interleaved A/B on an Intel Xeon, 1x1280x7x7 7%
/// faster at AVX-512 and 11% at AVX2, 1x256x14x14 5% and 3%.
pub(crate) fn nhwc_rows(
    c: usize,
    pitch: usize,
    nrows: usize,
    width: usize,
    acc: usize,
    given: bool,
) -> Kernel {
    let v = if acc >= 8 { 4 } else { 2 };
    if nrows.saturating_mul(c) <= CACHED
        && !given
        && (pitch > c || !(pitch * 4).is_multiple_of(2048))
        && nrows >= TILE_R
        && width.is_multiple_of(v * LANES)
    {
        Kernel::NhwcNormalizeRowTiles { v, r: TILE_R }
    } else if nrows.saturating_mul(pitch) <= STREAMED || width < pitch {
        // Rows whose distance is a multiple of 4 KiB compete for the same cache sets (and
        // alias in the store-to-load check), so those strides get fewer rows per group.
        let rows = match (pitch * 4) % 4096 {
            0 | 2048 => 2,
            _ => 4,
        };
        Kernel::NhwcNormalizeRowGroups { rows }
    } else {
        Kernel::NhwcNormalizeRows
    }
}

/// NCHW planes of at most this many values have the head of their channel's next plane
/// prefetched ([`Simd::prefetch`](crate::simd::Simd::prefetch)) as each plane starts, when
/// the statistics walk a channel plane by plane. The next plane is `c` planes away: a new
/// stream, which the hardware prefetcher picks up only after a few misses, a large part of
/// a short plane. Measured on Zen 4, through the C ABI, old and new library in one
/// process: 8x512x28x28 training forward (Welford) 18% faster, its statistics alone and
/// 32x64x56x56 unchanged. The backward's plane walks did not gain, so they do not prefetch.
pub(crate) const PREFETCH_PLANE: usize = 4096;

/// Values at the head of the next plane that [`PREFETCH_PLANE`] fetches: four cache
/// lines. Fetching the whole plane was slower on data in L3 (8x512x28x28 statistics 208
/// -> 310 us on Zen 4).
pub(crate) const PREFETCH_HEAD: usize = 64;

/// Bytes of input a fused NCHW group of channels may span: their statistics pass leaves
/// them in L2 for the normalize pass.
pub(crate) const FUSE_BYTES: usize = 512 * 1024;

/// The NCHW training forward for channels of `count` values each.
pub(crate) fn nchw_train(count: usize) -> Kernel {
    if count.saturating_mul(4) <= FUSE_BYTES {
        Kernel::NchwTrainFused {
            // `count` may be 0 (no channels): no divide by zero.
            channels: (FUSE_BYTES / (count * 4).max(1)).max(1),
        }
    } else {
        Kernel::TrainStatsThenNormalize
    }
}

/// The NCHW backward for planes of `plane >= 2` values.
pub(crate) fn nchw_backward(d: Dims) -> Kernel {
    // x and dy of 16 channels.
    let group_bytes = d.count.saturating_mul(LANES * 8);
    if d.plane < SHORT_PLANE && group_bytes <= FUSE_BYTES {
        Kernel::NchwBackwardShort16
    } else {
        Kernel::NchwBackwardFused
    }
}

/// Whether the NHWC backward with running statistics, on rows a multiple of 4 KiB apart
/// at AVX-512, stores each row's `dx` only after the next row's loads. Stored at once,
/// each load down a strip follows a store to the same address modulo 4 KiB. Measured on
/// 256x1024x1x1: on an AMD EPYC (Zen 4) holding the row took it from 35 to 47 GB/s; on an
/// Intel Xeon (AVX-512) it cost a third (92% and 82% of a two-input copy loop not held,
/// 60% and 63% held). So it depends on the CPU's vendor.
pub(crate) fn hold_aliased_rows() -> bool {
    #[cfg(test)]
    match HOLD_ALIASED.load(core::sync::atomic::Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    crate::simd::amd()
}

/// Tests force [`hold_aliased_rows`] (1: hold, 2: do not, 0: by the CPU), so that both
/// ways run on any CPU.
#[cfg(test)]
pub(crate) static HOLD_ALIASED: Hook = Hook(2);

/// Positions one block of the interleaved backward keeps on the stack: its per-position
/// sums (f32 and f64) and constants, about 14 KiB.
pub(crate) const BACKWARD_BLOCK: usize = 256;

/// Most channels whose `dx` the interleaved backward with batch statistics writes in one
/// sweep over whole rows when rows are a multiple of 4 KiB apart (and more than `CHUNK`
/// of them): its per-position constants, 20 bytes a channel, live on the stack.
pub(crate) const BACKWARD_WIDE: usize = 1024;

/// Most rows of [`Kernel::NhwcBackwardBlocksFused`] at levels other than AVX2 (at AVX2:
/// `CHUNK`).
pub(crate) const FUSED_ROWS: usize = 4 * CHUNK;

/// Whether `isa` runs AVX2's instructions and no AVX-512: the AVX2 level, or the
/// portable one built for AVX2 (e.g. `-C target-cpu=native` on an AVX2-only CPU).
fn avx2_class(isa: Isa) -> bool {
    match isa {
        Isa::Avx2 => true,
        Isa::Portable => cfg!(target_feature = "avx2") && !cfg!(target_feature = "avx512f"),
        _ => false,
    }
}

/// The interleaved backward for `c >= 1` channels in `rows` rows, with batch statistics
/// or not, at level `isa`.
pub(crate) fn nhwc_backward(c: usize, rows: usize, batch: bool, isa: Isa) -> Kernel {
    let period = lcm(c, LANES);
    // At exactly one block (c = 256) the blocks kernel is the faster: 1x256x14x14 ran
    // 10-17% faster so on an Intel Xeon (AVX-512 and AVX2), and as fast on larger planes.
    if period < BACKWARD_BLOCK {
        Kernel::NhwcBackwardTiled { period }
    } else if !batch {
        Kernel::NhwcBackwardBlocks
    } else if rows <= CHUNK {
        // 1x1280x7x7: 14.2 -> 13.2 µs (AVX-512), 18.9 -> 18.2 µs (AVX2) on an Intel Xeon.
        Kernel::NhwcBackwardBlocksFused
    } else if (c * 4).is_multiple_of(4096) && c <= BACKWARD_WIDE {
        // 256x1024x1x1: 12% less time at AVX-512 and AVX2, 18% portable (Intel Xeon).
        Kernel::NhwcBackwardWholeRows
    } else if rows <= FUSED_ROWS && !avx2_class(isa) {
        // 1x256x14x14 (196 rows): 5% less time at AVX-512 and portable, 8% more at AVX2.
        Kernel::NhwcBackwardBlocksFused
    } else {
        Kernel::NhwcBackwardBlocks
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Least common multiple, saturating (only compared against small bounds).
pub(crate) fn lcm(a: usize, b: usize) -> usize {
    (a / gcd(a, b)).saturating_mul(b)
}

#[cfg(test)]
mod tests;

/// A test's override of a plan decision ([`NARROW`], [`STREAM`], [`HOLD_ALIASED`], by
/// their numbers): a value per thread, so that tests running side by side (each on a
/// thread of its own, with the kernels it calls) cannot change each other's plans. The
/// interface of an `AtomicU8`.
#[cfg(test)]
pub(crate) struct Hook(usize);

#[cfg(test)]
mod hook {
    extern crate std;
    use core::cell::Cell;
    use core::sync::atomic::Ordering;

    std::thread_local! {
        /// Each hook's value on this thread (0: the plan decides).
        static VALUES: [Cell<u8>; 3] = const { [Cell::new(0), Cell::new(0), Cell::new(0)] };
    }

    impl super::Hook {
        /// This thread's value.
        pub(crate) fn load(&self, _: Ordering) -> u8 {
            VALUES.with(|v| v[self.0].get())
        }

        /// Sets this thread's value.
        pub(crate) fn store(&self, value: u8, _: Ordering) {
            VALUES.with(|v| v[self.0].set(value));
        }
    }
}
