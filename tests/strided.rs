//! Strided NHWC rows (`batch_stats_strided`, `accumulate_moments_strided`,
//! `normalize_strided`, `normalize_prepared_strided` and their in-place forms) at every
//! instruction-set level: the same bits as the contiguous functions on the rows gathered
//! into a compact tensor (normalize at any stride, statistics at `stride == c`), the
//! statistics within the reference's bounds at other strides, the values between rows
//! never written and never read into a result (NaN there), odd shapes, and every error
//! naming its numbers with the outputs untouched.

use batchnorm::{
    Activation, Error, Layout, Method, Moments, NormParams, Prepared, Shape, prepare, reference,
};
mod isa;
use isa::{
    accumulate_moments, accumulate_moments_strided, batch_stats, batch_stats_strided, each_isa,
    normalize, normalize_prepared_strided, normalize_prepared_strided_in_place, normalize_strided,
    normalize_strided_in_place,
};
mod values;
use values::Rng;

/// Unit roundoff of f32.
const U: f64 = 1.0 / 16_777_216.0;

/// What the gaps between rows hold: a NaN with a payload, so a gap written with any value
/// (NaN included) is caught by a bitwise compare.
const GAP: f32 = f32::from_bits(0x7fc0_1234);
/// What the output's gaps hold.
const SENTINEL: f32 = -7.25e-3;

/// Channel counts, strides (as functions of `c`) and pixel counts of the edge-case matrix:
/// below, at and above a vector, the tile and row-block kernels (256 at stride 2c: tiles
/// over rows 2 KiB apart), and more than one block of scales (1100 > 1024).
const CS: &[usize] = &[1, 3, 7, 16, 17, 32, 64, 256, 257, 1100];
const PIXELS: &[usize] = &[1, 15, 169, 300];

fn strides(c: usize) -> [usize; 3] {
    [c, c + 1, 2 * c]
}

fn pixels_for(c: usize) -> &'static [usize] {
    if c > 300 { &PIXELS[..2] } else { PIXELS }
}

/// Bytes a strided buffer of `pixels` rows spans.
fn span(pixels: usize, stride: usize, c: usize) -> usize {
    if pixels == 0 {
        0
    } else {
        (pixels - 1) * stride + c
    }
}

/// A buffer of `pixels` rows of `c` values `stride` apart, rows from `rng` (offset per
/// channel), `fill` everywhere else, and `extra` values of `fill` after the last row.
fn strided(
    rng: &mut Rng,
    pixels: usize,
    c: usize,
    stride: usize,
    extra: usize,
    fill: f32,
) -> Vec<f32> {
    let mut x = vec![fill; span(pixels, stride, c) + extra];
    for i in 0..pixels {
        for k in 0..c {
            x[i * stride + k] = (rng.normal() * (1.0 + k as f64 % 5.0) + k as f64 % 3.0) as f32;
        }
    }
    x
}

/// The rows of a strided buffer, gathered into a contiguous NHWC tensor.
fn compact(x: &[f32], pixels: usize, c: usize, stride: usize) -> Vec<f32> {
    (0..pixels)
        .flat_map(|i| x[i * stride..i * stride + c].iter().copied())
        .collect()
}

/// Whether index `j` of a buffer of rows `stride` apart is outside every row.
fn is_gap(j: usize, pixels: usize, c: usize, stride: usize) -> bool {
    j >= span(pixels, stride, c) || j % stride >= c
}

/// Per-channel parameters for `c` channels (a channel with variance 0 included).
fn params(c: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let mean = (0..c).map(|k| (k % 3) as f32 * 0.5 - 0.25).collect();
    let var = (0..c)
        .map(|k| if k == 1 { 0.0 } else { 0.5 + (k % 7) as f32 })
        .collect();
    let gamma = (0..c).map(|k| 1.0 - (k % 4) as f32 * 0.375).collect();
    let beta = (0..c).map(|k| (k % 5) as f32 * 0.125 - 0.25).collect();
    (mean, var, gamma, beta)
}

