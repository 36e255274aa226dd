//! Runs every kernel over the DESIGN.md shape grid and prints a markdown table: GB/s and the
//! percentage of the roofline (a plain `wide` read or copy kernel over the same buffer)
//! measured in the same run, right next to the kernel.
//!
//! ```text
//! cargo run --release --example bench_report [-- SECONDS]
//! RUSTFLAGS="-C target-cpu=native" cargo run --release --example bench_report --target-dir target/native
//! ```
//!
//! `SECONDS` is the total time budget (default 60). Each shape gets an equal share, spent
//! in rounds; a round times every kernel of the shape and its roofline once, in rotating
//! order, each for a few milliseconds. A machine shared with other work makes absolute
//! GB/s wander; the ratio to a roofline timed a few milliseconds apart wanders much less.
//! The table gives the best round of each (`best`) and the median over rounds of the
//! per-round ratio (`median`).
//!
//! Kernels are rows of [`KERNELS`]: adding one (normalize, training forward) is one entry
//! naming its roofline and its target.

#[path = "../benches/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use batchnorm::{
    Activation, Layout, Method, Momentum, NormParams, RunningStats, SavedStats, Shape, TrainParams,
    batch_stats, normalize, train_forward,
};

/// The bound a kernel is compared against.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Roofline {
    /// `Σx`: reads `4*numel` bytes.
    Read,
    /// `y = a*x + b`: reads and writes `4*numel` bytes each.
    Copy,
    /// `Σx`, then `y = a*x + b`: the bound of a training forward that reads `x` for its
    /// statistics and again to normalize it (12 bytes per element).
    ReadCopy,
}

impl Roofline {
    const ALL: [Roofline; 3] = [Roofline::Read, Roofline::Copy, Roofline::ReadCopy];

    fn name(self) -> &'static str {
        match self {
            Roofline::Read => "read",
            Roofline::Copy => "copy",
            Roofline::ReadCopy => "read+copy",
        }
    }

    /// Bytes moved per element (also the bytes a kernel measured against it is credited).
    fn bytes_per_elem(self) -> usize {
        match self {
            Roofline::Read => 4,
            Roofline::Copy => 8,
            Roofline::ReadCopy => 12,
        }
    }

    fn run(self, b: &mut Buffers) {
        match self {
            Roofline::Read => {
                black_box(support::read_sum(black_box(&b.x)));
            }
            Roofline::Copy => {
                support::copy_affine(black_box(&b.x), &mut b.y, 1.5, 0.25);
                black_box(&mut b.y);
            }
            Roofline::ReadCopy => {
                black_box(support::read_sum(black_box(&b.x)));
                support::copy_affine(black_box(&b.x), &mut b.y, 1.5, 0.25);
                black_box(&mut b.y);
            }
        }
    }
}

/// Everything a kernel may read or write, sized for one shape.
struct Buffers {
    shape: Shape,
    x: Vec<f32>,
    y: Vec<f32>,
    /// Per-channel outputs (`c` values each).
    mean: Vec<f32>,
    var: Vec<f32>,
    /// Per-channel parameters of normalize and the training forward, and its running and
    /// saved statistics (`c` values each).
    params: [Vec<f32>; 4],
    running: [Vec<f32>; 2],
    saved: [Vec<f32>; 2],
}

impl Buffers {
    fn new(shape: Shape) -> Self {
        let len = support::numel(shape);
        Buffers {
            shape,
            x: support::data(len),
            y: vec![0.0; len],
            mean: vec![0.0; shape.c],
            var: vec![0.0; shape.c],
            params: core::array::from_fn(|_| support::data(shape.c)),
            running: [vec![0.0; shape.c], vec![1.0; shape.c]],
            saved: [vec![0.0; shape.c], vec![0.0; shape.c]],
        }
    }
}

/// One row of the table.
struct Kernel {
    /// What is computed, e.g. `"stats"`.
    op: &'static str,
    layout: Layout,
    /// The variant, e.g. `"Welford"`.
    method: &'static str,
    roofline: Roofline,
    /// Fraction of the roofline DESIGN.md asks for.
    target: f64,
    run: fn(&mut Buffers),
}

fn stats(b: &mut Buffers, layout: Layout, method: Method) {
    batch_stats(
        black_box(&b.x),
        b.shape,
        layout,
        method,
        &mut b.mean,
        &mut b.var,
    )
    .expect("grid shapes and buffers agree");
    black_box((&mut b.mean, &mut b.var));
}

