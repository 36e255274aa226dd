//! Shared by the criterion benches (`benches/*.rs`) and `examples/bench_report.rs`: the
//! shape grid, deterministic input data, and the bounds every kernel is compared against,
//! measured on the same buffers in the same run. The bounds are the crate's own roofline
//! kernels (`batchnorm::roofline`: a sum, the floor of a one-pass statistic, `y = a*x + b`)
//! at the best instruction-set level this CPU runs, written on the same lanes as the
//! kernels: an honest upper bound, not a straw man.
//! Included with `#[path]` from the example, so it must stay a single file.
#![allow(dead_code)] // each includer uses a different subset

use batchnorm::{Isa, Shape, roofline};

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

/// `values` copied to the start of a 4 KiB page. Every buffer a timed kernel touches is
/// placed so: large allocations come from the system page-aligned (plus the allocator's
/// header, the same for every buffer), so two of them sit at the same offset modulo
/// 4 KiB. Left to the heap, the distance between `x` and `y` modulo 4 KiB changed from
/// build to build, and with it the speed of the copy roofline and of every kernel by up
/// to 40% (a load that follows a store to the same address modulo 4 KiB waits on it).
pub fn paged(values: &[f32]) -> Paged {
    const PAGE: usize = 4096 / 4;
    let mut buf = vec![0.0f32; values.len() + PAGE];
    let at = (PAGE - (buf.as_ptr() as usize / 4) % PAGE) % PAGE;
    buf[at..at + values.len()].copy_from_slice(values);
    Paged {
        buf,
        at,
        len: values.len(),
    }
}

/// A buffer of `f32` that starts a 4 KiB page ([`paged`]).
pub struct Paged {
    buf: Vec<f32>,
    at: usize,
    len: usize,
}

impl core::ops::Deref for Paged {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.at..self.at + self.len]
    }
}

impl core::ops::DerefMut for Paged {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.at..self.at + self.len]
    }
}

/// The read roofline: `Σx` over independent vector accumulators, at the best level.
#[inline(never)]
pub fn read_sum(x: &[f32]) -> f32 {
    roofline::read_sum(Isa::detected(), x)
}

/// The floor of a one-pass statistic, `t = x - p; s += t; q = fma(t, t, q)`, flat over the
/// buffer, at the best level.
#[inline(never)]
pub fn floor(x: &[f32]) -> (f32, f32) {
    roofline::floor(Isa::detected(), x, 1.0)
}

/// The copy roofline: `y = a*x + b` (one fused multiply-add per element), at the best level.
#[inline(never)]
pub fn copy_affine(x: &[f32], y: &mut [f32], a: f32, b: f32) {
    roofline::copy_affine(Isa::detected(), x, y, a, b)
}

/// What this binary was compiled for and what it runs: the compile-time target features
/// (they decide the portable level's instructions) and the detected level.
pub fn build_line() -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    format!(
        "kernels at run time: best level {} of {:?}; compiled with target features avx512f={} avx2={} fma={} (arch {})",
        Isa::detected(),
        Isa::supported().map(|i| i.name()).collect::<Vec<_>>(),
        yes(cfg!(target_feature = "avx512f")),
        yes(cfg!(target_feature = "avx2")),
        yes(cfg!(target_feature = "fma")),
        std::env::consts::ARCH,
    )
}
