//! The C ABI from C and C++: `tests/c/test_capi.c` compiled with the system C compiler
//! (`-std=c99 -pedantic -Werror`) and linked against `libbatchnorm_capi.a`; it checks the
//! worked example (forward and backward), the fold examples (transposed too) and every
//! error status by itself, then runs every kernel on random cases this test writes, and
//! this test compares each output bit for bit with what the batchnorm crate computes, and
//! its `bn_isa_detected()` (and name) with `batchnorm::Isa::detected()`.
//! `tests/cpp/test_header.cpp` checks that the header compiles as C++ and links; the
//! README's C example must compile and print the worked example.

mod support;

use batchnorm::{
    Activated, Activation, BackwardParams, Bias, ForwardStats, Layout, Method, Moments, Momentum,
    NormParams, Prepared, RunningStats, SavedStats, Shape, TrainParams, WeightLayout, WeightShape,
};
use batchnorm_capi::enums::{
    BnActivationKind, BnBias, BnForwardStats, BnIsa, BnLayout, BnMethod, BnMomentum, BnWeightLayout,
};
use batchnorm_capi::{
    BnActivation, BnBackwardParams, BnMoments, BnNormParams, BnPrepared, BnRunningStats,
    BnSavedStats, BnShape, BnStatus, BnTrainParams, BnWeightShape,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::mem::{offset_of, size_of};
use std::process::Command;

/// A small deterministic generator (xorshift64*), uniform in `[0, 1)`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (v >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
    fn vec(&mut self, len: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..len).map(|_| self.range(lo, hi)).collect()
    }
}

/// Weights per output channel in the fold cases.
const PER_OUT: usize = 5;

/// One random case, as the C program reads it.
struct Case {
    shape: Shape,
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    mean: Vec<f32>,
    var: Vec<f32>,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
    acc: Vec<Moments>,
    weights: Vec<f32>,
    bias: Vec<f32>,
    dy: Vec<f32>,
}

impl Case {
    fn new(rng: &mut Rng, n: usize, c: usize, h: usize, w: usize) -> Case {
        let shape = Shape::new(n, c, h, w);
        let numel = shape.numel().unwrap();
        // Values a few units around one of `c` offsets (picked by `i % c`: the channel in
        // NHWC, a mix of them in NCHW), so channels have different means.
        let offsets = rng.vec(c, -50.0, 50.0);
        let x = (0..numel)
            .map(|i| offsets[i % c] + rng.range(-3.0, 3.0))
            .collect();
        let acc = (0..c)
            .map(|k| Moments {
                count: (k % 3) as u64 * 7,
                mean: if k % 3 == 0 {
                    0.0
                } else {
                    f64::from(rng.range(-5.0, 5.0))
                },
                m2: if k % 3 == 0 {
                    0.0
                } else {
                    f64::from(rng.range(0.0, 20.0))
                },
            })
            .collect();
        Case {
            shape,
            x,
            gamma: rng.vec(c, 0.5, 2.0),
            beta: rng.vec(c, -1.0, 1.0),
            mean: rng.vec(c, -40.0, 40.0),
            var: rng.vec(c, 0.1, 9.0),
            running_mean: rng.vec(c, -1.0, 1.0),
            running_var: rng.vec(c, 0.5, 2.0),
            acc,
            weights: rng.vec(c * PER_OUT, -1.0, 1.0),
            bias: rng.vec(c, -1.0, 1.0),
            dy: rng.vec(numel, -1.0, 1.0),
        }
    }

