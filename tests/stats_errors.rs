//! Issue 2: bad input to the statistics entry points gets a precise `Error`, never a
//! panic, and leaves every output buffer untouched. Also the byte-buffer views.

mod common;
mod isa;

use batchnorm::{
    Error, Layout, Moments, Shape, accumulate_moments, batch_stats, f32s_from_bytes,
    f32s_from_bytes_mut, reference,
};
use common::{LAYOUTS, METHODS};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

/// What output buffers hold before a call that must fail.
const SENTINEL: f32 = 42.0;
const SENTINEL_MOMENTS: Moments = Moments {
    count: 7,
    mean: 42.0,
    m2: 4.2,
};

fn untouched(v: &[f32]) -> bool {
    v.iter().all(|&x| x.to_bits() == SENTINEL.to_bits())
}

fn untouched_moments(a: &[Moments]) -> bool {
    a.iter().all(|m| {
        m.count == SENTINEL_MOMENTS.count
            && m.mean.to_bits() == SENTINEL_MOMENTS.mean.to_bits()
            && m.m2.to_bits() == SENTINEL_MOMENTS.m2.to_bits()
    })
}

fn input(len: usize) -> Vec<f32> {
    (0..len).map(|i| i as f32 * 0.5 - 3.0).collect()
}

/// `batch_stats` (every layout and method) with sentinel-filled outputs of the given
/// lengths must return `want` and write nothing; so must the f64 reference.
fn expect_stats_error(shape: Shape, x_len: usize, mean_len: usize, var_len: usize, want: Error) {
    let x = input(x_len);
    for layout in LAYOUTS {
        for method in METHODS {
            let mut mean = vec![SENTINEL; mean_len];
            let mut var = vec![SENTINEL; var_len];
            let got = batch_stats(&x, shape, layout, method, &mut mean, &mut var);
            assert_eq!(
                got,
                Err(want),
                "batch_stats {shape:?} {layout:?} {method:?}"
            );
            assert!(
                untouched(&mean) && untouched(&var),
                "batch_stats {shape:?} {layout:?} {method:?} wrote before failing: {mean:?} {var:?}"
            );
        }
        let mut mean = vec![f64::from(SENTINEL); mean_len];
        let mut var = vec![f64::from(SENTINEL); var_len];
        let got = reference::batch_stats(&x, shape, layout, &mut mean, &mut var);
        assert_eq!(
            got,
            Err(want),
            "reference::batch_stats {shape:?} {layout:?}"
        );
        assert!(mean.iter().chain(&var).all(|&v| v == f64::from(SENTINEL)));
    }
}

/// `accumulate_moments` (every layout and method) with sentinel accumulators must return
/// `want` and leave them as they were.
fn expect_acc_error(shape: Shape, x_len: usize, acc_len: usize, want: Error) {
    let x = input(x_len);
    for layout in LAYOUTS {
        for method in METHODS {
            let mut acc = vec![SENTINEL_MOMENTS; acc_len];
            let got = accumulate_moments(&x, shape, layout, method, &mut acc);
            assert_eq!(
                got,
                Err(want),
                "accumulate_moments {shape:?} {layout:?} {method:?}"
            );
            assert!(
                untouched_moments(&acc),
                "accumulate_moments {shape:?} {layout:?} {method:?} wrote before failing: {acc:?}"
            );
        }
    }
}

fn mismatch(buffer: &'static str, expected: usize, actual: usize) -> Error {
    Error::LengthMismatch {
        buffer,
        expected,
        actual,
    }
}

/// `Display` of `e` mentions every one of `parts`.
fn assert_display_mentions(e: Error, parts: &[&str]) {
    let text = e.to_string();
    for p in parts {
        assert!(text.contains(p), "`{text}` does not mention {p:?}");
    }
    // Also a `core::error::Error` with a non-empty `Debug`.
    let as_error: &dyn core::error::Error = &e;
    assert!(as_error.source().is_none());
    assert!(!format!("{e:?}").is_empty());
}

// ---------------------------------------------------------------------------------------
// Lengths
// ---------------------------------------------------------------------------------------

