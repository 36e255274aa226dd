//! `fold_into_weights`: a small direct convolution (and linear and depthwise layers) written
//! here, `bn(conv(x))` against `conv'(x)` with the folded weights, in both weight layouts,
//! with and without a bias; the same for a transposed convolution (IOHW weights, grouped
//! or not); bitwise agreement with the f64 reference rounded once; every error with the
//! outputs untouched.

use batchnorm::{Bias, Error, NormParams, WeightLayout, WeightShape, fold_into_weights, reference};

/// A seeded xorshift generator, values in `[-1, 1)`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f64 / (1u64 << 23) as f64 - 1.0) as f32
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// A convolution's sizes: `x` is `[cin, h, w]`, weights `[cout, cin, k, k]` (OIHW) or
/// `[k, k, cin, cout]` (HWIO), stride 1, no padding.
#[derive(Clone, Copy)]
struct Conv {
    cin: usize,
    cout: usize,
    k: usize,
    h: usize,
    w: usize,
}

impl Conv {
    fn per_out(&self) -> usize {
        self.cin * self.k * self.k
    }
    fn out_hw(&self) -> (usize, usize) {
        (self.h - self.k + 1, self.w - self.k + 1)
    }
    /// Index of weight `(o, i, ky, kx)` in `layout`.
    fn widx(&self, layout: WeightLayout, o: usize, i: usize, ky: usize, kx: usize) -> usize {
        match layout {
            WeightLayout::OutFirst => ((o * self.cin + i) * self.k + ky) * self.k + kx,
            WeightLayout::OutLast => ((ky * self.k + kx) * self.cin + i) * self.cout + o,
            other => unimplemented!("no test indexing for {other:?}"),
        }
    }
    /// The direct convolution in f64: `[cout, ho, wo]`.
    fn run(&self, x: &[f32], wt: &[f32], b: &[f32], layout: WeightLayout) -> Vec<f64> {
        let (ho, wo) = self.out_hw();
        let mut y = vec![0.0f64; self.cout * ho * wo];
        for o in 0..self.cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut s = f64::from(b[o]);
                    for i in 0..self.cin {
                        for ky in 0..self.k {
                            for kx in 0..self.k {
                                let xv = x[(i * self.h + oy + ky) * self.w + ox + kx];
                                s += f64::from(xv) * f64::from(wt[self.widx(layout, o, i, ky, kx)]);
                            }
                        }
                    }
                    y[(o * ho + oy) * wo + ox] = s;
                }
            }
        }
        y
    }
    /// `Σ |x| |w|` per output: the scale of the convolution's rounding error.
    fn magnitude(&self, x: &[f32], wt: &[f32], layout: WeightLayout) -> Vec<f64> {
        let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        let aw: Vec<f32> = wt.iter().map(|v| v.abs()).collect();
        self.run(&ax, &aw, &vec![0.0; self.cout], layout)
    }
}

struct Bn {
    mean: Vec<f32>,
    var: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Bn {
    fn new(c: usize, rng: &mut Rng) -> Self {
        Bn {
            mean: rng.vec(c).iter().map(|v| v * 3.0).collect(),
            var: rng.vec(c).iter().map(|v| 0.1 + v.abs() * 4.0).collect(),
            gamma: rng.vec(c).iter().map(|v| v * 2.0).collect(),
            beta: rng.vec(c),
        }
    }
    fn params(&self) -> NormParams<'_> {
        NormParams {
            mean: &self.mean,
            var: &self.var,
            gamma: &self.gamma,
            beta: &self.beta,
            eps: 1e-3,
        }
    }
    fn scale(&self, o: usize) -> f64 {
        f64::from(self.gamma[o]) / (f64::from(self.var[o]) + f64::from(1e-3f32)).sqrt()
    }
}

