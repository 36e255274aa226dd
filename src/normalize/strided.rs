//! Strided NHWC rows: [`normalize_strided`] and [`normalize_prepared_strided`] (and their
//! in-place forms) on pixel rows that start more than `c` values apart, as channel slices
//! of concatenated buffers are; the values between rows are left as they were.

use super::consts::Src;
use super::io::{InPlace, OutOfPlace};
use super::prepared::Prepared;
use super::{Activation, LayoutDims, NormParams, run};
use crate::check;
use crate::error::Error;
use crate::shape::Shape;
use crate::simd::Isa;

/// [`normalize`](super::normalize) of an NHWC tensor whose pixel rows of `shape.c` values start `x_stride`
/// values apart in `x`, into rows `y_stride` values apart in `y` (e.g. channel slices of
/// concatenated buffers: a slice starting at its channels' offset, with the
/// concatenation's channel count as the stride).
///
/// Row `i` (pixel `i` of the `n*h*w` in NHWC order) is `x[i * x_stride..][..c]`, and its
/// result goes to `y[i * y_stride..][..c]`. Nothing else in `y` is written: the values
/// between rows and after the last row keep theirs. The values between the rows of `x`
/// never influence a result (they may hold NaN). `x` holds at least
/// `(n*h*w - 1) * x_stride + c` values, `y` at least `(n*h*w - 1) * y_stride + c` (no
/// rows: any length).
///
/// Bitwise the same values as [`normalize`](super::normalize) in [`Layout::Nhwc`](crate::Layout::Nhwc) on the rows gathered into
/// a contiguous tensor, at every [`crate::Isa`]. Speed: with `x_stride == y_stride` and
/// `c >= 16`, the same row kernels as [`normalize`](super::normalize); with `c < 16`, or different strides,
/// a slower kernel that takes each row a vector at a time (a partial store for the
/// row's last vector).
///
/// # Errors
/// - [`Error::ShapeOverflow`] when `n*c*h*w` overflows `usize`;
/// - [`Error::StrideTooSmall`] naming `x_stride` or `y_stride` when it is below `c`;
/// - [`Error::StrideOverflow`] when a span `(n*h*w - 1) * stride + c` overflows `usize`;
/// - [`Error::BufferTooShort`] naming `x` or `y` when it is shorter than its span
///   (`x_stride` and `x` are checked before `y_stride` and `y`);
/// - [`Error::LengthMismatch`] naming `mean`, `var`, `gamma` or `beta`;
/// - [`Error::InvalidParameter`] as [`normalize`](super::normalize).
///
/// On error `y` is untouched.
///
/// # Example
/// ```
/// use batchnorm::{normalize_strided, Activation, NormParams, Shape};
///
/// // Channels 1..3 of a 4-channel NHWC buffer of 2 pixels, into channels 0..2 of a
/// // 3-channel one.
/// let x = [7.0f32, 1.0, 10.0, 7.0, /**/ 7.0, 3.0, 14.0, 7.0];
/// let p = NormParams { mean: &[2.0, 12.0], var: &[1.0, 4.0], gamma: &[1.0, 2.0],
///                      beta: &[0.0, 1.0], eps: 0.0 };
/// let mut y = [0.5f32; 6];
/// normalize_strided(&x[1..], 4, &mut y, 3, Shape::new(1, 2, 1, 2), &p, Activation::Identity)?;
/// assert_eq!(y, [-1.0, -1.0, 0.5, /**/ 1.0, 3.0, 0.5]);
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn normalize_strided(
    x: &[f32],
    x_stride: usize,
    y: &mut [f32],
    y_stride: usize,
    shape: Shape,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    normalize_strided_at(Isa::detected(), x, x_stride, y, y_stride, shape, p, act)
}

/// [`normalize_strided`] at level `isa` (supported: checked by the caller).
#[allow(clippy::too_many_arguments)]
pub(crate) fn normalize_strided_at(
    isa: Isa,
    x: &[f32],
    x_stride: usize,
    y: &mut [f32],
    y_stride: usize,
    shape: Shape,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let rows = Strided {
        x_stride,
        y_stride,
        shape,
    };
    let c = rows.check(x.len(), Some(y.len()))?;
    check::norm_params(p, c)?;
    check::activation(act)?;
    rows.run_out(isa, x, y, &p.into(), act);
    Ok(())
}

/// [`normalize_strided`] in place: the rows of `x`, `x_stride` values apart, are
/// overwritten with their results; the values between them are not written.
///
/// Bitwise the same values as [`normalize_strided`]. Speed as [`normalize_strided`].
///
/// # Errors
/// As [`normalize_strided`] (without `y`). On error `x` is untouched.
///
/// # Example
/// ```
/// use batchnorm::{normalize_strided_in_place, Activation, NormParams, Shape};
///
/// // 1 channel every 3 values: the others are left as they are.
/// let mut x = [1.0f32, 8.0, 8.0, 3.0];
/// let p = NormParams { mean: &[2.0], var: &[1.0], gamma: &[1.0], beta: &[0.0], eps: 0.0 };
/// normalize_strided_in_place(&mut x, 3, Shape::new(2, 1, 1, 1), &p, Activation::Identity)?;
/// assert_eq!(x, [-1.0, 8.0, 8.0, 1.0]);
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn normalize_strided_in_place(
    x: &mut [f32],
    x_stride: usize,
    shape: Shape,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    normalize_strided_in_place_at(Isa::detected(), x, x_stride, shape, p, act)
}

/// [`normalize_strided_in_place`] at level `isa` (supported: checked by the caller).
pub(crate) fn normalize_strided_in_place_at(
    isa: Isa,
    x: &mut [f32],
    x_stride: usize,
    shape: Shape,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let rows = Strided {
        x_stride,
        y_stride: x_stride,
        shape,
    };
    let c = rows.check(x.len(), None)?;
    check::norm_params(p, c)?;
    check::activation(act)?;
    rows.run_in(isa, x, &p.into(), act);
    Ok(())
}

