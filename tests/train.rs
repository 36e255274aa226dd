//! `train_forward` and `train_forward_in_place`: the worked example, both momentum
//! conventions and the cumulative average against hand-computed values, the f64 reference
//! over odd shapes (both layouts, both methods) with the README's accuracy bounds, bitwise
//! agreement with `batch_stats` + `normalize` and between in place and out of place, the
//! fused and unfused NCHW paths, NaN isolation, and every error with the outputs untouched.

use batchnorm::{
    Activation, Error, Layout, Method, Momentum, RunningStats, SavedStats, Shape, TrainParams,
    reference,
};
mod isa;
use isa::{batch_stats, train_forward, train_forward_in_place};
use proptest::prelude::*;

/// Unit roundoff of f32.
const U: f64 = 1.0 / 16_777_216.0;
/// The smallest positive f32 (one subnormal quantum).
const TINY: f64 = 1.401_298_464_324_817e-45;

/// Absolute floor for results in the f32 subnormal range, as in `tests/common/mod.rs`: the
/// 16 roundings of the `16·u·A` bound, each worth half a quantum (`TINY`) there, i.e. 8
/// quanta. Below one quantum a relative bound means nothing: Welford's f32 lanes round
/// each step of a subnormal channel at the quantum.
const FLOOR: f64 = 8.0 * TINY;

mod values;
use values::{Dist, Rng, tensor_nchw, to_layout};

/// Everything a training forward writes.
#[derive(Debug, Clone, PartialEq)]
struct Out {
    y: Vec<f32>,
    mean: Vec<f32>,
    invstd: Vec<f32>,
    rmean: Vec<f32>,
    rvar: Vec<f32>,
}

/// Both entry points from the same running statistics; asserts they agree bit for bit.
#[allow(clippy::too_many_arguments)]
fn train(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    momentum: Option<Momentum>,
    rmean: &[f32],
    rvar: &[f32],
) -> Out {
    let c = shape.c;
    let mut o = Out {
        y: vec![f32::NAN; x.len()],
        mean: vec![f32::NAN; c],
        invstd: vec![f32::NAN; c],
        rmean: rmean.to_vec(),
        rvar: rvar.to_vec(),
    };
    let running = momentum.map(|m| RunningStats {
        mean: &mut o.rmean,
        var: &mut o.rvar,
        momentum: m,
    });
    let saved = SavedStats {
        mean: &mut o.mean,
        invstd: &mut o.invstd,
    };
    train_forward(x, &mut o.y, shape, layout, p, running, saved).expect("valid arguments");
    let mut z = Out {
        y: x.to_vec(),
        mean: vec![f32::NAN; c],
        invstd: vec![f32::NAN; c],
        rmean: rmean.to_vec(),
        rvar: rvar.to_vec(),
    };
    let running = momentum.map(|m| RunningStats {
        mean: &mut z.rmean,
        var: &mut z.rvar,
        momentum: m,
    });
    let saved = SavedStats {
        mean: &mut z.mean,
        invstd: &mut z.invstd,
    };
    train_forward_in_place(&mut z.y, shape, layout, p, running, saved).expect("valid arguments");
    for (a, b, what) in [
        (&o.y, &z.y, "y"),
        (&o.mean, &z.mean, "mean"),
        (&o.invstd, &z.invstd, "invstd"),
        (&o.rmean, &z.rmean, "running mean"),
        (&o.rvar, &z.rvar, "running var"),
    ] {
        assert_eq!(
            bits(a),
            bits(b),
            "{what}: in place differs from out of place"
        );
    }
    o
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}

fn params<'a>(
    gamma: &'a [f32],
    beta: &'a [f32],
    method: Method,
    act: Activation,
) -> TrainParams<'a> {
    TrainParams {
        gamma,
        beta,
        eps: 1e-5,
        method,
        act,
    }
}

/// The README's worked example: running mean 0, running var 1, PyTorch momentum 0.1,
/// one step: running mean 0.5, running var 0.9 + 0.1 * 88/15; saved mean 5, invstd
/// 1/sqrt(5.5 + eps); y(1) = -2.9112..., y(9) = 3.9112...
#[test]
fn worked_example() {
    isa::each_isa(|| {
        let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
        let shape = Shape::new(2, 1, 2, 4);
        for method in [Method::Welford, Method::TwoPass] {
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let p = params(&[2.0], &[0.5], method, Activation::Identity);
                let o = train(
                    &x,
                    shape,
                    layout,
                    &p,
                    Some(Momentum::PYTORCH_DEFAULT),
                    &[0.0],
                    &[1.0],
                );
                assert_eq!(o.mean[0], 5.0);
                assert_eq!(o.rmean[0], 0.5);
                let want_var = 0.9 + 0.1 * 88.0 / 15.0;
                assert!(
                    (f64::from(o.rvar[0]) - want_var).abs() < 1e-6,
                    "{}",
                    o.rvar[0]
                );
                assert_eq!(o.rvar[0], want_var as f32);
                let invstd = 1.0 / (5.5f64 + f64::from(1e-5f32)).sqrt();
                assert_eq!(o.invstd[0], invstd as f32);
                let s = 2.0 * invstd;
                assert!((f64::from(o.y[0]) - (-4.0 * s + 0.5)).abs() < 1e-6);
                assert!((f64::from(o.y[15]) - (4.0 * s + 0.5)).abs() < 1e-6);
                assert!((o.y[0] + 2.9112).abs() < 1e-4 && (o.y[15] - 3.9112).abs() < 1e-4);
            }
        }
    });
}

