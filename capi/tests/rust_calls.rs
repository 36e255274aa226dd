//! Every exported function called from Rust through the rlib, on small buffers: results
//! equal to the batchnorm crate's, in place versus out of place, and the refusals that
//! involve the pointer checks (NULL, misaligned, overlap). Small enough to run under Miri
//! (`cargo +nightly miri test -p batchnorm-capi --test rust_calls`), which checks the
//! `unsafe` code turning pointers into slices.

use batchnorm::{Activation, Isa, Layout, Method, Moments, NormParams, Shape};
use batchnorm_capi::enums::*;
use batchnorm_capi::*;
use std::ffi::{CStr, c_int};
use std::ptr::{null, null_mut};

const SH: BnShape = BnShape {
    n: 2,
    c: 3,
    h: 2,
    w: 2,
};
const NUM: usize = 24;
const C: usize = 3;
const ID: BnActivation = BnActivation {
    kind: BN_ACTIVATION_IDENTITY,
    clamp_min: 0.0,
    clamp_max: 0.0,
    slope: 0.0,
};

/// `kind` with the clamp bounds -1 and 2 and `slope`.
fn activation(kind: BnActivationKind, slope: f32) -> BnActivation {
    BnActivation {
        kind,
        clamp_min: -1.0,
        clamp_max: 2.0,
        slope,
    }
}

fn x() -> Vec<f32> {
    (0..NUM)
        .map(|i| (i * 7 % 11) as f32 * 0.5 + (i % 3) as f32)
        .collect()
}

fn last_error() -> String {
    // SAFETY: bn_last_error_message returns a NUL-terminated string, valid until the next
    // refused call on this thread.
    unsafe { CStr::from_ptr(bn_last_error_message()) }
        .to_str()
        .unwrap()
        .to_string()
}

fn status(code: c_int) -> Status {
    Status::from_code(code).expect("a bn_status")
}

struct Params {
    mean: Vec<f32>,
    var: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Params {
    fn new() -> Params {
        Params {
            mean: vec![1.0, 2.0, 3.0],
            var: vec![0.5, 2.0, 4.0],
            gamma: vec![1.0, -2.0, 0.5],
            beta: vec![0.0, 0.25, -1.0],
        }
    }
    fn c(&self) -> BnNormParams {
        BnNormParams {
            mean: self.mean.as_ptr(),
            mean_len: self.mean.len(),
            var: self.var.as_ptr(),
            var_len: self.var.len(),
            gamma: self.gamma.as_ptr(),
            gamma_len: self.gamma.len(),
            beta: self.beta.as_ptr(),
            beta_len: self.beta.len(),
            eps: 1e-3,
        }
    }
    fn rust(&self) -> NormParams<'_> {
        NormParams {
            mean: &self.mean,
            var: &self.var,
            gamma: &self.gamma,
            beta: &self.beta,
            eps: 1e-3,
        }
    }
}

#[test]
fn batch_stats_and_moments_match_the_crate() {
    let x = x();
    for (layout, l) in [
        (BN_LAYOUT_NCHW, Layout::Nchw),
        (BN_LAYOUT_NHWC, Layout::Nhwc),
    ] {
        for (method, m) in [
            (BN_METHOD_WELFORD, Method::Welford),
            (BN_METHOD_TWO_PASS, Method::TwoPass),
        ] {
            let (mut mean, mut var) = ([0.0f32; C], [0.0f32; C]);
            // SAFETY: every pointer is valid for its length.
            let st = unsafe {
                bn_batch_stats(
                    x.as_ptr(),
                    NUM,
                    SH,
                    layout,
                    method,
                    mean.as_mut_ptr(),
                    C,
                    var.as_mut_ptr(),
                    C,
                )
            };
            assert_eq!(status(st), Status::Ok);
            let (mut rm, mut rv) = ([0.0f32; C], [0.0f32; C]);
            batchnorm::batch_stats(&x, Shape::from(SH), l, m, &mut rm, &mut rv).unwrap();
            assert_eq!((mean, var), (rm, rv));

            let mut acc = [BnMoments::default(); C];
            // SAFETY: as above.
            let st = unsafe {
                bn_accumulate_moments(x.as_ptr(), NUM, SH, layout, method, acc.as_mut_ptr(), C)
            };
            assert_eq!(status(st), Status::Ok);
            let mut racc = [Moments::default(); C];
            batchnorm::accumulate_moments(&x, Shape::from(SH), l, m, &mut racc).unwrap();
            assert_eq!(acc.map(Moments::from), racc);

            // Merge with a copy, then with itself: both double the count.
            let copy = acc;
            // SAFETY: two distinct arrays of C elements.
            assert_eq!(
                unsafe { bn_moments_merge(acc.as_mut_ptr(), copy.as_ptr(), C) },
                0
            );
            // SAFETY: the same array twice (allowed).
            assert_eq!(
                unsafe { bn_moments_merge(acc.as_mut_ptr(), acc.as_ptr(), C) },
                0
            );
            assert_eq!(acc[0].count, 4 * copy[0].count);
            assert_eq!(
                bn_moments_variance(acc[1]),
                Moments::from(acc[1]).variance()
            );
            assert_eq!(
                bn_moments_sample_variance(acc[2]),
                Moments::from(acc[2]).sample_variance()
            );
        }
    }
    assert!(bn_moments_variance(BnMoments::default()).is_nan());
}

