//! Inference with constants prepared once at model load: `bn_prepare` and
//! `bn_normalize_prepared` (out of place, or in place with `y == x`).

use crate::enums::{self, BnLayout};
use crate::normalize::{ACT_NAMES, NormBufs, PARAM_NAMES};
use crate::raw::{self, Buf, check_all, in_place};
use crate::status::{BnStatus, Names, guard};
use crate::types::{BnActivation, BnNormParams, BnPrepared, BnShape};
use batchnorm::Prepared;

/// The library names `bn_prepare`'s arguments as C does.
const PREPARE_NAMES: &Names = &[
    PARAM_NAMES[0],
    PARAM_NAMES[1],
    PARAM_NAMES[2],
    PARAM_NAMES[3],
    PARAM_NAMES[4],
];

/// The library names `bn_normalize_prepared`'s arguments as C does.
const NORMALIZE_NAMES: &Names = &[
    ("mean", "prepared->mean"),
    ("scale", "prepared->scale"),
    ("beta", "prepared->beta"),
    ACT_NAMES[0],
    ACT_NAMES[1],
    ACT_NAMES[2],
];

/// Prepares the per-channel constants of [`bn_normalize_prepared`] once, at model load
/// ([`batchnorm::prepare`]): `scale[k] = gamma[k] / sqrt(var[k] + eps)`, computed in double
/// and rounded once, the value `bn_normalize` computes on every call. It is also the
/// load-time check of the model's parameters: a channel whose mean, var, gamma or beta is
/// not finite, or whose `var + eps` is not `> 0`, is refused and named.
///
/// `params` holds `c` values per array (`c` is `params->mean_len`); `scale` receives `c`
/// values (`scale_len == c`). Then pass `params->mean`, `scale` and `params->beta` as a
/// `bn_prepared`.
///
/// Returns `BN_OK` or `BN_ERR_NULL_POINTER` (also for a NULL `params`),
/// `BN_ERR_MISALIGNED`, `BN_ERR_OVERLAP` (`scale` overlapping a `params` array),
/// `BN_ERR_LENGTH_MISMATCH`, `BN_ERR_INVALID_PARAMETER` (`params->eps`),
/// `BN_ERR_BAD_CHANNEL`, `BN_ERR_INTERNAL`. On error `scale` is untouched.
///
/// # Safety
/// Each non-NULL pointer points to at least as many elements as its length says (or to
/// one struct, for `params`), readable for the `params` arrays and writable for `scale`,
/// and no other thread writes them during the call. A NULL array pointer is allowed with
/// length 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_prepare(
    params: *const BnNormParams,
    scale: *mut f32,
    scale_len: usize,
) -> BnStatus {
    guard(PREPARE_NAMES, || {
        let p = NormBufs::read(params)?;
        let [m, v, g, b] = p.bufs();
        let scale = Buf::output("scale", scale, scale_len);
        check_all([
            scale.region(),
            m.region(),
            v.region(),
            g.region(),
            b.region(),
        ])?;
        batchnorm::prepare(&p.params()?, scale.slice_mut()?)?;
        Ok(())
    })
}

/// Normalize with prepared constants ([`batchnorm::normalize_prepared`]):
/// `y = act((x - mean[k]) * scale[k] + beta[k])` for channel `k`, one subtract and one
/// fused multiply-add per element. With `prepared->scale` from [`bn_prepare`], bitwise
/// equal to `bn_normalize` with the parameters it was prepared from.
///
/// `x` holds `x_len == n*c*h*w` values of `shape` in `layout`, `y` receives as many
/// (`y_len == x_len`). `y == x` normalizes in place
/// ([`batchnorm::normalize_prepared_in_place`], bitwise the same result); any other
/// overlap of `y` with an input is refused. `prepared` holds `c` values per array; they
/// are used as they are (checked by `bn_prepare`, not here). `act` is the activation and
/// its parameters.
///
/// Returns `BN_OK` or `BN_ERR_BAD_ENUM`, `BN_ERR_NULL_POINTER` (also for a NULL
/// `prepared`), `BN_ERR_MISALIGNED`, `BN_ERR_OVERLAP`, `BN_ERR_LENGTH_MISMATCH`,
/// `BN_ERR_SHAPE_OVERFLOW`, `BN_ERR_INVALID_PARAMETER` (clamp bounds, slope),
/// `BN_ERR_INTERNAL`. On error nothing is written.
///
/// # Safety
/// Each non-NULL pointer points to at least as many elements as its length says (or to
/// one struct, for `prepared`), readable for the inputs and writable for `y`, and no other
/// thread writes them during the call. A NULL array pointer is allowed with length 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_normalize_prepared(
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
    shape: BnShape,
    layout: BnLayout,
    prepared: *const BnPrepared,
    act: BnActivation,
) -> BnStatus {
    guard(NORMALIZE_NAMES, || {
        let layout = enums::layout(layout)?;
        let act = enums::activation(act, "act")?;
        let p = raw::read("prepared", prepared)?;
        let m = Buf::input("prepared->mean", p.mean, p.mean_len);
        let s = Buf::input("prepared->scale", p.scale, p.scale_len);
        let b = Buf::input("prepared->beta", p.beta, p.beta_len);
        let shape = shape.into();
        let x = Buf::input("x", x, x_len);
        let y = Buf::output("y", y, y_len);
        let xy = in_place(x, y)?;
        match xy {
            Some(xy) => check_all([xy.region(), m.region(), s.region(), b.region()])?,
            None => check_all([x.region(), y.region(), m.region(), s.region(), b.region()])?,
        }
        let prepared = Prepared {
            mean: m.slice()?,
            scale: s.slice()?,
            beta: b.slice()?,
        };
        match xy {
            Some(xy) => batchnorm::normalize_prepared_in_place(
                xy.slice_mut()?,
                shape,
                layout,
                &prepared,
                act,
            )?,
            None => batchnorm::normalize_prepared(
                x.slice()?,
                y.slice_mut()?,
                shape,
                layout,
                &prepared,
                act,
            )?,
        }
        Ok(())
    })
}
