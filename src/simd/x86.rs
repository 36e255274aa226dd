//! The x86-64 lanes over `core::arch`: AVX2+FMA (16 lanes in two ymm registers) and
//! AVX-512F (16 lanes in one zmm register).
//!
//! Soundness rests on one invariant: a token ([`Avx2`], [`Avx512`]) is made only by
//! [`super::dispatch`], after the CPU and the OS were found to support its instructions,
//! and a vector is made only from a token (or from other vectors). So wherever a vector
//! exists, its instructions can run, and the `unsafe` intrinsic calls below are sound.
//! Each operation is `#[inline(always)]`: inlined into a kernel running inside
//! [`Simd::vectorize`], it becomes one or two instructions.

use super::{Body, HALF, LANES, Simd, Vf32, Vf64};
use core::arch::x86_64::*;
use core::ops::{Add, AddAssign, Div, Mul, Sub};

/// The AVX2+FMA token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

/// The AVX-512F token (with AVX2 and FMA, which every AVX-512F CPU has).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(());

impl Avx2 {
    /// # Safety
    /// The CPU and the OS must support AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx2(())
    }
}

impl Avx512 {
    /// # Safety
    /// The CPU and the OS must support AVX-512F, AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx512(())
    }
}

/// 16 f32 lanes in two ymm registers: lanes `0..8` in `a`, `8..16` in `b`.
#[derive(Clone, Copy)]
pub(crate) struct F32x16Avx2 {
    a: __m256,
    b: __m256,
}

/// 8 f64 lanes in two ymm registers: lanes `0..4` in `a`, `4..8` in `b`.
#[derive(Clone, Copy)]
pub(crate) struct F64x8Avx2 {
    a: __m256d,
    b: __m256d,
}

/// 16 f32 lanes in one zmm register.
#[derive(Clone, Copy)]
pub(crate) struct F32x16Avx512(__m512);

/// 8 f64 lanes in one zmm register.
#[derive(Clone, Copy)]
pub(crate) struct F64x8Avx512(__m512d);

/// Lane `i` holds `i`.
const IOTA: [f32; LANES] = {
    let mut a = [0.0f32; LANES];
    let mut i = 0;
    while i < LANES {
        a[i] = i as f32;
        i += 1;
    }
    a
};

