//! Fuzz target `train`: the training forward (`train_forward`, `train_forward_in_place`)
//! with every statistics method, activation and running-statistics convention (PyTorch,
//! ONNX, cumulative, none), at every instruction-set level this CPU runs ([`Kernels`]).
//! Checks at each level:
//! - `Ok`/`Err` as `reference::train_forward` (1 value per channel with an unbiased
//!   convention is refused); nothing written on `Err`;
//! - in place == out of place, bit for bit (y, saved statistics, running statistics);
//! - the saved mean bit for bit `batch_stats`' mean, and `y` bit for bit `normalize` with
//!   the saved mean and `scale = gamma * invstd` (documented), both at the same level;
//! - saved mean, `invstd`, running mean and variance, and `y` against the f64 reference,
//!   within the bounds the README's statistics bounds imply (see [`Bounds`]); where the
//!   reference is non-finite (NaN or ±inf in the channel), non-finite results and `y` NaN.

use super::check::{self, Expected, FLOOR, U};
use super::input::{self, Rng, Tensor};
use super::normalize::{act32, bits, same};
use super::stats::METHODS;
use arbitrary::{Arbitrary, Unstructured};
use batchnorm::reference::{self, Running64, Train64};
use batchnorm::{
    Activation, Isa, Kernels, Method, Momentum, NormParams, RunningStats, SavedStats, TrainParams,
};

/// A momentum convention with a valid momentum.
fn momentum(u: &mut Unstructured<'_>) -> arbitrary::Result<Momentum> {
    let m = *u.choose(&[0.1f32, 0.9, 0.0, 1.0, 0.5, 1.0e-45, 0.999_999_94])?;
    Ok(match u.int_in_range(0u8..=2)? {
        0 => Momentum::PyTorch(m),
        1 => Momentum::Onnx(m),
        _ => Momentum::Cumulative {
            prior_batches: *u.choose(&[0u64, 1, 2, 9, 1 << 40, u64::MAX])?,
        },
    })
}

/// Per-channel error bounds of the batch statistics a training forward computes (f64
/// moments, then the mean and biased variance rounded to f32), from the README's accuracy bounds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Absolute error of the f64 batch mean: its documented bound plus the floor.
    pub mean: f64,
    /// Relative error of `var + eps` after the variance is rounded to f32.
    pub denom_rel: f64,
}

impl Bounds {
    /// The bounds for channel `e` with `method` and `eps`.
    pub fn of(e: &Expected, method: Method, eps: f32) -> Bounds {
        let var = e.var();
        let denom = var + f64::from(eps);
        Bounds {
            mean: e.mean_bound(method) + FLOOR,
            denom_rel: (e.var_bound(method, var) + check::half_ulp_f32(var) + FLOOR) / denom,
        }
    }
}