/// Checks the rows of `got` (stride `stride`) against the compact `want`, bit for bit, and
/// that every other value of `got` still holds `fill`.
fn check_rows(
    got: &[f32],
    want: &[f32],
    pixels: usize,
    c: usize,
    stride: usize,
    fill: f32,
    what: &str,
) {
    for (j, g) in got.iter().enumerate() {
        if is_gap(j, pixels, c, stride) {
            assert_eq!(
                g.to_bits(),
                fill.to_bits(),
                "{what}: gap at {j} written: {g}"
            );
        } else {
            let w = want[(j / stride) * c + j % stride];
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{what}: row value at {j}: {g} vs {w}"
            );
        }
    }
}

/// Every strided normalize form gives, on every row, the bits `normalize` gives on the
/// compact tensor, and writes nothing between rows, after the last row, or (in place)
/// anywhere but the rows; `x_stride == y_stride`, different strides, and `stride == c`.
#[test]
fn normalize_matches_contiguous_bitwise_and_keeps_gaps() {
    each_isa(|| {
        let mut rng = Rng::new(9);
        let acts = [
            Activation::Identity,
            Activation::RELU6,
            Activation::HardSwish,
        ];
        for &c in CS {
            let (mean, var, gamma, beta) = params(c);
            let p = NormParams {
                mean: &mean,
                var: &var,
                gamma: &gamma,
                beta: &beta,
                eps: 1e-5,
            };
            let mut scale = vec![0.0f32; c];
            prepare(&p, &mut scale).unwrap();
            let q = Prepared {
                mean: &mean,
                scale: &scale,
                beta: &beta,
            };
            for &pixels in pixels_for(c) {
                for xs in strides(c) {
                    let x = strided(&mut rng, pixels, c, xs, 3, GAP);
                    let xc = compact(&x, pixels, c, xs);
                    let shape = Shape::new(1, c, 1, pixels);
                    let act = acts[(c + pixels + xs) % acts.len()];
                    let mut want = vec![0.0f32; xc.len()];
                    normalize(&xc, &mut want, shape, Layout::Nhwc, &p, act).unwrap();
                    for ys in [xs, c, 2 * c + 3] {
                        let what =
                            format!("c={c} pixels={pixels} x_stride={xs} y_stride={ys} {act:?}");
                        let mut y = vec![SENTINEL; span(pixels, ys, c) + 2];
                        normalize_strided(&x, xs, &mut y, ys, shape, &p, act).unwrap();
                        check_rows(&y, &want, pixels, c, ys, SENTINEL, &what);
                        let mut y = vec![SENTINEL; span(pixels, ys, c) + 2];
                        normalize_prepared_strided(&x, xs, &mut y, ys, shape, &q, act).unwrap();
                        check_rows(
                            &y,
                            &want,
                            pixels,
                            c,
                            ys,
                            SENTINEL,
                            &format!("prepared {what}"),
                        );
                    }
                    let what = format!("in place c={c} pixels={pixels} stride={xs} {act:?}");
                    let mut z = x.clone();
                    normalize_strided_in_place(&mut z, xs, shape, &p, act).unwrap();
                    check_rows(&z, &want, pixels, c, xs, GAP, &what);
                    let mut z = x.clone();
                    normalize_prepared_strided_in_place(&mut z, xs, shape, &q, act).unwrap();
                    check_rows(&z, &want, pixels, c, xs, GAP, &format!("prepared {what}"));
                }
            }
        }
    });
}

/// The same rows read in place and out of place agree when `x`'s gaps hold ordinary
/// numbers too (not only NaN): gaps never leak into rows.
#[test]
fn normalize_ignores_any_gap_values() {
    each_isa(|| {
        let mut rng = Rng::new(10);
        for &c in &[3usize, 16, 17, 64] {
            let (mean, var, gamma, beta) = params(c);
            let p = NormParams {
                mean: &mean,
                var: &var,
                gamma: &gamma,
                beta: &beta,
                eps: 0.0,
            };
            let xs = 2 * c + 1;
            let x = strided(&mut rng, 40, c, xs, 0, GAP);
            let mut other = x.clone();
            for (j, v) in other.iter_mut().enumerate() {
                if is_gap(j, 40, c, xs) {
                    *v = if j % 2 == 0 { f32::INFINITY } else { 1e30 };
                }
            }
            let shape = Shape::new(2, c, 4, 5);
            let (mut a, mut b) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
            normalize_strided(&x, xs, &mut a, xs, shape, &p, Activation::Silu).unwrap();
            normalize_strided(&other, xs, &mut b, xs, shape, &p, Activation::Silu).unwrap();
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "c={c}");
        }
    });
}