/// The standard 8x8 transpose of eight ymm rows (unpack, shuffle, swap 128-bit halves).
///
/// # Safety
/// AVX must be available.
#[inline(always)]
unsafe fn transpose_8x8(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: the caller guarantees AVX; these are register-only shuffles.
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

/// Both 8x8 halves of [`Simd::transpose8`]: columns of rows `0..8`, then of rows `8..16`.
///
/// # Safety
/// AVX must be available.
#[inline(always)]
unsafe fn transpose_halves(rows: &[[f32; 8]; LANES]) -> ([__m256; 8], [__m256; 8]) {
    // SAFETY: the caller guarantees AVX; every load reads one whole `[f32; 8]` row.
    // Plain loops, no closures: a closure would be a function of its own, compiled without
    // AVX, and these intrinsics calls.
    unsafe {
        let (mut lo, mut hi) = ([_mm256_setzero_ps(); 8], [_mm256_setzero_ps(); 8]);
        for (l, (lo, hi)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
            *lo = _mm256_loadu_ps(rows[l].as_ptr());
            *hi = _mm256_loadu_ps(rows[8 + l].as_ptr());
        }
        (transpose_8x8(lo), transpose_8x8(hi))
    }
}

impl Simd for Avx2 {
    type F = F32x16Avx2;
    type D = F64x8Avx2;
    /// 16 ymm registers: 2 accumulators of 2-register states (`(mean, M2)`) leave room for
    /// the pivots, the input and the temporaries.
    const ACC: usize = 2;
    const STRIP: usize = 3;

    #[inline(always)]
    fn vectorize<B: Body<Self>>(self, body: B) -> B::Output {
        #[inline(never)]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn run<B: Body<Avx2>>(s: Avx2, body: B) -> B::Output {
            body.run(s)
        }
        // SAFETY: the token proves AVX2 and FMA are available.
        unsafe { run(self, body) }
    }
    #[inline(always)]
    fn splat(self, v: f32) -> F32x16Avx2 {
        // SAFETY: the token proves AVX2 and FMA are available.
        unsafe {
            let x = _mm256_set1_ps(v);
            F32x16Avx2 { a: x, b: x }
        }
    }
    #[inline(always)]
    fn load(self, a: &[f32; LANES]) -> F32x16Avx2 {
        // SAFETY: the token proves AVX; both loads lie inside `a` (16 values).
        unsafe {
            F32x16Avx2 {
                a: _mm256_loadu_ps(a.as_ptr()),
                b: _mm256_loadu_ps(a.as_ptr().add(8)),
            }
        }
    }
    #[inline(always)]
    fn load_partial(self, s: &[f32]) -> F32x16Avx2 {
        let n = s.len().min(LANES);
        // SAFETY: the token proves AVX2. A masked load touches only the lanes whose mask
        // is set (the others read as 0 and never fault): lanes `0..n`, inside `s`. The
        // high half is loaded only when `n > 8`, so its pointer stays inside `s`.
        unsafe {
            let a = _mm256_maskload_ps(s.as_ptr(), avx2_mask(n));
            let b = if n > 8 {
                _mm256_maskload_ps(s.as_ptr().add(8), avx2_mask(n - 8))
            } else {
                _mm256_setzero_ps()
            };
            F32x16Avx2 { a, b }
        }
    }
    #[inline(always)]
    fn splat64(self, v: f64) -> F64x8Avx2 {
        // SAFETY: the token proves AVX2 and FMA are available.
        unsafe {
            let x = _mm256_set1_pd(v);
            F64x8Avx2 { a: x, b: x }
        }
    }
    #[inline(always)]
    fn load64(self, a: &[f64; HALF]) -> F64x8Avx2 {
        // SAFETY: the token proves AVX; both loads lie inside `a` (8 values).
        unsafe {
            F64x8Avx2 {
                a: _mm256_loadu_pd(a.as_ptr()),
                b: _mm256_loadu_pd(a.as_ptr().add(4)),
            }
        }
    }
    #[inline(always)]
    fn transpose8(self, rows: &[[f32; 8]; LANES]) -> [F32x16Avx2; 8] {
        // SAFETY: the token proves AVX.
        let (lo, hi) = unsafe { transpose_halves(rows) };
        let mut out = [self.zero(); 8];
        for (o, (a, b)) in out.iter_mut().zip(lo.into_iter().zip(hi)) {
            *o = F32x16Avx2 { a, b };
        }
        out
    }
}

impl Simd for Avx512 {
    type F = F32x16Avx512;
    type D = F64x8Avx512;
    /// 32 zmm registers: 8 accumulators of `(mean, M2)` states.
    const ACC: usize = 8;
    const STRIP: usize = 4;

