//! Shared helpers for the integration tests: a seeded PRNG, value distributions, tensors in
//! both layouts, shape lists, and the accuracy comparator holding the README's accuracy bounds.
//!
//! Every test file that needs them does `mod common;`; not every file uses every helper.
#![allow(dead_code)]

use batchnorm::{Layout, Method, Moments, Shape};

// ---------------------------------------------------------------------------------------
// Constants of the accuracy contract
// ---------------------------------------------------------------------------------------

/// Unit roundoff of f32, `u = 2^-24`.
pub const U: f64 = 1.0 / 16_777_216.0;

/// The smallest positive f32 (the subnormal quantum), `2^-149 = f32::MIN_POSITIVE * f32::EPSILON`.
pub const TINY: f64 = f32::MIN_POSITIVE as f64 * f32::EPSILON as f64;

/// Absolute slack, in units of [`TINY`], allowed on top of the relative bounds.
///
/// The README's accuracy bounds are relative (`16·u·A`, `1e-5 + 2·κ·u`, `1e-6`): they assume
/// every f32 operation has a relative error of at most `u`. That stops being true in the f32
/// subnormal range (|value| < 2^-126): there every add, multiply or fused multiply-add has
/// an *absolute* error of up to half a quantum (`2^-150`), whatever the size of the
/// result, and the f32 output itself cannot resolve less than one quantum. Denormal inputs
/// (~1e-40) have their means in that range, and a channel whose squared deviations fall
/// below 2^-126 (spread below ~1e-19) has its variance built from such products. So
/// results in the subnormal/underflow range get an absolute floor: the same 16 roundings
/// the mean bound `16·u·A` allows, each worth half a quantum there, i.e. 8 quanta
/// (~1.1e-44). That is far below anything a normal-range result can notice, so it does not
/// weaken the bounds anywhere else.
pub const FLOOR_QUANTA: f64 = 8.0;

/// The absolute floor, [`FLOOR_QUANTA`] × [`TINY`].
pub const FLOOR: f64 = FLOOR_QUANTA * TINY;

// ---------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------

/// A seeded xorshift64* generator: deterministic, dependency-free, good enough for test data.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from any seed (0 included): the seed is scrambled by splitmix64.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(z | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n
    }

    /// `+1.0` or `-1.0` with equal probability.
    pub fn sign(&mut self) -> f64 {
        if self.next_u64() >> 63 == 0 {
            1.0
        } else {
            -1.0
        }
    }

    /// A standard normal deviate (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (core::f64::consts::TAU * u2).cos()
    }
}

// ---------------------------------------------------------------------------------------
// Value distributions
// ---------------------------------------------------------------------------------------

/// How the values of one channel are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// `offset + spread·N(0,1)`, rounded to f32: plain data (0, 1), large offsets
    /// (1e4, 1e6 with spread 1), tiny spreads (offset 1, spread 1e-6).
    Normal {
        /// Centre.
        offset: f64,
        /// Standard deviation.
        spread: f64,
    },
    /// Every value the same (zeros included).
    Constant(f32),
    /// Magnitudes log-uniform in `[1e18, 3e19]`: squares overflow f32 (above ~1.8e19).
    Huge {
        /// Random signs (else all positive).
        mixed_signs: bool,
    },
    /// f32 subnormals, magnitudes uniform in `[0.5e-40, 1.5e-40]` (no flush to zero allowed).
    Denormal {
        /// Random signs (else all positive).
        mixed_signs: bool,
    },
    /// Integers uniform in `lo..=hi`: sums and squares exact in f64.
    SmallInts {
        /// Least value.
        lo: i32,
        /// Greatest value.
        hi: i32,
    },
    /// Each value from a randomly chosen scale: unit normals, 1e6 offsets, zeros,
    /// subnormals, 1e-20-sized values, 1e15-sized values.
    Wild,
}

