//! The value generators shared by `tests/normalize.rs` and `tests/train.rs`: a seeded
//! PRNG and the distributions of the hard data classes.
#![allow(dead_code)] // each test binary uses its own subset

use batchnorm::{Layout, Shape};

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn sign(&mut self) -> f64 {
        if self.next_u64() >> 63 == 0 {
            1.0
        } else {
            -1.0
        }
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// How one channel's values are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// `offset + spread * N(0, 1)`.
    Normal { offset: f64, spread: f64 },
    /// One value.
    Constant(f32),
    /// Magnitudes in `[1e18, 3e19]`, whose squares overflow f32.
    Huge { mixed_signs: bool },
    /// Subnormals around 1e-40.
    Denormal { mixed_signs: bool },
    /// Integers in `lo..=hi`.
    SmallInts { lo: i32, hi: i32 },
}

impl Dist {
    pub fn sample(self, rng: &mut Rng) -> f32 {
        let sign = |rng: &mut Rng, mixed: bool| if mixed { rng.sign() } else { 1.0 };
        match self {
            Dist::Normal { offset, spread } => (offset + spread * rng.normal()) as f32,
            Dist::Constant(v) => v,
            Dist::Huge { mixed_signs } => {
                (sign(rng, mixed_signs) * 1e18 * 30f64.powf(rng.uniform())) as f32
            }
            Dist::Denormal { mixed_signs } => {
                (sign(rng, mixed_signs) * 1e-40 * (0.5 + rng.uniform())) as f32
            }
            Dist::SmallInts { lo, hi } => (lo + rng.below((hi - lo + 1) as usize) as i32) as f32,
        }
    }
}

/// Flat index of `(n, c, s)`, `s` the spatial position.
pub fn index(shape: Shape, layout: Layout, n: usize, c: usize, s: usize) -> usize {
    let plane = shape.h * shape.w;
    match layout {
        Layout::Nchw => (n * shape.c + c) * plane + s,
        Layout::Nhwc => (n * plane + s) * shape.c + c,
    }
}

/// An NCHW tensor whose channel `k` draws from `dists[k % dists.len()]`.
pub fn tensor_nchw(shape: Shape, dists: &[Dist], rng: &mut Rng) -> Vec<f32> {
    let plane = shape.h * shape.w;
    let mut x = Vec::with_capacity(shape.n * shape.c * plane);
    for _ in 0..shape.n {
        for c in 0..shape.c {
            for _ in 0..plane {
                x.push(dists[c % dists.len()].sample(rng));
            }
        }
    }
    x
}

/// The NCHW tensor `x` in `layout`.
pub fn to_layout(x: &[f32], shape: Shape, layout: Layout) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    for n in 0..shape.n {
        for c in 0..shape.c {
            for s in 0..shape.h * shape.w {
                out[index(shape, layout, n, c, s)] = x[index(shape, Layout::Nchw, n, c, s)];
            }
        }
    }
    out
}
