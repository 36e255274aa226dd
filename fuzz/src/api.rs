//! Fuzz target `api`: every public function on shapes (overflowing ones included),
//! buffer lengths and scalar parameters (`eps`, momentum, clamp bounds) that are mostly
//! wrong; the kernels at every instruction-set level this CPU runs ([`Kernels`]). Every
//! call returns `Ok` or `Err` as the reference does, never panics, and on `Err` leaves
//! every output bitwise unchanged (in place: the input too). `Kernels::new` is `Ok`
//! exactly for the supported levels and otherwise `Error::UnsupportedIsa` naming the level.
//! The strided functions (`*_strided`) get strides that are often right, often below `c`
//! or overflowing, and buffers near the length their rows span; on `Ok` the values
//! between and after the rows of their outputs are bitwise unchanged.

use super::check;
use super::input::{self, Rng};
use arbitrary::{Arbitrary, Unstructured};
use batchnorm::reference::{self, Running64, Train64};
use batchnorm::{
    Activation, Bias, Error, Isa, Kernels, Layout, Method, Moments, Momentum, NormParams, Prepared,
    RunningStats, SavedStats, Shape, TrainParams, WeightLayout, WeightShape,
};

/// Longest `x` (and weight tensor) the target allocates.
const MAX_X: usize = 4096;
/// Longest per-channel buffer the target allocates.
const MAX_C: usize = 700;

/// A dimension: small, or one that makes products overflow `usize`.
fn dim(u: &mut Unstructured<'_>) -> arbitrary::Result<usize> {
    let half = 1usize << (usize::BITS / 2);
    Ok(if u.ratio(1u8, 6)? {
        *u.choose(&[
            usize::MAX,
            usize::MAX / 2 + 1,
            usize::MAX / 3,
            half,
            half + 1,
            half - 1,
            1 << 20,
        ])?
    } else {
        u.int_in_range(0..=12)?
    })
}

/// A buffer length: often the right one (`want`, when it is small), or near it, or not.
fn len(u: &mut Unstructured<'_>, want: Option<usize>, max: usize) -> arbitrary::Result<usize> {
    Ok(match (want, u.int_in_range(0u8..=9)?) {
        (Some(w), 0..=6) if w <= max => w,
        (Some(w), 7) if w < max => w + 1,
        (Some(w), 8) if w > 0 && w <= max => w - 1,
        _ => u.int_in_range(0..=max.min(64))?,
    })
}

/// A scalar that is often valid for `eps` or a momentum, and often not.
fn scalar(u: &mut Unstructured<'_>) -> arbitrary::Result<f32> {
    Ok(*u.choose(&[
        1.0e-5f32,
        0.1,
        0.9,
        0.0,
        -0.0,
        1.0,
        1.000_000_1,
        -1.0e-45,
        -1.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
    ])?)
}

/// An activation whose `Clamp` bounds may be NaN or reversed.
fn activation(u: &mut Unstructured<'_>) -> arbitrary::Result<Activation> {
    Ok(if u.ratio(1u8, 2)? {
        Activation::Clamp {
            min: scalar(u)?,
            max: scalar(u)?,
        }
    } else {
        input::activation(u)?
    })
}

/// `n` values of arbitrary bits, NaN payloads included: outputs start as this sentinel.
fn sentinel(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| f32::from_bits(rng.next_u64() as u32))
        .collect()
}

/// Bit patterns, to compare buffers holding NaNs.
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// On `Err`: the error prints, and every `(name, before, after)` buffer is bitwise unchanged.
fn untouched_on_err(call: &str, r: &Result<(), Error>, outputs: &[(&str, &[f32], &[f32])]) {
    if let Err(e) = r {
        let _ = format!("{e} {e:?}");
        for (name, before, after) in outputs {
            assert_eq!(
                bits(before),
                bits(after),
                "{call} returned {e:?} but changed `{name}`"
            );
        }
    }
}

/// `Ok`/`Err` of the function and its reference agree; with `exact`, so do the errors.
fn agree(call: &str, r: &Result<(), Error>, reference: &Result<(), Error>, exact: bool) {
    let same = if exact {
        format!("{r:?}") == format!("{reference:?}")
    } else {
        r.is_ok() == reference.is_ok()
    };
    assert!(same, "{call} gave {r:?} but its reference {reference:?}");
}