impl Dist {
    /// One value.
    pub fn sample(&self, rng: &mut XorShift) -> f32 {
        match *self {
            Dist::Normal { offset, spread } => (offset + spread * rng.normal()) as f32,
            Dist::Constant(v) => v,
            Dist::Huge { mixed_signs } => {
                let mag = 1e18 * 30f64.powf(rng.uniform());
                let s = if mixed_signs { rng.sign() } else { 1.0 };
                (s * mag) as f32
            }
            Dist::Denormal { mixed_signs } => {
                let mag = 1e-40 * (0.5 + rng.uniform());
                let s = if mixed_signs { rng.sign() } else { 1.0 };
                (s * mag) as f32
            }
            Dist::SmallInts { lo, hi } => {
                (lo as i64 + rng.below((hi as i64 - lo as i64 + 1) as usize) as i64) as f32
            }
            Dist::Wild => match rng.below(6) {
                0 => rng.normal() as f32,
                1 => (1e6 + rng.normal()) as f32,
                2 => 0.0,
                3 => (1e-40 * (0.5 + rng.uniform()) * rng.sign()) as f32,
                4 => (1e-20 * rng.normal()) as f32,
                _ => (1e15 * rng.normal()) as f32,
            },
        }
    }

    /// A palette covering every distribution the issue names.
    pub const ALL: &'static [Dist] = &[
        Dist::Normal {
            offset: 0.0,
            spread: 1.0,
        },
        Dist::Normal {
            offset: 1e4,
            spread: 1.0,
        },
        Dist::Normal {
            offset: 1e6,
            spread: 1.0,
        },
        Dist::Normal {
            offset: -1e6,
            spread: 1.0,
        },
        Dist::Normal {
            offset: 1.0,
            spread: 1e-6,
        },
        Dist::Constant(0.0),
        Dist::Constant(-3.25),
        Dist::Constant(1_000_000.5),
        Dist::Constant(1e-40),
        Dist::Constant(3e19),
        Dist::Huge { mixed_signs: false },
        Dist::Huge { mixed_signs: true },
        Dist::Denormal { mixed_signs: false },
        Dist::Denormal { mixed_signs: true },
        Dist::SmallInts { lo: -100, hi: 100 },
        Dist::Wild,
    ];
}

/// Constants worth testing for "mean exactly the constant, variance exactly 0".
pub const CONSTANTS: &[f32] = &[
    0.0,
    -0.0,
    1.0,
    -3.25,
    1_000_000.5,
    -1e6,
    0.1,
    1e-40,
    -1e-45,
    f32::MIN_POSITIVE,
    3e19,
    -3e19,
    1e38,
    f32::MAX,
    f32::MIN,
];

// ---------------------------------------------------------------------------------------
// Shapes and tensors
// ---------------------------------------------------------------------------------------

/// The odd channel counts the issue names.
pub const ODD_C: &[usize] = &[1, 3, 7, 13, 257];

/// Plane sizes `(h, w)`: 1x1, 15, 13x13 = 169, and a few larger ones.
pub const PLANES: &[(usize, usize)] = &[(1, 1), (3, 5), (13, 13), (7, 7), (32, 33), (56, 56)];

/// Both layouts.
pub const LAYOUTS: [Layout; 2] = [Layout::Nchw, Layout::Nhwc];

/// Both methods.
pub const METHODS: [Method; 2] = [Method::Welford, Method::TwoPass];

