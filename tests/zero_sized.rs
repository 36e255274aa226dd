//! Zero-sized shapes (any dimension 0): accepted by every function that takes a `Shape`,
//! whatever the other dimensions are, and never `ShapeOverflow`; channels with no values
//! are still `EmptyChannel` for the statistics.

use batchnorm::reference::{self, Running64, Train64};
use batchnorm::{
    Activation, Error, Layout, Method, Moments, Momentum, NormParams, RunningStats, SavedStats,
    Shape, TrainParams, accumulate_moments, batch_stats, normalize, normalize_in_place,
    train_forward, train_forward_in_place,
};

const BIG: usize = 1usize << (usize::BITS / 2);

/// Zero-sized shapes whose other dimensions overflow `usize` when multiplied, in every
/// position, with `c` 0 or 3 (small enough for real per-channel buffers).
fn zero_sized() -> Vec<Shape> {
    vec![
        Shape::new(usize::MAX, 3, 0, 7),
        Shape::new(usize::MAX, 0, 1, 1),
        Shape::new(usize::MAX, 0, usize::MAX, 2),
        Shape::new(0, 3, usize::MAX, 2),
        Shape::new(0, 3, BIG, BIG),
        Shape::new(BIG, 3, BIG, 0),
        Shape::new(usize::MAX, 3, 7, 0),
        Shape::new(3, 0, usize::MAX, usize::MAX),
        Shape::new(0, 0, 0, 0),
        Shape::new(2, 3, 0, 5),
    ]
}

fn empty_channel(s: Shape) -> Error {
    Error::EmptyChannel {
        n: s.n,
        h: s.h,
        w: s.w,
    }
}

/// What a statistics function must return: `Ok` with no channels, else `EmptyChannel`.
fn stats_result(s: Shape) -> Result<(), Error> {
    if s.c == 0 {
        Ok(())
    } else {
        Err(empty_channel(s))
    }
}

#[test]
fn numel_and_count_of_zero_sized_shapes() {
    for s in zero_sized() {
        assert!(s.is_zero_sized(), "{s:?}");
        assert_eq!(s.numel(), Ok(0), "{s:?}");
        let count = s.count_per_channel();
        if s.n == 0 || s.h == 0 || s.w == 0 {
            assert_eq!(count, Ok(0), "{s:?}");
        }
    }
    // With c == 0 only, n*h*w itself may overflow: the method says so.
    let s = Shape::new(3, 0, usize::MAX, usize::MAX);
    assert_eq!(
        s.count_per_channel(),
        Err(Error::ShapeOverflow {
            n: 3,
            c: 0,
            h: usize::MAX,
            w: usize::MAX
        })
    );
    assert_eq!(Shape::new(2, 0, 3, 4).count_per_channel(), Ok(24));
    assert!(!Shape::new(1, 1, 1, 1).is_zero_sized());
    // A shape with no zero dimension still overflows.
    assert!(matches!(
        Shape::new(usize::MAX, 3, 1, 7).numel(),
        Err(Error::ShapeOverflow { .. })
    ));
}

#[test]
fn statistics_accept_zero_sized_shapes() {
    for s in zero_sized() {
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for method in [Method::Welford, Method::TwoPass] {
                let what = format!("{s:?} {layout:?} {method:?}");
                let (mut mean, mut var) = (vec![7.0f32; s.c], vec![7.0f32; s.c]);
                let r = batch_stats(&[], s, layout, method, &mut mean, &mut var);
                assert_eq!(r, stats_result(s), "batch_stats {what}");
                assert!(mean.iter().chain(&var).all(|&v| v == 7.0), "{what}");
                let mut acc = vec![Moments::EMPTY; s.c];
                let r = accumulate_moments(&[], s, layout, method, &mut acc);
                assert_eq!(r, stats_result(s), "accumulate_moments {what}");
                assert!(acc.iter().all(|m| *m == Moments::EMPTY), "{what}");
            }
            let mut out = vec![Moments::EMPTY; s.c];
            let r = reference::moments(&[], s, layout, &mut out);
            assert_eq!(r, stats_result(s), "reference::moments {s:?}");
            let (mut mean, mut var) = (vec![0.0f64; s.c], vec![0.0f64; s.c]);
            let r = reference::batch_stats(&[], s, layout, &mut mean, &mut var);
            assert_eq!(r, stats_result(s), "reference::batch_stats {s:?}");
            // A non-empty `x` is a length error, not an overflow.
            let r = batch_stats(
                &[1.0],
                s,
                layout,
                Method::TwoPass,
                &mut [0.0; 3],
                &mut [0.0; 3],
            );
            assert_eq!(
                r,
                Err(Error::LengthMismatch {
                    buffer: "x",
                    expected: 0,
                    actual: 1
                }),
                "{s:?}"
            );
        }
    }
}