/// `bn(conv(x))` against `conv'(x)`: equal up to the rounding of the folded weights and
/// bias (a few f32 ulps of `Σ|x||w'|`).
#[test]
fn conv_then_bn_equals_folded_conv() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for conv in [
        Conv {
            cin: 3,
            cout: 5,
            k: 3,
            h: 7,
            w: 6,
        },
        Conv {
            cin: 1,
            cout: 1,
            k: 1,
            h: 4,
            w: 4,
        },
        Conv {
            cin: 4,
            cout: 17,
            k: 2,
            h: 5,
            w: 5,
        },
        Conv {
            cin: 2,
            cout: 300,
            k: 3,
            h: 4,
            w: 3,
        },
    ] {
        let x = rng.vec(conv.cin * conv.h * conv.w);
        let oihw = rng.vec(conv.cout * conv.per_out());
        let bn = Bn::new(conv.cout, &mut rng);
        for layout in [WeightLayout::OutFirst, WeightLayout::OutLast] {
            // The same weights in `layout`.
            let mut wt = vec![0.0f32; oihw.len()];
            for o in 0..conv.cout {
                for i in 0..conv.cin {
                    for ky in 0..conv.k {
                        for kx in 0..conv.k {
                            wt[conv.widx(layout, o, i, ky, kx)] =
                                oihw[conv.widx(WeightLayout::OutFirst, o, i, ky, kx)];
                        }
                    }
                }
            }
            for with_bias in [true, false] {
                let b0 = if with_bias {
                    rng.vec(conv.cout)
                } else {
                    vec![0.0; conv.cout]
                };
                let plain = conv.run(&x, &wt, &b0, layout);
                let (ho, wo) = conv.out_hw();
                let mut w2 = wt.clone();
                let mut b2 = if with_bias {
                    b0.clone()
                } else {
                    vec![f32::NAN; conv.cout]
                };
                let shape = WeightShape {
                    out: conv.cout,
                    per_out: conv.per_out(),
                    layout,
                };
                let bias = if with_bias {
                    Bias::InPlace(&mut b2)
                } else {
                    Bias::Absent(&mut b2)
                };
                fold_into_weights(&mut w2, shape, bias, &bn.params()).unwrap();
                let folded = conv.run(&x, &w2, &b2, layout);
                let mag = conv.magnitude(&x, &w2, layout);
                for (o, bias_o) in b2.iter().enumerate() {
                    let s = bn.scale(o);
                    for j in 0..ho * wo {
                        let i = o * ho * wo + j;
                        let want = (plain[i] - f64::from(bn.mean[o])) * s + f64::from(bn.beta[o]);
                        let tol = 1e-6 * (mag[i] + f64::from(*bias_o).abs() + want.abs()) + 1e-12;
                        assert!(
                            (folded[i] - want).abs() <= tol,
                            "{layout:?} bias={with_bias} out {o}: {} vs {want}",
                            folded[i]
                        );
                    }
                }
            }
        }
    }
}

/// Linear layers (`[out, in]` and `[in, out]`) and a depthwise convolution
/// (`[kh, kw, c]`): the folded layer against the layer followed by the normalization.
#[test]
fn linear_and_depthwise() {
    let mut rng = Rng(77);
    let (nin, nout) = (13, 9);
    let x = rng.vec(nin);
    let w_oi = rng.vec(nout * nin);
    let b = rng.vec(nout);
    let bn = Bn::new(nout, &mut rng);
    for layout in [WeightLayout::OutFirst, WeightLayout::OutLast] {
        let idx = |o: usize, i: usize| match layout {
            WeightLayout::OutFirst => o * nin + i,
            WeightLayout::OutLast => i * nout + o,
            other => unimplemented!("no test indexing for {other:?}"),
        };
        let mut w = vec![0.0f32; nout * nin];
        for o in 0..nout {
            for i in 0..nin {
                w[idx(o, i)] = w_oi[o * nin + i];
            }
        }
        let lin = |w: &[f32], b: &[f32], o: usize| {
            (0..nin)
                .map(|i| f64::from(w[idx(o, i)]) * f64::from(x[i]))
                .sum::<f64>()
                + f64::from(b[o])
        };
        let (mut w2, mut b2) = (w.clone(), b.clone());
        let shape = WeightShape {
            out: nout,
            per_out: nin,
            layout,
        };
        fold_into_weights(&mut w2, shape, Bias::InPlace(&mut b2), &bn.params()).unwrap();
        for o in 0..nout {
            let want =
                (lin(&w, &b, o) - f64::from(bn.mean[o])) * bn.scale(o) + f64::from(bn.beta[o]);
            let got = lin(&w2, &b2, o);
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{layout:?} {o}: {got} vs {want}"
            );
        }
    }
    // Depthwise 3x3 over 6 channels, weights [3, 3, 6], one output position.
    let (c, k) = (6, 3);
    let x = rng.vec(c * k * k); // [c, 3, 3]
    let w = rng.vec(k * k * c);
    let bn = Bn::new(c, &mut rng);
    let dw = |w: &[f32], b: &[f32], o: usize| {
        (0..k * k)
            .map(|t| f64::from(w[t * c + o]) * f64::from(x[o * k * k + t]))
            .sum::<f64>()
            + f64::from(b[o])
    };
    let mut w2 = w.clone();
    let mut b2 = vec![0.0f32; c];
    let shape = WeightShape {
        out: c,
        per_out: k * k,
        layout: WeightLayout::OutLast,
    };
    fold_into_weights(&mut w2, shape, Bias::Absent(&mut b2), &bn.params()).unwrap();
    for o in 0..c {
        let want =
            (dw(&w, &[0.0; 6], o) - f64::from(bn.mean[o])) * bn.scale(o) + f64::from(bn.beta[o]);
        assert!((dw(&w2, &b2, o) - want).abs() <= 1e-5 * (1.0 + want.abs()));
    }
}

