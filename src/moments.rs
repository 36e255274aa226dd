//! `Moments`: the mergeable per-channel state `(count, mean, M2)` and Chan's merge, in f64.

/// The mergeable statistics of a set of values: how many, their mean, and `M2`, the sum of
/// squared deviations from the mean. Two sets' `Moments` merge exactly (up to rounding)
/// into the `Moments` of their union, so statistics can be accumulated batch by batch, or
/// computed in pieces and combined.
///
/// `Moments::default()` is the empty set (`count == 0`).
///
/// `count` saturates at `u64::MAX` in [`Moments::merge`]; `mean` and `m2` are weighted
/// with the f64 counts, which do not overflow, so they stay those of the union.
///
/// The layout is `#[repr(C)]` (`u64`, `f64`, `f64`, no padding), the same as the C ABI's
/// `bn_moments`, so buffers of it can be shared with C without copying.
///
/// # Byte view
/// `Moments` is [`bytemuck::Pod`] and [`bytemuck::Zeroable`]: 24 bytes, `count` at bytes
/// 0..8, `mean` at 8..16, `m2` at 16..24, each in the machine's native byte order,
/// aligned to 8. So a slice of them can go through a byte-oriented collective (an
/// all-gather for synchronized batch normalization, a file, a socket) with
/// `bytemuck::cast_slice`, and come back with `bytemuck::cast_slice` (or, when the
/// received bytes may not be 8-aligned, copied into the bytes of a `Moments` buffer,
/// `bytemuck::cast_slice_mut`), as long as both ends share a byte order. The zeroed
/// value is [`Moments::EMPTY`].
///
/// ```
/// use batchnorm::Moments;
///
/// let m = [Moments { count: 2, mean: 1.5, m2: 0.5 }];
/// let bytes: &[u8] = bytemuck::cast_slice(&m);
/// assert_eq!(bytes.len(), 24);
/// assert_eq!(&bytes[..8], &2u64.to_ne_bytes());
/// let back: &[Moments] = bytemuck::cast_slice(bytes);
/// assert_eq!(back, m);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Their mean (0 when `count == 0`).
    pub mean: f64,
    /// Sum of squared deviations from `mean` (0 when `count < 2`).
    pub m2: f64,
}

impl Moments {
    /// The empty set.
    pub const EMPTY: Moments = Moments {
        count: 0,
        mean: 0.0,
        m2: 0.0,
    };