/// Inputs besides the tensor.
struct Setup {
    method: Method,
    eps: f32,
    act: Activation,
    running: Option<(Vec<f32>, Vec<f32>, Momentum)>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

fn setup(u: &mut Unstructured<'_>, c: usize) -> arbitrary::Result<Setup> {
    let method = *u.choose(&METHODS)?;
    let eps = input::eps(u)?;
    let act = input::activation(u)?;
    let tracked = u.ratio(3u8, 4)?;
    let momentum = momentum(u)?;
    let mut rng = Rng::new(u64::arbitrary(u)?);
    let rate = u8::arbitrary(u)? / 4;
    let running = tracked.then(|| {
        (
            input::params(&mut rng, c, 0.0, 5.0, rate),
            input::params(&mut rng, c, 2.0, 2.0, rate),
            momentum,
        )
    });
    Ok(Setup {
        method,
        eps,
        act,
        running,
        gamma: input::params(&mut rng, c, 1.0, 2.0, rate),
        beta: input::params(&mut rng, c, 0.0, 3.0, rate),
    })
}

/// The outputs of one call, as bit patterns.
#[derive(Debug, Clone)]
struct Out {
    y: Vec<u32>,
    mean: Vec<u32>,
    invstd: Vec<u32>,
    rmean: Vec<u32>,
    rvar: Vec<u32>,
}

/// The body of fuzz target `train`.
pub fn train(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(t) = Tensor::arbitrary(&mut u) else {
        return;
    };
    let Tensor { shape, layout, x } = &t;
    let (shape, layout, c) = (*shape, *layout, shape.c);
    let Ok(s) = setup(&mut u, c) else {
        return;
    };
    let p = TrainParams {
        gamma: &s.gamma,
        beta: &s.beta,
        eps: s.eps,
        method: s.method,
        act: s.act,
    };
    let what = format!(
        "{shape:?} {layout:?} {:?} {:?} eps {:e} {:?}",
        s.method,
        s.act,
        s.eps,
        s.running.as_ref().map(|r| r.2)
    );

    // The reference, in f64.
    let mut y64 = vec![0.0f64; x.len()];
    let (mut mean64, mut invstd64) = (vec![0.0f64; c], vec![0.0f64; c]);
    let (mut rmean64, mut rvar64): (Vec<f64>, Vec<f64>) = match &s.running {
        Some((m, v, _)) => (
            m.iter().map(|&v| f64::from(v)).collect(),
            v.iter().map(|&v| f64::from(v)).collect(),
        ),
        None => (vec![], vec![]),
    };
    let r64 = reference::train_forward(
        x,
        shape,
        layout,
        &p,
        s.running.as_ref().map(|r| Running64 {
            mean: &mut rmean64,
            var: &mut rvar64,
            momentum: r.2,
        }),
        Train64 {
            y: &mut y64,
            mean: &mut mean64,
            invstd: &mut invstd64,
        },
    );

    // Every check below, at the level of `kernels`, against the same reference.
    let at_level = |kernels: &Kernels| {
        let what = format!("at {} {what}", kernels.isa());
        // Out of place, then in place, from the same starting buffers.
        let run = |in_place: bool| -> (Result<(), batchnorm::Error>, Out) {
            let mut y = vec![f32::from_bits(0x7FC0_1234); x.len()];
            let mut xm = x.clone();
            let (mut mean, mut invstd) = (vec![f32::NAN; c], vec![f32::NAN; c]);
            let (mut rmean, mut rvar, momentum) =
                s.running
                    .clone()
                    .unwrap_or((vec![], vec![], Momentum::PYTORCH_DEFAULT));
            let running = s.running.is_some().then_some(RunningStats {
                mean: &mut rmean,
                var: &mut rvar,
                momentum,
            });
            let saved = SavedStats {
                mean: &mut mean,
                invstd: &mut invstd,
            };
            let r = if in_place {
                let r = kernels.train_forward_in_place(&mut xm, shape, layout, &p, running, saved);
                y = xm;
                r
            } else {
                kernels.train_forward(x, &mut y, shape, layout, &p, running, saved)
            };
            (
                r,
                Out {
                    y: bits(&y),
                    mean: bits(&mean),
                    invstd: bits(&invstd),
                    rmean: bits(&rmean),
                    rvar: bits(&rvar),
                },
            )
        };
        let (r, out) = run(false);
        let (ri, out_in) = run(true);
        assert_eq!(
            r.is_ok(),
            r64.is_ok(),
            "train_forward {r:?} but reference::train_forward {r64:?}: {what}"
        );
        assert_eq!(
            format!("{r:?}"),
            format!("{ri:?}"),
            "train_forward vs in place: {what}"
        );
        if r.is_err() {
            // Nothing written: the sentinels and the running statistics as they were.
            let (rm, rv) = match &s.running {
                Some((m, v, _)) => (bits(m), bits(v)),
                None => (vec![], vec![]),
            };
            assert_eq!(
                (&out.rmean, &out.rvar),
                (&rm, &rv),
                "running statistics written on {r:?}: {what}"
            );
            assert_eq!(out_in.y, bits(x), "x written in place on {r:?}: {what}");
            assert!(
                out.mean
                    .iter()
                    .chain(&out.invstd)
                    .all(|&b| b == f32::NAN.to_bits()),
                "saved statistics written on {r:?}: {what}"
            );
            return;
        }
        let fields = |o: &Out| [&o.y, &o.mean, &o.invstd, &o.rmean, &o.rvar].map(|v| v.clone());
        let names = [
            "y",
            "saved.mean",
            "saved.invstd",
            "running.mean",
            "running.var",
        ];
        for (name, (a, b)) in names.iter().zip(fields(&out).iter().zip(&fields(&out_in))) {
            let (a, b): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|&v| f32::from_bits(v)).collect(),
                b.iter().map(|&v| f32::from_bits(v)).collect(),
            );
            if let Some(i) = (0..a.len()).find(|&i| !same(a[i], b[i])) {
                panic!(
                    "train_forward_in_place differs from train_forward in {name}[{i}]: in place \
                     {:e}, out of place {:e}: {what}",
                    b[i], a[i]
                );
            }
        }