/// One decoded input: arguments for every public function.
#[derive(Debug)]
struct Call {
    shape: Shape,
    layout: Layout,
    method: Method,
    /// Lengths of x, y, and of the per-channel buffers: mean, var, gamma, beta, acc,
    /// saved.mean, saved.invstd, running.mean, running.var.
    x_len: usize,
    y_len: usize,
    c_lens: [usize; 9],
    eps: f32,
    act: Activation,
    momentum: Option<Momentum>,
    weights: WeightShape,
    w_len: usize,
    bias_len: usize,
    bias_present: bool,
    seed: u64,
    /// Strided rows: `x_stride`, `y_stride`, and the lengths of their `x` and `y`.
    strides: [usize; 2],
    strided_lens: [usize; 2],
}

/// A stride for rows of `c` channels: often `c` or a little more, sometimes below `c`, or
/// one whose span overflows `usize`.
fn stride(u: &mut Unstructured<'_>, c: usize) -> arbitrary::Result<usize> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=2 => c,
        3..=5 => c.saturating_add(u.int_in_range(1..=17)?),
        6 => c.saturating_mul(2),
        7 => c.saturating_sub(u.int_in_range(1..=3)?),
        _ => dim(u)?,
    })
}

/// The length strided rows span: `(pixels - 1) * stride + c`, 0 for no rows.
fn strided_span(shape: Shape, stride: usize) -> Option<usize> {
    match shape.count_per_channel().ok()? {
        _ if shape.c == 0 => Some(0),
        0 => Some(0),
        p => (p - 1).checked_mul(stride)?.checked_add(shape.c),
    }
}

/// Whether index `j` of a buffer of strided rows lies outside every row.
fn outside_rows(j: usize, shape: Shape, stride: usize) -> bool {
    match strided_span(shape, stride) {
        Some(span) => j >= span || stride == 0 || j % stride >= shape.c,
        None => true,
    }
}

impl<'a> Arbitrary<'a> for Call {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let shape = Shape::new(dim(u)?, dim(u)?, dim(u)?, dim(u)?);
        let numel = shape.numel().ok();
        let x_len = len(u, numel, MAX_X)?;
        let y_len = len(u, Some(x_len), MAX_X)?;
        let mut c_lens = [0; 9];
        for l in &mut c_lens {
            *l = len(u, Some(shape.c), MAX_C)?;
        }
        let momentum = match u.int_in_range(0u8..=3)? {
            0 => None,
            1 => Some(Momentum::PyTorch(scalar(u)?)),
            2 => Some(Momentum::Onnx(scalar(u)?)),
            _ => Some(Momentum::Cumulative {
                prior_batches: u64::arbitrary(u)?,
            }),
        };
        let weights = WeightShape {
            out: if u.ratio(1u8, 2)? { shape.c } else { dim(u)? },
            per_out: dim(u)?,
            layout: match u.int_in_range(0u8..=2)? {
                0 => WeightLayout::OutFirst,
                1 => WeightLayout::OutLast,
                _ => WeightLayout::Transposed {
                    groups: dim(u)?,
                    kernel: dim(u)?,
                },
            },
        };
        let w_want = weights.out.checked_mul(weights.per_out);
        Call {
            shape,
            layout: input::layout(u)?,
            method: input::method(u)?,
            x_len,
            y_len,
            c_lens,
            eps: scalar(u)?,
            act: activation(u)?,
            momentum,
            weights,
            w_len: len(u, w_want, MAX_X)?,
            bias_len: len(u, Some(weights.out), MAX_C)?,
            bias_present: bool::arbitrary(u)?,
            seed: u64::arbitrary(u)?,
            strides: {
                let xs = stride(u, shape.c)?;
                [
                    xs,
                    if bool::arbitrary(u)? {
                        xs
                    } else {
                        stride(u, shape.c)?
                    },
                ]
            },
            strided_lens: [0; 2],
        }
        .with_strided_lens(u)
    }
}

impl Call {
    /// Draws the strided buffers' lengths near their spans.
    fn with_strided_lens(mut self, u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        for (l, s) in self.strided_lens.iter_mut().zip(self.strides) {
            *l = len(u, strided_span(self.shape, s), MAX_X)?;
        }
        Ok(self)
    }
}

