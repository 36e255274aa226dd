//! Every lane operation of every ISA this CPU runs, against plain scalar arithmetic.

use super::*;

// The tests run on a host with `std` (for f64 `exp`, `powi` and `Vec`).
extern crate std;

/// Runs `check` with the token of every supported ISA.
fn each_isa(check: impl Fn(&dyn Fn() -> Isa, Isa) + Copy) {
    struct Job<F>(F, Isa);
    impl<F: Fn(&dyn Fn() -> Isa, Isa)> WithSimd for Job<F> {
        type Output = ();
        fn run<S: Simd>(self, s: S) {
            let _ = s;
            (self.0)(&|| self.1, self.1)
        }
    }
    for isa in Isa::supported() {
        dispatch(isa, Job(check, isa));
    }
}

/// A computation over the lanes of every supported ISA, returning plain arrays.
trait Probe {
    fn probe<S: Simd>(&self, s: S) -> [f32; LANES];
}

fn on_every_isa(p: &impl Probe) -> [f32; LANES] {
    struct Job<'a, P>(&'a P);
    impl<P: Probe> WithSimd for Job<'_, P> {
        type Output = [f32; LANES];
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) -> [f32; LANES] {
            self.0.probe(s)
        }
    }
    let first = dispatch(Isa::Portable, Job(p));
    for isa in Isa::supported() {
        let got = dispatch(isa, Job(p));
        let same = got
            .iter()
            .zip(&first)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{isa}: {got:?} != portable {first:?}");
    }
    first
}

fn values(seed: f32) -> [f32; LANES] {
    core::array::from_fn(|i| (i as f32 - 7.5) * seed)
}

#[test]
fn levels_are_ordered_and_detected_is_supported() {
    assert!(Isa::detected().is_supported());
    assert!(Isa::Portable.is_supported());
    assert_eq!(Isa::supported().next(), Some(Isa::Portable));
    assert_eq!(Isa::supported().last(), Some(Isa::detected()));
    each_isa(|isa, want| assert_eq!(isa(), want));
}

#[test]
fn arithmetic_matches_scalar() {
    struct P;
    impl Probe for P {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let (a, b) = (s.load(&values(1.5)), s.load(&values(-0.25)));
            ((a - b) * b + a).to_array()
        }
    }
    let (a, b) = (values(1.5), values(-0.25));
    let want: [f32; LANES] = core::array::from_fn(|i| (a[i] - b[i]) * b[i] + a[i]);
    assert_eq!(on_every_isa(&P), want);
}

#[test]
fn transpose_is_a_transpose() {
    struct P(usize);
    impl Probe for P {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let rows: [[f32; 8]; LANES] =
                core::array::from_fn(|l| core::array::from_fn(|j| (l * 8 + j) as f32));
            s.transpose8(&rows)[self.0].to_array()
        }
    }
    for j in 0..8 {
        let want: [f32; LANES] = core::array::from_fn(|l| (l * 8 + j) as f32);
        assert_eq!(on_every_isa(&P(j)), want, "column {j}");
    }
}

#[test]
fn widen_and_narrow_round_trip() {
    struct P;
    impl Probe for P {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let w = s.load(&values(3.25)).widen();
            let lanes = wide_lanes(w);
            assert!(
                lanes
                    .iter()
                    .zip(values(3.25))
                    .all(|(a, b)| *a == f64::from(b))
            );
            let third = s.splat64(1.0 / 3.0);
            S::D::narrow(w[0] * third, w[1] * third).to_array()
        }
    }
    let want: [f32; LANES] = values(3.25).map(|v| (f64::from(v) * (1.0 / 3.0)) as f32);
    assert_eq!(on_every_isa(&P), want);
}