/// The folded weights and bias are the f64 reference rounded once, bit for bit; blocks of
/// output channels (more than 256 innermost) included.
#[test]
fn matches_reference_rounded() {
    let mut rng = Rng(99);
    for &(out, per_out) in &[(1usize, 1usize), (7, 27), (300, 4), (600, 3), (5, 0)] {
        let bn = Bn::new(out, &mut rng);
        let w = rng.vec(out * per_out);
        let b = rng.vec(out);
        for layout in [WeightLayout::OutFirst, WeightLayout::OutLast] {
            let shape = WeightShape {
                out,
                per_out,
                layout,
            };
            for with_bias in [true, false] {
                let (mut rw, mut rb) = (vec![0.0f64; w.len()], vec![0.0f64; out]);
                let bias_in = with_bias.then_some(&b[..]);
                reference::fold_into_weights(&w, shape, bias_in, &bn.params(), &mut rw, &mut rb)
                    .unwrap();
                let (mut w2, mut b2) = (
                    w.clone(),
                    if with_bias { b.clone() } else { vec![9.0; out] },
                );
                let bias = if with_bias {
                    Bias::InPlace(&mut b2)
                } else {
                    Bias::Absent(&mut b2)
                };
                fold_into_weights(&mut w2, shape, bias, &bn.params()).unwrap();
                let rw32: Vec<f32> = rw.iter().map(|v| *v as f32).collect();
                let rb32: Vec<f32> = rb.iter().map(|v| *v as f32).collect();
                assert_eq!(w2, rw32, "{out}x{per_out} {layout:?}");
                assert_eq!(b2, rb32, "{out}x{per_out} {layout:?} bias");
            }
        }
    }
}

