//! Criterion benchmarks of [`batchnorm::batch_stats`]: one group per layout × method over the
//! shape grid, the kernel at every instruction-set level this CPU runs (`batch_stats_avx512`,
//! …), each with three baselines on the same buffer: the read roofline (a plain sum of `x`),
//! the floor of a one-pass statistic (`benches/support`) and the f64 oracle
//! `batchnorm::reference`.
//!
//! ```text
//! cargo bench --bench stats                      # everything, a few minutes
//! cargo bench --bench stats -- 'Nhwc/Welford'    # one group
//! RUSTFLAGS="-C target-cpu=native" cargo bench --bench stats --target-dir target/native
//! ```
//!
//! Throughput is `4 * numel` bytes (the input, read once) for every kernel, two-pass
//! included, so GB/s compare directly with the roofline's. Measurement times are short by
//! default; pass `--measurement-time`/`--sample-size` for steadier numbers.
//! `examples/bench_report.rs` gives the same comparison as one table in about a minute.

#[cfg(not(target_family = "wasm"))]
mod support;

#[cfg(not(target_family = "wasm"))]
mod bench {
    use std::hint::black_box;
    use std::time::Duration;

    use batchnorm::{Isa, Kernels, Layout, Method, reference};
    use criterion::{BenchmarkId, Criterion, Throughput};

    use crate::support::{GRID, data, floor, label, numel, paged, read_sum};

    /// The f64 oracle reads a channel at a time (strided in NHWC) and is 10–100× slower than
    /// the kernels; on the two largest grid shapes (12.8 and 25.7 MB) it would dominate the
    /// run, so it is only benchmarked up to this many elements (every other grid shape).
    const REFERENCE_MAX_NUMEL: usize = 1 << 20;

    pub fn config() -> Criterion {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
    }

    pub fn stats(cr: &mut Criterion) {
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for method in [Method::Welford, Method::TwoPass] {
                let mut g = cr.benchmark_group(format!("stats/{layout:?}/{method:?}"));
                for shape in GRID {
                    let len = numel(shape);
                    let x = paged(&data(len));
                    let (mut mean, mut var) = (vec![0.0f32; shape.c], vec![0.0f32; shape.c]);
                    let id = label(shape);
                    g.throughput(Throughput::Bytes(4 * len as u64));
                    for isa in Isa::supported() {
                        let k = Kernels::new(isa).expect("a supported level");
                        let name = format!("batch_stats_{isa}");
                        g.bench_function(BenchmarkId::new(name, &id), |b| {
                            b.iter(|| {
                                k.batch_stats(
                                    black_box(&x),
                                    shape,
                                    layout,
                                    method,
                                    &mut mean,
                                    &mut var,
                                )
                                .expect("grid shapes and buffers agree");
                                black_box((&mut mean, &mut var));
                            })
                        });
                    }
                    g.bench_function(BenchmarkId::new("roofline_read", &id), |b| {
                        b.iter(|| black_box(read_sum(black_box(&x))))
                    });
                    g.bench_function(BenchmarkId::new("floor", &id), |b| {
                        b.iter(|| black_box(floor(black_box(&x))))
                    });
                    if len <= REFERENCE_MAX_NUMEL {
                        let (mut rm, mut rv) = (vec![0.0f64; shape.c], vec![0.0f64; shape.c]);
                        g.bench_function(BenchmarkId::new("reference", &id), |b| {
                            b.iter(|| {
                                reference::batch_stats(
                                    black_box(&x),
                                    shape,
                                    layout,
                                    &mut rm,
                                    &mut rv,
                                )
                                .expect("grid shapes and buffers agree");
                                black_box((&mut rm, &mut rv));
                            })
                        });
                    }
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
    targets = bench::stats
}

#[cfg(not(target_family = "wasm"))]
criterion::criterion_main!(benches);

/// Criterion is not a dependency on wasm targets; there is nothing to run.
#[cfg(target_family = "wasm")]
fn main() {}