#[test]
fn normalize_in_place_and_out_of_place_agree_with_the_crate() {
    let p = Params::new();
    let cp = p.c();
    for (layout, l) in [
        (BN_LAYOUT_NCHW, Layout::Nchw),
        (BN_LAYOUT_NHWC, Layout::Nhwc),
    ] {
        for (act, a) in [
            (BN_ACTIVATION_IDENTITY, Activation::Identity),
            (BN_ACTIVATION_RELU, Activation::Relu),
            (
                BN_ACTIVATION_CLAMP,
                Activation::Clamp {
                    min: -1.0,
                    max: 2.0,
                },
            ),
            (BN_ACTIVATION_HARDSWISH, Activation::HardSwish),
            (BN_ACTIVATION_SILU, Activation::Silu),
            (
                BN_ACTIVATION_LEAKY_RELU,
                Activation::LeakyRelu { slope: 0.1 },
            ),
        ] {
            let x = x();
            let mut y = vec![0.0f32; NUM];
            // SAFETY: every pointer is valid for its length; `cp` points into `p`.
            let st = unsafe {
                bn_normalize(
                    x.as_ptr(),
                    NUM,
                    y.as_mut_ptr(),
                    NUM,
                    SH,
                    layout,
                    &cp,
                    activation(act, 0.1),
                )
            };
            assert_eq!(status(st), Status::Ok);
            let mut want = vec![0.0f32; NUM];
            batchnorm::normalize(&x, &mut want, Shape::from(SH), l, &p.rust(), a).unwrap();
            assert_eq!(y, want);
            let mut z = x.clone();
            let zp = z.as_mut_ptr();
            // SAFETY: y == x: one buffer of NUM elements, in place.
            let st =
                unsafe { bn_normalize(zp, NUM, zp, NUM, SH, layout, &cp, activation(act, 0.1)) };
            assert_eq!(status(st), Status::Ok);
            assert_eq!(z, want);
        }
    }
}

#[test]
fn refusals_leave_outputs_untouched() {
    let p = Params::new();
    let cp = p.c();
    let mut buf = vec![0.0f32; 2 * NUM];
    buf[..NUM].copy_from_slice(&x());
    let before = buf.clone();
    let b = buf.as_mut_ptr();
    type Call<'a> = Box<dyn Fn() -> c_int + 'a>;
    let cases: [(&str, Call, Status); 6] = [
        (
            "y one past x",
            // SAFETY (all cases): the pointers lie in `buf` (2*NUM floats) or are NULL.
            Box::new(|| unsafe { bn_normalize(b, NUM, b.wrapping_add(1), NUM, SH, 0, &cp, ID) }),
            Status::Overlap,
        ),
        (
            "y NULL",
            Box::new(|| unsafe { bn_normalize(b, NUM, null_mut(), NUM, SH, 0, &cp, ID) }),
            Status::NullPointer,
        ),
        (
            "params NULL",
            Box::new(|| unsafe {
                bn_normalize(b, NUM, b.wrapping_add(NUM), NUM, SH, 0, null(), ID)
            }),
            Status::NullPointer,
        ),
        (
            "misaligned y",
            Box::new(|| unsafe {
                let y = b.cast::<u8>().wrapping_add(NUM * 4 + 2).cast::<f32>();
                bn_normalize(b, NUM, y, NUM - 1, SH, 0, &cp, ID)
            }),
            Status::Misaligned,
        ),
        (
            "mean overlapping var",
            Box::new(|| unsafe {
                bn_batch_stats(
                    b,
                    NUM,
                    SH,
                    0,
                    0,
                    b.wrapping_add(NUM),
                    C,
                    b.wrapping_add(NUM + 2),
                    C,
                )
            }),
            Status::Overlap,
        ),
        (
            "layout 9",
            Box::new(|| unsafe { bn_normalize(b, NUM, b.wrapping_add(NUM), NUM, SH, 9, &cp, ID) }),
            Status::BadEnum,
        ),
    ];
    for (what, call, want) in &cases {
        assert_eq!(status(call()), *want, "{what}: {}", last_error());
        assert!(!last_error().is_empty(), "{what}");
    }
    assert_eq!(buf, before);
    // A successful call leaves the last message as it was.
    let msg = last_error();
    let mut y = vec![0.0f32; NUM];
    // SAFETY: valid buffers.
    let st = unsafe { bn_normalize(b, NUM, y.as_mut_ptr(), NUM, SH, 0, &cp, ID) };
    assert_eq!(st, 0);
    assert_eq!(last_error(), msg);
}