/// Shapes that between them reach every kernel path at every ISA level (16 lanes with 2
/// or 8 accumulators; interleaved blocks of 128 positions, swept in parts of fewer):
/// NHWC tiled (c dividing or sharing factors with the block), NHWC blocked (c above the
/// block, with a short last block), NCHW with 1x1 planes (the interleaved kernels), NCHW
/// planes shorter than a vector, with tails, with partial vectors, and long enough for
/// the accumulators to be folded every `CHUNK` (64) steps in every one of them.
pub fn kernel_path_shapes() -> Vec<Shape> {
    vec![
        // Tiny and 1x1 planes (NCHW 1x1 runs the interleaved kernel).
        Shape::new(1, 1, 1, 1),
        Shape::new(3, 1, 1, 1),
        Shape::new(5, 3, 1, 1),
        Shape::new(2, 257, 1, 1),
        Shape::new(700, 3, 1, 1),  // many chunks of 64 rows of c=3 pixels
        Shape::new(600, 40, 1, 1), // many chunks of 64 rows, blocked
        // Planes shorter than a vector, exactly one vector, a vector plus a partial one.
        Shape::new(2, 3, 1, 7),
        Shape::new(2, 3, 2, 4),
        Shape::new(2, 3, 3, 5),
        Shape::new(3, 2, 4, 4),
        Shape::new(1, 5, 5, 5),
        // Planes shorter than 512 with channels side by side in lanes: groups of 16
        // channels with a short last group (c = 9, 17), 8-column blocks with leftovers
        // (plane 7x7, 2x5, 511), enough samples to fold every 64 steps (n = 30, 169).
        Shape::new(2, 9, 7, 7),
        Shape::new(3, 17, 2, 5),
        Shape::new(1, 8, 8, 8),
        Shape::new(2, 3, 1, 511),
        Shape::new(1, 3, 16, 32),
        Shape::new(30, 3, 13, 13),
        // Whole accumulator rows plus tails (169 = 5·32 + 9: rows of 2 vectors of 16 lanes).
        Shape::new(2, 7, 13, 13),
        Shape::new(1, 13, 13, 13),
        Shape::new(3, 4, 8, 8),
        Shape::new(2, 3, 16, 16),
        // Tail and partial accumulators folded every 64 steps (planes of 15, n = 600).
        Shape::new(600, 2, 3, 5),
        Shape::new(520, 1, 1, 9),
        // A large plane: the row accumulators are folded every 64 rows.
        Shape::new(1, 2, 150, 151),
        // Channels of 32768 values or more: single-pass shifted sums in doubling blocks
        // (one plane with tails; three planes, the blocks running on across them).
        Shape::new(1, 2, 190, 191),
        Shape::new(3, 2, 100, 111),
        // NHWC tiled with many rows (c = 1, 2, 3, 4, 6, 8, 12, 16, 24, 32).
        Shape::new(1, 1, 100, 181),
        Shape::new(2, 2, 64, 70),
        Shape::new(1, 3, 80, 80),
        Shape::new(1, 4, 1, 4999),
        Shape::new(1, 6, 50, 47),
        Shape::new(1, 8, 40, 41),
        Shape::new(1, 12, 30, 31),
        Shape::new(1, 16, 23, 37),
        Shape::new(1, 24, 25, 27),
        Shape::new(1, 32, 21, 25),
        // NHWC blocked: c above one block, last block short (c = 33, 129, 257), c = 7, 13.
        Shape::new(2, 7, 37, 19),
        Shape::new(1, 13, 41, 17),
        Shape::new(1, 33, 17, 31),
        Shape::new(1, 129, 1, 520),
        Shape::new(2, 257, 5, 7),
        Shape::new(1, 257, 13, 13),
        // Many channels: super-blocks of 256 on every ISA (1280 = 5 whole ones; 600 ends
        // with a short one of 88).
        Shape::new(1, 1280, 3, 3),
        Shape::new(2, 600, 2, 3),
    ]
}

/// Flat index of `(n, c, s)` where `s = h*W + w` is the spatial position.
pub fn index(shape: Shape, layout: Layout, n: usize, c: usize, s: usize) -> usize {
    let plane = shape.h * shape.w;
    match layout {
        Layout::Nchw => (n * shape.c + c) * plane + s,
        Layout::Nhwc => (n * plane + s) * shape.c + c,
    }
}

/// A tensor in NCHW order where channel `k` draws from `dists[k % dists.len()]`.
/// The values are drawn in NCHW order, so one seed gives one logical tensor.
pub fn tensor_nchw(shape: Shape, dists: &[Dist], rng: &mut XorShift) -> Vec<f32> {
    let plane = shape.h * shape.w;
    let mut x = Vec::with_capacity(shape.n * shape.c * plane);
    for _ in 0..shape.n {
        for c in 0..shape.c {
            let d = dists[c % dists.len()];
            for _ in 0..plane {
                x.push(d.sample(rng));
            }
        }
    }
    x
}

/// The same logical tensor as the NCHW `x`, laid out in `layout`.
pub fn to_layout(x_nchw: &[f32], shape: Shape, layout: Layout) -> Vec<f32> {
    let plane = shape.h * shape.w;
    let mut out = vec![0.0f32; x_nchw.len()];
    for n in 0..shape.n {
        for c in 0..shape.c {
            for s in 0..plane {
                out[index(shape, layout, n, c, s)] = x_nchw[index(shape, Layout::Nchw, n, c, s)];
            }
        }
    }
    out
}