/// At `stride == c` the strided statistics are the contiguous ones, bit for bit (the same
/// kernels), for both methods and both entry points.
#[test]
fn stats_at_stride_c_match_contiguous_bitwise() {
    each_isa(|| {
        let mut rng = Rng::new(11);
        for &c in CS {
            for &pixels in pixels_for(c) {
                let x = strided(&mut rng, pixels, c, c, 0, GAP);
                let shape = Shape::new(1, c, pixels, 1);
                for method in [Method::Welford, Method::TwoPass] {
                    let (mut m0, mut v0) = (vec![0.0f32; c], vec![0.0f32; c]);
                    let (mut m1, mut v1) = (vec![0.0f32; c], vec![0.0f32; c]);
                    batch_stats(&x, shape, Layout::Nhwc, method, &mut m0, &mut v0).unwrap();
                    batch_stats_strided(&x, c, shape, method, &mut m1, &mut v1).unwrap();
                    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        (bits(&m0), bits(&v0)),
                        (bits(&m1), bits(&v1)),
                        "c={c} pixels={pixels}"
                    );
                    let mut a0 = vec![Moments::default(); c];
                    let mut a1 = vec![Moments::default(); c];
                    accumulate_moments(&x, shape, Layout::Nhwc, method, &mut a0).unwrap();
                    accumulate_moments_strided(&x, c, shape, method, &mut a1).unwrap();
                    assert_eq!(a0, a1, "c={c} pixels={pixels}");
                }
            }
        }
    });
}

/// Per channel, `got` against the reference's exact moments, within the bounds of
/// `Method` (Welford's, the looser): mean within `16·u·max(A, σ)`, variance within
/// `1e-5 + 2·κ·u` relative.
fn check_stats(got_mean: f32, got_var: f32, exact: &Moments, abs_mean: f64, what: &str) {
    let var = exact.variance();
    let sd = var.sqrt();
    let err = (f64::from(got_mean) - exact.mean).abs();
    assert!(
        err <= 16.0 * U * abs_mean.max(sd) + 1e-300,
        "{what}: mean {got_mean} vs {}",
        exact.mean
    );
    let kappa = (1.0 + exact.mean * exact.mean / var.max(1e-300)).sqrt();
    let rel = (f64::from(got_var) - var).abs() / var.max(1e-300);
    assert!(
        var == 0.0 && got_var == 0.0 || rel <= 1e-5 + 2.0 * kappa * U,
        "{what}: var {got_var} vs {var}"
    );
}

/// At every stride, the statistics are within the reference's bounds, with NaN between
/// the rows (which would poison any channel that read one); the strided reference agrees
/// with the contiguous one on the gathered rows.
#[test]
fn stats_strided_within_reference_bounds() {
    each_isa(|| {
        let mut rng = Rng::new(12);
        for &c in CS {
            for &pixels in pixels_for(c) {
                for xs in strides(c) {
                    let x = strided(&mut rng, pixels, c, xs, 5, GAP);
                    let shape = Shape::new(pixels, c, 1, 1);
                    let mut exact = vec![Moments::default(); c];
                    reference::moments_strided(&x, xs, shape, &mut exact).unwrap();
                    let xc = compact(&x, pixels, c, xs);
                    let mut contiguous = vec![Moments::default(); c];
                    reference::moments(&xc, shape, Layout::Nhwc, &mut contiguous).unwrap();
                    assert_eq!(exact, contiguous, "reference c={c} stride={xs}");
                    for method in [Method::Welford, Method::TwoPass] {
                        let what = format!("c={c} pixels={pixels} stride={xs} {method:?}");
                        let m = checked_strided_stats(&x, xs, pixels, c, &exact, method, &what);
                        let mut acc = vec![Moments::default(); c];
                        accumulate_moments_strided(&x, xs, shape, method, &mut acc).unwrap();
                        for k in 0..c {
                            assert_eq!(acc[k].count, pixels as u64, "{what}");
                            assert_eq!(acc[k].mean as f32, m[k], "{what} channel {k}");
                        }
                    }
                }
            }
        }
    });
}