    #[inline(always)]
    fn vectorize<B: Body<Self>>(self, body: B) -> B::Output {
        #[inline(never)]
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn run<B: Body<Avx512>>(s: Avx512, body: B) -> B::Output {
            body.run(s)
        }
        // SAFETY: the token proves AVX-512F, AVX2 and FMA are available.
        unsafe { run(self, body) }
    }
    #[inline(always)]
    fn splat(self, v: f32) -> F32x16Avx512 {
        // SAFETY: the token proves AVX-512F is available.
        unsafe { F32x16Avx512(_mm512_set1_ps(v)) }
    }
    #[inline(always)]
    fn load(self, a: &[f32; LANES]) -> F32x16Avx512 {
        // SAFETY: the token proves AVX-512F; the load reads exactly `a`.
        unsafe { F32x16Avx512(_mm512_loadu_ps(a.as_ptr())) }
    }
    #[inline(always)]
    fn load_partial(self, s: &[f32]) -> F32x16Avx512 {
        let n = s.len().min(LANES);
        // SAFETY: the token proves AVX-512F. A masked load touches only the lanes whose
        // mask bit is set (the others are 0 and never fault): lanes `0..n`, inside `s`.
        unsafe { F32x16Avx512(_mm512_maskz_loadu_ps(avx512_mask(n), s.as_ptr())) }
    }
    #[inline(always)]
    fn splat64(self, v: f64) -> F64x8Avx512 {
        // SAFETY: the token proves AVX-512F is available.
        unsafe { F64x8Avx512(_mm512_set1_pd(v)) }
    }
    #[inline(always)]
    fn load64(self, a: &[f64; HALF]) -> F64x8Avx512 {
        // SAFETY: the token proves AVX-512F; the load reads exactly `a`.
        unsafe { F64x8Avx512(_mm512_loadu_pd(a.as_ptr())) }
    }
    #[inline(always)]
    fn transpose8(self, rows: &[[f32; 8]; LANES]) -> [F32x16Avx512; 8] {
        // SAFETY: the token proves AVX-512F and AVX; register-only casts and inserts.
        unsafe {
            let (lo, hi) = transpose_halves(rows);
            let mut out = [self.zero(); 8];
            for (o, (a, b)) in out.iter_mut().zip(lo.into_iter().zip(hi)) {
                *o = F32x16Avx512(join_256(a, b));
            }
            out
        }
    }
}

/// The AVX2 lane mask of the first `n.min(8)` lanes (a lane is set when its sign bit is).
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn avx2_mask(n: usize) -> __m256i {
    // SAFETY: the caller guarantees AVX2; register-only operations.
    unsafe {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), idx)
    }
}

/// The AVX-512 mask of the first `n.min(16)` lanes.
#[inline(always)]
fn avx512_mask(n: usize) -> __mmask16 {
    (((1u32 << n.min(LANES)) - 1) & 0xffff) as __mmask16
}

/// One zmm from two ymm halves, low first.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn join_256(lo: __m256, hi: __m256) -> __m512 {
    // SAFETY: the caller guarantees AVX-512F; register-only casts and an insert.
    unsafe {
        let v = _mm512_castps_pd(_mm512_castps256_ps512(lo));
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(v, _mm256_castps_pd(hi)))
    }
}

/// Implements a binary operator on a two-register vector, half by half.
macro_rules! pair_op {
    ($ty:ident, $trait:ident, $method:ident, $intr:ident) => {
        impl $trait for $ty {
            type Output = $ty;
            #[inline(always)]
            fn $method(self, o: $ty) -> $ty {
                // SAFETY: a vector exists only after its ISA's token did (module doc).
                unsafe {
                    $ty {
                        a: $intr(self.a, o.a),
                        b: $intr(self.b, o.b),
                    }
                }
            }
        }
    };
}

/// Implements a binary operator on a one-register vector.
macro_rules! one_op {
    ($ty:ident, $trait:ident, $method:ident, $intr:ident) => {
        impl $trait for $ty {
            type Output = $ty;
            #[inline(always)]
            fn $method(self, o: $ty) -> $ty {
                // SAFETY: a vector exists only after its ISA's token did (module doc).
                unsafe { $ty($intr(self.0, o.0)) }
            }
        }
    };
}