/// Each convention against values computed by hand (in f64 from the exact batch moments
/// mean 5, M2 88, count 16).
#[test]
fn momentum_conventions() {
    isa::each_isa(|| {
        let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
        let shape = Shape::new(2, 1, 2, 4);
        let (m0, v0) = (1.0f64, 2.0f64);
        let (mean, biased, unbiased) = (5.0f64, 5.5f64, 88.0f64 / 15.0);
        let m = |v: f32| f64::from(v);
        let cases: [(Momentum, f64, f64); 7] = [
            (
                Momentum::PyTorch(0.1),
                0.9 * m0 + m(0.1) * mean,
                (1.0 - m(0.1)) * v0 + m(0.1) * unbiased,
            ),
            (Momentum::PyTorch(0.0), m0, v0),
            (Momentum::PyTorch(1.0), mean, unbiased),
            (
                Momentum::Onnx(0.9),
                m(0.9) * m0 + (1.0 - m(0.9)) * mean,
                m(0.9) * v0 + (1.0 - m(0.9)) * biased,
            ),
            (Momentum::Onnx(1.0), m0, v0),
            (Momentum::Cumulative { prior_batches: 0 }, mean, unbiased),
            (
                Momentum::Cumulative { prior_batches: 3 },
                0.75 * m0 + 0.25 * mean,
                0.75 * v0 + 0.25 * unbiased,
            ),
        ];
        for (momentum, want_mean, want_var) in cases {
            for method in [Method::Welford, Method::TwoPass] {
                let p = params(&[1.0], &[0.0], method, Activation::Identity);
                let o = train(
                    &x,
                    shape,
                    Layout::Nchw,
                    &p,
                    Some(momentum),
                    &[m0 as f32],
                    &[v0 as f32],
                );
                assert_eq!(o.rmean[0], want_mean as f32, "{momentum:?} mean");
                assert_eq!(o.rvar[0], want_var as f32, "{momentum:?} var");
            }
        }
        // Defaults are the frameworks' defaults.
        assert_eq!(Momentum::PYTORCH_DEFAULT, Momentum::PyTorch(0.1));
        assert_eq!(Momentum::ONNX_DEFAULT, Momentum::Onnx(0.9));
    });
}

/// A cumulative average over several batches equals the average of the batch statistics.
#[test]
fn cumulative_average_over_batches() {
    isa::each_isa(|| {
        let shape = Shape::new(2, 3, 3, 3);
        let mut rng = Rng::new(4);
        let (mut rm, mut rv) = (vec![123.0f32; 3], vec![456.0f32; 3]);
        let (mut sum_m, mut sum_v) = (vec![0.0f64; 3], vec![0.0f64; 3]);
        let batches = 5;
        for b in 0..batches {
            let x = tensor_nchw(
                shape,
                &[Dist::Normal {
                    offset: b as f64,
                    spread: 2.0,
                }],
                &mut rng,
            );
            let mut mom = vec![batchnorm::Moments::EMPTY; 3];
            reference::moments(&x, shape, Layout::Nchw, &mut mom).unwrap();
            for k in 0..3 {
                sum_m[k] += mom[k].mean;
                sum_v[k] += mom[k].sample_variance();
            }
            let p = params(&[1.0; 3], &[0.0; 3], Method::TwoPass, Activation::Identity);
            let o = train(
                &x,
                shape,
                Layout::Nchw,
                &p,
                Some(Momentum::Cumulative { prior_batches: b }),
                &rm,
                &rv,
            );
            rm = o.rmean;
            rv = o.rvar;
        }
        for k in 0..3 {
            let (wm, wv) = (sum_m[k] / batches as f64, sum_v[k] / batches as f64);
            assert!(
                (f64::from(rm[k]) - wm).abs() <= 1e-5 * (1.0 + wm.abs()),
                "{} vs {wm}",
                rm[k]
            );
            assert!(
                (f64::from(rv[k]) - wv).abs() <= 1e-5 * wv,
                "{} vs {wv}",
                rv[k]
            );
        }
    });
}

