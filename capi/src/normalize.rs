//! Normalize with statistics: `bn_normalize`, out of place or in place (`y == x`); and
//! `NormBufs`, the arrays of a `bn_norm_params`, shared with `bn_prepare` and
//! `bn_fold_into_weights`.

use crate::enums::{self, BnLayout};
use crate::raw::{self, Buf, check_all, in_place};
use crate::status::{BnStatus, Fail, Names, guard};
use crate::types::{BnActivation, BnNormParams, BnShape};
use batchnorm::NormParams;

/// How the library's names for a `bn_norm_params` read in C.
pub(crate) const PARAM_NAMES: [(&str, &str); 5] = [
    ("mean", "params->mean"),
    ("var", "params->var"),
    ("gamma", "params->gamma"),
    ("beta", "params->beta"),
    ("eps", "params->eps"),
];

/// How the library's names for an activation passed as `act` read in C.
pub(crate) const ACT_NAMES: [(&str, &str); 3] = [
    ("Clamp.min", "act.clamp_min"),
    ("Clamp.max", "act.clamp_max"),
    ("LeakyRelu.slope", "act.slope"),
];

/// The library names `bn_normalize`'s arguments as C does.
const NAMES: &Names = &[
    PARAM_NAMES[0],
    PARAM_NAMES[1],
    PARAM_NAMES[2],
    PARAM_NAMES[3],
    PARAM_NAMES[4],
    ACT_NAMES[0],
    ACT_NAMES[1],
    ACT_NAMES[2],
];

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
            mean: Buf::input("params->mean", p.mean, p.mean_len),
            var: Buf::input("params->var", p.var, p.var_len),
            gamma: Buf::input("params->gamma", p.gamma, p.gamma_len),
            beta: Buf::input("params->beta", p.beta, p.beta_len),
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

/// Fused normalize + affine + activation ([`batchnorm::normalize`]):
/// `y = act((x - mean[k]) * gamma[k] / sqrt(var[k] + eps) + beta[k])` for channel `k`.
///
/// `x` holds `x_len == n*c*h*w` values of `shape` in `layout`, `y` receives as many
/// (`y_len == x_len`). `y == x` normalizes in place ([`batchnorm::normalize_in_place`],
/// bitwise the same result); any other overlap of `y` with an input is refused. `params`
/// holds `c` values per array. `act` is the activation and its parameters.
///
/// Returns `BN_OK` or `BN_ERR_BAD_ENUM`, `BN_ERR_NULL_POINTER` (also for a NULL
/// `params`), `BN_ERR_MISALIGNED`, `BN_ERR_OVERLAP`, `BN_ERR_LENGTH_MISMATCH`,
/// `BN_ERR_SHAPE_OVERFLOW`, `BN_ERR_INVALID_PARAMETER` (`params->eps` NaN, infinite or
/// negative; clamp bounds NaN or `clamp_min > clamp_max`; slope not finite),
/// `BN_ERR_INTERNAL`. On error nothing is written.
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
    shape: BnShape,
    layout: BnLayout,
    params: *const BnNormParams,
    act: BnActivation,
) -> BnStatus {
    guard(NAMES, || {
        let layout = enums::layout(layout)?;
        let act = enums::activation(act, "act")?;
        let p = NormBufs::read(params)?;
        let [m, v, g, b] = p.bufs();
        let shape = shape.into();
        let x = Buf::input("x", x, x_len);
        let y = Buf::output("y", y, y_len);
        if let Some(xy) = in_place(x, y)? {
            check_all([xy.region(), m.region(), v.region(), g.region(), b.region()])?;
            batchnorm::normalize_in_place(xy.slice_mut()?, shape, layout, &p.params()?, act)?;
        } else {
            check_all([
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