/// The strided functions at the level of `k` on `x` (the strided input): the verdict of
/// the reference (the same error where both name the same buffers), outputs untouched
/// on `Err`, and on `Ok` nothing written outside the rows.
fn strided_at(k: &Kernels, a: &Call, x: &[f32], params: &[Vec<f32>], rng: &mut Rng, what: &str) {
    let (shape, method, act) = (a.shape, a.method, a.act);
    let [xs, ys] = a.strides;
    let [mean_len, var_len, ..] = a.c_lens;
    let (mut mean, mut var) = (sentinel(rng, mean_len), sentinel(rng, var_len));
    let (mean0, var0) = (mean.clone(), var.clone());
    let r = k.batch_stats_strided(x, xs, shape, method, &mut mean, &mut var);
    untouched_on_err(
        "batch_stats_strided",
        &r,
        &[("mean", &mean0, &mean), ("var", &var0, &var)],
    );
    let (mut rm, mut rv) = (vec![0.0f64; mean_len], vec![0.0f64; var_len]);
    let rr = reference::batch_stats_strided(x, xs, shape, &mut rm, &mut rv);
    agree(&format!("batch_stats_strided {what}"), &r, &rr, true);

    let mut acc = vec![Moments::EMPTY; a.c_lens[4]];
    let r = k.accumulate_moments_strided(x, xs, shape, method, &mut acc);
    if let Err(e) = &r {
        assert!(
            acc.iter().all(|m| check::same_moments(m, &Moments::EMPTY)),
            "accumulate_moments_strided returned {e:?} but changed `acc`"
        );
    }
    let mut out = vec![Moments::EMPTY; a.c_lens[4]];
    let rr = reference::moments_strided(x, xs, shape, &mut out);
    agree(
        &format!("accumulate_moments_strided {what}"),
        &r,
        &rr,
        false,
    );

    let p = NormParams {
        mean: &params[0],
        var: &params[1],
        gamma: &params[2],
        beta: &params[3],
        eps: a.eps,
    };
    let q = Prepared {
        mean: &params[0],
        scale: &params[1],
        beta: &params[3],
    };
    for prepared in [false, true] {
        let call = if prepared {
            "normalize_prepared_strided"
        } else {
            "normalize_strided"
        };
        let mut y = sentinel(rng, a.strided_lens[1]);
        let y0 = y.clone();
        let r = if prepared {
            k.normalize_prepared_strided(x, xs, &mut y, ys, shape, &q, act)
        } else {
            k.normalize_strided(x, xs, &mut y, ys, shape, &p, act)
        };
        untouched_on_err(call, &r, &[("y", &y0, &y)]);
        if r.is_ok() {
            for (j, (a, b)) in y0.iter().zip(&y).enumerate() {
                if outside_rows(j, shape, ys) {
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{call} wrote y[{j}] outside the rows"
                    );
                }
            }
        }
        let mut xi = x.to_vec();
        let ri = if prepared {
            k.normalize_prepared_strided_in_place(&mut xi, xs, shape, &q, act)
        } else {
            k.normalize_strided_in_place(&mut xi, xs, shape, &p, act)
        };
        untouched_on_err(call, &ri, &[("x", x, &xi)]);
        if ri.is_ok() {
            for (j, (a, b)) in x.iter().zip(&xi).enumerate() {
                if outside_rows(j, shape, xs) {
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{call} in place wrote x[{j}] outside the rows"
                    );
                }
            }
        }
        if !prepared {
            let mut y64 = vec![0.0f64; a.strided_lens[1]];
            let rr = reference::normalize_strided(x, xs, &mut y64, ys, shape, &p, act);
            agree(&format!("{call} {what}"), &r, &rr, true);
            let mut y64 = vec![0.0f64; x.len()];
            let rr = reference::normalize_strided(x, xs, &mut y64, xs, shape, &p, act);
            agree(&format!("{call} in place {what}"), &ri, &rr, true);
        }
    }
}

