//! Runs a test body once per instruction-set level this CPU supports, with the crate's
//! kernel functions shadowed by versions that run at the level of the current pass. Tests
//! import `batch_stats`, `normalize`, … from here instead of from the crate, and wrap their
//! bodies in [`each_isa`] (or [`try_each_isa`] inside proptests), so one `cargo test`
//! checks every level against the same expectations.
#![allow(dead_code)]

use batchnorm::{
    Activated, Activation, BackwardParams, Error, ForwardStats, Isa, Kernels, Layout, Method,
    Moments, NormParams, Prepared, RunningStats, SavedStats, Shape, TrainParams,
};
use std::cell::Cell;

thread_local! {
    static CURRENT: Cell<Option<Isa>> = const { Cell::new(None) };
}

/// The level of the current pass: the one [`each_isa`] set, or the detected one.
pub fn current_isa() -> Isa {
    CURRENT.with(|c| c.get()).unwrap_or_else(Isa::detected)
}

/// The kernels at [`current_isa`].
pub fn kernels() -> Kernels {
    Kernels::new(current_isa()).expect("a supported level")
}

/// Sets the current level for the duration of `f`, naming it if `f` panics.
fn at<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<Isa>);
    impl Drop for Reset {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!(
                    "(the failure above is at instruction-set level `{}`)",
                    current_isa()
                );
            }
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(CURRENT.with(|c| c.replace(Some(isa))));
    f()
}

/// Runs `f` once per supported level, lowest first.
pub fn each_isa(mut f: impl FnMut()) {
    for isa in Isa::supported() {
        at(isa, &mut f);
    }
}

/// [`each_isa`] for fallible bodies (proptests): stops at the first error, which names
/// the level.
pub fn try_each_isa<E: std::fmt::Display>(
    mut f: impl FnMut() -> Result<(), E>,
) -> Result<(), String> {
    for isa in Isa::supported() {
        at(isa, &mut f).map_err(|e| format!("at instruction-set level `{isa}`: {e}"))?;
    }
    Ok(())
}

/// [`batchnorm::batch_stats`] at the current level.
pub fn batch_stats(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    kernels().batch_stats(x, shape, layout, method, mean, var)
}

/// [`batchnorm::accumulate_moments`] at the current level.
pub fn accumulate_moments(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    kernels().accumulate_moments(x, shape, layout, method, acc)
}

/// [`batchnorm::normalize`] at the current level.
pub fn normalize(
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    kernels().normalize(x, y, shape, layout, p, act)
}

/// [`batchnorm::normalize_in_place`] at the current level.
pub fn normalize_in_place(
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    kernels().normalize_in_place(x, shape, layout, p, act)
}

/// [`batchnorm::normalize_prepared`] at the current level.
pub fn normalize_prepared(
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    kernels().normalize_prepared(x, y, shape, layout, p, act)
}

/// [`batchnorm::normalize_prepared_in_place`] at the current level.
pub fn normalize_prepared_in_place(
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    kernels().normalize_prepared_in_place(x, shape, layout, p, act)
}

/// [`batchnorm::train_forward`] at the current level.
#[allow(clippy::too_many_arguments)]
pub fn train_forward(
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    running: Option<RunningStats<'_>>,
    saved: SavedStats<'_>,
) -> Result<(), Error> {
    kernels().train_forward(x, y, shape, layout, p, running, saved)
}

/// [`batchnorm::train_forward_in_place`] at the current level.
pub fn train_forward_in_place(
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &TrainParams,
    running: Option<RunningStats<'_>>,
    saved: SavedStats<'_>,
) -> Result<(), Error> {
    kernels().train_forward_in_place(x, shape, layout, p, running, saved)
}

/// [`batchnorm::backward`] at the current level.
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
    kernels().backward(x, dy, dx, shape, layout, p, stats, dgamma, dbeta)
}

/// [`batchnorm::backward_in_place`] at the current level.
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
    kernels().backward_in_place(x, dy, shape, layout, p, stats, dgamma, dbeta)
}

/// [`batchnorm::backward_activated`] at the current level.
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
    kernels().backward_activated(x, dy, dx, shape, layout, p, stats, fwd, dgamma, dbeta)
}

/// [`batchnorm::backward_activated_in_place`] at the current level.
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
    kernels().backward_activated_in_place(x, dy, shape, layout, p, stats, fwd, dgamma, dbeta)
}

/// [`batchnorm::batch_stats_strided`] at the current level.
pub fn batch_stats_strided(
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    kernels().batch_stats_strided(x, x_stride, shape, method, mean, var)
}

/// [`batchnorm::accumulate_moments_strided`] at the current level.
pub fn accumulate_moments_strided(
    x: &[f32],
    x_stride: usize,
    shape: Shape,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    kernels().accumulate_moments_strided(x, x_stride, shape, method, acc)
}

/// [`batchnorm::normalize_strided`] at the current level.
pub fn normalize_strided(
    x: &[f32],
    x_stride: usize,
    y: &mut [f32],
    y_stride: usize,
    shape: Shape,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    kernels().normalize_strided(x, x_stride, y, y_stride, shape, p, act)
}

/// [`batchnorm::normalize_strided_in_place`] at the current level.
pub fn normalize_strided_in_place(
    x: &mut [f32],
    x_stride: usize,
    shape: Shape,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    kernels().normalize_strided_in_place(x, x_stride, shape, p, act)
}

/// [`batchnorm::normalize_prepared_strided`] at the current level.
pub fn normalize_prepared_strided(
    x: &[f32],
    x_stride: usize,
    y: &mut [f32],
    y_stride: usize,
    shape: Shape,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    kernels().normalize_prepared_strided(x, x_stride, y, y_stride, shape, p, act)
}

/// [`batchnorm::normalize_prepared_strided_in_place`] at the current level.
pub fn normalize_prepared_strided_in_place(
    x: &mut [f32],
    x_stride: usize,
    shape: Shape,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    kernels().normalize_prepared_strided_in_place(x, x_stride, shape, p, act)
}

/// Stack for the tests that run the kernels in a small thread: 64 KiB in optimized
/// builds, the budget the crate promises; unoptimized (debug) builds keep every inlined
/// lane operation's temporaries in its own stack slot and get 1 MiB.
pub const KERNEL_STACK: usize = if cfg!(debug_assertions) {
    1 << 20
} else {
    64 << 10
};
