//! The bounds the benchmarks measure the kernels against (`examples/bench_report.rs`,
//! `benches/`), written on the same lanes and run at the same instruction-set level, so a
//! ratio to them is a ratio to what the hardware does with the simplest possible loop.
//! Not part of the API: hidden from the docs, and free to change.

use crate::simd::{Isa, LANES, Simd, Vf32, WithSimd, dispatch};

/// Vectors a roofline loop keeps in flight (independent accumulators, or an unrolled copy).
const UNROLL: usize = 8;

/// The read roofline: `Σx` over independent vector accumulators (reads every element once
/// and does nothing else), then a scalar tail.
pub fn read_sum(isa: Isa, x: &[f32]) -> f32 {
    struct Job<'a>(&'a [f32]);
    impl WithSimd for Job<'_> {
        type Output = f32;
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) -> f32 {
            let (blocks, rest) = self.0.as_chunks::<{ UNROLL * LANES }>();
            let mut acc = [s.zero(); UNROLL];
            for b in blocks {
                let (vs, _) = b.as_chunks::<LANES>();
                for (a, v) in acc.iter_mut().zip(vs) {
                    *a += s.load(v);
                }
            }
            let total = acc.iter().fold(s.zero(), |t, a| t + *a).to_array();
            total.iter().sum::<f32>() + rest.iter().sum::<f32>()
        }
    }
    dispatch(isa, Job(x))
}

/// The copy roofline: `y = a*x + b` (one fused multiply-add per element, the arithmetic of
/// a folded normalize), ordinary stores, then a scalar tail. Elements past the shorter
/// buffer are ignored.
pub fn copy_affine(isa: Isa, x: &[f32], y: &mut [f32], a: f32, b: f32) {
    dispatch(isa, Affine(x, y, a, b, false))
}

/// [`copy_affine`] with streaming (non-temporal) stores where the level has them (AVX2,
/// AVX-512; ordinary stores elsewhere), then a store fence: the copy roofline of outputs
/// larger than the caches, whose lines ordinary stores would first read for ownership.
pub fn copy_affine_stream(isa: Isa, x: &[f32], y: &mut [f32], a: f32, b: f32) {
    dispatch(isa, Affine(x, y, a, b, true))
}

/// [`copy_affine`]'s body: `(x, y, a, b, streaming stores)`.
struct Affine<'a>(&'a [f32], &'a mut [f32], f32, f32, bool);

impl WithSimd for Affine<'_> {
    type Output = ();
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run<S: Simd>(self, s: S) {
        let Affine(x, y, a, b, stream) = self;
        let (va, vb) = (s.splat(a), s.splat(b));
        let len = x.len().min(y.len());
        let (x, y) = (&x[..len], &mut y[..len]);
        let (xv, xt) = x.as_chunks::<LANES>();
        let (yv, yt) = y.as_chunks_mut::<LANES>();
        if stream {
            for (xi, yi) in xv.iter().zip(yv) {
                s.load(xi).mul_add(va, vb).store_stream(yi);
            }
            s.fence();
        } else {
            for (xi, yi) in xv.iter().zip(yv) {
                s.load(xi).mul_add(va, vb).store(yi);
            }
        }
        for (xi, yi) in xt.iter().zip(yt) {
            *yi = *xi * a + b;
        }
    }
}

/// The floor of any single-pass statistic: per vector `t = x - p`, `s += t`,
/// `q = fma(t, t, q)` over independent accumulators, flat over the whole buffer (no
/// channels, no folds). Returns `(Σt, Σt²)` of the whole vectors.
pub fn floor(isa: Isa, x: &[f32], p: f32) -> (f32, f32) {
    struct Job<'a>(&'a [f32], f32);
    impl WithSimd for Job<'_> {
        type Output = (f32, f32);
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) -> (f32, f32) {
            const N: usize = UNROLL / 2;
            let pv = s.splat(self.1);
            let (blocks, _) = self.0.as_chunks::<{ N * LANES }>();
            let mut sum = [s.zero(); N];
            let mut sq = [s.zero(); N];
            for b in blocks {
                let (vs, _) = b.as_chunks::<LANES>();
                for ((a, q), v) in sum.iter_mut().zip(sq.iter_mut()).zip(vs) {
                    let t = s.load(v) - pv;
                    *a += t;
                    *q = t.mul_add(t, *q);
                }
            }
            let fold = |v: [S::F; N]| v.iter().fold(s.zero(), |t, a| t + *a).to_array();
            (fold(sum).iter().sum(), fold(sq).iter().sum())
        }
    }
    dispatch(isa, Job(x, p))
}