    /// The case in the C program's input format.
    fn write(&self, out: &mut String) {
        let Shape { n, c, h, w } = self.shape;
        writeln!(out, "case {n} {c} {h} {w}").unwrap();
        let acc: Vec<f32> = self
            .acc
            .iter()
            .flat_map(|m| [m.count as f32, m.mean as f32, m.m2 as f32])
            .collect();
        for (name, v) in [
            ("x", &self.x),
            ("gamma", &self.gamma),
            ("beta", &self.beta),
            ("mean", &self.mean),
            ("var", &self.var),
            ("running_mean", &self.running_mean),
            ("running_var", &self.running_var),
            ("acc", &acc),
            ("weights", &self.weights),
            ("bias", &self.bias),
            ("dy", &self.dy),
        ] {
            write!(out, "{name} {}", v.len()).unwrap();
            for x in v {
                // Rust prints the shortest decimal that reads back as the same f32.
                write!(out, " {x}").unwrap();
            }
            out.push('\n');
        }
    }

    /// What the C program must write for this case (`k`), computed with the Rust API in
    /// the same order.
    fn expected(&self, k: usize, want: &mut BTreeMap<String, Expected>) {
        let c = self.shape.c;
        let numel = self.x.len();
        let p = NormParams {
            mean: &self.mean,
            var: &self.var,
            gamma: &self.gamma,
            beta: &self.beta,
            eps: 1e-3,
        };
        let mut scale = vec![0.0; c];
        batchnorm::prepare(&p, &mut scale).unwrap();
        want.insert(format!("case{k}/scale"), Expected::F32(scale.clone()));
        let prepared = Prepared {
            mean: &self.mean,
            scale: &scale,
            beta: &self.beta,
        };
        for (li, layout) in [Layout::Nchw, Layout::Nhwc].into_iter().enumerate() {
            for (mi, method) in [Method::Welford, Method::TwoPass].into_iter().enumerate() {
                let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
                batchnorm::batch_stats(&self.x, self.shape, layout, method, &mut mean, &mut var)
                    .unwrap();
                want.insert(
                    format!("case{k}/stats/L{li}/M{mi}/mean"),
                    Expected::F32(mean),
                );
                want.insert(format!("case{k}/stats/L{li}/M{mi}/var"), Expected::F32(var));
                let mut acc = self.acc.clone();
                batchnorm::accumulate_moments(&self.x, self.shape, layout, method, &mut acc)
                    .unwrap();
                want.insert(format!("case{k}/acc/L{li}/M{mi}"), Expected::Moments(acc));
            }
            let acts = [
                Activation::Identity,
                Activation::Relu,
                Activation::Clamp {
                    min: -0.5,
                    max: 1.25,
                },
                Activation::LeakyRelu { slope: 0.0625 },
            ];
            for (ai, act) in acts.into_iter().enumerate() {
                let mut y = vec![0.0; numel];
                batchnorm::normalize_prepared(&self.x, &mut y, self.shape, layout, &prepared, act)
                    .unwrap();
                want.insert(format!("case{k}/prepared/L{li}/A{ai}/I0"), Expected::F32(y));
                let mut y = self.x.clone();
                batchnorm::normalize_prepared_in_place(&mut y, self.shape, layout, &prepared, act)
                    .unwrap();
                want.insert(format!("case{k}/prepared/L{li}/A{ai}/I1"), Expected::F32(y));
                let mut y = vec![0.0; numel];
                batchnorm::normalize(&self.x, &mut y, self.shape, layout, &p, act).unwrap();
                want.insert(
                    format!("case{k}/normalize/L{li}/A{ai}/I0"),
                    Expected::F32(y),
                );
                let mut y = self.x.clone();
                batchnorm::normalize_in_place(&mut y, self.shape, layout, &p, act).unwrap();
                want.insert(
                    format!("case{k}/normalize/L{li}/A{ai}/I1"),
                    Expected::F32(y),
                );
            }
            for kind in -1i32..=2 {
                for inplace in 0..=1 {
                    let tp = TrainParams {
                        gamma: &self.gamma,
                        beta: &self.beta,
                        eps: 1e-3,
                        method: [Method::Welford, Method::TwoPass][inplace],
                        act: if kind < 0 {
                            Activation::Relu
                        } else {
                            Activation::Identity
                        },
                    };
                    let (mut rm, mut rv) = (self.running_mean.clone(), self.running_var.clone());
                    let (mut sm, mut si) = (vec![0.0; c], vec![0.0; c]);
                    let momentum = match kind {
                        0 => Momentum::PyTorch(0.1),
                        1 => Momentum::Onnx(0.9),
                        _ => Momentum::Cumulative { prior_batches: 3 },
                    };
                    let running = (kind >= 0).then_some(RunningStats {
                        mean: &mut rm,
                        var: &mut rv,
                        momentum,
                    });
                    let saved = SavedStats {
                        mean: &mut sm,
                        invstd: &mut si,
                    };
                    let mut y = self.x.clone();
                    if inplace == 1 {
                        batchnorm::train_forward_in_place(
                            &mut y, self.shape, layout, &tp, running, saved,
                        )
                    } else {
                        batchnorm::train_forward(
                            &self.x, &mut y, self.shape, layout, &tp, running, saved,
                        )
                    }
                    .unwrap();
                    let key = format!("case{k}/train/L{li}/K{kind}/I{inplace}");
                    want.insert(format!("{key}/y"), Expected::F32(y));
                    want.insert(format!("{key}/saved_mean"), Expected::F32(sm));
                    want.insert(format!("{key}/saved_invstd"), Expected::F32(si));
                    want.insert(format!("{key}/running_mean"), Expected::F32(rm));
                    want.insert(format!("{key}/running_var"), Expected::F32(rv));
                }
            }
        }
        let transposed = WeightLayout::Transposed {
            groups: 1,
            kernel: 1,
        };
        for (wi, layout) in [WeightLayout::OutFirst, WeightLayout::OutLast, transposed]
            .into_iter()
            .enumerate()
        {
            for bi in 0..=1 {
                let (mut w, mut b) = (self.weights.clone(), self.bias.clone());
                let bias = if bi == 1 {
                    Bias::InPlace(&mut b)
                } else {
                    Bias::Absent(&mut b)
                };
                let shape = WeightShape {
                    out: c,
                    per_out: PER_OUT,
                    layout,
                };
                batchnorm::fold_into_weights(&mut w, shape, bias, &p).unwrap();
                want.insert(
                    format!("case{k}/fold/W{wi}/B{bi}/weights"),
                    Expected::F32(w),
                );
                want.insert(format!("case{k}/fold/W{wi}/B{bi}/bias"), Expected::F32(b));
            }
        }
        // Backward: the case's mean and gamma, running_var as invstd; y = x for the ReLU.
        let bp = BackwardParams {
            mean: &self.mean,
            invstd: &self.running_var,
            gamma: &self.gamma,
        };
        for (li, layout) in [Layout::Nchw, Layout::Nhwc].into_iter().enumerate() {
            for (si, stats) in [ForwardStats::Batch, ForwardStats::Running]
                .into_iter()
                .enumerate()
            {
                for ai in 0..=1 {
                    let fwd = Activated {
                        y: &self.x,
                        act: Activation::Relu,
                    };
                    for inplace in 0..=1 {
                        let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
                        let mut dx = self.dy.clone();
                        let (x, dy, shape) = (&self.x, &self.dy, self.shape);
                        match (ai, inplace) {
                            (0, 0) => batchnorm::backward(
                                x, dy, &mut dx, shape, layout, &bp, stats, &mut dg, &mut db,
                            ),
                            (0, _) => batchnorm::backward_in_place(
                                x, &mut dx, shape, layout, &bp, stats, &mut dg, &mut db,
                            ),
                            (_, 0) => batchnorm::backward_activated(
                                x, dy, &mut dx, shape, layout, &bp, stats, fwd, &mut dg, &mut db,
                            ),
                            _ => batchnorm::backward_activated_in_place(
                                x, &mut dx, shape, layout, &bp, stats, fwd, &mut dg, &mut db,
                            ),
                        }
                        .unwrap();
                        let key = format!("case{k}/backward/L{li}/S{si}/A{ai}/I{inplace}");
                        want.insert(format!("{key}/dx"), Expected::F32(dx));
                        want.insert(format!("{key}/dgamma"), Expected::F32(dg));
                        want.insert(format!("{key}/dbeta"), Expected::F32(db));
                    }
                }
            }
        }
    }
}

