//! Normalize and training forward: `bn_normalize` and `bn_train_forward`, each out of
//! place or in place (`y == x`).

use crate::enums;
use crate::raw::{self, Buf, check_all};
use crate::status::{Fail, Status, guard};
use crate::types::{BnNormParams, BnRunningStats, BnSavedStats, BnTrainParams};
use batchnorm::{NormParams, RunningStats, SavedStats, Shape, TrainParams};
use std::ffi::c_int;

/// The four per-channel arrays of a `bn_norm_params`, as buffers.
pub(crate) struct NormBufs {
    pub mean: Buf<f32>,
    pub var: Buf<f32>,
    pub gamma: Buf<f32>,
    pub beta: Buf<f32>,
    pub eps: f32,
}

impl NormBufs {
    pub(crate) fn read(p: *const BnNormParams) -> Result<NormBufs, Fail> {
        let p = raw::read("params", p)?;
        Ok(NormBufs {
            mean: Buf::input("params.mean", p.mean, p.mean_len),
            var: Buf::input("params.var", p.var, p.var_len),
            gamma: Buf::input("params.gamma", p.gamma, p.gamma_len),
            beta: Buf::input("params.beta", p.beta, p.beta_len),
            eps: p.eps,
        })
    }

    pub(crate) fn bufs(&self) -> [Buf<f32>; 4] {
        [self.mean, self.var, self.gamma, self.beta]
    }

    /// The library's parameters; call after the buffers were checked.
    pub(crate) fn params<'a>(&self) -> Result<NormParams<'a>, Fail> {
        Ok(NormParams {
            mean: self.mean.slice()?,
            var: self.var.slice()?,
            gamma: self.gamma.slice()?,
            beta: self.beta.slice()?,
            eps: self.eps,
        })
    }
}

/// `x` and `y` as one written buffer when `y` starts where `x` does (in place, lengths
/// equal), else `None`.
fn in_place(x: Buf<f32>, y: Buf<f32>) -> Result<Option<Buf<f32>>, Fail> {
    if !y.same_start(&x) {
        return Ok(None);
    }
    if y.len() != x.len() {
        return Err(Fail::new(
            Status::LengthMismatch,
            format!(
                "`y` == `x` (in place) but `y` has {} elements and `x` {}",
                y.len(),
                x.len()
            ),
        ));
    }
    Ok(Some(y))
}

/// Fused normalize + affine + activation ([`batchnorm::normalize`]):
/// `y = act((x - mean[k]) * gamma[k] / sqrt(var[k] + eps) + beta[k])` for channel `k`.
///
/// `x` holds `x_len == n*c*h*w` values in `layout` (a `bn_layout`), `y` receives as many
/// (`y_len == x_len`). `y == x` normalizes in place ([`batchnorm::normalize_in_place`],
/// bitwise the same result); any other overlap of `y` with an input is refused. `params`
/// holds `c` values per array. `activation` is a `bn_activation`; `clamp_min` and
/// `clamp_max` are used by `BN_ACTIVATION_CLAMP` only.
///
/// Returns `BN_OK` or `BN_ERR_BAD_ENUM`, `BN_ERR_NULL_POINTER` (also for a NULL
/// `params`), `BN_ERR_MISALIGNED`, `BN_ERR_OVERLAP`, `BN_ERR_LENGTH_MISMATCH`,
/// `BN_ERR_SHAPE_OVERFLOW`, `BN_ERR_INVALID_PARAMETER` (`eps` NaN, infinite or negative;
/// clamp bounds NaN or `min > max`). On error nothing is written.
///
/// # Safety
/// Each non-NULL pointer points to at least as many elements as its length says (or to
/// one struct, for `params`), readable for the inputs and writable for `y`, and no other
/// thread writes them during the call. A NULL array pointer is allowed with length 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_normalize(
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    layout: c_int,
    params: *const BnNormParams,
    activation: c_int,
    clamp_min: f32,
    clamp_max: f32,
) -> c_int {
    guard(|| {
        let layout = enums::layout(layout)?;
        let act = enums::activation(activation, clamp_min, clamp_max)?;
        let p = NormBufs::read(params)?;
        let [m, v, g, b] = p.bufs();
        let shape = Shape::new(n, c, h, w);
        let x = Buf::input("x", x, x_len);
        let y = Buf::output("y", y, y_len);
        if let Some(xy) = in_place(x, y)? {
            check_all(&[xy.region(), m.region(), v.region(), g.region(), b.region()])?;
            batchnorm::normalize_in_place(xy.slice_mut()?, shape, layout, &p.params()?, act)?;
        } else {
            check_all(&[
                x.region(),
                y.region(),
                m.region(),
                v.region(),
                g.region(),
                b.region(),
            ])?;
            batchnorm::normalize(x.slice()?, y.slice_mut()?, shape, layout, &p.params()?, act)?;
        }
        Ok(())
    })
}

