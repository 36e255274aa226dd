//! `normalize` and `normalize_in_place` against the f64 reference: every kernel path (odd
//! channel counts, short planes, blocks), both layouts, every activation at its edges,
//! NaN and infinities, constant channels, large offsets, huge and denormal values, in
//! place vs out of place bit for bit, NCHW vs NHWC bit for bit, every error with the
//! outputs untouched, and a 64 KiB stack. Wherever `prepare` accepts the parameters,
//! `normalize_prepared` (in place and not) is checked bit for bit against `normalize`.

use batchnorm::{Activation, Error, Layout, NormParams, Prepared, Shape, prepare, reference};
mod isa;
use isa::{normalize, normalize_in_place, normalize_prepared, normalize_prepared_in_place};
use proptest::prelude::*;

/// Unit roundoff of f32.
const U: f64 = 1.0 / 16_777_216.0;
/// The smallest positive f32 (one subnormal quantum).
const TINY: f64 = 1.401_298_464_324_817e-45;

mod values;
use values::{Dist, Rng, tensor_nchw, to_layout};

/// Constants for "y exactly beta".
const CONSTANTS: &[f32] = &[
    0.0,
    -0.0,
    1.0,
    -3.25,
    1_000_000.5,
    -1e6,
    0.1,
    1e-40,
    -1e-45,
    f32::MIN_POSITIVE,
    3e19,
    -3e19,
    1e38,
    f32::MAX,
    f32::MIN,
];

/// Owned per-channel parameters.
#[derive(Debug, Clone)]
struct Params {
    mean: Vec<f32>,
    var: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl Params {
    fn view(&self) -> NormParams<'_> {
        NormParams {
            mean: &self.mean,
            var: &self.var,
            gamma: &self.gamma,
            beta: &self.beta,
            eps: self.eps,
        }
    }

    /// The batch statistics of `x` (f64 reference, rounded) and random gamma/beta.
    fn of_data(x: &[f32], shape: Shape, layout: Layout, rng: &mut Rng) -> Params {
        let (mut m, mut v) = (vec![0.0f64; shape.c], vec![0.0f64; shape.c]);
        reference::batch_stats(x, shape, layout, &mut m, &mut v).unwrap();
        Params {
            mean: m.iter().map(|&m| m as f32).collect(),
            var: v.iter().map(|&v| v as f32).collect(),
            gamma: (0..shape.c).map(|_| (rng.normal() * 2.0) as f32).collect(),
            beta: (0..shape.c).map(|_| (rng.normal() * 3.0) as f32).collect(),
            eps: 1e-5,
        }
    }
}

/// Both entry points, and both prepared ones where [`prepare`] accepts `p`; asserts they
/// agree bit for bit and returns `y`.
fn run(x: &[f32], shape: Shape, layout: Layout, p: &NormParams, act: Activation) -> Vec<f32> {
    let mut y = vec![f32::NAN; x.len()];
    normalize(x, &mut y, shape, layout, p, act).expect("valid arguments");
    let mut z = x.to_vec();
    normalize_in_place(&mut z, shape, layout, p, act).expect("valid arguments");
    same_bits(
        &y,
        &z,
        &format!("in place vs out of place, {shape:?} {layout:?} {act:?}"),
    );
    let mut scale = vec![f32::NAN; p.mean.len()];
    if prepare(p, &mut scale).is_ok() {
        let q = Prepared {
            mean: p.mean,
            scale: &scale,
            beta: p.beta,
        };
        let mut w = vec![f32::NAN; x.len()];
        normalize_prepared(x, &mut w, shape, layout, &q, act).expect("valid arguments");
        same_bits(
            &y,
            &w,
            &format!("prepared vs normalize, {shape:?} {layout:?} {act:?}"),
        );
        let mut v = x.to_vec();
        normalize_prepared_in_place(&mut v, shape, layout, &q, act).expect("valid arguments");
        same_bits(
            &y,
            &v,
            &format!("prepared in place vs normalize, {shape:?} {layout:?} {act:?}"),
        );
    }
    y
}

/// Asserts `a` and `b` are the same bit for bit, naming the first difference.
fn same_bits(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
        panic!(
            "{what}: first difference at {i} of {}: {:e} vs {:e}",
            a.len(),
            a[i],
            b[i]
        );
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}

/// How an activation adds to the error of its input `v`, for the exact output `want`:
/// its Lipschitz constant (the error of `v` is multiplied by at most that) and its own
/// error. ReLU and `Clamp` are 1-Lipschitz and exact; LeakyRelu (`|slope| <= 1` here) is
/// 1-Lipschitz with one rounding; HardSwish's slope is at most 1.5, and it is within 4
/// ulp (<= 8u·|y|); SiLU's slope is at most 1.1, and it is within `5e-7·|y| + 1e-35`.
fn act_error(act: Activation, want: f64) -> (f64, f64) {
    match act {
        Activation::LeakyRelu { slope } => (f64::from(slope).abs().max(1.0), U * want.abs()),
        Activation::HardSwish => (1.5, 8.0 * U * want.abs() + TINY),
        Activation::Silu => (1.1, 5e-7 * want.abs() + 1e-35),
        _ => (1.0, 0.0),
    }
}

/// `y` against the f64 reference. Per element, with `t = (x - mean) * scale` and the
/// reference `r = t + beta` (before the activation, which is 1-Lipschitz, or see
/// [`act_error`]): the f32 path rounds `x - mean`, the scale and the final sum (plus the
/// product without FMA), so `|y - r| <= 4u|t| + 2u|r|` plus a few subnormal quanta.
fn check(x: &[f32], y: &[f32], shape: Shape, layout: Layout, p: &NormParams, act: Activation) {
    let mut r = vec![0.0f64; x.len()];
    reference::normalize(x, &mut r, shape, layout, p, act).unwrap();
    let mut pre = vec![0.0f64; x.len()];
    reference::normalize(x, &mut pre, shape, layout, p, Activation::Identity).unwrap();
    let plane = shape.h * shape.w;
    for i in 0..x.len() {
        let k = match layout {
            Layout::Nchw => (i / plane) % shape.c,
            Layout::Nhwc => i % shape.c,
        };
        let (got, want) = (f64::from(y[i]), r[i]);
        if want.is_nan() || want.is_infinite() {
            assert!(
                got.is_nan() == want.is_nan() && (want.is_nan() || got == want),
                "element {i} (channel {k}): got {got}, want {want}"
            );
            continue;
        }
        let t = pre[i] - f64::from(p.beta[k]);
        let (lip, own) = act_error(act, want);
        let tol = lip * (4.0 * U * t.abs() + 2.0 * U * pre[i].abs() + 4.0 * TINY) + own;
        assert!(
            (got - want).abs() <= tol,
            "element {i} (channel {k}, x = {:e}): got {got:e}, want {want:e}, tolerance {tol:e}",
            x[i]
        );
    }
}