#[test]
fn prepare_and_normalize_prepared_equal_normalize() {
    let p = Params::new();
    let cp = p.c();
    let mut scale = [0.0f32; C];
    // SAFETY: `cp` points into `p`; `scale` holds C floats.
    let st = unsafe { bn_prepare(&cp, scale.as_mut_ptr(), C) };
    assert_eq!(status(st), Status::Ok, "{}", last_error());
    let mut want_scale = [0.0f32; C];
    batchnorm::prepare(&p.rust(), &mut want_scale).unwrap();
    assert_eq!(scale, want_scale);
    let prepared = BnPrepared {
        mean: p.mean.as_ptr(),
        mean_len: C,
        scale: scale.as_ptr(),
        scale_len: C,
        beta: p.beta.as_ptr(),
        beta_len: C,
    };
    for layout in [BN_LAYOUT_NCHW, BN_LAYOUT_NHWC] {
        for kind in [
            BN_ACTIVATION_IDENTITY,
            BN_ACTIVATION_CLAMP,
            BN_ACTIVATION_HARDSWISH,
            BN_ACTIVATION_LEAKY_RELU,
        ] {
            let act = activation(kind, 0.01);
            let x = x();
            let (mut want, mut y) = (vec![0.0f32; NUM], vec![0.0f32; NUM]);
            // SAFETY: every pointer is valid for its length.
            let st = unsafe {
                bn_normalize(
                    x.as_ptr(),
                    NUM,
                    want.as_mut_ptr(),
                    NUM,
                    SH,
                    layout,
                    &cp,
                    act,
                )
            };
            assert_eq!(status(st), Status::Ok);
            // SAFETY: as above; `prepared` points into `p` and `scale`.
            let st = unsafe {
                bn_normalize_prepared(
                    x.as_ptr(),
                    NUM,
                    y.as_mut_ptr(),
                    NUM,
                    SH,
                    layout,
                    &prepared,
                    act,
                )
            };
            assert_eq!(status(st), Status::Ok);
            assert_eq!(y, want, "layout {layout} kind {kind}");
            let mut z = x.clone();
            let zp = z.as_mut_ptr();
            // SAFETY: y == x: one buffer of NUM elements, in place.
            let st = unsafe { bn_normalize_prepared(zp, NUM, zp, NUM, SH, layout, &prepared, act) };
            assert_eq!(status(st), Status::Ok);
            assert_eq!(z, want);
        }
    }
    // A bad channel is refused and named in C terms; `scale` stays as it was.
    let mut bad = Params::new();
    bad.var[2] = -1.0;
    let cbad = bad.c();
    let before = scale;
    // SAFETY: as above.
    let st = unsafe { bn_prepare(&cbad, scale.as_mut_ptr(), C) };
    assert_eq!(status(st), Status::BadChannel);
    assert_eq!(
        last_error(),
        "channel 2: `params->var[2]` = -1 but it must be finite, with var + eps > 0"
    );
    assert_eq!(scale, before);
}

