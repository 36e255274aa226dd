//! Training forward: the batch statistics, the normalized output, the running-statistics
//! update and the values a backward pass needs, in one call.

use crate::check;
use crate::error::Error;
use crate::moments::Moments;
use crate::normalize::act::{Act, WithAct, with_act};
use crate::normalize::consts::{ScaleFrom, Src};
use crate::normalize::io::{InPlace, Io, OutOfPlace};
use crate::normalize::{Activation, LayoutDims, planar, run_with};
use crate::plan::{self, Kernel};
use crate::shape::{Dims, Layout, Shape, check_len};
use crate::simd::{Isa, Simd, WithSimd, dispatch};
use crate::stats::{self, Method};

/// How running statistics absorb a batch's statistics. Each convention is chosen
/// explicitly; the constants give each framework's default.
///
/// More conventions may be added: a `match` on this enum outside the crate needs a `_`
/// arm.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Momentum {
    /// PyTorch's `momentum = m`: `running = (1 - m) * running + m * batch`, with the
    /// **unbiased** batch variance `M2 / (count - 1)`. `m` in `[0, 1]`; PyTorch's default is 0.1.
    PyTorch(f32),
    /// ONNX's `momentum = m`: `running = m * running + (1 - m) * batch`, with the **biased**
    /// batch variance `M2 / count`. `m` in `[0, 1]`; ONNX's default is 0.9.
    Onnx(f32),
    /// PyTorch's `momentum = None`, a cumulative average over every batch seen:
    /// `running = (1 - f) * running + f * batch` with `f = 1 / (prior_batches + 1)` and the
    /// unbiased batch variance. The first batch (`prior_batches == 0`) replaces the running
    /// statistics.
    Cumulative {
        /// How many batches the running statistics already average, not counting this one
        /// (PyTorch's `num_batches_tracked` before the call).
        prior_batches: u64,
    },
}

impl Momentum {
    /// PyTorch's default, `momentum = 0.1`.
    pub const PYTORCH_DEFAULT: Momentum = Momentum::PyTorch(0.1);
    /// ONNX's default, `momentum = 0.9`.
    pub const ONNX_DEFAULT: Momentum = Momentum::Onnx(0.9);

    /// Whether the update uses the unbiased batch variance (which needs 2 values).
    pub(crate) fn unbiased(self) -> bool {
        !matches!(self, Momentum::Onnx(_))
    }

    /// `(weight of the old running value, weight of the batch value)`.
    fn weights(self) -> (f64, f64) {
        match self {
            Momentum::PyTorch(m) => (1.0 - f64::from(m), f64::from(m)),
            Momentum::Onnx(m) => (f64::from(m), 1.0 - f64::from(m)),
            Momentum::Cumulative { prior_batches } => {
                let f = 1.0 / (prior_batches as f64 + 1.0);
                (1.0 - f, f)
            }
        }
    }

    /// What the batch's `M2` is multiplied by for the variance the running one moves
    /// toward: `1/(count - 1)` (unbiased; NaN below 2 values) or `1/count`. One reciprocal
    /// per block of channels ([`Recorder`]'s `Sink::block`), not a divide per channel:
    /// with two divides per channel, the recording of 1280 channels took a fifth of
    /// 1x1280x7x7's training forward.
    pub(crate) fn var_scale(self, count: u64) -> f64 {
        match (self.unbiased(), count) {
            (true, 0 | 1) => f64::NAN,
            (true, _) => 1.0 / (count - 1) as f64,
            (false, _) => 1.0 / count as f64,
        }
    }
}

/// Per-channel running statistics a training forward updates in place (one value per
/// channel each), and the convention it uses.
#[derive(Debug)]
pub struct RunningStats<'a> {
    /// Running mean, updated in place.
    pub mean: &'a mut [f32],
    /// Running variance, updated in place.
    pub var: &'a mut [f32],
    /// How the batch's statistics enter them.
    pub momentum: Momentum,
}