const ACTS: [Activation; 9] = [
    Activation::Identity,
    Activation::Relu,
    Activation::RELU6,
    Activation::Clamp {
        min: -0.5,
        max: 0.25,
    },
    Activation::Clamp {
        min: f32::NEG_INFINITY,
        max: f32::INFINITY,
    },
    Activation::LeakyRelu { slope: 0.01 },
    Activation::LeakyRelu { slope: -0.75 },
    Activation::HardSwish,
    Activation::Silu,
];

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
        offset: -1e6,
        spread: 1.0,
    },
    Dist::Normal {
        offset: 1.0,
        spread: 1e-6,
    },
    Dist::Constant(-3.25),
    Dist::Huge { mixed_signs: true },
    Dist::Denormal { mixed_signs: true },
    Dist::SmallInts { lo: -5, hi: 5 },
];

/// One full check of a shape: reference, in place, both layouts agree.
fn check_shape(shape: Shape, act: Activation, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut dists = DATA.to_vec();
    // Vary which channel gets which distribution.
    dists.rotate_left(rng.below(DATA.len()));
    let x = tensor_nchw(shape, &dists, &mut rng);
    let p = Params::of_data(&x, shape, Layout::Nchw, &mut rng);
    // `run` checks the prepared entry points where `prepare` accepts the parameters; the
    // huge data's channels have an infinite variance, which it refuses: again with those
    // made finite, so that every shape runs the prepared path.
    let mut q = p.clone();
    for v in q.var.iter_mut().filter(|v| !v.is_finite()) {
        *v = f32::MAX;
    }
    let mut scale = vec![0.0f32; shape.c];
    prepare(&q.view(), &mut scale).expect("prepare accepts finite batch statistics");
    for layout in [Layout::Nchw, Layout::Nhwc] {
        run(&to_layout(&x, shape, layout), shape, layout, &q.view(), act);
    }
    let y = run(&x, shape, Layout::Nchw, &p.view(), act);
    check(&x, &y, shape, Layout::Nchw, &p.view(), act);
    let xh = to_layout(&x, shape, Layout::Nhwc);
    let yh = run(&xh, shape, Layout::Nhwc, &p.view(), act);
    check(&xh, &yh, shape, Layout::Nhwc, &p.view(), act);
    same_bits(
        &to_layout(&y, shape, Layout::Nhwc),
        &yh,
        &format!("NCHW vs NHWC {shape:?}"),
    );
}

proptest! {
    // A fixed seed (unless PROPTEST_RNG_SEED is set) and no regression files: CI runs the
    // same cases every time; set PROPTEST_CASES to explore more.
    #![proptest_config({
        let mut c = ProptestConfig::with_cases(40);
        c.failure_persistence = None;
        if c.rng_seed == proptest::test_runner::RngSeed::Random {
            c.rng_seed = proptest::test_runner::RngSeed::Fixed(0x00ba_7c40_5eed);
        }
        c
    })]

    /// The odd shapes: c in {1, 3, 7, 13, 257}, h*w in {1, 15, 169}, n in 1..=4.
    #[test]
    fn odd_shapes_match_reference(
        c in prop::sample::select(vec![1usize, 3, 7, 13, 257]),
        hw in prop::sample::select(vec![(1usize, 1usize), (3, 5), (13, 13)]),
        n in 1usize..=4,
        act in prop::sample::select(ACTS.to_vec()),
        seed in any::<u64>(),
    ) {
        let r = isa::try_each_isa(|| {
            check_shape(Shape::new(n, c, hw.0, hw.1), act, seed);
            Ok::<(), TestCaseError>(())
        });
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

/// Shapes that reach every kernel path with 8 and 16 lanes: NHWC tiles held in registers
/// (c dividing or sharing factors with the vector), tiles on the stack (odd c up to 32
/// vectors per period), rows with and without a tail vector, several channel blocks with
/// a short last one; NCHW planes shorter than a vector, crossing vectors, planes that are
/// whole vectors, segments shorter than a vector, several channel blocks (per-sample
/// segments); 1x1 planes (the NHWC kernels).
#[test]
fn every_kernel_path() {
    isa::each_isa(|| {
        let cs = [
            1usize, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 16, 17, 24, 31, 32, 33, 40, 48, 64, 96,
            100, 128, 192, 255, 256, 257, 320, 512, 1000, 1024, 1025, 1030, 2100,
        ];
        let planes = [
            (1usize, 1usize),
            (1, 2),
            (1, 3),
            (2, 3),
            (3, 5),
            (4, 4),
            (1, 17),
            (7, 7),
            (14, 14),
            (8, 8),
            (2, 4),
            (16, 16),
            (17, 19),
        ];
        let mut case = 0u64;
        for &c in &cs {
            for &(h, w) in &planes {
                for n in [1usize, 3] {
                    let shape = Shape::new(n, c, h, w);
                    if n * c * h * w > 40_000 {
                        continue;
                    }
                    case += 1;
                    check_shape(shape, ACTS[case as usize % ACTS.len()], case);
                }
            }
        }
    });
}

/// The centered form `(x - mean) * scale + beta` on offsets of 1e4 and 1e6 with unit
/// spread: the error stays a few ulps of `y`, where the folded `x*scale + shift` loses
/// about `u * |mean| * scale` (0.06·scale at 1e6).
#[test]
fn large_offsets_stay_accurate() {
    isa::each_isa(|| {
        for offset in [1e4, 1e6, -1e6, 3e7] {
            let shape = Shape::new(2, 5, 9, 11);
            let mut rng = Rng::new(offset as u64 ^ 77);
            let x = tensor_nchw(
                shape,
                &[Dist::Normal {
                    offset,
                    spread: 1.0,
                }],
                &mut rng,
            );
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let x = to_layout(&x, shape, layout);
                let p = Params::of_data(&x, shape, layout, &mut rng);
                let y = run(&x, shape, layout, &p.view(), Activation::Identity);
                check(&x, &y, shape, layout, &p.view(), Activation::Identity);
                // And in absolute terms: unit-spread outputs within 1e-5 of the reference.
                let mut r = vec![0.0f64; x.len()];
                reference::normalize(&x, &mut r, shape, layout, &p.view(), Activation::Identity)
                    .unwrap();
                for (y, r) in y.iter().zip(&r) {
                    assert!(
                        (f64::from(*y) - r).abs() < 1e-5 * (1.0 + r.abs()),
                        "{y} vs {r}"
                    );
                }
            }
        }
    });
}

