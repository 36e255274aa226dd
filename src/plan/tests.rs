//! Which kernel the plan picks for the benchmark grid and for the shapes around each
//! threshold, at each ISA level.

extern crate std;
use super::*;
use crate::shape::Shape;

/// The benchmark grid: every (shape, layout, op) and the kernel it gets at the
/// AVX-512 level (8 accumulators) and at the AVX2 level (2).
#[test]
fn grid_kernels() {
    use Layout::{Nchw, Nhwc};
    use Method::{TwoPass, Welford};
    use Op::{Normalize, NormalizePrepared, Stats, Train};
    const BATCH: Op = Op::Backward { batch: true };
    const RUNNING: Op = Op::Backward { batch: false };
    let s = Shape::new;
    #[rustfmt::skip]
    let grid: [(Shape, Layout, Op, &str, &str); 91] = [
        (s(1, 3, 224, 224), Nchw, Stats(Welford), "nchw_stats_long_planes_blocks", "same"),
        (s(1, 3, 224, 224), Nchw, Normalize, "nchw_normalize_wide_planes", "same"),
        (s(1, 3, 224, 224), Nchw, Train, "nchw_train_fused_c2", "same"),
        (s(1, 3, 224, 224), Nhwc, Stats(Welford), "nhwc_stats_tiled_p96", "same"),
        (s(1, 3, 224, 224), Nhwc, Normalize, "nhwc_normalize_tile_regs_6v", "nhwc_normalize_tile_regs_6v"),
        (s(1, 3, 224, 224), Nhwc, Train, "train_stats_then_normalize", "same"),
        (s(1, 32, 112, 112), Nchw, Stats(Welford), "nchw_stats_long_planes", "same"),
        (s(1, 32, 112, 112), Nchw, Normalize, "nchw_normalize_wide_planes", "same"),
        (s(1, 32, 112, 112), Nchw, Train, "nchw_train_fused_c10", "same"),
        (s(1, 32, 112, 112), Nhwc, Stats(Welford), "nhwc_stats_tiled_p128", "same"),
        (s(1, 32, 112, 112), Nhwc, Normalize, "nhwc_normalize_tile_regs_8v", "nhwc_normalize_tile_regs_8v"),
        (s(1, 32, 112, 112), Nhwc, Train, "train_stats_then_normalize", "same"),
        (s(1, 64, 56, 56), Nchw, Stats(Welford), "nchw_stats_long_planes", "same"),
        (s(1, 64, 56, 56), Nchw, Normalize, "nchw_normalize_wide_planes", "same"),
        (s(1, 64, 56, 56), Nchw, Train, "nchw_train_fused_c41", "same"),
        (s(1, 64, 56, 56), Nhwc, Stats(Welford), "nhwc_stats_tiled_p128", "same"),
        (s(1, 64, 56, 56), Nhwc, Normalize, "nhwc_normalize_tile_regs_8v", "nhwc_normalize_tile_regs_8v"),
        (s(1, 64, 56, 56), Nhwc, Train, "train_stats_then_normalize", "same"),
        (s(1, 256, 14, 14), Nchw, Stats(Welford), "nchw_stats_short_planes_flat", "same"),
        (s(1, 256, 14, 14), Nchw, Stats(TwoPass), "nchw_stats_short_planes_flat", "same"),
        (s(8, 512, 28, 28), Nchw, Stats(TwoPass), "nchw_stats_long_planes", "same"),
        (s(1, 3, 224, 224), Nchw, Stats(TwoPass), "nchw_stats_long_planes", "same"),
        (s(1, 256, 14, 14), Nchw, Normalize, "nchw_normalize_wide_planes", "same"),
        (s(1, 256, 14, 14), Nchw, Train, "nchw_train_fused_c668", "same"),
        (s(1, 256, 14, 14), Nhwc, Stats(Welford), "nhwc_stats_super_blocks", "same"),
        (s(1, 256, 14, 14), Nhwc, Normalize, "nhwc_normalize_row_tiles_4vx8", "nhwc_normalize_row_tiles_2vx8"),
        (s(1, 256, 14, 14), Nhwc, Train, "train_stats_then_normalize", "same"),
        (s(1, 1280, 7, 7), Nchw, Stats(Welford), "nchw_stats_short_planes_flat", "same"),
        (s(1, 1280, 7, 7), Nchw, Stats(TwoPass), "nchw_stats_short_planes_flat", "same"),
        (s(1, 1280, 7, 7), Nhwc, Stats(TwoPass), "nhwc_stats_super_blocks", "same"),
        (s(1, 1280, 7, 7), Nchw, Normalize, "nchw_normalize_wide_planes", "same"),
        (s(1, 1280, 7, 7), Nchw, Train, "nchw_train_fused_c2674", "same"),
        (s(1, 1280, 7, 7), Nhwc, Stats(Welford), "nhwc_stats_super_blocks", "same"),
        (s(1, 1280, 7, 7), Nhwc, Normalize, "nhwc_normalize_row_tiles_4vx8", "nhwc_normalize_row_tiles_2vx8"),
        (s(1, 1280, 7, 7), Nhwc, Train, "train_stats_then_normalize", "same"),
        (s(32, 64, 56, 56), Nchw, Stats(Welford), "nchw_stats_long_planes_blocks", "same"),
        (s(32, 64, 56, 56), Nchw, Normalize, "nchw_normalize_wide_planes", "same"),
        (s(32, 64, 56, 56), Nchw, Train, "nchw_train_fused_c1", "same"),
        (s(32, 64, 56, 56), Nhwc, Stats(Welford), "nhwc_stats_tiled_p128", "same"),
        (s(32, 64, 56, 56), Nhwc, Normalize, "nhwc_normalize_tile_regs_8v", "nhwc_normalize_tile_regs_8v"),
        (s(32, 64, 56, 56), Nhwc, Train, "train_stats_then_normalize", "same"),
        (s(8, 512, 28, 28), Nchw, Stats(Welford), "nchw_stats_long_planes", "same"),
        (s(8, 512, 28, 28), Nchw, Normalize, "nchw_normalize_wide_planes", "same"),
        (s(8, 512, 28, 28), Nchw, Train, "nchw_train_fused_c20", "same"),
        (s(8, 512, 28, 28), Nhwc, Stats(Welford), "nhwc_stats_super_blocks", "same"),
        (s(8, 512, 28, 28), Nhwc, Normalize, "nhwc_normalize_rows", "same"),
        (s(8, 512, 28, 28), Nhwc, Train, "train_stats_then_normalize", "same"),
        (s(256, 1024, 1, 1), Nchw, Stats(Welford), "nhwc_stats_super_blocks", "same"),
        (s(256, 1024, 1, 1), Nchw, Normalize, "nhwc_normalize_row_groups_x2", "same"),
        (s(256, 1024, 1, 1), Nchw, Train, "train_stats_then_normalize", "same"),
        (s(256, 1024, 1, 1), Nhwc, Stats(Welford), "nhwc_stats_super_blocks", "same"),
        (s(256, 1024, 1, 1), Nhwc, Normalize, "nhwc_normalize_row_groups_x2", "same"),
        (s(256, 1024, 1, 1), Nhwc, Train, "train_stats_then_normalize", "same"),
        (s(1, 3, 224, 224), Nchw, BATCH, "nchw_backward_fused", "same"),
        (s(1, 3, 224, 224), Nchw, RUNNING, "nchw_backward_fused", "same"),
        (s(1, 3, 224, 224), Nhwc, BATCH, "nhwc_backward_tiled_p48", "same"),
        (s(1, 3, 224, 224), Nhwc, RUNNING, "nhwc_backward_tiled_p48", "same"),
        (s(1, 32, 112, 112), Nchw, BATCH, "nchw_backward_fused", "same"),
        (s(1, 32, 112, 112), Nchw, RUNNING, "nchw_backward_fused", "same"),
        (s(1, 32, 112, 112), Nhwc, BATCH, "nhwc_backward_tiled_p32", "same"),
        (s(1, 32, 112, 112), Nhwc, RUNNING, "nhwc_backward_tiled_p32", "same"),
        (s(1, 64, 56, 56), Nchw, BATCH, "nchw_backward_fused", "same"),
        (s(1, 64, 56, 56), Nchw, RUNNING, "nchw_backward_fused", "same"),
        (s(1, 64, 56, 56), Nhwc, BATCH, "nhwc_backward_tiled_p64", "same"),
        (s(1, 64, 56, 56), Nhwc, RUNNING, "nhwc_backward_tiled_p64", "same"),
        (s(1, 256, 14, 14), Nchw, BATCH, "nchw_backward_short16", "same"),
        (s(1, 256, 14, 14), Nchw, RUNNING, "nchw_backward_short16", "same"),
        (s(1, 256, 14, 14), Nhwc, BATCH, "nhwc_backward_blocks_fused", "nhwc_backward_blocks"),
        (s(1, 256, 14, 14), Nhwc, RUNNING, "nhwc_backward_blocks", "same"),
        (s(1, 1280, 7, 7), Nchw, BATCH, "nchw_backward_short16", "same"),
        (s(1, 1280, 7, 7), Nchw, RUNNING, "nchw_backward_short16", "same"),
        (s(1, 1280, 7, 7), Nhwc, BATCH, "nhwc_backward_blocks_fused", "same"),
        (s(1, 1280, 7, 7), Nhwc, RUNNING, "nhwc_backward_blocks", "same"),
        (s(32, 64, 56, 56), Nchw, BATCH, "nchw_backward_fused", "same"),
        (s(32, 64, 56, 56), Nchw, RUNNING, "nchw_backward_fused", "same"),
        (s(32, 64, 56, 56), Nhwc, BATCH, "nhwc_backward_tiled_p64", "same"),
        (s(32, 64, 56, 56), Nhwc, RUNNING, "nhwc_backward_tiled_p64", "same"),
        (s(8, 512, 28, 28), Nchw, BATCH, "nchw_backward_fused", "same"),
        (s(8, 512, 28, 28), Nchw, RUNNING, "nchw_backward_fused", "same"),
        (s(8, 512, 28, 28), Nhwc, BATCH, "nhwc_backward_blocks", "same"),
        (s(8, 512, 28, 28), Nhwc, RUNNING, "nhwc_backward_blocks", "same"),
        (s(256, 1024, 1, 1), Nchw, BATCH, "nhwc_backward_whole_rows", "same"),
        (s(256, 1024, 1, 1), Nchw, RUNNING, "nhwc_backward_blocks", "same"),
        (s(256, 1024, 1, 1), Nhwc, BATCH, "nhwc_backward_whole_rows", "same"),
        (s(256, 1024, 1, 1), Nhwc, RUNNING, "nhwc_backward_blocks", "same"),
        // Prepared scales: no register tiles (they hide the scales' divisions).
        (s(1, 256, 14, 14), Nhwc, NormalizePrepared, "nhwc_normalize_row_groups_x4", "same"),
        (s(1, 1280, 7, 7), Nhwc, NormalizePrepared, "nhwc_normalize_row_groups_x4", "same"),
        (s(1, 1280, 7, 7), Nchw, NormalizePrepared, "nchw_normalize_wide_planes", "same"),
        (s(1, 64, 56, 56), Nhwc, NormalizePrepared, "nhwc_normalize_tile_regs_8v", "same"),
        (s(256, 1024, 1, 1), Nhwc, NormalizePrepared, "nhwc_normalize_row_groups_x2", "same"),
        (s(8, 512, 28, 28), Nhwc, NormalizePrepared, "nhwc_normalize_rows", "same"),
    ];
    let mut wrong = std::vec::Vec::new();
    for (shape, layout, op, avx512, avx2) in grid {
        let d = shape.dims(shape.numel().unwrap(), true).unwrap();
        let avx2 = if avx2 == "same" { avx512 } else { avx2 };
        for (isa, want) in [(Isa::Avx512, avx512), (Isa::Avx2, avx2)] {
            let got = std::format!("{}", plan(op, layout, d, isa));
            if got != want {
                wrong.push(std::format!(
                    "{shape:?} {layout:?} {op:?} {isa}: {got}, want {want}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} grid rows get another kernel:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The interleaved backward with batch statistics around its thresholds: fused strips up
/// to `CHUNK` rows at AVX2 and `FUSED_ROWS` at AVX-512, whole rows for rows a multiple of
/// 4 KiB apart of at most `BACKWARD_WIDE` channels (more channels fuse), two sweeps
/// beyond; running statistics always one sweep of the blocks.
#[test]
fn nhwc_backward_thresholds() {
    let (fused, blocks, whole) = (
        Kernel::NhwcBackwardBlocksFused,
        Kernel::NhwcBackwardBlocks,
        Kernel::NhwcBackwardWholeRows,
    );
    for (c, rows, avx512, avx2) in [
        (256, CHUNK, fused, fused),
        (256, CHUNK + 1, fused, blocks),
        (256, FUSED_ROWS, fused, blocks),
        (256, FUSED_ROWS + 1, blocks, blocks),
        (1024, CHUNK, fused, fused),
        (1024, CHUNK + 1, whole, whole),
        (1024, 10_000, whole, whole),
        (2048, CHUNK + 1, fused, blocks),
        (2048, FUSED_ROWS + 1, blocks, blocks),
    ] {
        for (isa, want) in [(Isa::Avx512, avx512), (Isa::Avx2, avx2)] {
            assert_eq!(
                nhwc_backward(c, rows, true, isa),
                want,
                "c={c} rows={rows} {isa}"
            );
            assert_eq!(
                nhwc_backward(c, rows, false, isa),
                blocks,
                "c={c} rows={rows} {isa}"
            );
        }
    }
}

/// Strided rows: the row kernels with one pitch and a vector or more of channels, the
/// gap tiles with one pitch and a short period, the per-row vectors otherwise.
#[test]
fn strided_normalize_kernels() {
    for (c, xp, yp, rows) in [
        (16, 32, 32, true),
        (17, 34, 34, true),
        (1024, 2048, 2048, true),
        (15, 30, 30, false),
        (1, 2, 2, false),
        (64, 128, 64, false),
        (64, 64, 65, false),
    ] {
        let got = matches!(nhwc_strided(c, xp, yp), NhwcNormalize::Rows);
        assert_eq!(got, rows, "c={c} x_pitch={xp} y_pitch={yp}");
    }
    // Fewer channels than a vector: the flat stream with masked stores when the pitches
    // agree and the period is short, else a vector per row.
    for (c, xp, yp, want) in [
        (3, 6, 6, "nhwc_normalize_gap_tiles_3v"),
        (1, 2, 2, "nhwc_normalize_gap_tiles_1v"),
        (15, 30, 30, "nhwc_normalize_gap_tiles_15v"),
        (5, 131, 131, "nhwc_normalize_row_vectors"),
        (3, 6, 7, "nhwc_normalize_row_vectors"),
    ] {
        let got = match nhwc_strided(c, xp, yp) {
            NhwcNormalize::Tile(k) => std::format!("{k}"),
            NhwcNormalize::Rows => std::string::String::from("rows"),
        };
        assert_eq!(got, want, "c={c} x_pitch={xp} y_pitch={yp}");
    }
    // Strided rows of tensors from memory still go in groups of rows (they are not one
    // stream); contiguous rows of at most `NORM_BLOCK` channels go one at a time.
    for (c, stride, shape, want) in [
        (
            32,
            64,
            Shape::new(1, 32, 112, 112),
            "nhwc_normalize_row_groups_x4",
        ),
        (
            64,
            128,
            Shape::new(32, 64, 56, 56),
            "nhwc_normalize_row_groups_x4",
        ),
        (
            512,
            1024,
            Shape::new(8, 512, 28, 28),
            "nhwc_normalize_row_groups_x2",
        ),
    ] {
        let d = shape.dims(shape.numel().unwrap(), true).unwrap();
        for isa in [Isa::Avx512, Isa::Avx2] {
            let got = std::format!("{}", plan_strided(Op::Normalize, d, stride, isa));
            assert_eq!(got, want, "c={c} stride={stride} {isa}");
        }
    }
}

/// Strided statistics: tiles over the pitch for rows shorter than a vector, the
/// super-blocks otherwise (and the contiguous plan at `pitch == c`).
#[test]
fn strided_stats_kernels() {
    for (c, pitch, want) in [
        (3, 6, "nhwc_stats_tiled_p96"),
        (1, 2, "nhwc_stats_tiled_p128"),
        (3, 200, "nhwc_stats_super_blocks"),
        (16, 32, "nhwc_stats_super_blocks"),
        (64, 128, "nhwc_stats_super_blocks"),
        (64, 64, "nhwc_stats_tiled_p128"),
    ] {
        let got = std::format!("{}", nhwc_stats_strided(c, pitch));
        assert_eq!(got, want, "c={c} pitch={pitch}");
    }
}

/// The interleaved statistics prefetch rows with gaps spanning more than `STREAMED`
/// values, `STATS_AHEAD` bytes ahead within 2..=32 rows.
#[test]
fn stats_prefetch_distance() {
    for (rows, pitch, width, want) in [
        (100_352, 128, 64, 32), // 32x64x56x56 at stride 2c: 64 rows would be 32 KiB
        (6272, 1024, 256, 8),   // 8x512x28x28 at stride 2c: 32 KiB
        (6272, 512, 256, 16),   // 8x512x28x28 contiguous: more channels than a block
        (600, 100_000, 19, 2),  // rows far apart: at least 2
        (3136, 128, 64, 0),     // 1x64x56x56 at stride 2c: in cache
        (256, 2048, 256, 0),    // 256x1024x1x1 at stride 2c: just under STREAMED values
        (100_352, 64, 64, 0),   // contiguous, the rows one stream
        (100_352, 256, 256, 0), // a super-block as wide as the rows
        (2, usize::MAX / 4, 16, 2), // two rows far apart
        (1, usize::MAX, 16, 0), // one row: no span to prefetch, and no overflow
        (1, usize::MAX / 4 + 1, 16, 0),
        (3, usize::MAX / 2, 16, 2),
    ] {
        assert_eq!(
            stats_prefetch(rows, pitch, width),
            want,
            "{rows}x{pitch} width {width}"
        );
    }
}

/// The plan's idea of each level's accumulators is the lanes' own.
#[test]
fn accumulators_match_the_lanes() {
    struct Acc;
    impl crate::simd::WithSimd for Acc {
        type Output = usize;
        fn run<S: crate::simd::Simd>(self, _s: S) -> usize {
            S::ACC
        }
    }
    for isa in Isa::supported() {
        assert_eq!(crate::simd::dispatch(isa, Acc), acc(isa), "{isa}");
    }
}

/// [`normalize_level`]: an identity normalize at AVX-512 runs at AVX2 on at least
/// [`NARROW_BYTES`] of contiguous rows or of planes of at least [`NARROW_PLANE`] values,
/// and nothing else changes level.
#[test]
fn identity_normalize_past_l1_runs_256_bit() {
    use Isa::{Avx2, Avx512, Portable};
    let at = NARROW_BYTES / 4;
    let big = 64 * 56 * 56;
    #[rustfmt::skip]
    let cases: [(Isa, Option<usize>, bool, usize, bool, Isa); 13] = [
        (Avx512, None, true, big, true, Avx2),
        (Avx512, None, true, at, true, Avx2),
        (Avx512, None, true, at - 1, true, Avx512),
        (Avx512, None, true, big, false, Avx512),
        (Avx512, None, false, big, true, Avx512),
        (Avx512, Some(3136), false, big, true, Avx2),
        (Avx512, Some(NARROW_PLANE), false, big, true, Avx2),
        (Avx512, Some(NARROW_PLANE - 1), false, big, true, Avx512),
        (Avx512, Some(49), false, 1280 * 49, true, Avx512),
        (Avx512, Some(3136), false, big, false, Avx512),
        (Avx512, Some(3136), false, at - 1, true, Avx512),
        (Avx2, None, true, big, true, Avx2),
        (Portable, Some(3136), false, big, true, Portable),
    ];
    for (isa, plane, contiguous, values, identity, want) in cases {
        let got = normalize_level(isa, plane, contiguous, values, identity);
        assert_eq!(
            got, want,
            "{isa} plane {plane:?} contiguous {contiguous} values {values} identity {identity}"
        );
    }
}

/// Contiguous outputs of the normalize stream in a window around the L2 size: input and
/// output together more than 1.2 times L2, the input at most 1.4 times. The backward
/// pass's `dx` streams once `x`, `dy` and `dx` together pass 1.1 times L2, with no upper
/// edge. Neither with an unknown L2, and no size overflows.
#[test]
fn contiguous_streaming_window() {
    let l2 = 2 << 20;
    let mib = 1 << 18; // values of 4 bytes
    let (normalize, backward) = (stream_out_with, stream_dx_with);
    // The backward's edge: 12 bytes a value, `12 * 10 * values > 11 * l2`.
    let edge = l2 * 11 / 120;
    for (values, norm, back) in [
        (0, false, false),
        (edge, false, false),
        (edge + 1, false, true),
        (mib * 4 / 5, false, true), // 0.8 MiB: 2.4 MiB in all for the backward
        (mib, false, true),         // normalize: 2 MiB in all, fits
        (mib * 6 / 5, false, true), // 2.4 MiB in all: the boundary itself
        (mib * 6 / 5 + 1, true, true), // just past it
        (32 * 112 * 112, true, true), // 1x32x112x112: 1.53 MiB
        (mib * 14 / 5, true, true), // normalize: the input at 1.4 times L2
        (mib * 14 / 5 + 1, false, true), // just past it
        (64 * 112 * 112, false, true), // 3.06 MiB
        (32 * 64 * 56 * 56, false, true), // 24.5 MiB
        (usize::MAX, false, true),
    ] {
        assert_eq!(
            normalize(values, l2),
            norm,
            "normalize of {values} values, L2 {l2}"
        );
        assert_eq!(
            backward(values, l2),
            back,
            "backward of {values} values, L2 {l2}"
        );
        assert!(
            !normalize(values, 0) && !backward(values, 0),
            "{values} values, unknown L2"
        );
    }
    // A 512 KiB L2 moves the window down by four.
    assert!(normalize(32 * 112 * 112 / 4, 512 << 10));
    assert!(!normalize(32 * 112 * 112, 512 << 10));
}