/// The saved mean is bitwise `batch_stats`'s mean, and `y` is what the saved values give:
/// `act((x - mean) * (gamma * invstd) + beta)` up to the rounding of the f32 arithmetic.
fn check_matches_saved(x: &[f32], shape: Shape, layout: Layout, p: &TrainParams, o: &Out) {
    let c = shape.c;
    let (mut mean, mut var) = (vec![0.0f32; c], vec![0.0f32; c]);
    batch_stats(x, shape, layout, p.method, &mut mean, &mut var).unwrap();
    assert_eq!(
        bits(&o.mean),
        bits(&mean),
        "saved mean vs batch_stats ({shape:?} {layout:?})"
    );
    let plane = shape.h * shape.w;
    for (i, (&x, &y)) in x.iter().zip(&o.y).enumerate() {
        let k = match layout {
            Layout::Nchw => (i / plane) % c,
            Layout::Nhwc => i % c,
        };
        let scale = (f64::from(p.gamma[k]) * f64::from(o.invstd[k])) as f32;
        let t = f64::from(x - o.mean[k]) * f64::from(scale);
        let want = reference::activate(t + f64::from(p.beta[k]), p.act);
        if want.is_nan() || want.is_infinite() {
            assert!(
                f64::from(y).to_bits() == want.to_bits() || (y.is_nan() && want.is_nan()),
                "y[{i}] = {y}, want {want}"
            );
            continue;
        }
        // The activation's slope multiplies the input's error; its own error adds (see
        // `Activation`): LeakyRelu one rounding, HardSwish 4 ulp, SiLU 5e-7 relative.
        let (lip, own) = match p.act {
            Activation::LeakyRelu { slope } => (f64::from(slope).abs().max(1.0), U * want.abs()),
            Activation::HardSwish => (1.5, 8.0 * U * want.abs()),
            Activation::Silu => (1.1, 5e-7 * want.abs() + 1e-35),
            _ => (1.0, 0.0),
        };
        // The rounding of the sum is relative to the activation's input, `t + beta`.
        let v = (t + f64::from(p.beta[k])).abs();
        let tol = lip * (2.0 * U * t.abs() + 2.0 * U * v.max(want.abs()) + FLOOR) + own;
        assert!(
            (f64::from(y) - want).abs() <= tol,
            "y[{i}] = {y:e}, from the saved values {want:e} ({shape:?} {layout:?} {:?})",
            p.act
        );
    }
}

/// Against the f64 reference with the README's statistics bounds carried to `y`.
fn check_reference(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    momentum: Option<Momentum>,
    o: &Out,
    r0: (&[f32], &[f32]),
) {
    let c = shape.c;
    let mut ry = vec![0.0f64; x.len()];
    let (mut rm, mut ri) = (vec![0.0f64; c], vec![0.0f64; c]);
    let (mut rrm, mut rrv): (Vec<f64>, Vec<f64>) = (
        r0.0.iter().map(|&v| f64::from(v)).collect(),
        r0.1.iter().map(|&v| f64::from(v)).collect(),
    );
    let running = momentum.map(|m| reference::Running64 {
        mean: &mut rrm,
        var: &mut rrv,
        momentum: m,
    });
    reference::train_forward(
        x,
        shape,
        layout,
        p,
        running,
        reference::Train64 {
            y: &mut ry,
            mean: &mut rm,
            invstd: &mut ri,
        },
    )
    .unwrap();
    let mut mom = vec![batchnorm::Moments::EMPTY; c];
    reference::moments(x, shape, layout, &mut mom).unwrap();
    let plane = shape.h * shape.w;
    // Per channel: A = mean |x|, κ, bounds on the mean and the variance.
    let mut abs_mean = vec![0.0f64; c];
    for (i, v) in x.iter().enumerate() {
        let k = match layout {
            Layout::Nchw => (i / plane) % c,
            Layout::Nhwc => i % c,
        };
        abs_mean[k] += f64::from(*v).abs() / mom[k].count as f64;
    }
    for k in 0..c {
        let var = mom[k].variance();
        let kappa = kappa_of(&mom[k]);
        let dmean = 16.0 * U * abs_mean[k] + U * mom[k].mean.abs() + FLOOR;
        let var_rel = match p.method {
            Method::Welford => 1e-5 + 2.0 * kappa * U,
            Method::TwoPass => 1e-6,
            m => unreachable!("no bound for {m:?}"),
        } + U;
        let dvar = var_rel * var + FLOOR;
        assert!(
            (f64::from(o.mean[k]) - rm[k]).abs() <= dmean,
            "mean {k}: {} vs {}",
            o.mean[k],
            rm[k]
        );
        // invstd = (var + eps)^-1/2: relative error about half the variance's.
        let ve = var + f64::from(p.eps);
        let di = ri[k] * (0.5 * dvar / ve + 2.0 * U);
        assert!(
            (f64::from(o.invstd[k]) - ri[k]).abs() <= di,
            "invstd {k}: {} vs {}",
            o.invstd[k],
            ri[k]
        );
        if let Some(momentum) = momentum {
            assert!(
                (f64::from(o.rmean[k]) - rrm[k]).abs() <= dmean + U * rrm[k].abs() + 1e-30,
                "running mean {k}"
            );
            let w = match momentum {
                Momentum::PyTorch(m) => f64::from(m),
                Momentum::Onnx(m) => 1.0 - f64::from(m),
                Momentum::Cumulative { prior_batches } => 1.0 / (prior_batches as f64 + 1.0),
                m => unreachable!("no weight for {m:?}"),
            };
            let dr = w * dvar * 2.0 + 2.0 * U * rrv[k].abs() + 1e-30;
            // A running variance beyond f32::MAX is +inf in f32.
            let overflow = (rrv[k] as f32).is_infinite() && o.rvar[k] == rrv[k] as f32;
            assert!(
                overflow || (f64::from(o.rvar[k]) - rrv[k]).abs() <= dr,
                "running var {k}: {} vs {}",
                o.rvar[k],
                rrv[k]
            );
        }
    }
    for (i, (y, r)) in o.y.iter().zip(&ry).enumerate() {
        let k = match layout {
            Layout::Nchw => (i / plane) % c,
            Layout::Nhwc => i % c,
        };
        let (y, r) = (f64::from(*y), *r);
        if r.is_nan() {
            assert!(y.is_nan(), "y[{i}] = {y}, want NaN");
            continue;
        }
        let gamma = f64::from(p.gamma[k]).abs();
        let ve = mom[k].variance() + f64::from(p.eps);
        let scale = gamma / ve.sqrt();
        let t = (f64::from(x[i]) - mom[k].mean) * scale;
        let dmean = 16.0 * U * abs_mean[k] + U * mom[k].mean.abs() + FLOOR;
        let var_rel = match p.method {
            Method::Welford => 1e-5 + 2.0 * kappa_of(&mom[k]) * U,
            Method::TwoPass => 1e-6,
            m => unreachable!("no bound for {m:?}"),
        } + U;
        let tol = scale * dmean
            + t.abs() * (0.5 * var_rel * mom[k].variance() / ve + 4.0 * U)
            + 2.0 * U * r.abs()
            + 8.0 * TINY;
        assert!(
            (y - r).abs() <= tol,
            "y[{i}] (channel {k}): {y:e} vs {r:e}, tolerance {tol:e}"
        );
    }
}