#[test]
fn messages_use_the_c_names() {
    let p = Params::new();
    let cp = p.c();
    let x = x();
    let mut y = vec![0.0f32; NUM];
    let call = |act: BnActivation, layout: BnLayout, y_len: usize| {
        let mut y = vec![0.0f32; NUM];
        // SAFETY: every pointer is valid for its length (y_len <= NUM).
        let st =
            unsafe { bn_normalize(x.as_ptr(), NUM, y.as_mut_ptr(), y_len, SH, layout, &cp, act) };
        (status(st), last_error())
    };
    let mut clamp = activation(BN_ACTIVATION_CLAMP, 0.0);
    clamp.clamp_max = -2.0;
    assert_eq!(
        call(clamp, BN_LAYOUT_NCHW, NUM),
        (
            Status::InvalidParameter,
            "`act.clamp_max` = -2 but it must be not NaN and >= act.clamp_min".into()
        )
    );
    let leaky = activation(BN_ACTIVATION_LEAKY_RELU, f32::INFINITY);
    assert_eq!(
        call(leaky, BN_LAYOUT_NCHW, NUM),
        (
            Status::InvalidParameter,
            "`act.slope` = inf but it must be finite".into()
        )
    );
    assert_eq!(
        call(ID, BN_LAYOUT_NHWC, NUM - 1),
        (
            Status::LengthMismatch,
            "`y_len` is 23 but the shape needs 24".into()
        )
    );
    for bad in [2, -1, 0x7fff_ffff] {
        let (st, msg) = call(ID, bad, NUM);
        assert_eq!(st, Status::BadEnum);
        assert!(msg.starts_with(&format!("`layout` = {bad} is not a bn_layout value")));
    }
    let bad_kind = activation(6, 0.0);
    let (st, msg) = call(bad_kind, BN_LAYOUT_NCHW, NUM);
    assert_eq!(st, Status::BadEnum);
    assert_eq!(
        msg,
        "`act.kind` = 6 is not a bn_activation_kind value (0..=5)"
    );
    // The shape's overflow, in size_t.
    let huge = BnShape {
        n: usize::MAX,
        c: 3,
        h: 2,
        w: 2,
    };
    // SAFETY: as above.
    let st = unsafe {
        bn_batch_stats(
            x.as_ptr(),
            NUM,
            huge,
            BN_LAYOUT_NCHW,
            BN_METHOD_WELFORD,
            y.as_mut_ptr(),
            C,
            y.as_mut_ptr().wrapping_add(C),
            C,
        )
    };
    assert_eq!(status(st), Status::ShapeOverflow);
    assert!(
        last_error().ends_with("n*c*h*w overflows size_t"),
        "{}",
        last_error()
    );
    assert!(!last_error().contains("usize"));
}

