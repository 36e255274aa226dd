//! Every lane operation of every ISA this CPU runs, against plain scalar arithmetic.

use super::*;

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