#[test]
fn relu_and_clamp_keep_nan_and_signed_zero() {
    let special = {
        let mut a = values(2.0);
        a[0] = f32::NAN;
        a[1] = -0.0;
        a[2] = f32::INFINITY;
        a[3] = f32::NEG_INFINITY;
        a
    };
    struct Relu([f32; LANES]);
    impl Probe for Relu {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            s.load(&self.0).relu().to_array()
        }
    }
    let got = on_every_isa(&Relu(special));
    assert!(got[0].is_nan());
    assert_eq!(got[1].to_bits(), (-0.0f32).to_bits());
    for i in 2..LANES {
        assert_eq!(
            got[i],
            if special[i] < 0.0 { 0.0 } else { special[i] },
            "lane {i}"
        );
    }
    struct Clamp([f32; LANES]);
    impl Probe for Clamp {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            s.load(&self.0)
                .clamp(s.splat(-3.0), s.splat(6.0))
                .to_array()
        }
    }
    let got = on_every_isa(&Clamp(special));
    assert!(got[0].is_nan());
    for i in 1..LANES {
        assert_eq!(got[i], special[i].clamp(-3.0, 6.0), "lane {i}");
    }
}

/// The symmetric clamp gives `clamp`'s bits on every level (one instruction at AVX-512),
/// on the values where they could part: signed zeros, the bounds and their neighbours,
/// infinities, subnormals, huge values (and a NaN gives NaN or a value in the bounds);
/// and `3 + clamp_sym(v, -3, 3)` is `clamp(v + 3, 0, 6)` bit for bit, the identity the
/// hard swish rests on.
#[test]
fn symmetric_clamp_is_clamp() {
    let three = 3.0f32;
    let cases: [[f32; LANES]; 2] = [
        [
            f32::NAN,
            -0.0,
            0.0,
            three,
            -three,
            f32::from_bits(three.to_bits() + 1),
            -f32::from_bits(three.to_bits() + 1),
            f32::from_bits(three.to_bits() - 1),
            -f32::from_bits(three.to_bits() - 1),
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::from_bits(1),
            -f32::from_bits(1),
            f32::MAX,
            -f32::MAX,
            -2.9999998,
        ],
        core::array::from_fn(|i| (i as f32 - 7.5) * 0.9),
    ];
    struct Sym([f32; LANES]);
    impl Probe for Sym {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let (lo, hi) = (s.splat(-3.0), s.splat(3.0));
            s.load(&self.0).clamp_sym(lo, hi).to_array()
        }
    }
    struct Shifted([f32; LANES]);
    impl Probe for Shifted {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let (lo, hi) = (s.splat(-3.0), s.splat(3.0));
            (hi + s.load(&self.0).clamp_sym(lo, hi)).to_array()
        }
    }
    // Each level against the scalar `clamp` (a NaN lane may differ between levels).
    struct Level<P>(P);
    impl<P: Probe> WithSimd for Level<&P> {
        type Output = [f32; LANES];
        fn run<S: Simd>(self, s: S) -> [f32; LANES] {
            self.0.probe(s)
        }
    }
    for (isa, v) in Isa::supported().flat_map(|isa| cases.map(|v| (isa, v))) {
        let got = dispatch(isa, Level(&Sym(v)));
        let shifted = dispatch(isa, Level(&Shifted(v)));
        for i in 0..LANES {
            if v[i].is_nan() {
                let ok = |g: f32, lo: f32, hi: f32| g.is_nan() || (lo..=hi).contains(&g);
                assert!(ok(got[i], -3.0, 3.0), "{isa}: clamp_sym(NaN) = {}", got[i]);
                assert!(ok(shifted[i], 0.0, 6.0), "{isa}: 3 + clamp_sym(NaN)");
                continue;
            }
            let want = v[i].clamp(-3.0, 3.0);
            assert_eq!(
                got[i].to_bits(),
                want.to_bits(),
                "{isa}: clamp_sym({:e})",
                v[i]
            );
            let want = (v[i] + 3.0).clamp(0.0, 6.0);
            assert_eq!(
                shifted[i].to_bits(),
                want.to_bits(),
                "{isa}: 3 + clamp_sym({:e})",
                v[i]
            );
        }
    }
}