/// A constant channel with `var == 0` and `eps > 0` maps every value (== mean) to exactly
/// `beta`, whatever the constant, gamma or activation (beta inside the clamp range).
#[test]
fn constant_channels_give_exactly_beta() {
    isa::each_isa(|| {
        let mut rng = Rng::new(5);
        for (i, &v) in CONSTANTS.iter().enumerate() {
            for &(n, c, h, w) in &[
                (1usize, 3usize, 7usize, 7usize),
                (2, 13, 1, 1),
                (1, 257, 1, 3),
            ] {
                let shape = Shape::new(n, c, h, w);
                let x = vec![v; n * c * h * w];
                let p = Params {
                    mean: vec![v; c],
                    var: vec![0.0; c],
                    gamma: (0..c).map(|_| (rng.normal() * 10.0) as f32).collect(),
                    beta: (0..c).map(|_| (rng.uniform() * 5.0) as f32).collect(),
                    eps: [1e-5, 1e-3, 1.0][i % 3],
                };
                for layout in [Layout::Nchw, Layout::Nhwc] {
                    for act in [Activation::Identity, Activation::Relu, Activation::RELU6] {
                        let y = run(&x, shape, layout, &p.view(), act);
                        for (j, y) in y.iter().enumerate() {
                            let k = match layout {
                                Layout::Nchw => (j / (h * w)) % c,
                                Layout::Nhwc => j % c,
                            };
                            assert_eq!(*y, p.beta[k], "constant {v}, {layout:?}, {act:?}");
                        }
                    }
                }
            }
        }
    });
}

/// `var + eps == 0`: the scale is `gamma / 0`, and the output is what IEEE gives:
/// NaN where `x == mean` (0 * inf), `±inf` elsewhere, NaN when `gamma == 0` too.
#[test]
fn zero_variance_and_zero_eps_follow_ieee() {
    isa::each_isa(|| {
        let shape = Shape::new(1, 2, 1, 3);
        let x = [1.0f32, 2.0, 0.0, 5.0, 5.0, 5.0];
        let p = NormParams {
            mean: &[1.0, 5.0],
            var: &[0.0, 0.0],
            gamma: &[2.0, 0.0],
            beta: &[0.5, 0.5],
            eps: 0.0,
        };
        let y = run(&x, shape, Layout::Nchw, &p, Activation::Identity);
        assert!(y[0].is_nan());
        assert_eq!(y[1], f32::INFINITY);
        assert_eq!(y[2], f32::NEG_INFINITY);
        assert!(y[3..].iter().all(|v| v.is_nan()));
    });
}

/// Tiny variance (spread 1e-6 around 1, var ~1e-12, eps 0): the scale is ~1e6 and the
/// output still matches the reference.
#[test]
fn tiny_variance() {
    isa::each_isa(|| {
        let shape = Shape::new(3, 7, 5, 5);
        let mut rng = Rng::new(11);
        let x = tensor_nchw(
            shape,
            &[Dist::Normal {
                offset: 1.0,
                spread: 1e-6,
            }],
            &mut rng,
        );
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let x = to_layout(&x, shape, layout);
            let mut p = Params::of_data(&x, shape, layout, &mut rng);
            p.eps = 0.0;
            let y = run(&x, shape, layout, &p.view(), Activation::Identity);
            check(&x, &y, shape, layout, &p.view(), Activation::Identity);
        }
    });
}

/// Huge values (1e18..3e19, whose squares overflow f32) and denormals (no flush to zero:
/// the outputs depend on the subnormal inputs).
#[test]
fn huge_and_denormal_values() {
    isa::each_isa(|| {
        let shape = Shape::new(2, 3, 4, 5);
        let mut rng = Rng::new(3);
        for dist in [
            Dist::Huge { mixed_signs: false },
            Dist::Huge { mixed_signs: true },
            Dist::Denormal { mixed_signs: false },
            Dist::Denormal { mixed_signs: true },
        ] {
            let x = tensor_nchw(shape, &[dist], &mut rng);
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let x = to_layout(&x, shape, layout);
                let mut p = Params::of_data(&x, shape, layout, &mut rng);
                if matches!(dist, Dist::Denormal { .. }) {
                    // Scale the subnormals up to O(1): mean 0, var 1e-38 (scale 1e19), eps 0.
                    p.mean = vec![0.0; shape.c];
                    p.var = vec![1e-38; shape.c];
                    p.eps = 0.0;
                    p.beta = vec![0.0; shape.c];
                }
                let y = run(&x, shape, layout, &p.view(), Activation::Identity);
                check(&x, &y, shape, layout, &p.view(), Activation::Identity);
                if matches!(dist, Dist::Denormal { .. }) {
                    // Flushing the inputs to zero would give exactly beta.
                    let k_of = |j: usize| match layout {
                        Layout::Nchw => (j / 20) % 3,
                        Layout::Nhwc => j % 3,
                    };
                    let moved = y
                        .iter()
                        .enumerate()
                        .filter(|(j, y)| **y != p.beta[k_of(*j)]);
                    assert_eq!(moved.count(), y.len(), "denormal inputs were flushed");
                }
            }
        }
    });
}