/// What a training forward writes for the backward pass, one value per channel each.
#[derive(Debug)]
pub struct SavedStats<'a> {
    /// The batch mean.
    pub mean: &'a mut [f32],
    /// `1 / sqrt(var + eps)`, `var` the biased batch variance, computed in f64 from the
    /// f64 variance and rounded once (see [`fn@crate::normalize`] for how the reciprocal
    /// square root is taken).
    pub invstd: &'a mut [f32],
}

/// The parameters of a training forward besides the buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainParams<'a> {
    /// Per-channel scale `gamma`.
    pub gamma: &'a [f32],
    /// Per-channel shift `beta`.
    pub beta: &'a [f32],
    /// Added to the variance before the square root; finite and `>= 0`.
    pub eps: f32,
    /// How the batch statistics are computed.
    pub method: Method,
    /// The activation applied after the affine step.
    pub act: Activation,
}

/// Training-mode batch normalization, in one call: computes each channel's batch mean and
/// biased variance (with `p.method`), normalizes `x` into `y` with them
/// (`y = act((x - mean) * gamma / sqrt(var + eps) + beta)`), updates `running` when given,
/// and writes `saved.mean` and `saved.invstd = 1 / sqrt(var + eps)`.
///
/// The statistics are those [`crate::batch_stats`] computes (`saved.mean` is bitwise its
/// mean); `y = act((x - mean) * scale + beta)` with exactly the saved values, `mean` the
/// saved mean and `scale = gamma * invstd` (in f64, rounded once), so a backward pass sees
/// the numbers the forward used. `invstd` comes from the f64 variance, so channels whose
/// variance overflows f32 (values beyond ~1e19) still normalize correctly. In NCHW,
/// channels are taken a few at a time: their statistics are computed and they are
/// normalized at once while they are still in cache, so `x` comes from memory about once.
///
/// `x` and `y` hold `shape.numel()` values in `layout`; `gamma`, `beta`, `saved.*` and
/// `running.*` hold `shape.c` values. The running statistics are updated in f64 from the
/// batch's f64 moments, then rounded.
///
/// Range: as in [`fn@crate::normalize`], `y` is computed as `x - mean` in f32, then times
/// `scale`: when `|x - mean|` overflows f32 (a channel spanning more than `f32::MAX`,
/// e.g. `f32::MAX` among values near `-f32::MAX`) that element's output is `±inf` (then
/// activated), even where the true result is finite. The statistics themselves stay
/// right.
///
/// # Errors
/// - [`Error::ShapeOverflow`] when `n*c*h*w` overflows `usize` (never for a shape with a
///   zero dimension: see [`Shape`]);
/// - [`Error::LengthMismatch`] naming `x`, `y`, `gamma`, `beta`, `saved.mean`,
///   `saved.invstd`, `running.mean` or `running.var`;
/// - [`Error::EmptyChannel`] when `n*h*w == 0` and `c > 0`;
/// - [`Error::TooFewValues`] when a channel has 1 value and the running update needs the
///   unbiased variance ([`Momentum::PyTorch`], [`Momentum::Cumulative`]), as PyTorch refuses;
/// - [`Error::InvalidParameter`] naming `eps`, `momentum` (NaN or outside `[0, 1]`),
///   `Clamp.min` or `Clamp.max`.
///
/// On error no output is written.
///
/// # Example
/// The worked example: one channel of `1..=8` and `2..=9`, PyTorch's momentum 0.1.
/// ```
/// use batchnorm::*;
///
/// let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
/// let mut y = vec![0.0f32; 16];
/// let p = TrainParams { gamma: &[2.0], beta: &[0.5], eps: 1e-5, method: Method::Welford,
///                       act: Activation::Identity };
/// let (mut rmean, mut rvar) = ([0.0f32], [1.0f32]);
/// let (mut mean, mut invstd) = ([0.0f32], [0.0f32]);
/// train_forward(&x, &mut y, Shape::new(2, 1, 2, 4), Layout::Nchw, &p,
///     Some(RunningStats { mean: &mut rmean, var: &mut rvar, momentum: Momentum::PYTORCH_DEFAULT }),
///     SavedStats { mean: &mut mean, invstd: &mut invstd })?;
/// assert_eq!(mean[0], 5.0);
/// assert_eq!(rmean[0], 0.5);
/// assert!((rvar[0] - (0.9 + 0.1 * 88.0 / 15.0)).abs() < 1e-6);
/// assert!((y[0] - (-2.9112)).abs() < 1e-4);
/// # Ok::<(), batchnorm::Error>(())
/// ```
pub fn train_forward(
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    running: Option<RunningStats<'_>>,
    saved: SavedStats<'_>,
) -> Result<(), Error> {
    train_forward_at(Isa::detected(), x, y, shape, layout, p, running, saved)
}