/// `batch_stats_strided` of `pixels` rows of `c` channels `xs` apart, checked channel by
/// channel against the reference moments `exact`; returns the means.
fn checked_strided_stats(
    x: &[f32],
    xs: usize,
    pixels: usize,
    c: usize,
    exact: &[Moments],
    method: Method,
    what: &str,
) -> Vec<f32> {
    let xc = compact(x, pixels, c, xs);
    let shape = Shape::new(pixels, c, 1, 1);
    let (mut m, mut v) = (vec![0.0f32; c], vec![0.0f32; c]);
    batch_stats_strided(x, xs, shape, method, &mut m, &mut v).unwrap();
    for k in 0..c {
        let abs = (0..pixels)
            .map(|i| f64::from(xc[i * c + k]).abs())
            .sum::<f64>()
            / pixels as f64;
        check_stats(m[k], v[k], &exact[k], abs, &format!("{what} channel {k}"));
    }
    m
}

/// One pixel row spans its own `c` values whatever the stride: any stride from `c` up to
/// `usize::MAX` is accepted and gives that row's values as means, variances 0 (and the
/// plan's prefetch distance, computed from the stride, overflows nothing).
#[test]
fn stats_strided_one_row_any_stride() {
    each_isa(|| {
        for c in [3usize, 16, 40, 300] {
            let x: Vec<f32> = (0..c).map(|k| k as f32 * 0.5 - 3.0).collect();
            // The large strides in terms of `usize::MAX`, so they hold on 32-bit targets:
            // 2^62 and 2^63 on 64-bit ones, where `4 * stride` wraps to 0.
            let (quarter, half) = (usize::MAX / 4 + 1, usize::MAX / 2 + 1);
            for xs in [c, 1 << 20, quarter, half, usize::MAX / 3, usize::MAX] {
                for method in [Method::Welford, Method::TwoPass] {
                    let what = format!("c={c} stride={xs} {method:?}");
                    let (mut m, mut v) = (vec![f32::NAN; c], vec![f32::NAN; c]);
                    let shape = Shape::new(1, c, 1, 1);
                    batch_stats_strided(&x, xs, shape, method, &mut m, &mut v).unwrap();
                    assert_eq!(m, x, "{what}");
                    assert!(v.iter().all(|v| *v == 0.0), "{what}: {v:?}");
                }
            }
        }
    });
}

/// Rows spanning more than the plan's in-cache size, with gaps between a super-block's
/// positions, where the plan has the statistics prefetch rows ahead (the plan's own test
/// pins that decision): the prefetching kernel instances meet the same bounds as
/// everywhere, up to the last rows, which have no rows ahead to prefetch.
#[test]
fn stats_strided_prefetched_rows() {
    each_isa(|| {
        let mut rng = Rng::new(21);
        // (c, stride, pixels): rows*stride above 512Ki values; 300 channels are two
        // super-blocks, 256 and 44 wide.
        for (c, xs, pixels) in [(40, 80, 7000), (300, 600, 900), (19, 1000, 600)] {
            let x = strided(&mut rng, pixels, c, xs, 5, GAP);
            let shape = Shape::new(pixels, c, 1, 1);
            let mut exact = vec![Moments::default(); c];
            reference::moments_strided(&x, xs, shape, &mut exact).unwrap();
            for method in [Method::Welford, Method::TwoPass] {
                let what = format!("c={c} pixels={pixels} stride={xs} {method:?}");
                checked_strided_stats(&x, xs, pixels, c, &exact, method, &what);
            }
        }
    });
}

