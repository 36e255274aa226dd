//! The backward pass: `dx`, `dgamma` and `dbeta` from the forward's input, the incoming
//! gradient and the statistics the forward used (PyTorch's `native_batch_norm_backward`),
//! optionally through a fused ReLU or clamp.
//!
//! Entry points and argument checks here; what the kernels share (the driver, the masks,
//! the constants of `dx`) in `shared.rs`; the kernels in `planar.rs` (NCHW), `short.rs`
//! (NCHW planes under [`crate::plan::SHORT_PLANE`] values) and `interleaved.rs` (NHWC, and NCHW
//! with 1x1 planes). All first sum `Σdy` and `Σdy·xhat` per channel (f32 lanes for at
//! most `CHUNK` values each, then f64), then compute the channel's constants once in f64
//! (rounded to f32), then `dx`; with running statistics `dx = a*dy` needs no sums, and is
//! written in the pass that sums.

mod interleaved;
mod planar;
mod shared;
mod short;
#[cfg(test)]
mod tests;

use self::shared::{Grads, run};
use crate::check;
use crate::error::Error;
use crate::normalize::Activation;
use crate::normalize::io::{InPlace, OutOfPlace};
use crate::shape::{Layout, Shape};
use crate::simd::Isa;

/// What the backward pass needs of the forward, one value per channel each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackwardParams<'a> {
    /// The mean the forward normalized with: the batch mean ([`crate::SavedStats::mean`])
    /// for [`ForwardStats::Batch`], the running mean for [`ForwardStats::Running`].
    pub mean: &'a [f32],
    /// `1 / sqrt(var + eps)` of the forward: [`crate::SavedStats::invstd`] for
    /// [`ForwardStats::Batch`], from the running variance for [`ForwardStats::Running`].
    pub invstd: &'a [f32],
    /// The forward's per-channel scale `gamma`.
    pub gamma: &'a [f32],
}

/// Which statistics the forward normalized with, so which gradient flows.
///
/// More cases may be added: a `match` on this enum outside the crate needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardStats {
    /// Batch statistics (training mode): the gradient also flows through the batch mean
    /// and variance, `dx = gamma*invstd*(dy - Σdy/m - xhat*Σ(dy·xhat)/m)`.
    Batch,
    /// Fixed statistics (eval mode, frozen batch normalization): `dx = dy*gamma*invstd`.
    Running,
}

/// The forward's output and activation, for a backward through a fused activation
/// ([`backward_activated`]): the incoming gradient is masked by where the activation let
/// its input through, as oneDNN's fused batch-norm + ReLU backward does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activated<'a> {
    /// The forward's output `y` (after the activation), `shape.numel()` values in the
    /// same layout as `x`.
    pub y: &'a [f32],
    /// The activation the forward applied: [`Activation::Identity`] (no mask),
    /// [`Activation::Relu`] (gradient kept where `y > 0`) or [`Activation::Clamp`]
    /// (kept where `min < y < max`). Where the gradient is not kept it is 0; a NaN `y`
    /// keeps it, as in PyTorch's `threshold_backward` and `hardtanh_backward`.
    pub act: Activation,
}

/// Batch-normalization backward (PyTorch's `native_batch_norm_backward`): from the
/// forward's input `x`, the gradient `dy` of its output and the statistics it used,
/// writes the gradient `dx` of `x`, and `dgamma`, `dbeta` (overwritten, not added to).
///
/// Per channel, over its `m = n*h*w` values, with `xhat = (x - mean)*invstd`:
/// - `dbeta = Σdy`, `dgamma = Σdy·xhat`;
/// - [`ForwardStats::Batch`]: `dx = gamma*invstd*(dy - dbeta/m - xhat*dgamma/m)`;
/// - [`ForwardStats::Running`]: `dx = dy*gamma*invstd`.
///
/// The sums are accumulated in f32 lanes for at most 64 values each (for NCHW planes under
/// 512 values, the last 16 such lanes of a channel are then added pairwise in f32), then
/// in f64, so they stay accurate on long channels; `gamma*invstd`, `dbeta/m` and
/// `dgamma/m` are computed once per channel in f64 and rounded to f32; `dx` is then one
/// pass in f32. In NCHW a group of channels' sums and its `dx` run one after the other
/// (as many channels as fit in cache, at most 16), so a channel that fits in cache is
/// read from memory once (a larger one twice); in NHWC the whole tensor (or a block of
/// channels) is read once for the sums and once for `dx`. With [`ForwardStats::Running`], `dx` does not depend on
/// the sums and is written in the same pass: every layout reads its input once.
///
/// `x`, `dy` and `dx` hold `shape.numel()` values in `layout`; `p.*`, `dgamma` and
/// `dbeta` hold `shape.c` values. A zero-sized shape with channels (`n*h*w == 0`, `c > 0`)
/// is accepted: the sums are empty, so `dgamma` and `dbeta` are set to 0, and there is
/// no `dx` to write. NaN or infinity in one channel stays in that channel.
///
/// # Errors
/// - [`Error::ShapeOverflow`] when `n*c*h*w` overflows `usize`;
/// - [`Error::LengthMismatch`] naming `x`, `dy`, `dx`, `mean`, `invstd`, `gamma`,
///   `dgamma` or `dbeta`.
///
/// On error no output is written.
///
/// # Example
/// The worked example: one channel of `1..=8` and `2..=9`, gamma 2, eps 1e-5, and the
/// loss `L = Σ y` (so `dy = 1` everywhere): `dbeta = 16`, `dgamma = Σxhat = 0`, and
/// since a shift of every `x` does not change `y`, `dx = 0`.
/// ```
/// use batchnorm::*;
///
/// let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
/// let dy = vec![1.0f32; 16];
/// let mut dx = vec![f32::NAN; 16];
/// let invstd = [(1.0 / (5.5f64 + 1e-5).sqrt()) as f32];
/// let p = BackwardParams { mean: &[5.0], invstd: &invstd, gamma: &[2.0] };
/// let (mut dgamma, mut dbeta) = ([0.0f32], [0.0f32]);
/// backward(&x, &dy, &mut dx, Shape::new(2, 1, 2, 4), Layout::Nchw, &p,
///          ForwardStats::Batch, &mut dgamma, &mut dbeta)?;
/// assert_eq!(dbeta[0], 16.0);
/// assert!(dgamma[0].abs() < 1e-5);
/// assert!(dx.iter().all(|d| d.abs() < 1e-5));
/// # Ok::<(), batchnorm::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &BackwardParams,
    stats: ForwardStats,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<(), Error> {
    backward_at(
        Isa::detected(),
        x,
        dy,
        Some(dx),
        shape,
        layout,
        p,
        stats,
        None,
        dgamma,
        dbeta,
    )
}