#[test]
fn train_forward_and_fold_match_the_crate() {
    use batchnorm::{Momentum, RunningStats, SavedStats, TrainParams};
    let x = x();
    let p = Params::new();
    let tp = BnTrainParams {
        gamma: p.gamma.as_ptr(),
        gamma_len: C,
        beta: p.beta.as_ptr(),
        beta_len: C,
        eps: 1e-3,
        method: BN_METHOD_TWO_PASS,
        act: ID,
    };
    for (kind, momentum) in [
        (BN_MOMENTUM_PYTORCH, Momentum::PyTorch(0.25)),
        (BN_MOMENTUM_ONNX, Momentum::Onnx(0.25)),
        (
            BN_MOMENTUM_CUMULATIVE,
            Momentum::Cumulative { prior_batches: 2 },
        ),
    ] {
        let (mut rm, mut rv, mut sm, mut si) = ([0.5f32; C], [2.0f32; C], [0.0f32; C], [0.0f32; C]);
        let rs = BnRunningStats {
            mean: rm.as_mut_ptr(),
            mean_len: C,
            var: rv.as_mut_ptr(),
            var_len: C,
            momentum_kind: kind,
            momentum: 0.25,
            prior_batches: 2,
        };
        let ss = BnSavedStats {
            mean: sm.as_mut_ptr(),
            mean_len: C,
            invstd: si.as_mut_ptr(),
            invstd_len: C,
        };
        let mut y = x.clone();
        let yp = y.as_mut_ptr();
        // SAFETY: in place on `y`; the structs point to live arrays of C elements.
        let st = unsafe { bn_train_forward(yp, NUM, yp, NUM, SH, BN_LAYOUT_NHWC, &tp, &rs, &ss) };
        assert_eq!(status(st), Status::Ok, "{}", last_error());

        let (mut wrm, mut wrv, mut wsm, mut wsi) =
            ([0.5f32; C], [2.0f32; C], [0.0f32; C], [0.0f32; C]);
        let mut want = vec![0.0f32; NUM];
        let rtp = TrainParams {
            gamma: &p.gamma,
            beta: &p.beta,
            eps: 1e-3,
            method: Method::TwoPass,
            act: Activation::Identity,
        };
        batchnorm::train_forward(
            &x,
            &mut want,
            Shape::from(SH),
            Layout::Nhwc,
            &rtp,
            Some(RunningStats {
                mean: &mut wrm,
                var: &mut wrv,
                momentum,
            }),
            SavedStats {
                mean: &mut wsm,
                invstd: &mut wsi,
            },
        )
        .unwrap();
        assert_eq!((y, rm, rv, sm, si), (want, wrm, wrv, wsm, wsi));
    }

    // `saved` NULL: the same y and running statistics as with `saved`.
    let (mut rm, mut rv) = ([0.5f32; C], [2.0f32; C]);
    let rs = BnRunningStats {
        mean: rm.as_mut_ptr(),
        mean_len: C,
        var: rv.as_mut_ptr(),
        var_len: C,
        momentum_kind: BN_MOMENTUM_PYTORCH,
        momentum: 0.25,
        prior_batches: 0,
    };
    let (mut y, mut y2) = (vec![0.0f32; NUM], vec![0.0f32; NUM]);
    let (mut sm, mut si) = ([0.0f32; C], [0.0f32; C]);
    let ss = BnSavedStats {
        mean: sm.as_mut_ptr(),
        mean_len: C,
        invstd: si.as_mut_ptr(),
        invstd_len: C,
    };
    // SAFETY: valid buffers; `saved` may be NULL.
    let st = unsafe {
        bn_train_forward(
            x.as_ptr(),
            NUM,
            y.as_mut_ptr(),
            NUM,
            SH,
            BN_LAYOUT_NCHW,
            &tp,
            null(),
            null(),
        )
    };
    assert_eq!(status(st), Status::Ok, "{}", last_error());
    // SAFETY: as above.
    let st = unsafe {
        bn_train_forward(
            x.as_ptr(),
            NUM,
            y2.as_mut_ptr(),
            NUM,
            SH,
            BN_LAYOUT_NCHW,
            &tp,
            &rs,
            &ss,
        )
    };
    assert_eq!(status(st), Status::Ok, "{}", last_error());
    assert_eq!(y, y2);
    let before = (rm, rv);
    let mut z = x.clone();
    let zp = z.as_mut_ptr();
    // SAFETY: in place; `running` points to live arrays, `saved` is NULL.
    let st = unsafe { bn_train_forward(zp, NUM, zp, NUM, SH, BN_LAYOUT_NCHW, &tp, &rs, null()) };
    assert_eq!(status(st), Status::Ok, "{}", last_error());
    assert_eq!(z, y);
    assert_ne!((rm, rv), before, "the running statistics were updated");
    // Refusals name the C fields.
    let mut bad = tp;
    bad.act = activation(BN_ACTIVATION_CLAMP, 0.0);
    bad.act.clamp_min = f32::NAN;
    // SAFETY: as above.
    let st =
        unsafe { bn_train_forward(zp, NUM, zp, NUM, SH, BN_LAYOUT_NCHW, &bad, null(), null()) };
    assert_eq!(status(st), Status::InvalidParameter);
    assert_eq!(
        last_error(),
        "`params->act.clamp_min` = NaN but it must be not NaN"
    );
    let mut bad = tp;
    bad.method = BN_LAYOUT_NHWC + 7;
    // SAFETY: as above.
    let st =
        unsafe { bn_train_forward(zp, NUM, zp, NUM, SH, BN_LAYOUT_NCHW, &bad, null(), null()) };
    assert_eq!(status(st), Status::BadEnum);
    assert!(
        last_error().starts_with("`params->method` = 8"),
        "{}",
        last_error()
    );

    // Transposed: in = 2, groups = 1, a 1x2 kernel, so per_out = 2 * 2 = 4.
    let transposed = batchnorm::WeightLayout::Transposed {
        groups: 1,
        kernel: 2,
    };
    for (wl, layout) in [
        (BN_WEIGHTS_OUT_FIRST, batchnorm::WeightLayout::OutFirst),
        (BN_WEIGHTS_OUT_LAST, batchnorm::WeightLayout::OutLast),
        (BN_WEIGHTS_TRANSPOSED, transposed),
    ] {
        for (bk, present) in [(BN_BIAS_ZEROS, false), (BN_BIAS_IN_PLACE, true)] {
            let mut wts: Vec<f32> = (0..C * 4).map(|i| i as f32 - 5.0).collect();
            let mut bias = [1.0f32, -1.0, 0.5];
            let (mut ww, mut wb) = (wts.clone(), bias);
            let cp = p.c();
            // SAFETY: valid buffers.
            let st = unsafe {
                bn_fold_into_weights(
                    wts.as_mut_ptr(),
                    C * 4,
                    BnWeightShape {
                        out: C,
                        per_out: 4,
                        layout: wl,
                        groups: 1,
                        kernel: 2,
                    },
                    bias.as_mut_ptr(),
                    C,
                    bk,
                    &cp,
                )
            };
            assert_eq!(status(st), Status::Ok);
            let b = if present {
                batchnorm::Bias::InPlace(&mut wb)
            } else {
                batchnorm::Bias::Absent(&mut wb)
            };
            let shape = batchnorm::WeightShape {
                out: C,
                per_out: 4,
                layout,
            };
            batchnorm::fold_into_weights(&mut ww, shape, b, &p.rust()).unwrap();
            assert_eq!((wts, bias), (ww, wb));
        }
    }
}

