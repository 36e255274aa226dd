//! [`Kernels`]: every kernel entry point at one chosen instruction-set level.

use crate::backward::{Activated, BackwardParams, ForwardStats, backward_at, backward_in_place_at};
use crate::error::Error;
use crate::moments::Moments;
use crate::normalize::{
    Activation, NormParams, Prepared, normalize_at, normalize_in_place_at, normalize_prepared_at,
    normalize_prepared_in_place_at,
};
use crate::plan::{Op, plan};
use crate::shape::{Layout, Shape};
use crate::simd::Isa;
use crate::stats::{Method, accumulate_moments_at, batch_stats_at};
use crate::train::{
    RunningStats, SavedStats, TrainParams, train_forward_at, train_forward_in_place_at,
};

/// The crate's kernels at one instruction-set level: the same functions as the crate's
/// free functions ([`crate::batch_stats`], [`crate::normalize`], …), which run at
/// [`Isa::detected`], but at the level this value was made for.
///
/// For tests and benchmarks that compare levels, and for users who want the same bits on
/// every machine (e.g. [`Isa::Portable`], or [`Isa::Avx2`] on a fleet of AVX2 and AVX-512
/// CPUs). The level is a property of the value, not global state: other threads and other
/// callers are not affected.
///
/// ```
/// use batchnorm::{Isa, Kernels, Layout, Method, Shape};
///
/// let x: Vec<f32> = (1..=8).chain(2..=9).map(|v| v as f32).collect();
/// let shape = Shape::new(2, 1, 2, 4);
/// for isa in Isa::supported() {
///     let k = Kernels::new(isa)?;
///     let (mut mean, mut var) = ([0.0f32], [0.0f32]);
///     k.batch_stats(&x, shape, Layout::Nchw, Method::TwoPass, &mut mean, &mut var)?;
///     assert_eq!((mean[0], var[0]), (5.0, 5.5));
/// }
/// # Ok::<(), batchnorm::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernels {
    isa: Isa,
}

impl Kernels {
    /// The kernels at level `isa`.
    ///
    /// # Errors
    /// [`Error::UnsupportedIsa`] when this CPU does not run `isa`.
    pub fn new(isa: Isa) -> Result<Kernels, Error> {
        if isa.is_supported() {
            Ok(Kernels { isa })
        } else {
            Err(Error::UnsupportedIsa {
                requested: isa,
                best: Isa::detected(),
            })
        }
    }

    /// The kernels at the best level this CPU runs: what the free functions use.
    pub fn detected() -> Kernels {
        Kernels {
            isa: Isa::detected(),
        }
    }

    /// The level these kernels run at.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// [`crate::batch_stats`] at this level.
    ///
    /// # Errors
    /// As [`crate::batch_stats`].
    pub fn batch_stats(
        &self,
        x: &[f32],
        shape: Shape,
        layout: Layout,
        method: Method,
        mean: &mut [f32],
        var: &mut [f32],
    ) -> Result<(), Error> {
        batch_stats_at(self.isa, x, shape, layout, method, mean, var)
    }

    /// [`crate::accumulate_moments`] at this level.
    ///
    /// # Errors
    /// As [`crate::accumulate_moments`].
    pub fn accumulate_moments(
        &self,
        x: &[f32],
        shape: Shape,
        layout: Layout,
        method: Method,
        acc: &mut [Moments],
    ) -> Result<(), Error> {
        accumulate_moments_at(self.isa, x, shape, layout, method, acc)
    }

    /// [`crate::normalize`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize`].
    pub fn normalize(
        &self,
        x: &[f32],
        y: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &NormParams,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_at(self.isa, x, y, shape, layout, p, act)
    }

    /// [`crate::normalize_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_in_place`].
    pub fn normalize_in_place(
        &self,
        x: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &NormParams,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_in_place_at(self.isa, x, shape, layout, p, act)
    }

    /// [`crate::normalize_prepared`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_prepared`].
    pub fn normalize_prepared(
        &self,
        x: &[f32],
        y: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &Prepared,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_prepared_at(self.isa, x, y, shape, layout, p, act)
    }

    /// [`crate::normalize_prepared_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_prepared_in_place`].
    pub fn normalize_prepared_in_place(
        &self,
        x: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &Prepared,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_prepared_in_place_at(self.isa, x, shape, layout, p, act)
    }

    /// [`crate::train_forward`] at this level.
    ///
    /// # Errors
    /// As [`crate::train_forward`].
    #[allow(clippy::too_many_arguments)]
    pub fn train_forward(
        &self,
        x: &[f32],
        y: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &TrainParams,
        running: Option<RunningStats<'_>>,
        saved: SavedStats<'_>,
    ) -> Result<(), Error> {
        train_forward_at(self.isa, x, y, shape, layout, p, running, saved)
    }

    /// [`crate::train_forward_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::train_forward_in_place`].
    pub fn train_forward_in_place(
        &self,
        x: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &TrainParams,
        running: Option<RunningStats<'_>>,
        saved: SavedStats<'_>,
    ) -> Result<(), Error> {
        train_forward_in_place_at(self.isa, x, shape, layout, p, running, saved)
    }

    /// [`crate::backward`] at this level.
    ///
    /// # Errors
    /// As [`crate::backward`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
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
            self.isa,
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

    /// [`crate::backward_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::backward_in_place`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_in_place(
        &self,
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
            self.isa, x, dy, shape, layout, p, stats, None, dgamma, dbeta,
        )
    }

    /// [`crate::backward_activated`] at this level.
    ///
    /// # Errors
    /// As [`crate::backward_activated`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_activated(
        &self,
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
            self.isa,
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

    /// [`crate::backward_activated_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::backward_activated_in_place`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_activated_in_place(
        &self,
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
            self.isa,
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

    /// The name of the kernel this level runs for `op` (`"stats"`, `"normalize"`,
    /// `"normalize_prepared"`, `"train"` or `"backward"`) on `shape` in `layout`, for benchmark reports;
    /// `None` for another `op` or a shape the operation refuses. Not part of the API: names
    /// may change.
    #[doc(hidden)]
    pub fn kernel_name(
        &self,
        op: &str,
        shape: Shape,
        layout: Layout,
    ) -> Option<impl core::fmt::Display + use<>> {
        let op = match op {
            "stats" => Op::Stats,
            "normalize" | "normalize_prepared" => Op::Normalize,
            "train" => Op::Train,
            "backward" => Op::Backward,
            _ => return None,
        };
        let d = shape.dims(shape.numel().ok()?, true).ok()?;
        (d.c > 0).then(|| plan(op, layout, d, self.isa))
    }
}