#[test]
fn x_length_differs_from_numel() {
    let shape = Shape::new(2, 3, 4, 5); // 120 elements
    for x_len in [0, 1, 119, 121, 240] {
        let e = mismatch("x", 120, x_len);
        expect_stats_error(shape, x_len, 3, 3, e);
        expect_acc_error(shape, x_len, 3, e);
    }
    // The error names the buffer and both numbers.
    assert_display_mentions(mismatch("x", 120, 119), &["x", "120", "119"]);
}

#[test]
fn mean_var_acc_lengths_differ_from_c() {
    let shape = Shape::new(2, 3, 4, 5);
    for bad in [0, 1, 2, 4, 120] {
        // One buffer wrong: the others (of the right length) stay untouched as well.
        expect_stats_error(shape, 120, bad, 3, mismatch("mean", 3, bad));
        expect_stats_error(shape, 120, 3, bad, mismatch("var", 3, bad));
        expect_acc_error(shape, 120, bad, mismatch("acc", 3, bad));
    }
    assert_display_mentions(mismatch("mean", 3, 4), &["mean", "3", "4"]);
    assert_display_mentions(mismatch("var", 3, 0), &["var", "3", "0"]);
    assert_display_mentions(mismatch("acc", 3, 120), &["acc", "3", "120"]);
    // The reference names its output `out`.
    let mut out = vec![SENTINEL_MOMENTS; 2];
    let got = reference::moments(&input(120), shape, Layout::Nchw, &mut out);
    assert_eq!(got, Err(mismatch("out", 3, 2)));
    assert!(untouched_moments(&out));
}

