//! Issue 2: per-channel statistics (`batch_stats`, `accumulate_moments`, `Moments`) against
//! the f64 reference and exact arithmetic, with the README's accuracy bounds.

mod common;

use batchnorm::{Layout, Method, Moments, Shape};
mod isa;
use common::*;
use isa::{accumulate_moments, batch_stats};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

/// Proptest settings: `cases` cases, no regression files, and a fixed seed so a run is
/// reproducible (set `PROPTEST_RNG_SEED` to explore other seeds).
fn config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::with_cases(cases);
    c.failure_persistence = None;
    if c.rng_seed == RngSeed::Random {
        c.rng_seed = RngSeed::Fixed(0x00ba_7c40_5eed);
    }
    c
}

/// Panics with every message in `failures` (at most 25 shown) if there are any.
fn assert_no_failures(what: &str, failures: &[String]) {
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(25).map(String::as_str).collect();
        panic!(
            "{what}: {} failure(s); the first ones:\n{}",
            failures.len(),
            shown.join("\n")
        );
    }
}

/// `Expected` for a channel of exactly known statistics (exact rationals rounded once).
fn exact(count: u64, mean: f64, var: f64, abs_mean: f64) -> Expected {
    Expected {
        count,
        mean,
        var,
        abs_mean,
    }
}

// ---------------------------------------------------------------------------------------
// The worked example: [1..=8] and [2..=9], mean 5, M2 88, var 5.5, unbiased 88/15
// ---------------------------------------------------------------------------------------

fn worked_example() -> (Vec<f32>, Shape) {
    let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
    (x, Shape::new(2, 1, 2, 4))
}

#[test]
fn worked_example_batch_stats_is_exact() {
    isa::each_isa(|| {
        let (x, shape) = worked_example();
        for layout in LAYOUTS {
            for method in METHODS {
                let (mut mean, mut var) = ([f32::NAN], [f32::NAN]);
                batch_stats(&x, shape, layout, method, &mut mean, &mut var).unwrap();
                assert_eq!(mean[0], 5.0, "{layout:?} {method:?} mean");
                assert_eq!(var[0], 5.5, "{layout:?} {method:?} biased variance");
            }
        }
    });
}

#[test]
fn worked_example_accumulate_moments() {
    isa::each_isa(|| {
        let (x, shape) = worked_example();
        for layout in LAYOUTS {
            for method in METHODS {
                let mut acc = [Moments::default()];
                accumulate_moments(&x, shape, layout, method, &mut acc).unwrap();
                let m = acc[0];
                assert_eq!(m.count, 16, "{layout:?} {method:?}");
                // f64 moments: exact with two-pass; Welford's f32 steps (1/k rounded) may
                // leave about one f32 rounding (the f32 outputs of `batch_stats` are exact,
                // see above).
                let close = |got: f64, want: f64| match method {
                    Method::TwoPass => got == want,
                    Method::Welford => (got - want).abs() <= 16.0 * U * want.abs(),
                    _ => unreachable!("no bound for {method:?}"),
                };
                assert!(close(m.mean, 5.0), "{layout:?} {method:?} mean {m:?}");
                assert!(close(m.m2, 88.0), "{layout:?} {method:?} M2 {m:?}");
                assert!(close(m.variance(), 5.5), "{layout:?} {method:?} variance");
                assert!(
                    close(m.sample_variance(), 88.0 / 15.0),
                    "{layout:?} {method:?}"
                );
            }
        }
    });
}

#[test]
fn worked_example_split_into_its_two_samples() {
    isa::each_isa(|| {
        let (x, _) = worked_example();
        let one = Shape::new(1, 1, 2, 4);
        for layout in LAYOUTS {
            for method in METHODS {
                // Two-pass is exact here. Welford steps by `1/k` rounded to f32 (1/3, 1/5,
                // 1/6, 1/7 are inexact), so its f64 moments may be off by about one f32
                // rounding of the values: within the README's accuracy bounds, not to the last bit.
                let close = |got: f64, want: f64| match method {
                    Method::TwoPass => got == want,
                    Method::Welford => (got - want).abs() <= 16.0 * U * want.abs(),
                    _ => unreachable!("no bound for {method:?}"),
                };
                let mut acc = [Moments::EMPTY];
                accumulate_moments(&x[..8], one, layout, method, &mut acc).unwrap();
                let m = acc[0];
                assert_eq!(m.count, 8);
                assert!(
                    close(m.mean, 4.5) && close(m.m2, 42.0),
                    "{layout:?} {method:?} {m:?}"
                );
                accumulate_moments(&x[8..], one, layout, method, &mut acc).unwrap();
                let m = acc[0];
                assert_eq!(m.count, 16);
                assert!(
                    close(m.mean, 5.0) && close(m.m2, 88.0),
                    "{layout:?} {method:?} {m:?}"
                );
                assert!(
                    close(m.sample_variance(), 88.0 / 15.0),
                    "{layout:?} {method:?}"
                );
            }
        }
    });
}