/// The non-finite rule and the f64 rescue see only the rows: one channel with `+inf`, one
/// with values near 3e19 (f32 squares overflow), the others ordinary, NaN in every gap.
#[test]
fn stats_strided_non_finite_rules_see_only_rows() {
    each_isa(|| {
        let mut rng = Rng::new(13);
        for &c in &[3usize, 7, 17, 257] {
            for xs in [c + 1, 2 * c] {
                let pixels = 100;
                let mut x = strided(&mut rng, pixels, c, xs, 0, GAP);
                x[7 * xs] = f32::INFINITY;
                for i in 0..pixels {
                    x[i * xs + 1] = 3e19 + (i % 7) as f32 * 1e18;
                }
                let shape = Shape::new(1, c, 10, 10);
                let mut exact = vec![Moments::default(); c];
                reference::moments_strided(&x, xs, shape, &mut exact).unwrap();
                for method in [Method::Welford, Method::TwoPass] {
                    let what = format!("c={c} stride={xs} {method:?}");
                    let (mut m, mut v) = (vec![0.0f32; c], vec![0.0f32; c]);
                    batch_stats_strided(&x, xs, shape, method, &mut m, &mut v).unwrap();
                    assert_eq!(m[0], f32::INFINITY, "{what}");
                    assert!(v[0].is_nan(), "{what}");
                    let rel = (f64::from(m[1]) - exact[1].mean).abs() / exact[1].mean;
                    assert!(rel < 1e-6, "{what}: mean {} vs {}", m[1], exact[1].mean);
                    let rel = (f64::from(v[1]) - exact[1].variance()).abs() / exact[1].variance();
                    assert!(
                        rel < 1e-5,
                        "{what}: var {} vs {}",
                        v[1],
                        exact[1].variance()
                    );
                    for k in 2..c {
                        assert!(m[k].is_finite() && v[k].is_finite(), "{what} channel {k}");
                    }
                }
            }
        }
    });
}

/// The normalize reference over strided rows agrees with the contiguous one, and the
/// kernels stay within a few ulp of it (the same check as the contiguous tests' bound,
/// loosely).
#[test]
fn normalize_strided_near_reference() {
    each_isa(|| {
        let mut rng = Rng::new(14);
        let (c, pixels, xs, ys) = (17usize, 30usize, 40usize, 19usize);
        let (mean, var, gamma, beta) = params(c);
        let p = NormParams {
            mean: &mean,
            var: &var,
            gamma: &gamma,
            beta: &beta,
            eps: 1e-3,
        };
        let x = strided(&mut rng, pixels, c, xs, 0, GAP);
        let shape = Shape::new(3, c, 10, 1);
        let mut want = vec![1.5f64; span(pixels, ys, c)];
        reference::normalize_strided(&x, xs, &mut want, ys, shape, &p, Activation::Identity)
            .unwrap();
        let mut y = vec![1.5f32; want.len()];
        normalize_strided(&x, xs, &mut y, ys, shape, &p, Activation::Identity).unwrap();
        for (j, (g, w)) in y.iter().zip(&want).enumerate() {
            if is_gap(j, pixels, c, ys) {
                assert_eq!((*g, *w), (1.5, 1.5), "gap {j}");
            } else {
                assert!(
                    (f64::from(*g) - w).abs() <= 8.0 * U * w.abs().max(1.0),
                    "{j}: {g} vs {w}"
                );
            }
        }
    });
}

/// Longer buffers than the rows span are fine: the values after the last row are neither
/// read into results nor written.
#[test]
fn longer_buffers_keep_their_tails() {
    each_isa(|| {
        let mut rng = Rng::new(15);
        let (c, pixels, xs) = (5usize, 9usize, 8usize);
        let x = strided(&mut rng, pixels, c, xs, 11, GAP);
        let shape = Shape::new(1, c, 3, 3);
        let p = Prepared {
            mean: &[0.0; 5],
            scale: &[2.0; 5],
            beta: &[1.0; 5],
        };
        let mut y = vec![SENTINEL; pixels * xs + 30];
        normalize_prepared_strided(&x, xs, &mut y, xs, shape, &p, Activation::Identity).unwrap();
        let want: Vec<f32> = compact(&x, pixels, c, xs)
            .iter()
            .map(|v| v.mul_add(2.0, 1.0))
            .collect();
        check_rows(&y, &want, pixels, c, xs, SENTINEL, "out of place");
        let mut z = x.clone();
        normalize_prepared_strided_in_place(&mut z, xs, shape, &p, Activation::Identity).unwrap();
        check_rows(&z, &want, pixels, c, xs, GAP, "in place");
    });
}

