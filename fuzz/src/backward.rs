//! Fuzz target `backward`: the backward pass (`backward`, `backward_in_place`,
//! `backward_activated`, `backward_activated_in_place`) with both kinds of statistics and
//! the masks of ReLU and clamp (and, now and then, an activation it refuses or a buffer of
//! the wrong length), at every instruction-set level this CPU runs ([`Kernels`]). Checks
//! at each level:
//! - `Ok`/`Err` as `reference::backward`, the same error; nothing written on `Err`;
//! - in place == out of place, bit for bit, and `backward` == `backward_activated` with
//!   `Identity`;
//! - `dbeta`, `dgamma` and `dx` against the f64 reference within the bounds
//!   (`1e-5` of `Σ|dy|`, of `Σ|dy·xhat|`, and of `|gamma·invstd|·(|dy| + mean|dy| +
//!   |xhat|·mean|dy·xhat|)` per element), plus the f32 subnormal quanta the roundings can
//!   lose, on every channel whose f32 intermediates cannot overflow (all inputs finite,
//!   `|x - mean|`, `|xhat|` and the sums well inside the f32 range). Other channels only
//!   have to keep their NaN and infinities to themselves, which the checked channels show.

use super::input::{self, Dist, Rng, Tensor};
use super::normalize::bits;

/// The bits of `v` with every NaN as the one quiet NaN: in place and out of place run the
/// same arithmetic, but the compiler may order the operands of a sum differently, and a
/// sum of two NaNs takes the sign and payload of its first operand.
fn bits_nan_as_one(v: &[f32]) -> Vec<u32> {
    v.iter()
        .map(|v| if v.is_nan() { 0x7FC0_0000 } else { v.to_bits() })
        .collect()
}
use arbitrary::{Arbitrary, Unstructured};
use batchnorm::reference::{self, Backward64};
use batchnorm::{Activated, Activation, BackwardParams, ForwardStats, Isa, Kernels};

/// The relative bound.
const BOUND: f64 = 1e-5;
/// One f32 subnormal quantum, `2^-149`.
const Q: f64 = 1.401_298_464_324_817e-45;
/// Inside this, no f32 intermediate of a checked channel overflows.
const SAFE: f64 = f32::MAX as f64 / 64.0;

/// Which buffer gets a wrong length (if any).
const WRONG: [&str; 10] = [
    "dy", "dx", "y", "mean", "invstd", "gamma", "dgamma", "dbeta", "x", "act",
];

/// The outputs of one call.
#[derive(Debug, Clone)]
struct Out {
    dx: Vec<f32>,
    dgamma: Vec<f32>,
    dbeta: Vec<f32>,
}