/// [`train_forward`] at level `isa` (supported: checked by the caller).
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_forward_at(
    isa: Isa,
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    running: Option<RunningStats<'_>>,
    saved: SavedStats<'_>,
) -> Result<(), Error> {
    let d = check::train(x.len(), shape, p, running.as_ref(), &saved)?;
    check_len("y", x.len(), y.len())?;
    if x.is_empty() {
        // Only possible with no channels: nothing to write, and no loop over `n` (which
        // may be huge) empty samples.
        return Ok(());
    }
    forward(
        isa,
        &mut OutOfPlace::new(x, y),
        d,
        layout,
        p,
        running,
        saved,
    );
    Ok(())
}

/// [`train_forward`] in place: `x` is overwritten with `y` (bitwise the same values).
///
/// # Errors
/// As [`train_forward`] (without `y`). On error nothing is written, `x` included.
pub fn train_forward_in_place(
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    running: Option<RunningStats<'_>>,
    saved: SavedStats<'_>,
) -> Result<(), Error> {
    train_forward_in_place_at(Isa::detected(), x, shape, layout, p, running, saved)
}

/// [`train_forward_in_place`] at level `isa` (supported: checked by the caller).
pub(crate) fn train_forward_in_place_at(
    isa: Isa,
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    running: Option<RunningStats<'_>>,
    saved: SavedStats<'_>,
) -> Result<(), Error> {
    let d = check::train(x.len(), shape, p, running.as_ref(), &saved)?;
    if x.is_empty() {
        return Ok(());
    }
    forward(isa, &mut InPlace(x), d, layout, p, running, saved);
    Ok(())
}

/// Records each channel's batch moments: running update, saved mean, and
/// `invstd = 1/sqrt(var + eps)` from the f64 variance, eight channels at a time.
struct Recorder<'a> {
    running: Option<RunningStats<'a>>,
    saved: SavedStats<'a>,
    eps: f32,
    /// Channels whose invstd is not computed yet, and their variances.
    pending: ([usize; 8], [f64; 8], usize),
}

impl<'a> Recorder<'a> {
    fn new(running: Option<RunningStats<'a>>, saved: SavedStats<'a>, eps: f32) -> Self {
        Recorder {
            running,
            saved,
            eps,
            pending: ([0; 8], [1.0; 8], 0),
        }
    }

    fn record(&mut self, k: usize, m: Moments) {
        if let Some(r) = &mut self.running {
            let (old, new) = r.momentum.weights();
            let bvar = m.m2 * r.momentum.var_scale(m.count);
            r.mean[k] = (old * f64::from(r.mean[k]) + new * m.mean) as f32;
            r.var[k] = (old * f64::from(r.var[k]) + new * bvar) as f32;
        }
        self.saved.mean[k] = m.mean as f32;
        let (ks, vs, n) = &mut self.pending;
        ks[*n] = k;
        vs[*n] = m.m2 * (1.0 / m.count as f64);
        *n += 1;
        if *n == 8 {
            self.flush();
        }
    }

