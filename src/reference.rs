//! The oracle: plain scalar f64 implementations of every kernel, for tests, fuzzing and
//! benches. Slow on purpose and written for obviousness, not speed.
//!
//! Each function validates its arguments exactly like its fast counterpart, so the
//! reference can be called with the same (possibly wrong) arguments in fuzzing.

use crate::shape::{Dims, check_len};
use crate::{Error, Layout, Moments, Shape};

/// The values of channel `c`, in memory order, for a validated shape.
pub(crate) fn channel_values(
    x: &[f32],
    d: Dims,
    layout: Layout,
    c: usize,
) -> impl Iterator<Item = f32> + '_ {
    let (start, step, run, runs, run_step) = match layout {
        // n runs of `plane` contiguous values, `c_total * plane` apart.
        Layout::Nchw => (c * d.plane, 1, d.plane, d.n, d.c * d.plane),
        // n*h*w single values, `c_total` apart.
        Layout::Nhwc => (c, d.c, 1, d.count, d.c),
    };
    (0..runs).flat_map(move |r| {
        let base = start + r * run_step;
        (0..run).map(move |i| x[base + i * step])
    })
}

/// Channel `c`'s moments by a two-pass f64 computation: the mean from an f64 sum, then
/// `M2 = Σd² - (Σd)²/count` with `d = x - mean` (the correction term removes the mean's
/// rounding error). Inputs are f32, so no square overflows f64.
pub(crate) fn channel_moments(x: &[f32], d: Dims, layout: Layout, c: usize) -> Moments {
    let count = d.count as f64;
    let mean = channel_values(x, d, layout, c).map(f64::from).sum::<f64>() / count;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for v in channel_values(x, d, layout, c) {
        let dv = f64::from(v) - mean;
        s1 += dv;
        s2 += dv * dv;
    }
    Moments {
        count: d.count as u64,
        mean: mean + s1 / count,
        m2: s2 - s1 * s1 / count,
    }
}

/// Per-channel [`Moments`] of `x` (length `shape.numel()`), written to `out` (length `c`).
///
/// # Errors
/// As [`crate::batch_stats`]: `x` or `out` of the wrong length, shape overflow, empty channels.
pub fn moments(x: &[f32], shape: Shape, layout: Layout, out: &mut [Moments]) -> Result<(), Error> {
    let d = shape.dims(x.len(), true)?;
    check_len("out", d.c, out.len())?;
    for (c, o) in out.iter_mut().enumerate() {
        *o = channel_moments(x, d, layout, c);
    }
    Ok(())
}

/// Per-channel mean and biased variance in f64: the exact answer that
/// [`crate::batch_stats`] approximates in f32.
///
/// # Errors
/// As [`crate::batch_stats`].
pub fn batch_stats(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    mean: &mut [f64],
    var: &mut [f64],
) -> Result<(), Error> {
    let d = shape.dims(x.len(), true)?;
    check_len("mean", d.c, mean.len())?;
    check_len("var", d.c, var.len())?;
    for c in 0..d.c {
        let m = channel_moments(x, d, layout, c);
        mean[c] = m.mean;
        var[c] = m.variance();
    }
    Ok(())
}