/// The body of fuzz target `backward`.
pub fn backward(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(t) = Tensor::arbitrary(&mut u) else {
        return;
    };
    let Tensor { shape, layout, x } = t;
    let c = shape.c;
    let Ok((seed, stats, act, rate, wrong)) = (|| -> arbitrary::Result<_> {
        let seed = u64::arbitrary(&mut u)?;
        let stats = if bool::arbitrary(&mut u)? {
            ForwardStats::Batch
        } else {
            ForwardStats::Running
        };
        let act = match u.int_in_range(0u8..=9)? {
            0 => None,
            1 => Some(*u.choose(&[
                Activation::Silu,
                Activation::HardSwish,
                Activation::LeakyRelu { slope: 0.1 },
            ])?),
            _ => Some(input::activation(&mut u)?),
        };
        let rate = u8::arbitrary(&mut u)? / 8;
        // Mostly right (and right when the input has run out: `ratio` is then true).
        let wrong = if u.ratio(9u8, 10)? {
            None
        } else {
            Some((u.choose_index(WRONG.len())?, bool::arbitrary(&mut u)?))
        };
        Ok((seed, stats, act, rate, wrong))
    })() else {
        return;
    };
    let mut rng = Rng::new(seed);
    // dy: one distribution per channel (mixed scales, specials now and then).
    let dists: Vec<Dist> = (0..c)
        .map(|k| match (rng.next_u64() % 4, k % 3) {
            (0, _) => Dist::Specials,
            (1, 0) => Dist::Denormal,
            (_, 1) => Dist::Uniform {
                offset: 0.0,
                spread: 10f64.powi((rng.next_u64() % 13) as i32 - 6),
            },
            _ => Dist::Uniform {
                offset: rng.symmetric(),
                spread: 1.0,
            },
        })
        .collect();
    let mut dy = vec![0.0f32; x.len()];
    for (i, d) in dy.iter_mut().enumerate() {
        *d = dists[input::channel_of(i, shape, layout)].sample(&mut rng);
    }
    // The statistics: the channel's own mean and invstd mostly, arbitrary ones sometimes.
    let mut mean = input::params(&mut rng, c, 0.0, 3.0, rate);
    let mut invstd = input::params(&mut rng, c, 1.5, 1.0, rate);
    for k in 0..c {
        if !rng.next_u64().is_multiple_of(4) {
            let v = input::channel(&x, shape, layout, k);
            let m = v.iter().map(|&v| f64::from(v)).sum::<f64>() / v.len().max(1) as f64;
            let var =
                v.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / v.len().max(1) as f64;
            mean[k] = m as f32;
            invstd[k] = (1.0 / (var + 1e-5).sqrt()) as f32;
        }
    }
    let gamma = input::params(&mut rng, c, 1.0, 2.0, rate);
    let y: Vec<f32> = (0..x.len())
        .map(|_| {
            if rng.next_u64().is_multiple_of(16) {
                input::SPECIALS[(rng.next_u64() % input::SPECIALS.len() as u64) as usize]
            } else {
                (rng.symmetric() * 8.0) as f32
            }
        })
        .collect();

    // Lengths, one of them possibly wrong.
    let mut lens = [x.len(), x.len(), x.len(), c, c, c, c, c, x.len()];
    let mut act = act;
    if let Some((i, longer)) = wrong {
        if i == 9 {
            act = Some(Activation::Clamp {
                min: 1.0,
                max: -1.0,
            });
        } else if longer {
            lens[i] += 1;
        } else {
            lens[i] = lens[i].saturating_sub(1);
        }
    }
    let resize = |v: &[f32], n: usize| -> Vec<f32> {
        let mut v = v.to_vec();
        v.resize(n, 0.25);
        v
    };
    let dy = resize(&dy, lens[0]);
    let y = resize(&y, lens[2]);
    let (mean, invstd, gamma) = (
        resize(&mean, lens[3]),
        resize(&invstd, lens[4]),
        resize(&gamma, lens[5]),
    );
    let x = resize(&x, lens[8]);
    let p = BackwardParams {
        mean: &mean,
        invstd: &invstd,
        gamma: &gamma,
    };
    let fwd = act.map(|act| Activated { y: &y, act });
    let what = format!("{shape:?} {layout:?} {stats:?} {act:?} lengths {lens:?}");

    let (mut rdx, mut rdg, mut rdb) = (
        vec![0.0f64; lens[1]],
        vec![0.0f64; lens[6]],
        vec![0.0f64; lens[7]],
    );
    let r64 = reference::backward(
        &x,
        &dy,
        shape,
        layout,
        &p,
        stats,
        fwd,
        Backward64 {
            dx: &mut rdx,
            dgamma: &mut rdg,
            dbeta: &mut rdb,
        },
    );

    let sentinel = f32::from_bits(0x7FC0_4321);
    let at_level = |k: &Kernels| {
        let what = format!("at {} {what}", k.isa());
        let fresh = || Out {
            dx: vec![sentinel; lens[1]],
            dgamma: vec![sentinel; lens[6]],
            dbeta: vec![sentinel; lens[7]],
        };
        let mut o = fresh();
        let r = match fwd {
            None => k.backward(
                &x,
                &dy,
                &mut o.dx,
                shape,
                layout,
                &p,
                stats,
                &mut o.dgamma,
                &mut o.dbeta,
            ),
            Some(f) => k.backward_activated(
                &x,
                &dy,
                &mut o.dx,
                shape,
                layout,
                &p,
                stats,
                f,
                &mut o.dgamma,
                &mut o.dbeta,
            ),
        };
        let mut z = fresh();
        z.dx = dy.clone();
        let ri = match fwd {
            None => k.backward_in_place(
                &x,
                &mut z.dx,
                shape,
                layout,
                &p,
                stats,
                &mut z.dgamma,
                &mut z.dbeta,
            ),
            Some(f) => k.backward_activated_in_place(
                &x,
                &mut z.dx,
                shape,
                layout,
                &p,
                stats,
                f,
                &mut z.dgamma,
                &mut z.dbeta,
            ),
        };
        assert_eq!(
            format!("{r:?}"),
            format!("{:?}", r64.map(|_| ())),
            "backward vs reference::backward: {what}"
        );
        if lens[1] == lens[0] {
            assert_eq!(
                format!("{r:?}"),
                format!("{ri:?}"),
                "in place vs out of place: {what}"
            );
        }
        if r.is_err() {
            let untouched = |v: &[f32]| v.iter().all(|&v| v.to_bits() == sentinel.to_bits());
            assert!(
                untouched(&o.dx) && untouched(&o.dgamma) && untouched(&o.dbeta),
                "written on {r:?}: {what}"
            );
            if ri.is_err() {
                assert!(
                    untouched(&z.dgamma) && untouched(&z.dbeta),
                    "written in place on {ri:?}: {what}"
                );
                assert_eq!(
                    bits(&z.dx),
                    bits(&dy),
                    "dy written in place on {ri:?}: {what}"
                );
            }
            return;
        }
        for (name, a, b) in [
            ("dx", &o.dx, &z.dx),
            ("dgamma", &o.dgamma, &z.dgamma),
            ("dbeta", &o.dbeta, &z.dbeta),
        ] {
            assert_eq!(
                bits_nan_as_one(a),
                bits_nan_as_one(b),
                "in place differs from out of place in {name}: {what}"
            );
        }
        if fwd.is_none() {
            let mut a = fresh();
            let ident = Activated {
                y: &x,
                act: Activation::Identity,
            };
            k.backward_activated(
                &x,
                &dy,
                &mut a.dx,
                shape,
                layout,
                &p,
                stats,
                ident,
                &mut a.dgamma,
                &mut a.dbeta,
            )
            .expect("Identity accepted");
            assert_eq!(
                bits_nan_as_one(&a.dx),
                bits_nan_as_one(&o.dx),
                "Identity mask differs: {what}"
            );
        }
        check(&x, &dy, &p, fwd, shape, layout, &o, (&rdx, &rdg, &rdb))
            .unwrap_or_else(|m| panic!("{m}: {what}"));
    };
    for isa in Isa::supported() {
        let k = Kernels::new(isa).expect("Isa::supported() gave a level Kernels::new refuses");
        at_level(&k);
    }
}

