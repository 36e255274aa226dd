//! Fuzz target `normalize`: `normalize` and `normalize_in_place` on valid arguments with
//! statistics taken from the batch (by `batch_stats` at the same level) or drawn freely
//! (extremes, negative variances and NaN included), every activation, at every
//! instruction-set level this CPU runs ([`Kernels`]). Checks at each level, per element,
//! against `reference::normalize`:
//! - the f32 evaluation bound,
//!   `|y - y64| <= |x - mean|·|s32 - s64| + 4u·(|x - mean|·|s64| + |beta|)`,
//!   plus a few subnormal quanta (`s64` the f64 scale, `s32` it rounded to f32), wherever
//!   no f32 intermediate overflows and the reference is finite;
//! - NaN in `x` gives NaN in `y`; `x == mean` with a finite scale gives exactly `act(beta)`;
//! - in place == out of place, and NCHW == NHWC, bit for bit (both documented; NaN
//!   payloads aside, see [`same`]).

use super::check::{self, U};
use super::input::{self, Rng, Tensor};
use super::stats::METHODS;
use arbitrary::{Arbitrary, Unstructured};
use batchnorm::{Activation, Isa, Kernels, Layout, NormParams, Shape, reference};

/// `v` after `act`, in f32 (as the kernels apply it).
pub fn act32(v: f32, act: Activation) -> f32 {
    reference::activate(f64::from(v), act) as f32
}

/// The f64 scale `gamma / sqrt(var + eps)` of channel `k`.
pub fn scale64(p: &NormParams, k: usize) -> f64 {
    f64::from(p.gamma[k]) / (f64::from(p.var[k]) + f64::from(p.eps)).sqrt()
}

/// One channel's normalization: `y = act((x - mean) * scale + beta)`, `scale` in f64.
#[derive(Debug, Clone, Copy)]
pub struct Affine {
    /// The f32 mean subtracted.
    pub mean: f32,
    /// The exact (f64) scale; the kernels round it to f32.
    pub scale: f64,
    /// The f32 shift.
    pub beta: f32,
    /// The activation.
    pub act: Activation,
}

impl Affine {
    /// Channel `k` of `p`.
    pub fn of(p: &NormParams, k: usize, act: Activation) -> Affine {
        Affine {
            mean: p.mean[k],
            scale: scale64(p, k),
            beta: p.beta[k],
            act,
        }
    }

    /// Checks one element `y` of input `x` against the reference `y64` with the f32
    /// evaluation bound; skipped where an f32 intermediate overflows or `y64` is not finite.
    pub fn check(&self, what: &str, x: f32, y: f32, y64: f64) -> Result<(), String> {
        let Affine {
            mean,
            scale: s64,
            beta,
            act,
        } = *self;
        if x.is_nan() {
            return if y.is_nan() {
                Ok(())
            } else {
                Err(format!("{what}: x is NaN but y = {y:e}"))
            };
        }
        let s32 = s64 as f32;
        if x == mean && x.is_finite() && s32.is_finite() && !beta.is_nan() {
            let want = act32(beta, act);
            return if y == want {
                Ok(())
            } else {
                Err(format!(
                    "{what}: x == mean = {x:e} gives y = {y:e}, want exactly act(beta) = {want:e}"
                ))
            };
        }
        let d64 = f64::from(x) - f64::from(mean);
        let max = f64::from(f32::MAX);
        let overflow = !(d64.abs() <= max && s32.is_finite() && (d64 * s64).abs() <= max / 2.0);
        if overflow || !y64.is_finite() || !beta.is_finite() {
            return Ok(());
        }
        let tol = d64.abs() * (f64::from(s32) - s64).abs()
            + 4.0 * U * ((d64 * s64).abs() + f64::from(beta).abs());
        check::within(what, f64::from(y), y64, tol, true)
    }
}

