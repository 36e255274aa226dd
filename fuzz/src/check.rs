//! The accuracy contract (README, Accuracy) as checks against `batchnorm::reference`.
//!
//! Per channel, with `u = 2^-24`, `A = mean |x|`, `σ² = var` and `κ = sqrt(1 + mean²/var)`,
//! as `batchnorm::Method` documents them: mean error ≤ `16·u·A` (two-pass) or
//! `16·u·max(A, σ)` (Welford: its f32 running mean rounds at the scale of the deviations);
//! variance relative error ≤ `1e-5 + 2·κ·u` (Welford) or `1e-6` (two-pass); a constant
//! channel gives exactly its value and variance 0. Results rounded
//! to f32 get half an f32 ulp more (and may round to ±inf past `f32::MAX`), and every
//! result gets an absolute floor of a few subnormal quanta, since f32 arithmetic in the
//! subnormal range has absolute, not relative, rounding errors. Where the f64 reference is
//! non-finite (the channel holds NaN or ±inf) the result must be non-finite too.

use batchnorm::{Layout, Method, Moments, Shape};

/// Unit roundoff of f32.
pub const U: f64 = 1.0 / 16_777_216.0;

/// The absolute floor: 8 subnormal quanta (`2^-149` each), the 16 roundings of the mean
/// bound at half a quantum each. Far below anything a normal-range result can notice.
pub const FLOOR: f64 = 8.0 * f32::MIN_POSITIVE as f64 * f32::EPSILON as f64;

/// What one channel's statistics should be.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    /// The f64 reference moments.
    pub m: Moments,
    /// `A = mean |x|`.
    pub abs_mean: f64,
    /// Every value equal (`==`) to the first, and finite.
    pub constant: Option<f32>,
}

impl Expected {
    /// The reference biased variance.
    pub fn var(&self) -> f64 {
        self.m.variance()
    }

    /// `κ = sqrt(1 + mean²/var)` (∞ when var = 0).
    pub fn kappa(&self) -> f64 {
        if self.var() == 0.0 {
            f64::INFINITY
        } else {
            (1.0 + self.m.mean * self.m.mean / self.var()).sqrt()
        }
    }

    /// The documented bound on the mean's absolute error for `method` (before the floor).
    pub fn mean_bound(&self, method: Method) -> f64 {
        match method {
            Method::Welford => 16.0 * U * self.abs_mean.max(self.var().sqrt()),
            Method::TwoPass => 16.0 * U * self.abs_mean,
            // `Method` is non-exhaustive; the fuzz inputs make only the methods above.
            _ => panic!("no documented mean bound for {method:?}: add it here"),
        }
    }

    /// The documented bound on the variance's absolute error for `method`, on a variance
    /// `var` of this channel (biased or not); 0 for a constant channel.
    pub fn var_bound(&self, method: Method, var: f64) -> f64 {
        if var == 0.0 {
            0.0
        } else {
            self.var_rel_bound(method) * var
        }
    }

    /// The documented bound on the variance's relative error for `method`.
    pub fn var_rel_bound(&self, method: Method) -> f64 {
        match method {
            Method::Welford => 1e-5 + 2.0 * self.kappa() * U,
            Method::TwoPass => 1e-6,
            _ => panic!("no documented variance bound for {method:?}: add it here"),
        }
    }

    /// Whether the reference is finite (the channel holds no NaN or ±inf).
    pub fn finite(&self) -> bool {
        self.m.mean.is_finite() && self.m.m2.is_finite()
    }
}

/// Per-channel expectations from `batchnorm::reference::moments`.
pub fn expected(x: &[f32], shape: Shape, layout: Layout) -> Vec<Expected> {
    let mut m = vec![Moments::EMPTY; shape.c];
    batchnorm::reference::moments(x, shape, layout, &mut m)
        .expect("the reference rejected a valid tensor");
    m.iter()
        .enumerate()
        .map(|(c, &m)| {
            let v = super::input::channel(x, shape, layout, c);
            let abs_mean = v.iter().map(|&x| f64::from(x).abs()).sum::<f64>() / v.len() as f64;
            let constant = (v[0].is_finite() && v.iter().all(|&x| x == v[0])).then_some(v[0]);
            Expected {
                m,
                abs_mean,
                constant,
            }
        })
        .collect()
}

/// Half an ulp of the f32 nearest `v` (of `f32::MAX` beyond it).
pub fn half_ulp_f32(v: f64) -> f64 {
    let a = (v.abs() as f32).min(f32::MAX);
    let up = a.next_up();
    let up = if up.is_finite() { up } else { f32::MAX };
    let a = if up == a { a.next_down() } else { a };
    (f64::from(up) - f64::from(a)) / 2.0
}

/// `got` within `tol` of the finite `want`; `f32_output`: `got` was rounded to f32 at the
/// end (half an ulp more, and ±inf allowed where `want ± tol` reaches the overflow threshold).
pub fn within(what: &str, got: f64, want: f64, tol: f64, f32_output: bool) -> Result<(), String> {
    let tol = tol + FLOOR + if f32_output { half_ulp_f32(want) } else { 0.0 };
    if got.is_infinite() && f32_output && got.signum() == want.signum() {
        let threshold = f64::from(f32::MAX) + half_ulp_f32(f64::from(f32::MAX));
        if want.abs() + tol >= threshold {
            return Ok(());
        }
    }
    let err = (got - want).abs();
    if err <= tol {
        Ok(())
    } else {
        Err(format!(
            "{what}: got {got:e}, want {want:e}, error {err:e} > tolerance {tol:e}"
        ))
    }
}

/// Checks a channel's mean and biased variance (`f32_output`: as `batch_stats` returns
/// them, rounded to f32) against `e` with the bounds of `method`.
pub fn stats(
    mean: f64,
    var: f64,
    e: &Expected,
    method: Method,
    f32_output: bool,
) -> Result<(), String> {
    if !e.finite() {
        return if mean.is_finite() || var.is_finite() {
            Err(format!(
                "non-finite channel (reference mean {:e}, M2 {:e}) gave finite statistics \
                 mean {mean:e}, var {var:e}",
                e.m.mean, e.m.m2
            ))
        } else {
            Ok(())
        };
    }
    if let Some(v) = e.constant {
        return if mean == f64::from(v) && var == 0.0 {
            Ok(())
        } else {
            Err(format!(
                "constant channel of {v:e}: got mean {mean:e}, var {var:e}, \
                 want exactly {v:e} and 0"
            ))
        };
    }
    within("mean", mean, e.m.mean, e.mean_bound(method), f32_output)?;
    within(
        "variance",
        var,
        e.var(),
        e.var_bound(method, e.var()),
        f32_output,
    )
}

/// Whether two moments are equal: the same bits, NaN payloads aside.
pub fn same_moments(a: &Moments, b: &Moments) -> bool {
    let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    a.count == b.count && same(a.mean, b.mean) && same(a.m2, b.m2)
}