/// An output the C program must produce.
#[derive(Debug)]
enum Expected {
    F32(Vec<f32>),
    Moments(Vec<Moments>),
}

/// Whether the C program's tokens are exactly `want` (bitwise; NaN equals NaN).
fn same(want: &Expected, got: &[&str]) -> Result<(), String> {
    match want {
        Expected::F32(v) => {
            if v.len() != got.len() {
                return Err(format!("{} values, expected {}", got.len(), v.len()));
            }
            for (i, (w, g)) in v.iter().zip(got).enumerate() {
                let g: f32 = g.parse().map_err(|e| format!("`{g}`: {e}"))?;
                if w.to_bits() != g.to_bits() && !(w.is_nan() && g.is_nan()) {
                    return Err(format!("element {i}: C gave {g:e}, Rust {w:e}"));
                }
            }
        }
        Expected::Moments(v) => {
            if 3 * v.len() != got.len() {
                return Err(format!("{} values, expected {}", got.len(), 3 * v.len()));
            }
            for (i, (w, g)) in v.iter().zip(got.chunks(3)).enumerate() {
                let g = Moments {
                    count: g[0].parse().map_err(|e| format!("`{}`: {e}", g[0]))?,
                    mean: g[1].parse().map_err(|e| format!("`{}`: {e}", g[1]))?,
                    m2: g[2].parse().map_err(|e| format!("`{}`: {e}", g[2]))?,
                };
                if *w != g {
                    return Err(format!("channel {i}: C gave {g:?}, Rust {w:?}"));
                }
            }
        }
    }
    Ok(())
}