/// Every activation at its edges with `scale == 1`, `mean == 0`, `beta == -0` (so `y == x`
/// before the activation): exactly 0 (both signs), exactly min/max, just inside and
/// outside, NaN, ±inf, at every position of a vector (main loop, tile leftover, tail).
#[test]
fn activations_at_their_edges() {
    isa::each_isa(|| {
        let edges = [
            0.0f32,
            -0.0,
            6.0,
            -6.0,
            6.0f32.next_up(),
            6.0f32.next_down(),
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.5,
            -0.5,
            f32::MAX,
            f32::MIN,
        ];
        let want = |v: f32, act: Activation| -> f32 {
            match act {
                Activation::Identity => v,
                Activation::Relu => {
                    if v < 0.0 {
                        0.0
                    } else {
                        v
                    }
                }
                Activation::Clamp { min, max } => {
                    if v < min {
                        min
                    } else if v > max {
                        max
                    } else {
                        v
                    }
                }
                Activation::LeakyRelu { slope } => {
                    if v >= 0.0 || v.is_nan() {
                        v
                    } else {
                        slope * v
                    }
                }
                _ => unreachable!("only the exact activations"),
            }
        };
        let acts = [
            Activation::Identity,
            Activation::Relu,
            Activation::RELU6,
            Activation::Clamp {
                min: -6.0,
                max: 0.0,
            },
            Activation::Clamp { min: 2.0, max: 2.0 },
            Activation::Clamp {
                min: f32::NEG_INFINITY,
                max: f32::INFINITY,
            },
            Activation::Clamp {
                min: f32::NEG_INFINITY,
                max: -1.0,
            },
            Activation::LeakyRelu { slope: 0.01 },
            Activation::LeakyRelu { slope: -3.0 },
            Activation::LeakyRelu { slope: 0.0 },
            Activation::HardSwish,
            Activation::Silu,
        ];
        // 1 channel (tile path), 3 channels (tile), 40 channels (rows), NCHW planes of 7.
        for &(c, hw, layout) in &[
            (1usize, 37usize, Layout::Nhwc),
            (3, 37, Layout::Nhwc),
            (37, 3, Layout::Nhwc),
            (37, 1, Layout::Nchw),
            (3, 37, Layout::Nchw),
            (2, 7, Layout::Nchw),
        ] {
            let shape = Shape::new(2, c, 1, hw);
            let len = 2 * c * hw;
            let x: Vec<f32> = (0..len).map(|i| edges[i % edges.len()]).collect();
            let p = NormParams {
                mean: &vec![0.0; c],
                var: &vec![1.0; c],
                gamma: &vec![1.0; c],
                // -0.0, so that x = -0.0 stays -0.0 (-0 + +0 would be +0).
                beta: &vec![-0.0; c],
                eps: 0.0,
            };
            for act in acts {
                let y = run(&x, shape, layout, &p, act);
                for (i, (&x, &y)) in x.iter().zip(&y).enumerate() {
                    if matches!(act, Activation::HardSwish | Activation::Silu) {
                        let r = reference::activate(f64::from(x), act);
                        let (_, tol) = act_error(act, r);
                        assert!(
                            (r.is_nan() && y.is_nan())
                                || f64::from(y) == r
                                || (f64::from(y) - r).abs() <= tol,
                            "{act:?} at {i} ({layout:?} c={c}): f({x:e}) = {y:e}, want {r:e}"
                        );
                        continue;
                    }
                    let w = want(x, act);
                    assert!(
                        y.to_bits() == w.to_bits() || (y.is_nan() && w.is_nan()),
                        "{act:?} at {i} ({layout:?} c={c}): f({x:e}) = {y:e}, want {w:e}"
                    );
                }
            }
        }
    });
}

/// A NaN anywhere in `x` (main loop, crossing vectors, tails) gives NaN at that position
/// and only there, for every activation.
#[test]
fn nan_propagates_for_every_activation() {
    isa::each_isa(|| {
        let mut rng = Rng::new(9);
        for &(n, c, h, w) in &[
            (2usize, 3usize, 7usize, 7usize),
            (1, 13, 1, 1),
            (3, 257, 1, 1),
            (2, 5, 3, 5),
            (1, 40, 2, 3),
        ] {
            let shape = Shape::new(n, c, h, w);
            let mut x = tensor_nchw(shape, &DATA[..1], &mut rng);
            let len = x.len();
            for i in (0..len).step_by(7) {
                x[i] = f32::NAN;
            }
            x[len - 1] = f32::NAN;
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let p = Params::of_data(&vec![0.5; len], shape, layout, &mut rng);
                for act in ACTS {
                    let y = run(&x, shape, layout, &p.view(), act);
                    for (i, (x, y)) in x.iter().zip(&y).enumerate() {
                        assert_eq!(
                            x.is_nan(),
                            y.is_nan(),
                            "{act:?} {layout:?} {shape:?} at {i}"
                        );
                    }
                }
            }
        }
    });
}

/// Infinite inputs give infinities of the right sign (or the clamp bound).
#[test]
fn infinities() {
    isa::each_isa(|| {
        let shape = Shape::new(1, 2, 3, 3);
        let mut x = vec![1.0f32; 18];
        x[4] = f32::INFINITY;
        x[13] = f32::NEG_INFINITY;
        let p = NormParams {
            mean: &[0.0, 0.0],
            var: &[1.0, 1.0],
            gamma: &[1.0, -1.0],
            beta: &[0.0, 0.0],
            eps: 0.0,
        };
        let y = run(&x, shape, Layout::Nchw, &p, Activation::Identity);
        assert_eq!((y[4], y[13]), (f32::INFINITY, f32::INFINITY));
        let y = run(&x, shape, Layout::Nchw, &p, Activation::RELU6);
        assert_eq!((y[4], y[13]), (6.0, 6.0));
    });
}

/// The README / crate-docs worked example: x = 1 and x = 9 with mean 5, var 5.5, gamma 2,
/// beta 0.5, eps 1e-5.
#[test]
fn worked_example() {
    isa::each_isa(|| {
        let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
        let shape = Shape::new(2, 1, 2, 4);
        let p = NormParams {
            mean: &[5.0],
            var: &[5.5],
            gamma: &[2.0],
            beta: &[0.5],
            eps: 1e-5,
        };
        let y = run(&x, shape, Layout::Nchw, &p, Activation::Identity);
        let s = 2.0 / (5.5f64 + 1e-5f32 as f64).sqrt();
        assert!((f64::from(y[0]) - (-4.0 * s + 0.5)).abs() < 1e-6);
        assert!((f64::from(y[15]) - (4.0 * s + 0.5)).abs() < 1e-6);
        assert!((y[0] - -2.9112).abs() < 1e-4 && (y[15] - 3.9112).abs() < 1e-4);
    });
}

