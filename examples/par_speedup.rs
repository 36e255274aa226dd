//! The speed-up of the `rayon` feature's parallel entry points (`batchnorm::par`) over the
//! serial ones, on every grid shape and both layouts: `batch_stats` (Welford) and
//! `normalize` (Identity), serial against a rayon pool of `--threads` threads (default 2).
//!
//! ```text
//! cargo run --release --features rayon --example par_speedup [-- --threads 2]
//! ```
//!
//! Each figure is the median of 15 timed calls after 3 warm-up calls; it is a short
//! measurement, noisy on a busy machine.

#[path = "../benches/support/mod.rs"]
mod support;

use batchnorm::{Activation, Layout, Method, NormParams, Shape, batch_stats, normalize, par};
use std::time::Instant;
use support::{GRID, data, label, numel};

/// Median seconds of `f` over 15 calls, after 3 warm-up calls.
fn median(mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<f64> = (0..15)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let mut threads = 2;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--threads needs a number")
            }
            other => panic!("unknown argument {other:?} (expected --threads N)"),
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    println!(
        "par vs serial, {threads} threads, {} available, level {}; median of 15 calls (ms)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        batchnorm::Isa::detected()
    );
    println!(
        "| shape | layout | stats serial | stats par | speed-up | normalize serial | normalize par | speed-up |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for shape in GRID {
        let x = data(numel(shape));
        let mut y = vec![0.0f32; x.len()];
        let c = shape.c;
        let (mut mean, mut var) = (vec![0.0f32; c], vec![0.0f32; c]);
        let (pm, pv, pg, pb) = (
            vec![1.0f32; c],
            vec![0.5f32; c],
            vec![2.0f32; c],
            vec![0.1f32; c],
        );
        let p = NormParams {
            mean: &pm,
            var: &pv,
            gamma: &pg,
            beta: &pb,
            eps: 1e-5,
        };
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let stats = |par_: bool, mean: &mut [f32], var: &mut [f32], s: Shape| {
                if par_ {
                    par::batch_stats(&x, s, layout, Method::Welford, mean, var)
                } else {
                    batch_stats(&x, s, layout, Method::Welford, mean, var)
                }
                .expect("valid arguments")
            };
            let s_ser = median(|| stats(false, &mut mean, &mut var, shape));
            let s_par = pool.install(|| median(|| stats(true, &mut mean, &mut var, shape)));
            let n_ser = median(|| {
                normalize(&x, &mut y, shape, layout, &p, Activation::Identity)
                    .expect("valid arguments")
            });
            let n_par = pool.install(|| {
                median(|| {
                    par::normalize(&x, &mut y, shape, layout, &p, Activation::Identity)
                        .expect("valid arguments")
                })
            });
            println!(
                "| {} | {:?} | {:.3} | {:.3} | {:.2}x | {:.3} | {:.3} | {:.2}x |",
                label(shape),
                layout,
                s_ser * 1e3,
                s_par * 1e3,
                s_ser / s_par,
                n_ser * 1e3,
                n_par * 1e3,
                n_ser / n_par
            );
        }
    }
}