/// The struct sizes and field offsets the C program prints, from the Rust side.
fn rust_layouts() -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: usize| m.insert(k.to_string(), v);
    put("sizeof bn_moments", size_of::<BnMoments>());
    put("sizeof bn_norm_params", size_of::<BnNormParams>());
    put("sizeof bn_train_params", size_of::<BnTrainParams>());
    put("sizeof bn_running_stats", size_of::<BnRunningStats>());
    put("sizeof bn_saved_stats", size_of::<BnSavedStats>());
    put("offsetof bn_moments.m2", offset_of!(BnMoments, m2));
    put(
        "offsetof bn_norm_params.beta_len",
        offset_of!(BnNormParams, beta_len),
    );
    put("offsetof bn_norm_params.eps", offset_of!(BnNormParams, eps));
    put(
        "offsetof bn_train_params.eps",
        offset_of!(BnTrainParams, eps),
    );
    put(
        "offsetof bn_train_params.method",
        offset_of!(BnTrainParams, method),
    );
    put(
        "offsetof bn_train_params.act",
        offset_of!(BnTrainParams, act),
    );
    put(
        "offsetof bn_activation.clamp_max",
        offset_of!(BnActivation, clamp_max),
    );
    put(
        "offsetof bn_activation.slope",
        offset_of!(BnActivation, slope),
    );
    put("offsetof bn_shape.w", offset_of!(BnShape, w));
    put(
        "offsetof bn_prepared.beta_len",
        offset_of!(BnPrepared, beta_len),
    );
    put("sizeof bn_shape", size_of::<BnShape>());
    put("sizeof bn_activation", size_of::<BnActivation>());
    put("sizeof bn_prepared", size_of::<BnPrepared>());
    // The enums: `c_int` on the Rust side, int-sized in C.
    put("sizeof bn_status", size_of::<BnStatus>());
    put("sizeof bn_layout", size_of::<BnLayout>());
    put("sizeof bn_method", size_of::<BnMethod>());
    put("sizeof bn_activation_kind", size_of::<BnActivationKind>());
    put("sizeof bn_momentum", size_of::<BnMomentum>());
    put("sizeof bn_weight_layout", size_of::<BnWeightLayout>());
    put("sizeof bn_bias", size_of::<BnBias>());
    put("sizeof bn_isa", size_of::<BnIsa>());
    put("sizeof bn_forward_stats", size_of::<BnForwardStats>());
    put("sizeof bn_weight_shape", size_of::<BnWeightShape>());
    put("sizeof bn_backward_params", size_of::<BnBackwardParams>());
    put(
        "offsetof bn_weight_shape.layout",
        offset_of!(BnWeightShape, layout),
    );
    put(
        "offsetof bn_weight_shape.groups",
        offset_of!(BnWeightShape, groups),
    );
    put(
        "offsetof bn_weight_shape.kernel",
        offset_of!(BnWeightShape, kernel),
    );
    put(
        "offsetof bn_backward_params.gamma_len",
        offset_of!(BnBackwardParams, gamma_len),
    );
    put(
        "offsetof bn_running_stats.momentum_kind",
        offset_of!(BnRunningStats, momentum_kind),
    );
    put(
        "offsetof bn_running_stats.momentum",
        offset_of!(BnRunningStats, momentum),
    );
    put(
        "offsetof bn_running_stats.prior_batches",
        offset_of!(BnRunningStats, prior_batches),
    );
    put(
        "offsetof bn_saved_stats.invstd_len",
        offset_of!(BnSavedStats, invstd_len),
    );
    m
}

