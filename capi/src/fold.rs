//! Folding into the previous layer's weights: `bn_fold_into_weights`.

use crate::enums::{self, BnBias};
use crate::normalize::{NormBufs, PARAM_NAMES};
use crate::raw::{Buf, check_all};
use crate::status::{BnStatus, Names, guard};
use crate::types::{BnNormParams, BnWeightShape};
use batchnorm::{Bias, WeightShape};

/// The library names `bn_fold_into_weights`' arguments as C does.
const NAMES: &Names = &[
    PARAM_NAMES[0],
    PARAM_NAMES[1],
    PARAM_NAMES[2],
    PARAM_NAMES[3],
    PARAM_NAMES[4],
    ("out", "shape.out"),
    ("per_out", "shape.per_out"),
    ("Transposed.groups", "shape.groups"),
    ("Transposed.kernel", "shape.kernel"),
];

/// Folds batch normalization into the weights and bias of the convolution or linear
/// layer before it ([`batchnorm::fold_into_weights`]): with
/// `scale[o] = gamma[o] / sqrt(var[o] + eps)`, `w'[o, ...] = w[o, ...] * scale[o]` and
/// `b'[o] = (b[o] - mean[o]) * scale[o] + beta[o]`.
///
/// `weights` holds `weights_len == shape.out * shape.per_out` values, rewritten in place;
/// `shape.layout` (a `bn_weight_layout`) says where the output channel sits:
/// `BN_WEIGHTS_OUT_FIRST` (OIHW convolution, `[out, in]` linear), `BN_WEIGHTS_OUT_LAST`
/// (HWIO, `[kh, kw, out]` depthwise, `[in, out]` linear) or `BN_WEIGHTS_TRANSPOSED`
/// (ConvTranspose `[in, out / groups, kh, kw]`, IOHW, with `per_out ==
/// (in / groups) * kernel`; `shape.groups` and `shape.kernel = kh * kw` must be `>= 1`
/// and divide `shape.out` and `shape.per_out`). The other layouts ignore `shape.groups`
/// and `shape.kernel`. `bias` holds `out` values;
/// `bias_kind` (a `bn_bias`) is `BN_BIAS_IN_PLACE` (the layer's bias, rewritten) or
/// `BN_BIAS_ZEROS` (no bias: the folded bias is written, the contents ignored). `params`
/// holds `out` values per array.
///
/// Returns `BN_OK` or `BN_ERR_BAD_ENUM`, `BN_ERR_NULL_POINTER` (also for a NULL
/// `params`), `BN_ERR_MISALIGNED`, `BN_ERR_OVERLAP`, `BN_ERR_INDIVISIBLE`
/// (`BN_WEIGHTS_TRANSPOSED`: `shape.groups` 0 or not dividing `shape.out`, `shape.kernel`
/// 0 or not dividing `shape.per_out`), `BN_ERR_LENGTH_MISMATCH`,
/// `BN_ERR_WEIGHT_OVERFLOW`, `BN_ERR_INVALID_PARAMETER` (`eps`), `BN_ERR_INTERNAL`. On
/// error nothing is written.
///
/// # Safety
/// Each non-NULL pointer points to at least as many elements as its length says (or to
/// one struct, for `params`), readable for the `params` arrays, readable and writable for
/// `weights` and `bias`, and no other thread writes them during the call. A NULL array
/// pointer is allowed with length 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bn_fold_into_weights(
    weights: *mut f32,
    weights_len: usize,
    shape: BnWeightShape,
    bias: *mut f32,
    bias_len: usize,
    bias_kind: BnBias,
    params: *const BnNormParams,
) -> BnStatus {
    guard(NAMES, || {
        let layout = enums::weight_layout(shape.layout, shape.groups, shape.kernel)?;
        let present = enums::bias_present(bias_kind)?;
        let p = NormBufs::read(params)?;
        let [m, v, g, b] = p.bufs();
        let weights = Buf::output("weights", weights, weights_len);
        let bias = Buf::output("bias", bias, bias_len);
        check_all([
            weights.region(),
            bias.region(),
            m.region(),
            v.region(),
            g.region(),
            b.region(),
        ])?;
        let shape = WeightShape {
            out: shape.out,
            per_out: shape.per_out,
            layout,
        };
        let bias = match present {
            true => Bias::InPlace(bias.slice_mut()?),
            false => Bias::Absent(bias.slice_mut()?),
        };
        batchnorm::fold_into_weights(weights.slice_mut()?, shape, bias, &p.params()?)?;
        Ok(())
    })
}