pair_op!(F32x16Avx2, Add, add, _mm256_add_ps);
pair_op!(F32x16Avx2, Sub, sub, _mm256_sub_ps);
pair_op!(F32x16Avx2, Mul, mul, _mm256_mul_ps);
pair_op!(F32x16Avx2, Div, div, _mm256_div_ps);
pair_op!(F64x8Avx2, Add, add, _mm256_add_pd);
pair_op!(F64x8Avx2, Sub, sub, _mm256_sub_pd);
pair_op!(F64x8Avx2, Mul, mul, _mm256_mul_pd);
pair_op!(F64x8Avx2, Div, div, _mm256_div_pd);
one_op!(F32x16Avx512, Add, add, _mm512_add_ps);
one_op!(F32x16Avx512, Sub, sub, _mm512_sub_ps);
one_op!(F32x16Avx512, Mul, mul, _mm512_mul_ps);
one_op!(F32x16Avx512, Div, div, _mm512_div_ps);
one_op!(F64x8Avx512, Add, add, _mm512_add_pd);
one_op!(F64x8Avx512, Sub, sub, _mm512_sub_pd);
one_op!(F64x8Avx512, Mul, mul, _mm512_mul_pd);
one_op!(F64x8Avx512, Div, div, _mm512_div_pd);

impl AddAssign for F32x16Avx2 {
    #[inline(always)]
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl AddAssign for F32x16Avx512 {
    #[inline(always)]
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl Vf32 for F32x16Avx2 {
    type D = F64x8Avx2;
    #[inline(always)]
    fn mul_add(self, m: Self, c: Self) -> Self {
        // SAFETY: a vector exists only after its token did: FMA is available.
        unsafe {
            F32x16Avx2 {
                a: _mm256_fmadd_ps(self.a, m.a, c.a),
                b: _mm256_fmadd_ps(self.b, m.b, c.b),
            }
        }
    }
    #[inline(always)]
    fn to_array(self) -> [f32; LANES] {
        let mut out = [0.0f32; LANES];
        self.store(&mut out);
        out
    }
    #[inline(always)]
    fn store(self, out: &mut [f32; LANES]) {
        // SAFETY: AVX is available (token); both stores lie inside `out` (16 values).
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr(), self.a);
            _mm256_storeu_ps(out.as_mut_ptr().add(8), self.b);
        }
    }
    #[inline(always)]
    fn store_partial(self, out: &mut [f32]) {
        let n = out.len().min(LANES);
        // SAFETY: AVX2 is available (token). A masked store writes only the lanes whose
        // mask is set: lanes `0..n`, inside `out`. The high half is stored only when
        // `n > 8`, so its pointer stays inside `out`.
        unsafe {
            _mm256_maskstore_ps(out.as_mut_ptr(), avx2_mask(n), self.a);
            if n > 8 {
                _mm256_maskstore_ps(out.as_mut_ptr().add(8), avx2_mask(n - 8), self.b);
            }
        }
    }
    #[inline(always)]
    fn widen(self) -> [F64x8Avx2; 2] {
        // SAFETY: AVX is available (token); register-only conversions.
        unsafe {
            let w = |v: __m256| F64x8Avx2 {
                a: _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                b: _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
            };
            [w(self.a), w(self.b)]
        }
    }
    #[inline(always)]
    fn relu(self) -> Self {
        // `maxps` returns its second operand when either is NaN or both are zero: with
        // the bound first, NaN and -0.0 pass through.
        // SAFETY: AVX is available (token).
        unsafe {
            let z = _mm256_setzero_ps();
            F32x16Avx2 {
                a: _mm256_max_ps(z, self.a),
                b: _mm256_max_ps(z, self.b),
            }
        }
    }
    #[inline(always)]
    fn clamp(self, lo: Self, hi: Self) -> Self {
        // SAFETY: AVX is available (token). Bounds first, as in `relu`.
        unsafe {
            F32x16Avx2 {
                a: _mm256_min_ps(hi.a, _mm256_max_ps(lo.a, self.a)),
                b: _mm256_min_ps(hi.b, _mm256_max_ps(lo.b, self.b)),
            }
        }
    }
    #[inline(always)]
    fn select_from(self, other: Self, from: Self) -> Self {
        // SAFETY: AVX is available (token); the IOTA loads read the whole constant.
        unsafe {
            let lo = _mm256_loadu_ps(IOTA.as_ptr());
            let hi = _mm256_loadu_ps(IOTA.as_ptr().add(8));
            let ma = _mm256_cmp_ps::<_CMP_GE_OQ>(lo, from.a);
            let mb = _mm256_cmp_ps::<_CMP_GE_OQ>(hi, from.b);
            F32x16Avx2 {
                a: _mm256_blendv_ps(self.a, other.a, ma),
                b: _mm256_blendv_ps(self.b, other.b, mb),
            }
        }
    }
    #[inline(always)]
    fn lanes_from(self, other: Self, from: usize) -> Self {
        // SAFETY: AVX is available (token). `from <= 16` is exact in f32.
        let f = unsafe { _mm256_set1_ps(from as f32) };
        self.select_from(other, F32x16Avx2 { a: f, b: f })
    }
    #[inline(always)]
    fn select_lt(self, rhs: Self, a: Self, b: Self) -> Self {
        // SAFETY: AVX is available (token); register-only compares and blends.
        unsafe {
            let ma = _mm256_cmp_ps::<_CMP_LT_OQ>(self.a, rhs.a);
            let mb = _mm256_cmp_ps::<_CMP_LT_OQ>(self.b, rhs.b);
            F32x16Avx2 {
                a: _mm256_blendv_ps(b.a, a.a, ma),
                b: _mm256_blendv_ps(b.b, a.b, mb),
            }
        }
    }
    #[inline(always)]
    fn pow2i(self) -> Self {
        // SAFETY: AVX2 is available (token); register-only conversions and integer ops.
        unsafe {
            let bias = _mm256_set1_epi32(127);
            let p = |v: __m256| {
                let e = _mm256_add_epi32(_mm256_cvtps_epi32(v), bias);
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(e))
            };
            F32x16Avx2 {
                a: p(self.a),
                b: p(self.b),
            }
        }
    }
}