/// `κ = sqrt(1 + mean²/var)`, 1 for a constant channel (whose variance must be exactly 0,
/// so the relative bound is moot).
fn kappa_of(m: &batchnorm::Moments) -> f64 {
    if m.variance() == 0.0 {
        1.0
    } else {
        (1.0 + m.mean * m.mean / m.variance()).sqrt()
    }
}

const DATA: &[Dist] = &[
    Dist::Normal {
        offset: 0.0,
        spread: 1.0,
    },
    Dist::Normal {
        offset: 1e4,
        spread: 1.0,
    },
    Dist::Normal {
        offset: 1e6,
        spread: 1.0,
    },
    Dist::Normal {
        offset: 1.0,
        spread: 1e-3,
    },
    Dist::Constant(-3.25),
    Dist::Huge { mixed_signs: true },
    Dist::Denormal { mixed_signs: true },
    Dist::SmallInts { lo: -5, hi: 5 },
];

const MOMENTA: [Option<Momentum>; 4] = [
    None,
    Some(Momentum::PyTorch(0.1)),
    Some(Momentum::Onnx(0.9)),
    Some(Momentum::Cumulative { prior_batches: 2 }),
];

fn check_shape(
    shape: Shape,
    layout: Layout,
    method: Method,
    act: Activation,
    momentum: Option<Momentum>,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let mut dists = DATA.to_vec();
    dists.rotate_left(rng.below(DATA.len()));
    let x = to_layout(&tensor_nchw(shape, &dists, &mut rng), shape, layout);
    let c = shape.c;
    let gamma: Vec<f32> = (0..c).map(|_| (rng.normal() * 2.0) as f32).collect();
    let beta: Vec<f32> = (0..c).map(|_| (rng.normal() * 3.0) as f32).collect();
    let rm: Vec<f32> = (0..c).map(|_| rng.normal() as f32).collect();
    let rv: Vec<f32> = (0..c).map(|_| (1.0 + rng.uniform()) as f32).collect();
    let p = TrainParams {
        gamma: &gamma,
        beta: &beta,
        eps: 1e-5,
        method,
        act,
    };
    let o = train(&x, shape, layout, &p, momentum, &rm, &rv);
    check_matches_saved(&x, shape, layout, &p, &o);
    if act == Activation::Identity {
        check_reference(&x, shape, layout, &p, momentum, &o, (&rm, &rv));
    }
}

