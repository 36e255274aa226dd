//! The x86-64 lanes over `core::arch`: AVX2+FMA (16 lanes in two ymm registers) and
//! AVX-512F+DQ (16 lanes in one zmm register).
//!
//! Soundness rests on one invariant: a token ([`Avx2`], [`Avx512`]) is made only by
//! [`fn@super::dispatch`], after the CPU and the OS were found to support its instructions,
//! and a vector is made only from a token (or from other vectors). So wherever a vector
//! exists, its instructions can run, and the `unsafe` intrinsic calls below are sound.
//! Each operation is `#[inline(always)]`: inlined into a kernel running inside
//! [`Simd::vectorize`](super::Simd::vectorize), it becomes one or two instructions.

use super::LANES;
use core::arch::x86_64::*;

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

mod avx2;
mod avx512;

pub(crate) use avx2::Avx2;
pub(crate) use avx512::Avx512;

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

/// Both 8x8 halves of [`Simd::transpose8`](super::Simd::transpose8): columns of rows `0..8`, then of rows `8..16`.
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
