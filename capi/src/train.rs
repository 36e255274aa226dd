//! Training forward: `bn_train_forward`, out of place or in place (`y == x`), with or
//! without running statistics and saved statistics.

use crate::enums::{self, BnLayout};
use crate::raw::{self, Buf, Region, check_all, in_place};
use crate::status::{BnStatus, Fail, Names, Status, fail, guard};
use crate::types::{BnRunningStats, BnSavedStats, BnShape, BnTrainParams};
use batchnorm::{RunningStats, SavedStats, Shape, TrainParams};

/// The library names `bn_train_forward`'s arguments as C does.
const NAMES: &Names = &[
    ("gamma", "params->gamma"),
    ("beta", "params->beta"),
    ("eps", "params->eps"),
    ("Clamp.min", "params->act.clamp_min"),
    ("Clamp.max", "params->act.clamp_max"),
    ("LeakyRelu.slope", "params->act.slope"),
    ("running.mean", "running->mean"),
    ("running.var", "running->var"),
    ("momentum", "running->momentum"),
    ("saved.mean", "saved->mean"),
    ("saved.invstd", "saved->invstd"),
];

/// The most channels `bn_train_forward` takes with `saved == NULL` in a `no_std` build:
/// the statistics it does not return then live on the stack (2 KiB). Builds with `std`
/// allocate them instead, for any number of channels.
pub const NO_STD_SCRATCH_CHANNELS: usize = 256;

/// Training-mode batch normalization in one call ([`batchnorm::train_forward`]): each
/// channel's batch mean and biased variance (with `params->method`), `x` normalized into
/// `y` with them and `params->act` applied, the running statistics updated (when
/// `running` is not NULL), and `saved->mean` and `saved->invstd = 1 / sqrt(var + eps)`
/// written for a backward pass (when `saved` is not NULL).
///
/// `x` holds `x_len == n*c*h*w` values of `shape` in `layout`, `y` receives as many;
/// `y == x` works in place ([`batchnorm::train_forward_in_place`]). Every per-channel
/// array holds `c` values. `running->momentum_kind` picks the convention:
/// `BN_MOMENTUM_PYTORCH` (`running = (1-m)*running + m*batch`, unbiased batch variance),
/// `BN_MOMENTUM_ONNX` (`running = m*running + (1-m)*batch`, biased), or
/// `BN_MOMENTUM_CUMULATIVE` (PyTorch's `momentum=None`: the average over
/// `prior_batches + 1` batches, unbiased). With `saved == NULL` the saved statistics are
/// computed into scratch memory and dropped: allocated with `std`; on the stack without
/// it, for at most [`NO_STD_SCRATCH_CHANNELS`] channels.
///
/// Returns `BN_OK` or `BN_ERR_BAD_ENUM`, `BN_ERR_NULL_POINTER` (also for a NULL `params`),
/// `BN_ERR_MISALIGNED`, `BN_ERR_OVERLAP`, `BN_ERR_LENGTH_MISMATCH`,
/// `BN_ERR_SHAPE_OVERFLOW`, `BN_ERR_EMPTY_CHANNEL`, `BN_ERR_TOO_FEW_VALUES` (one value per
/// channel with an unbiased running update), `BN_ERR_INVALID_PARAMETER` (`eps`,
/// `momentum` outside `[0, 1]`, clamp bounds, slope), `BN_ERR_OUT_OF_MEMORY` (`saved ==
/// NULL` and no room for the scratch statistics), `BN_ERR_INTERNAL`. On error nothing is
/// written.
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
    shape: BnShape,
    layout: BnLayout,
    params: *const BnTrainParams,
    running: *const BnRunningStats,
    saved: *const BnSavedStats,
) -> BnStatus {
    guard(NAMES, || {
        let layout = enums::layout(layout)?;
        let p = raw::read("params", params)?;
        let method = enums::method(p.method, "params->method")?;
        let act = enums::activation(p.act, "params->act")?;
        let running = raw::read_opt("running", running)?;
        let momentum = running
            .map(|r| enums::momentum(r.momentum_kind, r.momentum, r.prior_batches))
            .transpose()?;
        let saved = raw::read_opt("saved", saved)?;

        let gamma = Buf::input("params->gamma", p.gamma, p.gamma_len);
        let beta = Buf::input("params->beta", p.beta, p.beta_len);
        let none = || Buf::output("", core::ptr::null_mut(), 0);
        let (rmean, rvar) = match running {
            Some(r) => (
                Buf::output("running->mean", r.mean, r.mean_len),
                Buf::output("running->var", r.var, r.var_len),
            ),
            None => (none(), none()),
        };
        let (smean, sinvstd) = match saved {
            Some(s) => (
                Buf::output("saved->mean", s.mean, s.mean_len),
                Buf::output("saved->invstd", s.invstd, s.invstd_len),
            ),
            None => (none(), none()),
        };
        let x = Buf::input("x", x, x_len);
        let y = Buf::output("y", y, y_len);
        let xy = in_place(x, y)?;
        let (first, second) = match xy {
            Some(xy) => (xy.region(), Ok(Region::NONE)),
            None => (x.region(), y.region()),
        };
        check_all([
            first,
            second,
            gamma.region(),
            beta.region(),
            rmean.region(),
            rvar.region(),
            smean.region(),
            sinvstd.region(),
        ])?;

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
        let shape = Shape::from(shape);
        let run = |saved: SavedStats<'_>| -> Result<(), Fail> {
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
        };
        match saved {
            Some(_) => run(SavedStats {
                mean: smean.slice_mut()?,
                invstd: sinvstd.slice_mut()?,
            }),
            None => with_scratch(scratch_channels(shape, x_len), |mean, invstd| {
                run(SavedStats { mean, invstd })
            }),
        }
    })
}