/// A tensor in `layout` where channel `k` draws from `dists[k % dists.len()]`.
pub fn tensor(shape: Shape, layout: Layout, dists: &[Dist], rng: &mut XorShift) -> Vec<f32> {
    to_layout(&tensor_nchw(shape, dists, rng), shape, layout)
}

/// The values of channel `c`, in (n, h, w) order.
pub fn channel_values(x: &[f32], shape: Shape, layout: Layout, c: usize) -> Vec<f32> {
    let plane = shape.h * shape.w;
    let mut v = Vec::with_capacity(shape.n * plane);
    for n in 0..shape.n {
        for s in 0..plane {
            v.push(x[index(shape, layout, n, c, s)]);
        }
    }
    v
}

// ---------------------------------------------------------------------------------------
// The oracle and the comparator
// ---------------------------------------------------------------------------------------

/// What one channel's statistics should be: the f64 reference, plus `A = mean |x|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    /// Values in the channel.
    pub count: u64,
    /// Reference mean (f64 two-pass).
    pub mean: f64,
    /// Reference biased variance.
    pub var: f64,
    /// `A = mean |x|` of the channel, the scale of the mean bound.
    pub abs_mean: f64,
}

impl Expected {
    /// `κ = sqrt(1 + mean²/var)`, the condition number of the variance (∞ when var = 0).
    pub fn kappa(&self) -> f64 {
        (1.0 + self.mean * self.mean / self.var).sqrt()
    }
}

/// Per-channel [`Expected`] from `batchnorm::reference::moments` and an independent pass
/// over the channel's values for `A`.
pub fn expected(x: &[f32], shape: Shape, layout: Layout) -> Vec<Expected> {
    let mut m = vec![Moments::EMPTY; shape.c];
    batchnorm::reference::moments(x, shape, layout, &mut m)
        .expect("reference rejects a valid shape");
    m.iter()
        .enumerate()
        .map(|(c, m)| {
            let v = channel_values(x, shape, layout, c);
            let abs_mean = v.iter().map(|&x| f64::from(x).abs()).sum::<f64>() / v.len() as f64;
            Expected {
                count: m.count,
                mean: m.mean,
                var: m.variance(),
                abs_mean,
            }
        })
        .collect()
}

/// Half an ulp of the f32 nearest `v` (for `|v|` beyond f32::MAX: half the ulp of f32::MAX).
pub fn half_ulp_f32(v: f64) -> f64 {
    let a = (v.abs() as f32).min(f32::MAX);
    let up = a.next_up();
    if up.is_finite() {
        (f64::from(up) - f64::from(a)) / 2.0
    } else {
        (f64::from(f32::MAX) - f64::from(f32::MAX.next_down())) / 2.0
    }
}

/// The bound on the mean's absolute error: the README's `16·u·A`, and for
/// `Method::Welford` `16·u·max(A, σ)`: a running mean kept in f32 rounds at the scale of
/// the deviations it averages, so on heavy-tailed channels (σ well above A = mean|x|,
/// e.g. mostly small values with rare 1e15s) its error follows σ. For ordinary data
/// (σ ≤ A, or normal data with σ ≈ 1.25·A) the two agree up to that factor; the
/// two-pass method sums in f64 and meets `16·u·A` on everything.
pub fn mean_bound(e: &Expected, method: Method) -> f64 {
    match method {
        Method::Welford => 16.0 * U * e.abs_mean.max(e.var.sqrt()),
        Method::TwoPass => 16.0 * U * e.abs_mean,
        _ => unreachable!("no bound for {method:?}"),
    }
}

/// The README's bound on the variance's relative error: `1e-5 + 2·κ·u` (Welford),
/// `1e-6` (two-pass).
pub fn var_rel_bound(e: &Expected, method: Method) -> f64 {
    match method {
        Method::Welford => 1e-5 + 2.0 * e.kappa() * U,
        Method::TwoPass => 1e-6,
        _ => unreachable!("no bound for {method:?}"),
    }
}

