//! Runs every kernel over the shape grid (`benches/support/mod.rs`), at every
//! instruction-set level this CPU runs, and prints a markdown table: the percentage of the
//! bound (the crate's roofline kernels, `batchnorm::roofline`, over the same buffer at
//! every level, the fastest taken) measured in the same run, right next to the kernel, one column per level. Then writes the
//! table to `BENCHMARKS.md` at the repository root, in this build's section: each build
//! (lane count and target features) has its own section, replaced by the next run of the
//! same build; the sections of other builds are kept.
//!
//! ```text
//! cargo run --release --example bench_report [-- SECONDS] [--output PATH] [--op OP]
//! RUSTFLAGS="-C target-cpu=native" cargo run --release --example bench_report --target-dir target/native
//! ```
//!
//! `--output PATH` writes (merges into) `PATH` instead of `BENCHMARKS.md`, e.g. for a short
//! trial run that should not replace the published figures. `--op OP` (with `--output`)
//! measures only the kernels of one op (`stats`, `normalize`, `backward`, ...).
//!
//! `--count` times nothing: it runs each kernel (and each roofline) once to warm up and
//! then twice inside [`counted`], at the best level, for an instruction counter to
//! attribute; `benches/callgrind.sh` runs it under callgrind and prints instructions per
//! input vector.
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
    Activation, BackwardParams, ForwardStats, Isa, Kernels, Layout, Method, Momentum, NormParams,
    Prepared, RunningStats, SavedStats, Shape, TrainParams, prepare, roofline,
};

/// A bound kernels are compared against, measured at every level this CPU runs, on the
/// same buffers, in the same rounds as the kernels; a bound is the fastest of its levels
/// ([`Bound::fastest`]). The highest level is not always the fastest: on an Intel Xeon
/// with AVX-512 a copy from L2 ran 8-12% faster with 256-bit FMAs than with 512-bit ones.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Roofline {
    /// `Σx`: reads `4*numel` bytes.
    Read,
    /// The floor of a single-pass statistic: `t = x - p; s += t; q = fma(t, t, q)`, flat.
    Floor,
    /// `y = a*x + b`: reads and writes `4*numel` bytes each.
    Copy,
    /// `Σx`, then `y = a*x + b`: the bound of a training forward that reads `x` for its
    /// statistics and again to normalize it (12 bytes per element).
    ReadCopy,
    /// `Σx`, `Σdy`, `Σdy`, then `y = a*x + b`: the bound of a backward pass with batch
    /// statistics, which reads `x` and `dy` for its sums, then reads them again and
    /// writes `dx` (20 bytes per element).
    BackwardBatch,
    /// `Σdy`, then `y = a*x + b`: the bound of a backward pass with running statistics,
    /// which reads `x` and `dy` and writes `dx` (12 bytes per element).
    BackwardRunning,
    /// `Σx` over the strided rows (`c` values [`STRIDE`]`·c` apart), row by row: reads
    /// the rows alone.
    ReadRows,
    /// `Σx` flat over the span the strided rows cover, the gaps between them included.
    ReadSpan,
    /// `y = a*x + b` on the strided rows, row by row: writes the rows alone.
    CopyRows,
    /// `y = a*x + b` flat over the span the strided rows cover, the gaps included.
    CopySpan,
}

impl Roofline {
    const ALL: [Roofline; 10] = [
        Roofline::Read,
        Roofline::Floor,
        Roofline::Copy,
        Roofline::ReadCopy,
        Roofline::BackwardBatch,
        Roofline::BackwardRunning,
        Roofline::ReadRows,
        Roofline::ReadSpan,
        Roofline::CopyRows,
        Roofline::CopySpan,
    ];

    /// Whether the roofline writes, and so is also timed with streaming stores.
    fn writes(self) -> bool {
        matches!(
            self,
            Roofline::Copy
                | Roofline::ReadCopy
                | Roofline::BackwardBatch
                | Roofline::BackwardRunning
                | Roofline::CopySpan
        )
    }

    /// One run at `isa`, its flat copies with streaming stores when `stream`.
    fn run(self, b: &mut Buffers, isa: Isa, stream: bool) {
        let copy = if stream {
            roofline::copy_affine_stream
        } else {
            roofline::copy_affine
        };
        match self {
            Roofline::Read => {
                black_box(roofline::read_sum(isa, black_box(&b.x)));
            }
            Roofline::Floor => {
                black_box(roofline::floor(isa, black_box(&b.x), 1.0));
            }
            Roofline::Copy => {
                copy(isa, black_box(&b.x), &mut b.y, 1.5, 0.25);
                black_box(&mut b.y);
            }
            Roofline::ReadCopy => {
                black_box(roofline::read_sum(isa, black_box(&b.x)));
                copy(isa, black_box(&b.x), &mut b.y, 1.5, 0.25);
                black_box(&mut b.y);
            }
            Roofline::BackwardBatch => {
                black_box(roofline::read_sum(isa, black_box(&b.x)));
                black_box(roofline::read_sum(isa, black_box(&b.dy)));
                black_box(roofline::read_sum(isa, black_box(&b.dy)));
                copy(isa, black_box(&b.x), &mut b.y, 1.5, 0.25);
                black_box(&mut b.y);
            }
            Roofline::BackwardRunning => {
                black_box(roofline::read_sum(isa, black_box(&b.dy)));
                copy(isa, black_box(&b.x), &mut b.y, 1.5, 0.25);
                black_box(&mut b.y);
            }
            Roofline::ReadRows => {
                let (c, span) = strided_span(b.shape);
                black_box(roofline::read_rows(
                    isa,
                    black_box(&b.xs[..span]),
                    c,
                    STRIDE * c,
                ));
            }
            Roofline::ReadSpan => {
                let (_, span) = strided_span(b.shape);
                black_box(roofline::read_sum(isa, black_box(&b.xs[..span])));
            }
            Roofline::CopyRows => {
                let (c, span) = strided_span(b.shape);
                let (x, y) = (black_box(&b.xs[..span]), &mut b.ys[..span]);
                roofline::copy_rows(isa, x, y, c, STRIDE * c, 1.5, 0.25);
                black_box(&mut b.ys);
            }
            Roofline::CopySpan => {
                let (_, span) = strided_span(b.shape);
                let (x, y) = (black_box(&b.xs[..span]), &mut b.ys[..span]);
                copy(isa, x, y, 1.5, 0.25);
                black_box(&mut b.ys);
            }
        }
    }
}