proptest! {
    // A fixed seed (unless PROPTEST_RNG_SEED is set) and no regression files: CI runs the
    // same cases every time; set PROPTEST_CASES to explore more.
    #![proptest_config({
        let mut c = ProptestConfig::with_cases(32);
        c.failure_persistence = None;
        if c.rng_seed == proptest::test_runner::RngSeed::Random {
            c.rng_seed = proptest::test_runner::RngSeed::Fixed(0x00ba_7c40_5eed);
        }
        c
    })]

    /// Odd shapes, both layouts, both methods, every convention, against the reference.
    #[test]
    fn odd_shapes_match_reference(
        c in prop::sample::select(vec![1usize, 3, 7, 13, 257]),
        hw in prop::sample::select(vec![(1usize, 1usize), (3, 5), (13, 13)]),
        n in 2usize..=4,
        layout in prop::sample::select(vec![Layout::Nchw, Layout::Nhwc]),
        method in prop::sample::select(vec![Method::Welford, Method::TwoPass]),
        momentum in prop::sample::select(MOMENTA.to_vec()),
        seed in any::<u64>(),
    ) {
        let r = isa::try_each_isa(|| {
            check_shape(Shape::new(n, c, hw.0, hw.1), layout, method, Activation::Identity, momentum, seed);
            Ok::<(), TestCaseError>(())
        });
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

/// Activations, and channel counts and planes that reach the fused groups, several blocks,
/// short and long planes.
#[test]
fn kernel_paths_and_activations() {
    isa::each_isa(|| {
        let mut seed = 0;
        for &(n, c, h, w) in &[
            (2usize, 40usize, 7usize, 7usize),
            (3, 70, 2, 3),
            (2, 5, 16, 17),
            (1, 2, 1, 2),
            (4, 33, 1, 1),
            (2, 1030, 1, 1),
            (2, 320, 2, 2),
            (3, 192, 1, 5),
            (2, 3, 1, 17),
        ] {
            for layout in [Layout::Nchw, Layout::Nhwc] {
                for act in [
                    Activation::Identity,
                    Activation::Relu,
                    Activation::RELU6,
                    Activation::LeakyRelu { slope: 0.1 },
                    Activation::HardSwish,
                    Activation::Silu,
                ] {
                    seed += 1;
                    let m = MOMENTA[seed as usize % MOMENTA.len()];
                    let method = if seed % 2 == 0 {
                        Method::Welford
                    } else {
                        Method::TwoPass
                    };
                    check_shape(Shape::new(n, c, h, w), layout, method, act, m, seed);
                }
            }
        }
    });
}

/// NCHW channels too large to fuse (more than 512 KiB each) take the two-pass route:
/// statistics of every channel, then normalize. Same results as the fused route's contract.
#[test]
fn unfused_large_channels() {
    isa::each_isa(|| {
        let shape = Shape::new(1, 2, 400, 400);
        for method in [Method::Welford, Method::TwoPass] {
            check_shape(
                shape,
                Layout::Nchw,
                method,
                Activation::Identity,
                Some(Momentum::PyTorch(0.1)),
                77,
            );
        }
    });
}

/// A constant channel: y exactly beta, invstd exactly 1/sqrt(eps) (rounded), running
/// variance moves toward 0.
#[test]
fn constant_channels() {
    isa::each_isa(|| {
        for &v in &[0.0f32, -3.25, 1_000_000.5, 1e-40, 3e19] {
            let shape = Shape::new(3, 2, 5, 7);
            let x = vec![v; 210];
            for layout in [Layout::Nchw, Layout::Nhwc] {
                for method in [Method::Welford, Method::TwoPass] {
                    let p = TrainParams {
                        gamma: &[3.0, -2.0],
                        beta: &[0.25, -1.5],
                        eps: 1e-3,
                        method,
                        act: Activation::Identity,
                    };
                    let o = train(
                        &x,
                        shape,
                        layout,
                        &p,
                        Some(Momentum::PyTorch(0.5)),
                        &[0.0; 2],
                        &[4.0; 2],
                    );
                    assert!(o.mean.iter().all(|m| *m == v), "{v}: mean {:?}", o.mean);
                    for (i, y) in o.y.iter().enumerate() {
                        let k = match layout {
                            Layout::Nchw => (i / 35) % 2,
                            Layout::Nhwc => i % 2,
                        };
                        assert_eq!(*y, p.beta[k], "constant {v}");
                    }
                    let inv = (1.0 / f64::from(1e-3f32).sqrt()) as f32;
                    assert_eq!(o.invstd, vec![inv; 2]);
                    assert_eq!(o.rvar, vec![2.0; 2]);
                }
            }
        }
    });
}

/// NaN in one channel makes that channel's statistics and outputs NaN; the others are
/// unaffected (bitwise the same as without the NaN). With 3 channels the NHWC statistics
/// hand over channel by channel; with 33 (rows of 33 are not tiled) a block of channels
/// at a time, and the NaN sends the whole block channel by channel: both ways give the
/// same bits.
#[test]
fn nan_stays_in_its_channel() {
    isa::each_isa(|| {
        for c in [3usize, 33] {
            let shape = Shape::new(2, c, 4, 4);
            let mut rng = Rng::new(12);
            let x = tensor_nchw(shape, &DATA[..1], &mut rng);
            let chan = |layout, i: usize| match layout {
                Layout::Nchw => (i / 16) % c,
                _ => i % c,
            };
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let clean = to_layout(&x, shape, layout);
                let mut dirty = clean.clone();
                let i = (0..dirty.len()).find(|&i| chan(layout, i) == 1).unwrap();
                // A later value of the same channel: 3 along its plane, or 3 pixels on.
                let later = if layout == Layout::Nchw { 3 } else { 3 * c };
                dirty[i + later] = f32::NAN;
                let (ones, zeros) = (vec![1.0f32; c], vec![0.0f32; c]);
                let p = params(&ones, &zeros, Method::Welford, Activation::Relu);
                let run = |x: &[f32]| {
                    let m = Some(Momentum::ONNX_DEFAULT);
                    train(x, shape, layout, &p, m, &zeros, &ones)
                };
                let (a, b) = (run(&clean), run(&dirty));
                for k in (0..c).filter(|&k| k != 1) {
                    assert_eq!(a.mean[k].to_bits(), b.mean[k].to_bits(), "c {c} ch {k}");
                    assert_eq!(a.invstd[k].to_bits(), b.invstd[k].to_bits(), "c {c} ch {k}");
                    assert_eq!(a.rmean[k].to_bits(), b.rmean[k].to_bits(), "c {c} ch {k}");
                    assert_eq!(a.rvar[k].to_bits(), b.rvar[k].to_bits(), "c {c} ch {k}");
                }
                assert!(
                    b.mean[1].is_nan()
                        && b.invstd[1].is_nan()
                        && b.rmean[1].is_nan()
                        && b.rvar[1].is_nan(),
                    "c {c} {layout:?}"
                );
                for (i, (ya, yb)) in a.y.iter().zip(&b.y).enumerate() {
                    if chan(layout, i) == 1 {
                        assert!(yb.is_nan());
                    } else {
                        assert_eq!(ya.to_bits(), yb.to_bits(), "c {c} {layout:?} value {i}");
                    }
                }
            }
        }
    });
}