    /// Merges two sets with Chan et al.'s pairwise formula:
    /// `delta = mean_b - mean_a`, `mean = mean_a + delta * n_b / n`,
    /// `M2 = M2_a + M2_b + delta^2 * n_a * n_b / n`. An empty side returns the other.
    ///
    /// The weights use the counts in f64, `n = n_a + n_b` summed as f64 (which never
    /// overflows), so `mean` and `M2` are right even when the integer `count` does not
    /// fit: `count` is `count_a + count_b` saturated at `u64::MAX`, and then
    /// [`Moments::variance`] divides by that saturated count.
    ///
    /// When either mean is not finite (a set holding a NaN or an infinity, as
    /// [`crate::accumulate_moments`] reports it), the merged mean is `mean_a + mean_b`
    /// (NaN with a NaN, `±inf` with infinities of one sign and finite values, NaN with
    /// both signs) and `M2` is NaN: the rule of [`crate::batch_stats`] for the union.
    #[must_use]
    pub fn merge(self, other: Moments) -> Moments {
        if other.count == 0 {
            return self;
        }
        if self.count == 0 {
            return other;
        }
        let count = self.count.saturating_add(other.count);
        if !(self.mean.is_finite() && other.mean.is_finite()) {
            return Moments {
                count,
                mean: self.mean + other.mean,
                m2: f64::NAN,
            };
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        // Step from the larger side: the correction is then the smaller one.
        let mean = if na >= nb {
            self.mean + delta * (nb / n)
        } else {
            other.mean - delta * (na / n)
        };
        Moments {
            count,
            mean,
            m2: self.m2 + other.m2 + delta * delta * (na * (nb / n)),
        }
    }

    /// The biased (population) variance `M2 / count`; NaN when `count == 0`.
    pub fn variance(&self) -> f64 {
        self.m2 / self.count as f64
    }

    /// The unbiased (sample) variance `M2 / (count - 1)`; NaN when `count < 2`.
    pub fn sample_variance(&self) -> f64 {
        if self.count < 2 {
            f64::NAN
        } else {
            self.m2 / (self.count - 1) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(xs: &[f64]) -> Moments {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        Moments {
            count: xs.len() as u64,
            mean,
            m2: xs.iter().map(|x| (x - mean) * (x - mean)).sum(),
        }
    }

    #[test]
    fn merge_matches_direct_computation() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let b = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let m = of(&a).merge(of(&b));
        assert_eq!(m.count, 16);
        assert_eq!(m.mean, 5.0);
        assert_eq!(m.m2, 88.0);
        assert_eq!(m.variance(), 5.5);
        assert_eq!(m.sample_variance(), 88.0 / 15.0);
    }

    #[test]
    fn merge_past_u64_max_weights_in_f64() {
        // Two halves of 2^64 - 2 values each, means 0 and 2: the union has mean 1 and
        // M2 = 2^2·na·nb/(na + nb) = 2·na (na = nb = 2^64 in f64), count saturated.
        let half = |mean| Moments {
            count: u64::MAX - 1,
            mean,
            m2: 0.0,
        };
        let na = (u64::MAX - 1) as f64;
        assert_eq!(na, 18_446_744_073_709_551_616.0);
        for (a, b) in [(half(0.0), half(2.0)), (half(2.0), half(0.0))] {
            let m = a.merge(b);
            assert_eq!(m.count, u64::MAX);
            assert_eq!(m.mean, 1.0);
            assert_eq!(m.m2, 2.0 * na);
        }
        // Unequal sides: 2^63 values of mean 0 and 2^64 - 2 of mean 3 (2^64 in f64):
        // mean = 3·2^64/(2^63 + 2^64) = 2, M2 = 9·2^63·2^64/(3·2^63) = 3·2^64.
        let a = Moments {
            count: 1 << 63,
            mean: 0.0,
            m2: 0.0,
        };
        let m = a.merge(half(3.0));
        assert_eq!(m.count, u64::MAX);
        assert_eq!(m.mean, 2.0);
        assert_eq!(m.m2, 3.0 * na);
    }

    #[test]
    fn non_finite_means_follow_the_nan_inf_rule() {
        let m = |mean: f64, m2: f64| Moments { count: 3, mean, m2 };
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        for (a, b, want) in [
            (m(inf, nan), m(1.0, 2.0), inf),
            (m(1.0, 2.0), m(inf, nan), inf),
            (m(-inf, nan), m(-inf, nan), -inf),
            (m(inf, nan), m(-inf, nan), nan),
            (m(nan, nan), m(inf, nan), nan),
            (m(1.0, 2.0), m(nan, nan), nan),
        ] {
            let r = a.merge(b);
            assert_eq!(r.count, 6);
            assert!(r.m2.is_nan(), "{a:?} + {b:?}: {r:?}");
            assert!(
                r.mean == want || (want.is_nan() && r.mean.is_nan()),
                "{a:?} + {b:?}"
            );
        }
        // Unequal counts: the larger side's infinity is not turned into NaN.
        let big = Moments {
            count: 100,
            mean: -inf,
            m2: nan,
        };
        assert_eq!(m(5.0, 1.0).merge(big).mean, -inf);
    }

    #[test]
    fn byte_view_is_24_bytes_native_order_no_padding() {
        assert_eq!(core::mem::size_of::<Moments>(), 24);
        assert_eq!(core::mem::align_of::<Moments>(), 8);
        let m = Moments {
            count: 0x0102_0304_0506_0708,
            mean: -2.5,
            m2: 1e300,
        };
        let b = bytemuck::bytes_of(&m);
        assert_eq!(b[..8], m.count.to_ne_bytes());
        assert_eq!(b[8..16], m.mean.to_ne_bytes());
        assert_eq!(b[16..], m.m2.to_ne_bytes());
        assert_eq!(<Moments as bytemuck::Zeroable>::zeroed(), Moments::EMPTY);
    }

    #[test]
    fn empty_sides_and_small_counts() {
        let a = of(&[3.0, 5.0]);
        assert_eq!(a.merge(Moments::EMPTY), a);
        assert_eq!(Moments::EMPTY.merge(a), a);
        assert!(Moments::EMPTY.variance().is_nan());
        assert!(of(&[3.0]).sample_variance().is_nan());
        assert_eq!(of(&[3.0]).variance(), 0.0);
    }
}
