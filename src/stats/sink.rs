//! Where the statistics kernels put per-channel moments ([`Sink`]): one channel at a
//! time, or a block of channels that share a count, which a sink may take in one loop
//! over plain arrays instead of a call per channel.

use crate::moments::Moments;

/// A receiver of per-channel moments.
pub(crate) trait Sink {
    /// Channel `c`'s moments.
    fn one(&mut self, c: usize, m: Moments);

    /// Channels `c0..c0 + mean.len()`, each of `count` values, with means `mean` and
    /// sums of squared deviations `m2` (same length; a tiny negative `m2`, which rounding
    /// may leave, counts as 0). By default, [`Sink::one`] per channel.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn block(&mut self, c0: usize, count: u64, mean: &[f64], m2: &[f64]) {
        each(self, c0, count, mean, m2);
    }
}

/// `M2` as a channel's moments hold it: a tiny negative left by rounding is 0; NaN stays
/// NaN.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn clamp_m2(m2: f64) -> f64 {
    if m2 < 0.0 { 0.0 } else { m2 }
}

/// [`Sink::block`] as one [`Sink::one`] per channel.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn each<K: Sink + ?Sized>(
    sink: &mut K,
    c0: usize,
    count: u64,
    mean: &[f64],
    m2: &[f64],
) {
    for (i, (&mean, &m2)) in mean.iter().zip(m2).enumerate() {
        let m2 = clamp_m2(m2);
        sink.one(c0 + i, Moments { count, mean, m2 });
    }
}

/// A closure `f(c, moments)` as a sink, channel by channel.
pub(crate) struct Each<F>(F);

impl<F: FnMut(usize, Moments)> Each<F> {
    /// The sink that calls `f`.
    pub(crate) fn new(f: F) -> Self {
        Each(f)
    }
}

impl<F: FnMut(usize, Moments)> Sink for Each<F> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn one(&mut self, c: usize, m: Moments) {
        (self.0)(c, m);
    }
}

impl<K: Sink + ?Sized> Sink for &mut K {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn one(&mut self, c: usize, m: Moments) {
        (**self).one(c, m);
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn block(&mut self, c0: usize, count: u64, mean: &[f64], m2: &[f64]) {
        (**self).block(c0, count, mean, m2);
    }
}

/// The f32 mean and biased variance of every channel ([`crate::batch_stats`]): a block
/// is two loops over its arrays, which the compiler vectorizes, instead of a call per
/// channel (1280 channels of 49 values spent a third of their time there).
pub(crate) struct MeanVar<'a> {
    pub mean: &'a mut [f32],
    pub var: &'a mut [f32],
    /// `1/count`: one reciprocal instead of a divide per channel.
    pub inv_count: f64,
}

impl Sink for MeanVar<'_> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn one(&mut self, c: usize, m: Moments) {
        if let (Some(mean), Some(var)) = (self.mean.get_mut(c), self.var.get_mut(c)) {
            *mean = m.mean as f32;
            *var = (m.m2 * self.inv_count) as f32;
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn block(&mut self, c0: usize, count: u64, mean: &[f64], m2: &[f64]) {
        let n = mean.len().min(m2.len());
        let r = c0..c0.saturating_add(n);
        match (self.mean.get_mut(r.clone()), self.var.get_mut(r)) {
            (Some(om), Some(ov)) => {
                for (o, m) in om.iter_mut().zip(mean) {
                    *o = *m as f32;
                }
                let inv = self.inv_count;
                for (o, q) in ov.iter_mut().zip(m2) {
                    *o = (clamp_m2(*q) * inv) as f32;
                }
            }
            _ => each(self, c0, count, mean, m2),
        }
    }
}
