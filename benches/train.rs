//! Criterion benchmarks of [`batchnorm::train_forward`]: one group per layout and method
//! over the shape grid, each with the read-plus-copy bound on the same buffers:
//! the read roofline (`Σx`) followed by the copy roofline (`y = a*x + b`), the least a
//! forward that reads `x` for its statistics and again to normalize it could take.
//!
//! ```text
//! cargo bench --bench train                          # everything, about five minutes
//! cargo bench --bench train -- 'Nchw/Welford'        # one group
//! RUSTFLAGS="-C target-cpu=native" cargo bench --bench train --target-dir target/native
//! ```
//!
//! Throughput is `12 * numel` bytes (the bound's traffic: 4 read, then 4 read and 4
//! written) for both jobs, so the GB/s ratio is the fraction of the bound.

#[cfg(not(target_family = "wasm"))]
mod support;

#[cfg(not(target_family = "wasm"))]
mod bench {
    use std::hint::black_box;
    use std::time::Duration;

    use batchnorm::{
        Activation, Isa, Kernels, Layout, Method, Momentum, RunningStats, SavedStats, TrainParams,
    };
    use criterion::{BenchmarkId, Criterion, Throughput};

    use crate::support::{GRID, copy_affine, data, label, numel, paged, read_sum};

    pub fn config() -> Criterion {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
    }

    pub fn train_grid(cr: &mut Criterion) {
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for method in [Method::Welford, Method::TwoPass] {
                let mut g = cr.benchmark_group(format!("train/{layout:?}/{method:?}"));
                for shape in GRID {
                    let len = numel(shape);
                    let c = shape.c;
                    let x = paged(&data(len));
                    let mut y = paged(&vec![0.0f32; len]);
                    let (gamma, beta) = (data(c), data(c));
                    let p = TrainParams {
                        gamma: &gamma,
                        beta: &beta,
                        eps: 1e-5,
                        method,
                        act: Activation::Relu,
                    };
                    let (mut rm, mut rv) = (vec![0.0f32; c], vec![1.0f32; c]);
                    let (mut sm, mut si) = (vec![0.0f32; c], vec![0.0f32; c]);
                    let id = label(shape);
                    g.throughput(Throughput::Bytes(12 * len as u64));
                    for isa in Isa::supported() {
                        let k = Kernels::new(isa).expect("a supported level");
                        let name = format!("train_forward_{isa}");
                        g.bench_function(BenchmarkId::new(name, &id), |b| {
                            b.iter(|| {
                                k.train_forward(
                                    black_box(&x),
                                    &mut y,
                                    shape,
                                    layout,
                                    &p,
                                    Some(RunningStats {
                                        mean: &mut rm,
                                        var: &mut rv,
                                        momentum: Momentum::PYTORCH_DEFAULT,
                                    }),
                                    SavedStats {
                                        mean: &mut sm,
                                        invstd: &mut si,
                                    },
                                )
                                .expect("grid shapes and buffers agree");
                                black_box(&mut y);
                            })
                        });
                    }
                    g.bench_function(BenchmarkId::new("roofline_read_then_copy", &id), |b| {
                        b.iter(|| {
                            let s = read_sum(black_box(&x));
                            copy_affine(black_box(&x), &mut y, 1.5, s * 0.0 + 0.25);
                            black_box(&mut y);
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
    targets = bench::train_grid
}

#[cfg(not(target_family = "wasm"))]
criterion::criterion_main!(benches);

/// Criterion is not a dependency on wasm targets; there is nothing to run.
#[cfg(target_family = "wasm")]
fn main() {}