impl Vf64 for F64x8Avx2 {
    type F = F32x16Avx2;
    #[inline(always)]
    fn mul_add(self, m: Self, c: Self) -> Self {
        // SAFETY: FMA is available (token).
        unsafe {
            F64x8Avx2 {
                a: _mm256_fmadd_pd(self.a, m.a, c.a),
                b: _mm256_fmadd_pd(self.b, m.b, c.b),
            }
        }
    }
    #[inline(always)]
    fn to_array(self) -> [f64; HALF] {
        let mut out = [0.0f64; HALF];
        // SAFETY: AVX is available (token); both stores lie inside `out` (8 values).
        unsafe {
            _mm256_storeu_pd(out.as_mut_ptr(), self.a);
            _mm256_storeu_pd(out.as_mut_ptr().add(4), self.b);
        }
        out
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        // SAFETY: AVX is available (token).
        unsafe {
            F64x8Avx2 {
                a: _mm256_sqrt_pd(self.a),
                b: _mm256_sqrt_pd(self.b),
            }
        }
    }
    #[inline(always)]
    fn narrow(lo: Self, hi: Self) -> F32x16Avx2 {
        // SAFETY: AVX is available (token); register-only conversions.
        unsafe {
            let n = |v: F64x8Avx2| _mm256_set_m128(_mm256_cvtpd_ps(v.b), _mm256_cvtpd_ps(v.a));
            F32x16Avx2 { a: n(lo), b: n(hi) }
        }
    }
}