    /// Computes the pending channels' invstd.
    fn flush(&mut self) {
        let (ks, vs, n) = &mut self.pending;
        let inv = crate::simd::inv_sqrt(*vs, self.eps);
        for (k, v) in ks.iter().zip(inv).take(*n) {
            self.saved.invstd[*k] = v;
        }
        *n = 0;
    }
}

/// The statistics kernels give a [`Recorder`] blocks of channels: each step of
/// [`Recorder::record`] becomes a loop over the block (one call, not one per channel;
/// per channel, the recording was a third of 1x1280x7x7's training forward), with the
/// same operations in the same order, so the same bits.
impl stats::Sink for Recorder<'_> {
    fn one(&mut self, c: usize, m: Moments) {
        self.record(c, m);
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn block(&mut self, c0: usize, count: u64, mean: &[f64], m2: &[f64]) {
        let n = mean.len().min(m2.len());
        let r = c0..c0.saturating_add(n);
        let fits = |v: &[f32]| v.len() >= r.end;
        let running_fits = self
            .running
            .as_ref()
            .is_none_or(|run| fits(run.mean) && fits(run.var));
        if !(running_fits && fits(self.saved.mean) && fits(self.saved.invstd)) {
            return stats::each(self, c0, count, mean, m2);
        }
        let (mean, m2) = (&mean[..n], &m2[..n]);
        let inv_count = 1.0 / count as f64;
        if let Some(run) = &mut self.running {
            let (old, new) = run.momentum.weights();
            for (o, m) in run.mean[r.clone()].iter_mut().zip(mean) {
                *o = (old * f64::from(*o) + new * m) as f32;
            }
            let scale = run.momentum.var_scale(count);
            for (o, q) in run.var[r.clone()].iter_mut().zip(m2) {
                *o = (old * f64::from(*o) + new * (stats::clamp_m2(*q) * scale)) as f32;
            }
        }
        for (o, m) in self.saved.mean[r.clone()].iter_mut().zip(mean) {
            *o = *m as f32;
        }
        let invstd = &mut self.saved.invstd[r];
        for (out, q) in invstd.chunks_mut(8).zip(m2.chunks(8)) {
            let mut vs = [1.0f64; 8];
            for (v, q) in vs.iter_mut().zip(q) {
                *v = stats::clamp_m2(*q) * inv_count;
            }
            for (o, v) in out.iter_mut().zip(crate::simd::inv_sqrt(vs, self.eps)) {
                *o = v;
            }
        }
    }
}

impl Recorder<'_> {
    /// The normalize constants of the recorded channels (after a [`Recorder::flush`]):
    /// the saved mean, `scale = gamma * invstd`, `p`'s beta.
    fn src<'s>(&'s self, p: &'s TrainParams) -> Src<'s> {
        Src {
            mean: self.saved.mean,
            beta: p.beta,
            scale: ScaleFrom::Invstd {
                gamma: p.gamma,
                invstd: self.saved.invstd,
            },
        }
    }
}

