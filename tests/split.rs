//! Work splitting, as the crate docs' "Threads" section describes it, at every
//! instruction-set level: statistics over batch ranges (on scoped threads, and on
//! "ranks" whose `Moments` go through bytes as in an all-gather for synchronized batch
//! normalization) merged in order with `Moments::merge`, within the reference's bounds;
//! normalize over batch ranges, pixel-row ranges and (NCHW, one batch item) channel
//! ranges, bitwise equal to one call.

mod common;
mod isa;

use batchnorm::{Activation, Kernels, Layout, Moments, NormParams, Shape};
use common::*;
use isa::{each_isa, kernels};

/// `n` batch items cut into `parts` ranges as even as they come, in order.
fn ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    (0..parts)
        .map(|r| r * n / parts..(r + 1) * n / parts)
        .collect()
}

/// The values of batch items `r` of a tensor: in both layouts a batch item is the
/// contiguous run of `c*h*w` values.
fn items(x: &[f32], shape: Shape, r: &std::ops::Range<usize>) -> (Shape, std::ops::Range<usize>) {
    let item = shape.c * shape.h * shape.w;
    (
        Shape::new(r.len(), shape.c, shape.h, shape.w),
        r.start * item..(r.end * item).min(x.len()),
    )
}

const DISTS: [Dist; 4] = [
    Dist::Normal {
        offset: 0.0,
        spread: 1.0,
    },
    Dist::Normal {
        offset: 1e4,
        spread: 1.0,
    },
    Dist::Constant(-7.5),
    Dist::SmallInts { lo: -3, hi: 9 },
];

/// Checks merged moments against the reference over the whole tensor, with the bound
/// for moments merged from pieces (each piece's own bounds, composed).
fn check_merged(
    total: &[Moments],
    x: &[f32],
    shape: Shape,
    layout: Layout,
    parts: &[std::ops::Range<usize>],
    method: batchnorm::Method,
) {
    let whole = expected(x, shape, layout);
    let pieces: Vec<Vec<Expected>> = parts
        .iter()
        .map(|r| {
            let (s, span) = items(x, shape, r);
            expected(&x[span], s, layout)
        })
        .collect();
    for (k, m) in total.iter().enumerate() {
        let p: Vec<(Expected, Option<batchnorm::Method>)> =
            pieces.iter().map(|e| (e[k], Some(method))).collect();
        check_acc_pieces(m, &whole[k], &p)
            .unwrap_or_else(|msg| panic!("{shape:?} {layout:?} {method:?} channel {k}: {msg}"));
    }
}

/// Synchronized batch normalization: 4 "ranks" each hold 2 of the 8 batch items, compute
/// their `Moments`, and send them as bytes; the gathered bytes are viewed as `Moments`
/// again and merged in rank order.
#[test]
fn sync_bn_ranks_through_bytes() {
    let shape = Shape::new(8, 5, 9, 11);
    let mut rng = XorShift::new(21);
    each_isa(|| {
        for layout in LAYOUTS {
            let x = tensor(shape, layout, &DISTS, &mut rng);
            let ranks = ranges(shape.n, 4);
            for method in METHODS {
                // Each rank: its moments, sent as bytes (an all-gather appends them).
                let mut gathered_bytes: Vec<u8> = Vec::new();
                for r in &ranks {
                    let (s, span) = items(&x, shape, r);
                    let mut acc = vec![Moments::EMPTY; shape.c];
                    isa::accumulate_moments(&x[span], s, layout, method, &mut acc).unwrap();
                    let bytes: &[u8] = bytemuck::cast_slice(&acc);
                    assert_eq!(bytes.len(), 24 * shape.c);
                    gathered_bytes.extend_from_slice(bytes);
                }
                // The receive side: the bytes into a buffer of `Moments`, then merged
                // channel by channel in rank order.
                let mut gathered = vec![<Moments as bytemuck::Zeroable>::zeroed(); 4 * shape.c];
                bytemuck::cast_slice_mut::<Moments, u8>(&mut gathered)
                    .copy_from_slice(&gathered_bytes);
                let mut total = vec![Moments::EMPTY; shape.c];
                for rank in gathered.chunks_exact(shape.c) {
                    for (t, m) in total.iter_mut().zip(rank) {
                        *t = t.merge(*m);
                    }
                }
                check_merged(&total, &x, shape, layout, &ranks, method);
                // The f32 statistics from the merged moments, against batch_stats' own
                // (both within the reference's bounds).
                let (mut mean, mut var) = (vec![0.0f32; shape.c], vec![0.0f32; shape.c]);
                isa::batch_stats(&x, shape, layout, method, &mut mean, &mut var).unwrap();
                let whole = expected(&x, shape, layout);
                for (k, m) in total.iter().enumerate() {
                    check_moments(m.mean as f32, m.variance() as f32, &whole[k], method)
                        .unwrap_or_else(|e| panic!("{layout:?} {method:?} {k}: {e}"));
                    check_moments(mean[k], var[k], &whole[k], method).unwrap();
                }
            }
        }
    });
}