/// The example as the middle channel of three, so that NHWC interleaves it with others
/// (the tiled kernel) and NCHW gives it planes of 8 next to other channels.
#[test]
fn worked_example_among_other_channels() {
    isa::each_isa(|| {
        let shape = Shape::new(2, 3, 2, 4);
        let mut rng = XorShift::new(7);
        let mut x_nchw = tensor_nchw(
            shape,
            &[
                Dist::Normal {
                    offset: 1e6,
                    spread: 3.0,
                },
                Dist::Constant(0.0),
                Dist::Constant(-3.25),
            ],
            &mut rng,
        );
        for n in 0..2 {
            for s in 0..8 {
                x_nchw[index(shape, Layout::Nchw, n, 1, s)] = (1 + n + s) as f32;
            }
        }
        for layout in LAYOUTS {
            let x = to_layout(&x_nchw, shape, layout);
            let exp = expected(&x, shape, layout);
            assert_eq!(
                (exp[1].mean, exp[1].var),
                (5.0, 5.5),
                "the reference itself"
            );
            for method in METHODS {
                let (mean, var) = run_batch_stats(&x, shape, layout, method, &exp).unwrap();
                assert_eq!((mean[1], var[1]), (5.0, 5.5), "{layout:?} {method:?}");
                assert_eq!((mean[2], var[2]), (-3.25, 0.0), "{layout:?} {method:?}");
                let acc = run_accumulate(&x, shape, layout, method, &exp).unwrap();
                assert_eq!(
                    acc[1].sample_variance(),
                    88.0 / 15.0,
                    "{layout:?} {method:?}"
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// The oracle against exact arithmetic
// ---------------------------------------------------------------------------------------

/// Exact statistics of integer data: `S = Σx`, `Q = Σx²` in i128, mean `S/n` and variance
/// `(n·Q - S²)/n²` each rounded once to f64 (numerators and denominators are exact in f64).
fn exact_int_stats(v: &[f32]) -> Expected {
    let n = v.len() as i128;
    let s: i128 = v.iter().map(|&x| x as i128).sum();
    let q: i128 = v.iter().map(|&x| (x as i128) * (x as i128)).sum();
    let a: i128 = v.iter().map(|&x| (x as i128).abs()).sum();
    let num = n * q - s * s;
    assert!(
        num < (1 << 53) && n * n < (1 << 53),
        "keep the test data small"
    );
    exact(
        v.len() as u64,
        s as f64 / n as f64,
        num as f64 / (n * n) as f64,
        a as f64 / n as f64,
    )
}

#[test]
fn reference_and_kernels_match_exact_arithmetic_on_integers() {
    isa::each_isa(|| {
        let shapes = [
            Shape::new(3, 4, 5, 7),
            Shape::new(2, 13, 13, 13),
            Shape::new(40, 3, 1, 1),
            Shape::new(1, 33, 17, 9),
        ];
        let mut failures = vec![];
        for (i, &shape) in shapes.iter().enumerate() {
            let mut rng = XorShift::new(100 + i as u64);
            let dists = [
                Dist::SmallInts { lo: -100, hi: 100 },
                Dist::SmallInts { lo: 0, hi: 3 },
                Dist::SmallInts {
                    lo: 10_000,
                    hi: 10_010,
                },
            ];
            let x_nchw = tensor_nchw(shape, &dists, &mut rng);
            for layout in LAYOUTS {
                let x = to_layout(&x_nchw, shape, layout);
                let exp: Vec<Expected> = (0..shape.c)
                    .map(|c| exact_int_stats(&channel_values(&x, shape, layout, c)))
                    .collect();
                // The oracle: within a few f64 ulps of the exact values.
                let oracle = expected(&x, shape, layout);
                for (c, (o, e)) in oracle.iter().zip(&exp).enumerate() {
                    // Recursive f64 summation of `count` terms: error up to ~count·ε.
                    let tol = (4.0 + e.count as f64) * f64::EPSILON;
                    let ok = (o.mean - e.mean).abs() <= tol * e.abs_mean
                        && (o.var - e.var).abs() <= tol * e.var;
                    if !ok || o.count != e.count {
                        failures.push(format!(
                            "reference {shape:?} {layout:?} ch {c}: {o:?} vs exact {e:?}"
                        ));
                    }
                }
                // The kernels: within the README's accuracy bounds of the exact values.
                for method in METHODS {
                    if let Err(msg) = run_batch_stats(&x, shape, layout, method, &exp) {
                        failures.push(msg);
                    }
                    if let Err(msg) = run_accumulate(&x, shape, layout, method, &exp) {
                        failures.push(msg);
                    }
                }
            }
        }
        assert_no_failures("integer data", &failures);
    });
}

// ---------------------------------------------------------------------------------------
// Property tests against the reference
// ---------------------------------------------------------------------------------------

fn dist_strategy() -> impl Strategy<Value = Dist> {
    prop_oneof![
        3 => Just(Dist::Normal { offset: 0.0, spread: 1.0 }),
        2 => prop::sample::select(vec![1e4, -1e4, 1e6, -1e6])
            .prop_map(|offset| Dist::Normal { offset, spread: 1.0 }),
        1 => Just(Dist::Normal { offset: 1.0, spread: 1e-6 }),
        1 => (-1e3f64..1e3, 1e-3f64..1e3).prop_map(|(offset, spread)| Dist::Normal { offset, spread }),
        1 => prop::sample::select(CONSTANTS.to_vec()).prop_map(Dist::Constant),
        1 => Just(Dist::Constant(0.0)),
        1 => any::<bool>().prop_map(|mixed_signs| Dist::Huge { mixed_signs }),
        1 => any::<bool>().prop_map(|mixed_signs| Dist::Denormal { mixed_signs }),
        1 => Just(Dist::SmallInts { lo: -100, hi: 100 }),
        1 => Just(Dist::Wild),
    ]
}

/// Shapes with the odd sizes of the issue (c = 1, 3, 7, 13, 257; h*w = 1, 15, 169) and
/// others, n = 1..=4, at most `max_numel` elements (debug builds stay fast).
fn shape_strategy(max_numel: usize) -> impl Strategy<Value = Shape> {
    let c = prop_oneof![
        3 => prop::sample::select(ODD_C.to_vec()),
        2 => 1usize..=40,
        1 => prop::sample::select(vec![16usize, 32, 33, 64, 128, 129]),
    ];
    let hw = prop_oneof![
        3 => prop::sample::select(vec![(1usize, 1usize), (3, 5), (13, 13)]),
        2 => (1usize..=12, 1usize..=12),
        1 => prop::sample::select(vec![(7, 7), (1, 200), (32, 33), (56, 56)]),
    ];
    (1usize..=4, c, hw)
        .prop_map(|(n, c, (h, w))| Shape::new(n, c, h, w))
        .prop_filter("keep tensors small", move |s| {
            s.n * s.c * s.h * s.w <= max_numel
        })
}

proptest! {
    #![proptest_config(config(256))]

    /// Random shapes, a palette of 1..=4 distributions spread over the channels (so one
    /// tensor mixes e.g. huge, denormal and offset channels), both layouts, both methods,
    /// `batch_stats` and `accumulate_moments`, every channel within the README's accuracy bounds
    /// of the f64 reference.
    #[test]
    fn stats_match_reference(
        shape in shape_strategy(40_000),
        palette in prop::collection::vec(dist_strategy(), 1..=4),
        seed in any::<u64>(),
    ) {
        let r = isa::try_each_isa(|| {
            let mut rng = XorShift::new(seed);
            let x_nchw = tensor_nchw(shape, &palette, &mut rng);
            let exp_nchw = expected(&x_nchw, shape, Layout::Nchw);
            for layout in LAYOUTS {
                let x = to_layout(&x_nchw, shape, layout);
                let exp = expected(&x, shape, layout);
                // The oracle sums each channel in (n, h, w) order in either layout.
                prop_assert_eq!(&exp, &exp_nchw, "the reference depends on the layout");
                for method in METHODS {
                    let r = run_batch_stats(&x, shape, layout, method, &exp);
                    prop_assert!(r.is_ok(), "{}", r.unwrap_err());
                    let r = run_accumulate(&x, shape, layout, method, &exp);
                    prop_assert!(r.is_ok(), "{}", r.unwrap_err());
                }
            }
            Ok::<(), TestCaseError>(())
        });
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

}

proptest! {
    #![proptest_config(config(96))]

    /// `accumulate_moments` over the batch cut along `n` into random pieces, into one
    /// accumulator, agrees with the reference over the whole batch (the variance bound
    /// widened for the merge of the pieces' means, see `check_acc_pieces`), and with one
    /// call over the whole batch (the README's accuracy bounds).
    #[test]
    fn accumulate_over_pieces_matches_whole_batch(
        shape in shape_strategy(20_000).prop_filter("n >= 2", |s| s.n >= 2),
        cuts in prop::collection::vec(any::<bool>(), 3),
        palette in prop::collection::vec(dist_strategy(), 1..=3),
        seed in any::<u64>(),
    ) {
        let r = isa::try_each_isa(|| {
            let mut rng = XorShift::new(seed);
            let x_nchw = tensor_nchw(shape, &palette, &mut rng);
            let sample = shape.c * shape.h * shape.w;
            // Pieces: always a cut after the first sample, then after sample i when cuts[i].
            let mut bounds = vec![0];
            for i in 0..shape.n {
                if i + 1 == shape.n || i == 0 || cuts[i % cuts.len()] {
                    bounds.push(i + 1);
                }
            }
            for layout in LAYOUTS {
                let x = to_layout(&x_nchw, shape, layout);
                let exp = expected(&x, shape, layout);
                let piece_exp: Vec<(Shape, &[f32], Vec<Expected>)> = bounds
                    .windows(2)
                    .map(|b| {
                        let piece = Shape::new(b[1] - b[0], shape.c, shape.h, shape.w);
                        let xs = &x[b[0] * sample..b[1] * sample];
                        (piece, xs, expected(xs, piece, layout))
                    })
                    .collect();
                for method in METHODS {
                    let whole = run_accumulate(&x, shape, layout, method, &exp);
                    prop_assert!(whole.is_ok(), "{}", whole.unwrap_err());
                    let mut acc = vec![Moments::EMPTY; shape.c];
                    for (piece, xs, _) in &piece_exp {
                        accumulate_moments(xs, *piece, layout, method, &mut acc).unwrap();
                    }
                    for c in 0..shape.c {
                        let pieces: Vec<(Expected, Option<Method>)> =
                            piece_exp.iter().map(|(_, _, e)| (e[c], Some(method))).collect();
                        let r = check_acc_pieces(&acc[c], &exp[c], &pieces);
                        prop_assert!(r.is_ok(), "{shape:?} {layout:?} {method:?} ch {c}, pieces {bounds:?}: {}", r.unwrap_err());
                    }
                }
            }
            Ok::<(), TestCaseError>(())
        });
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Accumulating into non-empty accumulators merges: the result is the statistics of
    /// both batches together (the reference over their concatenation along `n`).
    #[test]
    fn accumulate_into_nonempty_merges(
        shape in shape_strategy(20_000),
        pal_a in prop::collection::vec(dist_strategy(), 1..=3),
        pal_b in prop::collection::vec(dist_strategy(), 1..=3),
        seed in any::<u64>(),
    ) {
        let r = isa::try_each_isa(|| {
            let mut rng = XorShift::new(seed);
            let a_nchw = tensor_nchw(shape, &pal_a, &mut rng);
            let b_nchw = tensor_nchw(shape, &pal_b, &mut rng);
            let both = Shape::new(2 * shape.n, shape.c, shape.h, shape.w);
            for layout in LAYOUTS {
                let a = to_layout(&a_nchw, shape, layout);
                let b = to_layout(&b_nchw, shape, layout);
                let ab: Vec<f32> = a.iter().chain(&b).copied().collect();
                let exp = expected(&ab, both, layout);
                let (exp_a, exp_b) = (expected(&a, shape, layout), expected(&b, shape, layout));
                for method in METHODS {
                    // Start from the reference moments of `a`, then add `b`.
                    let mut acc = vec![Moments::EMPTY; shape.c];
                    batchnorm::reference::moments(&a, shape, layout, &mut acc).unwrap();
                    accumulate_moments(&b, shape, layout, method, &mut acc).unwrap();
                    for c in 0..shape.c {
                        let pieces = [(exp_a[c], None), (exp_b[c], Some(method))];
                        let r = check_acc_pieces(&acc[c], &exp[c], &pieces);
                        prop_assert!(r.is_ok(), "{shape:?} {layout:?} {method:?} ch {c}: {}", r.unwrap_err());
                    }
                }
            }
            Ok::<(), TestCaseError>(())
        });
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------
// Every kernel path, every distribution
// ---------------------------------------------------------------------------------------

/// Each shape of [`kernel_path_shapes`] with the channels cycling through every
/// distribution of [`Dist::ALL`] (enough rotations that every distribution lands on
/// every shape), both layouts, both methods, both entry points.
#[test]
fn every_kernel_path_matches_reference() {
    isa::each_isa(|| {
        let mut failures = vec![];
        for (i, shape) in kernel_path_shapes().into_iter().enumerate() {
            let rotations = Dist::ALL.len().div_ceil(shape.c);
            for r in 0..rotations {
                let dists: Vec<Dist> = (0..Dist::ALL.len())
                    .map(|k| Dist::ALL[(k + r * shape.c) % Dist::ALL.len()])
                    .collect();
                let mut rng = XorShift::new((i * 100 + r) as u64);
                let x_nchw = tensor_nchw(shape, &dists, &mut rng);
                for layout in LAYOUTS {
                    let x = to_layout(&x_nchw, shape, layout);
                    if let Err(msg) = check_all_methods(&x, shape, layout) {
                        failures.push(msg);
                    }
                }
            }
        }
        assert_no_failures("kernel paths", &failures);
    });
}

/// Channel 0 of a tensor holds `values` (one per row of an `(len, 7, 1, 1)` tensor, the
/// other channels 0), or `values` is a single plane `(1, 1, 1, len)`. Every layout and
/// method gives a mean within 16·u·A of the exact one and a variance within bounds.
fn check_one_channel(values: &[f32], failures: &mut Vec<String>) {
    let n = values.len();
    let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
    let abs: f64 = values.iter().map(|&v| f64::from(v).abs()).sum();
    let mean = sum / n as f64;
    let m2: f64 = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum();
    let e = exact(n as u64, mean, m2 / n as f64, abs / n as f64);
    let rows = Shape::new(n, 7, 1, 1);
    let mut x_rows = vec![0.0f32; n * 7];
    for (i, &v) in values.iter().enumerate() {
        x_rows[index(rows, Layout::Nchw, i, 0, 0)] = v;
    }
    let plane = Shape::new(1, 1, 1, n);
    for (x, shape, layout) in [
        (x_rows.clone(), rows, Layout::Nchw),
        (to_layout(&x_rows, rows, Layout::Nhwc), rows, Layout::Nhwc),
        (values.to_vec(), plane, Layout::Nchw),
        (values.to_vec(), plane, Layout::Nhwc),
    ] {
        for method in METHODS {
            let (mut mean, mut var) = (vec![0.0; shape.c], vec![0.0; shape.c]);
            batch_stats(&x, shape, layout, method, &mut mean, &mut var).unwrap();
            if let Err(msg) = check_moments(mean[0], var[0], &e, method) {
                failures.push(format!("{shape:?} {layout:?} {method:?}: {msg}"));
            }
        }
    }
}

/// Trending data: a ramp `0.1f32 * i`. Long runs of sequential f32 Welford updates
/// `mean += (t - mean)/k` in one lane drift on a ramp; each lane folds into f64 (and
/// re-centers its pivot) every `CHUNK` = 64 steps. In rows of 7 channels (channel 0 the
/// ramp) and in a single plane, 512 and 16,384 values long, the mean must stay within
/// 16·u·A.
#[test]
fn mean_of_a_ramp() {
    isa::each_isa(|| {
        let mut failures = vec![];
        for n in [512, 16_384, 40_000] {
            let ramp: Vec<f32> = (0..n).map(|i| 0.1f32 * i as f32).collect();
            check_one_channel(&ramp, &mut failures);
        }
        assert_no_failures("ramp", &failures);
    });
}

/// A step: `1.1f32` for the first quarter of the values, 0 after. Sequential f32 sums of
/// `x - pivot` (the starting pivot is the mean of the first 8 values, 1.1) round the same
/// way for long runs: the mean, exactly `1.1f32 / 4` = 0.2750000059604645, must stay
/// within 16·u·A = 2.62e-7.
#[test]
fn mean_of_a_step() {
    isa::each_isa(|| {
        let mut failures = vec![];
        for n in [512, 16_384, 40_000] {
            let step: Vec<f32> = (0..n).map(|i| if i < n / 4 { 1.1 } else { 0.0 }).collect();
            check_one_channel(&step, &mut failures);
        }
        assert_no_failures("step", &failures);
    });
}

/// An outlier as the first value (1e12, then normal values): the starting pivot, the
/// mean of the first 8 values, is far from everything after it. In a single plane of
/// 512, 16,384 and 40,000 values (the last summed in blocks about the running mean),
/// the mean and variance stay within bounds.
#[test]
fn outlier_first() {
    isa::each_isa(|| {
        let mut failures = vec![];
        let mut rng = XorShift::new(99);
        for n in [512, 16_384, 40_000] {
            let v: Vec<f32> = (0..n)
                .map(|i| if i == 0 { 1e12 } else { rng.normal() as f32 })
                .collect();
            check_one_channel(&v, &mut failures);
        }
        assert_no_failures("outlier first", &failures);
    });
}

// ---------------------------------------------------------------------------------------
// Constant channels, huge values, denormals
// ---------------------------------------------------------------------------------------

#[test]
fn constant_channels_are_exact() {
    isa::each_isa(|| {
        let shapes = [
            Shape::new(1, 1, 1, 1),
            Shape::new(3, 1, 1, 1),
            Shape::new(2, 3, 13, 13),
            Shape::new(2, 7, 3, 5),
            Shape::new(1, 257, 2, 3),
            Shape::new(4, 13, 1, 1),
            Shape::new(1, 2, 150, 151),
            Shape::new(600, 2, 3, 5),
            Shape::new(1, 3, 80, 80),
        ];
        let mut failures = vec![];
        for shape in shapes {
            // Channel k holds CONSTANTS[(k + r) % len]: every constant in every position.
            let rotations = CONSTANTS.len().div_ceil(shape.c).min(CONSTANTS.len());
            for r in 0..rotations {
                let dists: Vec<Dist> = (0..shape.c)
                    .map(|k| Dist::Constant(CONSTANTS[(k + r) % CONSTANTS.len()]))
                    .collect();
                let x_nchw = tensor_nchw(shape, &dists, &mut XorShift::new(0));
                for layout in LAYOUTS {
                    let x = to_layout(&x_nchw, shape, layout);
                    for method in METHODS {
                        let (mut mean, mut var) =
                            (vec![f32::NAN; shape.c], vec![f32::NAN; shape.c]);
                        batch_stats(&x, shape, layout, method, &mut mean, &mut var).unwrap();
                        let mut acc = vec![Moments::EMPTY; shape.c];
                        accumulate_moments(&x, shape, layout, method, &mut acc).unwrap();
                        for k in 0..shape.c {
                            let v = CONSTANTS[(k + r) % CONSTANTS.len()];
                            let count = (shape.n * shape.h * shape.w) as u64;
                            if mean[k] != v || var[k] != 0.0 {
                                failures.push(format!(
                                    "batch_stats {shape:?} {layout:?} {method:?} ch {k} = {v:e}: mean {:e} var {:e}",
                                    mean[k], var[k]
                                ));
                            }
                            let m = acc[k];
                            if m.mean != f64::from(v) || m.m2 != 0.0 || m.count != count {
                                failures.push(format!(
                                    "accumulate {shape:?} {layout:?} {method:?} ch {k} = {v:e}: {m:?}"
                                ));
                            }
                        }
                    }
                }
            }
        }
        assert_no_failures("constant channels", &failures);
    });
}

/// Values whose squares overflow f32 (|x| > 1.8e19): the statistics come out right, not
/// infinite, unless the variance itself is beyond f32 (then ∞ in f32, finite in f64).
#[test]
fn huge_values_do_not_overflow() {
    isa::each_isa(|| {
        let mut failures = vec![];
        for shape in [
            Shape::new(2, 3, 13, 13),
            Shape::new(600, 2, 1, 1),
            Shape::new(1, 1, 64, 64),
            Shape::new(1, 33, 5, 7),
        ] {
            // Per channel: same-sign near 3e19 (variance small), alternating ±1e19
            // (variance 1e38, fits), alternating ±3e19 (variance 9e38 > f32::MAX).
            let count = shape.n * shape.h * shape.w;
            let x_nchw: Vec<f32> = (0..shape.numel().unwrap())
                .map(|i| {
                    let (c, s) = ((i / (shape.h * shape.w)) % shape.c, i % count.max(1));
                    match c % 3 {
                        0 => 3e19 - 1e17 * (s % 10) as f32,
                        1 => 1e19 * if s % 2 == 0 { 1.0 } else { -1.0 },
                        _ => 3e19 * if s % 2 == 0 { 1.0 } else { -1.0 },
                    }
                })
                .collect();
            for layout in LAYOUTS {
                let x = to_layout(&x_nchw, shape, layout);
                let exp = expected(&x, shape, layout);
                for method in METHODS {
                    match run_batch_stats(&x, shape, layout, method, &exp) {
                        Ok((mean, var)) => {
                            for c in 0..shape.c {
                                let finite_var = c % 3 != 2 || count < 2;
                                if !mean[c].is_finite() || var[c].is_finite() != finite_var {
                                    failures.push(format!(
                                        "{shape:?} {layout:?} {method:?} ch {c}: mean {:e} var {:e}",
                                        mean[c], var[c]
                                    ));
                                }
                            }
                        }
                        Err(msg) => failures.push(msg),
                    }
                    match run_accumulate(&x, shape, layout, method, &exp) {
                        Ok(acc) => {
                            for (c, m) in acc.iter().enumerate() {
                                if !(m.mean.is_finite() && m.m2.is_finite()) {
                                    failures.push(format!(
                                        "{shape:?} {layout:?} {method:?} ch {c}: {m:?}"
                                    ));
                                }
                            }
                        }
                        Err(msg) => failures.push(msg),
                    }
                }
            }
        }
        assert_no_failures("huge values", &failures);
    });
}

/// Subnormal inputs are not flushed to zero: integer multiples of the smallest subnormal
/// (2^-149) have an exactly known mean, which must come out within the floor.
#[test]
fn denormals_are_not_flushed() {
    isa::each_isa(|| {
        let q = f32::from_bits(1); // 2^-149
        let mut failures = vec![];
        for shape in [
            Shape::new(1, 1, 1, 37),
            Shape::new(3, 3, 13, 13),
            Shape::new(700, 2, 1, 1),
            Shape::new(1, 13, 20, 20),
        ] {
            // Channel c: values (1 + (i·7 + c) mod 1000) · 2^-149.
            let plane = shape.h * shape.w;
            let x_nchw: Vec<f32> = (0..shape.numel().unwrap())
                .map(|i| {
                    let c = (i / plane) % shape.c;
                    q * (1 + (i * 7 + c) % 1000) as f32
                })
                .collect();
            for layout in LAYOUTS {
                let x = to_layout(&x_nchw, shape, layout);
                let exp: Vec<Expected> = (0..shape.c)
                    .map(|c| {
                        let v = channel_values(&x, shape, layout, c);
                        let ints: Vec<f32> = v.iter().map(|&x| (x.to_bits()) as f32).collect();
                        let e = exact_int_stats(&ints);
                        let tiny = f64::from(q);
                        exact(
                            e.count,
                            e.mean * tiny,
                            e.var * tiny * tiny,
                            e.abs_mean * tiny,
                        )
                    })
                    .collect();
                for method in METHODS {
                    match run_batch_stats(&x, shape, layout, method, &exp) {
                        Ok((mean, _)) if mean.iter().all(|&m| m > 0.0) => {}
                        Ok((mean, _)) => failures.push(format!("flushed to zero: {mean:?}")),
                        Err(msg) => failures.push(msg),
                    }
                    if let Err(msg) = run_accumulate(&x, shape, layout, method, &exp) {
                        failures.push(msg);
                    }
                }
            }
        }
        assert_no_failures("denormals", &failures);
    });
}

// ---------------------------------------------------------------------------------------
// One channel of 1,000,003 values
// ---------------------------------------------------------------------------------------

#[test]
fn one_channel_of_a_million_and_three_values() {
    isa::each_isa(|| {
        const N: usize = 1_000_003;
        let mut rng = XorShift::new(1_000_003);
        let x: Vec<f32> = (0..N).map(|_| (1e4 + rng.normal()) as f32).collect();
        // With one channel, every shape and layout below is the same buffer.
        let exp = expected(&x, Shape::new(1, 1, 1, N), Layout::Nchw);
        assert!((exp[0].mean - 1e4).abs() < 0.01 && (exp[0].var - 1.0).abs() < 0.01);
        let mut failures = vec![];
        for shape in [
            Shape::new(1, 1, 1, N),
            Shape::new(N, 1, 1, 1),
            Shape::new(1, 1, N, 1),
        ] {
            for layout in LAYOUTS {
                for method in METHODS {
                    if let Err(msg) = run_batch_stats(&x, shape, layout, method, &exp) {
                        failures.push(msg);
                    }
                }
            }
        }
        for method in METHODS {
            if let Err(msg) = run_accumulate(&x, Shape::new(1, 1, 1, N), Layout::Nchw, method, &exp)
            {
                failures.push(msg);
            }
        }
        assert_no_failures("1,000,003 values", &failures);
    });
}

// ---------------------------------------------------------------------------------------
// NaN and infinity
// ---------------------------------------------------------------------------------------

/// A channel with non-finite values follows PyTorch's rule with either method: a NaN
/// gives mean NaN, only `+inf` mean `+inf`, only `-inf` mean `-inf`, both mean NaN; the
/// variance is NaN in every case, the count as usual. `accumulate_moments` into an empty
/// accumulator gives those `Moments`, into a finite one the same rule for the union.
/// Every other channel is bit for bit its clean result, within bounds.
#[test]
fn non_finite_values_poison_only_their_channel() {
    isa::each_isa(|| {
        let shapes = [
            Shape::new(2, 3, 13, 13),
            Shape::new(3, 5, 1, 1),
            Shape::new(2, 7, 3, 5),
            Shape::new(1, 4, 32, 33),
            Shape::new(2, 40, 2, 3),
            Shape::new(600, 2, 3, 1),
            // NHWC rows of 33 channels are not tiled: the kernels hand over a block of
            // channels, which a non-finite result sends channel by channel.
            Shape::new(2, 33, 3, 5),
        ];
        // The bad values and the mean the rule gives their channel.
        let bad_values: [(&[f32], f64); 7] = [
            (&[f32::NAN], f64::NAN),
            (&[f32::INFINITY], f64::INFINITY),
            (&[f32::NEG_INFINITY], f64::NEG_INFINITY),
            (&[f32::INFINITY, f32::NEG_INFINITY], f64::NAN),
            (&[f32::INFINITY, f32::INFINITY], f64::INFINITY),
            (&[f32::NEG_INFINITY, 3e19], f64::NEG_INFINITY),
            (&[f32::INFINITY, f32::NAN], f64::NAN),
        ];
        // Same bits for NaN, else equal.
        let is = |got: f64, want: f64| got == want || (got.is_nan() && want.is_nan());
        let prior = Moments {
            count: 5,
            mean: -2.0,
            m2: 1.5,
        };
        let mut failures = vec![];
        for (i, &shape) in shapes.iter().enumerate() {
            let mut rng = XorShift::new(500 + i as u64);
            let clean_nchw = tensor_nchw(shape, Dist::ALL, &mut rng);
            let count = shape.n * shape.h * shape.w;
            let plane = shape.h * shape.w;
            for (bad, want_mean) in bad_values {
                for &bad_c in &[0, shape.c / 2, shape.c - 1] {
                    // The bad values at the channel's first value (the pivot), middle, last.
                    for where_ in [0, count / 2, count - 1] {
                        let mut x_nchw = clean_nchw.clone();
                        for (j, &v) in bad.iter().enumerate() {
                            let at = (where_ + j) % count;
                            x_nchw[index(shape, Layout::Nchw, at / plane, bad_c, at % plane)] = v;
                        }
                        for layout in LAYOUTS {
                            let x = to_layout(&x_nchw, shape, layout);
                            let clean = to_layout(&clean_nchw, shape, layout);
                            let exp = expected(&clean, shape, layout);
                            for method in METHODS {
                                let what = format!(
                                    "{shape:?} {layout:?} {method:?} {bad:?} in ch {bad_c} at {where_}"
                                );
                                let (mut m0, mut v0) = (vec![0.0; shape.c], vec![0.0; shape.c]);
                                batch_stats(&clean, shape, layout, method, &mut m0, &mut v0)
                                    .unwrap();
                                let (mut m1, mut v1) = (vec![0.0; shape.c], vec![0.0; shape.c]);
                                batch_stats(&x, shape, layout, method, &mut m1, &mut v1).unwrap();
                                let mut acc = vec![Moments::EMPTY; shape.c];
                                accumulate_moments(&x, shape, layout, method, &mut acc).unwrap();
                                let mut onto = vec![prior; shape.c];
                                accumulate_moments(&x, shape, layout, method, &mut onto).unwrap();
                                for c in 0..shape.c {
                                    if c == bad_c {
                                        if !is(f64::from(m1[c]), want_mean) || !v1[c].is_nan() {
                                            failures.push(format!(
                                                "{what}: stats ({}, {}), want ({want_mean}, NaN)",
                                                m1[c], v1[c]
                                            ));
                                        }
                                        for (m, n0) in [(acc[c], 0), (onto[c], prior.count)] {
                                            if m.count != n0 + count as u64
                                                || !is(m.mean, want_mean)
                                                || !m.m2.is_nan()
                                            {
                                                failures.push(format!(
                                                    "{what}: moments {m:?} (prior count {n0}), \
                                                     want mean {want_mean}, m2 NaN"
                                                ));
                                            }
                                        }
                                    } else {
                                        // Unaffected: bit-for-bit the clean result, within bounds.
                                        if m1[c].to_bits() != m0[c].to_bits()
                                            || v1[c].to_bits() != v0[c].to_bits()
                                        {
                                            failures.push(format!(
                                                "{what}: ch {c} changed: ({}, {}) -> ({}, {})",
                                                m0[c], v0[c], m1[c], v1[c]
                                            ));
                                        }
                                        if let Err(msg) =
                                            check_moments(m1[c], v1[c], &exp[c], method)
                                                .and_then(|_| check_acc(&acc[c], &exp[c], method))
                                        {
                                            failures.push(format!("{what}: ch {c}: {msg}"));
                                        }
                                        if onto[c] != prior.merge(acc[c]) {
                                            failures.push(format!("{what}: ch {c}: {:?}", onto[c]));
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_no_failures("NaN/inf", &failures);
    });
}

// ---------------------------------------------------------------------------------------
// Moments::merge
// ---------------------------------------------------------------------------------------

/// Exact-enough f64 moments of some values (two-pass in f64).
fn moments_of(v: &[f64]) -> Moments {
    if v.is_empty() {
        return Moments::EMPTY;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    Moments {
        count: v.len() as u64,
        mean,
        m2: v.iter().map(|x| (x - mean) * (x - mean)).sum(),
    }
}

/// `|a - b|` within f64 bounds of the Chan merge: mean within `16·ε·scale`, `M2` within
/// `(1e-13 + 32·ε·κ)` relative, where `κ = sqrt(1 + mean²/var)` of the result, plus
/// `count·(16·ε·scale)²` absolute (means that differ by rounding only, e.g. equal values).
fn close_moments(a: &Moments, b: &Moments, scale: f64) -> Result<(), String> {
    let eps = f64::EPSILON;
    if a.count != b.count {
        return Err(format!("count {} vs {}", a.count, b.count));
    }
    let mean_err = 16.0 * eps * scale;
    let mean_ok = (a.mean - b.mean).abs() <= mean_err;
    let rel = if b.m2 > 0.0 {
        let kappa = (1.0 + b.mean * b.mean / b.variance()).sqrt();
        (1e-13 + 32.0 * eps * kappa) * b.m2
    } else {
        0.0
    };
    let m2_ok = (a.m2 - b.m2).abs() <= rel + b.count as f64 * mean_err * mean_err + 1e-300;
    if mean_ok && m2_ok {
        Ok(())
    } else {
        Err(format!("{a:?} vs {b:?}"))
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Merging three data sets in either grouping gives the moments of their union.
    #[test]
    fn merge_is_associative_on_data(
        a in prop::collection::vec(-1e3f64..1e3, 0..40),
        b in prop::collection::vec(-1e3f64..1e3, 0..40),
        c in prop::collection::vec(-1e3f64..1e3, 0..40),
        offset in prop::sample::select(vec![0.0, 1.0, 1e4, -1e6, 1e9]),
    ) {
        let r = isa::try_each_isa(|| {
            let shift = |v: &Vec<f64>| v.iter().map(|x| x + offset).collect::<Vec<f64>>();
            let (a, b, c) = (shift(&a), shift(&b), shift(&c));
            let (ma, mb, mc) = (moments_of(&a), moments_of(&b), moments_of(&c));
            let left = ma.merge(mb).merge(mc);
            let right = ma.merge(mb.merge(mc));
            let all: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
            let scale = all.iter().map(|x| x.abs()).fold(0.0, f64::max);
            let direct = moments_of(&all);
            if all.is_empty() {
                prop_assert_eq!(left, Moments::EMPTY);
                prop_assert_eq!(right, Moments::EMPTY);
            } else {
                let r = close_moments(&left, &direct, scale);
                prop_assert!(r.is_ok(), "(a+b)+c vs direct: {}", r.unwrap_err());
                let r = close_moments(&right, &direct, scale);
                prop_assert!(r.is_ok(), "a+(b+c) vs direct: {}", r.unwrap_err());
            }
            Ok::<(), TestCaseError>(())
        });
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Associativity on arbitrary valid `Moments` (any count, mean, `M2 >= 0`), and the
    /// empty side returned unchanged, bit for bit.
    #[test]
    fn merge_is_associative_on_random_moments(
        raw in prop::collection::vec((0u64..1_000_000_000, -1e6f64..1e6, 0f64..1e12), 3),
    ) {
        let r = isa::try_each_isa(|| {
            let m: Vec<Moments> = raw
                .iter()
                .map(|&(count, mean, m2)| match count {
                    0 => Moments::EMPTY,
                    1 => Moments { count, mean, m2: 0.0 },
                    _ => Moments { count, mean, m2 },
                })
                .collect();
            let left = m[0].merge(m[1]).merge(m[2]);
            let right = m[0].merge(m[1].merge(m[2]));
            let scale = m.iter().map(|x| x.mean.abs()).fold(0.0, f64::max);
            if left.count == 0 {
                prop_assert_eq!(left, Moments::EMPTY);
                prop_assert_eq!(right, Moments::EMPTY);
            } else {
                let r = close_moments(&left, &right, scale);
                prop_assert!(r.is_ok(), "{:?}: {}", m, r.unwrap_err());
            }
            for x in &m {
                prop_assert_eq!(x.merge(Moments::EMPTY), *x);
                prop_assert_eq!(Moments::EMPTY.merge(*x), *x);
            }
            Ok::<(), TestCaseError>(())
        });
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

#[test]
fn merge_empty_sides_and_small_counts_exactly() {
    isa::each_isa(|| {
        let a = Moments {
            count: 3,
            mean: -0.1,
            m2: 7.25,
        };
        let same = |x: Moments, y: Moments| {
            x.count == y.count
                && x.mean.to_bits() == y.mean.to_bits()
                && x.m2.to_bits() == y.m2.to_bits()
        };
        assert!(same(a.merge(Moments::EMPTY), a));
        assert!(same(Moments::EMPTY.merge(a), a));
        assert!(same(Moments::EMPTY.merge(Moments::EMPTY), Moments::EMPTY));
        assert_eq!(Moments::default(), Moments::EMPTY);
        // Two single values x, y: mean (x+y)/2, M2 (x-y)²/2, exactly for these.
        let one = |x: f64| Moments {
            count: 1,
            mean: x,
            m2: 0.0,
        };
        let m = one(3.0).merge(one(7.0));
        assert_eq!((m.count, m.mean, m.m2), (2, 5.0, 8.0));
        assert_eq!((m.variance(), m.sample_variance()), (4.0, 8.0));
        // Counts below what a statistic needs.
        assert!(Moments::EMPTY.variance().is_nan());
        assert!(Moments::EMPTY.sample_variance().is_nan());
        assert_eq!(one(2.5).variance(), 0.0);
        assert!(one(2.5).sample_variance().is_nan());
    });
}

// ---------------------------------------------------------------------------------------
// A 64 KiB stack
// ---------------------------------------------------------------------------------------

/// Embedded targets have small stacks: every kernel path runs in a thread with 64 KiB.
/// The data are made outside the thread; only the calls run in it. The results must be
/// bit for bit those of the same calls on the main thread (the kernels are deterministic)
/// and close to the reference (a loose check: accuracy is the other tests' business).
#[test]
#[cfg(not(target_family = "wasm"))]
fn kernels_run_in_a_64_kib_stack() {
    let cases: Vec<(Shape, Layout)> = vec![
        (Shape::new(2, 3, 13, 13), Layout::Nhwc), // NHWC small c, tiled
        (Shape::new(1, 1, 20, 30), Layout::Nhwc), // NHWC c = 1, tiled
        (Shape::new(2, 7, 13, 13), Layout::Nhwc), // NHWC c = 7, blocked
        (Shape::new(2, 257, 3, 5), Layout::Nhwc), // NHWC c = 257, blocked
        (Shape::new(1, 1280, 3, 3), Layout::Nhwc), // NHWC many channels, super-blocks
        (Shape::new(9, 257, 1, 1), Layout::Nchw), // NCHW plane 1
        (Shape::new(3, 3, 3, 5), Layout::Nchw),   // NCHW plane 15
        (Shape::new(2, 7, 13, 13), Layout::Nchw), // NCHW plane 169
        (Shape::new(2, 17, 7, 7), Layout::Nchw),  // NCHW plane 49, channel groups
        (Shape::new(1, 2, 150, 151), Layout::Nchw), // NCHW large plane
        (Shape::new(600, 2, 3, 5), Layout::Nchw), // NCHW folds every 64 steps
    ];
    let palette = [
        Dist::Normal {
            offset: 0.0,
            spread: 1.0,
        },
        Dist::Normal {
            offset: 1e4,
            spread: 1.0,
        },
        Dist::Constant(-3.25),
        Dist::SmallInts { lo: -100, hi: 100 },
        Dist::Huge { mixed_signs: false },
    ];
    type Out = Vec<(Method, Vec<f32>, Vec<f32>, Vec<Moments>)>;
    let run = |shape: Shape, layout: Layout, x: &[f32]| -> Out {
        let mut out: Out = Vec::new();
        for method in METHODS {
            let mut mean = vec![0.0f32; shape.c];
            let mut var = vec![0.0f32; shape.c];
            batch_stats(x, shape, layout, method, &mut mean, &mut var).unwrap();
            let mut acc = vec![Moments::EMPTY; shape.c];
            accumulate_moments(x, shape, layout, method, &mut acc).unwrap();
            out.push((method, mean, var, acc));
        }
        out
    };
    let inputs: Vec<(Shape, Layout, Vec<f32>)> = cases
        .iter()
        .enumerate()
        .map(|(i, &(shape, layout))| {
            let x = tensor(shape, layout, &palette, &mut XorShift::new(900 + i as u64));
            (shape, layout, x)
        })
        .collect();
    let on_main: Vec<Out> = inputs.iter().map(|(s, l, x)| run(*s, *l, x)).collect();
    let worker = std::thread::Builder::new()
        .stack_size(isa::KERNEL_STACK)
        .spawn(move || -> Vec<(Shape, Layout, Vec<f32>, Out)> {
            inputs
                .into_iter()
                .map(|(shape, layout, x)| {
                    let out = run(shape, layout, &x);
                    (shape, layout, x, out)
                })
                .collect()
        })
        .expect("spawn a thread with a 64 KiB stack");
    let results = worker
        .join()
        .expect("the kernels overflowed a 64 KiB stack");
    assert_eq!(results.len(), cases.len());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let mut failures = vec![];
    for ((shape, layout, x, out), main) in results.iter().zip(&on_main) {
        let exp = expected(x, *shape, *layout);
        for ((method, mean, var, acc), (_, mean0, var0, acc0)) in out.iter().zip(main) {
            let what = format!("{shape:?} {layout:?} {method:?}");
            if bits(mean) != bits(mean0) || bits(var) != bits(var0) || acc != acc0 {
                failures.push(format!("{what}: differs from the main thread's results"));
            }
            for (c, e) in exp.iter().enumerate() {
                let mean_ok = (f64::from(mean[c]) - e.mean).abs() <= 1e-3 * e.abs_mean;
                let var_ok = (f64::from(var[c]) - e.var).abs() <= 1e-2 * e.var;
                if !(mean_ok && var_ok) {
                    failures.push(format!(
                        "{what} ch {c}: ({}, {}) vs reference ({}, {})",
                        mean[c], var[c], e.mean, e.var
                    ));
                }
            }
        }
    }
    assert_no_failures("64 KiB stack", &failures);
}

// ---------------------------------------------------------------------------------------
// Two-pass: small squared deviations after large ones
// ---------------------------------------------------------------------------------------

/// NCHW planes of 2048 values whose first 32 are ±1 and the other 2016 ±2.36e-4 (signs
/// alternating): with 16 lanes and 2 accumulators (AVX2) each lane's first step squares a ±1 and
/// its next steps square 5.57e-8 < half an ulp of 1, which an f32 sum that starts at the
/// large square rounds away. The two-pass variance must stay within 1e-6 of the reference
/// in both layouts, for a few channel and sample counts.
#[test]
fn two_pass_keeps_small_squares_after_large_ones() {
    isa::each_isa(|| {
        let mut failures = vec![];
        for (n, c) in [(1, 1), (1, 2), (2, 3), (3, 5), (1, 8), (2, 17)] {
            let shape = Shape::new(n, c, 32, 64);
            let x_nchw: Vec<f32> = (0..shape.numel().unwrap())
                .map(|i| {
                    let s = i % 2048;
                    let sign = if s % 2 == 0 { 1.0 } else { -1.0 };
                    sign * if s < 32 { 1.0 } else { 2.36e-4 }
                })
                .collect();
            for layout in LAYOUTS {
                let x = to_layout(&x_nchw, shape, layout);
                let exp = expected(&x, shape, layout);
                for e in &exp {
                    // Σx = 0 per plane, so var = Σx²/2048 (small² is exact in f64; the
                    // oracle's sum of 2048 terms rounds by at most 2048·ε relative).
                    let small = f64::from(2.36e-4f32);
                    let want = (32.0 + 2016.0 * small * small) / 2048.0;
                    let tol = 2048.0 * f64::EPSILON * want;
                    assert!((e.var - want).abs() <= tol, "{e:?} vs {want:e}");
                }
                if let Err(msg) = run_batch_stats(&x, shape, layout, Method::TwoPass, &exp) {
                    failures.push(msg);
                }
                if let Err(msg) = run_accumulate(&x, shape, layout, Method::TwoPass, &exp) {
                    failures.push(msg);
                }
            }
        }
        assert_no_failures("small squares after large ones", &failures);
    });
}

/// AVX2 and AVX-512 run the same kernels on 16 logical lanes: where the accumulator count
/// does not enter (short NCHW planes, NHWC, 1x1), their moments agree bit for bit.
#[test]
fn avx2_and_avx512_agree_bitwise_where_the_accumulator_count_does_not_enter() {
    let (Ok(a), Ok(b)) = (
        batchnorm::Kernels::new(batchnorm::Isa::Avx2),
        batchnorm::Kernels::new(batchnorm::Isa::Avx512),
    ) else {
        eprintln!("this CPU lacks AVX2 or AVX-512: nothing to compare");
        return;
    };
    let cases = [
        (Shape::new(2, 37, 7, 7), Layout::Nchw),
        (Shape::new(3, 20, 14, 14), Layout::Nchw),
        (Shape::new(2, 37, 7, 7), Layout::Nhwc),
        (Shape::new(1, 3, 30, 31), Layout::Nhwc),
        (Shape::new(64, 300, 1, 1), Layout::Nchw),
    ];
    for (i, (shape, layout)) in cases.into_iter().enumerate() {
        let x = tensor(shape, layout, Dist::ALL, &mut XorShift::new(700 + i as u64));
        for method in METHODS {
            let run = |k: batchnorm::Kernels| {
                let mut acc = vec![Moments::EMPTY; shape.c];
                k.accumulate_moments(&x, shape, layout, method, &mut acc)
                    .unwrap();
                acc
            };
            let (ma, mb) = (run(a), run(b));
            for (c, (p, q)) in ma.iter().zip(&mb).enumerate() {
                let same =
                    |u: f64, v: f64| u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan());
                assert!(
                    same(p.mean, q.mean) && same(p.m2, q.m2),
                    "{shape:?} {layout:?} {method:?} channel {c}: {p:?} vs {q:?}"
                );
            }
        }
    }
}

/// Short NCHW planes (7x7, 14x14, 22x23: summed along the lanes about a per-channel
/// pivot, the mean of the plane's first 8 values, then the running mean) whose pivot
/// lands far from a plane's mean: an outlier first, a far step in the first 8 values, a
/// sorted ramp, samples shifted by 1e4 with a spread of 1e-2, heavy tails. Every channel
/// within the bounds of its method, at every level.
#[test]
fn short_planes_whose_pivot_is_far_from_the_mean() {
    isa::each_isa(|| {
        let mut failures = vec![];
        for shape in [
            Shape::new(1, 5, 7, 7),
            Shape::new(2, 5, 14, 14),
            Shape::new(3, 5, 22, 23),
        ] {
            let mut rng = XorShift::new(shape.h as u64);
            let plane = shape.h * shape.w;
            let mut x = vec![0.0f32; shape.n * shape.c * plane];
            for i in 0..shape.n {
                for c in 0..shape.c {
                    let start = (i * shape.c + c) * plane;
                    for (j, v) in x[start..start + plane].iter_mut().enumerate() {
                        let g = rng.normal() as f32;
                        *v = match c {
                            0 if i == 0 && j == 0 => 1e12,
                            0 => g,
                            1 if j < 8 => 1e4 + g,
                            1 => g,
                            2 => 0.37 * (i * plane + j) as f32,
                            3 => 1e4 * i as f32 + 1e-2 * g,
                            _ => (std::f64::consts::PI * (rng.uniform() - 0.5)).tan() as f32,
                        };
                    }
                }
            }
            let exp = expected(&x, shape, Layout::Nchw);
            for method in METHODS {
                let (mut mean, mut var) = (vec![0.0; shape.c], vec![0.0; shape.c]);
                batch_stats(&x, shape, Layout::Nchw, method, &mut mean, &mut var).unwrap();
                for c in 0..shape.c {
                    if let Err(msg) = check_moments(mean[c], var[c], &exp[c], method) {
                        failures.push(format!("{shape:?} {method:?} channel {c}: {msg}"));
                    }
                }
            }
        }
        assert_no_failures("far pivots", &failures);
    });
}