/// The training forward on validated arguments.
fn forward<I: Io>(
    isa: Isa,
    io: &mut I,
    d: Dims,
    layout: Layout,
    p: &TrainParams,
    running: Option<RunningStats<'_>>,
    saved: SavedStats<'_>,
) {
    struct Forward<'a, 'b, I> {
        io: &'a mut I,
        d: Dims,
        layout: Layout,
        p: &'a TrainParams<'a>,
        rec: &'a mut Recorder<'b>,
    }
    impl<I: Io> WithSimd for Forward<'_, '_, I> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) {
            let act = self.p.act;
            with_act(s, act, WithS { s, f: self });
        }
    }
    struct WithS<'a, 'b, S, I> {
        s: S,
        f: Forward<'a, 'b, I>,
    }
    impl<S: Simd, I: Io> WithAct<S::F> for WithS<'_, '_, S, I> {
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn call<A: Act<S::F>>(self, act: A) {
            let s = self.s;
            let Forward {
                io,
                d,
                layout,
                p,
                rec,
            } = self.f;
            let fused = match plan::nchw_train(d.count) {
                Kernel::NchwTrainFused { channels } => Some(channels),
                _ => None,
            };
            match (d.layout_dims(layout), fused) {
                (LayoutDims::Planar { n, c, plane }, Some(group)) => {
                    // Groups of channels: statistics, then normalize while cached.
                    let mut k0 = 0;
                    while k0 < c {
                        let k1 = c.min(k0 + group);
                        stats::planar_channel_range(s, io.src(), d, p.method, k0..k1, &mut *rec);
                        rec.flush();
                        planar::channels(s, io, n, c, plane, k0..k1, &rec.src(p), act);
                        k0 = k1;
                    }
                }
                (ld, _) => {
                    stats::moments_with(s, io.src(), d, layout, p.method, &mut *rec);
                    rec.flush();
                    run_with(s, io, ld, &rec.src(p), act);
                }
            }
        }
    }
    let mut rec = Recorder::new(running, saved, p.eps);
    dispatch(
        isa,
        Forward {
            io,
            d,
            layout,
            p,
            rec: &mut rec,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Sink;

    /// A block handed to a [`Recorder`] at once and channel by channel (as a non-finite
    /// block goes) gives the same bits in every output, a tiny negative `M2` counting as 0
    /// and NaN staying NaN; channels outside the block are not written. Both momentum
    /// conventions, and one value per channel (no unbiased variance).
    #[test]
    fn recorder_block_is_its_channels_one_by_one() {
        let mean = [1.5, -2.25e7, 3.0e-30, f64::NAN, 0.1, 4.0, -1.0, 2.0, 8.0];
        let m2 = [-1e-30, 2.5, 7.0e-3, 1.0, f64::NAN, 0.0, 1e30, 3.0, 0.5];
        for momentum in [Momentum::PYTORCH_DEFAULT, Momentum::ONNX_DEFAULT] {
            for count in [1u64, 3] {
                let run = |by_block: bool| {
                    let mut o = [[-9.0f32; 11]; 4];
                    let [rm, rv, sm, si] = &mut o;
                    for (i, (m, v)) in rm.iter_mut().zip(rv.iter_mut()).enumerate() {
                        (*m, *v) = (i as f32 - 3.0, 0.5 + i as f32);
                    }
                    let running = RunningStats {
                        mean: rm,
                        var: rv,
                        momentum,
                    };
                    let saved = SavedStats {
                        mean: sm,
                        invstd: si,
                    };
                    let mut rec = Recorder::new(Some(running), saved, 1e-5);
                    if by_block {
                        rec.block(1, count, &mean, &m2);
                    } else {
                        stats::each(&mut rec, 1, count, &mean, &m2);
                    }
                    rec.flush();
                    // Any NaN as one pattern: a NaN's sign and payload are not specified
                    // (Miri picks them at random).
                    o.map(|v| v.map(|v| if v.is_nan() { f32::NAN } else { v }.to_bits()))
                };
                let (block, one) = (run(true), run(false));
                assert_eq!(block, one, "{momentum:?} count {count}");
                let [rm, _, sm, si] = block.map(|v| v.map(f32::from_bits));
                assert_eq!(
                    (rm[0], rm[10], sm[0], sm[10], si[10]),
                    (-3.0, 7.0, -9.0, -9.0, -9.0)
                );
                assert_eq!(sm[1], 1.5);
                // Variance 0 (the clamped -1e-30): invstd = 1/sqrt(eps).
                assert_eq!(si[1], (1.0 / f64::from(1e-5f32).sqrt()) as f32);
                assert!(sm[4].is_nan() && si[5].is_nan());
            }
        }
    }
}