/// [`normalize_prepared`](super::prepared::normalize_prepared) over strided NHWC rows: rows of `shape.c` values `x_stride`
/// apart in `x`, written to rows `y_stride` apart in `y`, as [`normalize_strided`].
///
/// Bitwise equal to [`normalize_strided`] with the parameters `p` was prepared from.
///
/// # Errors
/// As [`normalize_strided`], with `mean`, `scale` or `beta` named for a length that is
/// not `c`. On error `y` is untouched.
///
/// # Example
/// ```
/// use batchnorm::{normalize_prepared_strided, Activation, Prepared, Shape};
///
/// let x = [1.0f32, f32::NAN, 3.0]; // 2 rows of 1 channel, 2 values apart
/// let p = Prepared { mean: &[2.0], scale: &[1.0], beta: &[0.0] };
/// let mut y = [5.0f32; 2];
/// normalize_prepared_strided(&x, 2, &mut y, 1, Shape::new(2, 1, 1, 1), &p, Activation::Relu)?;
/// assert_eq!(y, [0.0, 1.0]);
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn normalize_prepared_strided(
    x: &[f32],
    x_stride: usize,
    y: &mut [f32],
    y_stride: usize,
    shape: Shape,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    normalize_prepared_strided_at(Isa::detected(), x, x_stride, y, y_stride, shape, p, act)
}

/// [`normalize_prepared_strided`] at level `isa` (supported: checked by the caller).
#[allow(clippy::too_many_arguments)]
pub(crate) fn normalize_prepared_strided_at(
    isa: Isa,
    x: &[f32],
    x_stride: usize,
    y: &mut [f32],
    y_stride: usize,
    shape: Shape,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    let rows = Strided {
        x_stride,
        y_stride,
        shape,
    };
    let c = rows.check(x.len(), Some(y.len()))?;
    check::prepared(p, c)?;
    check::activation(act)?;
    rows.run_out(isa, x, y, &p.into(), act);
    Ok(())
}

/// [`normalize_prepared_strided`] in place, as [`normalize_strided_in_place`].
///
/// # Errors
/// As [`normalize_prepared_strided`] (without `y`). On error `x` is untouched.
///
/// # Example
/// ```
/// use batchnorm::{normalize_prepared_strided_in_place, Activation, Prepared, Shape};
///
/// let mut x = [1.0f32, 8.0, 3.0];
/// let p = Prepared { mean: &[2.0], scale: &[1.0], beta: &[0.0] };
/// normalize_prepared_strided_in_place(&mut x, 2, Shape::new(2, 1, 1, 1), &p,
///                                     Activation::Identity)?;
/// assert_eq!(x, [-1.0, 8.0, 1.0]);
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn normalize_prepared_strided_in_place(
    x: &mut [f32],
    x_stride: usize,
    shape: Shape,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    normalize_prepared_strided_in_place_at(Isa::detected(), x, x_stride, shape, p, act)
}

/// [`normalize_prepared_strided_in_place`] at level `isa` (supported: checked by the
/// caller).
pub(crate) fn normalize_prepared_strided_in_place_at(
    isa: Isa,
    x: &mut [f32],
    x_stride: usize,
    shape: Shape,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    let rows = Strided {
        x_stride,
        y_stride: x_stride,
        shape,
    };
    let c = rows.check(x.len(), None)?;
    check::prepared(p, c)?;
    check::activation(act)?;
    rows.run_in(isa, x, &p.into(), act);
    Ok(())
}

/// The rows of a strided normalize call, before and after their checks.
struct Strided {
    x_stride: usize,
    y_stride: usize,
    shape: Shape,
}

impl Strided {
    /// Checks the shape, `x_stride` and `x`, then (out of place) `y_stride` and `y`;
    /// returns `c`.
    fn check(&self, x_len: usize, y_len: Option<usize>) -> Result<usize, Error> {
        let (d, _) = self.shape.strided_dims(x_len, self.x_stride, false)?;
        if let Some(y_len) = y_len {
            d.pitch(("y", y_len), ("y_stride", self.y_stride))?;
        }
        Ok(d.c)
    }

    /// The kernels' view of the (checked) rows, and the spans of `x` and `y`.
    fn dims(&self) -> (LayoutDims, usize, usize) {
        let c = self.shape.c;
        let rows = self.shape.count_per_channel().unwrap_or(0);
        let span = |stride: usize| match rows {
            0 => 0,
            r => (r - 1).saturating_mul(stride).saturating_add(c),
        };
        let d = LayoutDims::Rows {
            c,
            x_pitch: self.x_stride,
            y_pitch: self.y_stride,
        };
        (d, span(self.x_stride), span(self.y_stride))
    }

    /// Runs the checked call out of place.
    fn run_out(&self, isa: Isa, x: &[f32], y: &mut [f32], p: &Src, act: Activation) {
        let (d, xs, ys) = self.dims();
        if xs == 0 || self.shape.c == 0 {
            return;
        }
        let x = x.get(..xs).unwrap_or_default();
        let y = y.get_mut(..ys).unwrap_or_default();
        run(isa, &mut OutOfPlace::new(x, y), d, p, act);
    }

    /// Runs the checked call in place.
    fn run_in(&self, isa: Isa, x: &mut [f32], p: &Src, act: Activation) {
        let (d, xs, _) = self.dims();
        if xs == 0 || self.shape.c == 0 {
            return;
        }
        let x = x.get_mut(..xs).unwrap_or_default();
        run(isa, &mut InPlace(x), d, p, act);
    }
}