/// No rows (a zero dimension): nothing is needed or written; the statistics refuse empty
/// channels as the contiguous ones do. No channels: `Ok` with any stride.
#[test]
fn zero_pixels_and_zero_channels() {
    each_isa(|| {
        let p = NormParams {
            mean: &[0.0; 3],
            var: &[1.0; 3],
            gamma: &[1.0; 3],
            beta: &[0.0; 3],
            eps: 0.0,
        };
        let shape = Shape::new(0, 3, 5, 5);
        let mut y = [SENTINEL; 2];
        normalize_strided(&[], 3, &mut y, 4, shape, &p, Activation::Relu).unwrap();
        normalize_strided_in_place(&mut [], 3, shape, &p, Activation::Relu).unwrap();
        assert_eq!(y, [SENTINEL; 2]);
        let (mut m, mut v) = ([0.0f32; 3], [0.0f32; 3]);
        assert_eq!(
            batch_stats_strided(&[], 3, shape, Method::Welford, &mut m, &mut v),
            Err(Error::EmptyChannel { n: 0, h: 5, w: 5 })
        );
        // `stride < c` is still refused with no rows.
        assert_eq!(
            normalize_strided(&[], 2, &mut y, 3, shape, &p, Activation::Relu),
            Err(Error::StrideTooSmall {
                name: "x_stride",
                stride: 2,
                c: 3
            })
        );
        let e = NormParams {
            mean: &[],
            var: &[],
            gamma: &[],
            beta: &[],
            eps: 0.0,
        };
        normalize_strided(
            &[1.0],
            0,
            &mut y,
            0,
            Shape::new(4, 0, 2, 2),
            &e,
            Activation::Relu,
        )
        .unwrap();
        batch_stats_strided(
            &[],
            0,
            Shape::new(4, 0, 2, 2),
            Method::TwoPass,
            &mut [],
            &mut [],
        )
        .unwrap();
        assert_eq!(y, [SENTINEL; 2]);
    });
}