#[test]
fn lane_selection() {
    struct P(usize);
    impl Probe for P {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let (a, b) = (s.splat(1.0), s.splat(2.0));
            a.lanes_from(b, self.0).to_array()
        }
    }
    for from in 0..=LANES {
        let want: [f32; LANES] = core::array::from_fn(|i| if i < from { 1.0 } else { 2.0 });
        assert_eq!(on_every_isa(&P(from)), want, "from {from}");
    }
}

#[test]
fn partial_loads_and_stores_touch_only_their_lanes() {
    // Loads `n` values from the end of a buffer (nothing after them to read), adds 1,
    // and stores the result into the first `n` places of a NaN-filled buffer.
    struct P(usize);
    impl Probe for P {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let src: [f32; 2 * LANES] = core::array::from_fn(|i| i as f32);
            let v = s.load_partial(&src[2 * LANES - self.0..]) + s.splat(1.0);
            let past = &v.to_array()[self.0..];
            assert!(
                past.iter().all(|&l| l == 1.0),
                "lanes past the slice not zero"
            );
            let mut out = [f32::NAN; LANES + 1];
            v.store_partial(&mut out[1..1 + self.0]);
            assert!(out[0].is_nan(), "wrote before its slice");
            let mut lanes = [0.0; LANES];
            lanes.copy_from_slice(&out[1..]);
            lanes
        }
    }
    for n in 0..=LANES {
        let got = on_every_isa(&P(n));
        for (i, g) in got.iter().enumerate() {
            if i < n {
                assert_eq!(*g, (2 * LANES - n + i) as f32 + 1.0, "n {n}, lane {i}");
            } else {
                assert!(g.is_nan(), "n {n}: lane {i} written ({g})");
            }
        }
    }
}

#[test]
fn masked_stores_write_only_where_the_compare_holds() {
    // Position `i % pitch` against `c`: the lanes of a row's first `c` places are written,
    // the others (NaN, for the gaps between rows) are left as they were.
    struct P(usize, usize);
    impl Probe for P {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let (pitch, c) = (self.0, self.1);
            let pos: [f32; LANES] = core::array::from_fn(|i| (i % pitch) as f32);
            let v: [f32; LANES] = core::array::from_fn(|i| i as f32 + 0.5);
            let mut out = [f32::NAN; LANES];
            s.load(&v)
                .store_where_lt(&mut out, s.load(&pos), s.splat(c as f32));
            out
        }
    }
    for (pitch, c) in [(6, 3), (2, 1), (16, 16), (16, 0), (5, 4), (32, 7), (3, 3)] {
        let got = on_every_isa(&P(pitch, c));
        for (i, g) in got.iter().enumerate() {
            if i % pitch < c {
                assert_eq!(*g, i as f32 + 0.5, "pitch {pitch} c {c}: lane {i}");
            } else {
                assert!(g.is_nan(), "pitch {pitch} c {c}: lane {i} written ({g})");
            }
        }
    }
}

#[test]
fn fused_multiply_add_rounds_once_on_x86() {
    // (1 + 2^-23)(1 - 2^-23) - 1 = -2^-46 exactly; unfused it rounds to 0.
    struct P;
    impl Probe for P {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let e = f32::EPSILON;
            s.splat(1.0 + e)
                .mul_add(s.splat(1.0 - e), s.splat(-1.0))
                .to_array()
        }
    }
    struct Job;
    impl WithSimd for Job {
        type Output = f32;
        fn run<S: Simd>(self, s: S) -> f32 {
            P.probe(s)[0]
        }
    }
    for isa in Isa::supported().filter(|i| *i != Isa::Portable) {
        assert_eq!(dispatch(isa, Job), -(f32::EPSILON * f32::EPSILON), "{isa}");
    }
}

