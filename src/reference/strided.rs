//! The strided NHWC references: statistics and normalize of pixel rows that start more
//! than `c` values apart.

use super::*;

/// Checks strided NHWC rows as the strided kernels do: [`Error::ShapeOverflow`], then
/// for each `(buffer, length, stride name, stride)` in turn [`Error::StrideTooSmall`],
/// [`Error::StrideOverflow`] and [`Error::BufferTooShort`], then with `need_values`
/// [`Error::EmptyChannel`]. Returns the pixel (row) count and `c`.
fn strided_rows(
    shape: Shape,
    bufs: &[(&'static str, usize, &'static str, usize)],
    need_values: bool,
) -> Result<(usize, usize), Error> {
    let Shape { n, c, h, w } = shape;
    let zero = n == 0 || c == 0 || h == 0 || w == 0;
    let pixels = if zero {
        0
    } else {
        n.checked_mul(c)
            .and_then(|v| v.checked_mul(h))
            .and_then(|v| v.checked_mul(w))
            .ok_or(Error::ShapeOverflow { n, c, h, w })?;
        n * h * w
    };
    for &(buffer, len, name, stride) in bufs {
        if stride < c {
            return Err(Error::StrideTooSmall { name, stride, c });
        }
        let needed = if pixels == 0 {
            0
        } else {
            let last = (pixels as u128 - 1) * stride as u128 + c as u128;
            usize::try_from(last).map_err(|_| Error::StrideOverflow {
                name,
                pixels,
                stride,
                c,
            })?
        };
        if len < needed {
            return Err(Error::BufferTooShort {
                buffer,
                needed,
                actual: len,
            });
        }
    }
    if need_values && c > 0 && pixels == 0 {
        return Err(Error::EmptyChannel { n, h, w });
    }
    Ok((pixels, c))
}

/// Per-channel [`Moments`] of NHWC pixel rows of `shape.c` values starting `x_stride`
/// values apart in `x` (row `i` is `x[i * x_stride..][..c]`), by the same f64 two-pass
/// (and non-finite rule) as [`moments`]: the exact answer
/// [`crate::accumulate_moments_strided`] approximates.
///
/// # Errors
/// As [`crate::batch_stats_strided`], with `out` in place of `mean`/`var`.
pub fn moments_strided(
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    out: &mut [Moments],
) -> Result<(), Error> {
    let (pixels, c) = strided_rows(shape, &[("x", x.len(), "x_stride", x_stride)], true)?;
    check_len("out", c, out.len())?;
    for (k, o) in out.iter_mut().enumerate() {
        let value = |i: usize| x[i * x_stride + k];
        let (mut nan, mut pos, mut neg) = (false, false, false);
        let mut sum = 0.0f64;
        for i in 0..pixels {
            let v = value(i);
            nan |= v.is_nan();
            pos |= v == f32::INFINITY;
            neg |= v == f32::NEG_INFINITY;
            sum += f64::from(v);
        }
        let count = pixels as f64;
        *o = if nan || pos || neg {
            let mean = match (nan, pos, neg) {
                (false, true, false) => f64::INFINITY,
                (false, false, true) => f64::NEG_INFINITY,
                _ => f64::NAN,
            };
            Moments {
                count: pixels as u64,
                mean,
                m2: f64::NAN,
            }
        } else {
            let mean = sum / count;
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for i in 0..pixels {
                let d = f64::from(value(i)) - mean;
                s1 += d;
                s2 += d * d;
            }
            Moments {
                count: pixels as u64,
                mean: mean + s1 / count,
                m2: s2 - s1 * s1 / count,
            }
        };
    }
    Ok(())
}

/// Per-channel mean and biased variance in f64 of strided NHWC rows (see
/// [`moments_strided`]): the exact answer [`crate::batch_stats_strided`] approximates.
///
/// # Errors
/// As [`crate::batch_stats_strided`].
pub fn batch_stats_strided(
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    mean: &mut [f64],
    var: &mut [f64],
) -> Result<(), Error> {
    let (_, c) = strided_rows(shape, &[("x", x.len(), "x_stride", x_stride)], true)?;
    check_len("mean", c, mean.len())?;
    check_len("var", c, var.len())?;
    for k in 0..c {
        let mut one = [Moments::default()];
        let sub = Shape::new(shape.n, 1, shape.h, shape.w);
        moments_strided(x.get(k..).unwrap_or(&[]), x_stride, sub, &mut one)?;
        mean[k] = one[0].mean;
        var[k] = one[0].variance();
    }
    Ok(())
}

/// [`normalize`] over strided NHWC rows, in f64: row `i` of `x` (`x[i * x_stride..][..c]`)
/// gives row `i` of `y` (`y[i * y_stride..][..c]`); nothing else in `y` is written. The
/// exact answer [`crate::normalize_strided`] approximates.
///
/// # Errors
/// As [`crate::normalize_strided`].
pub fn normalize_strided(
    x: &[f32],
    x_stride: usize,
    y: &mut [f64],
    y_stride: usize,
    shape: Shape,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let bufs = [
        ("x", x.len(), "x_stride", x_stride),
        ("y", y.len(), "y_stride", y_stride),
    ];
    let (pixels, c) = strided_rows(shape, &bufs, false)?;
    check_params(p, c)?;
    check_act(act)?;
    for i in 0..pixels {
        for k in 0..c {
            let v = f64::from(x[i * x_stride + k]);
            let t = (v - f64::from(p.mean[k])) * scale(p, k) + f64::from(p.beta[k]);
            y[i * y_stride + k] = activate(t, act);
        }
    }
    Ok(())
}
