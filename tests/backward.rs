//! `backward`, `backward_in_place`, `backward_activated(_in_place)`: the worked example by
//! hand, a central-difference check of the f64 reference, every kernel path against the
//! reference under the bounds (both modes, both layouts, odd shapes, offsets,
//! constant channels, `dy` of mixed scales, ReLU and clamp masks), in place == out of
//! place bit for bit, NaN isolation, the zero-sized shape, and every error with the
//! outputs untouched. Every test runs at every instruction-set level (`isa::each_isa`).

use batchnorm::reference::{self, Backward64};
use batchnorm::{
    Activated, Activation, BackwardParams, Error, ForwardStats, Layout, Method, SavedStats, Shape,
    TrainParams,
};
mod isa;
use isa::{
    backward, backward_activated, backward_activated_in_place, backward_in_place, train_forward,
};
mod values;
use values::{Dist, Rng, tensor_nchw, to_layout};

/// Relative size of the bounds of the issue: `dbeta` within `BOUND·Σ|dy|`, `dgamma`
/// within `BOUND·Σ|dy·xhat|`, `dx` within
/// `BOUND·|gamma·invstd|·(|dy| + mean|dy| + |xhat|·mean|dy·xhat|)`.
const BOUND: f64 = 1e-5;
/// Absolute floor (a few f32 subnormal quanta): below it a relative bound means nothing.
const FLOOR: f64 = 1e-44;

/// What a backward pass writes.
#[derive(Debug, Clone, PartialEq)]
struct Out {
    dx: Vec<f32>,
    dgamma: Vec<f32>,
    dbeta: Vec<f32>,
}

/// The bits of each value, every NaN as the one canonical NaN: which NaN an operation on
/// two NaNs returns is not specified (the compiler may swap the operands of an add), so
/// in place and out of place may differ in a NaN's sign, and nothing else.
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter()
        .map(|v| {
            if v.is_nan() {
                f32::NAN.to_bits()
            } else {
                v.to_bits()
            }
        })
        .collect()
}

/// The case: a tensor, its gradient and the forward's statistics.
struct Case<'a> {
    x: &'a [f32],
    dy: &'a [f32],
    shape: Shape,
    layout: Layout,
    p: BackwardParams<'a>,
    stats: ForwardStats,
    fwd: Option<Activated<'a>>,
}

/// Runs the case out of place and in place (and, without an activation, through
/// `backward_activated` with `Identity` too); asserts they agree bit for bit.
fn run(c: &Case) -> Out {
    let (n, ch) = (c.x.len(), c.shape.c);
    let mut o = Out {
        dx: vec![f32::NAN; n],
        dgamma: vec![f32::NAN; ch],
        dbeta: vec![f32::NAN; ch],
    };
    let mut z = Out {
        dx: c.dy.to_vec(),
        dgamma: vec![f32::NAN; ch],
        dbeta: vec![f32::NAN; ch],
    };
    match c.fwd {
        None => {
            backward(
                c.x,
                c.dy,
                &mut o.dx,
                c.shape,
                c.layout,
                &c.p,
                c.stats,
                &mut o.dgamma,
                &mut o.dbeta,
            )
            .expect("valid arguments");
            backward_in_place(
                c.x,
                &mut z.dx,
                c.shape,
                c.layout,
                &c.p,
                c.stats,
                &mut z.dgamma,
                &mut z.dbeta,
            )
            .expect("valid arguments");
            let mut a = o.clone();
            let y = vec![0.0f32; n];
            let fwd = Activated {
                y: &y,
                act: Activation::Identity,
            };
            backward_activated(
                c.x,
                c.dy,
                &mut a.dx,
                c.shape,
                c.layout,
                &c.p,
                c.stats,
                fwd,
                &mut a.dgamma,
                &mut a.dbeta,
            )
            .expect("valid arguments");
            assert_eq!(bits(&a.dx), bits(&o.dx), "Identity mask differs");
        }
        Some(fwd) => {
            backward_activated(
                c.x,
                c.dy,
                &mut o.dx,
                c.shape,
                c.layout,
                &c.p,
                c.stats,
                fwd,
                &mut o.dgamma,
                &mut o.dbeta,
            )
            .expect("valid arguments");
            backward_activated_in_place(
                c.x,
                &mut z.dx,
                c.shape,
                c.layout,
                &c.p,
                c.stats,
                fwd,
                &mut z.dgamma,
                &mut z.dbeta,
            )
            .expect("valid arguments");
        }
    }
    for (a, b, what) in [
        (&o.dx, &z.dx, "dx"),
        (&o.dgamma, &z.dgamma, "dgamma"),
        (&o.dbeta, &z.dbeta, "dbeta"),
    ] {
        assert_eq!(
            bits(a),
            bits(b),
            "{what}: in place differs from out of place"
        );
    }
    o
}