        // The saved mean is bitwise batch_stats' mean, and y is bitwise normalize with the
        // saved values: mean, and scale = gamma * invstd (in f64, rounded once), passed to
        // normalize as gamma with var = 1, eps = 0 (documented).
        let (mut bmean, mut bvar) = (vec![0.0f32; c], vec![0.0f32; c]);
        kernels
            .batch_stats(x, shape, layout, s.method, &mut bmean, &mut bvar)
            .expect("batch_stats rejected a valid tensor");
        if let Some(k) = (0..c).find(|&k| !same(f32::from_bits(out.mean[k]), bmean[k])) {
            panic!(
                "saved mean {:e} differs from batch_stats' mean {:e}: {what}: channel {k}",
                f32::from_bits(out.mean[k]),
                bmean[k]
            );
        }
        let scale: Vec<f32> = (0..c)
            .map(|k| (f64::from(s.gamma[k]) * f64::from(f32::from_bits(out.invstd[k]))) as f32)
            .collect();
        let saved_mean: Vec<f32> = out.mean.iter().map(|&b| f32::from_bits(b)).collect();
        let np = NormParams {
            mean: &saved_mean,
            var: &vec![1.0; c],
            gamma: &scale,
            beta: &s.beta,
            eps: 0.0,
        };
        let mut yn = vec![0.0f32; x.len()];
        kernels
            .normalize(x, &mut yn, shape, layout, &np, s.act)
            .expect("normalize rejected valid arguments");
        if let Some(i) = (0..x.len()).find(|&i| !same(f32::from_bits(out.y[i]), yn[i])) {
            let k = input::channel_of(i, shape, layout);
            panic!(
                "train_forward's y differs from normalize with the saved mean and \
                 scale = gamma * invstd: {what}: element {i} (channel {k}), x {:e}: y {:e} vs {:e}; \
                 saved mean {:e}, invstd {:e}, gamma {:e}",
                x[i],
                f32::from_bits(out.y[i]),
                yn[i],
                saved_mean[k],
                f32::from_bits(out.invstd[k]),
                s.gamma[k]
            );
        }

