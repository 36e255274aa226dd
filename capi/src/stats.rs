//! Statistics: `bn_batch_stats`, `bn_accumulate_moments`, `bn_moments_merge` and the
//! `bn_moments` variances.

use crate::enums::{self, BnLayout, BnMethod};
use crate::raw::{Buf, check_all};
use crate::status::{BnStatus, Names, guard};
use crate::types::{BnMoments, BnShape};
use batchnorm::Moments;

/// The library names these functions' arguments as C does.
const NAMES: &Names = &[];

/// Per-channel mean and biased variance (`M2 / count`) of a tensor
/// ([`batchnorm::batch_stats`]).
///
/// `x` holds `x_len == n*c*h*w` values of `shape` in `layout`; `mean` and `var` receive
/// one value per channel (`mean_len == var_len == c`).
///
/// Returns `BN_OK` or `BN_ERR_BAD_ENUM`, `BN_ERR_NULL_POINTER`, `BN_ERR_MISALIGNED`,
/// `BN_ERR_OVERLAP` (`mean` or `var` overlapping another buffer), `BN_ERR_LENGTH_MISMATCH`,
/// `BN_ERR_SHAPE_OVERFLOW`, `BN_ERR_EMPTY_CHANNEL` (`n*h*w == 0` with `c > 0`),
/// `BN_ERR_INTERNAL`. On error nothing is written.
///
/// # Safety
/// Each non-NULL pointer points to at least as many elements as its length says,
/// readable for `x`, writable for `mean` and `var`, and no other thread writes them
/// during the call. A NULL pointer is allowed with length 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_batch_stats(
    x: *const f32,
    x_len: usize,
    shape: BnShape,
    layout: BnLayout,
    method: BnMethod,
    mean: *mut f32,
    mean_len: usize,
    var: *mut f32,
    var_len: usize,
) -> BnStatus {
    guard(NAMES, || {
        let layout = enums::layout(layout)?;
        let method = enums::method(method, "method")?;
        let x = Buf::input("x", x, x_len);
        let mean = Buf::output("mean", mean, mean_len);
        let var = Buf::output("var", var, var_len);
        check_all([x.region(), mean.region(), var.region()])?;
        batchnorm::batch_stats(
            x.slice()?,
            shape.into(),
            layout,
            method,
            mean.slice_mut()?,
            var.slice_mut()?,
        )?;
        Ok(())
    })
}

/// Adds the per-channel statistics of the batch `x` to `acc`, one `bn_moments` per
/// channel ([`batchnorm::accumulate_moments`]): accumulating several batches, or pieces of
/// one, gives the statistics of their union.
///
/// `x` holds `x_len == n*c*h*w` values of `shape` in `layout`; `acc_len == c`.
///
/// Returns `BN_OK` or the codes of [`bn_batch_stats`]. On error `acc` is untouched.
///
/// # Safety
/// As [`bn_batch_stats`], with `acc` (readable and writable) in place of `mean` and `var`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_accumulate_moments(
    x: *const f32,
    x_len: usize,
    shape: BnShape,
    layout: BnLayout,
    method: BnMethod,
    acc: *mut BnMoments,
    acc_len: usize,
) -> BnStatus {
    guard(NAMES, || {
        let layout = enums::layout(layout)?;
        let method = enums::method(method, "method")?;
        let x = Buf::input("x", x, x_len);
        // `bn_moments` and `batchnorm::Moments` share one `repr(C)` layout (asserted in
        // `types.rs`), so the caller's array is used in place.
        let acc = Buf::output("acc", acc.cast::<Moments>(), acc_len);
        check_all([x.region(), acc.region()])?;
        batchnorm::accumulate_moments(x.slice()?, shape.into(), layout, method, acc.slice_mut()?)?;
        Ok(())
    })
}

/// Merges `other` into `acc` element by element with Chan et al.'s formula
/// ([`batchnorm::Moments::merge`]): `acc[i]` becomes the moments of the union of both
/// sets. Both arrays hold `len` elements; `other == acc` merges each set with itself.
///
/// Returns `BN_OK` or `BN_ERR_NULL_POINTER`, `BN_ERR_MISALIGNED`, `BN_ERR_OVERLAP`
/// (partly overlapping arrays), `BN_ERR_LENGTH_MISMATCH` (a length no array can have). On
/// error `acc` is untouched.
///
/// # Safety
/// Each non-NULL pointer points to at least `len` elements, readable for `other`,
/// readable and writable for `acc`, and no other thread writes them during the call. NULL
/// pointers are allowed with `len == 0`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_moments_merge(
    acc: *mut BnMoments,
    other: *const BnMoments,
    len: usize,
) -> BnStatus {
    guard(NAMES, || {
        let acc_buf = Buf::output("acc", acc, len);
        let other = Buf::input("other", other, len);
        if acc_buf.same_start(&other) {
            check_all([acc_buf.region()])?;
            for m in acc_buf.slice_mut()? {
                *m = Moments::from(*m).merge(Moments::from(*m)).into();
            }
            return Ok(());
        }
        check_all([acc_buf.region(), other.region()])?;
        for (a, b) in acc_buf.slice_mut()?.iter_mut().zip(other.slice()?) {
            *a = Moments::from(*a).merge(Moments::from(*b)).into();
        }
        Ok(())
    })
}

/// The biased (population) variance `m2 / count` of `m`; NaN when `count == 0`
/// ([`batchnorm::Moments::variance`]).
#[unsafe(no_mangle)]
pub extern "C" fn bn_moments_variance(m: BnMoments) -> f64 {
    Moments::from(m).variance()
}

/// The unbiased (sample) variance `m2 / (count - 1)` of `m`; NaN when `count < 2`
/// ([`batchnorm::Moments::sample_variance`]).
#[unsafe(no_mangle)]
pub extern "C" fn bn_moments_sample_variance(m: BnMoments) -> f64 {
    Moments::from(m).sample_variance()
}