/// Every `Kernels` method on the decoded call `a` at the level of `k`: the same verdict
/// as the reference, outputs untouched on `Err`. Draws the outputs' sentinels from `rng`.
fn kernels_at(k: &Kernels, a: &Call, x: &[f32], params: &[Vec<f32>], rng: &mut Rng, what: &str) {
    let (shape, layout, method) = (a.shape, a.layout, a.method);
    let what = format!("at {} {what}", k.isa());
    let [
        mean_len,
        var_len,
        _gamma_len,
        _beta_len,
        acc_len,
        sm_len,
        si_len,
        rm_len,
        rv_len,
    ] = a.c_lens;
    // batch_stats: the same verdict (and error) as the reference.
    let (mut mean, mut var) = (sentinel(rng, mean_len), sentinel(rng, var_len));
    let (mean0, var0) = (mean.clone(), var.clone());
    let r = k.batch_stats(x, shape, layout, method, &mut mean, &mut var);
    untouched_on_err(
        "batch_stats",
        &r,
        &[("mean", &mean0, &mean), ("var", &var0, &var)],
    );
    let (mut rm, mut rv) = (vec![0.0f64; mean_len], vec![0.0f64; var_len]);
    let rr = reference::batch_stats(x, shape, layout, &mut rm, &mut rv);
    agree(&format!("batch_stats {what}"), &r, &rr, true);

    // accumulate_moments: accumulators untouched on error.
    let prior = Moments {
        count: rng.next_u64() % 4,
        mean: rng.symmetric(),
        m2: rng.symmetric().abs(),
    };
    let mut acc = vec![prior; acc_len];
    let r = k.accumulate_moments(x, shape, layout, method, &mut acc);
    if let Err(e) = &r {
        let _ = format!("{e} {e:?}");
        assert!(
            acc.iter().all(|m| check::same_moments(m, &prior)),
            "accumulate_moments returned {e:?} but changed `acc`"
        );
    }
    let mut out = vec![Moments::EMPTY; acc_len];
    let rr = reference::moments(x, shape, layout, &mut out);
    agree(&format!("accumulate_moments {what}"), &r, &rr, false);

    // normalize and normalize_in_place.
    let p = NormParams {
        mean: &params[0],
        var: &params[1],
        gamma: &params[2],
        beta: &params[3],
        eps: a.eps,
    };
    let mut y = sentinel(rng, a.y_len);
    let y0 = y.clone();
    let r = k.normalize(x, &mut y, shape, layout, &p, a.act);
    untouched_on_err("normalize", &r, &[("y", &y0, &y)]);
    let mut y64 = vec![0.0f64; a.y_len];
    let rr = reference::normalize(x, &mut y64, shape, layout, &p, a.act);
    agree(&format!("normalize {what}"), &r, &rr, true);
    let mut xi = x.to_vec();
    let r = k.normalize_in_place(&mut xi, shape, layout, &p, a.act);
    untouched_on_err("normalize_in_place", &r, &[("x", x, &xi)]);
    let mut y64 = vec![0.0f64; a.x_len];
    let rr = reference::normalize(x, &mut y64, shape, layout, &p, a.act);
    agree(&format!("normalize_in_place {what}"), &r, &rr, true);

    // train_forward and train_forward_in_place.
    let tp = TrainParams {
        gamma: &params[2],
        beta: &params[3],
        eps: a.eps,
        method,
        act: a.act,
    };
    let start = [sm_len, si_len, rm_len, rv_len].map(|n| sentinel(rng, n));
    for in_place in [false, true] {
        let [mut sm, mut si, mut rmean, mut rvar] = start.clone();
        let mut y = sentinel(rng, a.y_len);
        let (y0, mut xi) = (y.clone(), x.to_vec());
        let running = a.momentum.map(|momentum| RunningStats {
            mean: &mut rmean,
            var: &mut rvar,
            momentum,
        });
        let saved = SavedStats {
            mean: &mut sm,
            invstd: &mut si,
        };
        let (call, r) = if in_place {
            let r = k.train_forward_in_place(&mut xi, shape, layout, &tp, running, saved);
            ("train_forward_in_place", r)
        } else {
            let r = k.train_forward(x, &mut y, shape, layout, &tp, running, saved);
            ("train_forward", r)
        };
        untouched_on_err(
            call,
            &r,
            &[
                ("x", x, &xi),
                ("y", &y0, &y),
                ("saved.mean", &start[0], &sm),
                ("saved.invstd", &start[1], &si),
                ("running.mean", &start[2], &rmean),
                ("running.var", &start[3], &rvar),
            ],
        );
        let y_len = if in_place { a.x_len } else { a.y_len };
        let mut y64 = vec![0.0f64; y_len];
        let (mut m64, mut i64) = (vec![0.0f64; sm_len], vec![0.0f64; si_len]);
        let (mut rm64, mut rv64) = (vec![0.0f64; rm_len], vec![0.0f64; rv_len]);
        let running64 = a.momentum.map(|momentum| Running64 {
            mean: &mut rm64,
            var: &mut rv64,
            momentum,
        });
        let out64 = Train64 {
            y: &mut y64,
            mean: &mut m64,
            invstd: &mut i64,
        };
        let rr = reference::train_forward(x, shape, layout, &tp, running64, out64);
        // The reference checks `y` first; in place there is no `y` to disagree on.
        agree(&format!("{call} {what}"), &r, &rr, in_place);
    }
}

