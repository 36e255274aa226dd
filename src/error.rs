//! `Error`: every way a call can be refused, with the argument and the numbers involved.

use crate::simd::Isa;
use core::fmt;

/// Why a call was refused. Every public function that can fail returns this, after
/// checking all of its arguments and before writing to any output buffer: on `Err`,
/// outputs are untouched.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A buffer's length disagrees with the shape.
    LengthMismatch {
        /// The argument's name, e.g. `"x"`, `"mean"`, `"acc"`.
        buffer: &'static str,
        /// The length the shape calls for.
        expected: usize,
        /// The length that was passed.
        actual: usize,
    },
    /// `n * c * h * w` (or another product of dimensions) does not fit in `usize`.
    ShapeOverflow {
        /// Batch size.
        n: usize,
        /// Channels.
        c: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
    /// A weight tensor's size `out * per_out` does not fit in `usize`.
    WeightOverflow {
        /// Output channels.
        out: usize,
        /// Weights per output channel.
        per_out: usize,
    },
    /// A size is not a multiple of what its layout divides it by (e.g. a transposed
    /// convolution's output channels by its groups), or that divisor is 0.
    Indivisible {
        /// The size's name, e.g. `"out"`, `"per_out"`.
        name: &'static str,
        /// Its value.
        value: usize,
        /// The divisor's name, e.g. `"Transposed.groups"`.
        divisor_name: &'static str,
        /// The divisor's value (0 is never accepted).
        divisor: usize,
    },
    /// A channel has no values (`n * h * w == 0` while `c > 0`): its statistics are undefined.
    EmptyChannel {
        /// Batch size.
        n: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
    /// Fewer values per channel than the requested statistic needs (the unbiased
    /// variance needs at least 2).
    TooFewValues {
        /// Values per channel, `n * h * w`.
        count: usize,
        /// The least count that works.
        needed: usize,
    },
    /// A byte buffer viewed as `f32` does not start at a 4-byte boundary.
    Misaligned {
        /// The buffer's address.
        address: usize,
        /// The alignment `f32` needs.
        align: usize,
    },
    /// A byte buffer viewed as `f32` has a length that is not a multiple of 4.
    ByteLength {
        /// The length in bytes.
        len: usize,
    },
    /// A scalar parameter is outside the range it must lie in (NaN included).
    InvalidParameter {
        /// The parameter's name, e.g. `"eps"`, `"momentum"`.
        name: &'static str,
        /// The value that was passed.
        value: f32,
        /// The accepted range, in words, e.g. `"finite and >= 0"`.
        expected: &'static str,
    },
    /// One channel's parameters are unusable ([`crate::prepare`]): a value that is not
    /// finite, or a variance with `var + eps <= 0`.
    BadChannel {
        /// The channel's index.
        channel: usize,
        /// The parameter's name: `"mean"`, `"var"`, `"gamma"` or `"beta"`.
        name: &'static str,
        /// The channel's value of that parameter.
        value: f32,
        /// The accepted range, in words, e.g. `"finite"`.
        expected: &'static str,
    },
    /// Strided rows ([`crate::normalize_strided`], [`crate::batch_stats_strided`], …)
    /// whose starts are closer together than a row is long: `stride < c`.
    StrideTooSmall {
        /// The argument's name, `"x_stride"` or `"y_stride"`.
        name: &'static str,
        /// The stride that was passed, in values.
        stride: usize,
        /// Channels: the least stride that works.
        c: usize,
    },
    /// A buffer of strided rows shorter than its rows span: `(pixels - 1) * stride + c`
    /// values are needed (nothing for zero pixels).
    BufferTooShort {
        /// The argument's name, `"x"` or `"y"`.
        buffer: &'static str,
        /// The length the rows span.
        needed: usize,
        /// The length that was passed.
        actual: usize,
    },
    /// The span of strided rows, `(pixels - 1) * stride + c`, does not fit in `usize`.
    StrideOverflow {
        /// The stride's name, `"x_stride"` or `"y_stride"`.
        name: &'static str,
        /// Pixels (rows), `n * h * w`.
        pixels: usize,
        /// The stride, in values.
        stride: usize,
        /// Channels.
        c: usize,
    },
    /// The instruction-set level asked of [`crate::Kernels::new`] does not run on this CPU.
    UnsupportedIsa {
        /// The level asked for.
        requested: Isa,
        /// The best level this CPU runs ([`Isa::detected`]).
        best: Isa,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::LengthMismatch {
                buffer,
                expected,
                actual,
            } => write!(
                f,
                "`{buffer}` has {actual} elements but the shape needs {expected}"
            ),
            Error::ShapeOverflow { n, c, h, w } => write!(
                f,
                "shape n={n} c={c} h={h} w={w}: element count overflows usize"
            ),
            Error::WeightOverflow { out, per_out } => write!(
                f,
                "weights out={out} x per_out={per_out}: element count overflows usize"
            ),
            Error::Indivisible {
                divisor_name,
                divisor: 0,
                ..
            } => write!(f, "`{divisor_name}` = 0 but it must be >= 1"),
            Error::Indivisible {
                name,
                value,
                divisor_name,
                divisor,
            } => write!(
                f,
                "`{name}` = {value} is not a multiple of `{divisor_name}` = {divisor}"
            ),
            Error::EmptyChannel { n, h, w } => write!(
                f,
                "every channel is empty: n*h*w = {n}*{h}*{w} = 0 values per channel"
            ),
            Error::TooFewValues { count, needed } => write!(
                f,
                "{count} values per channel, at least {needed} needed (unbiased variance)"
            ),
            Error::Misaligned { address, align } => write!(
                f,
                "byte buffer at address {address:#x} is not aligned to {align} bytes for f32"
            ),
            Error::ByteLength { len } => {
                write!(
                    f,
                    "byte buffer of {len} bytes is not a whole number of f32s"
                )
            }
            Error::InvalidParameter {
                name,
                value,
                expected,
            } => write!(f, "`{name}` = {value} but it must be {expected}"),
            Error::BadChannel {
                channel,
                name,
                value,
                expected,
            } => write!(
                f,
                "channel {channel}: `{name}` = {value} but it must be {expected}"
            ),
            Error::StrideTooSmall { name, stride, c } => write!(
                f,
                "`{name}` = {stride} but rows of {c} channels need a stride of at least {c}"
            ),
            Error::BufferTooShort {
                buffer,
                needed,
                actual,
            } => write!(
                f,
                "`{buffer}` has {actual} elements but its strided rows span {needed}"
            ),
            Error::StrideOverflow {
                name,
                pixels,
                stride,
                c,
            } => write!(
                f,
                "{pixels} rows `{name}` = {stride} apart, {c} channels: \
                 (pixels - 1) * stride + c overflows usize"
            ),
            Error::UnsupportedIsa { requested, best } => write!(
                f,
                "instruction set `{requested}` does not run on this CPU (best: `{best}`)"
            ),
        }
    }
}

impl core::error::Error for Error {}