/// Every bad argument: the error names it, and no output is written.
#[test]
fn errors_leave_outputs_untouched() {
    isa::each_isa(|| {
        let shape = Shape::new(2, 3, 2, 2);
        let ok3 = [1.0f32; 3];
        let short = [1.0f32; 2];
        let good = TrainParams {
            gamma: &ok3,
            beta: &ok3,
            eps: 1e-5,
            method: Method::Welford,
            act: Activation::Identity,
        };
        let len = |buffer, expected, actual| Error::LengthMismatch {
            buffer,
            expected,
            actual,
        };
        // (shape, x len, y len, params, momentum, [saved.mean, saved.invstd, running.mean, running.var] lens, error)
        type Case<'a> = (
            Shape,
            usize,
            usize,
            TrainParams<'a>,
            Option<Momentum>,
            [usize; 4],
            Error,
        );
        let mut cases: Vec<Case> = vec![
            (shape, 23, 24, good, None, [3; 4], len("x", 24, 23)),
            (shape, 24, 23, good, None, [3; 4], len("y", 24, 23)),
            (
                shape,
                24,
                24,
                TrainParams {
                    gamma: &short,
                    ..good
                },
                None,
                [3; 4],
                len("gamma", 3, 2),
            ),
            (
                shape,
                24,
                24,
                TrainParams {
                    beta: &short,
                    ..good
                },
                None,
                [3; 4],
                len("beta", 3, 2),
            ),
            (
                shape,
                24,
                24,
                good,
                None,
                [2, 3, 3, 3],
                len("saved.mean", 3, 2),
            ),
            (
                shape,
                24,
                24,
                good,
                None,
                [3, 4, 3, 3],
                len("saved.invstd", 3, 4),
            ),
            (
                shape,
                24,
                24,
                good,
                Some(Momentum::PYTORCH_DEFAULT),
                [3, 3, 2, 3],
                len("running.mean", 3, 2),
            ),
            (
                shape,
                24,
                24,
                good,
                Some(Momentum::PYTORCH_DEFAULT),
                [3, 3, 3, 0],
                len("running.var", 3, 0),
            ),
            (
                Shape::new(0, 3, 2, 2),
                0,
                0,
                good,
                None,
                [3; 4],
                Error::EmptyChannel { n: 0, h: 2, w: 2 },
            ),
            (
                Shape::new(2, usize::MAX, 2, 2),
                24,
                24,
                good,
                None,
                [3; 4],
                Error::ShapeOverflow {
                    n: 2,
                    c: usize::MAX,
                    h: 2,
                    w: 2,
                },
            ),
            (
                Shape::new(1, 3, 1, 1),
                3,
                3,
                good,
                Some(Momentum::PYTORCH_DEFAULT),
                [3; 4],
                Error::TooFewValues {
                    count: 1,
                    needed: 2,
                },
            ),
            (
                Shape::new(1, 3, 1, 1),
                3,
                3,
                good,
                Some(Momentum::Cumulative { prior_batches: 0 }),
                [3; 4],
                Error::TooFewValues {
                    count: 1,
                    needed: 2,
                },
            ),
        ];
        for m in [f32::NAN, -0.1, 1.1, f32::INFINITY] {
            for momentum in [Momentum::PyTorch(m), Momentum::Onnx(m)] {
                cases.push((
                    shape,
                    24,
                    24,
                    good,
                    Some(momentum),
                    [3; 4],
                    Error::InvalidParameter {
                        name: "momentum",
                        value: m,
                        expected: "in [0, 1]",
                    },
                ));
            }
        }
        for eps in [f32::NAN, -1.0, f32::INFINITY] {
            cases.push((
                shape,
                24,
                24,
                TrainParams { eps, ..good },
                None,
                [3; 4],
                Error::InvalidParameter {
                    name: "eps",
                    value: eps,
                    expected: "finite and >= 0",
                },
            ));
        }
        for (act, name) in [
            (
                Activation::Clamp {
                    min: f32::NAN,
                    max: 1.0,
                },
                "Clamp.min",
            ),
            (Activation::Clamp { min: 2.0, max: 1.0 }, "Clamp.max"),
            (
                Activation::LeakyRelu {
                    slope: f32::INFINITY,
                },
                "LeakyRelu.slope",
            ),
        ] {
            let value = match act {
                Activation::LeakyRelu { slope } => slope,
                _ => 0.0,
            };
            cases.push((
                shape,
                24,
                24,
                TrainParams { act, ..good },
                None,
                [3; 4],
                Error::InvalidParameter {
                    name,
                    value,
                    expected: "",
                },
            ));
        }
        for (shape, xl, yl, p, momentum, lens, want) in cases {
            let x = vec![1.5f32; xl];
            let sentinel = 7.0f32;
            let mut bufs: [Vec<f32>; 4] = lens.map(|l| vec![sentinel; l]);
            let mut y = vec![sentinel; yl];
            let [sm, si, rm, rv] = &mut bufs;
            let got = train_forward(
                &x,
                &mut y,
                shape,
                Layout::Nchw,
                &p,
                momentum.map(|m| RunningStats {
                    mean: rm,
                    var: rv,
                    momentum: m,
                }),
                SavedStats {
                    mean: sm,
                    invstd: si,
                },
            )
            .unwrap_err();
            same_error(got, want);
            assert!(
                y.iter()
                    .chain(bufs.iter().flatten())
                    .all(|v| *v == sentinel),
                "written on {want:?}"
            );
            if !matches!(want, Error::LengthMismatch { buffer: "y", .. }) {
                let mut z = x.clone();
                let [sm, si, rm, rv] = &mut bufs;
                let got = train_forward_in_place(
                    &mut z,
                    shape,
                    Layout::Nhwc,
                    &p,
                    momentum.map(|m| RunningStats {
                        mean: rm,
                        var: rv,
                        momentum: m,
                    }),
                    SavedStats {
                        mean: sm,
                        invstd: si,
                    },
                )
                .unwrap_err();
                same_error(got, want);
                assert!(bits(&z) == bits(&x) && bufs.iter().flatten().all(|v| *v == sentinel));
            }
        }
        // The unbiased variance is only needed for PyTorch and cumulative running statistics:
        // one value per channel is fine otherwise.
        let shape = Shape::new(1, 3, 1, 1);
        let p = params(&ok3, &ok3, Method::Welford, Activation::Identity);
        for m in [None, Some(Momentum::ONNX_DEFAULT)] {
            let o = train(
                &[1.0, 2.0, 3.0],
                shape,
                Layout::Nchw,
                &p,
                m,
                &[0.0; 3],
                &[1.0; 3],
            );
            assert_eq!(o.y, vec![1.0; 3]);
        }
    });
}