#[test]
fn scales_are_correctly_rounded_on_every_level() {
    struct Job;
    impl WithSimd for Job {
        type Output = [f32; 8];
        fn run<S: Simd>(self, s: S) -> [f32; 8] {
            let gamma = [1.0, -2.5, 3.0e-3, 7.0, 1e30, 0.1, -0.0, 1.5];
            let var = [1.0, 3.0, 1e-12, 0.0, 2.0e10, 5.5, 4.0, 1e-45];
            scales8(s, gamma, var, 1e-5)
        }
    }
    let gamma = [1.0f32, -2.5, 3.0e-3, 7.0, 1e30, 0.1, -0.0, 1.5];
    let var = [1.0f32, 3.0, 1e-12, 0.0, 2.0e10, 5.5, 4.0, 1e-45];
    // Independent: f64 division by the correctly rounded f64 square root (a software
    // Newton step would do; `wide`'s f64x2::sqrt is the hardware instruction here).
    let want: [f32; 8] = core::array::from_fn(|i| {
        let w = f64::from(var[i]) + f64::from(1e-5f32);
        (f64::from(gamma[i]) / wide::f64x2::splat(w).sqrt().to_array()[0]) as f32
    });
    for isa in Isa::supported() {
        let got = dispatch(isa, Job);
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{isa}: {got:?} != {want:?}"
        );
    }
}

/// The inputs of the `exp` sweep: every binade of f32 from the smallest subnormal to
/// `f32::MAX` (64 values each, both signs), a fine grid over `[-105, 90]` where the
/// result is neither 0 nor inf, and the edges: ±0, ±inf, NaN, the overflow threshold
/// `ln(f32::MAX)`, the normal and subnormal underflow thresholds and their neighbours.
fn exp_inputs() -> std::vec::Vec<f32> {
    let mut v = std::vec::Vec::new();
    for e in -149i32..=127 {
        for j in 0..64 {
            let m = 1.0 + f64::from(j) / 64.0;
            let x = (m * 2f64.powi(e)) as f32;
            v.extend([x, -x]);
        }
    }
    let mut x = -105.0f32;
    while x < 90.0 {
        v.push(x);
        x += 1.0 / 512.0 + x.abs() * 1e-6;
    }
    let edges = [
        0.0f32,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN,
        1e-45,
        -1e-45,
        88.722_83,   // ln(f32::MAX)
        -87.336_55,  // ln(f32::MIN_POSITIVE)
        -103.278_93, // ln(2^-149)
        -103.972_08, // ln(2^-150)
        -104.0,
        89.0,
        0.346_573_6, // ln(2)/2
        -0.346_573_6,
    ];
    for e in edges {
        v.push(e);
        for k in 1..=8u32 {
            let (mut up, mut down) = (e, e);
            for _ in 0..k {
                up = up.next_up();
                down = down.next_down();
            }
            v.extend([up, down]);
        }
    }
    v
}