/// Statistics over batch ranges on scoped threads, merged in order.
#[test]
#[cfg_attr(target_family = "wasm", ignore = "wasm32-wasip1 has no threads")]
fn stats_over_batch_ranges_on_threads() {
    let mut rng = XorShift::new(22);
    each_isa(|| {
        let k: Kernels = kernels();
        for (shape, parts) in [
            (Shape::new(7, 3, 13, 13), 3),
            (Shape::new(5, 33, 4, 4), 2),
            (Shape::new(64, 40, 1, 1), 4),
        ] {
            for layout in LAYOUTS {
                let x = tensor(shape, layout, &DISTS, &mut rng);
                let parts = ranges(shape.n, parts);
                for method in METHODS {
                    let per_range: Vec<Vec<Moments>> = std::thread::scope(|s| {
                        let handles: Vec<_> = parts
                            .iter()
                            .map(|r| {
                                let (sub, span) = items(&x, shape, r);
                                let xs = &x[span];
                                s.spawn(move || {
                                    let mut acc = vec![Moments::EMPTY; sub.c];
                                    k.accumulate_moments(xs, sub, layout, method, &mut acc)
                                        .unwrap();
                                    acc
                                })
                            })
                            .collect();
                        handles.into_iter().map(|h| h.join().unwrap()).collect()
                    });
                    let mut total = vec![Moments::EMPTY; shape.c];
                    for acc in &per_range {
                        for (t, m) in total.iter_mut().zip(acc) {
                            *t = t.merge(*m);
                        }
                    }
                    check_merged(&total, &x, shape, layout, &parts, method);
                }
            }
        }
    });
}

/// Normalize over batch ranges (both layouts), pixel-row ranges (NHWC) and channel
/// ranges (NCHW with one batch item) on scoped threads: bitwise one call's result.
#[test]
#[cfg_attr(target_family = "wasm", ignore = "wasm32-wasip1 has no threads")]
fn normalize_over_ranges_on_threads_is_bitwise() {
    let mut rng = XorShift::new(23);
    each_isa(|| {
        let k: Kernels = kernels();
        let act = Activation::Relu;
        for shape in [
            Shape::new(7, 3, 13, 13),
            Shape::new(1, 37, 9, 7),
            Shape::new(5, 20, 1, 1),
        ] {
            let c = shape.c;
            let prm: Vec<Vec<f32>> = (0..4)
                .map(|i| {
                    (0..c)
                        .map(|_| 0.2 + i as f32 + rng.uniform() as f32)
                        .collect()
                })
                .collect();
            let p = NormParams {
                mean: &prm[0],
                var: &prm[1],
                gamma: &prm[2],
                beta: &prm[3],
                eps: 1e-5,
            };
            for layout in LAYOUTS {
                let x = tensor(shape, layout, &DISTS, &mut rng);
                let mut want = vec![0.0f32; x.len()];
                k.normalize(&x, &mut want, shape, layout, &p, act).unwrap();
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();

                // Batch ranges: out of place and in place.
                let mut y = vec![f32::NAN; x.len()];
                let mut z = x.clone();
                let item = c * shape.h * shape.w;
                std::thread::scope(|s| {
                    let (mut ys, mut zs) = (&mut y[..], &mut z[..]);
                    for r in ranges(shape.n, 3) {
                        let (sub, span) = items(&x, shape, &r);
                        let (yr, yt) = std::mem::take(&mut ys).split_at_mut(r.len() * item);
                        let (zr, zt) = std::mem::take(&mut zs).split_at_mut(r.len() * item);
                        (ys, zs) = (yt, zt);
                        let xs = &x[span];
                        s.spawn(move || {
                            k.normalize(xs, yr, sub, layout, &p, act).unwrap();
                            k.normalize_in_place(zr, sub, layout, &p, act).unwrap();
                        });
                    }
                });
                assert!(bits(&y) == bits(&want), "{shape:?} {layout:?} batch ranges");
                assert!(bits(&z) == bits(&want), "{shape:?} {layout:?} in place");

                // NHWC: any range of pixel rows is a tensor of `rows` x c x 1 x 1.
                if layout == Layout::Nhwc {
                    let rows = shape.n * shape.h * shape.w;
                    let mut y = vec![f32::NAN; x.len()];
                    let run = c * rows.div_ceil(4);
                    std::thread::scope(|s| {
                        for (xr, yr) in x.chunks(run).zip(y.chunks_mut(run)) {
                            let sub = Shape::new(xr.len() / c, c, 1, 1);
                            s.spawn(move || k.normalize(xr, yr, sub, layout, &p, act).unwrap());
                        }
                    });
                    assert!(bits(&y) == bits(&want), "{shape:?} NHWC row ranges");
                }

                // NCHW with one batch item: a range of channels is contiguous.
                if layout == Layout::Nchw && shape.n == 1 {
                    let plane = shape.h * shape.w;
                    let mut y = vec![f32::NAN; x.len()];
                    std::thread::scope(|s| {
                        let mut ys = &mut y[..];
                        for r in ranges(c, 3) {
                            let (yr, yt) = std::mem::take(&mut ys).split_at_mut(r.len() * plane);
                            ys = yt;
                            let xs = &x[r.start * plane..r.end * plane];
                            let sub = Shape::new(1, r.len(), shape.h, shape.w);
                            let q = NormParams {
                                mean: &p.mean[r.clone()],
                                var: &p.var[r.clone()],
                                gamma: &p.gamma[r.clone()],
                                beta: &p.beta[r],
                                eps: p.eps,
                            };
                            s.spawn(move || k.normalize(xs, yr, sub, layout, &q, act).unwrap());
                        }
                    });
                    assert!(bits(&y) == bits(&want), "{shape:?} NCHW channel ranges");
                }
            }
        }
    });
}
