//! The `rayon` feature's `batchnorm::par`: normalize bitwise equal to the serial entry
//! points, statistics within the reference's bounds and bitwise the same on pools of 1, 2
//! and 3 threads, the serial functions' errors with the outputs untouched. The shapes
//! reach every kind of block (rows, whole batch items, channel runs, pieces of a plane).
#![cfg(feature = "rayon")]

mod common;
mod isa;

use batchnorm::{
    Activation, Error, Layout, Method, Moments, NormParams, Prepared, Shape, accumulate_moments,
    batch_stats, normalize, normalize_in_place, normalize_prepared, normalize_prepared_in_place,
    par, prepare,
};
use common::*;

/// Shapes reaching each kind of block (`par::BLOCK` = 32768 values, `par::ROWS_BLOCK` =
/// 524288 for pixel rows), and a few small ones.
fn shapes() -> Vec<Shape> {
    vec![
        Shape::new(1, 1, 1, 1),
        Shape::new(2, 3, 5, 7),
        Shape::new(5, 3, 7, 7),       // NCHW: whole batch items
        Shape::new(2, 40, 32, 32),    // NCHW: runs of channels in one item
        Shape::new(1, 2, 200, 200),   // NCHW: pieces of a plane
        Shape::new(3, 7, 160, 160),   // NHWC: runs of rows (over ROWS_BLOCK)
        Shape::new(1, 600_000, 1, 2), // NHWC: one row per block, c > ROWS_BLOCK
        Shape::new(1_100, 500, 1, 1), // 1x1 planes: runs of rows (over ROWS_BLOCK)
        Shape::new(1, 33_000, 1, 1),  // NCHW: c * plane just over BLOCK
    ]
}

/// Runs `f` on a rayon pool of `threads` threads.
fn on<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}

fn params(c: usize, rng: &mut XorShift) -> [Vec<f32>; 4] {
    let mut v = |lo: f64, span: f64| -> Vec<f32> {
        (0..c).map(|_| (lo + span * rng.uniform()) as f32).collect()
    };
    [v(-1.0, 2.0), v(0.1, 3.0), v(-2.0, 4.0), v(-1.0, 2.0)]
}

const ACTS: [Activation; 3] = [
    Activation::Identity,
    Activation::Relu,
    Activation::LeakyRelu { slope: 0.1 },
];

#[test]
fn normalize_is_bitwise_serial_at_any_thread_count() {
    let mut rng = XorShift::new(11);
    for shape in shapes() {
        for layout in LAYOUTS {
            let x = tensor(
                shape,
                layout,
                &[Dist::Normal {
                    offset: 0.5,
                    spread: 2.0,
                }],
                &mut rng,
            );
            let [mean, var, gamma, beta] = params(shape.c, &mut rng);
            let p = NormParams {
                mean: &mean,
                var: &var,
                gamma: &gamma,
                beta: &beta,
                eps: 1e-5,
            };
            let mut scale = vec![0.0f32; shape.c];
            prepare(&p, &mut scale).unwrap();
            let q = Prepared {
                mean: &mean,
                scale: &scale,
                beta: &beta,
            };
            for act in ACTS {
                let mut want = vec![0.0f32; x.len()];
                normalize(&x, &mut want, shape, layout, &p, act).unwrap();
                let mut want_q = vec![0.0f32; x.len()];
                normalize_prepared(&x, &mut want_q, shape, layout, &q, act).unwrap();
                let mut want_ip = x.clone();
                normalize_in_place(&mut want_ip, shape, layout, &p, act).unwrap();
                let mut want_qip = x.clone();
                normalize_prepared_in_place(&mut want_qip, shape, layout, &q, act).unwrap();
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                for threads in [1, 2, 3] {
                    let what = format!("{shape:?} {layout:?} {act:?} {threads} threads");
                    let mut y = vec![f32::NAN; x.len()];
                    on(threads, || {
                        par::normalize(&x, &mut y, shape, layout, &p, act)
                    })
                    .unwrap();
                    assert!(bits(&y) == bits(&want), "normalize {what}");
                    on(threads, || {
                        par::normalize_prepared(&x, &mut y, shape, layout, &q, act)
                    })
                    .unwrap();
                    assert!(bits(&y) == bits(&want_q), "normalize_prepared {what}");
                    let mut z = x.clone();
                    on(threads, || {
                        par::normalize_in_place(&mut z, shape, layout, &p, act)
                    })
                    .unwrap();
                    assert!(bits(&z) == bits(&want_ip), "normalize_in_place {what}");
                    let mut z = x.clone();
                    on(threads, || {
                        par::normalize_prepared_in_place(&mut z, shape, layout, &q, act)
                    })
                    .unwrap();
                    assert!(
                        bits(&z) == bits(&want_qip),
                        "normalize_prepared_in_place {what}"
                    );
                }
            }
        }
    }
}