/// What a kernel's row is a percentage of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bound {
    /// `min(floor, read roofline)`: no one-read statistic can beat it (4 bytes/element).
    Stats,
    /// The copy roofline (8 bytes/element).
    Copy,
    /// The read-then-copy bound (12 bytes/element).
    ReadCopy,
    /// The backward bound with batch statistics (20 bytes/element).
    BackwardBatch,
    /// The backward bound with running statistics (12 bytes/element).
    BackwardRunning,
    /// Statistics of strided rows: the slower of the floor and the faster of the two
    /// strided read rooflines (row by row, flat over the span), credited with the rows'
    /// 4 bytes/element.
    StatsRows,
    /// The faster of the two strided copy rooflines (row by row, flat over the span),
    /// credited with the rows' 8 bytes/element.
    CopyRows,
}

impl Bound {
    fn name(self) -> &'static str {
        match self {
            Bound::Stats => "min(floor, read)",
            Bound::Copy => "copy",
            Bound::ReadCopy => "read+copy",
            Bound::BackwardBatch => "2 reads+copy",
            Bound::BackwardRunning => "read+copy (2 inputs)",
            Bound::StatsRows => "min(floor, strided read)",
            Bound::CopyRows => "strided copy",
        }
    }

    /// Bytes moved per element (also the bytes a kernel measured against it is credited).
    fn bytes_per_elem(self) -> usize {
        match self {
            Bound::Stats => 4,
            Bound::Copy => 8,
            Bound::ReadCopy => 12,
            Bound::BackwardBatch => 20,
            Bound::BackwardRunning => 12,
            Bound::StatsRows => 4,
            Bound::CopyRows => 8,
        }
    }

    /// The level whose run of roofline `r` has the lowest median time over the rounds:
    /// that level's series stands for `r` in every round.
    fn fastest(series: &[Series], r: Roofline) -> Option<&Series> {
        series
            .iter()
            .filter(|s| matches!(s.job, Job::Roof(q, _, _) if q == r))
            .min_by(|a, b| median(a.secs.clone()).total_cmp(&median(b.secs.clone())))
    }

    /// The levels of the rooflines this bound is made of (fastest each), e.g. `avx2`.
    fn levels(self, series: &[Series]) -> String {
        let roofs: &[Roofline] = match self {
            Bound::Stats => &[Roofline::Read, Roofline::Floor],
            Bound::Copy => &[Roofline::Copy],
            Bound::ReadCopy => &[Roofline::ReadCopy],
            Bound::BackwardBatch => &[Roofline::BackwardBatch],
            Bound::BackwardRunning => &[Roofline::BackwardRunning],
            Bound::StatsRows => &[Roofline::ReadRows, Roofline::ReadSpan, Roofline::Floor],
            Bound::CopyRows => &[Roofline::CopyRows, Roofline::CopySpan],
        };
        let mut out: Vec<String> = Vec::new();
        for &r in roofs {
            if let Some(Job::Roof(_, isa, stream)) = Bound::fastest(series, r).map(|s| s.job) {
                let l = if stream {
                    format!("{isa}, streaming")
                } else {
                    isa.to_string()
                };
                if !out.contains(&l) {
                    out.push(l);
                }
            }
        }
        out.join("/")
    }

    /// Seconds per call of the bound in round `i` of `series`: the slower of the floor and
    /// the read roofline for statistics. Each roofline is its fastest level's run
    /// ([`Bound::fastest`]).
    fn secs(self, series: &[Series], i: usize) -> f64 {
        let of = |r: Roofline| Bound::fastest(series, r).map_or(f64::NAN, |s| s.secs[i]);
        match self {
            Bound::Stats => of(Roofline::Read).max(of(Roofline::Floor)),
            Bound::Copy => of(Roofline::Copy),
            Bound::ReadCopy => of(Roofline::ReadCopy),
            Bound::BackwardBatch => of(Roofline::BackwardBatch),
            Bound::BackwardRunning => of(Roofline::BackwardRunning),
            Bound::StatsRows => of(Roofline::ReadRows)
                .min(of(Roofline::ReadSpan))
                .max(of(Roofline::Floor)),
            Bound::CopyRows => of(Roofline::CopyRows).min(of(Roofline::CopySpan)),
        }
    }
}

/// Everything a kernel may read or write, sized for one shape.
struct Buffers {
    shape: Shape,
    /// The tensors, each at the start of a 4 KiB page ([`support::paged`]).
    x: support::Paged,
    y: support::Paged,
    /// The incoming gradient of the backward pass (`numel` values).
    dy: support::Paged,
    /// The strided rows: `x`'s and `y`'s rows [`STRIDE`] times `c` values apart.
    xs: support::Paged,
    ys: support::Paged,
    /// Per-channel outputs (`c` values each).
    mean: Vec<f32>,
    var: Vec<f32>,
    /// Per-channel parameters of normalize and the training forward, and its running and
    /// saved statistics (`c` values each).
    params: [Vec<f32>; 4],
    running: [Vec<f32>; 2],
    saved: [Vec<f32>; 2],
    /// The scales of `params`, [`prepare`]d once (`c` values).
    scale: Vec<f32>,
}