fn norm(b: &mut Buffers, layout: Layout, act: Activation) {
    let [mean, var, gamma, beta] = &b.params;
    let p = NormParams {
        mean,
        var,
        gamma,
        beta,
        eps: 1e-5,
    };
    normalize(black_box(&b.x), &mut b.y, b.shape, layout, &p, act)
        .expect("grid shapes and buffers agree");
    black_box(&mut b.y);
}

fn train(b: &mut Buffers, layout: Layout, method: Method) {
    let p = TrainParams {
        gamma: &b.params[2],
        beta: &b.params[3],
        eps: 1e-5,
        method,
        act: Activation::Relu,
    };
    let [rm, rv] = &mut b.running;
    let [sm, si] = &mut b.saved;
    train_forward(
        black_box(&b.x),
        &mut b.y,
        b.shape,
        layout,
        &p,
        Some(RunningStats {
            mean: rm,
            var: rv,
            momentum: Momentum::PYTORCH_DEFAULT,
        }),
        SavedStats {
            mean: sm,
            invstd: si,
        },
    )
    .expect("grid shapes and buffers agree");
    black_box(&mut b.y);
}

/// The kernels, in table order within a shape.
const KERNELS: &[Kernel] = &[
    Kernel {
        op: "stats",
        layout: Layout::Nchw,
        method: "Welford",
        roofline: Roofline::Read,
        target: 0.80,
        run: |b| stats(b, Layout::Nchw, Method::Welford),
    },
    Kernel {
        op: "stats",
        layout: Layout::Nchw,
        method: "TwoPass",
        roofline: Roofline::Read,
        target: 0.45,
        run: |b| stats(b, Layout::Nchw, Method::TwoPass),
    },
    Kernel {
        op: "stats",
        layout: Layout::Nhwc,
        method: "Welford",
        roofline: Roofline::Read,
        target: 0.80,
        run: |b| stats(b, Layout::Nhwc, Method::Welford),
    },
    Kernel {
        op: "stats",
        layout: Layout::Nhwc,
        method: "TwoPass",
        roofline: Roofline::Read,
        target: 0.45,
        run: |b| stats(b, Layout::Nhwc, Method::TwoPass),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nchw,
        method: "identity",
        roofline: Roofline::Copy,
        target: 0.85,
        run: |b| norm(b, Layout::Nchw, Activation::Identity),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nchw,
        method: "relu6",
        roofline: Roofline::Copy,
        target: 0.85,
        run: |b| norm(b, Layout::Nchw, Activation::RELU6),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nhwc,
        method: "identity",
        roofline: Roofline::Copy,
        target: 0.85,
        run: |b| norm(b, Layout::Nhwc, Activation::Identity),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nhwc,
        method: "relu6",
        roofline: Roofline::Copy,
        target: 0.85,
        run: |b| norm(b, Layout::Nhwc, Activation::RELU6),
    },
    Kernel {
        op: "train",
        layout: Layout::Nchw,
        method: "Welford",
        roofline: Roofline::ReadCopy,
        target: 0.75,
        run: |b| train(b, Layout::Nchw, Method::Welford),
    },
    Kernel {
        op: "train",
        layout: Layout::Nchw,
        method: "TwoPass",
        roofline: Roofline::ReadCopy,
        target: 0.75,
        run: |b| train(b, Layout::Nchw, Method::TwoPass),
    },
    Kernel {
        op: "train",
        layout: Layout::Nhwc,
        method: "Welford",
        roofline: Roofline::ReadCopy,
        target: 0.75,
        run: |b| train(b, Layout::Nhwc, Method::Welford),
    },
    Kernel {
        op: "train",
        layout: Layout::Nhwc,
        method: "TwoPass",
        roofline: Roofline::ReadCopy,
        target: 0.75,
        run: |b| train(b, Layout::Nhwc, Method::TwoPass),
    },
];

/// Something timed: a roofline or a kernel.
#[derive(Clone, Copy)]
enum Job {
    Roof(Roofline),
    Kernel(usize),
}

impl Job {
    fn run(self, b: &mut Buffers) {
        match self {
            Job::Roof(r) => r.run(b),
            Job::Kernel(k) => (KERNELS[k].run)(b),
        }
    }
}