/// Errors compare by name and numbers (NaN values by bits).
fn same_error(got: Error, want: Error) {
    match (got, want) {
        (
            Error::InvalidParameter {
                name: a, value: va, ..
            },
            Error::InvalidParameter {
                name: b, value: vb, ..
            },
        ) => {
            assert_eq!(a, b);
            if b != "Clamp.min" && b != "Clamp.max" {
                assert_eq!(va.to_bits(), vb.to_bits(), "{b}");
            }
        }
        _ => assert_eq!(got, want),
    }
}

/// No channels (`c == 0`) is `Ok` with empty buffers, for every plane size, layout and
/// method, with and without running statistics (found by the `api` fuzz target: the fused
/// NCHW path divided by the per-channel count, 0 here).
#[test]
fn no_channels_is_ok() {
    isa::each_isa(|| {
        for (n, h, w) in [(2, 3, 3), (0, 3, 3), (2, 0, 5), (1, 1, 1)] {
            let shape = Shape::new(n, 0, h, w);
            for layout in [Layout::Nchw, Layout::Nhwc] {
                for method in [Method::Welford, Method::TwoPass] {
                    let p = TrainParams {
                        gamma: &[],
                        beta: &[],
                        eps: 1e-5,
                        method,
                        act: Activation::Identity,
                    };
                    for with_running in [false, true] {
                        let (mut rm, mut rv, mut sm, mut si) =
                            ([0.0f32; 0], [0.0f32; 0], [0.0f32; 0], [0.0f32; 0]);
                        let running = with_running.then_some(RunningStats {
                            mean: &mut rm,
                            var: &mut rv,
                            momentum: Momentum::PYTORCH_DEFAULT,
                        });
                        let saved = SavedStats {
                            mean: &mut sm,
                            invstd: &mut si,
                        };
                        let r = train_forward(&[], &mut [], shape, layout, &p, running, saved);
                        assert_eq!(r, Ok(()), "{shape:?} {layout:?} {method:?}");
                    }
                }
            }
        }
    });
}

