//! AVX2+FMA: 16 lanes in two ymm registers.

use super::{IOTA, transpose_halves};
use crate::simd::{Body, HALF, LANES, Simd, Vf32, Vf64};
use core::arch::x86_64::*;
use core::ops::{Add, AddAssign, Div, Mul, Sub};

/// The AVX2+FMA token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU and the OS must support AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx2(())
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

impl Simd for Avx2 {
    type F = F32x16Avx2;
    type D = F64x8Avx2;
    /// 16 ymm registers: 2 accumulators of 2-register states (`(mean, M2)`) leave room for
    /// the pivots, the input and the temporaries.
    const ACC: usize = 2;
    const STRIP: usize = 3;
    const STREAMS: bool = true;

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
    #[inline(always)]
    fn sum_rows(self, v: &[F32x16Avx2; LANES]) -> F32x16Avx2 {
        let (lo, hi) = v.split_at(8);
        // SAFETY: the token proves AVX.
        unsafe {
            F32x16Avx2 {
                a: sum_rows8(lo),
                b: sum_rows8(hi),
            }
        }
    }
}

/// The 8 lanes of `v` widened to f64 (functions, not closures: a closure does not take
/// the caller's target features, so its intrinsics would not be inlined).
///
/// # Safety
/// AVX must be available.
#[inline(always)]
unsafe fn widen_256(v: __m256) -> F64x8Avx2 {
    // SAFETY: the caller guarantees AVX; register-only conversions.
    unsafe {
        F64x8Avx2 {
            a: _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
            b: _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
        }
    }
}

/// The 8 lanes of `v` rounded to f32.
///
/// # Safety
/// AVX must be available.
#[inline(always)]
unsafe fn narrow_256(v: F64x8Avx2) -> __m256 {
    // SAFETY: the caller guarantees AVX; register-only conversions.
    unsafe { _mm256_set_m128(_mm256_cvtpd_ps(v.b), _mm256_cvtpd_ps(v.a)) }
}

/// `2^v` for lanes holding integers in `[-126, 127]` (see [`Vf32::pow2i`]).
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn pow2i_256(v: __m256) -> __m256 {
    // SAFETY: the caller guarantees AVX2; register-only conversions and integer ops.
    unsafe {
        let e = _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(127));
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(e))
    }
}