#[test]
fn stats_are_reproducible_and_within_bounds() {
    let mut rng = XorShift::new(12);
    let dists = [
        Dist::Normal {
            offset: 0.0,
            spread: 1.0,
        },
        Dist::Normal {
            offset: 1e4,
            spread: 1.0,
        },
        Dist::Constant(3.25),
        Dist::Normal {
            offset: 1.0,
            spread: 1e-3,
        },
    ];
    for shape in shapes() {
        for layout in LAYOUTS {
            let x = tensor(shape, layout, &dists, &mut rng);
            let exp = expected(&x, shape, layout);
            for method in METHODS {
                let what = format!("{shape:?} {layout:?} {method:?}");
                let mut first: Option<(Vec<u32>, Vec<Moments>)> = None;
                for threads in [1, 2, 3] {
                    let c = shape.c;
                    let (mut mean, mut var) = (vec![f32::NAN; c], vec![f32::NAN; c]);
                    on(threads, || {
                        par::batch_stats(&x, shape, layout, method, &mut mean, &mut var)
                    })
                    .unwrap();
                    let mut acc = vec![Moments::EMPTY; c];
                    on(threads, || {
                        par::accumulate_moments(&x, shape, layout, method, &mut acc)
                    })
                    .unwrap();
                    let bits: Vec<u32> = mean.iter().chain(&var).map(|v| v.to_bits()).collect();
                    match &first {
                        None => {
                            for (k, e) in exp.iter().enumerate() {
                                check_moments(mean[k], var[k], e, method)
                                    .unwrap_or_else(|m| panic!("{what} channel {k}: {m}"));
                                check_acc(&acc[k], e, method)
                                    .unwrap_or_else(|m| panic!("{what} channel {k} acc: {m}"));
                            }
                            first = Some((bits, acc));
                        }
                        Some((b, a)) => {
                            assert!(*b == bits, "batch_stats {what}: {threads} threads differ");
                            let same = a.iter().zip(&acc).all(|(a, m)| {
                                a.count == m.count
                                    && a.mean.to_bits() == m.mean.to_bits()
                                    && a.m2.to_bits() == m.m2.to_bits()
                            });
                            assert!(same, "accumulate_moments {what}: {threads} threads differ");
                        }
                    }
                }
            }
        }
    }
}

/// `par::accumulate_moments` adds to what `acc` holds, as the serial one does, and
/// non-finite channels follow the serial rule.
#[test]
fn accumulates_and_keeps_the_nan_rule() {
    let shape = Shape::new(4, 3, 100, 100);
    let mut rng = XorShift::new(13);
    for layout in LAYOUTS {
        let mut x = tensor(
            shape,
            layout,
            &[Dist::Normal {
                offset: 2.0,
                spread: 1.0,
            }],
            &mut rng,
        );
        x[index(shape, layout, 3, 1, 17)] = f32::INFINITY;
        x[index(shape, layout, 0, 2, 5)] = f32::NAN;
        let prior = Moments {
            count: 10,
            mean: 1.0,
            m2: 4.0,
        };
        let mut acc = vec![prior; 3];
        par::accumulate_moments(&x, shape, layout, Method::Welford, &mut acc).unwrap();
        let mut ser = vec![prior; 3];
        accumulate_moments(&x, shape, layout, Method::Welford, &mut ser).unwrap();
        assert_eq!(acc[0].count, 10 + 40_000);
        assert!((acc[0].mean - ser[0].mean).abs() < 1e-6 * (1.0 + ser[0].mean.abs()));
        assert!((acc[0].m2 - ser[0].m2).abs() < 1e-5 * ser[0].m2);
        assert_eq!(acc[1].mean, f64::INFINITY);
        assert!(acc[1].m2.is_nan() && acc[2].mean.is_nan() && acc[2].m2.is_nan());
        let (mut mean, mut var) = ([0.0f32; 3], [0.0f32; 3]);
        par::batch_stats(&x, shape, layout, Method::TwoPass, &mut mean, &mut var).unwrap();
        assert_eq!(mean[1], f32::INFINITY);
        assert!(var[1].is_nan() && mean[2].is_nan() && var[2].is_nan());
    }
}