/// The bounds, on the channels whose f32 intermediates cannot overflow.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn check(
    x: &[f32],
    dy: &[f32],
    p: &BackwardParams,
    fwd: Option<Activated>,
    shape: batchnorm::Shape,
    layout: batchnorm::Layout,
    o: &Out,
    (rdx, rdg, rdb): (&[f64], &[f64], &[f64]),
) -> Result<(), String> {
    let c = shape.c;
    let m = (shape.n * shape.h * shape.w) as f64;
    let mdy = |i: usize| match fwd {
        Some(f) if !reference::activation_passes(f.y[i], f.act) => 0.0,
        _ => f64::from(dy[i]),
    };
    let xhat =
        |i: usize, k: usize| (f64::from(x[i]) - f64::from(p.mean[k])) * f64::from(p.invstd[k]);
    let mut safe: Vec<bool> = (0..c)
        .map(|k| p.mean[k].is_finite() && p.invstd[k].is_finite() && p.gamma[k].is_finite())
        .collect();
    let (mut sdy, mut sdyxh) = (vec![0.0f64; c], vec![0.0f64; c]);
    for i in 0..x.len() {
        let k = input::channel_of(i, shape, layout);
        let d = f64::from(x[i]) - f64::from(p.mean[k]);
        let ok =
            x[i].is_finite() && dy[i].is_finite() && d.abs() <= SAFE && xhat(i, k).abs() <= SAFE;
        if !ok {
            safe[k] = false;
        }
        sdy[k] += mdy(i).abs();
        sdyxh[k] += (mdy(i) * xhat(i, k)).abs();
    }
    for k in 0..c {
        if !(sdy[k] <= SAFE && sdyxh[k] <= SAFE) {
            safe[k] = false;
        }
    }
    let near = |got: f32, want: f64, tol: f64| {
        let g = f64::from(got);
        g == want || (g - want).abs() <= tol
    };
    for k in (0..c).filter(|&k| safe[k]) {
        if !near(o.dbeta[k], rdb[k], BOUND * sdy[k] + Q) {
            return Err(format!(
                "dbeta[{k}] = {:e}, reference {:e}, Σ|dy| {:e}",
                o.dbeta[k], rdb[k], sdy[k]
            ));
        }
        // A subnormal `xhat` or product loses up to half a quantum to rounding.
        if !near(
            o.dgamma[k],
            rdg[k],
            BOUND * sdyxh[k] + (m + 1.0 + sdy[k]) * Q,
        ) {
            return Err(format!(
                "dgamma[{k}] = {:e}, reference {:e}, Σ|dy·xhat| {:e}",
                o.dgamma[k], rdg[k], sdyxh[k]
            ));
        }
    }
    for i in 0..x.len() {
        let k = input::channel_of(i, shape, layout);
        if !safe[k] {
            continue;
        }
        let a = (f64::from(p.gamma[k]) * f64::from(p.invstd[k])).abs();
        let (xh, mdyk, mxk) = (xhat(i, k).abs(), sdy[k] / m, sdyxh[k] / m);
        let scale = mdy(i).abs() + mdyk + xh * mxk;
        // Beyond these, f32 products can overflow or `gamma·invstd` is subnormal (its
        // rounding is then not relative).
        if !(a * scale <= SAFE && a * (1.0 + xh) <= SAFE && xh * mxk <= SAFE)
            || a < f64::from(f32::MIN_POSITIVE)
        {
            continue;
        }
        // Roundings to f32 subnormals (`dbeta/m`, `dgamma/m`, `xhat`, products, `dx`)
        // lose up to a quantum each, absolute.
        let tol = BOUND * a * scale + a * (4.0 + 2.0 * xh + mxk + xh * mdyk) * Q + 2.0 * Q;
        if !near(o.dx[i], rdx[i], tol) {
            return Err(format!(
                "dx[{i}] (channel {k}) = {:e}, reference {:e}, bound {tol:e}; x {:e} dy {:e} mean {:e} invstd {:e} gamma {:e}",
                o.dx[i], rdx[i], x[i], dy[i], p.mean[k], p.invstd[k], p.gamma[k]
            ));
        }
    }
    Ok(())
}