impl Buffers {
    fn new(shape: Shape) -> Self {
        let len = support::numel(shape);
        let params: [Vec<f32>; 4] = core::array::from_fn(|_| support::data(shape.c));
        let mut scale = vec![0.0; shape.c];
        let [mean, var, gamma, beta] = &params;
        let p = NormParams {
            mean,
            var,
            gamma,
            beta,
            eps: 1e-5,
        };
        prepare(&p, &mut scale).expect("positive variances");
        Buffers {
            shape,
            x: support::paged(&support::data(len)),
            y: support::paged(&vec![0.0; len]),
            dy: support::paged(
                &support::data(len)
                    .iter()
                    .map(|v| v - 1.0)
                    .collect::<Vec<_>>(),
            ),
            xs: support::paged(&support::data(STRIDE * len)),
            ys: support::paged(&vec![0.0; STRIDE * len]),
            mean: vec![0.0; shape.c],
            var: vec![0.0; shape.c],
            params,
            running: [vec![0.0; shape.c], vec![1.0; shape.c]],
            saved: [vec![0.0; shape.c], vec![0.0; shape.c]],
            scale,
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
    bound: Bound,
    /// Fraction of the bound the kernel aims for on `shape` (its target).
    target: fn(Shape) -> f64,
    run: fn(&mut Buffers, Kernels, Layout),
}

/// NCHW planes of 7x7 and 14x14 and 1x1 tensors: per-channel work weighs most there.
fn short(s: Shape) -> bool {
    s.h * s.w <= 14 * 14
}

/// The shapes larger than the caches of one core (L2).
fn large(s: Shape) -> bool {
    support::numel(s) * 4 > 8 << 20
}

fn welford_target(s: Shape) -> f64 {
    if short(s) { 0.60 } else { 0.85 }
}

fn two_pass_target(s: Shape) -> f64 {
    if large(s) { 0.80 } else { 0.60 }
}

fn stats(b: &mut Buffers, k: Kernels, layout: Layout, method: Method) {
    k.batch_stats(
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

fn norm(b: &mut Buffers, k: Kernels, layout: Layout, act: Activation) {
    let [mean, var, gamma, beta] = &b.params;
    let p = NormParams {
        mean,
        var,
        gamma,
        beta,
        eps: 1e-5,
    };
    k.normalize(black_box(&b.x), &mut b.y, b.shape, layout, &p, act)
        .expect("grid shapes and buffers agree");
    black_box(&mut b.y);
}

fn norm_prepared(b: &mut Buffers, k: Kernels, layout: Layout, act: Activation) {
    let p = Prepared {
        mean: &b.params[0],
        scale: &b.scale,
        beta: &b.params[3],
    };
    k.normalize_prepared(black_box(&b.x), &mut b.y, b.shape, layout, &p, act)
        .expect("grid shapes and buffers agree");
    black_box(&mut b.y);
}

/// The strided rows' distance, in multiples of `c`.
const STRIDE: usize = 2;

/// `(c, span)` of the strided rows of `shape`: `span` values from the first row's start
/// to the last row's end.
fn strided_span(shape: Shape) -> (usize, usize) {
    let c = shape.c;
    let rows = support::numel(shape) / c;
    (c, (rows - 1) * STRIDE * c + c)
}

/// Strided rows are credited with the bytes of the rows alone (`4*numel` read, and as many
/// written): the bytes the call touches, not the gaps between rows it skips. They are
/// measured against the strided rooflines ([`Bound::StatsRows`], [`Bound::CopyRows`]),
/// with the contiguous row's target (the same share of what the hardware gives). The
/// table after the main one compares them with the contiguous kernels; the aim there is
/// "within 10% of the contiguous figure", at least this share of it.
const STRIDED: f64 = 0.9;

/// The contiguous row of strided row `k`: the same op and method on NHWC.
fn contiguous_of(k: usize) -> Option<usize> {
    let base = KERNELS[k].method.strip_suffix(", stride 2c")?;
    KERNELS
        .iter()
        .position(|c| c.op == KERNELS[k].op && c.layout == Layout::Nhwc && c.method == base)
}

fn stats_strided(b: &mut Buffers, k: Kernels, method: Method) {
    k.batch_stats_strided(
        black_box(&b.xs),
        STRIDE * b.shape.c,
        b.shape,
        method,
        &mut b.mean,
        &mut b.var,
    )
    .expect("grid shapes and buffers agree");
    black_box((&mut b.mean, &mut b.var));
}

fn norm_strided(b: &mut Buffers, k: Kernels, act: Activation) {
    let [mean, var, gamma, beta] = &b.params;
    let p = NormParams {
        mean,
        var,
        gamma,
        beta,
        eps: 1e-5,
    };
    let stride = STRIDE * b.shape.c;
    k.normalize_strided(
        black_box(&b.xs),
        stride,
        &mut b.ys,
        stride,
        b.shape,
        &p,
        act,
    )
    .expect("grid shapes and buffers agree");
    black_box(&mut b.ys);
}

fn norm_prepared_strided(b: &mut Buffers, k: Kernels, act: Activation) {
    let p = Prepared {
        mean: &b.params[0],
        scale: &b.scale,
        beta: &b.params[3],
    };
    let stride = STRIDE * b.shape.c;
    k.normalize_prepared_strided(
        black_box(&b.xs),
        stride,
        &mut b.ys,
        stride,
        b.shape,
        &p,
        act,
    )
    .expect("grid shapes and buffers agree");
    black_box(&mut b.ys);
}

/// `normalize_prepared` with this activation, as a row of [`KERNELS`].
macro_rules! prepared_row {
    ($layout:expr, $name:literal, $target:expr, $act:expr) => {
        Kernel {
            op: "normalize_prepared",
            layout: $layout,
            method: $name,
            bound: Bound::Copy,
            target: |_| $target,
            run: |b, k, l| norm_prepared(b, k, l, $act),
        }
    };
}

fn train(b: &mut Buffers, k: Kernels, layout: Layout, method: Method) {
    let p = TrainParams {
        gamma: &b.params[2],
        beta: &b.params[3],
        eps: 1e-5,
        method,
        act: Activation::Relu,
    };
    let [rm, rv] = &mut b.running;
    let [sm, si] = &mut b.saved;
    k.train_forward(
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

fn backward(b: &mut Buffers, k: Kernels, layout: Layout, stats: ForwardStats) {
    let [mean, invstd, gamma, _] = &b.params;
    let p = BackwardParams {
        mean,
        invstd,
        gamma,
    };
    k.backward(
        black_box(&b.x),
        black_box(&b.dy),
        &mut b.y,
        b.shape,
        layout,
        &p,
        stats,
        &mut b.mean,
        &mut b.var,
    )
    .expect("grid shapes and buffers agree");
    black_box((&mut b.y, &mut b.mean, &mut b.var));
}

/// The kernels, in table order within a shape.
const KERNELS: &[Kernel] = &[
    Kernel {
        op: "stats",
        layout: Layout::Nchw,
        method: "Welford",
        bound: Bound::Stats,
        target: welford_target,
        run: |b, k, l| stats(b, k, l, Method::Welford),
    },
    Kernel {
        op: "stats",
        layout: Layout::Nchw,
        method: "TwoPass",
        bound: Bound::Stats,
        target: two_pass_target,
        run: |b, k, l| stats(b, k, l, Method::TwoPass),
    },
    Kernel {
        op: "stats",
        layout: Layout::Nhwc,
        method: "Welford",
        bound: Bound::Stats,
        target: welford_target,
        run: |b, k, l| stats(b, k, l, Method::Welford),
    },
    Kernel {
        op: "stats",
        layout: Layout::Nhwc,
        method: "TwoPass",
        bound: Bound::Stats,
        target: two_pass_target,
        run: |b, k, l| stats(b, k, l, Method::TwoPass),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nchw,
        method: "identity",
        bound: Bound::Copy,
        target: |_| 0.85,
        run: |b, k, l| norm(b, k, l, Activation::Identity),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nchw,
        method: "relu6",
        bound: Bound::Copy,
        target: |_| 0.85,
        run: |b, k, l| norm(b, k, l, Activation::RELU6),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nhwc,
        method: "identity",
        bound: Bound::Copy,
        target: |_| 0.85,
        run: |b, k, l| norm(b, k, l, Activation::Identity),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nhwc,
        method: "relu6",
        bound: Bound::Copy,
        target: |_| 0.85,
        run: |b, k, l| norm(b, k, l, Activation::RELU6),
    },
    // SiLU's `exp` is compute bound: reported, no target.
    prepared_row!(Layout::Nchw, "identity", 0.85, Activation::Identity),
    prepared_row!(Layout::Nchw, "relu6", 0.85, Activation::RELU6),
    prepared_row!(
        Layout::Nchw,
        "leaky_relu",
        0.85,
        Activation::LeakyRelu { slope: 0.01 }
    ),
    prepared_row!(Layout::Nchw, "hardswish", 0.85, Activation::HardSwish),
    prepared_row!(Layout::Nchw, "silu", 0.0, Activation::Silu),
    prepared_row!(Layout::Nhwc, "identity", 0.85, Activation::Identity),
    prepared_row!(Layout::Nhwc, "relu6", 0.85, Activation::RELU6),
    prepared_row!(
        Layout::Nhwc,
        "leaky_relu",
        0.85,
        Activation::LeakyRelu { slope: 0.01 }
    ),
    prepared_row!(Layout::Nhwc, "hardswish", 0.85, Activation::HardSwish),
    prepared_row!(Layout::Nhwc, "silu", 0.0, Activation::Silu),
    // Strided rows (NHWC, rows 2c apart), next to the contiguous NHWC rows above.
    Kernel {
        op: "stats",
        layout: Layout::Nhwc,
        method: "Welford, stride 2c",
        bound: Bound::StatsRows,
        target: welford_target,
        run: |b, k, _| stats_strided(b, k, Method::Welford),
    },
    Kernel {
        op: "normalize",
        layout: Layout::Nhwc,
        method: "identity, stride 2c",
        bound: Bound::CopyRows,
        target: |_| 0.85,
        run: |b, k, _| norm_strided(b, k, Activation::Identity),
    },
    Kernel {
        op: "normalize_prepared",
        layout: Layout::Nhwc,
        method: "identity, stride 2c",
        bound: Bound::CopyRows,
        target: |_| 0.85,
        run: |b, k, _| norm_prepared_strided(b, k, Activation::Identity),
    },
    Kernel {
        op: "train",
        layout: Layout::Nchw,
        method: "Welford",
        bound: Bound::ReadCopy,
        target: |_| 0.75,
        run: |b, k, l| train(b, k, l, Method::Welford),
    },
    Kernel {
        op: "train",
        layout: Layout::Nchw,
        method: "TwoPass",
        bound: Bound::ReadCopy,
        target: |_| 0.75,
        run: |b, k, l| train(b, k, l, Method::TwoPass),
    },
    Kernel {
        op: "train",
        layout: Layout::Nhwc,
        method: "Welford",
        bound: Bound::ReadCopy,
        target: |_| 0.75,
        run: |b, k, l| train(b, k, l, Method::Welford),
    },
    Kernel {
        op: "train",
        layout: Layout::Nhwc,
        method: "TwoPass",
        bound: Bound::ReadCopy,
        target: |_| 0.75,
        run: |b, k, l| train(b, k, l, Method::TwoPass),
    },
    Kernel {
        op: "backward",
        layout: Layout::Nchw,
        method: "Batch",
        bound: Bound::BackwardBatch,
        target: |_| 0.70,
        run: |b, k, l| backward(b, k, l, ForwardStats::Batch),
    },
    Kernel {
        op: "backward",
        layout: Layout::Nchw,
        method: "Running",
        bound: Bound::BackwardRunning,
        target: |_| 0.70,
        run: |b, k, l| backward(b, k, l, ForwardStats::Running),
    },
    // The same batch-statistics pass against the one-read bound (`x` and `dy` read once,
    // `dx` written): it reads each channel's planes twice, the second time from cache when
    // the channel fits, so on the tensors larger than the caches (where the target is) it
    // reads memory once per channel and approaches this bound.
    Kernel {
        op: "backward",
        layout: Layout::Nchw,
        method: "Batch, of one read",
        bound: Bound::BackwardRunning,
        target: |s| if large(s) { 0.70 } else { 0.0 },
        run: |b, k, l| backward(b, k, l, ForwardStats::Batch),
    },
    Kernel {
        op: "backward",
        layout: Layout::Nhwc,
        method: "Batch",
        bound: Bound::BackwardBatch,
        target: |_| 0.70,
        run: |b, k, l| backward(b, k, l, ForwardStats::Batch),
    },
    Kernel {
        op: "backward",
        layout: Layout::Nhwc,
        method: "Running",
        bound: Bound::BackwardRunning,
        target: |_| 0.70,
        run: |b, k, l| backward(b, k, l, ForwardStats::Running),
    },
];

/// Something timed: a roofline or a kernel.
#[derive(Clone, Copy)]
enum Job {
    /// A roofline at a level, with streaming stores or not.
    Roof(Roofline, Isa, bool),
    /// Kernel `KERNELS[k]` at a level.
    Kernel(usize, Isa),
}

impl Job {
    fn run(self, b: &mut Buffers) {
        match self {
            Job::Roof(r, isa, stream) => r.run(b, isa, stream),
            Job::Kernel(k, isa) => {
                let kern = &KERNELS[k];
                (kern.run)(
                    b,
                    Kernels::new(isa).expect("a supported level"),
                    kern.layout,
                )
            }
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

fn measure(shape: Shape, budget: Duration, op: Option<&str>) -> Vec<Series> {
    let mut b = Buffers::new(shape);
    let mut jobs: Vec<Job> = Vec::new();
    for isa in Isa::supported() {
        for r in Roofline::ALL {
            jobs.push(Job::Roof(r, isa, false));
            // The portable level has no streaming stores: its second run would only be
            // a second sample of the first.
            if r.writes() && isa != Isa::Portable {
                jobs.push(Job::Roof(r, isa, true));
            }
        }
    }
    for isa in Isa::supported() {
        jobs.extend(
            (0..KERNELS.len())
                .filter(|&k| wanted(k, op))
                .map(|k| Job::Kernel(k, isa)),
        );
    }

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
            // Streaming stores leave the output out of the caches; an ordinary run puts
            // it back, so that the next job starts where it would after any other.
            if let Job::Roof(r, isa, true) = s.job {
                Job::Roof(r, isa, false).run(&mut b);
            }
        }
        round += 1;
    }
    series
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

/// The `/proc/cpuinfo` line starting with `key`, after its colon (first CPU), if any.
fn cpuinfo(key: &str) -> Option<String> {
    std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    })
}

fn cpu_model() -> String {
    cpuinfo("model name").unwrap_or_else(|| "unknown CPU".to_string())
}

/// What the CPU supports (its `/proc/cpuinfo` flags), whatever the build uses.
fn cpu_flags() -> String {
    match cpuinfo("flags") {
        Some(flags) => {
            let has = |f: &str| {
                if flags.split_whitespace().any(|x| x == f) {
                    "yes"
                } else {
                    "no"
                }
            };
            format!(
                "avx2={} fma={} avx512f={}",
                has("avx2"),
                has("fma"),
                has("avx512f")
            )
        }
        None => "unknown (no /proc/cpuinfo flags)".to_string(),
    }
}

/// The command that ran this report, as far as the process can tell: `RUSTFLAGS` as set
/// when it ran (the build's target features, printed next to it, are authoritative) and
/// the arguments after `--`.
fn command_line() -> String {
    let mut cmd = String::new();
    if let Ok(flags) = std::env::var("RUSTFLAGS")
        && !flags.is_empty()
    {
        cmd.push_str(&format!("RUSTFLAGS=\"{flags}\" "));
    }
    cmd.push_str("cargo run --release --example bench_report");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        cmd.push_str(" -- ");
        cmd.push_str(&args.join(" "));
    }
    cmd
}

/// A section heading for this build.
fn build_title() -> &'static str {
    if cfg!(target_feature = "avx512f") {
        "Built with AVX-512 target features (e.g. `-C target-cpu=native` on this CPU)"
    } else if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
        "Built with AVX2 + FMA target features"
    } else {
        "Default build (x86-64 baseline target features; the kernels still pick AVX2 or AVX-512 at run time)"
    }
}

/// The top of `BENCHMARKS.md`, rewritten by every run.
const PREAMBLE: &str = "\
# Benchmarks

This file is written by `cargo run --release --example bench_report`
(`examples/bench_report.rs`). Each run measures one build (lane count and target features)
and replaces that build's section below; sections of other builds are kept. Edits by hand
are lost at the next run.

What is measured, single-threaded, over the shape grid of `benches/support/mod.rs`, both
layouts, at every instruction-set level the CPU runs (one column each; the crate's free
functions run at the best one, the last column): `batch_stats` (both methods) as a
percentage of `min(floor, read roofline)` (the read roofline is a plain sum of the same
buffer; the floor is the cheapest single-pass centered statistic, `t = x - p; s += t;
q = fma(t, t, q)`, flat over the buffer; no one-read statistic beats the slower of the
two), `normalize` (identity and ReLU6) and `normalize_prepared` (identity, ReLU6, leaky
ReLU, hard swish, SiLU) of the *copy roofline* (`y = a*x + b`), the training forward (`train_forward`, ReLU, PyTorch momentum) of the read-then-copy bound,
and the backward pass (`backward`) of its bound: with batch statistics `x` and `dy` read
for the sums, then read again and `dx` written (`Σx`, `Σdy`, `Σdy`, then `y = a*x + b`,
20 bytes per element); with running statistics `x` and `dy` read and `dx` written (`Σdy`,
then `y = a*x + b`, 12 bytes per element). Rows `Batch, of one read` time the NCHW
batch-statistics pass against the running statistics' bound, which reads `x` and `dy`
once: on the tensors larger than the caches (target 70%) that is what reading each
channel from memory once gives; elsewhere they are reported, with no target.
Rows marked `stride 2c` run the strided functions (`batch_stats_strided`,
`normalize_strided`, `normalize_prepared_strided`) on NHWC pixel rows `2c` values apart,
credited with the bytes of the rows alone (as the contiguous rows), against the strided
rooflines: for statistics the slower of the floor and the faster of two plain reads of
the rows (row by row, or flat over the span they cover, gaps included); for normalize the
faster of two plain copies (the same two ways). Their target is the contiguous row's
target. A second table after each build's main one compares every strided row with
the contiguous row of the same shape: kernel against kernel (within 10% is the aim),
and the strided rooflines against the contiguous ones (what the memory system gives a
plain loop when the rows are `2c` apart: rows that fit in L2 contiguously may not when
strided, since they cover twice the addresses and, at power-of-two pitches, half the
cache sets).
The bounds run at every level, those that write also with streaming (non-temporal)
stores, and each is the fastest of its runs by median (named in the bound column, after
the bound): the highest level is not always the fastest (on the Intel Xeon here, alone,
a copy from L2 ran 8-12% faster with 256-bit FMAs than with 512-bit ones, as heavy
512-bit arithmetic lowers the core's clock), and past the caches streaming stores win.
The strided normalize streams outputs of 8 MiB or more too, the contiguous normalize
outputs that with its input overflow L2 by a fifth, up to an input of 1.4 times L2, and
the backward pass `dx` once `x`, `dy` and `dx` overflow L2 by a tenth (marked
`streaming` in the kernel column). Each kernel is timed next to its bound, in interleaved
rounds a few milliseconds apart; a cell is the median over rounds of the per-round ratio.
Two-pass is credited with reading the input once (`4*numel` bytes). Every tensor starts
a 4 KiB page, as large allocations do: with `y` a few cache lines past `x` modulo 4 KiB,
a load can wait on an earlier store to the same address modulo 4 KiB, and the copy
roofline and the kernels moved by up to 40% with where the heap put the buffers. On a
machine shared with other work absolute GB/s wander between runs, the ratios less; rows
of tensors larger than L2 (32x64x56x56, 8x512x28x28, 256x1024x1x1) by 10-20%.
Comparing two builds section by section mixes in that wander; `capi/bench/ab_builds.sh`
times the default and native builds of the C library in one process instead, on the
same buffers, alternating. Instructions per input vector of each kernel, counted by
callgrind: `CALLGRIND.md` (`benches/callgrind.sh`).

Targets: Welford >= 85% (>= 60% on 7x7, 14x14 and 1x1), two-pass >= 60% (>= 80% on the
tensors larger than the caches), normalize >= 85% (SiLU: reported, no target), training
forward >= 75%, backward >= 70% of the bound,
at the best level. Rows below target are marked **miss**.

```sh
cargo run --release --example bench_report                      # default build, about a minute
RUSTFLAGS=\"-C target-cpu=native\" cargo run --release --example bench_report --target-dir target/native
cargo run --release --example bench_report -- 20                # a 20 s budget
cargo run --release --example bench_report -- 5 --output /tmp/b.md  # a trial run, elsewhere
cargo run --release --example bench_report -- 5 --output /tmp/b.md --op backward  # one op
```
";

/// Marks the start of a build's section; the build line follows, then ` -->`.
const SECTION_BEGIN: &str = "<!-- bench_report section: ";
/// Marks the end of a build's section.
const SECTION_END: &str = "<!-- end of bench_report section -->";

/// `existing` (a previous `BENCHMARKS.md`, or empty) with the section of `key` replaced by
/// `section` (or appended), under a fresh preamble.
fn merge_sections(existing: &str, key: &str, section: &str) -> String {
    let mut sections: Vec<String> = Vec::new();
    let mut replaced = false;
    let mut rest = existing;
    while let Some(b) = rest.find(SECTION_BEGIN) {
        let Some(e) = rest[b..].find(SECTION_END) else {
            break;
        };
        let text = &rest[b..b + e + SECTION_END.len()];
        let k = text[SECTION_BEGIN.len()..]
            .split_once(" -->")
            .map_or("", |(k, _)| k);
        if k == key {
            if !replaced {
                sections.push(section.to_string());
            }
            replaced = true;
        } else {
            sections.push(text.to_string());
        }
        rest = &rest[b + e + SECTION_END.len()..];
    }
    if !replaced {
        sections.push(section.to_string());
    }
    let mut out = String::from(PREAMBLE);
    for s in sections {
        out.push('\n');
        out.push_str(&s);
        out.push('\n');
    }
    out
}

/// Command-line options: `[SECONDS] [--output PATH] [--op OP]`.
struct Options {
    seconds: f64,
    output: std::path::PathBuf,
    /// Only the kernels of this op (`stats`, `normalize`, `backward`, ...).
    op: Option<String>,
    /// `--count`: run each job twice inside [`counted`] instead of timing it.
    count: bool,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 60.0,
        output: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"),
        op: None,
        count: false,
    };
    let mut output_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--op" {
            let op = args.next().expect("--op needs an op name");
            if !KERNELS.iter().any(|k| k.op == op) {
                eprintln!("bench_report: no kernel has op {op:?}");
                std::process::exit(2);
            }
            o.op = Some(op);
        } else if a == "--count" {
            o.count = true;
        } else if a == "--output" {
            output_given = true;
            o.output = args.next().expect("--output needs a path").into();
        } else if let Some(path) = a.strip_prefix("--output=") {
            output_given = true;
            o.output = path.into();
        } else {
            match a.parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => o.seconds = s,
                _ => {
                    eprintln!(
                        "usage: bench_report [SECONDS] [--output PATH] [--op OP] [--count]; got {a:?}"
                    );
                    std::process::exit(2);
                }
            }
        }
    }
    if o.op.is_some() && !output_given && !o.count {
        // A partial table must not replace the full one in BENCHMARKS.md.
        eprintln!("bench_report: --op needs --output (a partial run does not go to BENCHMARKS.md)");
        std::process::exit(2);
    }
    o
}

