//! The production fallback for a channel whose SIMD result is not finite: the NaN/infinity rule, or a plain f64 two-pass over the channel.

use super::clamp_m2;
use crate::moments::Moments;
use crate::shape::{Dims, Layout};

/// Channel `c`'s moments, for a channel whose kernel result came out non-finite (`d` a
/// validated shape with `d.count >= 1`; NHWC rows `pitch` values apart, `x` ending with
/// the last row).
///
/// - When the channel holds a NaN or an infinity (found by one scan, no statistics pass),
///   the rule PyTorch follows: a NaN gives mean NaN; only `+inf` (and finite values) gives
///   mean `+inf`; only `-inf` gives mean `-inf`; both `+inf` and `-inf` give mean NaN.
///   `M2` (so the variance) is NaN in every case.
/// - Otherwise the values are finite but their f32 squares overflowed (|x| beyond
///   ~1.8e19): a two-pass in f64, where no square of an f32 overflows. The mean from an
///   f64 sum, then `M2 = Σd² - (Σd)²/count` with `d = x - mean` (the second term removes
///   the mean's rounding error), and the mean corrected by `Σd/count`.
///
/// `count` is `d.count` either way.
pub(super) fn channel_moments(
    x: &[f32],
    d: Dims,
    layout: Layout,
    pitch: usize,
    c: usize,
) -> Moments {
    let count = d.count as u64;
    let (mut nan, mut pos, mut neg) = (false, false, false);
    for v in channel_values(x, d, layout, pitch, c) {
        nan |= v.is_nan();
        pos |= v == f32::INFINITY;
        neg |= v == f32::NEG_INFINITY;
    }
    let special = if nan || (pos && neg) {
        Some(f64::NAN)
    } else if pos {
        Some(f64::INFINITY)
    } else if neg {
        Some(f64::NEG_INFINITY)
    } else {
        None
    };
    if let Some(mean) = special {
        return Moments {
            count,
            mean,
            m2: f64::NAN,
        };
    }
    let n = d.count as f64;
    let mean = channel_values(x, d, layout, pitch, c)
        .map(f64::from)
        .sum::<f64>()
        / n;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for v in channel_values(x, d, layout, pitch, c) {
        let dv = f64::from(v) - mean;
        s1 += dv;
        s2 += dv * dv;
    }
    let m2 = s2 - s1 * s1 / n;
    Moments {
        count,
        mean: mean + s1 / n,
        // Rounding can leave a tiny negative.
        m2: clamp_m2(m2),
    }
}

/// The values of channel `c` in memory order: NCHW, `n` planes of `d.plane` values,
/// `d.c` planes apart; NHWC, every `pitch`-th value from `c`. Reads only inside `x`.
fn channel_values(
    x: &[f32],
    d: Dims,
    layout: Layout,
    pitch: usize,
    c: usize,
) -> impl Iterator<Item = f32> + '_ {
    let (planes, values) = match layout {
        Layout::Nchw => (
            Some(x.chunks(d.plane.max(1)).skip(c).step_by(d.c.max(1))),
            None,
        ),
        Layout::Nhwc => (None, Some(x.iter().skip(c).step_by(pitch.max(1)))),
    };
    let planes = planes.into_iter().flatten().flatten();
    planes.chain(values.into_iter().flatten()).copied()
}
