//! Unit tests of the statistics kernels below the entry points (the gaps of strided rows).

extern crate std;
use super::*;
use std::vec::Vec;

/// The raw interleaved kernel (no rescue) on rows `pitch` apart.
fn raw(isa: Isa, x: &[f32], c: usize, pitch: usize, method: Method) -> Vec<Moments> {
    struct Raw<'a>(&'a [f32], usize, usize, Method);
    impl WithSimd for Raw<'_> {
        type Output = Vec<Moments>;
        fn run<S: Simd>(self, s: S) -> Vec<Moments> {
            let Raw(x, c, pitch, method) = self;
            let mut out = std::vec![Moments::EMPTY; c];
            interleaved::channel_moments(s, x, c, pitch, method, &mut Each::new(|k, m| out[k] = m));
            out
        }
    }
    dispatch(isa, Raw(x, c, pitch, method))
}

/// The values between strided rows never reach the kernels' results: NaN gaps and
/// zero gaps give the same bits, finite, without the rescue, on the tiled and the
/// super-block paths, at every level.
#[test]
fn gaps_never_reach_the_kernels() {
    for isa in Isa::supported() {
        for (c, pitch) in [
            (1, 2),
            (3, 6),
            (3, 4),
            (7, 8),
            (5, 24),
            (3, 200),
            (17, 34),
            (300, 301),
        ] {
            let pixels = 150;
            let len = (pixels - 1) * pitch + c;
            let mut zero = std::vec![0.0f32; len];
            for i in 0..pixels {
                for k in 0..c {
                    zero[i * pitch + k] = ((i * 7 + k * 3) % 11) as f32 - 4.5;
                }
            }
            let mut nan = zero.clone();
            for (j, v) in nan.iter_mut().enumerate() {
                if j % pitch >= c {
                    *v = f32::NAN;
                }
            }
            for method in [Method::Welford, Method::TwoPass] {
                let (a, b) = (
                    raw(isa, &zero, c, pitch, method),
                    raw(isa, &nan, c, pitch, method),
                );
                let what = std::format!("{isa} c={c} pitch={pitch} {method:?}");
                assert!(
                    a.iter().all(|m| m.mean.is_finite() && m.m2.is_finite()),
                    "{what}"
                );
                assert_eq!(a, b, "{what}");
                assert!(a.iter().all(|m| m.count == pixels as u64), "{what}");
            }
        }
    }
}

/// A block handed to [`MeanVar`] at once and channel by channel (as a non-finite block
/// goes) gives the same bits, a tiny negative `M2` (left by rounding) counting as 0 both
/// ways and NaN staying NaN; channels outside the block are not written.
#[test]
fn mean_var_block_is_its_channels_one_by_one() {
    let mean = [1.5, -2.25e7, 3.0e-30, f64::NAN, 0.1];
    let m2 = [-1e-30, 2.5, 7.0e-3, 1.0, f64::NAN];
    let run = |by_block: bool| {
        let (mut mu, mut var) = ([-9.0f32; 7], [-9.0f32; 7]);
        let mut out = MeanVar {
            mean: &mut mu,
            var: &mut var,
            inv_count: 1.0 / 3.0,
        };
        if by_block {
            out.block(1, 3, &mean, &m2);
        } else {
            each(&mut out, 1, 3, &mean, &m2);
        }
        // Any NaN as one pattern: a NaN's sign and payload are not specified (Miri
        // picks them at random).
        let bits = |v: f32| if v.is_nan() { f32::NAN } else { v }.to_bits();
        (mu.map(bits), var.map(bits))
    };
    let (block, one) = (run(true), run(false));
    assert_eq!(block, one);
    let (mu, var) = (block.0.map(f32::from_bits), block.1.map(f32::from_bits));
    assert_eq!((mu[0], var[0], mu[6], var[6]), (-9.0, -9.0, -9.0, -9.0));
    assert_eq!((mu[1], var[1]), (1.5, 0.0));
    assert_eq!(var[2], (2.5f64 / 3.0) as f32);
    assert!(mu[4].is_nan() && var[5].is_nan());
}