/// The documented range: `y` is computed as `x - mean` in f32 times the scale, so in a
/// channel spanning more than `f32::MAX` (`f32::MAX` among three `-f32::MAX`: mean
/// `-f32::MAX/2`, `x - mean = 1.5·f32::MAX`) that element comes out `+inf` where the true
/// result, `1.5/sqrt(0.75) = sqrt(3)`, is finite; the statistics and the other elements
/// are right.
#[test]
fn difference_overflowing_f32_gives_infinity() {
    isa::each_isa(|| {
        const MAX: f32 = f32::MAX;
        // Channel 0: MAX, -MAX, -MAX, -MAX; channel 1: 1, 2, 3, 4.
        let x_nchw = [MAX, -MAX, -MAX, -MAX, 1.0, 2.0, 3.0, 4.0];
        let shape = Shape::new(1, 2, 2, 2);
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let x = to_layout(&x_nchw, shape, layout);
            for method in [Method::Welford, Method::TwoPass] {
                let p = TrainParams {
                    gamma: &[1.0, 1.0],
                    beta: &[0.0, 0.0],
                    eps: 0.0,
                    method,
                    act: Activation::Identity,
                };
                let o = train(&x, shape, layout, &p, None, &[], &[]);
                let what = format!("{layout:?} {method:?}");
                // Exact statistics: mean -MAX/2 (exact in f32) and 2.5; variance 0.75·MAX²
                // (invstd 1/(sqrt(0.75)·MAX), a subnormal f32) and 1.25.
                assert_eq!(o.mean, [-MAX / 2.0, 2.5], "{what}");
                let invstd0 = 1.0 / (0.75f64.sqrt() * f64::from(MAX));
                let invstd1 = 1.0 / 1.25f64.sqrt();
                assert!(
                    (f64::from(o.invstd[0]) - invstd0).abs() <= TINY,
                    "{what}: {:e}",
                    o.invstd[0]
                );
                assert!(
                    (f64::from(o.invstd[1]) - invstd1).abs() <= U * invstd1,
                    "{what}"
                );
                // y in NCHW order: +inf for x = MAX (true value sqrt(3)), -1/sqrt(3) for the
                // others of channel 0 (within the subnormal scale's rounding, ~1e-6 relative),
                // (x - 2.5)/sqrt(1.25) in channel 1.
                let y: Vec<f32> = (0..8)
                    .map(|i| {
                        let (c, s) = (i / 4, i % 4);
                        o.y[match layout {
                            Layout::Nchw => i,
                            Layout::Nhwc => s * 2 + c,
                        }]
                    })
                    .collect();
                assert_eq!(y[0], f32::INFINITY, "{what}");
                let third = -1.0 / 3.0f64.sqrt();
                for &v in &y[1..4] {
                    assert!((f64::from(v) - third).abs() <= 1e-5, "{what}: {v:e}");
                }
                for (i, &v) in y[4..].iter().enumerate() {
                    let want = (i as f64 + 1.0 - 2.5) * invstd1;
                    assert!(
                        (f64::from(v) - want).abs() <= 4.0 * U,
                        "{what}: {v} vs {want}"
                    );
                }
                // The reference's element 0 is the finite true value.
                let mut y64 = vec![0.0f64; 8];
                let (mut m64, mut i64_) = (vec![0.0; 2], vec![0.0; 2]);
                reference::train_forward(
                    &x,
                    shape,
                    layout,
                    &p,
                    None,
                    reference::Train64 {
                        y: &mut y64,
                        mean: &mut m64,
                        invstd: &mut i64_,
                    },
                )
                .unwrap();
                let at0 = 0; // (n, c, s) = (0, 0, 0) is flat index 0 in both layouts.
                assert!(
                    (y64[at0] - 3.0f64.sqrt()).abs() <= 1e-12,
                    "{what}: {}",
                    y64[at0]
                );
            }
        }
    });
}