/// Lane `l` is the sum of the 16 lanes of `rows[l]` (`rows.len() == 8`), in the order of
/// [`Simd::sum_rows`].
///
/// # Safety
/// AVX must be available.
#[inline(always)]
unsafe fn sum_rows8(rows: &[F32x16Avx2]) -> __m256 {
    // Lanes `i + 8` onto `i`, then the eight rows in the order that puts row `l` in lane
    // `l` after the three levels below.
    const ORDER: [usize; 8] = [0, 4, 1, 5, 2, 6, 3, 7];
    // SAFETY: the caller guarantees AVX; register-only adds and shuffles.
    unsafe {
        let mut r = [_mm256_setzero_ps(); 8];
        for (r, &j) in r.iter_mut().zip(&ORDER) {
            if let Some(row) = rows.get(j) {
                *r = _mm256_add_ps(row.a, row.b);
            }
        }
        // Lanes `i + 4`: the 128-bit halves of two rows.
        for j in 0..4 {
            let (a, b) = (r[2 * j], r[2 * j + 1]);
            let x = _mm256_permute2f128_ps::<0x20>(a, b);
            let y = _mm256_permute2f128_ps::<0x31>(a, b);
            r[j] = _mm256_add_ps(x, y);
        }
        // Lanes `i + 2`, then `i + 1`, within each 128 bits.
        for j in 0..2 {
            let (a, b) = (r[2 * j], r[2 * j + 1]);
            let x = _mm256_shuffle_ps::<0x44>(a, b);
            let y = _mm256_shuffle_ps::<0xee>(a, b);
            r[j] = _mm256_add_ps(x, y);
        }
        let (a, b) = (r[0], r[1]);
        let x = _mm256_shuffle_ps::<0x88>(a, b);
        let y = _mm256_shuffle_ps::<0xdd>(a, b);
        _mm256_add_ps(x, y)
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

pair_op!(F32x16Avx2, Add, add, _mm256_add_ps);
pair_op!(F32x16Avx2, Sub, sub, _mm256_sub_ps);
pair_op!(F32x16Avx2, Mul, mul, _mm256_mul_ps);
pair_op!(F32x16Avx2, Div, div, _mm256_div_ps);
pair_op!(F64x8Avx2, Add, add, _mm256_add_pd);
pair_op!(F64x8Avx2, Sub, sub, _mm256_sub_pd);
pair_op!(F64x8Avx2, Mul, mul, _mm256_mul_pd);
pair_op!(F64x8Avx2, Div, div, _mm256_div_pd);

impl AddAssign for F32x16Avx2 {
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
    fn store_stream(self, out: &mut [f32; LANES]) {
        if (out.as_ptr() as usize).is_multiple_of(64) {
            // SAFETY: AVX is available (token); both stores lie inside `out` (16 values),
            // each aligned to 32 bytes as `vmovntps` requires (`out` is aligned to 64).
            unsafe {
                _mm256_stream_ps(out.as_mut_ptr(), self.a);
                _mm256_stream_ps(out.as_mut_ptr().add(8), self.b);
            }
        } else {
            self.store(out);
        }
    }
    /// Not `vmaskmovps` (see [`Vf32::store_where_lt`]): `n` lanes go out as at most one
    /// store of each width, 8, 4, 2 and 1 lanes.
    #[inline(always)]
    fn store_partial(self, out: &mut [f32]) {
        let n = out.len().min(LANES);
        if n == LANES {
            if let Some(o) = out.first_chunk_mut::<LANES>() {
                self.store(o);
            }
            return;
        }
        let (mut v, mut at) = (self.a, 0);
        // SAFETY: AVX is available (token). Each store writes `w` lanes at `at` only when
        // `at + w <= n <= out.len()`, so it stays inside `out`.
        unsafe {
            if n >= 8 {
                _mm256_storeu_ps(out.as_mut_ptr(), v);
                (v, at) = (self.b, 8);
            }
            let mut q = _mm256_castps256_ps128(v);
            if (n - at) >= 4 {
                _mm_storeu_ps(out.as_mut_ptr().add(at), q);
                (q, at) = (_mm256_extractf128_ps::<1>(v), at + 4);
            }
            if (n - at) >= 2 {
                _mm_storel_pd(out.as_mut_ptr().add(at).cast(), _mm_castps_pd(q));
                (q, at) = (_mm_movehl_ps(q, q), at + 2);
            }
            if n > at {
                _mm_store_ss(out.as_mut_ptr().add(at), q);
            }
        }
    }
    /// Not `vmaskmovps`, whose stores run at one per 18 cycles or so on AMD Zen 4 (the
    /// strided normalize of 3 channels 6 apart ran at 7% of the copy roofline with
    /// them), and not a copy through memory (a lane loaded back from a vector just
    /// stored waits for it): a whole vector is stored at once, otherwise each lane whose
    /// mask bit is set is extracted from its register straight to `out`.
    #[inline(always)]
    fn store_where_lt(self, out: &mut [f32; LANES], pos: Self, lim: Self) {
        // SAFETY: AVX is available (token); register operations only.
        let (m, q) = unsafe {
            let lo = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(pos.a, lim.a));
            let hi = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(pos.b, lim.b));
            let q = [
                _mm256_castps256_ps128(self.a),
                _mm256_extractf128_ps::<1>(self.a),
                _mm256_castps256_ps128(self.b),
                _mm256_extractf128_ps::<1>(self.b),
            ];
            ((lo as u32 & 0xFF) | ((hi as u32 & 0xFF) << 8), q)
        };
        if m == 0xFFFF {
            self.store(out);
            return;
        }
        let (quarters, _) = out.as_chunks_mut::<4>();
        for ((o, q), bits) in quarters.iter_mut().zip(q).zip([m, m >> 4, m >> 8, m >> 12]) {
            // SAFETY: SSE4.1 is available (AVX2 implies it); register operations only.
            unsafe {
                if bits & 1 != 0 {
                    o[0] = f32::from_bits(_mm_extract_ps::<0>(q) as u32);
                }
                if bits & 2 != 0 {
                    o[1] = f32::from_bits(_mm_extract_ps::<1>(q) as u32);
                }
                if bits & 4 != 0 {
                    o[2] = f32::from_bits(_mm_extract_ps::<2>(q) as u32);
                }
                if bits & 8 != 0 {
                    o[3] = f32::from_bits(_mm_extract_ps::<3>(q) as u32);
                }
            }
        }
    }
    #[inline(always)]
    fn widen(self) -> [F64x8Avx2; 2] {
        // SAFETY: AVX is available (token).
        unsafe { [widen_256(self.a), widen_256(self.b)] }
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
            F32x16Avx2 {
                a: pow2i_256(self.a),
                b: pow2i_256(self.b),
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
            F32x16Avx2 {
                a: narrow_256(lo),
                b: narrow_256(hi),
            }
        }
    }
    #[inline(always)]
    fn any_gt(self, other: Self) -> bool {
        // SAFETY: AVX is available (token); register-only compares.
        unsafe {
            let a = _mm256_cmp_pd::<_CMP_GT_OQ>(self.a, other.a);
            let b = _mm256_cmp_pd::<_CMP_GT_OQ>(self.b, other.b);
            _mm256_movemask_pd(_mm256_or_pd(a, b)) != 0
        }
    }
}