/// Several buffers wrong at once: some error, and still nothing written.
#[test]
fn several_bad_buffers_still_write_nothing() {
    let shape = Shape::new(2, 3, 4, 5);
    let x = input(7);
    for layout in LAYOUTS {
        for method in METHODS {
            let (mut mean, mut var) = (vec![SENTINEL; 3], vec![SENTINEL; 5]);
            let got = batch_stats(&x, shape, layout, method, &mut mean, &mut var);
            assert!(matches!(got, Err(Error::LengthMismatch { .. })), "{got:?}");
            assert!(untouched(&mean) && untouched(&var));
            let mut acc = vec![SENTINEL_MOMENTS; 1];
            let got = accumulate_moments(&x, shape, layout, method, &mut acc);
            assert!(matches!(got, Err(Error::LengthMismatch { .. })), "{got:?}");
            assert!(untouched_moments(&acc));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------

#[test]
fn element_count_overflowing_usize() {
    let big = 1usize << (usize::BITS / 2);
    for shape in [
        Shape::new(usize::MAX, 2, 1, 1),
        Shape::new(2, usize::MAX, 1, 1),
        Shape::new(1, 3, usize::MAX, 2),
        Shape::new(1, 1, 2, usize::MAX),
        Shape::new(big, big, 1, 1),
        Shape::new(1, big, big, 2),
        Shape::new(usize::MAX, usize::MAX, usize::MAX, usize::MAX),
    ] {
        let e = Error::ShapeOverflow {
            n: shape.n,
            c: shape.c,
            h: shape.h,
            w: shape.w,
        };
        assert_eq!(shape.numel(), Err(e), "{shape:?}");
        // Output buffers of any length (the channel count itself may be huge).
        let c_len = shape.c.min(3);
        expect_stats_error(shape, 6, c_len, c_len, e);
        expect_acc_error(shape, 6, c_len, e);
    }
    let e = Error::ShapeOverflow {
        n: usize::MAX,
        c: 2,
        h: 1,
        w: 1,
    };
    assert_display_mentions(e, &[&usize::MAX.to_string(), "c=2", "overflow"]);
}

#[test]
fn numel_is_the_checked_product() {
    assert_eq!(Shape::new(2, 3, 4, 5).numel(), Ok(120));
    assert_eq!(Shape::new(0, 3, 4, 5).numel(), Ok(0));
    assert_eq!(Shape::new(1, 1, 1, 1).numel(), Ok(1));
    assert_eq!(Shape::new(usize::MAX, 1, 1, 1).numel(), Ok(usize::MAX));
    // A zero anywhere makes the product 0 even when the others' product would overflow.
    assert_eq!(Shape::new(usize::MAX, 0, 1, 1).numel(), Ok(0));
    let s = Shape::new(1, 2, 3, 4);
    assert_eq!((s.n, s.c, s.h, s.w), (1, 2, 3, 4));
}

#[test]
fn channels_with_no_values() {
    // n*h*w == 0 while c > 0: every channel's statistics are undefined.
    for shape in [
        Shape::new(0, 3, 5, 7),
        Shape::new(2, 3, 0, 7),
        Shape::new(2, 3, 5, 0),
        Shape::new(0, 1, 0, 0),
        Shape::new(0, 257, 1, 1),
    ] {
        let e = Error::EmptyChannel {
            n: shape.n,
            h: shape.h,
            w: shape.w,
        };
        expect_stats_error(shape, 0, shape.c, shape.c, e);
        expect_acc_error(shape, 0, shape.c, e);
    }
    assert_display_mentions(
        Error::EmptyChannel { n: 0, h: 5, w: 7 },
        &["0*5*7", "empty"],
    );
}

#[test]
fn no_channels_is_ok() {
    for shape in [
        Shape::new(2, 0, 3, 4),
        Shape::new(0, 0, 0, 0),
        Shape::new(1, 0, 1, 1),
        Shape::new(usize::MAX, 0, 1, 1),
    ] {
        for layout in LAYOUTS {
            for method in METHODS {
                let (mut mean, mut var) = ([0.0f32; 0], [0.0f32; 0]);
                assert_eq!(
                    batch_stats(&[], shape, layout, method, &mut mean, &mut var),
                    Ok(()),
                    "{shape:?}"
                );
                let mut acc: [Moments; 0] = [];
                assert_eq!(
                    accumulate_moments(&[], shape, layout, method, &mut acc),
                    Ok(())
                );
            }
        }
        // With c = 0 there must still be no values and no outputs.
        expect_stats_error(shape, 1, 0, 0, mismatch("x", 0, 1));
        expect_stats_error(shape, 0, 1, 0, mismatch("mean", 0, 1));
        expect_acc_error(shape, 0, 2, mismatch("acc", 0, 2));
    }
}

/// `n = 0` makes `n*c*h*w` and `n*h*w` zero even when `h*w` overflows `usize`: such a
/// shape must not panic (debug builds check overflow). A zero-sized shape is never
/// `ShapeOverflow`: with no channels and empty buffers it is `Ok`, with channels
/// `EmptyChannel`.
#[test]
fn empty_shape_with_overflowing_plane_does_not_panic() {
    let huge = 1usize << (usize::BITS / 2);
    for (h, w) in [(usize::MAX, 2), (huge, huge), (usize::MAX / 3, 4)] {
        for c in [0usize, 3] {
            let shape = Shape::new(0, c, h, w);
            for layout in LAYOUTS {
                for method in METHODS {
                    let stats = std::panic::catch_unwind(|| {
                        let (mut mean, mut var) = (vec![SENTINEL; c], vec![SENTINEL; c]);
                        let r = batch_stats(&[], shape, layout, method, &mut mean, &mut var);
                        (r, untouched(&mean) && untouched(&var))
                    });
                    let acc = std::panic::catch_unwind(|| {
                        let mut acc = vec![SENTINEL_MOMENTS; c];
                        let r = accumulate_moments(&[], shape, layout, method, &mut acc);
                        (r, untouched_moments(&acc))
                    });
                    for (what, got) in [("batch_stats", stats), ("accumulate_moments", acc)] {
                        match got {
                            Err(_) => panic!("{what} {shape:?} {layout:?} {method:?} panicked"),
                            Ok((Ok(()), _)) => {
                                assert_eq!(c, 0, "{what} {shape:?}: Ok with channels")
                            }
                            Ok((Err(e), clean)) => {
                                assert!(clean, "{what} {shape:?}: wrote before failing");
                                assert_eq!(
                                    e,
                                    Error::EmptyChannel { n: 0, h, w },
                                    "{what} {shape:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Never a panic: arbitrary shapes and lengths
// ---------------------------------------------------------------------------------------

fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..=5,
        1 => Just(7usize),
        1 => Just(usize::MAX),
        1 => Just(1usize << (usize::BITS / 2)),
        1 => Just(usize::MAX / 3),
    ]
}

/// A length error of -1, 0 or +1 (mostly 0, so that many cases are valid).
fn delta() -> impl Strategy<Value = isize> {
    prop_oneof![6 => Just(0isize), 1 => Just(-1isize), 1 => Just(1isize)]
}

fn config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::with_cases(cases);
    c.failure_persistence = None;
    if c.rng_seed == RngSeed::Random {
        c.rng_seed = RngSeed::Fixed(0xe770_5eed);
    }
    c
}

proptest! {
    #![proptest_config(config(1024))]

    /// Any shape with any buffer lengths: `Ok` exactly when the shape is zero-sized or
    /// its products fit, every length matches and each channel has a value (or there are
    /// none); on `Err` the outputs are untouched; never a panic.
    #[test]
    fn any_arguments_either_work_or_fail_cleanly(
        (n, c, h, w) in (dim(), dim(), dim(), dim()),
        x_delta in delta(),
        x_len_random in 0usize..400,
        use_random_x_len in any::<bool>(),
        mean_delta in delta(),
        var_delta in delta(),
        acc_delta in delta(),
    ) {
        let shape = Shape::new(n, c, h, w);
        // A zero anywhere makes the product 0, whatever the others.
        let zero = n == 0 || c == 0 || h == 0 || w == 0;
        let numel = if zero { Some(0) } else { n.checked_mul(c).and_then(|v| v.checked_mul(h)).and_then(|v| v.checked_mul(w)) };
        let count = if n == 0 || h == 0 || w == 0 { Some(0) } else { n.checked_mul(h).and_then(|v| v.checked_mul(w)) };
        let len = |base: Option<usize>, delta: isize| -> usize {
            base.filter(|&b| b <= 400).map_or(3, |b| b.saturating_add_signed(delta))
        };
        let x_len = if use_random_x_len { x_len_random } else { len(numel, x_delta) };
        let c_small = Some(c).filter(|&c| c <= 400);
        let (mean_len, var_len, acc_len) = (len(c_small, mean_delta), len(c_small, var_delta), len(c_small, acc_delta));
        let x = input(x_len);
        // With c > 0, n*h*w fits when n*c*h*w does; with c == 0 it does not matter.
        let valid_shape = numel.is_some() && (c == 0 || count != Some(0));
        let x_ok = numel == Some(x_len);
        for layout in LAYOUTS {
            for method in METHODS {
                let (mut mean, mut var) = (vec![SENTINEL; mean_len], vec![SENTINEL; var_len]);
                let got = batch_stats(&x, shape, layout, method, &mut mean, &mut var);
                let ok = valid_shape && x_ok && mean_len == c && var_len == c;
                prop_assert_eq!(got.is_ok(), ok, "batch_stats {:?} x {} mean {} var {}: {:?}", shape, x_len, mean_len, var_len, got);
                let ok = got.is_ok();
                if ok {
                    // Written, and sensible (the data are small halves: loose bounds do).
                    let (mut rm, mut rv) = (vec![0.0; c], vec![0.0; c]);
                    reference::batch_stats(&x, shape, layout, &mut rm, &mut rv).unwrap();
                    for k in 0..c {
                        prop_assert!((f64::from(mean[k]) - rm[k]).abs() <= 1e-4 * (1.0 + rm[k].abs()));
                        prop_assert!((f64::from(var[k]) - rv[k]).abs() <= 1e-4 * (1.0 + rv[k]));
                    }
                } else {
                    prop_assert!(untouched(&mean) && untouched(&var));
                }
                let mut acc = vec![SENTINEL_MOMENTS; acc_len];
                let got = accumulate_moments(&x, shape, layout, method, &mut acc);
                let ok = valid_shape && x_ok && acc_len == c;
                prop_assert_eq!(got.is_ok(), ok, "accumulate_moments {:?} x {} acc {}: {:?}", shape, x_len, acc_len, got);
                let ok = got.is_ok();
                if !ok {
                    prop_assert!(untouched_moments(&acc));
                } else if let Some(count) = count {
                    prop_assert!(acc.iter().all(|m| m.count == SENTINEL_MOMENTS.count + count as u64));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Byte buffers viewed as f32
// ---------------------------------------------------------------------------------------

/// 64 bytes aligned to 16, holding 16 known f32 values.
#[repr(C, align(16))]
struct Aligned([u8; 64]);

const VALUES: [f32; 16] = [
    1.0,
    -2.5,
    3.25,
    0.0,
    -0.0,
    1e-40,
    f32::MAX,
    f32::MIN_POSITIVE,
    7.0,
    8.5,
    -9.0,
    1e6,
    0.1,
    f32::INFINITY,
    -1e30,
    42.0,
];

fn aligned() -> Aligned {
    let mut a = Aligned([0; 64]);
    for (chunk, v) in a.0.chunks_exact_mut(4).zip(VALUES) {
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    a
}

#[test]
fn bytes_view_round_trips_values() {
    let a = aligned();
    let v = f32s_from_bytes(&a.0).unwrap();
    assert_eq!(v.len(), 16);
    for (got, want) in v.iter().zip(VALUES) {
        assert_eq!(got.to_bits(), want.to_bits());
    }
    // A view of the middle (4-byte aligned offset) and an empty view.
    let mid = f32s_from_bytes(&a.0[8..40]).unwrap();
    assert_eq!(mid, &VALUES[2..10]);
    assert_eq!(f32s_from_bytes(&a.0[4..4]).unwrap().len(), 0);
    // Zero-copy: the view is the same memory.
    assert_eq!(v.as_ptr() as usize, a.0.as_ptr() as usize);
}

#[test]
fn bytes_view_mut_writes_through() {
    let mut a = aligned();
    let addr = a.0.as_ptr() as usize;
    let v = f32s_from_bytes_mut(&mut a.0).unwrap();
    assert_eq!(v.as_ptr() as usize, addr);
    assert_eq!(v[2], 3.25);
    v[0] = -123.5;
    v[15] = 0.75;
    assert_eq!(a.0[0..4], (-123.5f32).to_ne_bytes());
    assert_eq!(a.0[60..64], 0.75f32.to_ne_bytes());
}

#[test]
fn bytes_view_rejects_misaligned_start() {
    let mut a = aligned();
    for offset in [1, 2, 3, 5] {
        let addr = a.0.as_ptr() as usize + offset;
        let want = Error::Misaligned {
            address: addr,
            align: 4,
        };
        // 32 bytes: a whole number of f32s, only the start is wrong.
        assert_eq!(f32s_from_bytes(&a.0[offset..offset + 32]), Err(want));
        assert_eq!(
            f32s_from_bytes_mut(&mut a.0[offset..offset + 32]),
            Err(want)
        );
        assert_display_mentions(want, &[&format!("{addr:#x}"), "4"]);
    }
    // Nothing was written.
    assert_eq!(aligned().0, a.0);
}

#[test]
fn bytes_view_rejects_partial_f32() {
    let mut a = aligned();
    for len in [1, 2, 3, 5, 63] {
        let want = Error::ByteLength { len };
        assert_eq!(f32s_from_bytes(&a.0[..len]), Err(want));
        assert_eq!(f32s_from_bytes_mut(&mut a.0[..len]), Err(want));
        assert_display_mentions(want, &[&len.to_string()]);
    }
}

/// The intended use: raw bytes (as read from a file) straight into the kernels.
#[test]
fn bytes_view_feeds_batch_stats() {
    let mut a = Aligned([0; 64]);
    for (i, chunk) in a.0.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&((i % 8 + 1 + i / 8) as f32).to_ne_bytes());
    }
    // [1..=8] and [2..=9]: the worked example.
    let x = f32s_from_bytes(&a.0).unwrap();
    for method in METHODS {
        let (mut mean, mut var) = ([0.0f32], [0.0f32]);
        batch_stats(
            x,
            Shape::new(2, 1, 2, 4),
            Layout::Nchw,
            method,
            &mut mean,
            &mut var,
        )
        .unwrap();
        assert_eq!((mean[0], var[0]), (5.0, 5.5));
    }
}
