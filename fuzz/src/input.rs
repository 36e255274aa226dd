//! Structured fuzz inputs decoded from raw bytes with `arbitrary`: shapes with small dims
//! chosen to reach every kernel path, and tensors whose values are drawn per channel from
//! distributions that include the extremes (huge, denormal, NaN, ±inf, large offsets,
//! constant runs).
//!
//! A tensor is described by a few bytes (shape, one distribution per channel, a PRNG seed,
//! a few pokes of special values) and expanded here, so short inputs reach large tensors.

use arbitrary::{Arbitrary, Result, Unstructured};
use batchnorm::{Layout, Method, Shape};

/// Upper bound on the elements of a generated tensor (the f64 reference stays fast).
pub const MAX_NUMEL: usize = 1 << 16;

/// Values worth hitting on purpose: zeros, signs, the ends of the f32 range, the subnormal
/// range, large offsets, and non-finite values.
pub const SPECIALS: [f32; 24] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    f32::MAX,
    -f32::MAX,
    3.0e38,
    -3.0e38,
    1.0e18,
    3.0e19,
    -1.0e19,
    f32::MIN_POSITIVE,
    1.0e-45,
    -1.0e-45,
    1.0e-40,
    1.0e4,
    1.0e6,
    -1.0e6,
    16_777_217.0,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::EPSILON,
];

/// Offsets (centers) of generated channels.
const OFFSETS: [f64; 16] = [
    0.0, 1.0, -1.0, 1.0e4, -1.0e4, 1.0e6, -1.0e6, 1.0e9, 1.0e18, -3.0e19, 1.0e30, 3.0e38, -3.0e38,
    1.0e-40, 1.0e-30, 5.0,
];

/// Spreads (half-widths) of generated channels, from nothing to the whole f32 range.
const SPREADS: [f64; 14] = [
    1.0, 1.0e-40, 1.0e-20, 1.0e-7, 1.0e-3, 0.1, 0.0, 10.0, 1.0e3, 1.0e6, 1.0e18, 1.0e30, 3.0e38,
    1.0e-38,
];

/// A seeded splitmix64 generator: deterministic, no dependencies.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub fn symmetric(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// An f32 from an f64, saturating at `±f32::MAX` instead of overflowing to infinity
/// (infinities come only from the distributions that ask for them).
fn saturate(v: f64) -> f32 {
    v.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32
}

/// How the values of one channel are drawn.
#[derive(Debug, Clone, Copy)]
pub enum Dist {
    /// `offset + spread * U(-1, 1)`, saturated to the finite f32 range.
    Uniform {
        /// Center.
        offset: f64,
        /// Half-width.
        spread: f64,
    },
    /// One value everywhere.
    Constant(f32),
    /// Subnormal values (and ±0) of either sign.
    Denormal,
    /// Small integers around an offset: many exact ties and repeats.
    Integers {
        /// Added to every value.
        offset: f32,
    },
    /// Any bit pattern: NaNs, infinities, every exponent.
    Bits,
    /// A value from [`SPECIALS`] for each element.
    Specials,
    /// Huge magnitudes, 1e18 to f32::MAX, of either sign (x² overflows f32).
    Huge,
}

impl<'a> Arbitrary<'a> for Dist {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(0u8..=15)? {
            0..=6 => Dist::Uniform {
                offset: if u.ratio(1u8, 8)? {
                    f64::from(f32::arbitrary(u)?)
                } else {
                    *u.choose(&OFFSETS)?
                },
                spread: *u.choose(&SPREADS)?,
            },
            7 | 8 => Dist::Constant(if u.ratio(1u8, 4)? {
                f32::arbitrary(u)?
            } else {
                *u.choose(&SPECIALS)?
            }),
            9 => Dist::Denormal,
            10 | 11 => Dist::Integers {
                offset: *u.choose(&[0.0f32, 1.0e4, 1.0e6, -3.0e7, 1.0e18])?,
            },
            12 => Dist::Bits,
            13 => Dist::Specials,
            _ => Dist::Huge,
        })
    }
}