/// The body of fuzz target `normalize`.
pub fn normalize(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(t) = Tensor::arbitrary(&mut u) else {
        return;
    };
    let Tensor { shape, layout, x } = &t;
    let (shape, layout) = (*shape, *layout);
    let Ok((from_batch, method, eps, act, seed, rate)) = (|| -> arbitrary::Result<_> {
        Ok((
            bool::arbitrary(&mut u)?,
            *u.choose(&METHODS)?,
            input::eps(&mut u)?,
            input::activation(&mut u)?,
            u64::arbitrary(&mut u)?,
            u8::arbitrary(&mut u)?,
        ))
    })() else {
        return;
    };
    let mut rng = Rng::new(seed);
    let c = shape.c;
    // Drawn statistics: the same at every level (drawn before gamma and beta).
    let drawn = (!from_batch).then(|| {
        let center = f64::from(x[0]);
        (
            input::params(
                &mut rng,
                c,
                if center.is_finite() { center } else { 0.0 },
                10.0,
                rate,
            ),
            input::params(&mut rng, c, 2.0, 2.0, rate),
        )
    });
    let gamma = input::params(&mut rng, c, 1.0, 2.0, rate / 2);
    let beta = input::params(&mut rng, c, 0.0, 3.0, rate / 2);
    for isa in Isa::supported() {
        let k = Kernels::new(isa).expect("Isa::supported() gave a level Kernels::new refuses");
        let (mean, var) = match &drawn {
            Some(stats) => stats.clone(),
            None => {
                let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
                k.batch_stats(x, shape, layout, method, &mut mean, &mut var)
                    .expect("batch_stats rejected a valid tensor");
                (mean, var)
            }
        };
        let p = NormParams {
            mean: &mean,
            var: &var,
            gamma: &gamma,
            beta: &beta,
            eps,
        };
        check_normalize(&k, x, shape, layout, &p, act);
    }
}

/// Every check of the `normalize` target on one valid call, at the level of `k`.
pub fn check_normalize(
    k: &Kernels,
    x: &[f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) {
    let isa = k.isa();
    let mut y = vec![0.0f32; x.len()];
    k.normalize(x, &mut y, shape, layout, p, act)
        .expect("normalize rejected valid arguments");
    let mut y64 = vec![0.0f64; x.len()];
    reference::normalize(x, &mut y64, shape, layout, p, act)
        .expect("reference::normalize rejected valid arguments");
    for (i, (&yi, &want)) in y.iter().zip(&y64).enumerate() {
        let ch = input::channel_of(i, shape, layout);
        Affine::of(p, ch, act)
            .check("normalize", x[i], yi, want)
            .unwrap_or_else(|msg| {
                panic!(
                    "at {isa} {shape:?} {layout:?} {act:?} eps {:e} element {i} (channel {ch}: \
                     mean {:e}, var {:e}, gamma {:e}, beta {:e}), x {:e}: {msg}",
                    p.eps, p.mean[ch], p.var[ch], p.gamma[ch], p.beta[ch], x[i]
                )
            });
    }

    let mut z = x.to_vec();
    k.normalize_in_place(&mut z, shape, layout, p, act)
        .expect("normalize_in_place rejected valid arguments");
    if let Some(i) = (0..x.len()).find(|&i| !same(z[i], y[i])) {
        panic!(
            "normalize_in_place differs from normalize at {isa}: {shape:?} {layout:?} {act:?}: \
             element {i}, x {:e}: {:e} vs {:e}",
            x[i], z[i], y[i]
        );
    }

    let other = match layout {
        Layout::Nchw => Layout::Nhwc,
        Layout::Nhwc => Layout::Nchw,
    };
    let xo = input::relayout(x, shape, layout, other);
    let mut yo = vec![0.0f32; x.len()];
    k.normalize(&xo, &mut yo, shape, other, p, act)
        .expect("normalize rejected valid arguments");
    let back = input::relayout(&yo, shape, other, layout);
    if let Some(i) = (0..x.len()).find(|&i| !same(back[i], y[i])) {
        let ch = input::channel_of(i, shape, layout);
        panic!(
            "normalize differs between layouts at {isa}: {shape:?} {act:?}: element {i} \
             (channel {ch}: mean {:e}, var {:e}, gamma {:e}, beta {:e}, eps {:e}), x {:e}: \
             {layout:?} gives {:e}, {other:?} gives {:e}",
            p.mean[ch], p.var[ch], p.gamma[ch], p.beta[ch], p.eps, x[i], y[i], back[i]
        );
    }
}

/// The same value: equal bits, or both NaN. Which NaN payload comes out of an operation on
/// two NaNs depends on the order of its operands, which the compiler may commute
/// differently in each inlined copy of a kernel, so "bit for bit" is checked NaN payloads
/// aside.
pub fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Bit patterns, to compare buffers holding NaNs.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
