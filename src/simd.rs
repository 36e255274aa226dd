//! The SIMD vocabulary on top of `wide`: the lane type, slice loads with tails, and the
//! merge of per-lane statistics. The only file that names `wide` types.
//!
//! `wide` picks its instructions when the crate is compiled: with `-C target-cpu=native`
//! (or `target-feature=+avx512f`) a vector is one AVX-512 register of 16 lanes; otherwise
//! it is 8 lanes, which `wide` maps to one AVX register, two SSE or NEON registers, two
//! wasm `v128`s, or plain arrays on targets without SIMD.

#[cfg(target_feature = "avx512f")]
pub(crate) type F32s = wide::f32x16;
#[cfg(not(target_feature = "avx512f"))]
pub(crate) type F32s = wide::f32x8;

/// Lanes in one vector.
pub(crate) const LANES: usize = core::mem::size_of::<F32s>() / core::mem::size_of::<f32>();

/// Independent vector accumulators a kernel keeps in flight, enough to cover the latency
/// of a dependent subtract + fused multiply-add chain; limited by the register file
/// (32 vector registers with AVX-512, 16 elsewhere).
#[cfg(target_feature = "avx512f")]
pub(crate) const ACC: usize = 8;
#[cfg(not(target_feature = "avx512f"))]
pub(crate) const ACC: usize = 4;

/// One vector with every lane `v`.
#[inline(always)]
pub(crate) fn splat(v: f32) -> F32s {
    F32s::splat(v)
}

/// One vector from exactly `LANES` values.
#[inline(always)]
pub(crate) fn load(a: &[f32; LANES]) -> F32s {
    F32s::new(*a)
}

/// `LANES` values from `x[i..]`, zero-filled where `x` ends first. Never reads past `x`.
#[inline(always)]
pub(crate) fn load_at(x: &[f32], i: usize) -> F32s {
    let tail = x.get(i..).unwrap_or(&[]);
    match tail.first_chunk::<LANES>() {
        Some(a) => load(a),
        None => load_partial(tail),
    }
}

/// The first `min(s.len(), LANES)` values of `s`, zero-filled to a whole vector.
#[inline(always)]
pub(crate) fn load_partial(s: &[f32]) -> F32s {
    let mut a = [0.0f32; LANES];
    for (d, v) in a.iter_mut().zip(s) {
        *d = *v;
    }
    F32s::new(a)
}

/// The lanes as an array.
#[inline(always)]
pub(crate) fn to_array(v: F32s) -> [f32; LANES] {
    v.to_array()
}

/// Merges two per-lane `(mean, M2)` states that each saw `k` values per lane:
/// Chan's formula with equal counts, `mean = (a + b)/2`, `M2 = M2a + M2b + δ²·k/2`.
#[inline(always)]
pub(crate) fn merge_equal(a: (F32s, F32s), b: (F32s, F32s), k: f32) -> (F32s, F32s) {
    let delta = b.0 - a.0;
    let half = splat(0.5);
    (
        delta.mul_add(half, a.0),
        (delta * delta).mul_add(splat(0.5 * k), a.1 + b.1),
    )
}

/// Folds the lanes of a `(mean, M2)` state in which every lane saw `k` values into one
/// f64 `(mean, M2)` for `k * LANES` values, by a pairwise tree of equal-count merges.
#[inline(always)]
pub(crate) fn fold_lanes(mean: F32s, m2: F32s, k: f64) -> (f64, f64) {
    let (m, q) = (to_array(mean), to_array(m2));
    let mut mean = [0.0f64; LANES];
    let mut m2 = [0.0f64; LANES];
    for i in 0..LANES {
        mean[i] = f64::from(m[i]);
        m2[i] = f64::from(q[i]);
    }
    let (mut width, mut n) = (LANES / 2, k);
    while width > 0 {
        for i in 0..width {
            let delta = mean[i + width] - mean[i];
            mean[i] += 0.5 * delta;
            m2[i] += m2[i + width] + delta * delta * (0.5 * n);
        }
        width /= 2;
        n *= 2.0;
    }
    (mean[0], m2[0])
}

/// Columns in one transposed load.
pub(crate) const T: usize = 8;

/// Loads an `LANES x 8` block and transposes it: lane `l` of `out[j]` is
/// `x[starts[l] + col + j]`. Rows that end before `col + 8` read as zeros.
#[inline(always)]
pub(crate) fn load_transposed(x: &[f32], starts: &[usize; LANES], col: usize) -> [F32s; T] {
    let row = |l: usize| {
        let a = x.get(starts[l] + col..).and_then(|s| s.first_chunk::<T>());
        wide::f32x8::new(a.copied().unwrap_or([0.0; T]))
    };
    let lo = wide::f32x8::transpose(core::array::from_fn(row));
    #[cfg(target_feature = "avx512f")]
    {
        let hi = wide::f32x8::transpose(core::array::from_fn(|l| row(l + T)));
        core::array::from_fn(|j| bytemuck::cast::<[wide::f32x8; 2], F32s>([lo[j], hi[j]]))
    }
    #[cfg(not(target_feature = "avx512f"))]
    lo
}

/// Lane `l` is `x[starts[l] + col]` (zero past the end of `x`).
#[inline(always)]
pub(crate) fn gather(x: &[f32], starts: &[usize; LANES], col: usize) -> F32s {
    F32s::new(core::array::from_fn(|l| {
        x.get(starts[l] + col).copied().unwrap_or(0.0)
    }))
}

/// Writes the lanes of `v` to `out`.
#[inline(always)]
pub(crate) fn store(v: F32s, out: &mut [f32; LANES]) {
    *out = v.to_array();
}

/// Writes the first `min(out.len(), LANES)` lanes of `v` to `out`. Never writes past `out`.
#[inline(always)]
pub(crate) fn store_partial(v: F32s, out: &mut [f32]) {
    for (d, s) in out.iter_mut().zip(v.to_array()) {
        *d = s;
    }
}

/// Lane `i` holds `i`.
const IOTA: F32s = {
    let mut a = [0.0f32; LANES];
    let mut i = 0;
    while i < LANES {
        a[i] = i as f32;
        i += 1;
    }
    F32s::new(a)
};

/// `v` with lanes `from..` replaced by those of `w` (`from <= LANES`).
#[inline(always)]
pub(crate) fn lanes_from(v: F32s, w: F32s, from: usize) -> F32s {
    // `from <= LANES` is a small integer, exact in f32.
    IOTA.simd_ge(splat(from as f32)).select(w, v)
}

/// ReLU that keeps NaN: lanes below zero become `+0.0`; every other lane (NaN, `-0.0`,
/// `+inf`) passes through unchanged. Written as compare + select because the `max`
/// instructions drop a NaN operand.
#[inline(always)]
pub(crate) fn relu(v: F32s) -> F32s {
    v.simd_lt(F32s::ZERO).select(F32s::ZERO, v)
}

/// Clamp to `[lo, hi]` (`lo <= hi`, neither NaN) that keeps NaN: lanes below `lo` become
/// `lo`, lanes above `hi` become `hi`, every other lane (NaN included) passes through.
#[inline(always)]
pub(crate) fn clamp(v: F32s, lo: F32s, hi: F32s) -> F32s {
    let v = v.simd_lt(lo).select(lo, v);
    v.simd_gt(hi).select(hi, v)
}

/// The correctly rounded square root of `v` (`core` has no `f64::sqrt`; `wide` uses the
/// hardware instruction where there is one and an exact software routine elsewhere).
#[inline]
pub(crate) fn sqrt_f64(v: f64) -> f64 {
    wide::f64x2::splat(v).sqrt().to_array()[0]
}