/// Every bad argument: the error names it, and nothing is written.
#[test]
fn errors_leave_outputs_untouched() {
    let ok = [1.0f32; 3];
    let short = [1.0f32; 2];
    let good = NormParams {
        mean: &ok,
        var: &ok,
        gamma: &ok,
        beta: &ok,
        eps: 1e-5,
    };
    let len = |buffer, expected, actual| Error::LengthMismatch {
        buffer,
        expected,
        actual,
    };
    let shape = WeightShape {
        out: 3,
        per_out: 4,
        layout: WeightLayout::OutFirst,
    };
    let cases: Vec<(WeightShape, usize, usize, NormParams, Error)> = vec![
        (shape, 11, 3, good, len("weights", 12, 11)),
        (shape, 12, 2, good, len("bias", 3, 2)),
        (
            shape,
            12,
            3,
            NormParams {
                mean: &short,
                ..good
            },
            len("mean", 3, 2),
        ),
        (
            shape,
            12,
            3,
            NormParams {
                var: &short,
                ..good
            },
            len("var", 3, 2),
        ),
        (
            shape,
            12,
            3,
            NormParams {
                gamma: &short,
                ..good
            },
            len("gamma", 3, 2),
        ),
        (
            shape,
            12,
            3,
            NormParams {
                beta: &short,
                ..good
            },
            len("beta", 3, 2),
        ),
        (
            WeightShape {
                out: usize::MAX,
                per_out: 2,
                layout: WeightLayout::OutLast,
            },
            12,
            3,
            good,
            Error::WeightOverflow {
                out: usize::MAX,
                per_out: 2,
            },
        ),
    ];
    let mut cases = cases;
    for eps in [f32::NAN, -1e-3, f32::INFINITY] {
        cases.push((
            shape,
            12,
            3,
            NormParams { eps, ..good },
            Error::InvalidParameter {
                name: "eps",
                value: eps,
                expected: "finite and >= 0",
            },
        ));
    }
    for (shape, wl, bl, p, want) in cases {
        for in_place in [true, false] {
            let mut w = vec![5.0f32; wl];
            let mut b = vec![6.0f32; bl];
            let bias = if in_place {
                Bias::InPlace(&mut b)
            } else {
                Bias::Absent(&mut b)
            };
            let got = fold_into_weights(&mut w, shape, bias, &p).unwrap_err();
            match (got, want) {
                (
                    Error::InvalidParameter { value: a, .. },
                    Error::InvalidParameter { value: v, .. },
                ) => {
                    assert_eq!(a.to_bits(), v.to_bits())
                }
                _ => assert_eq!(got, want),
            }
            assert!(
                w.iter().all(|v| *v == 5.0) && b.iter().all(|v| *v == 6.0),
                "written on {want:?}"
            );
        }
    }
    // No output channels: nothing to do.
    let empty = NormParams {
        mean: &[],
        var: &[],
        gamma: &[],
        beta: &[],
        eps: 0.0,
    };
    let shape = WeightShape {
        out: 0,
        per_out: 5,
        layout: WeightLayout::OutLast,
    };
    fold_into_weights(&mut [], shape, Bias::Absent(&mut []), &empty).unwrap();
}

/// A transposed convolution's sizes: `x` is `[cin, h, w]`, weights `[cin, cout / groups,
/// k, k]` (IOHW), stride 1, no padding: the output is `[cout, h + k - 1, w + k - 1]`.
#[derive(Clone, Copy, Debug)]
struct ConvT {
    cin: usize,
    cout: usize,
    groups: usize,
    k: usize,
    h: usize,
    w: usize,
}

impl ConvT {
    fn shape(&self) -> WeightShape {
        WeightShape {
            out: self.cout,
            per_out: self.cin / self.groups * self.k * self.k,
            layout: WeightLayout::Transposed {
                groups: self.groups,
                kernel: self.k * self.k,
            },
        }
    }
    fn out_hw(&self) -> (usize, usize) {
        (self.h + self.k - 1, self.w + self.k - 1)
    }
    /// The transposed convolution in f64: every input value scattered through the kernel
    /// of each output channel of its group.
    fn run(&self, x: &[f32], wt: &[f32], b: &[f32]) -> Vec<f64> {
        let (ho, wo) = self.out_hw();
        let (in_g, out_g) = (self.cin / self.groups, self.cout / self.groups);
        let mut y = vec![0.0f64; self.cout * ho * wo];
        for o in 0..self.cout {
            y[o * ho * wo..(o + 1) * ho * wo].fill(f64::from(b[o]));
        }
        for i in 0..self.cin {
            let g = i / in_g;
            for j in 0..out_g {
                let o = g * out_g + j;
                for iy in 0..self.h {
                    for ix in 0..self.w {
                        let xv = f64::from(x[(i * self.h + iy) * self.w + ix]);
                        for ky in 0..self.k {
                            for kx in 0..self.k {
                                let wv = wt[((i * out_g + j) * self.k + ky) * self.k + kx];
                                y[(o * ho + iy + ky) * wo + ix + kx] += xv * f64::from(wv);
                            }
                        }
                    }
                }
            }
        }
        y
    }
}