/// Every refusal names its argument and numbers, matches the reference's error, and
/// leaves every output as it was.
#[test]
fn errors_name_the_numbers_and_write_nothing() {
    each_isa(|| {
        let c = 4usize;
        let p = NormParams {
            mean: &[0.0; 4],
            var: &[1.0; 4],
            gamma: &[1.0; 4],
            beta: &[0.0; 4],
            eps: 0.0,
        };
        let shape = Shape::new(2, c, 1, 3); // 6 pixels
        let x = vec![1.0f32; 5 * 6 + 4];
        let huge = Shape::new(1, c, 1, 3);
        // (x_stride, x length, y_stride, y length, shape, error)
        let cases: &[(usize, usize, usize, usize, Shape, Error)] = &[
            (
                3,
                34,
                6,
                34,
                shape,
                Error::StrideTooSmall {
                    name: "x_stride",
                    stride: 3,
                    c,
                },
            ),
            (
                6,
                33,
                6,
                34,
                shape,
                Error::BufferTooShort {
                    buffer: "x",
                    needed: 34,
                    actual: 33,
                },
            ),
            (
                6,
                34,
                0,
                34,
                shape,
                Error::StrideTooSmall {
                    name: "y_stride",
                    stride: 0,
                    c,
                },
            ),
            (
                6,
                34,
                6,
                33,
                shape,
                Error::BufferTooShort {
                    buffer: "y",
                    needed: 34,
                    actual: 33,
                },
            ),
            (
                6,
                34,
                7,
                38,
                shape,
                Error::BufferTooShort {
                    buffer: "y",
                    needed: 39,
                    actual: 38,
                },
            ),
            (
                usize::MAX / 2 + 1,
                34,
                6,
                34,
                huge,
                Error::StrideOverflow {
                    name: "x_stride",
                    pixels: 3,
                    stride: usize::MAX / 2 + 1,
                    c,
                },
            ),
            (
                6,
                34,
                usize::MAX / 2,
                34,
                huge,
                Error::StrideOverflow {
                    name: "y_stride",
                    pixels: 3,
                    stride: usize::MAX / 2,
                    c,
                },
            ),
            (
                6,
                34,
                6,
                34,
                Shape::new(usize::MAX, c, 2, 1),
                Error::ShapeOverflow {
                    n: usize::MAX,
                    c,
                    h: 2,
                    w: 1,
                },
            ),
        ];
        for &(xs, xl, ys, yl, shape, want) in cases {
            let what = format!("x_stride={xs} x={xl} y_stride={ys} y={yl} {shape:?}");
            let q = Prepared {
                mean: p.mean,
                scale: p.var,
                beta: p.beta,
            };
            let mut y = vec![SENTINEL; yl];
            assert_eq!(
                normalize_strided(&x[..xl], xs, &mut y, ys, shape, &p, Activation::Relu),
                Err(want),
                "{what}"
            );
            assert_eq!(
                normalize_prepared_strided(&x[..xl], xs, &mut y, ys, shape, &q, Activation::Relu),
                Err(want),
                "{what}"
            );
            assert!(y.iter().all(|v| *v == SENTINEL), "{what}: y written");
            let mut y64 = vec![0.5f64; yl];
            assert_eq!(
                reference::normalize_strided(
                    &x[..xl],
                    xs,
                    &mut y64,
                    ys,
                    shape,
                    &p,
                    Activation::Relu
                ),
                Err(want),
                "reference {what}"
            );
            // The in-place and statistics forms check `x` the same way.
            let x_only = matches!(
                want,
                Error::StrideTooSmall {
                    name: "x_stride",
                    ..
                } | Error::BufferTooShort { buffer: "x", .. }
                    | Error::StrideOverflow {
                        name: "x_stride",
                        ..
                    }
                    | Error::ShapeOverflow { .. }
            );
            if x_only {
                let mut z = x[..xl].to_vec();
                assert_eq!(
                    normalize_strided_in_place(&mut z, xs, shape, &p, Activation::Relu),
                    Err(want),
                    "{what}"
                );
                assert_eq!(
                    normalize_prepared_strided_in_place(&mut z, xs, shape, &q, Activation::Relu),
                    Err(want),
                    "{what}"
                );
                assert!(z.iter().all(|v| *v == 1.0), "{what}: x written");
                let (mut m, mut v) = ([SENTINEL; 4], [SENTINEL; 4]);
                assert_eq!(
                    batch_stats_strided(&x[..xl], xs, shape, Method::Welford, &mut m, &mut v),
                    Err(want),
                    "{what}"
                );
                assert_eq!((m, v), ([SENTINEL; 4], [SENTINEL; 4]), "{what}");
                let mut acc = [Moments::default(); 4];
                assert_eq!(
                    accumulate_moments_strided(&x[..xl], xs, shape, Method::TwoPass, &mut acc),
                    Err(want),
                    "{what}"
                );
                assert_eq!(acc, [Moments::default(); 4], "{what}");
                let mut exact = [Moments::default(); 4];
                assert_eq!(
                    reference::moments_strided(&x[..xl], xs, shape, &mut exact),
                    Err(want),
                    "reference {what}"
                );
            }
        }
        // The messages give the numbers.
        let e = Error::StrideTooSmall {
            name: "x_stride",
            stride: 3,
            c: 4,
        };
        assert!(
            e.to_string().contains("`x_stride` = 3") && e.to_string().contains('4'),
            "{e}"
        );
        let e = Error::BufferTooShort {
            buffer: "y",
            needed: 39,
            actual: 38,
        };
        assert!(
            e.to_string().contains("39") && e.to_string().contains("38"),
            "{e}"
        );
        let e = Error::StrideOverflow {
            name: "x_stride",
            pixels: 3,
            stride: 9,
            c: 4,
        };
        assert!(
            e.to_string().contains("x_stride") && e.to_string().contains('9'),
            "{e}"
        );
        // Per-channel buffers come after the rows.
        let (mut m, mut v) = ([0.0f32; 3], [0.0f32; 4]);
        assert_eq!(
            batch_stats_strided(&x, 6, shape, Method::Welford, &mut m, &mut v),
            Err(Error::LengthMismatch {
                buffer: "mean",
                expected: 4,
                actual: 3
            })
        );
        let short = NormParams {
            gamma: &[1.0; 3],
            ..p
        };
        let mut y = vec![SENTINEL; 34];
        assert_eq!(
            normalize_strided(&x, 6, &mut y, 6, shape, &short, Activation::Relu),
            Err(Error::LengthMismatch {
                buffer: "gamma",
                expected: 4,
                actual: 3
            })
        );
        assert!(y.iter().all(|v| *v == SENTINEL));
    });
}