/// `Kernels::new` on every level: `Ok` (at that level) exactly when this CPU runs it,
/// otherwise `UnsupportedIsa` naming it and the best level; `Isa::supported` and
/// `Isa::detected` agree with `is_supported`.
fn kernels_new_on_every_level() {
    let best = Isa::detected();
    let supported: Vec<Isa> = Isa::supported().collect();
    let expected: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.is_supported()).collect();
    assert_eq!(supported, expected, "Isa::supported()");
    assert_eq!(
        supported.first(),
        Some(&Isa::Portable),
        "Portable runs everywhere"
    );
    assert_eq!(
        supported.last(),
        Some(&best),
        "Isa::detected() is the best supported"
    );
    for isa in Isa::ALL {
        match Kernels::new(isa) {
            Ok(k) => {
                assert!(
                    isa.is_supported(),
                    "Kernels::new({isa}) is Ok but unsupported"
                );
                assert_eq!(k.isa(), isa, "Kernels::new({isa}).isa()");
            }
            Err(e) => {
                assert!(
                    !isa.is_supported(),
                    "Kernels::new({isa}) = {e:?} but it is supported"
                );
                assert_eq!(
                    e,
                    Error::UnsupportedIsa {
                        requested: isa,
                        best,
                    },
                    "Kernels::new({isa})"
                );
                let _ = format!("{e} {e:?}");
            }
        }
    }
}

/// The body of fuzz target `api`.
pub fn api(data: &[u8]) {
    let Ok(a) = Call::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut rng = Rng::new(a.seed);
    let shape = a.shape;
    let what = format!("{a:?}");

    // Shape arithmetic never panics and agrees with checked multiplication; a zero
    // dimension makes the product 0 whatever the others.
    let dims = [shape.n, shape.c, shape.h, shape.w];
    let product = if dims.contains(&0) {
        Some(0)
    } else {
        dims.iter().try_fold(1usize, |p, &d| p.checked_mul(d))
    };
    assert_eq!(shape.numel().ok(), product, "Shape::numel of {shape:?}");
    let _ = shape.count_per_channel();

    let x: Vec<f32> = (0..a.x_len)
        .map(|_| input::Dist::Specials.sample(&mut rng))
        .collect();
    // The lengths of mean, var, gamma and beta.
    let params: Vec<Vec<f32>> = a.c_lens[..4]
        .iter()
        .map(|&n| sentinel(&mut rng, n))
        .collect();

    // The kernels at every level this CPU runs, each from the same random state (so with
    // the same sentinels); they draw the same number of values, so `rng` ends where one
    // pass leaves it.
    let xs: Vec<f32> = (0..a.strided_lens[0])
        .map(|_| input::Dist::Specials.sample(&mut rng))
        .collect();
    let before = rng.clone();
    for isa in Isa::supported() {
        let k = Kernels::new(isa).expect("Isa::supported() gave a level Kernels::new refuses");
        rng = before.clone();
        kernels_at(&k, &a, &x, &params, &mut rng, &what);
        strided_at(&k, &a, &xs, &params, &mut rng, &what);
    }
    kernels_new_on_every_level();

    let p = NormParams {
        mean: &params[0],
        var: &params[1],
        gamma: &params[2],
        beta: &params[3],
        eps: a.eps,
    };

    // fold_into_weights.
    let w_start = sentinel(&mut rng, a.w_len);
    let b_start = sentinel(&mut rng, a.bias_len);
    let (mut w, mut b) = (w_start.clone(), b_start.clone());
    let bias = if a.bias_present {
        Bias::InPlace(&mut b)
    } else {
        Bias::Absent(&mut b)
    };
    let r = batchnorm::fold_into_weights(&mut w, a.weights, bias, &p);
    untouched_on_err(
        "fold_into_weights",
        &r,
        &[("weights", &w_start, &w), ("bias", &b_start, &b)],
    );
    let (mut w64, mut b64) = (vec![0.0f64; a.w_len], vec![0.0f64; a.bias_len]);
    let rr = reference::fold_into_weights(
        &w_start,
        a.weights,
        a.bias_present.then_some(&b_start[..]),
        &p,
        &mut w64,
        &mut b64,
    );
    agree(&format!("fold_into_weights {what}"), &r, &rr, false);

    // Byte views: Ok exactly when the window is aligned and a whole number of f32s.
    let mut backing = vec![0u32; 8];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut backing);
    let start = (a.seed % 8) as usize;
    let end = start + ((a.seed >> 8) % (bytes.len() - start + 1) as u64) as usize;
    let whole = start.is_multiple_of(4) && (end - start).is_multiple_of(4);
    let r = batchnorm::f32s_from_bytes(&bytes[start..end]);
    assert_eq!(r.is_ok(), whole, "f32s_from_bytes({start}..{end}) = {r:?}");
    if let Ok(v) = r {
        assert_eq!(v.len(), (end - start) / 4);
    }
    let r = batchnorm::f32s_from_bytes_mut(&mut bytes[start..end]).map(|v| v.len());
    assert_eq!(
        r.is_ok(),
        whole,
        "f32s_from_bytes_mut({start}..{end}) = {r:?}"
    );
}