/// The channels to make scratch statistics for: `shape.c` when `x` holds a nonempty
/// tensor of `shape` (so the scratch is no larger than `x`), else 0 (the library then
/// refuses the shape or `x_len` before it looks at the statistics).
fn scratch_channels(shape: Shape, x_len: usize) -> usize {
    match shape.numel() {
        Ok(numel) if numel == x_len && numel > 0 => shape.c,
        _ => 0,
    }
}

/// Calls `f` with two zeroed scratch arrays of `c` floats (allocated).
#[cfg(feature = "std")]
fn with_scratch(
    c: usize,
    f: impl FnOnce(&mut [f32], &mut [f32]) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let mut scratch: Vec<f32> = Vec::new();
    let oom = || {
        fail!(
            Status::OutOfMemory,
            "no memory for the statistics of {c} channels that `saved` (NULL) would hold"
        )
    };
    let len = c.checked_mul(2).ok_or_else(oom)?;
    scratch.try_reserve_exact(len).map_err(|_| oom())?;
    scratch.resize(len, 0.0);
    let (mean, invstd) = scratch.split_at_mut(c);
    f(mean, invstd)
}

/// Calls `f` with two zeroed scratch arrays of `c` floats (on the stack, up to
/// [`NO_STD_SCRATCH_CHANNELS`]; kept out of line so only calls with `saved == NULL` use
/// that stack).
#[cfg(not(feature = "std"))]
#[inline(never)]
fn with_scratch(
    c: usize,
    f: impl FnOnce(&mut [f32], &mut [f32]) -> Result<(), Fail>,
) -> Result<(), Fail> {
    if c > NO_STD_SCRATCH_CHANNELS {
        return Err(fail!(
            Status::OutOfMemory,
            "`saved` is NULL and c = {c}: this no_std build keeps the statistics of at most \
             {NO_STD_SCRATCH_CHANNELS} channels on the stack; pass `saved`"
        ));
    }
    let mut scratch = [0.0f32; 2 * NO_STD_SCRATCH_CHANNELS];
    let (mean, invstd) = scratch[..2 * c].split_at_mut(c);
    f(mean, invstd)
}

/// The `no_std` scratch limit, on the host (`cargo test -p batchnorm-capi
/// --no-default-features --lib`).
#[cfg(all(test, not(feature = "std")))]
mod no_std_tests {
    use super::*;
    use crate::enums::{BN_ACTIVATION_IDENTITY, BN_LAYOUT_NHWC, BN_METHOD_TWO_PASS};
    use crate::types::BnActivation;

    /// `bn_train_forward` on `c` channels of two values each, `saved` NULL.
    fn train_without_saved(c: usize) -> Option<Status> {
        const MAX: usize = NO_STD_SCRATCH_CHANNELS + 1;
        let x = [[1.0f32; MAX], [3.0f32; MAX]];
        let mut y = [[0.0f32; MAX]; 2];
        let (gamma, beta) = ([1.0f32; MAX], [0.0f32; MAX]);
        let p = BnTrainParams {
            gamma: gamma.as_ptr(),
            gamma_len: c,
            beta: beta.as_ptr(),
            beta_len: c,
            eps: 0.0,
            method: BN_METHOD_TWO_PASS,
            act: BnActivation {
                kind: BN_ACTIVATION_IDENTITY,
                ..BnActivation::default()
            },
        };
        let shape = BnShape {
            n: 2,
            c,
            h: 1,
            w: 1,
        };
        // Two rows of `c` channels (NHWC); each row array holds MAX >= c floats, and the
        // rows are contiguous in the 2-D arrays.
        let (x, y) = (x.as_ptr().cast::<f32>(), y.as_mut_ptr().cast::<f32>());
        // SAFETY: `x` and `y` hold 2*MAX >= 2*c floats, the params arrays MAX >= c each;
        // `running` and `saved` are NULL.
        let code = unsafe {
            bn_train_forward(
                x,
                2 * c,
                y,
                2 * c,
                shape,
                BN_LAYOUT_NHWC,
                &p,
                core::ptr::null(),
                core::ptr::null(),
            )
        };
        Status::from_code(code)
    }

    #[test]
    fn saved_null_works_up_to_the_scratch_limit() {
        assert_eq!(train_without_saved(3), Some(Status::Ok));
        assert_eq!(
            train_without_saved(NO_STD_SCRATCH_CHANNELS),
            Some(Status::Ok)
        );
        assert_eq!(
            train_without_saved(NO_STD_SCRATCH_CHANNELS + 1),
            Some(Status::OutOfMemory)
        );
    }
}
