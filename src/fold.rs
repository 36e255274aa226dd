//! Folding batch normalization into the preceding convolution or linear layer's weights
//! and bias, as inference engines do when they load a model.

use crate::check;
use crate::error::Error;
use crate::normalize::NormParams;

/// Where the output channel sits in a weight tensor.
///
/// More layouts may be added in a minor release, so a `match` on it outside this crate
/// needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WeightLayout {
    /// Output channel outermost: convolution `[out, in, kh, kw]` (PyTorch, ONNX: OIHW),
    /// linear `[out, in]`. Output channel `o`'s weights are the run
    /// `o * per_out .. (o + 1) * per_out`.
    OutFirst,
    /// Output channel innermost: convolution `[kh, kw, in, out]` (TensorFlow: HWIO),
    /// depthwise `[kh, kw, out]`, linear `[in, out]`. Weight `i * out + o` belongs to
    /// output channel `o`.
    OutLast,
    /// Transposed convolution (ConvTranspose) weights `[in, out / groups, kh, kw]`
    /// (PyTorch, ONNX: IOHW), where the output channel is the second dimension. With
    /// `groups` groups, input channel `i` belongs to group `g = i / (in / groups)`, and
    /// its weights `[out / groups, kh, kw]` are those of output channels
    /// `g * (out / groups) ..`: weight `(i, j, t)` (`t` the position in the `kh * kw`
    /// kernel) belongs to output channel `g * (out / groups) + j`.
    ///
    /// In [`WeightShape`], `per_out` is `(in / groups) * kernel`. `groups` must be at
    /// least 1 and divide `out`, and `kernel` (`kh * kw`) must be at least 1 and divide
    /// `per_out`: see [`fold_into_weights`]'s errors. Ungrouped: `groups: 1`; depthwise
    /// (`groups == in == out`): `per_out == kernel`.
    Transposed {
        /// The convolution's groups (PyTorch's `groups`, ONNX's `group`).
        groups: usize,
        /// Weights per kernel, `kh * kw` (1 for a 1x1 kernel).
        kernel: usize,
    },
}

/// The shape of a weight tensor, as folding sees it: how many output channels, how many
/// weights each has, and where the output channel sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeightShape {
    /// Output channels: the batch normalization's channels.
    pub out: usize,
    /// Weights per output channel: `in * kh * kw` for a convolution, `kh * kw` for a
    /// depthwise one, `in` for a linear layer, `(in / groups) * kh * kw` for a transposed
    /// convolution.
    pub per_out: usize,
    /// Where the output channel sits.
    pub layout: WeightLayout,
}