/// The serial functions' errors, outputs untouched; zero-sized shapes are `Ok`.
#[test]
fn errors_are_the_serial_ones() {
    let ok = [1.0f32; 3];
    let short = [1.0f32; 2];
    let p = NormParams {
        mean: &ok,
        var: &ok,
        gamma: &ok,
        beta: &ok,
        eps: 1e-5,
    };
    let q = Prepared {
        mean: &ok,
        scale: &ok,
        beta: &ok,
    };
    let shape = Shape::new(2, 3, 2, 2);
    let x = vec![1.0f32; 24];
    let cases: Vec<(Vec<f32>, usize, Shape, NormParams, Prepared, Activation)> = vec![
        (
            x.clone(),
            24,
            Shape::new(2, 3, 2, 3),
            p,
            q,
            Activation::Identity,
        ),
        (x.clone(), 23, shape, p, q, Activation::Identity),
        (
            x.clone(),
            24,
            shape,
            NormParams { var: &short, ..p },
            Prepared { scale: &short, ..q },
            Activation::Identity,
        ),
        (
            x.clone(),
            24,
            shape,
            NormParams { eps: -1.0, ..p },
            q,
            Activation::Identity,
        ),
        (
            x.clone(),
            24,
            shape,
            p,
            q,
            Activation::Clamp { min: 1.0, max: 0.0 },
        ),
        (
            vec![],
            0,
            Shape::new(usize::MAX, 3, 2, usize::MAX),
            p,
            q,
            Activation::Identity,
        ),
        (
            vec![],
            0,
            Shape::new(0, 3, 2, 2),
            p,
            q,
            Activation::Identity,
        ),
        (
            vec![],
            0,
            Shape::new(usize::MAX, 0, 2, 2),
            NormParams {
                mean: &[],
                var: &[],
                gamma: &[],
                beta: &[],
                eps: 0.0,
            },
            Prepared {
                mean: &[],
                scale: &[],
                beta: &[],
            },
            Activation::Identity,
        ),
    ];
    for (x, ylen, shape, p, q, act) in cases {
        for layout in LAYOUTS {
            let what = format!("{shape:?} {layout:?} y {ylen} {act:?}");
            let (mut y1, mut y2) = (vec![7.0f32; ylen], vec![7.0f32; ylen]);
            let a = par::normalize(&x, &mut y1, shape, layout, &p, act);
            let b = normalize(&x, &mut y2, shape, layout, &p, act);
            assert_eq!(a, b, "normalize {what}");
            let a = par::normalize_prepared(&x, &mut y1, shape, layout, &q, act);
            let b = normalize_prepared(&x, &mut y2, shape, layout, &q, act);
            assert_eq!(a, b, "normalize_prepared {what}");
            if a.is_err() {
                assert!(y1.iter().all(|v| *v == 7.0), "written on error: {what}");
            }
            let (mut z1, mut z2) = (x.clone(), x.clone());
            assert_eq!(
                par::normalize_in_place(&mut z1, shape, layout, &p, act),
                normalize_in_place(&mut z2, shape, layout, &p, act),
                "{what}"
            );
            assert_eq!(
                par::normalize_prepared_in_place(&mut z1, shape, layout, &q, act),
                normalize_prepared_in_place(&mut z2, shape, layout, &q, act),
                "{what}"
            );
            assert_eq!(z1, x, "{what}");
            for c in [shape.c, 2] {
                let (mut m1, mut v1) = (vec![7.0f32; c], vec![7.0f32; c]);
                let (mut m2, mut v2) = (vec![7.0f32; c], vec![7.0f32; c]);
                let a = par::batch_stats(&x, shape, layout, Method::Welford, &mut m1, &mut v1);
                let b = batch_stats(&x, shape, layout, Method::Welford, &mut m2, &mut v2);
                assert_eq!(a, b, "batch_stats {what} c {c}");
                let mut acc1 = vec![Moments::EMPTY; c];
                let mut acc2 = vec![Moments::EMPTY; c];
                let a = par::accumulate_moments(&x, shape, layout, Method::TwoPass, &mut acc1);
                let b = accumulate_moments(&x, shape, layout, Method::TwoPass, &mut acc2);
                assert_eq!(a, b, "accumulate_moments {what} c {c}");
                if a.is_err() {
                    assert!(m1.iter().chain(&v1).all(|v| *v == 7.0), "{what}");
                    assert!(acc1.iter().all(|m| *m == Moments::EMPTY), "{what}");
                }
            }
        }
    }
    // One case spelled out: the error names the buffer and the numbers.
    let mut y = [0.0f32; 23];
    assert_eq!(
        par::normalize(&x, &mut y, shape, Layout::Nchw, &p, Activation::Identity),
        Err(Error::LengthMismatch {
            buffer: "y",
            expected: 24,
            actual: 23
        })
    );
}