/// Checks one value against the expected one with an absolute tolerance `tol`.
/// `f32_output`: the value was rounded to f32 at the end, so half an f32 ulp more is allowed,
/// and an expected value that rounds to ±∞ in f32 may come out as that infinity.
fn check_value(what: &str, got: f64, want: f64, tol: f64, f32_output: bool) -> Result<(), String> {
    if !want.is_finite() {
        return if got.is_finite() {
            Err(format!(
                "{what}: expected non-finite (reference {want}), got {got}"
            ))
        } else {
            Ok(())
        };
    }
    let tol = tol + FLOOR + if f32_output { half_ulp_f32(want) } else { 0.0 };
    if got.is_infinite() && f32_output && got.signum() == want.signum() {
        // The exact value is representable only as ∞ in f32 when it is at or beyond the
        // rounding threshold MAX + half an ulp; allow it when the tolerance reaches there.
        let threshold = f64::from(f32::MAX) + half_ulp_f32(f64::from(f32::MAX));
        return if want.abs() + tol >= threshold {
            Ok(())
        } else {
            Err(format!("{what}: got {got}, want {want:e} (finite in f32)"))
        };
    }
    let err = (got - want).abs();
    if err <= tol {
        Ok(())
    } else {
        Err(format!(
            "{what}: got {got:e}, want {want:e}, error {err:e} > tolerance {tol:e}"
        ))
    }
}

/// Checks a mean (`f32_output`: it was rounded to f32 at the end) against `e`.
pub fn check_mean(got: f64, e: &Expected, method: Method, f32_output: bool) -> Result<(), String> {
    if e.var == 0.0 && e.mean.is_finite() {
        // A constant channel: the mean must be exactly the constant.
        let want = if f32_output {
            f64::from(e.mean as f32)
        } else {
            e.mean
        };
        return if got == want {
            Ok(())
        } else {
            Err(format!(
                "mean of a constant channel: got {got:e}, want exactly {want:e}"
            ))
        };
    }
    check_value("mean", got, e.mean, mean_bound(e, method), f32_output)
}

/// Checks a biased variance against `e` with the bound of `method`.
pub fn check_var(got: f64, e: &Expected, method: Method, f32_output: bool) -> Result<(), String> {
    if e.var == 0.0 {
        return if got == 0.0 {
            Ok(())
        } else {
            Err(format!(
                "variance of a constant channel: got {got:e}, want exactly 0"
            ))
        };
    }
    let tol = if e.var.is_finite() {
        var_rel_bound(e, method) * e.var
    } else {
        0.0
    };
    check_value("variance", got, e.var, tol, f32_output)
}

/// Checks one channel's f32 `(mean, var)` from `batch_stats` against the reference.
pub fn check_moments(mean: f32, var: f32, e: &Expected, method: Method) -> Result<(), String> {
    check_mean(f64::from(mean), e, method, true)?;
    check_var(f64::from(var), e, method, true)
}

/// Checks one channel's [`Moments`] from `accumulate_moments` (f64, no final rounding)
/// against the reference: the count exactly, the mean and variance within bounds.
pub fn check_acc(m: &Moments, e: &Expected, method: Method) -> Result<(), String> {
    if m.count != e.count {
        return Err(format!("count: got {}, want {}", m.count, e.count));
    }
    check_mean(m.mean, e, method, false)?;
    check_var(m.variance(), e, method, false)
}

