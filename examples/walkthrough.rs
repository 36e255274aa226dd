//! The README's worked example, step by step: one channel, two samples `[1..=8]` and
//! `[2..=9]`, gamma 2, beta 0.5, eps 1e-5. Prints the hand arithmetic next to what the crate
//! computes (both layouts, both methods, `batch_stats`, `accumulate_moments`, the f64
//! reference), the normalized values by hand and by `normalize` / `normalize_in_place`,
//! and the two slips of the blog post the project started from. Every number is checked:
//! a wrong crate makes this program panic.
//!
//! ```text
//! cargo run --release --example walkthrough
//! ```

use batchnorm::{
    Activation, Layout, Method, Moments, NormParams, Shape, accumulate_moments, batch_stats,
    normalize, normalize_in_place, reference,
};

const GAMMA: f64 = 2.0;
const BETA: f64 = 0.5;
const EPS: f64 = 1e-5;

/// Unit roundoff of f32, `2^-24`.
const U: f64 = 1.0 / (1u64 << 24) as f64;

/// Panics unless `|got - want| <= tol`; otherwise returns a short verdict for the printout.
fn check(what: &str, got: f64, want: f64, tol: f64) -> &'static str {
    let err = (got - want).abs();
    assert!(
        err <= tol,
        "{what}: got {got}, expected {want} (error {err:e} > tolerance {tol:e})"
    );
    if err == 0.0 { "exact" } else { "within bound" }
}