#[test]
fn fold_transposed_refusals_name_the_shape() {
    let p = Params::new();
    let cp = p.c();
    let mut wts = [0.5f32; 12];
    let mut bias = [1.0f32; C];
    let mut fold = |groups: usize, kernel: usize| {
        let shape = BnWeightShape {
            out: C,
            per_out: 4,
            layout: BN_WEIGHTS_TRANSPOSED,
            groups,
            kernel,
        };
        // SAFETY: valid buffers of 12 and C floats.
        let st = unsafe {
            bn_fold_into_weights(
                wts.as_mut_ptr(),
                12,
                shape,
                bias.as_mut_ptr(),
                C,
                BN_BIAS_IN_PLACE,
                &cp,
            )
        };
        (status(st), last_error())
    };
    assert_eq!(
        fold(2, 1),
        (
            Status::Indivisible,
            "`shape.out` = 3 is not a multiple of `shape.groups` = 2".into()
        )
    );
    assert_eq!(
        fold(0, 1),
        (
            Status::Indivisible,
            "`shape.groups` = 0 but it must be >= 1".into()
        )
    );
    assert_eq!(
        fold(3, 3),
        (
            Status::Indivisible,
            "`shape.per_out` = 4 is not a multiple of `shape.kernel` = 3".into()
        )
    );
    assert_eq!(fold(3, 4).0, Status::Ok);
    let mut shape = BnWeightShape {
        out: C,
        per_out: 4,
        layout: 3,
        groups: 1,
        kernel: 1,
    };
    // SAFETY: as above.
    let st = unsafe {
        bn_fold_into_weights(
            wts.as_mut_ptr(),
            12,
            shape,
            bias.as_mut_ptr(),
            C,
            BN_BIAS_IN_PLACE,
            &cp,
        )
    };
    assert_eq!(status(st), Status::BadEnum);
    assert_eq!(
        last_error(),
        "`shape.layout` = 3 is not a bn_weight_layout value (0..=2)"
    );
    // The other layouts ignore groups and kernel.
    shape.layout = BN_WEIGHTS_OUT_LAST;
    shape.groups = 0;
    // SAFETY: as above.
    let st = unsafe {
        bn_fold_into_weights(
            wts.as_mut_ptr(),
            12,
            shape,
            bias.as_mut_ptr(),
            C,
            BN_BIAS_IN_PLACE,
            &cp,
        )
    };
    assert_eq!(status(st), Status::Ok, "{}", last_error());
}

/// `bn_backward` with `p`'s mean and gamma and `invstd`; `dx == dy` when `dx` is `None`.
#[allow(clippy::too_many_arguments)]
fn c_backward(
    x: &[f32],
    dy: &mut [f32],
    dx: Option<&mut [f32]>,
    bp: &BnBackwardParams,
    layout: BnLayout,
    stats: BnForwardStats,
    y: Option<&[f32]>,
    act: BnActivation,
    dg: &mut [f32],
    db: &mut [f32],
) -> Status {
    let dyp = dy.as_mut_ptr();
    let (dxp, dx_len) = match dx {
        Some(d) => (d.as_mut_ptr(), d.len()),
        None => (dyp, dy.len()),
    };
    let (yp, y_len) = y.map_or((null(), 0), |y| (y.as_ptr(), y.len()));
    // SAFETY: every pointer comes from a live slice of its length (dx == dy in place).
    let st = unsafe {
        bn_backward(
            x.as_ptr(),
            x.len(),
            dyp,
            dy.len(),
            dxp,
            dx_len,
            SH,
            layout,
            bp,
            stats,
            yp,
            y_len,
            act,
            dg.as_mut_ptr(),
            dg.len(),
            db.as_mut_ptr(),
            db.len(),
        )
    };
    status(st)
}