/// Whether kernel `k` is measured in this run.
fn wanted(k: usize, op: Option<&str>) -> bool {
    op.is_none_or(|op| KERNELS[k].op == op)
}

/// The kernel the plan picks for `kern` on `shape`, as a markdown code span.
fn plan_name(kern: &Kernel, shape: Shape) -> String {
    let k = Kernels::detected();
    let name = if kern.method.ends_with("stride 2c") {
        k.strided_kernel_name(kern.op, shape, STRIDE * shape.c)
            .map(|k| k.to_string())
    } else {
        let op = match (kern.op, kern.method) {
            ("stats", "TwoPass") => "stats_two_pass",
            ("backward", "Running") => "backward_running",
            (op, _) => op,
        };
        // The identity normalize past L1 runs its AVX2 code at AVX-512.
        let identity = kern.op.starts_with("normalize") && kern.method == "identity";
        let lower = k.normalize_level(shape, kern.layout, Activation::Identity);
        if identity && lower != k.isa() {
            Kernels::new(lower)
                .ok()
                .and_then(|l| l.kernel_name(op, shape, kern.layout))
                .map(|n| format!("{n}` at `{lower}"))
        } else {
            k.kernel_name(op, shape, kern.layout).map(|k| k.to_string())
        }
    };
    // Around the L2 size, contiguous outputs go out with streaming stores.
    let streams = !kern.method.ends_with("stride 2c") && k.output_streams(kern.op, shape);
    let tail = if streams { ", streaming" } else { "" };
    name.map_or_else(|| "?".to_string(), |k| format!("`{k}`{tail}"))
}