/// The channel of flat index `i`.
fn channel_of(i: usize, shape: Shape, layout: Layout) -> usize {
    match layout {
        Layout::Nchw => (i / (shape.h * shape.w).max(1)) % shape.c.max(1),
        Layout::Nhwc => i % shape.c.max(1),
    }
}

/// Checks `got` against the f64 reference under the bounds; channels `skip`
/// (NaN on purpose) are not checked.
#[allow(clippy::needless_range_loop)]
fn check(c: &Case, got: &Out, skip: &[usize]) -> Result<(), String> {
    let (n, ch) = (c.x.len(), c.shape.c);
    let (mut dx, mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; ch], vec![0.0; ch]);
    reference::backward(
        c.x,
        c.dy,
        c.shape,
        c.layout,
        &c.p,
        c.stats,
        c.fwd,
        Backward64 {
            dx: &mut dx,
            dgamma: &mut dgamma,
            dbeta: &mut dbeta,
        },
    )
    .map_err(|e| format!("reference refused: {e}"))?;
    // Per channel: Σ|dy|, Σ|dy·xhat| of the masked dy.
    let (mut sdy, mut sdyxh) = (vec![0.0f64; ch], vec![0.0f64; ch]);
    let xhat = |i: usize, k: usize| {
        (f64::from(c.x[i]) - f64::from(c.p.mean[k])) * f64::from(c.p.invstd[k])
    };
    let mdy = |i: usize| match c.fwd {
        Some(f) if !reference::activation_passes(f.y[i], f.act) => 0.0,
        _ => f64::from(c.dy[i]),
    };
    for i in 0..n {
        let k = channel_of(i, c.shape, c.layout);
        sdy[k] += mdy(i).abs();
        sdyxh[k] += (mdy(i) * xhat(i, k)).abs();
    }
    let m = (c.shape.n * c.shape.h * c.shape.w) as f64;
    let near = |got: f32, want: f64, tol: f64| {
        let g = f64::from(got);
        (g == want) || (g - want).abs() <= tol + FLOOR || (g.is_nan() && want.is_nan())
    };
    for k in (0..ch).filter(|k| !skip.contains(k)) {
        if !near(got.dbeta[k], dbeta[k], BOUND * sdy[k]) {
            return Err(format!(
                "dbeta[{k}] = {} want {} (bound {})",
                got.dbeta[k],
                dbeta[k],
                BOUND * sdy[k]
            ));
        }
        if !near(got.dgamma[k], dgamma[k], BOUND * sdyxh[k]) {
            return Err(format!(
                "dgamma[{k}] = {} want {} (bound {})",
                got.dgamma[k],
                dgamma[k],
                BOUND * sdyxh[k]
            ));
        }
    }
    for i in 0..n {
        let k = channel_of(i, c.shape, c.layout);
        if skip.contains(&k) {
            continue;
        }
        let a = (f64::from(c.p.gamma[k]) * f64::from(c.p.invstd[k])).abs();
        let tol = BOUND * a * (mdy(i).abs() + sdy[k] / m + xhat(i, k).abs() * sdyxh[k] / m);
        if !near(got.dx[i], dx[i], tol) {
            return Err(format!(
                "dx[{i}] (channel {k}) = {} want {} (bound {tol})",
                got.dx[i], dx[i]
            ));
        }
    }
    Ok(())
}

/// The forward's saved statistics and output: `train_forward` at the current level.
fn forward(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    act: Activation,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let c = shape.c;
    let (mut y, mut mean, mut invstd) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
    let p = TrainParams {
        gamma,
        beta,
        eps,
        method: Method::TwoPass,
        act,
    };
    let saved = SavedStats {
        mean: &mut mean,
        invstd: &mut invstd,
    };
    train_forward(x, &mut y, shape, layout, &p, None, saved).expect("valid forward");
    (y, mean, invstd)
}

/// `dy` of mixed scales: uniform in `[-1, 1]` times `10^e`, `e` uniform in `[-3, 3]`.
fn mixed_dy(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len)
        .map(|_| ((2.0 * rng.uniform() - 1.0) * 10f64.powf(6.0 * rng.uniform() - 3.0)) as f32)
        .collect()
}