/// Every way to call it wrong: the error names the argument, and nothing is written.
#[test]
fn errors_leave_outputs_untouched() {
    isa::each_isa(|| {
        let shape = Shape::new(2, 3, 2, 2);
        let x = [1.0f32; 24];
        let ok = [0.0f32; 3];
        let one = [1.0f32; 3];
        let good = NormParams {
            mean: &ok,
            var: &one,
            gamma: &one,
            beta: &ok,
            eps: 1e-5,
        };
        let short = [0.0f32; 2];
        let len = |buffer, expected, actual| Error::LengthMismatch {
            buffer,
            expected,
            actual,
        };
        let cases: Vec<(Shape, usize, usize, NormParams, Activation, Error)> = vec![
            (shape, 23, 24, good, Activation::Identity, len("x", 24, 23)),
            (shape, 24, 25, good, Activation::Identity, len("y", 24, 25)),
            (
                shape,
                24,
                24,
                NormParams {
                    mean: &short,
                    ..good
                },
                Activation::Identity,
                len("mean", 3, 2),
            ),
            (
                shape,
                24,
                24,
                NormParams {
                    var: &short,
                    ..good
                },
                Activation::Identity,
                len("var", 3, 2),
            ),
            (
                shape,
                24,
                24,
                NormParams {
                    gamma: &short,
                    ..good
                },
                Activation::Identity,
                len("gamma", 3, 2),
            ),
            (
                shape,
                24,
                24,
                NormParams {
                    beta: &short,
                    ..good
                },
                Activation::Identity,
                len("beta", 3, 2),
            ),
            (
                Shape::new(usize::MAX, 2, 1, 1),
                24,
                24,
                good,
                Activation::Identity,
                Error::ShapeOverflow {
                    n: usize::MAX,
                    c: 2,
                    h: 1,
                    w: 1,
                },
            ),
        ];
        let mut cases = cases;
        for eps in [f32::NAN, f32::INFINITY, -1e-5, f32::NEG_INFINITY] {
            cases.push((
                shape,
                24,
                24,
                NormParams { eps, ..good },
                Activation::Identity,
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
            (
                Activation::Clamp {
                    min: 0.0,
                    max: f32::NAN,
                },
                "Clamp.max",
            ),
            (Activation::Clamp { min: 1.0, max: 0.5 }, "Clamp.max"),
            (Activation::LeakyRelu { slope: f32::NAN }, "LeakyRelu.slope"),
            (
                Activation::LeakyRelu {
                    slope: f32::INFINITY,
                },
                "LeakyRelu.slope",
            ),
            (
                Activation::LeakyRelu {
                    slope: f32::NEG_INFINITY,
                },
                "LeakyRelu.slope",
            ),
        ] {
            cases.push((
                shape,
                24,
                24,
                good,
                act,
                Error::InvalidParameter {
                    name,
                    value: 0.0,
                    expected: "",
                },
            ));
        }
        for (shape, xl, yl, p, act, want) in cases {
            let x = &x[..xl.min(24)];
            let x = if xl > 24 { vec![1.0; xl] } else { x.to_vec() };
            let mut y = vec![7.0f32; yl];
            let got = normalize(&x, &mut y, shape, Layout::Nchw, &p, act).unwrap_err();
            assert!(y.iter().all(|v| *v == 7.0), "y written on {want:?}");
            if !matches!(want, Error::LengthMismatch { buffer: "y", .. }) {
                let mut z = x.clone();
                assert!(normalize_in_place(&mut z, shape, Layout::Nhwc, &p, act).is_err());
                assert!(bits(&z) == bits(&x), "x written in place on {want:?}");
            }
            match (got, want) {
                (
                    Error::InvalidParameter { name: a, .. },
                    Error::InvalidParameter { name: b, value, .. },
                ) => {
                    assert_eq!(a, b);
                    if let (Error::InvalidParameter { value: v, .. }, "eps") = (got, b) {
                        assert_eq!(v.to_bits(), value.to_bits());
                    }
                }
                _ => assert_eq!(got, want),
            }
        }
    });
}

/// Empty tensors and zero channels are fine (nothing to do).
#[test]
fn empty_is_ok() {
    isa::each_isa(|| {
        let p = NormParams {
            mean: &[],
            var: &[],
            gamma: &[],
            beta: &[],
            eps: 0.0,
        };
        for shape in [Shape::new(0, 0, 3, 3), Shape::new(4, 0, 3, 3)] {
            for layout in [Layout::Nchw, Layout::Nhwc] {
                normalize(&[], &mut [], shape, layout, &p, Activation::Relu).unwrap();
                normalize_in_place(&mut [], shape, layout, &p, Activation::Relu).unwrap();
            }
        }
        let p1 = NormParams {
            mean: &[0.0],
            var: &[1.0],
            gamma: &[1.0],
            beta: &[0.0],
            eps: 0.0,
        };
        normalize(
            &[],
            &mut [],
            Shape::new(0, 1, 3, 3),
            Layout::Nchw,
            &p1,
            Activation::Relu,
        )
        .unwrap();
    });
}

/// The kernels' per-channel blocks live on the stack: a 64 KiB thread stack is enough for
/// every path, the training forward, the backward pass and folding included.
#[test]
#[cfg(not(target_family = "wasm"))]
fn runs_on_a_64k_stack() {
    std::thread::Builder::new()
        .stack_size(isa::KERNEL_STACK)
        .spawn(|| {
            for &(n, c, h, w) in &[
                (2usize, 2100usize, 1usize, 1usize),
                (2, 2100, 1, 2),
                // The backward's whole-row `dx` of 1024 channels (rows 4 KiB apart).
                (80, 1024, 1, 1),
                (2, 3, 5, 5),
                (2, 13, 1, 1),
                (1, 31, 2, 2),
            ] {
                let shape = Shape::new(n, c, h, w);
                let len = n * c * h * w;
                let x: Vec<f32> = (0..len).map(|i| (i % 17) as f32).collect();
                let (mean, var, gamma, beta) =
                    (vec![1.0; c], vec![2.0; c], vec![0.5; c], vec![0.25; c]);
                let p = NormParams {
                    mean: &mean,
                    var: &var,
                    gamma: &gamma,
                    beta: &beta,
                    eps: 1e-5,
                };
                for layout in [Layout::Nchw, Layout::Nhwc] {
                    let mut y = vec![0.0; len];
                    eprintln!("normalize {shape:?} {layout:?}");
                    normalize(&x, &mut y, shape, layout, &p, Activation::RELU6).unwrap();
                    eprintln!("train");
                    let tp = batchnorm::TrainParams {
                        gamma: &gamma,
                        beta: &beta,
                        eps: 1e-5,
                        method: batchnorm::Method::Welford,
                        act: Activation::Relu,
                    };
                    let (mut rm, mut rv, mut sm, mut si) =
                        (vec![0.0; c], vec![1.0; c], vec![0.0; c], vec![0.0; c]);
                    batchnorm::train_forward(
                        &x,
                        &mut y,
                        shape,
                        layout,
                        &tp,
                        Some(batchnorm::RunningStats {
                            mean: &mut rm,
                            var: &mut rv,
                            momentum: batchnorm::Momentum::PYTORCH_DEFAULT,
                        }),
                        batchnorm::SavedStats {
                            mean: &mut sm,
                            invstd: &mut si,
                        },
                    )
                    .unwrap();
                    eprintln!("backward");
                    let bp = batchnorm::BackwardParams {
                        mean: &sm,
                        invstd: &si,
                        gamma: &gamma,
                    };
                    let fwd = batchnorm::Activated {
                        y: &y,
                        act: Activation::Relu,
                    };
                    let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
                    let mut dy = x.clone();
                    for stats in [
                        batchnorm::ForwardStats::Batch,
                        batchnorm::ForwardStats::Running,
                    ] {
                        batchnorm::backward_activated_in_place(
                            &x, &mut dy, shape, layout, &bp, stats, fwd, &mut dg, &mut db,
                        )
                        .unwrap();
                    }
                }
                let mut wts = vec![1.0f32; c * 9];
                let mut b = vec![0.0f32; c];
                for layout in [
                    batchnorm::WeightLayout::OutFirst,
                    batchnorm::WeightLayout::OutLast,
                ] {
                    batchnorm::fold_into_weights(
                        &mut wts,
                        batchnorm::WeightShape {
                            out: c,
                            per_out: 9,
                            layout,
                        },
                        batchnorm::Bias::InPlace(&mut b),
                        &p,
                    )
                    .unwrap();
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// An empty tensor with a huge batch is `Ok` without a loop over `n * c` empty planes
/// (found by the `api` fuzz target, where `n` near 2^32 took minutes; before the fix this
/// test would not finish).
#[test]
fn empty_tensor_with_huge_batch_is_ok() {
    isa::each_isa(|| {
        let (m, v, g, b) = ([0.0f32; 12], [1.0f32; 12], [1.0f32; 12], [0.0f32; 12]);
        let p = NormParams {
            mean: &m,
            var: &v,
            gamma: &g,
            beta: &b,
            eps: 1e-5,
        };
        for layout in [Layout::Nchw, Layout::Nhwc] {
            // n * c * h fits in usize (32-bit too), and h * w == 0.
            for shape in [
                Shape::new(usize::MAX / 16, 12, 0, 2),
                Shape::new(usize::MAX / 32, 12, 2, 0),
            ] {
                assert_eq!(
                    normalize(&[], &mut [], shape, layout, &p, Activation::Identity),
                    Ok(())
                );
                assert_eq!(
                    normalize_in_place(&mut [], shape, layout, &p, Activation::Relu),
                    Ok(())
                );
            }
        }
    });
}

/// The documented range: `x - mean` is computed in f32, so where `|x - mean|` overflows
/// f32 the output is `±inf` (then activated) although the true result, which the f64
/// reference gives, is finite; where `x - mean` fits, the output matches the reference.
#[test]
fn difference_overflowing_f32_gives_infinity() {
    isa::each_isa(|| {
        const MAX: f32 = f32::MAX;
        // Channel 0 about mean -MAX, channel 1 about mean +MAX; scale 1e-3 (var 1, eps 0).
        let x_nchw = [MAX, -MAX, 1.0, 3.0e38, -MAX, MAX, 0.0, -1.0e38];
        let p = NormParams {
            mean: &[-MAX, MAX],
            var: &[1.0, 1.0],
            gamma: &[1e-3, 1e-3],
            beta: &[0.5, 0.5],
            eps: 0.0,
        };
        // Per element of channel 0 then 1: `x - mean` exceeds f32::MAX + half an ulp
        // (2·MAX, MAX + 3e38 and their negatives), or is 0, or is ±MAX (MAX + 1 rounds to MAX).
        let overflows = [true, false, false, true, true, false, false, true];
        let shape = Shape::new(1, 2, 1, 4);
        let acts = [
            Activation::Identity,
            Activation::Relu,
            Activation::Clamp {
                min: -1.0,
                max: 1.0,
            },
        ];
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let x = to_layout(&x_nchw, shape, layout);
            for act in acts {
                let y = run(&x, shape, layout, &p, act);
                let mut r = vec![0.0f64; x.len()];
                reference::normalize(&x, &mut r, shape, layout, &p, act).unwrap();
                let y64: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
                let y_nchw = to_layout_back64(&y64, shape, layout);
                let r_nchw = to_layout_back64(&r, shape, layout);
                for i in 0..8 {
                    let (got, want) = (y_nchw[i], r_nchw[i]);
                    let what = format!("{layout:?} {act:?} element {i} (x = {:e})", x_nchw[i]);
                    assert!(
                        want.is_finite(),
                        "{what}: the true result is finite ({want})"
                    );
                    if overflows[i] {
                        // ±inf (sign of x - mean, scale > 0), then the activation.
                        let inf = if i < 4 {
                            f32::INFINITY
                        } else {
                            f32::NEG_INFINITY
                        };
                        let expect = match act {
                            Activation::Clamp { min, max } => inf.clamp(min, max),
                            Activation::Relu => inf.max(0.0),
                            _ => inf,
                        };
                        assert_eq!(got, f64::from(expect), "{what}");
                    } else {
                        // y = act(d·1e-3 + 0.5) with d = 0 or ±MAX: 0.5 exactly, or within
                        // the rounding of the product and the sum.
                        let tol = 4.0 * U * want.abs();
                        assert!((got - want).abs() <= tol, "{what}: {got:e} vs {want:e}");
                    }
                }
            }
        }
        // The worked numbers: x = MAX, mean = -MAX, scale 1e-3 is truly 2·MAX·1e-3 + 0.5.
        let mut r = [0.0f64; 8];
        reference::normalize(
            &x_nchw,
            &mut r,
            shape,
            Layout::Nchw,
            &p,
            Activation::Identity,
        )
        .unwrap();
        let want = 2.0 * f64::from(MAX) * f64::from(1e-3f32) + 0.5;
        assert!((r[0] - want).abs() <= 1e-15 * want, "{} vs {want}", r[0]);
        assert_eq!(
            run(&x_nchw, shape, Layout::Nchw, &p, Activation::Identity)[0],
            f32::INFINITY
        );
    });
}

/// `y` (f64 values) in `layout` back to NCHW order.
fn to_layout_back64(y: &[f64], shape: Shape, layout: Layout) -> Vec<f64> {
    let plane = shape.h * shape.w;
    let mut out = vec![0.0; y.len()];
    for n in 0..shape.n {
        for c in 0..shape.c {
            for s in 0..plane {
                let from = match layout {
                    Layout::Nchw => (n * shape.c + c) * plane + s,
                    Layout::Nhwc => (n * plane + s) * shape.c + c,
                };
                out[(n * shape.c + c) * plane + s] = y[from];
            }
        }
    }
    out
}

/// `prepare`: the scales are what `normalize` computes (correctly rounded f64), and every
/// bad argument is refused with the channel and value named, `scale` untouched.
#[test]
fn prepare_checks_every_channel() {
    let (mean, var, gamma, beta) = (
        [0.5f32, -1.0, 3.0],
        [4.0f32, 0.0, 1e-3],
        [2.0f32, -1.5, 0.25],
        [0.0f32, 1.0, -2.0],
    );
    let good = NormParams {
        mean: &mean,
        var: &var,
        gamma: &gamma,
        beta: &beta,
        eps: 1e-5,
    };
    let mut scale = [0.0f32; 3];
    prepare(&good, &mut scale).unwrap();
    for k in 0..3 {
        let want = f64::from(gamma[k]) / (f64::from(var[k]) + f64::from(good.eps)).sqrt();
        assert_eq!(scale[k].to_bits(), (want as f32).to_bits(), "channel {k}");
    }

    let bad_chan = |channel, name| Error::BadChannel {
        channel,
        name,
        value: 0.0,
        expected: "",
    };
    let with = |a: [f32; 3], i: usize, v: f32| {
        let mut a = a;
        a[i] = v;
        a
    };
    let mut cases: Vec<(Vec<[f32; 3]>, f32, usize, Error)> = Vec::new();
    for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        cases.push((
            vec![with(mean, 1, v), var, gamma, beta],
            1e-5,
            3,
            bad_chan(1, "mean"),
        ));
        cases.push((
            vec![mean, with(var, 2, v), gamma, beta],
            1e-5,
            3,
            bad_chan(2, "var"),
        ));
        cases.push((
            vec![mean, var, with(gamma, 0, v), beta],
            1e-5,
            3,
            bad_chan(0, "gamma"),
        ));
        cases.push((
            vec![mean, var, gamma, with(beta, 2, v)],
            1e-5,
            3,
            bad_chan(2, "beta"),
        ));
    }
    // var + eps not > 0: zero variance with eps 0, negative variance beyond eps.
    cases.push((vec![mean, var, gamma, beta], 0.0, 3, bad_chan(1, "var")));
    cases.push((
        vec![mean, with(var, 0, -1e-3), gamma, beta],
        1e-5,
        3,
        bad_chan(0, "var"),
    ));
    cases.push((
        vec![mean, with(var, 2, -1e-5), gamma, beta],
        1e-5,
        3,
        bad_chan(2, "var"),
    ));
    // The first bad channel is named.
    cases.push((
        vec![mean, with(var, 2, -1.0), with(gamma, 1, f32::NAN), beta],
        1e-5,
        3,
        bad_chan(1, "gamma"),
    ));
    for eps in [f32::NAN, -1.0, f32::INFINITY] {
        cases.push((
            vec![mean, var, gamma, beta],
            eps,
            3,
            Error::InvalidParameter {
                name: "eps",
                value: eps,
                expected: "finite and >= 0",
            },
        ));
    }
    cases.push((
        vec![mean, var, gamma, beta],
        1e-5,
        2,
        Error::LengthMismatch {
            buffer: "scale",
            expected: 3,
            actual: 2,
        },
    ));
    for (a, eps, len, want) in cases {
        let p = NormParams {
            mean: &a[0],
            var: &a[1],
            gamma: &a[2],
            beta: &a[3],
            eps,
        };
        let mut scale = vec![7.0f32; len];
        let got = prepare(&p, &mut scale).unwrap_err();
        assert!(scale.iter().all(|v| *v == 7.0), "scale written on {want:?}");
        match (got, want) {
            (
                Error::BadChannel {
                    channel,
                    name,
                    value,
                    ..
                },
                Error::BadChannel {
                    channel: c2,
                    name: n2,
                    ..
                },
            ) => {
                assert_eq!((channel, name), (c2, n2), "{got}");
                let v = match name {
                    "mean" => a[0][channel],
                    "var" => a[1][channel],
                    "gamma" => a[2][channel],
                    _ => a[3][channel],
                };
                assert_eq!(value.to_bits(), v.to_bits(), "{got}");
                let msg = got.to_string();
                assert!(msg.contains(&format!("channel {channel}")), "{msg}");
            }
            (
                Error::InvalidParameter { name, value, .. },
                Error::InvalidParameter {
                    name: n2,
                    value: v2,
                    ..
                },
            ) => {
                assert_eq!((name, value.to_bits()), (n2, v2.to_bits()));
            }
            _ => assert_eq!(got, want),
        }
    }
    let short = [0.0f32; 2];
    for (p, buffer) in [
        (
            NormParams {
                var: &short,
                ..good
            },
            "var",
        ),
        (
            NormParams {
                gamma: &short,
                ..good
            },
            "gamma",
        ),
        (
            NormParams {
                beta: &short,
                ..good
            },
            "beta",
        ),
    ] {
        let mut scale = [7.0f32; 3];
        assert_eq!(
            prepare(&p, &mut scale),
            Err(Error::LengthMismatch {
                buffer,
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(scale, [7.0; 3]);
    }
}

/// `normalize_prepared`'s errors name the argument; nothing is written.
#[test]
fn prepared_errors_leave_outputs_untouched() {
    isa::each_isa(|| {
        let shape = Shape::new(2, 3, 2, 2);
        let x = [1.0f32; 24];
        let (ok, one, short) = ([0.0f32; 3], [1.0f32; 3], [0.0f32; 2]);
        let good = Prepared {
            mean: &ok,
            scale: &one,
            beta: &ok,
        };
        let len = |buffer, expected, actual| Error::LengthMismatch {
            buffer,
            expected,
            actual,
        };
        let bad_clamp = Activation::Clamp { min: 1.0, max: 0.0 };
        let cases = [
            (good, 23, 24, Activation::Identity, len("x", 24, 23)),
            (good, 24, 25, Activation::Identity, len("y", 24, 25)),
            (
                Prepared {
                    mean: &short,
                    ..good
                },
                24,
                24,
                Activation::Identity,
                len("mean", 3, 2),
            ),
            (
                Prepared {
                    scale: &short,
                    ..good
                },
                24,
                24,
                Activation::Identity,
                len("scale", 3, 2),
            ),
            (
                Prepared {
                    beta: &short,
                    ..good
                },
                24,
                24,
                Activation::Identity,
                len("beta", 3, 2),
            ),
            (
                good,
                24,
                24,
                bad_clamp,
                Error::InvalidParameter {
                    name: "Clamp.max",
                    value: 0.0,
                    expected: "not NaN and >= Clamp.min",
                },
            ),
        ];
        for (p, xl, yl, act, want) in cases {
            let x = x[..xl].to_vec();
            let mut y = vec![7.0f32; yl];
            let got = normalize_prepared(&x, &mut y, shape, Layout::Nchw, &p, act);
            assert_eq!(got, Err(want));
            assert!(y.iter().all(|v| *v == 7.0), "y written on {want:?}");
            if !matches!(want, Error::LengthMismatch { buffer: "y", .. }) {
                let mut z = x.clone();
                let got = normalize_prepared_in_place(&mut z, shape, Layout::Nhwc, &p, act);
                assert_eq!(got, Err(want));
                assert!(bits(&z) == bits(&x), "x written in place on {want:?}");
            }
        }
    });
}

/// The inputs of the activation sweeps: both signs of every binade from the smallest
/// subnormal to `f32::MAX` (16 values each), a fine grid over `[-110, 110]`, and the
/// edges (±0, ±3, ±inf, NaN, SiLU's underflow near -88.7 and -103.9).
fn act_inputs() -> Vec<f32> {
    let mut v = Vec::new();
    for e in -149i32..=127 {
        for j in 0..16 {
            let x = ((1.0 + f64::from(j) / 16.0) * 2f64.powi(e)) as f32;
            v.extend([x, -x]);
        }
    }
    let mut x = -110.0f32;
    while x < 110.0 {
        v.push(x);
        x += 1.0 / 64.0;
    }
    for e in [
        0.0f32, 3.0, -3.0, 88.72, -88.72, -87.34, -103.28, -103.97, 6.0, -6.0,
    ] {
        let (mut up, mut down) = (e, e);
        for _ in 0..4 {
            v.extend([up, down, -up, -down]);
            up = up.next_up();
            down = down.next_down();
        }
    }
    v.extend([
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN,
    ]);
    v
}

/// LeakyRelu exactly as scalar f32 (`t >= 0 ? t : slope*t`), HardSwish within 4 ulp of
/// its f64 formula, SiLU within `5e-7·|silu(t)| + 1e-35` of its f64 formula (the f64
/// `exp` of `std`, independent of both the kernels and the oracle), NaN for NaN, over the
/// whole f32 range, at every level, in both layouts. `mean 0`, `scale 1`, `beta -0.0`
/// make the affine step exact (`t = x`).
#[test]
fn new_activations_are_accurate_over_the_whole_range() {
    let xs = act_inputs();
    let ulp = |t: f64| {
        let t32 = (t as f32).abs();
        if t32 < f32::MIN_POSITIVE {
            f64::from(1e-45f32)
        } else {
            f64::from(t32.next_up()) - f64::from(t32)
        }
    };
    isa::each_isa(|| {
        for (c, layout) in [
            (1usize, Layout::Nhwc),
            (3, Layout::Nchw),
            (19, Layout::Nhwc),
        ] {
            let len = xs.len() / c * c;
            let x = &xs[..len];
            let shape = Shape::new(1, c, 1, len / c);
            let p = NormParams {
                mean: &vec![0.0; c],
                var: &vec![1.0; c],
                gamma: &vec![1.0; c],
                beta: &vec![-0.0; c],
                eps: 0.0,
            };
            for slope in [0.01f32, 0.2, -1.5, 0.0, 3.0e30] {
                let y = run(x, shape, layout, &p, Activation::LeakyRelu { slope });
                for (&t, &y) in x.iter().zip(&y) {
                    let w = if t >= 0.0 || t.is_nan() { t } else { slope * t };
                    assert!(
                        y.to_bits() == w.to_bits() || (y.is_nan() && w.is_nan()),
                        "leaky_relu({slope})({t:e}) = {y:e}, want {w:e}"
                    );
                }
            }
            let y = run(x, shape, layout, &p, Activation::HardSwish);
            for (&t, &y) in x.iter().zip(&y) {
                let t = f64::from(t);
                let w = t * (t + 3.0).clamp(0.0, 6.0) / 6.0;
                if w.is_nan() {
                    assert!(y.is_nan(), "hardswish({t:e}) = {y:e}, want NaN");
                    continue;
                }
                let err = (f64::from(y) - w).abs() / ulp(w);
                assert!(
                    err <= 4.0 || f64::from(y) == w,
                    "hardswish({t:e}) = {y:e}, want {w:e}: {err} ulp"
                );
            }
            let y = run(x, shape, layout, &p, Activation::Silu);
            for (&t, &y) in x.iter().zip(&y) {
                let t = f64::from(t);
                let w = t / (1.0 + (-t).exp());
                if w.is_nan() {
                    assert!(y.is_nan(), "silu({t:e}) = {y:e}, want NaN");
                    continue;
                }
                let tol = 5e-7 * w.abs() + 1e-35;
                assert!(
                    f64::from(y) == w || (f64::from(y) - w).abs() <= tol,
                    "silu({t:e}) = {y:e}, want {w:e} (tolerance {tol:e})"
                );
            }
        }
    });
}
