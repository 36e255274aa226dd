//! The NHWC backward's held rows (running statistics, rows a multiple of 4 KiB apart,
//! AVX-512): whether each row's `dx` is stored at once or after the next row's loads
//! depends on the CPU's vendor ([`crate::plan::hold_aliased_rows`]), so both ways are
//! forced here, on any CPU, and must give the same bits: `dx = dy*a` exactly, `a` the f64
//! product `gamma*invstd` rounded once.

extern crate std;
use crate::plan::{HOLD_ALIASED, STREAM};
use crate::{BackwardParams, ForwardStats, Isa, Kernels, Layout, Shape};
use core::sync::atomic::Ordering;
use std::vec;
use std::vec::Vec;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}

/// `len` values of `x` and `dy`, and the `mean`, `invstd` and `gamma` of `c` channels
/// (reduced before the products, which would overflow a 32-bit `usize` on wasm32).
fn data(len: usize, c: usize) -> [Vec<f32>; 5] {
    [
        (0..len)
            .map(|i| (((i % 1013) * 7919) % 1013) as f32 * 0.01 - 5.0)
            .collect(),
        (0..len)
            .map(|i| (((i % 997) * 104_729) % 997) as f32 * 0.001 - 0.5)
            .collect(),
        (0..c).map(|k| k as f32 * 0.003).collect(),
        (0..c).map(|k| 0.5 + k as f32 * 0.01).collect(),
        (0..c).map(|k| 1.0 - k as f32 * 0.0007).collect(),
    ]
}

// Under Miri only the portable level runs, which never holds a row.
#[test]
#[cfg_attr(miri, ignore)]
fn held_rows_change_no_bit() {
    // Rows of 1024 channels are 4 KiB apart; five of them, so a row is held at the end.
    let (n, c) = (5, 1024);
    let shape = Shape::new(n, c, 1, 1);
    let len = n * c;
    let [x, dy, mean, invstd, gamma] = data(len, c);
    let p = BackwardParams {
        mean: &mean,
        invstd: &invstd,
        gamma: &gamma,
    };
    for isa in Isa::supported() {
        let k = Kernels::new(isa).expect("supported");
        let mut outs = Vec::new();
        for hold in [1u8, 2] {
            HOLD_ALIASED.store(hold, Ordering::Relaxed);
            let (mut dx, mut dg, mut db) = (vec![f32::NAN; len], vec![f32::NAN; c], vec![0.0; c]);
            k.backward(
                &x,
                &dy,
                &mut dx,
                shape,
                Layout::Nhwc,
                &p,
                ForwardStats::Running,
                &mut dg,
                &mut db,
            )
            .expect("valid arguments");
            let (mut inplace, mut dg2, mut db2) = (dy.clone(), vec![f32::NAN; c], vec![0.0; c]);
            k.backward_in_place(
                &x,
                &mut inplace,
                shape,
                Layout::Nhwc,
                &p,
                ForwardStats::Running,
                &mut dg2,
                &mut db2,
            )
            .expect("valid arguments");
            HOLD_ALIASED.store(0, Ordering::Relaxed);
            for (i, (&d, &g)) in dx.iter().zip(&dy).enumerate() {
                let ch = i % c;
                let a = (f64::from(gamma[ch]) * f64::from(invstd[ch])) as f32;
                assert_eq!(d.to_bits(), (g * a).to_bits(), "{isa} hold {hold}: dx[{i}]");
            }
            assert_eq!(bits(&dx), bits(&inplace), "{isa} hold {hold}: in place");
            assert_eq!(bits(&dg), bits(&dg2), "{isa} hold {hold}: dgamma in place");
            assert_eq!(bits(&db), bits(&db2), "{isa} hold {hold}: dbeta in place");
            outs.push((bits(&dx), bits(&dg), bits(&db)));
        }
        assert!(outs[0] == outs[1], "{isa}: held and not held differ");
    }
}

/// `dx`, `dgamma` and `dbeta` of one backward pass at `isa` out of place, `dx` streamed
/// or not ([`crate::plan::stream_dx`]) and written `off` values past a 64-byte line.
fn streamed_bits(
    isa: Isa,
    shape: Shape,
    layout: Layout,
    stats: ForwardStats,
    stream: bool,
    off: usize,
) -> [Vec<u32>; 3] {
    let (len, c) = (shape.numel().expect("small"), shape.c);
    let [x, dy, mean, invstd, gamma] = data(len, c);
    let p = BackwardParams {
        mean: &mean,
        invstd: &invstd,
        gamma: &gamma,
    };
    let mut buf = vec![f32::NAN; len + 32];
    let at = (16 - (buf.as_ptr() as usize / 4) % 16) % 16 + off;
    let dx = &mut buf[at..at + len];
    let (mut dg, mut db) = (vec![f32::NAN; c], vec![f32::NAN; c]);
    STREAM.store(if stream { 1 } else { 2 }, Ordering::Relaxed);
    let r = Kernels::new(isa)
        .expect("supported")
        .backward(&x, &dy, dx, shape, layout, &p, stats, &mut dg, &mut db);
    STREAM.store(0, Ordering::Relaxed);
    r.expect("valid arguments");
    [bits(dx), bits(&dg), bits(&db)]
}

// Under Miri only the portable level runs, which never streams.
#[test]
#[cfg_attr(miri, ignore)]
fn streamed_dx_changes_no_bit() {
    // Every kernel family: NCHW long planes, short planes (one and several groups), NHWC
    // tiles of few channels, blocks of many (fused, and over more rows than fuse), and
    // rows 4 KiB apart (few, and enough for whole-row sweeps).
    let cases = [
        (Shape::new(2, 5, 23, 29), Layout::Nchw),
        (Shape::new(3, 19, 7, 7), Layout::Nchw),
        (Shape::new(1, 40, 14, 14), Layout::Nchw),
        (Shape::new(2, 7, 9, 11), Layout::Nhwc),
        (Shape::new(3, 300, 3, 3), Layout::Nhwc),
        (Shape::new(1, 256, 17, 17), Layout::Nhwc),
        (Shape::new(6, 1024, 1, 1), Layout::Nchw),
        (Shape::new(67, 1024, 1, 1), Layout::Nchw),
    ];
    for (shape, layout) in cases {
        for isa in Isa::supported() {
            for stats in [ForwardStats::Batch, ForwardStats::Running] {
                for off in [0, 4] {
                    let plain = streamed_bits(isa, shape, layout, stats, false, off);
                    let streamed = streamed_bits(isa, shape, layout, stats, true, off);
                    for (what, (p, s)) in ["dx", "dgamma", "dbeta"]
                        .iter()
                        .zip(plain.iter().zip(&streamed))
                    {
                        let diff = p.iter().zip(s).position(|(a, b)| a != b);
                        assert_eq!(
                            diff, None,
                            "{isa} {shape:?} {layout:?} {stats:?} {what}, offset {off}: first differing value"
                        );
                    }
                }
            }
        }
    }
}