/// Checks one channel's [`Moments`] accumulated from several pieces (each added by
/// `accumulate_moments` with its own method, or `None` for exact reference moments) against
/// the reference over their union, `whole`.
///
/// The mean bound composes: the count-weighted sum of the pieces' `16·u·A_i` is `16·u·A`.
/// The variance bound does not: Chan's merge adds `Σ n_i (μ_i - μ)²`, so each piece's mean
/// error `e_i` (up to `16·u·A_i`) enters `M2` as `2·n_i·|μ_i - μ|·e_i`. The tolerance on `M2`
/// is the sum over the pieces of `r_i·M2_i + 2·n_i·|μ_i - μ|·(e_i + ē) + n_i·(e_i + ē)²`
/// (`r_i` the piece's relative variance bound, `ē` the error of the merged mean), plus the
/// f64 rounding of the merges, divided by `n` for the variance.
pub fn check_acc_pieces(
    m: &Moments,
    whole: &Expected,
    pieces: &[(Expected, Option<Method>)],
) -> Result<(), String> {
    if m.count != whole.count {
        return Err(format!("count: got {}, want {}", m.count, whole.count));
    }
    // The merged mean is bound as loosely as its loosest piece.
    let merged = if pieces.iter().any(|(_, m)| *m == Some(Method::Welford)) {
        Method::Welford
    } else {
        Method::TwoPass
    };
    check_mean(m.mean, whole, merged, false)?;
    if whole.var == 0.0 {
        return check_var(m.variance(), whole, Method::TwoPass, false);
    }
    let n = whole.count as f64;
    let err = |p: &Expected, method: Option<Method>| match method {
        Some(method) => mean_bound(p, method) + FLOOR,
        None => 0.0,
    };
    let ebar = pieces
        .iter()
        .map(|(p, method)| p.count as f64 * err(p, *method))
        .sum::<f64>()
        / n;
    let mut tol_m2 = 0.0;
    for (p, method) in pieces {
        let ni = p.count as f64;
        let e = err(p, *method) + ebar;
        // A constant piece (κ = ∞) must come out exact: M2_i = 0, no relative term.
        let r = match method {
            Some(method) if p.var > 0.0 => var_rel_bound(p, *method),
            _ => 0.0,
        };
        tol_m2 +=
            r * ni * p.var + ni * FLOOR + 2.0 * ni * (p.mean - whole.mean).abs() * e + ni * e * e;
    }
    // f64 rounding: the reference's own sums (~count·ε) and each Chan merge (~ε·κ).
    let m2 = whole.var * n;
    tol_m2 += (n + 8.0 * pieces.len() as f64 * (1.0 + whole.kappa())) * f64::EPSILON * m2;
    check_value("variance", m.variance(), whole.var, tol_m2 / n, false)
}

/// Runs `batch_stats` on `x` and checks every channel against `exp`.
pub fn run_batch_stats(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    exp: &[Expected],
) -> Result<(Vec<f32>, Vec<f32>), String> {
    let mut mean = vec![f32::NAN; shape.c];
    let mut var = vec![f32::NAN; shape.c];
    crate::isa::batch_stats(x, shape, layout, method, &mut mean, &mut var)
        .map_err(|e| format!("batch_stats failed: {e}"))?;
    for (c, e) in exp.iter().enumerate() {
        check_moments(mean[c], var[c], e, method).map_err(|msg| {
            format!(
                "batch_stats {shape:?} {layout:?} {method:?} channel {c} \
                 (ref mean {:e}, var {:e}, A {:e}, kappa {:e}): {msg}",
                e.mean,
                e.var,
                e.abs_mean,
                e.kappa()
            )
        })?;
    }
    Ok((mean, var))
}

/// Runs `accumulate_moments` into empty accumulators and checks every channel against `exp`.
pub fn run_accumulate(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    exp: &[Expected],
) -> Result<Vec<Moments>, String> {
    let mut acc = vec![Moments::EMPTY; shape.c];
    crate::isa::accumulate_moments(x, shape, layout, method, &mut acc)
        .map_err(|e| format!("accumulate_moments failed: {e}"))?;
    for (c, e) in exp.iter().enumerate() {
        check_acc(&acc[c], e, method).map_err(|msg| {
            format!(
                "accumulate_moments {shape:?} {layout:?} {method:?} channel {c} \
                 (ref mean {:e}, var {:e}, A {:e}): {msg}",
                e.mean, e.var, e.abs_mean
            )
        })?;
    }
    Ok(acc)
}

/// Checks `batch_stats` and `accumulate_moments`, both methods, on `x` in `layout`.
pub fn check_all_methods(x: &[f32], shape: Shape, layout: Layout) -> Result<(), String> {
    let exp = expected(x, shape, layout);
    for method in METHODS {
        run_batch_stats(x, shape, layout, method, &exp)?;
        run_accumulate(x, shape, layout, method, &exp)?;
    }
    Ok(())
}