/// Runs `job` twice. Never inlined, so an instruction counter can collect exactly these
/// calls (callgrind's `--toggle-collect=*counted*`, `--dump-after=*counted*`).
#[inline(never)]
fn counted(job: Job, b: &mut Buffers) {
    job.run(b);
    job.run(b);
}

/// `--count`: every roofline and every kernel of `op` (all when `None`) at the best level,
/// on every grid shape, each warmed up once and then run inside [`counted`]. Prints one
/// tab-separated line per call of [`counted`], in order: shape, values, layout, op,
/// method, kernel.
fn count(op: Option<&str>) {
    let isa = Isa::detected();
    println!("count: level {isa}; CPU {}", cpu_model());
    for shape in support::GRID {
        let mut b = Buffers::new(shape);
        let roofs = Roofline::ALL
            .into_iter()
            .map(|r| (Job::Roof(r, isa, false), None));
        let kernels = (0..KERNELS.len())
            .filter(|&k| wanted(k, op))
            .map(|k| (Job::Kernel(k, isa), Some(&KERNELS[k])));
        for (job, kern) in roofs.chain(kernels) {
            job.run(&mut b);
            counted(job, &mut b);
            let (layout, op, method, name) = match (job, kern) {
                (Job::Roof(r, _, _), _) => {
                    ("-".to_string(), "bound", format!("{r:?}"), "-".to_string())
                }
                (_, Some(k)) => (
                    format!("{:?}", k.layout),
                    k.op,
                    k.method.to_string(),
                    plan_name(k, shape),
                ),
                (_, None) => unreachable!("every kernel job has its row"),
            };
            println!(
                "count\t{}\t{}\t{layout}\t{op}\t{method}\t{name}",
                support::label(shape),
                support::numel(shape)
            );
        }
    }
}