impl Dist {
    /// One value.
    pub fn sample(self, rng: &mut Rng) -> f32 {
        match self {
            Dist::Uniform { offset, spread } => saturate(offset + spread * rng.symmetric()),
            Dist::Constant(v) => v,
            Dist::Denormal => f32::from_bits(rng.next_u64() as u32 & 0x807F_FFFF),
            Dist::Integers { offset } => (rng.next_u64() % 16) as f32 - 8.0 + offset,
            Dist::Bits => f32::from_bits(rng.next_u64() as u32),
            Dist::Specials => SPECIALS[(rng.next_u64() % SPECIALS.len() as u64) as usize],
            Dist::Huge => {
                let exp = 18.0 + 20.5 * (rng.symmetric() + 1.0) / 2.0;
                let sign = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
                saturate(sign * 10f64.powf(exp))
            }
        }
    }
}

/// A shape whose product stays at most [`MAX_NUMEL`], from one of several size classes that
/// between them reach every kernel path: tiny tensors, planes longer than a vector and than
/// a Welford chunk, short planes, 1x1 planes, few and many (more than a super-block of)
/// channels, long channels.
pub fn shape(u: &mut Unstructured<'_>) -> Result<Shape> {
    let mut s = match u.int_in_range(0u8..=5)? {
        // Tiny: tails everywhere.
        0 | 1 => Shape::new(
            u.int_in_range(1..=4)?,
            u.int_in_range(1..=9)?,
            u.int_in_range(1..=5)?,
            u.int_in_range(1..=5)?,
        ),
        // Long planes: several vectors and Welford chunks per plane.
        2 => Shape::new(
            u.int_in_range(1..=3)?,
            u.int_in_range(1..=4)?,
            u.int_in_range(8..=48)?,
            u.int_in_range(8..=48)?,
        ),
        // Many channels, small planes (NHWC super-blocks, NCHW short planes).
        3 => Shape::new(
            u.int_in_range(1..=3)?,
            u.int_in_range(10..=600)?,
            u.int_in_range(1..=4)?,
            u.int_in_range(1..=4)?,
        ),
        // 1x1 planes with a long batch: more than a chunk per channel.
        4 => Shape::new(u.int_in_range(1..=1500)?, u.int_in_range(1..=20)?, 1, 1),
        // Few channels with many pixels: lcm(c, lanes) tiling and its leftover.
        _ => Shape::new(
            u.int_in_range(1..=8)?,
            u.int_in_range(1..=17)?,
            u.int_in_range(1..=24)?,
            u.int_in_range(1..=40)?,
        ),
    };
    while s.n * s.c * s.h * s.w > MAX_NUMEL {
        if s.w > 1 {
            s.w = s.w.div_ceil(2);
        } else if s.h > 1 {
            s.h = s.h.div_ceil(2);
        } else {
            s.n = s.n.div_ceil(2);
        }
    }
    Ok(s)
}

/// One of the two layouts.
pub fn layout(u: &mut Unstructured<'_>) -> Result<Layout> {
    Ok(if bool::arbitrary(u)? {
        Layout::Nchw
    } else {
        Layout::Nhwc
    })
}

/// One of the two methods.
pub fn method(u: &mut Unstructured<'_>) -> Result<Method> {
    Ok(if bool::arbitrary(u)? {
        Method::Welford
    } else {
        Method::TwoPass
    })
}

/// Index of element `(n, c, s)` (`s` the position in the `h*w` plane) in `layout`.
pub fn index(shape: Shape, layout: Layout, n: usize, c: usize, s: usize) -> usize {
    let plane = shape.h * shape.w;
    match layout {
        Layout::Nchw => (n * shape.c + c) * plane + s,
        Layout::Nhwc => (n * plane + s) * shape.c + c,
    }
}

/// The values of channel `c` (in `n`, then plane order).
pub fn channel(x: &[f32], shape: Shape, layout: Layout, c: usize) -> Vec<f32> {
    let plane = shape.h * shape.w;
    (0..shape.n)
        .flat_map(|n| (0..plane).map(move |s| (n, s)))
        .map(|(n, s)| x[index(shape, layout, n, c, s)])
        .collect()
}

/// A valid tensor: a shape, a layout, and `shape.numel()` values.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// The shape (every dimension at least 1).
    pub shape: Shape,
    /// The layout of `x`.
    pub layout: Layout,
    /// The values.
    pub x: Vec<f32>,
}