#[test]
fn backward_matches_the_crate_in_place_and_masked() {
    use batchnorm::{Activated, BackwardParams, ForwardStats};
    let x = x();
    let dy0: Vec<f32> = (0..NUM).map(|i| (i % 5) as f32 * 0.25 - 0.5).collect();
    let p = Params::new();
    let invstd = [0.5f32, 1.25, 2.0];
    let bp = BnBackwardParams {
        mean: p.mean.as_ptr(),
        mean_len: C,
        invstd: invstd.as_ptr(),
        invstd_len: C,
        gamma: p.gamma.as_ptr(),
        gamma_len: C,
    };
    let rp = BackwardParams {
        mean: &p.mean,
        invstd: &invstd,
        gamma: &p.gamma,
    };
    // y of the ReLU mask: x shifted so that some values are <= 0.
    let y: Vec<f32> = x.iter().map(|v| v - 2.0).collect();
    for (layout, l) in [
        (BN_LAYOUT_NCHW, Layout::Nchw),
        (BN_LAYOUT_NHWC, Layout::Nhwc),
    ] {
        for (stats, s) in [
            (BN_FORWARD_STATS_BATCH, ForwardStats::Batch),
            (BN_FORWARD_STATS_RUNNING, ForwardStats::Running),
        ] {
            for masked in [false, true] {
                let shape = Shape::from(SH);
                let (mut want, mut wg, mut wb) = (vec![0.0f32; NUM], [0.0f32; C], [0.0f32; C]);
                let (fy, act) = match masked {
                    true => (Some(&y[..]), activation(BN_ACTIVATION_RELU, 0.0)),
                    false => (None, ID),
                };
                if masked {
                    let fwd = Activated {
                        y: &y,
                        act: Activation::Relu,
                    };
                    batchnorm::backward_activated(
                        &x, &dy0, &mut want, shape, l, &rp, s, fwd, &mut wg, &mut wb,
                    )
                } else {
                    batchnorm::backward(&x, &dy0, &mut want, shape, l, &rp, s, &mut wg, &mut wb)
                }
                .unwrap();
                let (mut dy, mut dx, mut dg, mut db) =
                    (dy0.clone(), vec![0.0f32; NUM], [0.0f32; C], [0.0f32; C]);
                let st = c_backward(
                    &x,
                    &mut dy,
                    Some(&mut dx),
                    &bp,
                    layout,
                    stats,
                    fy,
                    act,
                    &mut dg,
                    &mut db,
                );
                assert_eq!(st, Status::Ok, "{}", last_error());
                assert_eq!((&dx, dg, db), (&want, wg, wb));
                assert_eq!(dy, dy0, "dy is not written out of place");
                let (mut dg, mut db) = ([0.0f32; C], [0.0f32; C]);
                let st = c_backward(
                    &x, &mut dy, None, &bp, layout, stats, fy, act, &mut dg, &mut db,
                );
                assert_eq!(st, Status::Ok, "{}", last_error());
                assert_eq!((&dy, dg, db), (&want, wg, wb), "in place");
            }
        }
    }

    // Refusals, in C terms, nothing written.
    let (mut dy, mut dx, mut dg, mut db) =
        (dy0.clone(), vec![7.0f32; NUM], [7.0f32; C], [7.0f32; C]);
    let mut call = |bp: &BnBackwardParams, stats: BnForwardStats, db_len: usize| {
        c_backward(
            &x,
            &mut dy,
            Some(&mut dx),
            bp,
            BN_LAYOUT_NCHW,
            stats,
            None,
            ID,
            &mut dg,
            &mut db[..db_len],
        )
    };
    assert_eq!(call(&bp, 2, C), Status::BadEnum);
    assert_eq!(
        last_error(),
        "`stats` = 2 is not a bn_forward_stats value (0..=1)"
    );
    assert_eq!(
        call(&bp, BN_FORWARD_STATS_BATCH, C - 1),
        Status::LengthMismatch
    );
    assert_eq!(last_error(), "`dbeta_len` is 2 but the shape needs 3");
    let mut bad = bp;
    bad.gamma_len = 1;
    assert_eq!(
        call(&bad, BN_FORWARD_STATS_RUNNING, C),
        Status::LengthMismatch
    );
    assert_eq!(
        last_error(),
        "`params->gamma_len` is 1 but the shape needs 3"
    );
    bad = bp;
    bad.mean = null();
    assert_eq!(call(&bad, BN_FORWARD_STATS_BATCH, C), Status::NullPointer);
    assert_eq!(
        last_error(),
        "`params->mean` is NULL but `params->mean_len` is 3"
    );
    assert_eq!((&dx, dg, db), (&vec![7.0f32; NUM], [7.0; C], [7.0; C]));
    // SAFETY: `params` NULL is refused before any buffer is used.
    let st = unsafe {
        bn_backward(
            x.as_ptr(),
            NUM,
            dy.as_ptr(),
            NUM,
            dx.as_mut_ptr(),
            NUM,
            SH,
            BN_LAYOUT_NCHW,
            null(),
            BN_FORWARD_STATS_BATCH,
            null(),
            0,
            ID,
            dg.as_mut_ptr(),
            C,
            db.as_mut_ptr(),
            C,
        )
    };
    assert_eq!(status(st), Status::NullPointer);
    assert_eq!(last_error(), "`params` is NULL");
    // ReLU without y; SiLU with y.
    let relu = activation(BN_ACTIVATION_RELU, 0.0);
    let st = c_backward(
        &x,
        &mut dy,
        Some(&mut dx),
        &bp,
        BN_LAYOUT_NCHW,
        BN_FORWARD_STATS_BATCH,
        None,
        relu,
        &mut dg,
        &mut db,
    );
    assert_eq!(st, Status::InvalidParameter);
    assert!(last_error().contains("`y` is NULL"), "{}", last_error());
    let silu = activation(BN_ACTIVATION_SILU, 0.0);
    let st = c_backward(
        &x,
        &mut dy,
        Some(&mut dx),
        &bp,
        BN_LAYOUT_NCHW,
        BN_FORWARD_STATS_BATCH,
        Some(&y),
        silu,
        &mut dg,
        &mut db,
    );
    assert_eq!(st, Status::InvalidParameter);
    assert!(
        last_error().starts_with("`act.kind` = 4"),
        "{}",
        last_error()
    );
    // An output overlapping another: dgamma inside dx.
    let dxp = dx.as_mut_ptr();
    // SAFETY: the overlap is refused before any buffer becomes a slice.
    let st = unsafe {
        bn_backward(
            x.as_ptr(),
            NUM,
            dy.as_ptr(),
            NUM,
            dxp,
            NUM,
            SH,
            BN_LAYOUT_NCHW,
            &bp,
            BN_FORWARD_STATS_BATCH,
            null(),
            0,
            ID,
            dxp.wrapping_add(1),
            C,
            db.as_mut_ptr(),
            C,
        )
    };
    assert_eq!(status(st), Status::Overlap);
    assert!(
        last_error().starts_with("`dgamma` overlaps `dx`"),
        "{}",
        last_error()
    );
    assert_eq!((&dx, db), (&vec![7.0f32; NUM], [7.0; C]));
}