/// The vectorized `exp` against `std`'s f64 `exp` over the whole f32 range, at every
/// level: within 1.5 ulp (0.95 measured) of the f32-rounded true value (ulp of the smallest subnormal below
/// the normal range, so that the single final rounding of a subnormal result counts one
/// quantum), `+inf` exactly where the true value rounds to `+inf`, NaN for NaN.
#[test]
fn exp_is_accurate_over_the_whole_range() {
    struct Job<'a>(&'a [f32; LANES]);
    impl WithSimd for Job<'_> {
        type Output = [f32; LANES];
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn run<S: Simd>(self, s: S) -> [f32; LANES] {
            exp(s, s.load(self.0)).to_array()
        }
    }
    let inputs = exp_inputs();
    for isa in Isa::supported() {
        let mut worst = (0.0f64, 0.0f32);
        for chunk in inputs.chunks(LANES) {
            let mut a = [0.0f32; LANES];
            a[..chunk.len()].copy_from_slice(chunk);
            let got = dispatch(isa, Job(&a));
            for (&x, &y) in chunk.iter().zip(&got) {
                let t = f64::from(x).exp();
                if x.is_nan() {
                    assert!(y.is_nan(), "{isa}: exp(NaN) = {y}");
                    continue;
                }
                let t32 = t as f32;
                if t32.is_infinite() || y.is_infinite() {
                    // Beyond the last finite value's rounding boundary: inf; at the boundary
                    // (within 2 ulp of f32::MAX), either.
                    let near = t >= f64::from(f32::MAX) * (1.0 - 2.0 / 16_777_216.0);
                    assert!(
                        (y.is_infinite() && y > 0.0 && near) || (y == f32::MAX && near),
                        "{isa}: exp({x:e}) = {y:e}, true {t:e}"
                    );
                    continue;
                }
                let ulp = if t32.abs() < f32::MIN_POSITIVE {
                    f64::from(1e-45f32)
                } else {
                    f64::from(t32.next_up()) - f64::from(t32)
                };
                let err = (f64::from(y) - t).abs() / ulp;
                if err > worst.0 {
                    worst = (err, x);
                }
                assert!(
                    err <= 1.5,
                    "{isa}: exp({x:e}) = {y:e}, true {t:e}: {err} ulp"
                );
            }
        }
        std::eprintln!(
            "{isa}: exp within {:.3} ulp (worst at x = {:e})",
            worst.0,
            worst.1
        );
    }
}

#[test]
fn sum_rows_adds_each_row_as_a_tree_of_halves() {
    // Rows whose sums depend on the order of addition (values of very different sizes),
    // so a tree in another order, or a row in the wrong lane, gives other bits.
    fn row(l: usize) -> [f32; LANES] {
        core::array::from_fn(|i| {
            let big = if (i + l).is_multiple_of(5) {
                1.0e8
            } else {
                1.0
            };
            big * (1.0 + (i * 7 + l * 3) as f32 / 16.0) * if i % 3 == 0 { -1.0 } else { 1.0 }
        })
    }
    struct P;
    impl Probe for P {
        fn probe<S: Simd>(&self, s: S) -> [f32; LANES] {
            let rows: [S::F; LANES] = core::array::from_fn(|l| s.load(&row(l)));
            s.sum_rows(&rows).to_array()
        }
    }
    let want: [f32; LANES] = core::array::from_fn(|l| {
        let r = row(l);
        let h8: [f32; 8] = core::array::from_fn(|i| r[i] + r[i + 8]);
        let h4: [f32; 4] = core::array::from_fn(|i| h8[i] + h8[i + 4]);
        let h2: [f32; 2] = core::array::from_fn(|i| h4[i] + h4[i + 2]);
        h2[0] + h2[1]
    });
    assert_eq!(on_every_isa(&P), want);
    // The order matters on these rows: a plain left-to-right sum differs somewhere.
    let serial: [f32; LANES] = core::array::from_fn(|l| row(l).iter().sum());
    assert_ne!(serial, want);
}

#[test]
fn any_gt_compares_every_lane_and_not_nan() {
    fn run<S: Simd>(s: S, a: [f64; HALF], b: [f64; HALF]) -> bool {
        s.load64(&a).any_gt(s.load64(&b))
    }
    each_isa(|_, isa| {
        struct Job([f64; HALF], [f64; HALF]);
        impl WithSimd for Job {
            type Output = bool;
            fn run<S: Simd>(self, s: S) -> bool {
                run(s, self.0, self.1)
            }
        }
        let b = [1.0; HALF];
        for lane in 0..HALF {
            let mut a = [0.5; HALF];
            assert!(!dispatch(isa, Job(a, b)), "{isa}: all lanes below");
            a[lane] = 2.0;
            assert!(dispatch(isa, Job(a, b)), "{isa}: lane {lane} above");
            a[lane] = f64::NAN;
            assert!(!dispatch(isa, Job(a, b)), "{isa}: NaN in lane {lane}");
            a[lane] = 1.0;
            assert!(!dispatch(isa, Job(a, b)), "{isa}: lane {lane} equal");
        }
    });
}