impl Vf32 for F32x16Avx512 {
    type D = F64x8Avx512;
    #[inline(always)]
    fn mul_add(self, m: Self, c: Self) -> Self {
        // SAFETY: AVX-512F is available (token).
        unsafe { F32x16Avx512(_mm512_fmadd_ps(self.0, m.0, c.0)) }
    }
    #[inline(always)]
    fn to_array(self) -> [f32; LANES] {
        let mut out = [0.0f32; LANES];
        self.store(&mut out);
        out
    }
    #[inline(always)]
    fn store(self, out: &mut [f32; LANES]) {
        // SAFETY: AVX-512F is available (token); the store writes exactly `out`.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn store_partial(self, out: &mut [f32]) {
        let n = out.len().min(LANES);
        // SAFETY: AVX-512F is available (token). A masked store writes only the lanes
        // whose mask bit is set: lanes `0..n`, inside `out`.
        unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), avx512_mask(n), self.0) }
    }
    #[inline(always)]
    fn widen(self) -> [F64x8Avx512; 2] {
        // SAFETY: AVX-512F is available (token); register-only conversions.
        unsafe {
            let lo = _mm512_castps512_ps256(self.0);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0)));
            [
                F64x8Avx512(_mm512_cvtps_pd(lo)),
                F64x8Avx512(_mm512_cvtps_pd(hi)),
            ]
        }
    }
    #[inline(always)]
    fn relu(self) -> Self {
        // SAFETY: AVX-512F is available (token). Bound first: NaN and -0.0 pass (see the
        // AVX2 `relu`).
        unsafe { F32x16Avx512(_mm512_max_ps(_mm512_setzero_ps(), self.0)) }
    }
    #[inline(always)]
    fn clamp(self, lo: Self, hi: Self) -> Self {
        // SAFETY: AVX-512F is available (token). Bounds first, as in `relu`.
        unsafe { F32x16Avx512(_mm512_min_ps(hi.0, _mm512_max_ps(lo.0, self.0))) }
    }
    #[inline(always)]
    fn select_from(self, other: Self, from: Self) -> Self {
        // SAFETY: AVX-512F is available (token); the IOTA load reads the whole constant.
        unsafe {
            let k = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_loadu_ps(IOTA.as_ptr()), from.0);
            F32x16Avx512(_mm512_mask_blend_ps(k, self.0, other.0))
        }
    }
    #[inline(always)]
    fn lanes_from(self, other: Self, from: usize) -> Self {
        // SAFETY: AVX-512F is available (token). `from <= 16` is exact in f32.
        let f = unsafe { _mm512_set1_ps(from as f32) };
        self.select_from(other, F32x16Avx512(f))
    }
    #[inline(always)]
    fn select_lt(self, rhs: Self, a: Self, b: Self) -> Self {
        // SAFETY: AVX-512F is available (token); register-only compare and blend.
        unsafe {
            let k = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, rhs.0);
            F32x16Avx512(_mm512_mask_blend_ps(k, b.0, a.0))
        }
    }
    #[inline(always)]
    fn pow2i(self) -> Self {
        // SAFETY: AVX-512F is available (token); register-only conversions and integer ops.
        unsafe {
            let e = _mm512_add_epi32(_mm512_cvtps_epi32(self.0), _mm512_set1_epi32(127));
            F32x16Avx512(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(e)))
        }
    }
}

impl Vf64 for F64x8Avx512 {
    type F = F32x16Avx512;
    #[inline(always)]
    fn mul_add(self, m: Self, c: Self) -> Self {
        // SAFETY: AVX-512F is available (token).
        unsafe { F64x8Avx512(_mm512_fmadd_pd(self.0, m.0, c.0)) }
    }
    #[inline(always)]
    fn to_array(self) -> [f64; HALF] {
        let mut out = [0.0f64; HALF];
        // SAFETY: AVX-512F is available (token); the store writes exactly `out`.
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), self.0) };
        out
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        // SAFETY: AVX-512F is available (token).
        unsafe { F64x8Avx512(_mm512_sqrt_pd(self.0)) }
    }
    #[inline(always)]
    fn narrow(lo: Self, hi: Self) -> F32x16Avx512 {
        // SAFETY: AVX-512F is available (token); register-only conversions.
        unsafe { F32x16Avx512(join_256(_mm512_cvtpd_ps(lo.0), _mm512_cvtpd_ps(hi.0))) }
    }
}