#[test]
fn version_and_messages() {
    // SAFETY: static NUL-terminated strings.
    let v = unsafe { CStr::from_ptr(bn_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    for s in Status::ALL {
        assert_eq!(Status::from_code(s as c_int), Some(s));
        // SAFETY: as above.
        let m = unsafe { CStr::from_ptr(bn_status_message(s as c_int)) };
        assert_eq!(m, s.message());
        assert!(!m.is_empty());
    }
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(bn_status_message(-7)) };
    assert_eq!(unknown.to_str().unwrap(), "unknown status code");
    // SAFETY: as above.
    let past_last = unsafe { CStr::from_ptr(bn_status_message(17)) };
    assert_eq!(past_last.to_str().unwrap(), "unknown status code");
    // SAFETY: as above.
    let isa = unsafe { CStr::from_ptr(bn_status_message(14)) };
    assert_eq!(
        isa.to_str().unwrap(),
        "the requested instruction set does not run on this CPU"
    );
}

/// The name `bn_isa_name` gives for `code`.
fn isa_name(code: c_int) -> &'static str {
    // SAFETY: bn_isa_name returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(bn_isa_name(code)) }
        .to_str()
        .unwrap()
}

/// The level this CPU should run, from the standard library's feature detection (not the
/// crate's): AVX-512F, AVX-512DQ, AVX2 and FMA for `Avx512`, AVX2 and FMA for `Avx2`. Miri (which does
/// not run `cpuid`) and other architectures: `Portable`.
fn isa_from_std() -> Isa {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        let (avx2, fma) = (
            std::is_x86_feature_detected!("avx2"),
            std::is_x86_feature_detected!("fma"),
        );
        if avx2
            && fma
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
        {
            return Isa::Avx512;
        }
        if avx2 && fma {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

#[test]
fn isa_detected_and_names() {
    let code = bn_isa_detected();
    // The header's values: the position in Isa::ALL, lowest first.
    assert!((0..3).contains(&code), "bn_isa_detected() = {code}");
    let isa = Isa::ALL[code as usize];
    assert_eq!(isa, Isa::detected());
    assert_eq!(isa, isa_from_std());
    assert_eq!(
        [BN_ISA_PORTABLE, BN_ISA_AVX2, BN_ISA_AVX512],
        [0, 1, 2],
        "the header's constants"
    );
    assert_eq!(
        Isa::ALL,
        [Isa::Portable, Isa::Avx2, Isa::Avx512],
        "one constant per level"
    );
    // The name round-trips: it is the crate's name of the detected level, and exactly one
    // value has it.
    let name = isa_name(code);
    assert_eq!(name, Isa::detected().name());
    let same: Vec<c_int> = (0..3).filter(|&c| isa_name(c) == name).collect();
    assert_eq!(same, [code]);
    assert_eq!(
        [BN_ISA_PORTABLE, BN_ISA_AVX2, BN_ISA_AVX512].map(isa_name),
        ["portable", "avx2", "avx512"]
    );
    for bad in [-1, 3, i32::MIN, i32::MAX] {
        assert_eq!(isa_name(bad), "unknown", "bn_isa_name({bad})");
    }
    // Calls keep giving the same (cached) answer.
    assert_eq!(bn_isa_detected(), code);
}