fn main() {
    // ------------------------------------------------------------------ the data
    let sample1: Vec<f32> = (1..=8).map(|v| v as f32).collect();
    let sample2: Vec<f32> = (2..=9).map(|v| v as f32).collect();
    let x: Vec<f32> = sample1.iter().chain(&sample2).copied().collect();
    // n = 2 samples, c = 1 channel, a 2x4 plane each. With one channel NCHW and NHWC hold
    // the same values in the same order, so the one buffer serves both layouts.
    let shape = Shape::new(2, 1, 2, 4);

    println!("# The worked example, step by step\n");
    println!("One channel, two samples of 8 values (shape n=2, c=1, h=2, w=4):");
    println!("  sample 1: {sample1:?}");
    println!("  sample 2: {sample2:?}");
    println!("gamma = {GAMMA}, beta = {BETA}, eps = {EPS:e}\n");

    // ------------------------------------------------------------------ by hand
    println!("## 1. By hand (exact arithmetic)\n");
    let s1: f64 = sample1.iter().map(|&v| f64::from(v)).sum();
    let s2: f64 = sample2.iter().map(|&v| f64::from(v)).sum();
    let count = x.len() as f64;
    let mean = (s1 + s2) / count;
    println!("  sum     = {s1} + {s2} = {}", s1 + s2);
    println!("  count   = 2 samples x 8 values = {count}");
    println!("  mean    = {} / {count} = {mean:?}", s1 + s2);
    assert_eq!((s1 + s2, count, mean), (80.0, 16.0, 5.0));

    let sq = |s: &[f32]| -> Vec<f64> { s.iter().map(|&v| (f64::from(v) - mean).powi(2)).collect() };
    let (q1, q2) = (sq(&sample1), sq(&sample2));
    let (m2_1, m2_2): (f64, f64) = (q1.iter().sum(), q2.iter().sum());
    let m2 = m2_1 + m2_2;
    println!("  (x - 5)^2, sample 1: {q1:?} -> {m2_1}");
    println!("  (x - 5)^2, sample 2: {q2:?} -> {m2_2}");
    println!("  M2      = {m2_1} + {m2_2} = {m2}");
    let var = m2 / count;
    let sample_var = m2 / (count - 1.0);
    println!("  biased variance   = M2 / 16 = {var:?}");
    println!("  unbiased variance = M2 / 15 = {sample_var:.6} (88/15)\n");
    assert_eq!((m2, var), (88.0, 5.5));
    assert_eq!(sample_var, 88.0 / 15.0);

    // ------------------------------------------------------------------ the crate
    println!("## 2. The crate\n");
    // The README's accuracy bounds: mean error <= 16*u*A (A = mean |x| = 5); variance
    // relative error <= 1e-5 + 2*kappa*u (Welford), <= 1e-6 (two-pass),
    // kappa = sqrt(1 + mean^2/var).
    let a_mean = x.iter().map(|v| f64::from(v.abs())).sum::<f64>() / count;
    let mean_tol = 16.0 * U * a_mean;
    let kappa = (1.0 + mean * mean / var).sqrt();
    let var_tol = |m: Method| match m {
        Method::Welford => (1e-5 + 2.0 * kappa * U) * var,
        Method::TwoPass => 1e-6 * var,
        _ => unreachable!("the walkthrough runs Welford and TwoPass only"),
    };

    println!("batch_stats (f32 mean and biased variance):\n");
    println!("| layout | method | mean | var | check |");
    println!("|---|---|---:|---:|---|");
    for layout in [Layout::Nchw, Layout::Nhwc] {
        for method in [Method::Welford, Method::TwoPass] {
            let (mut m, mut v) = ([0.0f32], [0.0f32]);
            batch_stats(&x, shape, layout, method, &mut m, &mut v).expect("valid arguments");
            let what = format!("batch_stats {layout:?} {method:?}");
            let cm = check(&format!("{what} mean"), f64::from(m[0]), mean, mean_tol);
            let cv = check(
                &format!("{what} var"),
                f64::from(v[0]),
                var,
                var_tol(method),
            );
            println!(
                "| {layout:?} | {method:?} | {:?} | {:?} | mean {cm}, var {cv} |",
                m[0], v[0]
            );
        }
    }

    println!(
        "\naccumulate_moments (f64 Moments; the unbiased variance is Moments::sample_variance):\n"
    );
    println!("| layout | method | count | mean | M2 | variance | sample_variance |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for layout in [Layout::Nchw, Layout::Nhwc] {
        for method in [Method::Welford, Method::TwoPass] {
            let mut acc = [Moments::default()];
            accumulate_moments(&x, shape, layout, method, &mut acc).expect("valid arguments");
            let m = acc[0];
            let what = format!("accumulate_moments {layout:?} {method:?}");
            assert_eq!(m.count, 16, "{what} count");
            check(&format!("{what} mean"), m.mean, mean, mean_tol);
            check(&format!("{what} M2"), m.m2, m2, var_tol(method) * count);
            check(
                &format!("{what} sample_variance"),
                m.sample_variance(),
                sample_var,
                var_tol(method) * count / (count - 1.0),
            );
            println!(
                "| {layout:?} | {method:?} | {} | {:?} | {:?} | {:?} | {:.6} |",
                m.count,
                m.mean,
                m.m2,
                m.variance(),
                m.sample_variance()
            );
        }
    }

    // The same statistics, one sample at a time: accumulate_moments adds each batch with
    // Chan's merge, so two calls over the halves give the statistics of the whole.
    let half = Shape::new(1, 1, 2, 4);
    let mut acc = [Moments::default()];
    accumulate_moments(&sample1, half, Layout::Nchw, Method::Welford, &mut acc).expect("valid");
    let after1 = acc[0];
    accumulate_moments(&sample2, half, Layout::Nchw, Method::Welford, &mut acc).expect("valid");
    println!("\nOne sample at a time (accumulate_moments twice, merged by Chan's formula):");
    println!(
        "  after sample 1: count {}, mean {:?}, M2 {:?}   (by hand: 36/8 = 4.5, 42)",
        after1.count, after1.mean, after1.m2
    );
    println!(
        "  after sample 2: count {}, mean {:?}, M2 {:?}   (by hand: 42 + 42 + (5.5 - 4.5)^2 * 8*8/16 = 88)",
        acc[0].count, acc[0].mean, acc[0].m2
    );
    check("first sample mean", after1.mean, 4.5, 16.0 * U * 4.5);
    check(
        "first sample M2",
        after1.m2,
        42.0,
        (1e-5 + 2.0 * 2.0 * U) * 42.0,
    );
    check("merged mean", acc[0].mean, mean, mean_tol);
    check("merged M2", acc[0].m2, m2, var_tol(Method::Welford) * count);

    let (mut rm, mut rv) = ([0.0f64], [0.0f64]);
    reference::batch_stats(&x, shape, Layout::Nchw, &mut rm, &mut rv).expect("valid arguments");
    println!(
        "\nreference::batch_stats (the f64 oracle): mean {:?}, var {:?}",
        rm[0], rv[0]
    );
    check("reference mean", rm[0], mean, 1e-12);
    check("reference var", rv[0], var, 1e-12);

    // ------------------------------------------------------------------ normalize
    println!("\n## 3. Normalize\n");
    let (mut m, mut v) = ([0.0f32], [0.0f32]);
    batch_stats(&x, shape, Layout::Nchw, Method::TwoPass, &mut m, &mut v).expect("valid");
    // The centered form the crate uses: scale = gamma / sqrt(var + eps) once per channel
    // in f64, then y = (x - mean) * scale + beta per element in f32.
    let scale = (GAMMA / (f64::from(v[0]) + EPS).sqrt()) as f32;
    let (mean32, beta32) = (m[0], BETA as f32);
    println!(
        "  sqrt(var + eps) = sqrt(5.50001) = {:.6}",
        (var + EPS).sqrt()
    );
    println!("  scale = gamma / sqrt(var + eps) = {scale:.6}");
    println!(
        "  x̂ = (x - mean) / sqrt(var + eps),  y = gamma * x̂ + beta = (x - mean) * scale + beta\n"
    );
    // The crate: normalize with the statistics batch_stats computed above, in both layouts
    // (one channel: the same buffer), out of place and in place.
    let (gamma32, eps32) = ([GAMMA as f32], EPS as f32);
    let p = NormParams {
        mean: &m,
        var: &v,
        gamma: &gamma32,
        beta: &[beta32],
        eps: eps32,
    };
    let mut y_nchw = vec![0.0f32; x.len()];
    normalize(
        &x,
        &mut y_nchw,
        shape,
        Layout::Nchw,
        &p,
        Activation::Identity,
    )
    .expect("valid arguments");
    let mut y_nhwc = vec![0.0f32; x.len()];
    normalize(
        &x,
        &mut y_nhwc,
        shape,
        Layout::Nhwc,
        &p,
        Activation::Identity,
    )
    .expect("valid arguments");
    let mut y_in_place = x.clone();
    normalize_in_place(
        &mut y_in_place,
        shape,
        Layout::Nchw,
        &p,
        Activation::Identity,
    )
    .expect("valid arguments");
    // The README's promises: the layouts agree bit for bit, and so do in place and out of
    // place.
    let bits = |v: &[f32]| v.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&y_nhwc),
        bits(&y_nchw),
        "normalize: NHWC differs from NCHW"
    );
    assert_eq!(
        bits(&y_in_place),
        bits(&y_nchw),
        "normalize_in_place differs from normalize"
    );

    println!(
        "| x | x̂ (f64) | y (f64, by hand) | y (f32, centered form by hand) | y (normalize) | error |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    // Each value of 1..=9 once: x[0..8] is 1..=8, x[15] is 9.
    for (i, xi) in (0..8).chain([15]).map(|i| (i, x[i])) {
        let xf = f64::from(xi);
        let xhat = (xf - mean) / (var + EPS).sqrt();
        let y = GAMMA * xhat + BETA;
        let y32 = (xi - mean32).mul_add(scale, beta32);
        check(&format!("y({xi}) centered form"), f64::from(y32), y, 1e-5);
        let got = y_nchw[i];
        check(&format!("normalize y({xi})"), f64::from(got), y, 1e-5);
        println!(
            "| {xi} | {xhat:.6} | {y:.6} | {y32:.6} | {got:.6} | {:.1e} |",
            (f64::from(got) - y).abs()
        );
    }
    // Every element of the tensor, not only the ones in the table.
    for (&xi, &got) in x.iter().zip(&y_nchw) {
        let y = GAMMA * (f64::from(xi) - mean) / (var + EPS).sqrt() + BETA;
        check(&format!("normalize y({xi})"), f64::from(got), y, 1e-5);
    }
    println!(
        "\n  normalize (NCHW and NHWC) and normalize_in_place agree bit for bit; all 16 outputs"
    );
    println!("  are within 1e-5 of the hand computation.");
    let y_of = |xi: f64| GAMMA * (xi - mean) / (var + EPS).sqrt() + BETA;
    check("y(1) against the README", y_of(1.0), -2.911_208, 1e-6);
    check("y(9) against the README", y_of(9.0), 3.911_208, 1e-6);
    check(
        "x̂(1) against the README",
        (1.0 - mean) / (var + EPS).sqrt(),
        -1.705_604,
        1e-6,
    );
    println!("\n  x = 1 -> x̂ = -4/sqrt(5.50001) = -1.7056..., y = -2.9112...");
    println!("  x = 9 -> x̂ = +4/sqrt(5.50001) = +1.7056..., y = +3.9112...");

    // ------------------------------------------------------------------ the slips
    println!("\n## 4. The blog post's two slips\n");
    let (post_sum, post_count) = (76.0f64, 8.0f64);
    println!(
        "  Slip 1: the post writes mean = 76/8 = {}. The sum of both samples is 36 + 44 = 80,",
        post_sum / post_count
    );
    println!("          not 76, and the count is 2 x 8 = 16, not 8.");
    println!(
        "  Slip 2: it then computes with {} (= 76/16: the right count, the wrong sum).",
        post_sum / 16.0
    );
    println!("  True mean: 80/16 = {mean}; the crate agrees (above).");
    assert_eq!(post_sum / post_count, 9.5);
    assert_eq!(post_sum / 16.0, 4.75);
    assert_ne!(s1 + s2, post_sum);
    assert!(f64::from(m[0]) != 9.5 && f64::from(m[0]) != 4.75);
    // A mean off by `e` shifts every y by -gamma*e/sqrt(var + eps).
    for wrong in [4.75, 9.5] {
        let shift = GAMMA * (mean - wrong) / (var + EPS).sqrt();
        println!(
            "  With mean {wrong}: every y moves by {shift:+.4} (y(1) = {:.4} instead of {:.4}).",
            y_of(1.0) + shift,
            y_of(1.0)
        );
    }

    println!("\nAll numbers checked.");
}
