//! AVX-512F (and DQ for `vrangeps`): 16 lanes in one zmm register.

use super::{IOTA, transpose_halves};
use crate::simd::{Body, HALF, LANES, Simd, Vf32, Vf64};
use core::arch::x86_64::*;
use core::ops::{Add, AddAssign, Div, Mul, Sub};

/// The AVX-512F and AVX-512DQ token (with AVX2 and FMA, which every such CPU has).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU and the OS must support AVX-512F, AVX-512DQ, AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx512(())
    }
}

/// 16 f32 lanes in one zmm register.
#[derive(Clone, Copy)]
pub(crate) struct F32x16Avx512(__m512);

/// 8 f64 lanes in one zmm register.
#[derive(Clone, Copy)]
pub(crate) struct F64x8Avx512(__m512d);

impl Simd for Avx512 {
    type F = F32x16Avx512;
    type D = F64x8Avx512;
    /// 32 zmm registers: 8 accumulators of `(mean, M2)` states.
    const ACC: usize = 8;
    const STRIP: usize = 4;
    const STREAMS: bool = true;

    #[inline(always)]
    fn vectorize<B: Body<Self>>(self, body: B) -> B::Output {
        #[inline(never)]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        unsafe fn run<B: Body<Avx512>>(s: Avx512, body: B) -> B::Output {
            body.run(s)
        }
        // SAFETY: the token proves AVX-512F, AVX-512DQ, AVX2 and FMA are available.
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
    fn fence(self) {
        // SAFETY: `sfence` (SSE) exists on every x86-64 CPU; it only orders stores.
        unsafe { _mm_sfence() }
    }
    #[inline(always)]
    fn prefetch(self, x: &[f32]) {
        for line in x.chunks(16) {
            // SAFETY: a prefetch is a hint: it reads nothing into the program and never
            // faults, and the address is inside `x`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast::<i8>()) }
        }
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
    #[inline(always)]
    fn sum_rows(self, v: &[F32x16Avx512; LANES]) -> F32x16Avx512 {
        // Rows enter in bit-reversed order: each level adds neighbouring blocks of one
        // row and interleaves two rows' halves, so after four levels lane `l` holds the
        // row that entered at `bitrev(l)`, which is row `l`.
        const REV: [usize; LANES] = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];
        // SAFETY: the token proves AVX-512F; register-only blends, shuffles and adds.
        unsafe {
            let mut r: [__m512; LANES] = core::array::from_fn(|j| v[REV[j]].0);
            let mut width = LANES / 2;
            // Level with blocks of 8 lanes: halves of 256 bits.
            for j in 0..width {
                let (a, b) = (r[2 * j], r[2 * j + 1]);
                let x = _mm512_mask_blend_ps(0xff00, a, b);
                let y = _mm512_mask_blend_ps(0xff00, b, a);
                let y = _mm512_shuffle_f32x4::<0x4e>(y, y);
                r[j] = _mm512_add_ps(x, y);
            }
            width /= 2;
            // Blocks of 4: neighbouring 128-bit blocks.
            for j in 0..width {
                let (a, b) = (r[2 * j], r[2 * j + 1]);
                let x = _mm512_mask_blend_ps(0xf0f0, a, b);
                let y = _mm512_mask_blend_ps(0xf0f0, b, a);
                let y = _mm512_shuffle_f32x4::<0xb1>(y, y);
                r[j] = _mm512_add_ps(x, y);
            }
            width /= 2;
            // Blocks of 2 within each 128 bits.
            for j in 0..width {
                let (a, b) = (r[2 * j], r[2 * j + 1]);
                let x = _mm512_mask_blend_ps(0xcccc, a, b);
                let y = _mm512_mask_blend_ps(0xcccc, b, a);
                let y = _mm512_permute_ps::<0x4e>(y);
                r[j] = _mm512_add_ps(x, y);
            }
            // Single lanes.
            let (a, b) = (r[0], r[1]);
            let x = _mm512_mask_blend_ps(0xaaaa, a, b);
            let y = _mm512_mask_blend_ps(0xaaaa, b, a);
            let y = _mm512_permute_ps::<0xb1>(y);
            F32x16Avx512(_mm512_add_ps(x, y))
        }
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

one_op!(F32x16Avx512, Add, add, _mm512_add_ps);
one_op!(F32x16Avx512, Sub, sub, _mm512_sub_ps);
one_op!(F32x16Avx512, Mul, mul, _mm512_mul_ps);
one_op!(F32x16Avx512, Div, div, _mm512_div_ps);
one_op!(F64x8Avx512, Add, add, _mm512_add_pd);
one_op!(F64x8Avx512, Sub, sub, _mm512_sub_pd);
one_op!(F64x8Avx512, Mul, mul, _mm512_mul_pd);
one_op!(F64x8Avx512, Div, div, _mm512_div_pd);

impl AddAssign for F32x16Avx512 {
    #[inline(always)]
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
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
    fn store_stream(self, out: &mut [f32; LANES]) {
        if (out.as_ptr() as usize).is_multiple_of(64) {
            // SAFETY: AVX-512F is available (token); the store writes exactly `out`, which
            // is aligned to 64 bytes as `vmovntps` requires.
            unsafe { _mm512_stream_ps(out.as_mut_ptr(), self.0) }
        } else {
            self.store(out);
        }
    }
    #[inline(always)]
    fn store_partial(self, out: &mut [f32]) {
        let n = out.len().min(LANES);
        // SAFETY: AVX-512F is available (token). A masked store writes only the lanes
        // whose mask bit is set: lanes `0..n`, inside `out`.
        unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), avx512_mask(n), self.0) }
    }
    #[inline(always)]
    fn store_where_lt(self, out: &mut [f32; LANES], pos: Self, lim: Self) {
        // SAFETY: AVX-512F is available (token). A masked store writes only the lanes
        // whose mask bit is set, all inside `out` (a whole vector).
        unsafe {
            let k = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(pos.0, lim.0);
            _mm512_mask_storeu_ps(out.as_mut_ptr(), k, self.0)
        }
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
    fn clamp_sym(self, _lo: Self, hi: Self) -> Self {
        // SAFETY: AVX-512DQ is available (token). Imm 0b0010: the operand of lesser
        // magnitude, with the sign of `self`: `self` where `|self| <= hi`, else `±hi`; a
        // quiet NaN `self` gives `hi`, which the trait allows.
        unsafe { F32x16Avx512(_mm512_range_ps::<0b0010>(self.0, hi.0)) }
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
    #[inline(always)]
    fn any_gt(self, other: Self) -> bool {
        // SAFETY: AVX-512F is available (token); a register-only compare.
        unsafe { _mm512_cmp_pd_mask::<_CMP_GT_OQ>(self.0, other.0) != 0 }
    }
}
