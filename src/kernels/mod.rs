//! [`Kernels`]: every kernel entry point at one chosen instruction-set level.

mod normalize;
mod training;

use crate::error::Error;
use crate::moments::Moments;
use crate::normalize::Activation;
use crate::plan::{Op, plan, plan_strided};
use crate::shape::{Layout, Shape};
use crate::simd::Isa;
use crate::stats::{
    Method, accumulate_moments_at, accumulate_moments_strided_at, batch_stats_at,
    batch_stats_strided_at,
};

/// The crate's kernels at one instruction-set level: the same functions as the crate's
/// free functions ([`crate::batch_stats`], [`fn@crate::normalize`], …), which run at
/// [`Isa::detected`], but at the level this value was made for.
///
/// For tests and benchmarks that compare levels, and for users who want the same bits on
/// every machine (e.g. [`Isa::Portable`], or [`Isa::Avx2`] on a fleet of AVX2 and AVX-512
/// CPUs). The level is a property of the value, not global state: other threads and other
/// callers are not affected.
///
/// The level is the widest the kernels use. At [`Isa::Avx512`], a normalize with the
/// identity activation of at least 48 KiB of contiguous rows or of NCHW planes of 256
/// values or more runs its [`Isa::Avx2`] code, which gives the same bits: 512-bit
/// arithmetic lowers an Intel core's clock, and that plain stream from L2 ran 5-22%
/// slower with it (on an Intel Xeon; memory-bound beyond the caches either way).
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

    /// [`crate::batch_stats_strided`] at this level.
    ///
    /// # Errors
    /// As [`crate::batch_stats_strided`].
    ///
    /// # Example
    /// ```
    /// use batchnorm::{Kernels, Method, Shape};
    ///
    /// let x = [1.0f32, f32::NAN, 3.0]; // 2 rows of 1 channel, 2 values apart
    /// let (mut mean, mut var) = ([0.0f32], [0.0f32]);
    /// let k = Kernels::detected();
    /// k.batch_stats_strided(&x, 2, Shape::new(2, 1, 1, 1), Method::Welford, &mut mean, &mut var)?;
    /// assert_eq!((mean[0], var[0]), (2.0, 1.0));
    /// # Ok::<(), batchnorm::Error>(())
    /// ```
    pub fn batch_stats_strided(
        &self,
        x: &[f32],
        x_stride: usize,
        shape: Shape,
        method: Method,
        mean: &mut [f32],
        var: &mut [f32],
    ) -> Result<(), Error> {
        batch_stats_strided_at(self.isa, x, x_stride, shape, method, mean, var)
    }

    /// [`crate::accumulate_moments_strided`] at this level.
    ///
    /// # Errors
    /// As [`crate::accumulate_moments_strided`].
    ///
    /// # Example
    /// ```
    /// use batchnorm::{Kernels, Method, Moments, Shape};
    ///
    /// let x = [1.0f32, f32::NAN, 3.0]; // 2 rows of 1 channel, 2 values apart
    /// let mut acc = [Moments::default()];
    /// Kernels::detected().accumulate_moments_strided(&x, 2, Shape::new(1, 1, 2, 1),
    ///                                                Method::TwoPass, &mut acc)?;
    /// assert_eq!((acc[0].count, acc[0].mean), (2, 2.0));
    /// # Ok::<(), batchnorm::Error>(())
    /// ```
    pub fn accumulate_moments_strided(
        &self,
        x: &[f32],
        x_stride: usize,
        shape: Shape,
        method: Method,
        acc: &mut [Moments],
    ) -> Result<(), Error> {
        accumulate_moments_strided_at(self.isa, x, x_stride, shape, method, acc)
    }

    /// The name of the kernel this level runs for `op` (`"stats"`, `"stats_two_pass"`,
    /// `"normalize"`, `"normalize_prepared"`, `"train"`, `"backward"` with batch statistics
    /// or `"backward_running"`) on `shape` in `layout`, for benchmark reports;
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
            "stats" => Op::Stats(Method::Welford),
            "stats_two_pass" => Op::Stats(Method::TwoPass),
            "normalize" => Op::Normalize,
            "normalize_prepared" => Op::NormalizePrepared,
            "train" => Op::Train,
            "backward" => Op::Backward { batch: true },
            "backward_running" => Op::Backward { batch: false },
            _ => return None,
        };
        let d = shape.dims(shape.numel().ok()?, true).ok()?;
        (d.c > 0).then(|| plan(op, layout, d, self.isa))
    }

    /// The level a normalize with activation `act` of `shape` in `layout` (contiguous)
    /// runs at with these kernels: this level, or [`Isa::Avx2`] for the identity at
    /// [`Isa::Avx512`] past L1 (see [`Kernels`]). For benchmark reports; not part of the
    /// API.
    #[doc(hidden)]
    pub fn normalize_level(&self, shape: Shape, layout: Layout, act: Activation) -> Isa {
        let Some((n, d)) = shape
            .numel()
            .ok()
            .and_then(|n| shape.dims(n, true).ok().map(|d| (n, d)))
        else {
            return self.isa;
        };
        let plane = crate::plan::planar(layout, d).then_some(d.plane);
        let identity = matches!(act, Activation::Identity);
        crate::plan::normalize_level(self.isa, plane, true, n, identity)
    }

    /// Whether `op` (`"normalize"`, `"normalize_prepared"` or `"backward"`) on a
    /// contiguous `shape` out of place writes its output with streaming stores on this
    /// CPU (the plan decides by size against the core's L2 cache). For benchmark reports;
    /// not part of the API.
    #[doc(hidden)]
    pub fn output_streams(&self, op: &str, shape: Shape) -> bool {
        let Ok(n) = shape.numel() else { return false };
        match op {
            "normalize" | "normalize_prepared" => crate::plan::stream_out(self.isa, n),
            "backward" => crate::plan::stream_dx(self.isa, n),
            _ => false,
        }
    }

    /// [`Kernels::kernel_name`] for the strided functions on NHWC rows `stride` values
    /// apart (`op` `"stats"`, `"normalize"` or `"normalize_prepared"`; the same stride
    /// for input and output); `None` for another `op` or arguments the functions refuse.
    /// Not part of the API: names may change.
    #[doc(hidden)]
    pub fn strided_kernel_name(
        &self,
        op: &str,
        shape: Shape,
        stride: usize,
    ) -> Option<impl core::fmt::Display + use<>> {
        let op = match op {
            "stats" | "stats_two_pass" => Op::Stats(Method::Welford),
            "normalize" => Op::Normalize,
            "normalize_prepared" => Op::NormalizePrepared,
            _ => return None,
        };
        let d = shape.dims(shape.numel().ok()?, true).ok()?;
        if d.c == 0 || stride < d.c {
            return None;
        }
        Some(if stride == d.c {
            plan(op, Layout::Nhwc, d, self.isa)
        } else {
            plan_strided(op, d, stride, self.isa)
        })
    }
}