#[test]
fn c_program_matches_the_rust_api() {
    if let Some(why) = support::not_native() {
        eprintln!("skipped: the C compiler here builds native programs only ({why})");
        return;
    }
    let src = support::capi_dir().join("tests/c/test_capi.c");
    let flags = [
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-O1",
    ];
    let exe = support::build_program("cc", &flags, &src, "test_capi");

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Odd channel counts (NHWC tiling), 1x1 planes, short and long planes.
    let shapes = [
        (3, 5, 4, 7),
        (2, 13, 3, 3),
        (6, 3, 1, 1),
        (2, 16, 12, 12),
        (1, 7, 2, 1),
    ];
    let cases: Vec<Case> = shapes
        .iter()
        .map(|&(n, c, h, w)| Case::new(&mut rng, n, c, h, w))
        .collect();
    let mut input = String::new();
    let mut want = BTreeMap::new();
    for (k, case) in cases.iter().enumerate() {
        case.write(&mut input);
        case.expected(k, &mut want);
    }
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (cases_path, results_path) = (dir.join("capi_cases.txt"), dir.join("capi_results.txt"));
    std::fs::write(&cases_path, input).unwrap();
    let stdout = support::run(Command::new(&exe).arg(&cases_path).arg(&results_path));
    println!("{stdout}");
    assert!(
        stdout.contains(&format!("{} random cases", cases.len())),
        "{stdout}"
    );

    let results = std::fs::read_to_string(&results_path).unwrap();
    let layouts = rust_layouts();
    let (mut seen_arrays, mut seen_layouts, mut problems) = (0, 0, Vec::new());
    let mut seen_isa = Vec::new();
    for line in results.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if let ["isa", code, name] = tokens[..] {
            seen_isa.push((code.parse::<usize>().ok(), name.to_string()));
            continue;
        }
        if let ["sizeof" | "offsetof", what, value] = tokens[..] {
            let key = format!("{} {what}", tokens[0]);
            let value: usize = value.parse().unwrap();
            match layouts.get(&key) {
                Some(&v) if v == value => {}
                other => problems.push(format!("{key}: C {value}, Rust {other:?}")),
            }
            seen_layouts += 1;
            continue;
        }
        let (name, count) = (tokens[0], tokens[1].parse::<usize>().unwrap());
        assert_eq!(tokens.len(), count + 2, "{name}: count and values disagree");
        match want.get(name) {
            None => problems.push(format!("{name}: not expected")),
            Some(w) => {
                if let Err(e) = same(w, &tokens[2..]) {
                    problems.push(format!("{name}: {e}"));
                }
            }
        }
        seen_arrays += 1;
    }
    assert_eq!(seen_layouts, layouts.len(), "struct layout lines");
    // The C program's level is the crate's, by its position in Isa::ALL (the header's
    // values) and by name.
    let isa = batchnorm::Isa::detected();
    let position = batchnorm::Isa::ALL.iter().position(|&i| i == isa);
    assert_eq!(seen_isa, [(position, isa.name().to_string())], "isa line");
    assert_eq!(seen_arrays, want.len(), "every expected output was written");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn header_compiles_and_links_as_cpp() {
    if let Some(why) = support::not_native() {
        eprintln!("skipped: the C++ compiler here builds native programs only ({why})");
        return;
    }
    let src = support::capi_dir().join("tests/cpp/test_header.cpp");
    let flags = ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"];
    let exe = support::build_program("c++", &flags, &src, "test_header_cpp");
    let stdout = support::run(&mut Command::new(&exe));
    assert!(stdout.contains("C++ OK"), "{stdout}");
}