/// Every mode and activation on one tensor (given in NCHW): the forward at the current
/// level gives the statistics and `y`, then each backward is checked.
fn check_all(x_nchw: &[f32], shape: Shape, eps: f32, seed: u64) -> Result<(), String> {
    let c = shape.c;
    let mut rng = Rng::new(seed);
    let gamma: Vec<f32> = (0..c).map(|k| 0.5 + (k % 5) as f32 * 0.75).collect();
    let beta: Vec<f32> = (0..c).map(|k| (k % 3) as f32 - 1.0).collect();
    let dy_nchw = mixed_dy(x_nchw.len(), &mut rng);
    for layout in [Layout::Nchw, Layout::Nhwc] {
        let x = to_layout(x_nchw, shape, layout);
        let dy = to_layout(&dy_nchw, shape, layout);
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::Clamp {
                min: -0.5,
                max: 1.0,
            },
        ] {
            let (y, mean, invstd) = forward(&x, shape, layout, &gamma, &beta, eps, act);
            let p = BackwardParams {
                mean: &mean,
                invstd: &invstd,
                gamma: &gamma,
            };
            for stats in [ForwardStats::Batch, ForwardStats::Running] {
                let fwd = (act != Activation::Identity).then_some(Activated { y: &y, act });
                let case = Case {
                    x: &x,
                    dy: &dy,
                    shape,
                    layout,
                    p,
                    stats,
                    fwd,
                };
                let got = run(&case);
                check(&case, &got, &[])
                    .map_err(|e| format!("{shape:?} {layout:?} {act:?} {stats:?}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// The odd shapes of the issue: c = 1, 3, 7, 257; h*w = 1, 7, 49; n = 1..4.
#[test]
fn odd_shapes_against_the_reference() {
    isa::each_isa(|| {
        let mut seed = 1;
        for c in [1usize, 3, 7, 257] {
            for (h, w) in [(1usize, 1usize), (1, 7), (7, 7)] {
                for n in 1..=4 {
                    let shape = Shape::new(n, c, h, w);
                    let mut rng = Rng::new(seed);
                    seed += 1;
                    let x = tensor_nchw(
                        shape,
                        &[Dist::Normal {
                            offset: 0.5,
                            spread: 2.0,
                        }],
                        &mut rng,
                    );
                    check_all(&x, shape, 1e-5, seed).unwrap();
                }
            }
        }
    });
}

/// Every kernel path: long planes (more than `CHUNK` vectors per lane), planes with a
/// partial vector, short planes over many images, tiled NHWC periods, blocks of many channels (with a narrow last
/// block; rows 4 KiB apart), and data classes: offsets 1e4 and 1e6, constant channels (with a tiny `eps`,
/// so `invstd` is huge), small integers.
#[test]
fn kernel_paths_and_data_classes() {
    let shapes = [
        Shape::new(2, 3, 32, 33),
        Shape::new(1, 2, 64, 40),
        Shape::new(3, 16, 3, 5),
        Shape::new(2, 64, 2, 3),
        Shape::new(1, 13, 9, 10),
        Shape::new(2, 260, 1, 3),
        Shape::new(2, 1000, 1, 1),
        Shape::new(130, 5, 1, 1),
        // Short NCHW planes over many images: the f32 rows fold into f64 more than once.
        Shape::new(40, 17, 5, 5),
        // Whole groups of short NCHW planes in pairs (batch statistics at AVX-512: a
        // group's `dx` in the walk that sums the next), with a partial group after them,
        // over several images (folds every 12 images of 7x7); planes of one vector.
        Shape::new(3, 50, 7, 7),
        Shape::new(30, 32, 7, 7),
        Shape::new(2, 48, 4, 4),
        // Rows 4 KiB apart: the batch statistics' `dx` goes row by row, the running
        // statistics' `dx` is stored a row late (AVX-512).
        Shape::new(3, 1024, 1, 1),
        // The same over more than `CHUNK` rows: batch statistics write `dx` over whole
        // rows after every block's sums (NHWC; NCHW 1x1 planes are the same).
        Shape::new(70, 1024, 1, 1),
        Shape::new(1, 1024, 9, 8),
        // NHWC blocks of 144 and 116 channels down exactly `CHUNK` (64) rows: the partial
        // vector of the second block folds its sums once, at the last row.
        Shape::new(1, 260, 8, 8),
        // Batch statistics over more than `CHUNK` rows (not 4 KiB apart): strip by strip,
        // sums down every chunk, then `dx` from the last chunk back (AVX-512, portable).
        // 130 rows end in a chunk of 2; 256 rows are four whole chunks.
        Shape::new(1, 260, 10, 13),
        Shape::new(2, 272, 8, 16),
        // The same with rows 8 KiB apart (too many channels for whole rows): each strip's
        // `dx` row by row (AVX-512, portable; AVX2 takes two sweeps).
        Shape::new(70, 2048, 1, 1),
    ];
    let dists: [&[Dist]; 4] = [
        &[Dist::Normal {
            offset: 1e4,
            spread: 1.0,
        }],
        &[
            Dist::Normal {
                offset: 1e6,
                spread: 10.0,
            },
            Dist::Constant(3.25),
        ],
        &[Dist::Constant(-7.0), Dist::SmallInts { lo: -3, hi: 5 }],
        &[Dist::Normal {
            offset: -2.0,
            spread: 1e-3,
        }],
    ];
    isa::each_isa(|| {
        for (i, shape) in shapes.iter().enumerate() {
            for (j, d) in dists.iter().enumerate() {
                let mut rng = Rng::new((i * 10 + j) as u64);
                let x = tensor_nchw(*shape, d, &mut rng);
                let eps = if j == 2 { 1e-10 } else { 1e-5 };
                check_all(&x, *shape, eps, (i * 10 + j) as u64).unwrap();
            }
        }
    });
}

/// The worked example: one channel of `1..=8` and `2..=9` (NCHW, n = 2, 2x4 planes),
/// gamma 2, beta 0.5, eps 1e-5, so mean 5, biased var 5.5, `invstd = 1/sqrt(5.50001)`.
/// The loss is `L = Σ y·w` with `w = 1` on the first sample and 0 on the second, so
/// `dy = w`, `m = 16` and, by hand:
/// - `dbeta = Σw = 8`;
/// - `dgamma = Σ w·xhat = invstd·Σ_{v=1..8}(v - 5) = invstd·(36 - 40) = -4·invstd
///   = -1.7056041802963335`;
/// - `dx_j = gamma·invstd·(w_j - dbeta/m - xhat_j·dgamma/m)
///        = 2·invstd·(w_j - 1/2 + (x_j - 5)·invstd²/4)`, `invstd² = 1/5.50001`:
///   for `x = 1` in the first sample `2·invstd·(1/2 - 1/5.50001) = 0.27134640151013223`,
///   for `x = 5` exactly `invstd = 0.4264010450740834`, and the second sample is the
///   first's negative mirrored (`x = 9` gives `-0.27134640151013223`).
#[test]
fn worked_example() {
    let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
    let w: Vec<f32> = (0..16).map(|i| if i < 8 { 1.0 } else { 0.0 }).collect();
    let shape = Shape::new(2, 1, 2, 4);
    let invstd = 1.0 / 5.50001f64.sqrt();
    let by_hand = |xj: f64, wj: f64| 2.0 * invstd * (wj - 0.5 + (xj - 5.0) * invstd * invstd / 4.0);
    assert_eq!(by_hand(1.0, 1.0), 0.27134640151013223);
    assert_eq!(by_hand(5.0, 1.0), invstd);
    assert_eq!(by_hand(9.0, 0.0), -0.27134640151013223);
    isa::each_isa(|| {
        let (_, mean, inv) = forward(
            &x,
            shape,
            Layout::Nchw,
            &[2.0],
            &[0.5],
            1e-5,
            Activation::Identity,
        );
        assert_eq!(mean, [5.0]);
        assert_eq!(inv, [invstd as f32]);
        let p = BackwardParams {
            mean: &mean,
            invstd: &inv,
            gamma: &[2.0],
        };
        let case = Case {
            x: &x,
            dy: &w,
            shape,
            layout: Layout::Nchw,
            p,
            stats: ForwardStats::Batch,
            fwd: None,
        };
        let o = run(&case);
        assert_eq!(o.dbeta, [8.0]);
        assert!(
            (f64::from(o.dgamma[0]) + 4.0 * invstd).abs() < 1e-6,
            "{:?}",
            o.dgamma
        );
        for (j, (&xj, &wj)) in x.iter().zip(&w).enumerate() {
            let want = by_hand(f64::from(xj), f64::from(wj));
            assert!(
                (f64::from(o.dx[j]) - want).abs() < 1e-6,
                "dx[{j}] = {} want {want}",
                o.dx[j]
            );
        }
        // Running statistics: dx = w * gamma * invstd.
        let o = run(&Case {
            stats: ForwardStats::Running,
            ..case
        });
        for (j, &wj) in w.iter().enumerate() {
            let want = f64::from(wj) * 2.0 * invstd;
            assert!((f64::from(o.dx[j]) - want).abs() < 1e-6, "dx[{j}]");
        }
        assert_eq!(o.dbeta, [8.0]);
    });
}

/// The f64 forward the central differences go through: batch statistics (or the fixed
/// `running` ones) of each channel, then `act(gamma·xhat + beta)`, and `L = Σ y·w`.
fn loss(
    x: &[f64],
    shape: Shape,
    gamma: &[f64],
    beta: &[f64],
    running: Option<(&[f64], &[f64])>,
    relu: bool,
    w: &[f64],
) -> f64 {
    let plane = shape.h * shape.w;
    let idx = |n: usize, k: usize, s: usize| (n * shape.c + k) * plane + s;
    let mut l = 0.0;
    for k in 0..shape.c {
        let (mean, invstd) = match running {
            Some((m, i)) => (m[k], i[k]),
            None => {
                let vals: Vec<f64> = (0..shape.n)
                    .flat_map(|n| (0..plane).map(move |s| (n, s)))
                    .map(|(n, s)| x[idx(n, k, s)])
                    .collect();
                let m = vals.iter().sum::<f64>() / vals.len() as f64;
                let v = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64;
                (m, 1.0 / (v + 1e-5).sqrt())
            }
        };
        for n in 0..shape.n {
            for s in 0..plane {
                let i = idx(n, k, s);
                let mut y = gamma[k] * (x[i] - mean) * invstd + beta[k];
                if relu && y < 0.0 {
                    y = 0.0;
                }
                l += y * w[i];
            }
        }
    }
    l
}

/// The reference against central differences of `loss` in f64: `dx`, `dgamma`, `dbeta`,
/// for batch and running statistics, without and with ReLU (data chosen so no `y` is near
/// the kink).
#[test]
fn reference_matches_central_differences() {
    let shape = Shape::new(3, 2, 2, 3);
    let len = 36;
    let mut rng = Rng::new(7);
    // Integers: the batch mean of each channel is exact in f32 (sum / 18 of small integers
    // need not be, so channel 1 is shifted to make it so).
    let x: Vec<f32> = (0..len).map(|_| (rng.below(17) as f32) - 8.0).collect();
    let w: Vec<f64> = (0..len).map(|_| 2.0 * rng.uniform() - 1.0).collect();
    let gamma = [1.5f64, -0.75];
    let beta = [0.25f64, 2.0];
    let xd: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let h = 1e-4;
    for (stats, relu) in [
        (ForwardStats::Batch, false),
        (ForwardStats::Running, false),
        (ForwardStats::Batch, true),
    ] {
        // The statistics, in f64 then rounded as a forward would save them.
        let (mut y, mut mean, mut inv) = (vec![0.0; len], vec![0.0; 2], vec![0.0; 2]);
        let tp = TrainParams {
            gamma: &[1.5, -0.75],
            beta: &[0.25, 2.0],
            eps: 1e-5,
            method: Method::TwoPass,
            act: Activation::Identity,
        };
        reference::train_forward(
            &x,
            shape,
            Layout::Nchw,
            &tp,
            None,
            reference::Train64 {
                y: &mut y,
                mean: &mut mean,
                invstd: &mut inv,
            },
        )
        .unwrap();
        let (mean32, inv32): (Vec<f32>, Vec<f32>) = (
            mean.iter().map(|&v| v as f32).collect(),
            inv.iter().map(|&v| v as f32).collect(),
        );
        let mean64: Vec<f64> = mean32.iter().map(|&v| f64::from(v)).collect();
        let inv64: Vec<f64> = inv32.iter().map(|&v| f64::from(v)).collect();
        let running = (stats == ForwardStats::Running).then_some((&mean64[..], &inv64[..]));
        // `y` before the activation; after ReLU it is the mask.
        if relu {
            assert!(y.iter().all(|v| v.abs() > 1e-3), "a y near the kink");
            assert!(y.iter().any(|v| *v < 0.0), "ReLU masks nothing");
        }
        let y32: Vec<f32> = y.iter().map(|&v| v.max(0.0) as f32).collect();
        let (mut dx, mut dg, mut db) = (vec![0.0; len], vec![0.0; 2], vec![0.0; 2]);
        let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        let wd: Vec<f64> = w32.iter().map(|&v| f64::from(v)).collect();
        reference::backward(
            &x,
            &w32,
            shape,
            Layout::Nchw,
            &BackwardParams {
                mean: &mean32,
                invstd: &inv32,
                gamma: &[1.5, -0.75],
            },
            stats,
            relu.then_some(Activated {
                y: &y32,
                act: Activation::Relu,
            }),
            Backward64 {
                dx: &mut dx,
                dgamma: &mut dg,
                dbeta: &mut db,
            },
        )
        .unwrap();
        let l = |x: &[f64], g: &[f64], b: &[f64]| loss(x, shape, g, b, running, relu, &wd);
        for i in 0..len {
            let (mut xp, mut xm) = (xd.clone(), xd.clone());
            xp[i] += h;
            xm[i] -= h;
            let num = (l(&xp, &gamma, &beta) - l(&xm, &gamma, &beta)) / (2.0 * h);
            assert!(
                (num - dx[i]).abs() < 1e-5 * (1.0 + num.abs()),
                "{stats:?} relu {relu}: dx[{i}] = {} numeric {num}",
                dx[i]
            );
        }
        for k in 0..2 {
            let (mut gp, mut gm) = (gamma, gamma);
            gp[k] += h;
            gm[k] -= h;
            let num = (l(&xd, &gp, &beta) - l(&xd, &gm, &beta)) / (2.0 * h);
            assert!(
                (num - dg[k]).abs() < 1e-5 * (1.0 + num.abs()),
                "dgamma[{k}]: {} vs {num}",
                dg[k]
            );
            let (mut bp, mut bm) = (beta, beta);
            bp[k] += h;
            bm[k] -= h;
            let num = (l(&xd, &gamma, &bp) - l(&xd, &gamma, &bm)) / (2.0 * h);
            assert!(
                (num - db[k]).abs() < 1e-5 * (1.0 + num.abs()),
                "dbeta[{k}]: {} vs {num}",
                db[k]
            );
        }
    }
}

/// NaN in one channel's `x` or `dy` stays in that channel.
#[test]
fn nan_stays_in_its_channel() {
    isa::each_isa(|| {
        for shape in [
            Shape::new(2, 5, 4, 5),
            Shape::new(3, 5, 1, 1),
            Shape::new(2, 300, 1, 2),
            // Whole groups of 16 short NCHW planes, read flat: channel 1 starts inside a
            // vector it shares with channel 0, channel 2 inside one it shares with 1.
            Shape::new(2, 20, 5, 5),
            Shape::new(1, 16, 14, 14),
            // Two whole groups, paired with batch statistics at AVX-512 (the first group's
            // `dx` in the walk that sums the second): NaN in both groups.
            Shape::new(2, 40, 5, 5),
        ] {
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let len = shape.n * shape.c * shape.h * shape.w;
                let mut rng = Rng::new(3);
                let mut x: Vec<f32> = (0..len).map(|_| rng.normal() as f32).collect();
                let mut dy = mixed_dy(len, &mut rng);
                let c = shape.c;
                let gamma = vec![1.25f32; c];
                let (_, mean, invstd) = forward(
                    &x,
                    shape,
                    layout,
                    &gamma,
                    &vec![0.0; c],
                    1e-5,
                    Activation::Identity,
                );
                // Channel 1 (and 17): NaN in x (after the statistics); channel 2 (and 18):
                // NaN in dy.
                let at = |k: usize| {
                    (0..len)
                        .find(|&i| channel_of(i, shape, layout) == k)
                        .unwrap()
                };
                let nan: &[usize] = if c > 18 { &[1, 2, 17, 18] } else { &[1, 2] };
                for &k in nan {
                    if k % 16 == 1 {
                        x[at(k)] = f32::NAN;
                    } else {
                        dy[at(k)] = f32::NAN;
                    }
                }
                let p = BackwardParams {
                    mean: &mean,
                    invstd: &invstd,
                    gamma: &gamma,
                };
                for stats in [ForwardStats::Batch, ForwardStats::Running] {
                    let case = Case {
                        x: &x,
                        dy: &dy,
                        shape,
                        layout,
                        p,
                        stats,
                        fwd: None,
                    };
                    let o = run(&case);
                    check(&case, &o, nan).unwrap();
                    for &k in nan {
                        assert!(o.dgamma[k].is_nan(), "{shape:?} {layout:?} {stats:?}: {k}");
                        if k % 16 == 2 {
                            assert!(o.dbeta[k].is_nan(), "{shape:?} {layout:?} {stats:?}: {k}");
                        }
                    }
                    for (i, d) in o.dx.iter().enumerate() {
                        let k = channel_of(i, shape, layout);
                        if !nan.contains(&k) {
                            assert!(d.is_finite(), "{shape:?} {layout:?} {stats:?}: dx[{i}]");
                        }
                    }
                }
            }
        }
    });
}

/// NCHW with 1x1 planes is NHWC: bitwise the same results.
#[test]
fn one_by_one_planes_are_the_interleaved_layout() {
    isa::each_isa(|| {
        let shape = Shape::new(37, 19, 1, 1);
        let mut rng = Rng::new(11);
        let x: Vec<f32> = (0..37 * 19)
            .map(|_| rng.normal() as f32 * 3.0 + 1.0)
            .collect();
        let dy = mixed_dy(x.len(), &mut rng);
        let (_, mean, invstd) = forward(
            &x,
            shape,
            Layout::Nhwc,
            &[1.0; 19],
            &[0.0; 19],
            1e-5,
            Activation::Identity,
        );
        let p = BackwardParams {
            mean: &mean,
            invstd: &invstd,
            gamma: &[0.5; 19],
        };
        let mk = |layout| Case {
            x: &x,
            dy: &dy,
            shape,
            layout,
            p,
            stats: ForwardStats::Batch,
            fwd: None,
        };
        let (a, b) = (run(&mk(Layout::Nchw)), run(&mk(Layout::Nhwc)));
        assert_eq!(bits(&a.dx), bits(&b.dx));
        assert_eq!(bits(&a.dgamma), bits(&b.dgamma));
        assert_eq!(bits(&a.dbeta), bits(&b.dbeta));
    });
}

/// A zero-sized shape: `Ok`, `dgamma = dbeta = 0`, and nothing else; the reference agrees.
#[test]
fn zero_sized_shape_zeroes_the_sums() {
    isa::each_isa(|| {
        for shape in [
            Shape::new(0, 3, 2, 2),
            Shape::new(4, 3, 0, 5),
            Shape::new(2, 0, 3, 3),
        ] {
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let c = shape.c;
                let p = BackwardParams {
                    mean: &vec![1.0; c],
                    invstd: &vec![1.0; c],
                    gamma: &vec![1.0; c],
                };
                let (mut dg, mut db) = (vec![f32::NAN; c], vec![f32::NAN; c]);
                let mut dx: [f32; 0] = [];
                backward(
                    &[],
                    &[],
                    &mut dx,
                    shape,
                    layout,
                    &p,
                    ForwardStats::Batch,
                    &mut dg,
                    &mut db,
                )
                .unwrap();
                assert!(dg.iter().chain(&db).all(|v| *v == 0.0));
                let (mut rg, mut rb) = (vec![f64::NAN; c], vec![f64::NAN; c]);
                reference::backward(
                    &[],
                    &[],
                    shape,
                    layout,
                    &p,
                    ForwardStats::Batch,
                    None,
                    Backward64 {
                        dx: &mut [],
                        dgamma: &mut rg,
                        dbeta: &mut rb,
                    },
                )
                .unwrap();
                assert!(rg.iter().chain(&rb).all(|v| *v == 0.0));
            }
        }
    });
}

/// Every error: the argument named, the reference's error the same, and no output
/// touched.
#[test]
fn errors_name_the_argument_and_write_nothing() {
    let shape = Shape::new(2, 3, 2, 2);
    let len = 24;
    let ok = vec![1.0f32; len];
    let c3 = [1.0f32; 3];
    let c2 = [1.0f32; 2];
    let short = vec![1.0f32; len - 1];
    let mismatch = |buffer: &'static str, expected: usize, actual: usize| Error::LengthMismatch {
        buffer,
        expected,
        actual,
    };
    // (x, dy, dx len, y, mean, invstd, gamma, dgamma len, dbeta len, act, error)
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &[f32],
        &[f32],
        usize,
        &[f32],
        &[f32],
        &[f32],
        &[f32],
        usize,
        usize,
        Activation,
        Error,
    )> = vec![
        (
            &short,
            &ok,
            len,
            &ok,
            &c3,
            &c3,
            &c3,
            3,
            3,
            Activation::Relu,
            mismatch("x", len, len - 1),
        ),
        (
            &ok,
            &short,
            len,
            &ok,
            &c3,
            &c3,
            &c3,
            3,
            3,
            Activation::Relu,
            mismatch("dy", len, len - 1),
        ),
        (
            &ok,
            &ok,
            len + 1,
            &ok,
            &c3,
            &c3,
            &c3,
            3,
            3,
            Activation::Relu,
            mismatch("dx", len, len + 1),
        ),
        (
            &ok,
            &ok,
            len,
            &short,
            &c3,
            &c3,
            &c3,
            3,
            3,
            Activation::Relu,
            mismatch("y", len, len - 1),
        ),
        (
            &ok,
            &ok,
            len,
            &ok,
            &c2,
            &c3,
            &c3,
            3,
            3,
            Activation::Relu,
            mismatch("mean", 3, 2),
        ),
        (
            &ok,
            &ok,
            len,
            &ok,
            &c3,
            &c2,
            &c3,
            3,
            3,
            Activation::Relu,
            mismatch("invstd", 3, 2),
        ),
        (
            &ok,
            &ok,
            len,
            &ok,
            &c3,
            &c3,
            &c2,
            3,
            3,
            Activation::Relu,
            mismatch("gamma", 3, 2),
        ),
        (
            &ok,
            &ok,
            len,
            &ok,
            &c3,
            &c3,
            &c3,
            4,
            3,
            Activation::Relu,
            mismatch("dgamma", 3, 4),
        ),
        (
            &ok,
            &ok,
            len,
            &ok,
            &c3,
            &c3,
            &c3,
            3,
            0,
            Activation::Relu,
            mismatch("dbeta", 3, 0),
        ),
        (
            &ok,
            &ok,
            len,
            &ok,
            &c3,
            &c3,
            &c3,
            3,
            3,
            Activation::Clamp { min: 1.0, max: 0.0 },
            Error::InvalidParameter {
                name: "Clamp.max",
                value: 0.0,
                expected: "not NaN and >= Clamp.min",
            },
        ),
        (
            &ok,
            &ok,
            len,
            &ok,
            &c3,
            &c3,
            &c3,
            3,
            3,
            Activation::Silu,
            Error::InvalidParameter {
                name: "act",
                value: f32::NAN,
                expected: "",
            },
        ),
        (
            &ok,
            &ok,
            len,
            &ok,
            &c3,
            &c3,
            &c3,
            3,
            3,
            Activation::LeakyRelu { slope: 0.1 },
            Error::InvalidParameter {
                name: "act",
                value: f32::NAN,
                expected: "",
            },
        ),
    ];
    let same = |got: Error, want: Error| match (got, want) {
        (Error::InvalidParameter { name: a, .. }, Error::InvalidParameter { name: b, .. })
            if b == "act" =>
        {
            a == b
        }
        _ => got == want,
    };
    isa::each_isa(|| {
        for (x, dy, dx_len, y, mean, invstd, gamma, dg_len, db_len, act, want) in cases.clone() {
            let p = BackwardParams {
                mean,
                invstd,
                gamma,
            };
            let fwd = Activated { y, act };
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let (mut dx, mut dg, mut db) = (
                    vec![-9.0f32; dx_len],
                    vec![-9.0f32; dg_len],
                    vec![-9.0f32; db_len],
                );
                let mut d2 = dy.to_vec();
                let e = backward_activated(
                    x,
                    dy,
                    &mut dx,
                    shape,
                    layout,
                    &p,
                    ForwardStats::Batch,
                    fwd,
                    &mut dg,
                    &mut db,
                )
                .unwrap_err();
                assert!(same(e, want), "{e:?} want {want:?}");
                let in_place_applies = !matches!(want, Error::LengthMismatch { buffer: "dx", .. });
                if in_place_applies {
                    let e = backward_activated_in_place(
                        x,
                        &mut d2,
                        shape,
                        layout,
                        &p,
                        ForwardStats::Running,
                        fwd,
                        &mut dg,
                        &mut db,
                    )
                    .unwrap_err();
                    assert!(same(e, want), "in place: {e:?} want {want:?}");
                }
                if y.len() == len && !matches!(act, Activation::Relu) {
                    // Without an activation the act errors do not arise.
                } else if y.len() == len {
                    let e = backward(
                        x,
                        dy,
                        &mut dx,
                        shape,
                        layout,
                        &p,
                        ForwardStats::Batch,
                        &mut dg,
                        &mut db,
                    )
                    .unwrap_err();
                    assert!(same(e, want), "plain: {e:?} want {want:?}");
                }
                assert!(
                    dx.iter().chain(&dg).chain(&db).all(|v| *v == -9.0),
                    "an output was written"
                );
                assert_eq!(d2, dy, "dy was written in place");
                let (mut rx, mut rg, mut rb) =
                    (vec![0.0; dx_len], vec![0.0; dg_len], vec![0.0; db_len]);
                let e = reference::backward(
                    x,
                    dy,
                    shape,
                    layout,
                    &p,
                    ForwardStats::Batch,
                    Some(fwd),
                    Backward64 {
                        dx: &mut rx,
                        dgamma: &mut rg,
                        dbeta: &mut rb,
                    },
                )
                .unwrap_err();
                assert!(same(e, want), "reference: {e:?} want {want:?}");
            }
        }
        // A shape whose size overflows.
        let big = Shape::new(usize::MAX, 2, 2, 1);
        let p = BackwardParams {
            mean: &c2,
            invstd: &c2,
            gamma: &c2,
        };
        let (mut dg, mut db) = ([0.0f32; 2], [0.0f32; 2]);
        let e = backward(
            &[],
            &[],
            &mut [],
            big,
            Layout::Nchw,
            &p,
            ForwardStats::Batch,
            &mut dg,
            &mut db,
        );
        assert!(matches!(e, Err(Error::ShapeOverflow { .. })), "{e:?}");
    });
}