/// The read roofline over strided rows: `Σx` of the rows of `c` values whose starts are
/// `pitch >= c` values apart (`x` ends with the last row's `c` values), row by row: each
/// row's whole vectors into the accumulators by their place in the row (vector `j` of
/// every row into accumulator `j % UNROLL`: a row of fewer vectors keeps fewer chains of
/// adds in flight), its tail as a zero-filled vector into the last one. Reads the rows'
/// values and nothing between them. (Flat over the span, gaps included, is [`read_sum`]
/// of the span.)
pub fn read_rows(isa: Isa, x: &[f32], c: usize, pitch: usize) -> f32 {
    struct Job<'a>(&'a [f32], usize, usize);
    impl WithSimd for Job<'_> {
        type Output = f32;
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) -> f32 {
            let Job(x, c, pitch) = self;
            let mut acc = [s.zero(); UNROLL];
            for row in x.chunks(pitch.max(c).max(1)) {
                let row = &row[..c.min(row.len())];
                let (blocks, rest) = row.as_chunks::<{ UNROLL * LANES }>();
                for b in blocks {
                    let (vs, _) = b.as_chunks::<LANES>();
                    for (a, v) in acc.iter_mut().zip(vs) {
                        *a += s.load(v);
                    }
                }
                let (vs, tail) = rest.as_chunks::<LANES>();
                for (a, v) in acc.iter_mut().zip(vs) {
                    *a += s.load(v);
                }
                if !tail.is_empty() {
                    acc[UNROLL - 1] += s.load_partial(tail);
                }
            }
            acc.iter()
                .fold(s.zero(), |t, a| t + *a)
                .to_array()
                .iter()
                .sum()
        }
    }
    dispatch(isa, Job(x, c, pitch))
}

/// The copy roofline over strided rows: `y = a*x + b` on the rows of `c` values whose
/// starts are `pitch >= c` values apart in both `x` and `y` (each ends with the last
/// row), row by row: each row's whole vectors, then its tail as a partial vector. Writes
/// the rows' values and nothing between them. (Flat over the span is [`copy_affine`].)
pub fn copy_rows(isa: Isa, x: &[f32], y: &mut [f32], c: usize, pitch: usize, a: f32, b: f32) {
    struct Job<'a>(&'a [f32], &'a mut [f32], usize, usize, f32, f32);
    impl WithSimd for Job<'_> {
        type Output = ();
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) {
            let Job(x, y, c, pitch, a, b) = self;
            let (va, vb) = (s.splat(a), s.splat(b));
            let pitch = pitch.max(c).max(1);
            for (xr, yr) in x.chunks(pitch).zip(y.chunks_mut(pitch)) {
                let len = c.min(xr.len()).min(yr.len());
                let (xv, xt) = xr[..len].as_chunks::<LANES>();
                let (yv, yt) = yr[..len].as_chunks_mut::<LANES>();
                for (xi, yi) in xv.iter().zip(yv) {
                    s.load(xi).mul_add(va, vb).store(yi);
                }
                if !xt.is_empty() {
                    s.load_partial(xt).mul_add(va, vb).store_partial(yt);
                }
            }
        }
    }
    dispatch(isa, Job(x, y, c, pitch, a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooflines_compute_what_they_say() {
        let x: [f32; 300] = core::array::from_fn(|i| (i % 7) as f32);
        let sum: f32 = x.iter().sum();
        let whole = 300 - 300 % (UNROLL / 2 * LANES);
        for isa in Isa::supported() {
            assert_eq!(read_sum(isa, &x), sum, "{isa}");
            let mut y = [0.0f32; 300];
            copy_affine(isa, &x, &mut y, 2.0, 0.5);
            assert!(y.iter().zip(&x).all(|(y, x)| *y == 2.0 * x + 0.5), "{isa}");
            let mut y = [0.0f32; 300];
            copy_affine_stream(isa, &x, &mut y, 2.0, 0.5);
            assert!(y.iter().zip(&x).all(|(y, x)| *y == 2.0 * x + 0.5), "{isa}");
            let (s, q) = floor(isa, &x, 3.0);
            let t = x[..whole].iter().map(|v| v - 3.0);
            assert_eq!(s, t.clone().sum::<f32>(), "{isa}");
            assert_eq!(q, t.map(|t| t * t).sum::<f32>(), "{isa}");
        }
    }

    #[test]
    fn strided_rooflines_touch_the_rows_alone() {
        // (c, pitch, rows): a whole vector and a tail; a tail alone; more than
        // `UNROLL` vectors (the block loop) and a tail; the last row ends `x`.
        const MAX: usize = 8 * 170 + 150;
        for (c, pitch, rows) in [(19, 40, 7), (3, 8, 30), (150, 170, 9)] {
            let len = (rows - 1) * pitch + c;
            assert!(len <= MAX);
            let x: [f32; MAX] = core::array::from_fn(|i| (i % 11) as f32);
            let x = &x[..len];
            let in_row = |i: usize| i % pitch < c;
            let sum: f32 = (0..len).filter(|&i| in_row(i)).map(|i| x[i]).sum();
            for isa in Isa::supported() {
                let what = (isa, c, pitch);
                assert_eq!(read_rows(isa, x, c, pitch), sum, "{what:?}");
                let mut y = [-1.0f32; MAX];
                copy_rows(isa, x, &mut y[..len], c, pitch, 2.0, 0.5);
                for i in 0..len {
                    let want = if in_row(i) { 2.0 * x[i] + 0.5 } else { -1.0 };
                    assert_eq!(y[i], want, "{what:?} at {i}");
                }
            }
        }
    }
}