#[test]
fn normalize_accepts_zero_sized_shapes() {
    for s in zero_sized() {
        let ones = vec![1.0f32; s.c];
        let p = NormParams {
            mean: &ones,
            var: &ones,
            gamma: &ones,
            beta: &ones,
            eps: 1e-5,
        };
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for act in [Activation::Identity, Activation::Relu] {
                let what = format!("{s:?} {layout:?} {act:?}");
                assert_eq!(
                    normalize(&[], &mut [], s, layout, &p, act),
                    Ok(()),
                    "{what}"
                );
                assert_eq!(
                    normalize_in_place(&mut [], s, layout, &p, act),
                    Ok(()),
                    "{what}"
                );
                assert_eq!(
                    reference::normalize(&[], &mut [], s, layout, &p, act),
                    Ok(()),
                    "reference {what}"
                );
            }
        }
        // Per-channel buffers must still have `c` values.
        let short = NormParams { mean: &[], ..p };
        if s.c > 0 {
            let r = normalize(&[], &mut [], s, Layout::Nchw, &short, Activation::Identity);
            assert_eq!(
                r,
                Err(Error::LengthMismatch {
                    buffer: "mean",
                    expected: s.c,
                    actual: 0
                }),
                "{s:?}"
            );
        }
    }
}

#[test]
fn train_forward_accepts_zero_sized_shapes() {
    for s in zero_sized() {
        let ones = vec![1.0f32; s.c];
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for method in [Method::Welford, Method::TwoPass] {
                let p = TrainParams {
                    gamma: &ones,
                    beta: &ones,
                    eps: 1e-5,
                    method,
                    act: Activation::Identity,
                };
                let what = format!("{s:?} {layout:?} {method:?}");
                let (mut rm, mut rv) = (vec![3.0f32; s.c], vec![3.0f32; s.c]);
                let (mut sm, mut si) = (vec![3.0f32; s.c], vec![3.0f32; s.c]);
                let r = train_forward(
                    &[],
                    &mut [],
                    s,
                    layout,
                    &p,
                    Some(RunningStats {
                        mean: &mut rm,
                        var: &mut rv,
                        momentum: Momentum::PYTORCH_DEFAULT,
                    }),
                    SavedStats {
                        mean: &mut sm,
                        invstd: &mut si,
                    },
                );
                assert_eq!(r, stats_result(s), "train_forward {what}");
                let r = train_forward_in_place(
                    &mut [],
                    s,
                    layout,
                    &p,
                    None,
                    SavedStats {
                        mean: &mut sm,
                        invstd: &mut si,
                    },
                );
                assert_eq!(r, stats_result(s), "train_forward_in_place {what}");
                assert!(
                    rm.iter()
                        .chain(&rv)
                        .chain(&sm)
                        .chain(&si)
                        .all(|&v| v == 3.0)
                );
                let (mut m64, mut i64_, mut rm64, mut rv64) = (
                    vec![0.0; s.c],
                    vec![0.0; s.c],
                    vec![0.0; s.c],
                    vec![0.0; s.c],
                );
                let r = reference::train_forward(
                    &[],
                    s,
                    layout,
                    &p,
                    Some(Running64 {
                        mean: &mut rm64,
                        var: &mut rv64,
                        momentum: Momentum::ONNX_DEFAULT,
                    }),
                    Train64 {
                        y: &mut [],
                        mean: &mut m64,
                        invstd: &mut i64_,
                    },
                );
                assert_eq!(r, stats_result(s), "reference::train_forward {what}");
            }
        }
    }
}