        let f = |b: &[u32]| -> Vec<f32> { b.iter().map(|&b| f32::from_bits(b)).collect() };
        let (y, mean, invstd, rmean, rvar) = (
            f(&out.y),
            f(&out.mean),
            f(&out.invstd),
            f(&out.rmean),
            f(&out.rvar),
        );
        let exp = check::expected(x, shape, layout);
        for (k, e) in exp.iter().enumerate() {
            let fail = |msg: String| -> ! {
                panic!(
                    "train_forward {what} channel {k} (reference {:?}, A {:e}, kappa {:e}): {msg}",
                    e.m,
                    e.abs_mean,
                    e.kappa()
                )
            };
            let b = Bounds::of(e, s.method, s.eps);
            let ys = (0..x.len()).filter(|&i| input::channel_of(i, shape, layout) == k);
            if !e.finite() {
                if mean[k].is_finite() {
                    fail(format!("saved mean {:e} finite", mean[k]));
                }
                if let Some(i) = ys.clone().find(|&i| !y[i].is_nan()) {
                    fail(format!("y[{i}] = {:e}, want NaN", y[i]));
                }
            } else {
                check::within("saved mean", f64::from(mean[k]), e.m.mean, b.mean, true)
                    .unwrap_or_else(|m| fail(m));
                let var_f32_overflow = (e.var() as f32).is_infinite();
                if b.denom_rel < 0.5 && !var_f32_overflow {
                    check::within(
                        "saved invstd",
                        f64::from(invstd[k]),
                        invstd64[k],
                        invstd64[k] * b.denom_rel,
                        true,
                    )
                    .unwrap_or_else(|m| fail(m));
                    for i in ys {
                        y_element(
                            x[i],
                            y[i],
                            y64[i],
                            e,
                            &b,
                            s.gamma[k],
                            s.beta[k],
                            invstd64[k],
                            s.eps,
                            s.act,
                        )
                        .unwrap_or_else(|m| fail(format!("element {i}, x {:e}: {m}", x[i])));
                    }
                }
            }
            if let Some((_, _, momentum)) = &s.running {
                let (rm64, rv64) = (rmean64[k], rvar64[k]);
                if !rm64.is_finite() || !rv64.is_finite() {
                    if rm64.is_nan() && !rmean[k].is_nan() || rv64.is_nan() && !rvar[k].is_nan() {
                        fail(format!(
                            "running ({:e}, {:e}) but reference ({rm64:e}, {rv64:e})",
                            rmean[k], rvar[k]
                        ));
                    }
                    continue;
                }
                let w = match *momentum {
                    Momentum::PyTorch(m) => f64::from(m),
                    Momentum::Onnx(m) => 1.0 - f64::from(m),
                    Momentum::Cumulative { prior_batches } => 1.0 / (prior_batches as f64 + 1.0),
                    // `Momentum` is non-exhaustive; the fuzz inputs make only those above.
                    m => panic!("no batch weight for {m:?}: add it here"),
                };
                let bvar = if matches!(momentum, Momentum::Onnx(_)) {
                    e.var()
                } else {
                    e.m.sample_variance()
                };
                check::within("running mean", f64::from(rmean[k]), rm64, w * b.mean, true)
                    .unwrap_or_else(|m| fail(m));
                check::within(
                    "running var",
                    f64::from(rvar[k]),
                    rv64,
                    w * (e.var_bound(s.method, bvar) + FLOOR),
                    true,
                )
                .unwrap_or_else(|m| fail(m));
            }
        }
    };
    for isa in Isa::supported() {
        let k = Kernels::new(isa).expect("Isa::supported() gave a level Kernels::new refuses");
        at_level(&k);
    }
}

/// Checks one element of a training forward's `y` against the reference `y64`, for a
/// finite channel `e`. The kernel normalizes with its own f32 batch mean `m32` and variance;
/// with `d = x - mean64` and `s = gamma·invstd64`:
/// `|y - y64| <= |d·s|·denom_rel + |s|·g·mean_err + 5u·(|d| + mean_err)·|s|·g + 4u·|beta|`
/// with `g = 1 + denom_rel`,
/// `mean_err` the bound on `|m32 - mean64|`. Skipped where an f32 intermediate can overflow
/// or the variance is too uncertain (`denom_rel >= 1/2`). A constant channel with `eps > 0`
/// gives exactly `act(beta)`.
#[allow(clippy::too_many_arguments)]
fn y_element(
    x: f32,
    y: f32,
    y64: f64,
    e: &Expected,
    b: &Bounds,
    gamma: f32,
    beta: f32,
    invstd64: f64,
    eps: f32,
    act: Activation,
) -> Result<(), String> {
    let s = f64::from(gamma) * invstd64;
    if e.constant.is_some() && eps > 0.0 && (s as f32).is_finite() && !beta.is_nan() {
        let want = act32(beta, act);
        return if y == want {
            Ok(())
        } else {
            Err(format!(
                "constant channel: y = {y:e}, want exactly act(beta) = {want:e}"
            ))
        };
    }
    let max = f64::from(f32::MAX);
    let d = f64::from(x) - e.m.mean;
    let grow = 1.0 + b.denom_rel;
    if b.denom_rel >= 0.5
        || (e.var() as f32).is_infinite()
        || !(d.abs() <= max / 2.0 && s.abs() * grow < max && (d * s).abs() <= max / 4.0)
        || !y64.is_finite()
        || !beta.is_finite()
    {
        return Ok(());
    }
    let mean_err = b.mean + check::half_ulp_f32(e.m.mean);
    let tol = (d * s).abs() * b.denom_rel
        + s.abs() * grow * mean_err
        + 5.0 * U * (d.abs() + mean_err) * s.abs() * grow
        + 4.0 * U * f64::from(beta).abs()
        + d.abs() * f64::from(f32::MIN_POSITIVE) * f64::from(f32::EPSILON);
    check::within("y", f64::from(y), y64, tol, true)
}