#[test]
fn readme_c_example_compiles_and_prints_the_worked_example() {
    if let Some(why) = support::not_native() {
        eprintln!("skipped: the C compiler here builds native programs only ({why})");
        return;
    }
    let readme = std::fs::read_to_string(support::capi_dir().join("../README.md")).unwrap();
    let section = &readme[readme
        .find("\n## C ABI")
        .expect("README has a `## C ABI` section")..];
    let start = section.find("```c\n").expect("a C example in `## C ABI`") + 5;
    let code = &section[start..start + section[start..].find("```").unwrap()];
    let src = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("readme_example.c");
    std::fs::write(&src, code).unwrap();
    let flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
    let exe = support::build_program("cc", &flags, &src, "readme_example");
    let stdout = support::run(&mut Command::new(&exe));
    assert_eq!(stdout.trim(), "mean 5 var 5.5 y[0] -2.9112 y[15] 3.9112");
}

/// Compiles `code` (with the header) as C or C++ with `flags`; whether it compiled, and the
/// compiler's messages.
fn compiles(compiler: &str, flags: &[&str], ext: &str, name: &str, code: &str) -> (bool, String) {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join(format!("{name}.{ext}"));
    std::fs::write(&src, format!("#include \"batchnorm.h\"\n{code}")).unwrap();
    let out = Command::new(compiler)
        .args(flags)
        .arg("-fsyntax-only")
        .arg("-I")
        .arg(support::capi_dir().join("include"))
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn swapped_enum_arguments_do_not_compile() {
    if let Some(why) = support::not_native() {
        eprintln!("skipped: the system compilers are only run on native builds ({why})");
        return;
    }
    // bn_batch_stats(x, x_len, shape, layout, method, ...): layout and method swapped.
    let call = |first: &str, second: &str| {
        format!(
            "int f(const float* x, float* m, float* v, bn_shape s);\n\
             int f(const float* x, float* m, float* v, bn_shape s) {{\n\
             return (int)bn_batch_stats(x, 16, s, {first}, {second}, m, 1, v, 1);\n}}\n"
        )
    };
    let right = call("BN_LAYOUT_NCHW", "BN_METHOD_WELFORD");
    let swapped = call("BN_METHOD_WELFORD", "BN_LAYOUT_NCHW");
    let c = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
    let cpp = ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"];
    for (compiler, flags, ext) in [("cc", &c, "c"), ("c++", &cpp, "cpp")] {
        let (ok, msg) = compiles(compiler, flags, ext, "enums_right", &right);
        assert!(ok, "{compiler}: the right order must compile:\n{msg}");
        let (ok, msg) = compiles(compiler, flags, ext, "enums_swapped", &swapped);
        assert!(
            !ok,
            "{compiler} {flags:?} accepted layout and method swapped"
        );
        assert!(
            msg.contains("bn_layout") || msg.contains("bn_method"),
            "{msg}"
        );
    }
}