/// The layer's bias, for [`fold_into_weights`]: whether the layer has one, and the buffer
/// the folded bias goes to. Either way the buffer holds one value per output channel, and
/// after folding it holds the folded bias.
///
/// ```
/// use batchnorm::{fold_into_weights, Bias, NormParams, WeightLayout, WeightShape};
///
/// // One output channel of a linear layer with 2 inputs; scale = 1 / sqrt(4) = 0.5.
/// let p = NormParams { mean: &[1.0], var: &[4.0], gamma: &[1.0], beta: &[0.0], eps: 0.0 };
/// let shape = WeightShape { out: 1, per_out: 2, layout: WeightLayout::OutFirst };
///
/// // A layer created with a bias (PyTorch `bias=True`): it is read, then overwritten.
/// let (mut w, mut bias) = ([2.0f32, 4.0], [3.0f32]);
/// fold_into_weights(&mut w, shape, Bias::InPlace(&mut bias), &p)?;
/// assert_eq!((w, bias), ([1.0, 2.0], [1.0])); // (3 - 1) * 0.5
///
/// // A layer without one (`bias=False`): the folded layer needs a bias all the same, so the
/// // caller provides the buffer it is written to. Its contents are never read.
/// let (mut w, mut new_bias) = ([2.0f32, 4.0], [f32::NAN]);
/// fold_into_weights(&mut w, shape, Bias::Absent(&mut new_bias), &p)?;
/// assert_eq!((w, new_bias), ([1.0, 2.0], [-0.5])); // (0 - 1) * 0.5
/// # Ok::<(), batchnorm::Error>(())
/// ```
///
/// More variants may be added in a minor release, so a `match` on it outside this crate
/// needs a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum Bias<'a> {
    /// The layer has a bias (one value per output channel): it is read, then overwritten
    /// in place with the folded bias.
    InPlace(&'a mut [f32]),
    /// The layer has no bias (as if it were all zeros): the folded bias is written to this
    /// buffer (one value per output channel), whose previous contents are ignored, never
    /// read.
    Absent(&'a mut [f32]),
}

/// Folds batch normalization into the weights and bias of the layer before it, so that the
/// rewritten layer computes `bn(layer(x))`: with `scale[o] = gamma[o] / sqrt(var[o] + eps)`,
/// `w'[o, …] = w[o, …] * scale[o]` and `b'[o] = (b[o] - mean[o]) * scale[o] + beta[o]`
/// (`b = 0` for [`Bias::Absent`]). Computed in f64 from the f32 inputs, rounded once.
///
/// `p`'s slices and the bias hold `shape.out` values, `weights` holds
/// `shape.out * shape.per_out`. As in [`fn@crate::normalize`], the parameters are not checked
/// beyond `eps`: `var + eps == 0` gives infinite or NaN weights, as IEEE arithmetic has it.
///
/// # Errors
/// - [`Error::Indivisible`], for [`WeightLayout::Transposed`] only: naming `out` when
///   `groups` is 0 or does not divide it, then `per_out` when `kernel` is 0 or does not
///   divide it;
/// - [`Error::WeightOverflow`] when `out * per_out` overflows `usize`;
/// - [`Error::LengthMismatch`] naming `weights`, `bias`, `mean`, `var`, `gamma` or `beta`;
/// - [`Error::InvalidParameter`] naming `eps` (NaN, infinite or negative).
///
/// On error nothing is written.
///
/// # Example
/// ```
/// use batchnorm::{fold_into_weights, Bias, NormParams, WeightLayout, WeightShape};
///
/// // A linear layer with 2 outputs and 3 inputs, no bias.
/// let mut w = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let mut b = [0.0f32; 2];
/// let p = NormParams { mean: &[1.0, -1.0], var: &[4.0, 1.0], gamma: &[1.0, 3.0],
///                      beta: &[0.0, 0.5], eps: 0.0 };
/// let shape = WeightShape { out: 2, per_out: 3, layout: WeightLayout::OutFirst };
/// fold_into_weights(&mut w, shape, Bias::Absent(&mut b), &p)?;
/// assert_eq!(w, [0.5, 1.0, 1.5, 12.0, 15.0, 18.0]);
/// assert_eq!(b, [-0.5, 3.5]);
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn fold_into_weights(
    weights: &mut [f32],
    shape: WeightShape,
    bias: Bias<'_>,
    p: &NormParams,
) -> Result<(), Error> {
    check::fold(weights.len(), shape, &bias, p)?;
    let (bias, present) = match bias {
        Bias::InPlace(b) => (b, true),
        Bias::Absent(b) => (b, false),
    };
    let WeightShape {
        out,
        per_out,
        layout,
    } = shape;
    match layout {
        WeightLayout::OutFirst => {
            if per_out > 0 {
                for (o, run) in weights.chunks_exact_mut(per_out).enumerate() {
                    let s = scale(p, o);
                    for w in run {
                        *w = (f64::from(*w) * s) as f32;
                    }
                }
            }
        }
        // No weights (`per_out == 0`): nothing to scale, and `out / groups * kernel` below
        // could overflow (only `out * per_out` is checked).
        WeightLayout::Transposed { .. } if weights.is_empty() => {}
        WeightLayout::Transposed { groups, kernel } => {
            // Per group, blocks of its output channels whose scales stay on the stack,
            // applied to each of the group's input channels in turn. The weights hold
            // `out * per_out` values with `per_out >= kernel`, so no product overflows.
            const BLOCK: usize = 256;
            let out_g = out / groups;
            let group_len = (per_out / kernel) * out_g * kernel;
            for g in 0..groups {
                let rows = &mut weights[g * group_len..(g + 1) * group_len];
                let mut j0 = 0;
                while j0 < out_g {
                    let j1 = out_g.min(j0 + BLOCK);
                    let mut s = [0.0f64; BLOCK];
                    for (j, s) in (j0..j1).zip(&mut s) {
                        *s = scale(p, g * out_g + j);
                    }
                    for row in rows.chunks_exact_mut(out_g * kernel) {
                        let runs = row[j0 * kernel..j1 * kernel].chunks_exact_mut(kernel);
                        for (run, s) in runs.zip(&s) {
                            for w in run {
                                *w = (f64::from(*w) * s) as f32;
                            }
                        }
                    }
                    j0 = j1;
                }
            }
        }
        WeightLayout::OutLast => {
            // Output channels in blocks whose scales stay on the stack.
            const BLOCK: usize = 256;
            let mut o0 = 0;
            while o0 < out {
                let o1 = out.min(o0 + BLOCK);
                let mut s = [0.0f64; BLOCK];
                for (o, s) in (o0..o1).zip(&mut s) {
                    *s = scale(p, o);
                }
                for row in weights.chunks_exact_mut(out) {
                    for (w, s) in row[o0..o1].iter_mut().zip(&s) {
                        *w = (f64::from(*w) * s) as f32;
                    }
                }
                o0 = o1;
            }
        }
    }
    for (o, b) in bias.iter_mut().enumerate() {
        let b0 = if present { f64::from(*b) } else { 0.0 };
        *b = ((b0 - f64::from(p.mean[o])) * scale(p, o) + f64::from(p.beta[o])) as f32;
    }
    Ok(())
}

/// `gamma[o] / sqrt(var[o] + eps)` in f64 (`o` checked).
pub(crate) fn scale(p: &NormParams, o: usize) -> f64 {
    f64::from(p.gamma[o]) / crate::simd::sqrt_f64(f64::from(p.var[o]) + f64::from(p.eps))
}
