//! The backward pass: `bn_backward`, out of place or in place (`dx == dy`), with or
//! without the mask of a fused activation.

use crate::enums::{
    self, BN_ACTIVATION_CLAMP, BN_ACTIVATION_IDENTITY, BN_ACTIVATION_RELU, BnForwardStats, BnLayout,
};
use crate::normalize::ACT_NAMES;
use crate::raw::{self, Buf, check_all, in_place};
use crate::status::{BnStatus, Names, Status, fail, guard};
use crate::types::{BnActivation, BnBackwardParams, BnShape};
use batchnorm::{Activated, BackwardParams, Shape};

/// The library names `bn_backward`'s arguments as C does.
const NAMES: &Names = &[
    ("mean", "params->mean"),
    ("invstd", "params->invstd"),
    ("gamma", "params->gamma"),
    ACT_NAMES[0],
    ACT_NAMES[1],
];

/// Batch-normalization backward ([`batchnorm::backward`], PyTorch's
/// `native_batch_norm_backward`): from the forward's input `x`, the gradient `dy` of its
/// output and the statistics it normalized with, writes the gradient `dx` of `x` and the
/// per-channel `dgamma` and `dbeta` (overwritten, not added to).
///
/// Per channel, over its `m = n*h*w` values, with `xhat = (x - mean) * invstd`:
/// `dbeta = Σdy`, `dgamma = Σdy·xhat`, and `dx = gamma*invstd*(dy - dbeta/m -
/// xhat*dgamma/m)` for `stats == BN_FORWARD_STATS_BATCH` (training mode: `params->mean`
/// and `params->invstd` are what `bn_train_forward` saved), `dx = dy*gamma*invstd` for
/// `BN_FORWARD_STATS_RUNNING` (eval mode or frozen statistics: the running mean and
/// `1 / sqrt(running_var + eps)`).
///
/// `x`, `dy` and `dx` hold `n*c*h*w` values of `shape` in `layout`; `dx == dy` computes in
/// place ([`batchnorm::backward_in_place`], bitwise the same result); any other overlap of
/// an output with another buffer is refused. `params` and `dgamma`, `dbeta` hold `c`
/// values per array.
///
/// A fused activation: `y` is the forward's output (after the activation, `y_len ==
/// x_len`) and `act` the activation the forward applied; `dy` is first masked to 0 where
/// the activation clamped its input ([`batchnorm::backward_activated`]):
/// `BN_ACTIVATION_RELU` keeps the gradient where `y > 0`, `BN_ACTIVATION_CLAMP` where
/// `clamp_min < y < clamp_max`, `BN_ACTIVATION_IDENTITY` everywhere; the other kinds are
/// refused (their derivative needs the activation's input). `y == NULL` (with `y_len ==
/// 0`) means no fused activation: `act.kind` must then be `BN_ACTIVATION_IDENTITY`, so
/// that a forgotten `y` is not taken for an unmasked gradient.
///
/// Returns `BN_OK` or `BN_ERR_BAD_ENUM` (`layout`, `stats`, `act.kind`),
/// `BN_ERR_NULL_POINTER` (also for a NULL `params`), `BN_ERR_MISALIGNED`,
/// `BN_ERR_OVERLAP`, `BN_ERR_LENGTH_MISMATCH`, `BN_ERR_SHAPE_OVERFLOW`,
/// `BN_ERR_INVALID_PARAMETER` (clamp bounds; `act.kind` other than identity, ReLU or
/// clamp, or other than identity with `y == NULL`), `BN_ERR_INTERNAL`. On error nothing is
/// written, `dy` included.
///
/// # Safety
/// Each non-NULL pointer points to at least as many elements as its length says (or to
/// one struct, for `params`), readable for the inputs, writable for `dx` (and `dy` when
/// `dx == dy`), `dgamma` and `dbeta`, and no other thread writes them during the call. A
/// NULL array pointer is allowed with length 0.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_backward(
    x: *const f32,
    x_len: usize,
    dy: *const f32,
    dy_len: usize,
    dx: *mut f32,
    dx_len: usize,
    shape: BnShape,
    layout: BnLayout,
    params: *const BnBackwardParams,
    stats: BnForwardStats,
    y: *const f32,
    y_len: usize,
    act: BnActivation,
    dgamma: *mut f32,
    dgamma_len: usize,
    dbeta: *mut f32,
    dbeta_len: usize,
) -> BnStatus {
    guard(NAMES, || {
        let layout = enums::layout(layout)?;
        let stats = enums::forward_stats(stats)?;
        let activation = enums::activation(act, "act")?;
        let p = raw::read("params", params)?;
        let mean = Buf::input("params->mean", p.mean, p.mean_len);
        let invstd = Buf::input("params->invstd", p.invstd, p.invstd_len);
        let gamma = Buf::input("params->gamma", p.gamma, p.gamma_len);
        let x = Buf::input("x", x, x_len);
        let fwd_y = Buf::input("y", y, y_len);
        let dgamma = Buf::output("dgamma", dgamma, dgamma_len);
        let dbeta = Buf::output("dbeta", dbeta, dbeta_len);
        let dy = Buf::input("dy", dy, dy_len);
        let dx = Buf::output("dx", dx, dx_len);
        let dxy = in_place(dy, dx)?;
        match dxy {
            Some(d) => check_all([
                x.region(),
                fwd_y.region(),
                mean.region(),
                invstd.region(),
                gamma.region(),
                dgamma.region(),
                dbeta.region(),
                d.region(),
            ])?,
            None => check_all([
                x.region(),
                fwd_y.region(),
                mean.region(),
                invstd.region(),
                gamma.region(),
                dgamma.region(),
                dbeta.region(),
                dy.region(),
                dx.region(),
            ])?,
        }
        // NULL with a nonzero length was refused above: NULL here means no activation.
        let masked = !y.is_null();
        if !masked && act.kind != BN_ACTIVATION_IDENTITY {
            return Err(fail!(
                Status::InvalidParameter,
                "`act.kind` = {} but `y` is NULL: without the forward's output only \
                 BN_ACTIVATION_IDENTITY ({BN_ACTIVATION_IDENTITY}) is possible",
                act.kind
            ));
        }
        if masked
            && ![
                BN_ACTIVATION_IDENTITY,
                BN_ACTIVATION_RELU,
                BN_ACTIVATION_CLAMP,
            ]
            .contains(&act.kind)
        {
            return Err(fail!(
                Status::InvalidParameter,
                "`act.kind` = {} but bn_backward masks by BN_ACTIVATION_IDENTITY, \
                 BN_ACTIVATION_RELU or BN_ACTIVATION_CLAMP only (the others' derivative \
                 needs the activation's input)",
                act.kind
            ));
        }

        let p = BackwardParams {
            mean: mean.slice()?,
            invstd: invstd.slice()?,
            gamma: gamma.slice()?,
        };
        let fwd = match masked {
            true => Some(Activated {
                y: fwd_y.slice()?,
                act: activation,
            }),
            false => None,
        };
        let shape = Shape::from(shape);
        let x = x.slice()?;
        let (dg, db) = (dgamma.slice_mut()?, dbeta.slice_mut()?);
        match (dxy, fwd) {
            (Some(d), None) => {
                batchnorm::backward_in_place(x, d.slice_mut()?, shape, layout, &p, stats, dg, db)?
            }
            (Some(d), Some(f)) => batchnorm::backward_activated_in_place(
                x,
                d.slice_mut()?,
                shape,
                layout,
                &p,
                stats,
                f,
                dg,
                db,
            )?,
            (None, None) => batchnorm::backward(
                x,
                dy.slice()?,
                dx.slice_mut()?,
                shape,
                layout,
                &p,
                stats,
                dg,
                db,
            )?,
            (None, Some(f)) => batchnorm::backward_activated(
                x,
                dy.slice()?,
                dx.slice_mut()?,
                shape,
                layout,
                &p,
                stats,
                f,
                dg,
                db,
            )?,
        }
        Ok(())
    })
}