/// Seconds per call of each job, one entry per round.
struct Series {
    job: Job,
    iters: u32,
    secs: Vec<f64>,
}

/// Time of one round of a job: long enough to swamp the clock's resolution, short enough
/// that many rounds fit in a shape's budget.
const ROUND: Duration = Duration::from_millis(4);
/// Rounds every job gets, whatever the budget.
const MIN_ROUNDS: usize = 7;

fn measure(shape: Shape, budget: Duration) -> Vec<Series> {
    let mut b = Buffers::new(shape);
    let mut jobs: Vec<Job> = Roofline::ALL
        .into_iter()
        .filter(|r| KERNELS.iter().any(|k| k.roofline == *r))
        .map(Job::Roof)
        .collect();
    jobs.extend((0..KERNELS.len()).map(Job::Kernel));

    // Warm up (page in the buffers, train the branch predictors) and calibrate.
    let mut series: Vec<Series> = jobs
        .iter()
        .map(|&job| {
            job.run(&mut b);
            let t0 = Instant::now();
            job.run(&mut b);
            let once = t0.elapsed().as_secs_f64().max(1e-9);
            let iters = (ROUND.as_secs_f64() / once).ceil().clamp(1.0, 1e6) as u32;
            Series {
                job,
                iters,
                secs: Vec::new(),
            }
        })
        .collect();

    let start = Instant::now();
    let mut round = 0;
    while round < MIN_ROUNDS || start.elapsed() < budget {
        let n = series.len();
        for i in 0..n {
            // Rotate the order so no job always runs right after the same neighbour.
            let s = &mut series[(i + round) % n];
            let t0 = Instant::now();
            for _ in 0..s.iters {
                s.job.run(&mut b);
            }
            s.secs.push(t0.elapsed().as_secs_f64() / f64::from(s.iters));
        }
        round += 1;
    }
    series
}

fn best(s: &[f64]) -> f64 {
    s.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

fn main() {
    let total = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(60.0);
    let per_shape = Duration::from_secs_f64(total / support::GRID.len() as f64);

    println!("batchnorm bench_report: {}", support::build_line());
    println!(
        "CPU: {}; single thread; {:.0} s budget, best and median over rounds of {} ms per kernel",
        cpu_model(),
        total,
        ROUND.as_millis()
    );
    println!();
    println!(
        "| shape (NxCxHxW) | MB | layout | kernel | method | GB/s | roofline GB/s | % of roofline (best) | % (median) | target | met |"
    );
    println!("|---|---:|---|---|---|---:|---:|---:|---:|---:|---|");

    let t0 = Instant::now();
    let (mut rows, mut misses) = (0, 0);
    for shape in support::GRID {
        let series = measure(shape, per_shape);
        let elems = support::numel(shape) as f64;
        let roof = |r: Roofline| {
            series
                .iter()
                .find(|s| matches!(s.job, Job::Roof(q) if q == r))
                .expect("every roofline a kernel names is measured")
        };
        for s in &series {
            let Job::Kernel(k) = s.job else { continue };
            let kern = &KERNELS[k];
            let r = roof(kern.roofline);
            let bytes = elems * kern.roofline.bytes_per_elem() as f64;
            let gbs = bytes / best(&s.secs) / 1e9;
            let roof_gbs = bytes / best(&r.secs) / 1e9;
            let pct = 100.0 * gbs / roof_gbs;
            // Rounds are paired: round i of the kernel ran right next to round i of its roofline.
            let pct_median =
                100.0 * median(r.secs.iter().zip(&s.secs).map(|(a, b)| a / b).collect());
            let ok = pct >= 100.0 * kern.target;
            rows += 1;
            misses += usize::from(!ok);
            println!(
                "| {} | {:.1} | {:?} | {} | {} | {:.1} | {:.1} ({}) | {:.0}% | {:.0}% | ≥{:.0}% | {} |",
                support::label(shape),
                elems * 4.0 / 1e6,
                kern.layout,
                kern.op,
                kern.method,
                gbs,
                roof_gbs,
                kern.roofline.name(),
                pct,
                pct_median,
                100.0 * kern.target,
                if ok { "ok" } else { "**miss**" },
            );
        }
    }
    println!();
    println!(
        "{} of {rows} rows meet their target; {misses} below (marked **miss**).",
        rows - misses
    );
    println!("Total time {:.0} s.", t0.elapsed().as_secs_f64());
}
