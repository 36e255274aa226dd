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

/// Half a vector of lanes, widened to f64.
#[cfg(target_feature = "avx512f")]
pub(crate) type F64s = wide::f64x8;
/// Half a vector of lanes, widened to f64.
#[cfg(not(target_feature = "avx512f"))]
pub(crate) type F64s = wide::f64x4;

/// One vector's lanes widened to f64: two half vectors, low lanes first.
pub(crate) type Wide = [F64s; 2];

/// The lanes of `v` widened to f64.
#[inline(always)]
pub(crate) fn widen(v: F32s) -> Wide {
    let a = v.to_array();
    let lane = |i: usize| f64::from(a[i]);
    [
        F64s::new(core::array::from_fn(lane)),
        F64s::new(core::array::from_fn(|i| lane(i + LANES / 2))),
    ]
}

/// A widened vector's lanes rounded back to f32.
#[inline(always)]
pub(crate) fn narrow(v: Wide) -> [f32; LANES] {
    let (lo, hi) = (v[0].to_array(), v[1].to_array());
    core::array::from_fn(|i| if i < LANES / 2 { lo[i] } else { hi[i - LANES / 2] } as f32)
}

/// The lanes of a widened vector as one array.
#[inline(always)]
pub(crate) fn wide_lanes(v: Wide) -> [f64; LANES] {
    let (lo, hi) = (v[0].to_array(), v[1].to_array());
    core::array::from_fn(|i| {
        if i < LANES / 2 {
            lo[i]
        } else {
            hi[i - LANES / 2]
        }
    })
}

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

/// Folds `V <= ACC` vectors (`V` a power of two) of widened per-lane `(mean, M2)`
/// states, every lane having seen `k` values, into one `(mean, M2)` for `k * V * LANES`
/// values: a pairwise tree of equal-count Chan merges, `mean = (a + b)/2`,
/// `M2 = M2a + M2b + δ²·n/2`, over whole f64 vectors first, then over the last vector's
/// lanes.
#[inline(always)]
pub(crate) fn fold_lanes<const V: usize>(v: &[(Wide, Wide); V], k: f64) -> (f64, f64) {
    let half = splat64(0.5);
    let mut h = [(F64s::ZERO, F64s::ZERO); 2 * ACC];
    for (j, (m, q)) in v.iter().enumerate().take(ACC) {
        h[2 * j] = (m[0], q[0]);
        h[2 * j + 1] = (m[1], q[1]);
    }
    let (mut width, mut n) = (V.min(ACC), k);
    while width > 0 {
        let c = splat64(0.5 * n);
        for i in 0..width {
            let ((a, qa), (b, qb)) = (h[i], h[i + width]);
            let delta = b - a;
            h[i] = (delta.mul_add(half, a), (delta * delta).mul_add(c, qa + qb));
        }
        width /= 2;
        n *= 2.0;
    }
    let (mut mean, mut m2) = (h[0].0.to_array(), h[0].1.to_array());
    let mut width = LANES / 4;
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

/// One f64 half vector with every lane `v`.
#[inline(always)]
pub(crate) fn splat64(v: f64) -> F64s {
    F64s::splat(v)
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

/// `a` with the lanes whose index is `>= from[lane]` taken from `b` (`from` holds small
/// integers).
#[inline(always)]
pub(crate) fn select_from(from: F32s, a: F32s, b: F32s) -> F32s {
    IOTA.simd_ge(from).select(b, a)
}

/// ReLU that keeps NaN: lanes below zero become `+0.0`; every other lane (NaN, `-0.0`,
/// `+inf`) passes through unchanged.
///
/// On x86 this is one `maxps` with the bound first: that instruction returns its second
/// operand when either is NaN (or when they are equal, so `-0.0` stays). Elsewhere `wide`'s
/// `max` flavours differ on NaN, so it is a compare and a select.
#[inline(always)]
pub(crate) fn relu(v: F32s) -> F32s {
    #[cfg(target_feature = "sse")]
    {
        F32s::ZERO.fast_max(v)
    }
    #[cfg(not(target_feature = "sse"))]
    {
        v.simd_lt(F32s::ZERO).select(F32s::ZERO, v)
    }
}

/// Clamp to `[lo, hi]` (`lo <= hi`, neither NaN) that keeps NaN: lanes below `lo` become
/// `lo`, lanes above `hi` become `hi`, every other lane (NaN included) passes through.
/// On x86, `min(hi, max(lo, v))` with the bounds first (see [`relu`]).
#[inline(always)]
pub(crate) fn clamp(v: F32s, lo: F32s, hi: F32s) -> F32s {
    #[cfg(target_feature = "sse")]
    {
        hi.fast_min(lo.fast_max(v))
    }
    #[cfg(not(target_feature = "sse"))]
    {
        let v = v.simd_lt(lo).select(lo, v);
        v.simd_gt(hi).select(hi, v)
    }
}

/// The correctly rounded square root of `v` (`core` has no `f64::sqrt`; `wide` uses the
/// hardware instruction where there is one and an exact software routine elsewhere).
#[inline]
pub(crate) fn sqrt_f64(v: f64) -> f64 {
    wide::f64x2::splat(v).sqrt().to_array()[0]
}

/// `out[i] = gamma[i] / sqrt(var[i] + eps)` for `i < out.len()` (`gamma`, `var` at least as
/// long): IEEE f64 square root and division eight channels at a time, rounded once to
/// f32. Bitwise what the same operations give one channel at a time (they are correctly
/// rounded).
pub(crate) fn scales(gamma: &[f32], var: &[f32], eps: f32, out: &mut [f32]) {
    let one = |g: [f32; 8], v: [f32; 8]| scales8(g, v, eps);
    let n = out.len().min(gamma.len()).min(var.len());
    let (gc, gr) = gamma[..n].as_chunks::<8>();
    let (vc, vr) = var[..n].as_chunks::<8>();
    let (oc, or) = out[..n].as_chunks_mut::<8>();
    for ((g, v), o) in gc.iter().zip(vc).zip(oc.iter_mut()) {
        *o = one(*g, *v);
    }
    if !or.is_empty() {
        let (mut g, mut v) = ([1.0f32; 8], [1.0f32; 8]);
        g[..gr.len()].copy_from_slice(gr);
        v[..vr.len()].copy_from_slice(vr);
        let s = one(g, v);
        or.copy_from_slice(&s[..or.len()]);
    }
}

/// [`scales`] for eight channels.
#[inline(always)]
pub(crate) fn scales8(gamma: [f32; 8], var: [f32; 8], eps: f32) -> [f32; 8] {
    type F64x8 = wide::f64x8;
    let w = F64x8::new(var.map(f64::from)) + F64x8::splat(f64::from(eps));
    let s = F64x8::new(gamma.map(f64::from)) / w.sqrt();
    s.to_array().map(|s| s as f32)
}

/// `1 / sqrt(w + eps)` for eight f64 values (IEEE f64), rounded to f32.
pub(crate) fn inv_sqrt(w: [f64; 8], eps: f32) -> [f32; 8] {
    let w = wide::f64x8::new(w) + wide::f64x8::splat(f64::from(eps));
    (wide::f64x8::ONE / w.sqrt()).to_array().map(|v| v as f32)
}

/// `out[i] = gamma[i] * invstd[i]` in f64, rounded once to f32.
pub(crate) fn scales_from_invstd(gamma: &[f32], invstd: &[f32], out: &mut [f32]) {
    for ((o, g), i) in out.iter_mut().zip(gamma).zip(invstd) {
        *o = (f64::from(*g) * f64::from(*i)) as f32;
    }
}