/// Masks by the forward's output, element by element: ReLU keeps `y > 0`, clamp keeps
/// `min < y < max`, NaN keeps, `-0.0` and the bounds themselves do not.
#[test]
fn masks_keep_what_the_activation_passed() {
    let y = [
        -1.0f32,
        -0.0,
        0.0,
        1e-45,
        0.5,
        1.0,
        6.0,
        7.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        3.0,
        -2.0,
        2.0,
        0.25,
        5.999_999_5,
        1e30,
    ];
    let n = y.len();
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let dy = vec![1.0f32; n];
    let shape = Shape::new(1, 1, 1, n);
    let p = BackwardParams {
        mean: &[0.0],
        invstd: &[1.0],
        gamma: &[1.0],
    };
    let acts = [
        Activation::Relu,
        Activation::RELU6,
        Activation::Clamp {
            min: f32::NEG_INFINITY,
            max: 2.0,
        },
        Activation::Clamp {
            min: -2.0,
            max: f32::INFINITY,
        },
        Activation::Clamp { min: 1.0, max: 1.0 },
    ];
    isa::each_isa(|| {
        for act in acts {
            let (mut dx, mut dg, mut db) = (vec![0.0; n], [0.0], [0.0]);
            let fwd = Activated { y: &y, act };
            backward_activated(
                &x,
                &dy,
                &mut dx,
                shape,
                Layout::Nchw,
                &p,
                ForwardStats::Running,
                fwd,
                &mut dg,
                &mut db,
            )
            .unwrap();
            for (i, &yi) in y.iter().enumerate() {
                let want = if reference::activation_passes(yi, act) {
                    1.0
                } else {
                    0.0
                };
                assert_eq!(dx[i], want, "{act:?} y = {yi}");
            }
        }
    });
    assert!(!reference::activation_passes(-0.0, Activation::Relu));
    assert!(reference::activation_passes(f32::NAN, Activation::RELU6));
    assert!(!reference::activation_passes(6.0, Activation::RELU6));
    assert!(reference::activation_passes(
        f32::INFINITY,
        Activation::Relu
    ));
}