fn main() {
    let opts = options();
    if opts.count {
        count(opts.op.as_deref());
        return;
    }
    let total = opts.seconds;
    let per_shape = Duration::from_secs_f64(total / support::GRID.len() as f64);

    // The table and its summary, printed as they come and kept for BENCHMARKS.md.
    let mut table = String::new();
    macro_rules! emit {
        ($($arg:tt)*) => {{
            let line = format!($($arg)*);
            println!("{line}");
            table.push_str(&line);
            table.push('\n');
        }};
    }

    let build = support::build_line();
    println!("batchnorm bench_report: {build}");
    println!(
        "CPU: {}; single thread; {:.0} s budget, best and median over rounds of {} ms per kernel",
        cpu_model(),
        total,
        ROUND.as_millis()
    );
    println!();
    let isas: Vec<Isa> = Isa::supported().collect();
    let cols: String = isas.iter().map(|i| format!(" {i} % |")).collect();
    let dashes: String = isas.iter().map(|_| "---:|").collect();
    emit!(
        "| shape (NxCxHxW) | MB | layout | op | method | kernel (plan) | bound | bound GB/s |{cols} target | met ({}) |",
        Isa::detected()
    );
    emit!("|---|---:|---|---|---|---|---|---:|{dashes}---:|---|");

    let t0 = Instant::now();
    let (mut rows, mut misses) = (0, 0);
    // The strided rows against the contiguous ones, printed after the main table.
    let (mut strided, mut strided_met, mut strided_rows) = (Vec::new(), 0, 0);
    for shape in support::GRID {
        let series = measure(shape, per_shape, opts.op.as_deref());
        let elems = support::numel(shape) as f64;
        let rounds = series[0].secs.len();
        let best = Isa::detected();
        let kernel_secs = |k: usize| {
            series
                .iter()
                .find(|s| matches!(s.job, Job::Kernel(j, i) if j == k && i == best))
                .map(|s| &s.secs)
        };
        for (k, kern) in KERNELS.iter().enumerate() {
            let Some(kc) = contiguous_of(k) else { continue };
            let (Some(ts), Some(tc)) = (kernel_secs(k), kernel_secs(kc)) else {
                continue;
            };
            // Median over rounds of the per-round ratio of times: both rows are credited
            // with the same bytes, so this is the strided kernel's speed over the
            // contiguous one's; the same for their bounds.
            let kernel = median((0..rounds).map(|i| tc[i] / ts[i]).collect());
            let bounds = median(
                (0..rounds)
                    .map(|i| KERNELS[kc].bound.secs(&series, i) / kern.bound.secs(&series, i))
                    .collect(),
            );
            let ok = kernel >= STRIDED;
            strided_rows += 1;
            strided_met += usize::from(ok);
            strided.push(format!(
                "| {} | {} | {} | {:.0}% | {:.0}% | {} |",
                support::label(shape),
                kern.op,
                kern.method,
                100.0 * kernel,
                100.0 * bounds,
                if ok { "ok" } else { "**miss**" },
            ));
        }
        for (k, kern) in KERNELS.iter().enumerate() {
            if !wanted(k, opts.op.as_deref()) {
                continue;
            }
            let bytes = elems * kern.bound.bytes_per_elem() as f64;
            let bound_best = (0..rounds)
                .map(|i| kern.bound.secs(&series, i))
                .fold(f64::INFINITY, f64::min);
            // Per level: the median over rounds of the per-round ratio (round i of the
            // kernel ran right next to round i of the bound).
            let pct: Vec<f64> = isas
                .iter()
                .map(|isa| {
                    let s = series
                        .iter()
                        .find(|s| matches!(s.job, Job::Kernel(j, i) if j == k && i == *isa))
                        .expect("every kernel is measured at every level");
                    100.0
                        * median(
                            (0..rounds)
                                .map(|i| kern.bound.secs(&series, i) / s.secs[i])
                                .collect(),
                        )
                })
                .collect();
            let target = (kern.target)(shape);
            let ok = pct.last().copied().unwrap_or(0.0) >= 100.0 * target;
            rows += 1;
            misses += usize::from(!ok);
            let cells: String = pct.iter().map(|p| format!(" {p:.0}% |")).collect();
            let name = plan_name(kern, shape);
            emit!(
                "| {} | {:.1} | {:?} | {} | {} | {} | {} | {:.1} |{cells} ≥{:.0}% | {} |",
                support::label(shape),
                elems * 4.0 / 1e6,
                kern.layout,
                kern.op,
                kern.method,
                name,
                format!("{} ({})", kern.bound.name(), kern.bound.levels(&series)),
                bytes / bound_best / 1e9,
                100.0 * target,
                if ok { "ok" } else { "**miss**" },
            );
        }
    }
    println!();
    table.push('\n');
    emit!(
        "{} of {rows} rows meet their target; {misses} below (marked **miss**).",
        rows - misses
    );
    if strided_rows > 0 {
        println!();
        table.push('\n');
        emit!(
            "Strided rows against the contiguous NHWC rows of the same shape, at {}: the strided \
             kernel's speed as a percentage of the contiguous kernel's (both credited with the \
             rows' bytes), and the same for their bounds (strided rooflines over contiguous \
             ones), medians of per-round ratios. Within 10% is the aim; the bounds' column is \
             what the memory system gives a plain loop over the same rows.",
            Isa::detected()
        );
        println!();
        table.push('\n');
        emit!(
            "| shape (NxCxHxW) | op | method | kernel, of contiguous | bound, of contiguous | within 10% |"
        );
        emit!("|---|---|---|---:|---:|---|");
        for line in &strided {
            emit!("{line}");
        }
        println!();
        table.push('\n');
        emit!("{strided_met} of {strided_rows} strided rows within 10% of the contiguous kernel.");
    }
    emit!("Total time {:.0} s.", t0.elapsed().as_secs_f64());

    let section = format!(
        "{SECTION_BEGIN}{build} -->\n\
         ## {title}\n\n\
         - Build: {build}\n\
         - CPU: {model} (`/proc/cpuinfo` model name); CPU flags: {flags}\n\
         - Command: `{cmd}`\n\
         - Single thread; {total:.0} s budget, best and median over rounds of {round} ms per kernel\n\n\
         {table}{SECTION_END}",
        title = build_title(),
        model = cpu_model(),
        flags = cpu_flags(),
        cmd = command_line(),
        round = ROUND.as_millis(),
    );
    let existing = std::fs::read_to_string(&opts.output).unwrap_or_default();
    let merged = merge_sections(&existing, &build, &section);
    match std::fs::write(&opts.output, merged) {
        Ok(()) => println!("Wrote this build's section of {}.", opts.output.display()),
        Err(e) => {
            eprintln!("cannot write {}: {e}", opts.output.display());
            std::process::exit(1);
        }
    }
}
