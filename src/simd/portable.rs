//! The portable lanes: `wide`'s `f32x16` and `f64x8`, whose instructions are chosen when
//! the crate is compiled (SSE2 on the x86-64 baseline, AVX-512 under
//! `-C target-cpu=native` on such a CPU, NEON on aarch64, simd128 on wasm with that
//! feature, plain arrays elsewhere). Runs on every target; the x86 fallback.

use super::{Body, HALF, LANES, Simd, Vf32, Vf64};
use wide::{f32x8, f32x16, f64x8, i32x16};

/// The portable token: always available.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Portable;

/// Lane `i` holds `i`.
const IOTA: f32x16 = {
    let mut a = [0.0f32; LANES];
    let mut i = 0;
    while i < LANES {
        a[i] = i as f32;
        i += 1;
    }
    f32x16::new(a)
};

impl Simd for Portable {
    type F = f32x16;
    type D = f64x8;
    /// One zmm per vector when compiled for AVX-512; two or four registers elsewhere,
    /// so fewer accumulators fit.
    #[cfg(target_feature = "avx512f")]
    const ACC: usize = 8;
    #[cfg(not(target_feature = "avx512f"))]
    const ACC: usize = 2;
    #[cfg(target_feature = "avx512f")]
    const STRIP: usize = 4;
    #[cfg(not(target_feature = "avx512f"))]
    const STRIP: usize = 2;
    const STREAMS: bool = false;

    /// A function of its own, as at the x86 levels (see [`Simd::vectorize`]).
    #[inline(always)]
    fn vectorize<B: Body<Self>>(self, body: B) -> B::Output {
        #[inline(never)]
        fn run<B: Body<Portable>>(s: Portable, body: B) -> B::Output {
            body.run(s)
        }
        run(self, body)
    }
    #[inline(always)]
    fn splat(self, v: f32) -> f32x16 {
        f32x16::splat(v)
    }
    #[inline(always)]
    fn load(self, a: &[f32; LANES]) -> f32x16 {
        f32x16::new(*a)
    }
    #[inline(always)]
    fn splat64(self, v: f64) -> f64x8 {
        f64x8::splat(v)
    }
    #[inline(always)]
    fn load64(self, a: &[f64; HALF]) -> f64x8 {
        f64x8::new(*a)
    }
    #[inline(always)]
    fn transpose8(self, rows: &[[f32; 8]; LANES]) -> [f32x16; 8] {
        let half = |h: usize| f32x8::transpose(core::array::from_fn(|l| f32x8::new(rows[h + l])));
        let (lo, hi) = (half(0), half(8));
        core::array::from_fn(|j| {
            let mut a = [0.0f32; LANES];
            a[..8].copy_from_slice(&lo[j].to_array());
            a[8..].copy_from_slice(&hi[j].to_array());
            f32x16::new(a)
        })
    }
}

impl Vf32 for f32x16 {
    type D = f64x8;
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32x16::mul_add(self, a, b)
    }
    #[inline(always)]
    fn to_array(self) -> [f32; LANES] {
        f32x16::to_array(self)
    }
    #[inline(always)]
    fn store(self, out: &mut [f32; LANES]) {
        *out = f32x16::to_array(self);
    }
    #[inline(always)]
    fn widen(self) -> [f64x8; 2] {
        let a = f32x16::to_array(self);
        [
            f64x8::new(core::array::from_fn(|i| f64::from(a[i]))),
            f64x8::new(core::array::from_fn(|i| f64::from(a[i + HALF]))),
        ]
    }
    #[inline(always)]
    fn relu(self) -> Self {
        // On x86, `maxps` with the bound first returns its second operand when either is
        // NaN (or when they are equal, so `-0.0` stays); elsewhere `wide`'s `max` flavours
        // differ on NaN, so it is a compare and a select.
        #[cfg(target_feature = "sse")]
        {
            f32x16::ZERO.fast_max(self)
        }
        #[cfg(not(target_feature = "sse"))]
        {
            self.simd_lt(f32x16::ZERO).select(f32x16::ZERO, self)
        }
    }
    #[inline(always)]
    fn clamp(self, lo: Self, hi: Self) -> Self {
        #[cfg(target_feature = "sse")]
        {
            hi.fast_min(lo.fast_max(self))
        }
        #[cfg(not(target_feature = "sse"))]
        {
            let v = self.simd_lt(lo).select(lo, self);
            v.simd_gt(hi).select(hi, v)
        }
    }
    #[inline(always)]
    fn select_from(self, other: Self, from: Self) -> Self {
        IOTA.simd_ge(from).select(other, self)
    }
    #[inline(always)]
    fn lanes_from(self, other: Self, from: usize) -> Self {
        // `from <= LANES` is a small integer, exact in f32.
        self.select_from(other, f32x16::splat(from as f32))
    }
    #[inline(always)]
    fn select_lt(self, rhs: Self, a: Self, b: Self) -> Self {
        self.simd_lt(rhs).select(a, b)
    }
    #[inline(always)]
    fn pow2i(self) -> Self {
        // The biased exponent `n + 127` in `[1, 254]`, moved to the exponent field.
        let e = self.fast_round_int() + i32x16::splat(127);
        bytemuck::cast(e << 23)
    }
}

impl Vf64 for f64x8 {
    type F = f32x16;
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64x8::mul_add(self, a, b)
    }
    #[inline(always)]
    fn to_array(self) -> [f64; HALF] {
        f64x8::to_array(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64x8::sqrt(self)
    }
    #[inline(always)]
    fn narrow(lo: Self, hi: Self) -> f32x16 {
        let (lo, hi) = (lo.to_array(), hi.to_array());
        f32x16::new(core::array::from_fn(|i| {
            (if i < HALF { lo[i] } else { hi[i - HALF] }) as f32
        }))
    }
}
