//! Criterion benchmarks of [`batchnorm::normalize`]: one group per layout over the
//! shape grid, each with the copy roofline (`y = a*x + b`, `benches/support`), the kernel at every instruction-set level this CPU runs
//! on the same buffers.
//!
//! ```text
//! cargo bench --bench normalize                      # everything, about three minutes
//! cargo bench --bench normalize -- 'Nhwc'            # one layout
//! RUSTFLAGS="-C target-cpu=native" cargo bench --bench normalize --target-dir target/native
//! ```
//!
//! Throughput is `8 * numel` bytes (the input read once, the output written once) for
//! every job, so GB/s compare directly with the roofline's; in place moves the same bytes.

#[cfg(not(target_family = "wasm"))]
mod support;

#[cfg(not(target_family = "wasm"))]
mod bench {
    use std::hint::black_box;
    use std::time::Duration;

    use batchnorm::{Activation, Isa, Kernels, Layout, NormParams};
    use criterion::{BenchmarkId, Criterion, Throughput};

    use crate::support::{GRID, copy_affine, data, label, numel, paged};

    pub fn config() -> Criterion {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
    }

    pub fn normalize_grid(cr: &mut Criterion) {
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let mut g = cr.benchmark_group(format!("normalize/{layout:?}"));
            for shape in GRID {
                let len = numel(shape);
                let c = shape.c;
                let x = paged(&data(len));
                let mut y = paged(&vec![0.0f32; len]);
                let (mean, var) = (data(c), data(c));
                let (gamma, beta) = (data(c), data(c));
                let p = NormParams {
                    mean: &mean,
                    var: &var,
                    gamma: &gamma,
                    beta: &beta,
                    eps: 1e-5,
                };
                let id = label(shape);
                g.throughput(Throughput::Bytes(8 * len as u64));
                for isa in Isa::supported() {
                    let k = Kernels::new(isa).expect("a supported level");
                    for (name, act) in [
                        ("identity", Activation::Identity),
                        ("relu6", Activation::RELU6),
                    ] {
                        g.bench_function(BenchmarkId::new(format!("{name}_{isa}"), &id), |b| {
                            b.iter(|| {
                                k.normalize(black_box(&x), &mut y, shape, layout, &p, act)
                                    .expect("grid shapes and buffers agree");
                                black_box(&mut y);
                            })
                        });
                    }
                    let mut z = paged(&x);
                    let name = format!("in_place_relu_{isa}");
                    g.bench_function(BenchmarkId::new(name, &id), |b| {
                        b.iter(|| {
                            k.normalize_in_place(
                                black_box(&mut z),
                                shape,
                                layout,
                                &p,
                                Activation::Relu,
                            )
                            .expect("grid shapes and buffers agree");
                            black_box(&mut z);
                        })
                    });
                }
                g.bench_function(BenchmarkId::new("roofline_copy", &id), |b| {
                    b.iter(|| {
                        copy_affine(black_box(&x), &mut y, 1.5, 0.25);
                        black_box(&mut y);
                    })
                });
            }
            g.finish();
        }
    }
}

#[cfg(not(target_family = "wasm"))]
criterion::criterion_group! {
    name = benches;
    config = bench::config();
    targets = bench::normalize_grid
}

#[cfg(not(target_family = "wasm"))]
criterion::criterion_main!(benches);

/// Criterion is not a dependency on wasm targets; there is nothing to run.
#[cfg(target_family = "wasm")]
fn main() {}