impl<'a> Arbitrary<'a> for Tensor {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let shape = shape(u)?;
        let layout = layout(u)?;
        let mut rng = Rng::new(u64::arbitrary(u)?);
        // One distribution per channel; once the input runs out, the rest are drawn from
        // bytes the PRNG makes, so short inputs still give varied tensors.
        let mut dists = Vec::with_capacity(shape.c);
        for _ in 0..shape.c {
            dists.push(if u.is_empty() {
                let bytes = rng.next_u64().to_le_bytes();
                Dist::arbitrary(&mut Unstructured::new(&bytes))?
            } else {
                Dist::arbitrary(u)?
            });
        }
        let plane = shape.h * shape.w;
        let mut x = vec![0.0f32; shape.n * shape.c * plane];
        for (c, dist) in dists.iter().enumerate() {
            for n in 0..shape.n {
                for s in 0..plane {
                    x[index(shape, layout, n, c, s)] = dist.sample(&mut rng);
                }
            }
        }
        // Pokes: single special values and constant runs, anywhere in the buffer.
        for _ in 0..u.int_in_range(0u8..=6)? {
            let at = u.choose_index(x.len())?;
            let v = if u.ratio(1u8, 4)? {
                f32::arbitrary(u)?
            } else {
                *u.choose(&SPECIALS)?
            };
            let run = if u.ratio(1u8, 3)? {
                u.int_in_range(1..=x.len() - at)?
            } else {
                1
            };
            x[at..at + run].fill(v);
        }
        Ok(Tensor { shape, layout, x })
    }
}

/// Per-channel parameter values: mostly typical ones (drawn by `rng` around `center` with
/// spread `spread`), with a given share (`special_rate` out of 256) of [`SPECIALS`].
pub fn params(rng: &mut Rng, c: usize, center: f64, spread: f64, special_rate: u8) -> Vec<f32> {
    (0..c)
        .map(|_| {
            if (rng.next_u64() & 0xFF) < u64::from(special_rate) {
                SPECIALS[(rng.next_u64() % SPECIALS.len() as u64) as usize]
            } else {
                saturate(center + spread * rng.symmetric())
            }
        })
        .collect()
}

/// A valid `eps` (finite, `>= 0`), from zero to huge.
pub fn eps(u: &mut Unstructured<'_>) -> Result<f32> {
    Ok(*u.choose(&[
        1.0e-5f32,
        0.0,
        1.0e-3,
        1.0e-45,
        1.0e-30,
        1.0,
        1.0e30,
        f32::MAX,
    ])?)
}

/// A valid activation: `Clamp` bounds ordered, not NaN, infinities allowed.
pub fn activation(u: &mut Unstructured<'_>) -> Result<batchnorm::Activation> {
    use batchnorm::Activation;
    Ok(match u.int_in_range(0u8..=3)? {
        0 => Activation::Identity,
        1 => Activation::Relu,
        2 => Activation::RELU6,
        _ => {
            let bounds = [
                f32::NEG_INFINITY,
                -f32::MAX,
                -6.0,
                -1.0,
                -0.0,
                0.0,
                1.0e-45,
                0.5,
                6.0,
                1.0e30,
                f32::INFINITY,
            ];
            let a = *u.choose(&bounds)?;
            let b = *u.choose(&bounds)?;
            Activation::Clamp {
                min: a.min(b),
                max: a.max(b),
            }
        }
    })
}

/// `x` (in `from`) rewritten in layout `to`.
pub fn relayout(x: &[f32], shape: Shape, from: Layout, to: Layout) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    let plane = shape.h * shape.w;
    for n in 0..shape.n {
        for c in 0..shape.c {
            for s in 0..plane {
                y[index(shape, to, n, c, s)] = x[index(shape, from, n, c, s)];
            }
        }
    }
    y
}

/// The channel of flat index `i` in `layout`.
pub fn channel_of(i: usize, shape: Shape, layout: Layout) -> usize {
    match layout {
        Layout::Nchw => (i / (shape.h * shape.w)) % shape.c,
        Layout::Nhwc => i % shape.c,
    }
}