/// Hand-computed: scales `1/sqrt(4) = 0.5` and `3/sqrt(1) = 3`, means 1 and -1, betas 0
/// and 0.5 (folded bias `(0 - 1)·0.5 = -0.5` and `(0 + 1)·3 + 0.5 = 3.5`).
#[test]
fn transposed_by_hand() {
    let p = NormParams {
        mean: &[1.0, -1.0],
        var: &[4.0, 1.0],
        gamma: &[1.0, 3.0],
        beta: &[0.0, 0.5],
        eps: 0.0,
    };
    // Ungrouped 1x1, weights [in 2, out 2, 1, 1]: w[i][o], output channel innermost.
    let mut w = [1.0f32, 2.0, 3.0, 4.0];
    let mut b = [0.0f32; 2];
    let shape = WeightShape {
        out: 2,
        per_out: 2,
        layout: WeightLayout::Transposed {
            groups: 1,
            kernel: 1,
        },
    };
    fold_into_weights(&mut w, shape, Bias::Absent(&mut b), &p).unwrap();
    assert_eq!(w, [0.5, 6.0, 1.5, 12.0]);
    assert_eq!(b, [-0.5, 3.5]);
    // Two groups, 1x2 kernels, weights [in 2, out/groups 1, 1, 2]: input channel 0 feeds
    // output 0, input channel 1 output 1.
    let mut w = [1.0f32, 2.0, 3.0, 4.0];
    let mut b = [2.0f32, -1.0];
    let shape = WeightShape {
        out: 2,
        per_out: 2,
        layout: WeightLayout::Transposed {
            groups: 2,
            kernel: 2,
        },
    };
    fold_into_weights(&mut w, shape, Bias::InPlace(&mut b), &p).unwrap();
    assert_eq!(w, [0.5, 1.0, 9.0, 12.0]);
    assert_eq!(b, [0.5, 0.5]); // (2 - 1)·0.5, (-1 + 1)·3 + 0.5
}

/// `bn(conv_transpose(x))` against `conv_transpose'(x)` with the folded weights, grouped,
/// depthwise and ungrouped, with and without a bias, more than 256 output channels per
/// group included.
#[test]
fn conv_transpose_then_bn_equals_folded() {
    let mut rng = Rng(0x5eed_7a45_0001);
    for ct in [
        ConvT {
            cin: 3,
            cout: 5,
            groups: 1,
            k: 3,
            h: 4,
            w: 5,
        },
        ConvT {
            cin: 4,
            cout: 6,
            groups: 2,
            k: 2,
            h: 3,
            w: 3,
        },
        ConvT {
            cin: 6,
            cout: 6,
            groups: 6,
            k: 3,
            h: 3,
            w: 2,
        },
        ConvT {
            cin: 1,
            cout: 1,
            groups: 1,
            k: 1,
            h: 2,
            w: 2,
        },
        ConvT {
            cin: 2,
            cout: 300,
            groups: 1,
            k: 1,
            h: 2,
            w: 2,
        },
        ConvT {
            cin: 4,
            cout: 600,
            groups: 2,
            k: 1,
            h: 1,
            w: 2,
        },
    ] {
        let shape = ct.shape();
        let x = rng.vec(ct.cin * ct.h * ct.w);
        let wt = rng.vec(shape.out * shape.per_out);
        let bn = Bn::new(ct.cout, &mut rng);
        let (ho, wo) = ct.out_hw();
        for with_bias in [true, false] {
            let b0 = if with_bias {
                rng.vec(ct.cout)
            } else {
                vec![0.0; ct.cout]
            };
            let plain = ct.run(&x, &wt, &b0);
            let mut w2 = wt.clone();
            let mut b2 = if with_bias {
                b0.clone()
            } else {
                vec![f32::NAN; ct.cout]
            };
            let bias = if with_bias {
                Bias::InPlace(&mut b2)
            } else {
                Bias::Absent(&mut b2)
            };
            fold_into_weights(&mut w2, shape, bias, &bn.params()).unwrap();
            let folded = ct.run(&x, &w2, &b2);
            let aw: Vec<f32> = w2.iter().map(|v| v.abs()).collect();
            let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
            let mag = ct.run(&ax, &aw, &vec![0.0; ct.cout]);
            for (o, bias_o) in b2.iter().enumerate() {
                for t in 0..ho * wo {
                    let i = o * ho * wo + t;
                    let want =
                        (plain[i] - f64::from(bn.mean[o])) * bn.scale(o) + f64::from(bn.beta[o]);
                    let tol = 1e-6 * (mag[i] + f64::from(*bias_o).abs() + want.abs()) + 1e-12;
                    assert!(
                        (folded[i] - want).abs() <= tol,
                        "{ct:?} bias={with_bias} out {o}: {} vs {want}",
                        folded[i]
                    );
                }
            }
        }
    }
}

