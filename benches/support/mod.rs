//! Shared by `benches/stats.rs` (criterion) and `examples/bench_report.rs` (the table in the
//! README): the shape grid, deterministic input data, and the two roofline
//! kernels every kernel is compared against, measured on the same buffers in the same run.
//!
//! The rooflines here (used by the criterion benches) are plain `wide` loops with several
//! independent accumulators, so they run as fast as a plain loop over the buffer can: an
//! honest upper bound, not a straw man. Their lane type is fixed when this file is compiled
//! (`f32x16` when the build enables AVX-512, `f32x8` otherwise); the crate's kernels are
//! not: they have 16 logical lanes on every ISA and pick the ISA at run time (see
//! `src/simd/mod.rs`). `examples/bench_report.rs` measures against the crate's own
//! rooflines (`batchnorm::roofline`), run at each level the kernels run at.
//! Included with `#[path]` from the example, so it must stay a single file.
#![allow(dead_code)] // each includer uses a different subset

use batchnorm::Shape;

/// The lane type of these rooflines: the widest `wide` type this compilation's target
/// features run in registers.
#[cfg(target_feature = "avx512f")]
pub type F32s = wide::f32x16;
/// The lane type of these rooflines: the widest `wide` type this compilation's target
/// features run in registers.
#[cfg(not(target_feature = "avx512f"))]
pub type F32s = wide::f32x8;

/// Lanes in one vector.
pub const LANES: usize = core::mem::size_of::<F32s>() / core::mem::size_of::<f32>();

/// Independent accumulators of the read roofline: enough to keep two loads per cycle in
/// flight against the add latency. A baseline x86-64 build (no AVX) has `f32x8` as two
/// SSE registers out of 16, so it keeps four (eight registers) and leaves room for loads.
#[cfg(all(target_arch = "x86_64", not(target_feature = "avx")))]
const READ_ACC: usize = 4;
#[cfg(not(all(target_arch = "x86_64", not(target_feature = "avx"))))]
const READ_ACC: usize = 8;

/// Vectors per iteration of the copy roofline.
const COPY_UNROLL: usize = 4;

/// The shape grid `(n, c, h, w)`.
pub const GRID: [Shape; 8] = [
    Shape::new(1, 3, 224, 224),
    Shape::new(1, 32, 112, 112),
    Shape::new(1, 64, 56, 56),
    Shape::new(1, 256, 14, 14),
    Shape::new(1, 1280, 7, 7),
    Shape::new(32, 64, 56, 56),
    Shape::new(8, 512, 28, 28),
    Shape::new(256, 1024, 1, 1),
];

/// `"NxCxHxW"`.
pub fn label(s: Shape) -> String {
    format!("{}x{}x{}x{}", s.n, s.c, s.h, s.w)
}

/// Elements of a grid shape (the grid never overflows).
pub fn numel(s: Shape) -> usize {
    s.n * s.c * s.h * s.w
}

/// `len` deterministic values, uniform in `[0.5, 1.5)` (no denormals, no NaN: the timing
/// does not depend on the values, only on their number and layout).
pub fn data(len: usize) -> Vec<f32> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            0.5 + (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// The read roofline: `Σx`, `READ_ACC` independent vector accumulators, one horizontal sum
/// at the end, a scalar tail. Reads every element once and does nothing else.
#[inline(never)]
pub fn read_sum(x: &[f32]) -> f32 {
    let (blocks, rest) = x.as_chunks::<{ READ_ACC * LANES }>();
    let mut acc = [F32s::ZERO; READ_ACC];
    for b in blocks {
        let (vs, _) = b.as_chunks::<LANES>();
        for (a, v) in acc.iter_mut().zip(vs) {
            *a += F32s::new(*v);
        }
    }
    let (vs, tail) = rest.as_chunks::<LANES>();
    for (a, v) in acc.iter_mut().zip(vs) {
        *a += F32s::new(*v);
    }
    let total = acc.iter().fold(F32s::ZERO, |s, a| s + *a).reduce_add();
    total + tail.iter().sum::<f32>()
}

/// The copy roofline: `y = a*x + b` (one fused multiply-add per element, the arithmetic of
/// a folded normalize), `COPY_UNROLL` vectors per iteration, a scalar tail. `y` must be as
/// long as `x`; extra elements of either are ignored.
#[inline(never)]
pub fn copy_affine(x: &[f32], y: &mut [f32], a: f32, b: f32) {
    let (va, vb) = (F32s::splat(a), F32s::splat(b));
    let len = x.len().min(y.len());
    let (x, y) = (&x[..len], &mut y[..len]);
    let (xb, xr) = x.as_chunks::<{ COPY_UNROLL * LANES }>();
    let (yb, yr) = y.as_chunks_mut::<{ COPY_UNROLL * LANES }>();
    for (xs, ys) in xb.iter().zip(yb) {
        let (xv, _) = xs.as_chunks::<LANES>();
        let (yv, _) = ys.as_chunks_mut::<LANES>();
        for (xi, yi) in xv.iter().zip(yv) {
            *yi = F32s::new(*xi).mul_add(va, vb).to_array();
        }
    }
    let (xv, xt) = xr.as_chunks::<LANES>();
    let (yv, yt) = yr.as_chunks_mut::<LANES>();
    for (xi, yi) in xv.iter().zip(yv) {
        *yi = F32s::new(*xi).mul_add(va, vb).to_array();
    }
    for (xi, yi) in xt.iter().zip(yt) {
        *yi = *xi * a + b;
    }
}

/// What this binary was compiled for: the lane type of these rooflines and the target
/// features that decide it (the crate's kernels choose their ISA at run time, whatever
/// these are).
pub fn build_line() -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    format!(
        "lanes: {} x f32 ({}), target features: avx512f={} avx2={} fma={} (arch {})",
        LANES,
        if LANES == 16 {
            "wide::f32x16"
        } else {
            "wide::f32x8"
        },
        yes(cfg!(target_feature = "avx512f")),
        yes(cfg!(target_feature = "avx2")),
        yes(cfg!(target_feature = "fma")),
        std::env::consts::ARCH,
    )
}