/// Training-mode batch normalization in one call ([`batchnorm::train_forward`]): each
/// channel's batch mean and biased variance (with `params->method`), `x` normalized into
/// `y` with them, the running statistics updated (when `running` is not NULL), and
/// `saved->mean` and `saved->invstd = 1 / sqrt(var + eps)` written for a backward pass.
///
/// `x` holds `x_len == n*c*h*w` values in `layout` (a `bn_layout`), `y` receives as many;
/// `y == x` works in place ([`batchnorm::train_forward_in_place`]). Every per-channel
/// array holds `c` values. `running->momentum_kind` picks the convention:
/// `BN_MOMENTUM_PYTORCH` (`running = (1-m)*running + m*batch`, unbiased batch variance),
/// `BN_MOMENTUM_ONNX` (`running = m*running + (1-m)*batch`, biased), or
/// `BN_MOMENTUM_CUMULATIVE` (PyTorch's `momentum=None`: the average over
/// `prior_batches + 1` batches, unbiased).
///
/// Returns `BN_OK` or `BN_ERR_BAD_ENUM`, `BN_ERR_NULL_POINTER` (also for a NULL `params`
/// or `saved`), `BN_ERR_MISALIGNED`, `BN_ERR_OVERLAP`, `BN_ERR_LENGTH_MISMATCH`,
/// `BN_ERR_SHAPE_OVERFLOW`, `BN_ERR_EMPTY_CHANNEL`, `BN_ERR_TOO_FEW_VALUES` (one value per
/// channel with an unbiased running update), `BN_ERR_INVALID_PARAMETER` (`eps`,
/// `momentum` outside `[0, 1]`, clamp bounds). On error nothing is written.
///
/// # Safety
/// Each non-NULL pointer points to at least as many elements as its length says (or to
/// one struct, for `params`, `running` and `saved`), readable for the inputs, writable for
/// `y` and the `saved` arrays, readable and writable for the `running` arrays, and no
/// other thread writes them during the call. A NULL array pointer is allowed with length 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_train_forward(
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    layout: c_int,
    params: *const BnTrainParams,
    running: *const BnRunningStats,
    saved: *const BnSavedStats,
) -> c_int {
    guard(|| {
        let layout = enums::layout(layout)?;
        let p = raw::read("params", params)?;
        let method = enums::method(p.method)?;
        let act = enums::activation(p.activation, p.clamp_min, p.clamp_max)?;
        let running = raw::read_opt("running", running)?;
        let momentum = running
            .map(|r| enums::momentum(r.momentum_kind, r.momentum, r.prior_batches))
            .transpose()?;
        let s = raw::read("saved", saved)?;

        let gamma = Buf::input("params.gamma", p.gamma, p.gamma_len);
        let beta = Buf::input("params.beta", p.beta, p.beta_len);
        let (rmean, rvar) = match running {
            Some(r) => (
                Buf::output("running.mean", r.mean, r.mean_len),
                Buf::output("running.var", r.var, r.var_len),
            ),
            None => (
                Buf::output("running.mean", std::ptr::null_mut(), 0),
                Buf::output("running.var", std::ptr::null_mut(), 0),
            ),
        };
        let smean = Buf::output("saved.mean", s.mean, s.mean_len);
        let sinvstd = Buf::output("saved.invstd", s.invstd, s.invstd_len);
        let x = Buf::input("x", x, x_len);
        let y = Buf::output("y", y, y_len);
        let xy = in_place(x, y)?;

        let mut regions = match xy {
            Some(xy) => vec![xy.region()],
            None => vec![x.region(), y.region()],
        };
        regions.extend([gamma, beta, rmean, rvar, smean, sinvstd].map(|b| b.region()));
        check_all(&regions)?;

        let tp = TrainParams {
            gamma: gamma.slice()?,
            beta: beta.slice()?,
            eps: p.eps,
            method,
            act,
        };
        let running = match momentum {
            Some(momentum) => Some(RunningStats {
                mean: rmean.slice_mut()?,
                var: rvar.slice_mut()?,
                momentum,
            }),
            None => None,
        };
        let saved = SavedStats {
            mean: smean.slice_mut()?,
            invstd: sinvstd.slice_mut()?,
        };
        let shape = Shape::new(n, c, h, w);
        match xy {
            Some(xy) => batchnorm::train_forward_in_place(
                xy.slice_mut()?,
                shape,
                layout,
                &tp,
                running,
                saved,
            )?,
            None => batchnorm::train_forward(
                x.slice()?,
                y.slice_mut()?,
                shape,
                layout,
                &tp,
                running,
                saved,
            )?,
        }
        Ok(())
    })
}