/// Transposed layouts: the folded weights are the f64 reference rounded once.
#[test]
fn transposed_matches_reference_rounded() {
    let mut rng = Rng(123);
    // (out, per_out, groups, kernel)
    for (out, per_out, groups, kernel) in [
        (1usize, 1usize, 1usize, 1usize),
        (6, 18, 2, 9),
        (6, 9, 6, 9),
        (600, 4, 2, 1),
        (5, 0, 5, 3),
        (0, 4, 3, 2),
    ] {
        let shape = WeightShape {
            out,
            per_out,
            layout: WeightLayout::Transposed { groups, kernel },
        };
        let bn = Bn::new(out, &mut rng);
        let w = rng.vec(out * per_out);
        let b = rng.vec(out);
        let (mut rw, mut rb) = (vec![0.0f64; w.len()], vec![0.0f64; out]);
        reference::fold_into_weights(&w, shape, Some(&b), &bn.params(), &mut rw, &mut rb).unwrap();
        let (mut w2, mut b2) = (w.clone(), b.clone());
        fold_into_weights(&mut w2, shape, Bias::InPlace(&mut b2), &bn.params()).unwrap();
        let rw32: Vec<f32> = rw.iter().map(|v| *v as f32).collect();
        let rb32: Vec<f32> = rb.iter().map(|v| *v as f32).collect();
        assert_eq!(w2, rw32, "{shape:?}");
        assert_eq!(b2, rb32, "{shape:?} bias");
    }
}

/// Bad groups or kernel sizes: the error names the size, the divisor and their values,
/// before any other check; the reference agrees; nothing is written.
#[test]
fn transposed_errors() {
    let ok = [1.0f32; 6];
    let p = NormParams {
        mean: &ok,
        var: &ok,
        gamma: &ok,
        beta: &ok,
        eps: 1e-5,
    };
    let bad = |name, value, divisor_name, divisor| Error::Indivisible {
        name,
        value,
        divisor_name,
        divisor,
    };
    for (groups, kernel, want) in [
        (0, 1, bad("out", 6, "Transposed.groups", 0)),
        (4, 1, bad("out", 6, "Transposed.groups", 4)),
        (2, 0, bad("per_out", 4, "Transposed.kernel", 0)),
        (3, 3, bad("per_out", 4, "Transposed.kernel", 3)),
    ] {
        let shape = WeightShape {
            out: 6,
            per_out: 4,
            layout: WeightLayout::Transposed { groups, kernel },
        };
        // Also a wrong weights length: the layout is checked first.
        for wl in [24, 5] {
            let mut w = vec![5.0f32; wl];
            let mut b = vec![6.0f32; 6];
            let got = fold_into_weights(&mut w, shape, Bias::InPlace(&mut b), &p).unwrap_err();
            assert_eq!(got, want);
            assert!(w.iter().all(|v| *v == 5.0) && b.iter().all(|v| *v == 6.0));
            let (mut rw, mut rb) = (vec![0.0f64; wl], vec![0.0f64; 6]);
            let r = reference::fold_into_weights(&w, shape, None, &p, &mut rw, &mut rb);
            assert_eq!(r, Err(want));
        }
    }
    assert_eq!(
        bad("out", 6, "Transposed.groups", 4).to_string(),
        "`out` = 6 is not a multiple of `Transposed.groups` = 4"
    );
    assert_eq!(
        bad("per_out", 4, "Transposed.kernel", 0).to_string(),
        "`Transposed.kernel` = 0 but it must be >= 1"
    );
}

/// No weights (`per_out == 0`) with a kernel so large that `out / groups * kernel`
/// overflows (found by fuzzing): the weights are left alone, the bias is still folded.
#[test]
fn transposed_without_weights_folds_the_bias() {
    let p = NormParams {
        mean: &[1.0, -1.0],
        var: &[4.0, 1.0],
        gamma: &[1.0, 3.0],
        beta: &[0.0, 0.5],
        eps: 0.0,
    };
    let shape = WeightShape {
        out: 2,
        per_out: 0,
        layout: WeightLayout::Transposed {
            groups: 1,
            kernel: usize::MAX,
        },
    };
    let mut w: [f32; 0] = [];
    let mut b = [3.0f32, 1.0];
    fold_into_weights(&mut w, shape, Bias::InPlace(&mut b), &p).unwrap();
    // (3 - 1) * 1/2 + 0 and (1 + 1) * 3/1 + 0.5.
    assert_eq!(b, [1.0, 6.5]);
}
