//! Fuzz target `stats`: `batch_stats` and `accumulate_moments`, both methods, at every
//! instruction-set level this CPU runs ([`Kernels`]), each against the f64 reference within
//! the README's accuracy bounds (see [`super::check`]); accumulating onto existing moments
//! equals merging the fresh ones, bit for bit.

use super::check;
use super::input::Tensor;
use arbitrary::{Arbitrary, Unstructured};
use batchnorm::{Isa, Kernels, Layout, Method, Moments, Shape};

/// Both statistics methods.
pub const METHODS: [Method; 2] = [Method::Welford, Method::TwoPass];

/// The body of fuzz target `stats`.
pub fn stats(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(t) = Tensor::arbitrary(&mut u) else {
        return;
    };
    // Moments the accumulators already hold before `accumulate_moments` adds the batch.
    let prior = Moments {
        count: u.int_in_range(0..=1000).unwrap_or(0),
        mean: f64::from(f32::arbitrary(&mut u).unwrap_or(0.0)),
        m2: f64::from(f32::arbitrary(&mut u).unwrap_or(0.0)).abs(),
    };
    let prior = if prior.count == 0 {
        Moments::EMPTY
    } else {
        prior
    };
    let Tensor { shape, layout, x } = &t;
    let (shape, layout) = (*shape, *layout);
    let exp = check::expected(x, shape, layout);
    for isa in Isa::supported() {
        let k = Kernels::new(isa).expect("Isa::supported() gave a level Kernels::new refuses");
        stats_at(&k, x, shape, layout, &exp, prior);
    }
}

/// Every check of the `stats` target at the level of `k`, `exp` the reference of `x`.
fn stats_at(
    k: &Kernels,
    x: &[f32],
    shape: Shape,
    layout: Layout,
    exp: &[check::Expected],
    prior: Moments,
) {
    let isa = k.isa();
    let fail = |what: &str, method: Method, c: usize, msg: String| -> ! {
        panic!(
            "{what} at {isa} {shape:?} {layout:?} {method:?} channel {c} (reference {:?}, \
             A {:e}, kappa {:e}): {msg}",
            exp[c].m,
            exp[c].abs_mean,
            exp[c].kappa()
        )
    };
    for method in METHODS {
        let (mut mean, mut var) = (vec![f32::NAN; shape.c], vec![f32::NAN; shape.c]);
        k.batch_stats(x, shape, layout, method, &mut mean, &mut var)
            .expect("batch_stats rejected a valid tensor");
        for (c, e) in exp.iter().enumerate() {
            check::stats(f64::from(mean[c]), f64::from(var[c]), e, method, true)
                .unwrap_or_else(|msg| fail("batch_stats", method, c, msg));
        }

        let mut fresh = vec![Moments::EMPTY; shape.c];
        k.accumulate_moments(x, shape, layout, method, &mut fresh)
            .expect("accumulate_moments rejected a valid tensor");
        for (c, (m, e)) in fresh.iter().zip(exp).enumerate() {
            if m.count != e.m.count {
                fail(
                    "accumulate_moments",
                    method,
                    c,
                    format!("count {}", m.count),
                );
            }
            check::stats(m.mean, m.variance(), e, method, false)
                .unwrap_or_else(|msg| fail("accumulate_moments", method, c, msg));
        }

        let mut acc = vec![prior; shape.c];
        k.accumulate_moments(x, shape, layout, method, &mut acc)
            .expect("accumulate_moments rejected a valid tensor");
        for (c, (a, m)) in acc.iter().zip(&fresh).enumerate() {
            let want = prior.merge(*m);
            if !check::same_moments(a, &want) {
                fail(
                    "accumulate_moments onto prior moments",
                    method,
                    c,
                    format!("got {a:?}, want prior.merge(fresh) = {want:?}"),
                );
            }
        }
    }
}