/// [`backward`] in place: `dy` is overwritten with `dx` (bitwise the values [`backward`]
/// writes, except that a NaN may differ in sign and payload: the compiler may order the
/// two operands of a sum of two NaNs differently). It saves the memory of a second gradient buffer at no cost: each value of
/// `dy` is read for the sums and again just before its `dx` is written in its place.
///
/// # Errors
/// As [`backward`] (without `dx`). On error nothing is written, `dy` included.
#[allow(clippy::too_many_arguments)]
pub fn backward_in_place(
    x: &[f32],
    dy: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &BackwardParams,
    stats: ForwardStats,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<(), Error> {
    backward_in_place_at(
        Isa::detected(),
        x,
        dy,
        shape,
        layout,
        p,
        stats,
        None,
        dgamma,
        dbeta,
    )
}

/// [`backward`] through the activation the forward fused (`fwd.act`, with the forward's
/// output `fwd.y`): `dy` is first masked, in the same pass, to `dy` where the activation
/// passed its input through and 0 where it clamped it, then everything is as in
/// [`backward`] with the masked `dy` (`dbeta` is the sum of the masked `dy`, and so on).
///
/// ReLU keeps the gradient where `y > 0`, `Clamp { min, max }` where `min < y < max`
/// (ReLU6 included); a NaN `y` keeps it (PyTorch's `threshold_backward` and
/// `hardtanh_backward`, which compare the same way). [`Activation::Identity`] keeps
/// everything (bitwise [`backward`], NaN signs and payloads aside). The other activations (leaky ReLU, hard swish,
/// SiLU) need their derivative at the activation's input, which `y` does not give
/// exactly: they are refused.
///
/// # Errors
/// As [`backward`], and [`Error::LengthMismatch`] naming `y`; [`Error::InvalidParameter`]
/// naming `Clamp.min` or `Clamp.max` as [`fn@crate::normalize`] does, or naming `act` (value
/// NaN) for an activation other than `Identity`, `Relu` and `Clamp`.
#[allow(clippy::too_many_arguments)]
pub fn backward_activated(
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &BackwardParams,
    stats: ForwardStats,
    fwd: Activated,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<(), Error> {
    backward_at(
        Isa::detected(),
        x,
        dy,
        Some(dx),
        shape,
        layout,
        p,
        stats,
        Some(fwd),
        dgamma,
        dbeta,
    )
}

/// [`backward_activated`] in place: `dy` is overwritten with `dx`.
///
/// # Errors
/// As [`backward_activated`] (without `dx`). On error nothing is written.
#[allow(clippy::too_many_arguments)]
pub fn backward_activated_in_place(
    x: &[f32],
    dy: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &BackwardParams,
    stats: ForwardStats,
    fwd: Activated,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<(), Error> {
    backward_in_place_at(
        Isa::detected(),
        x,
        dy,
        shape,
        layout,
        p,
        stats,
        Some(fwd),
        dgamma,
        dbeta,
    )
}

/// [`backward`] and [`backward_activated`] at level `isa` (supported: checked by the
/// caller). `dx` is `Some` (an `Option` only so that the checks are shared).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_at(
    isa: Isa,
    x: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    shape: Shape,
    layout: Layout,
    p: &BackwardParams,
    stats: ForwardStats,
    fwd: Option<Activated>,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<(), Error> {
    let dx_len = dx.as_ref().map(|d| d.len());
    let d = check::backward(
        x.len(),
        dy.len(),
        dx_len,
        shape,
        p,
        fwd.as_ref(),
        dgamma.len(),
        dbeta.len(),
    )?;
    let Some(dx) = dx else { return Ok(()) };
    let g = Grads { dgamma, dbeta };
    // `dx` streamed where the plan says so.
    if crate::plan::stream_dx(isa, x.len()) {
        let io = &mut OutOfPlace::streaming(dy, dx);
        run(isa, io, x, d, layout, p, stats, fwd, g);
    } else {
        let io = &mut OutOfPlace::new(dy, dx);
        run(isa, io, x, d, layout, p, stats, fwd, g);
    }
    Ok(())
}

/// [`backward_in_place`] and [`backward_activated_in_place`] at level `isa`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_in_place_at(
    isa: Isa,
    x: &[f32],
    dy: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &BackwardParams,
    stats: ForwardStats,
    fwd: Option<Activated>,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<(), Error> {
    let d = check::backward(
        x.len(),
        dy.len(),
        None,
        shape,
        p,
        fwd.as_ref(),
        dgamma.len(),
        dbeta.len(),
    )?;
    let g = Grads { dgamma, dbeta };
    run(isa, &mut InPlace(dy), x, d, layout, p, stats, fwd, g);
    Ok(())
}
