//! Criterion benchmarks of [`batchnorm::backward`]: one group per layout and kind of
//! statistics over the shape grid, each with its bound on the same buffers: with batch
//! statistics `x` and `dy` read for the sums, then read again and `dx` written (the read
//! roofline over `x`, twice over `dy`, then the copy roofline `y = a*x + b`); with running
//! statistics `x` and `dy` read and `dx` written (the read roofline over `dy`, then the
//! copy roofline).
//!
//! ```text
//! cargo bench --bench backward                       # everything
//! cargo bench --bench backward -- 'Nchw/Batch'       # one group
//! ```
//!
//! Throughput is the bound's traffic (`20 * numel` bytes with batch statistics,
//! `12 * numel` with running ones) for both jobs, so the GB/s ratio is the fraction of
//! the bound.

#[cfg(not(target_family = "wasm"))]
mod support;

#[cfg(not(target_family = "wasm"))]
mod bench {
    use std::hint::black_box;
    use std::time::Duration;

    use batchnorm::{BackwardParams, ForwardStats, Isa, Kernels, Layout};
    use criterion::{BenchmarkId, Criterion, Throughput};

    use crate::support::{GRID, copy_affine, data, label, numel, paged, read_sum};

    pub fn config() -> Criterion {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
    }

    pub fn backward_grid(cr: &mut Criterion) {
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for stats in [ForwardStats::Batch, ForwardStats::Running] {
                let mut g = cr.benchmark_group(format!("backward/{layout:?}/{stats:?}"));
                let bytes = match stats {
                    ForwardStats::Batch => 20,
                    _ => 12,
                };
                for shape in GRID {
                    let len = numel(shape);
                    let c = shape.c;
                    let x = paged(&data(len));
                    let dy = paged(&data(len).iter().map(|v| v - 1.0).collect::<Vec<f32>>());
                    let mut dx = paged(&vec![0.0f32; len]);
                    let (mean, invstd, gamma) = (data(c), data(c), data(c));
                    let p = BackwardParams {
                        mean: &mean,
                        invstd: &invstd,
                        gamma: &gamma,
                    };
                    let (mut dgamma, mut dbeta) = (vec![0.0f32; c], vec![0.0f32; c]);
                    let id = label(shape);
                    g.throughput(Throughput::Bytes(bytes * len as u64));
                    for isa in Isa::supported() {
                        let k = Kernels::new(isa).expect("a supported level");
                        let name = format!("backward_{isa}");
                        g.bench_function(BenchmarkId::new(name, &id), |b| {
                            b.iter(|| {
                                k.backward(
                                    black_box(&x),
                                    black_box(&dy),
                                    &mut dx,
                                    shape,
                                    layout,
                                    &p,
                                    stats,
                                    &mut dgamma,
                                    &mut dbeta,
                                )
                                .expect("grid shapes and buffers agree");
                                black_box(&mut dx);
                            })
                        });
                    }
                    g.bench_function(BenchmarkId::new("roofline", &id), |b| {
                        b.iter(|| {
                            let mut s = 0.0;
                            if stats == ForwardStats::Batch {
                                s += read_sum(black_box(&x)) + read_sum(black_box(&dy));
                            }
                            s += read_sum(black_box(&dy));
                            copy_affine(black_box(&x), &mut dx, 1.5, s * 0.0 + 0.25);
                            black_box(&mut dx);
                        })
                    });
                }
                g.finish();
            }
        }
    }
}

#[cfg(not(target_family = "wasm"))]
criterion::criterion_group! {
    name = benches;
    config = bench::config();
    targets = bench::backward_grid
}

#[cfg(not(target_family = "wasm"))]
criterion::criterion_main!(benches);

/// Criterion is not a dependency on wasm targets; there is nothing to run.
#[cfg(target_family = "wasm")]
fn main() {}
