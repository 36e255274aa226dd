//! The C enums (layout, method, activation kind, momentum convention, weight layout,
//! bias, instruction-set level, forward statistics) as `c_int` type aliases and constants with fixed values,
//! and their checked conversion to and from the Rust types: a value outside its enum is
//! `BN_ERR_BAD_ENUM` (or `"unknown"` for `bn_isa_name`), never undefined behavior.
//!
//! The header declares each as a `typedef enum` (so C++ refuses, and C with
//! `-Wall -Wextra` warns about, one enum passed for another); C gives an enum the size of
//! `int` (the header adds a `BN_..._MAX_ENUM = 0x7fffffff` constant to each so that holds
//! under `-fshort-enums` too, the default of `arm-none-eabi-gcc`), so Rust receives it as
//! `c_int` (e.g. [`BnLayout`]) and checks the value; a Rust `enum` would make an
//! out-of-range value undefined behavior. Each table (e.g. [`LAYOUT`]) pairs the C enum's
//! name with its constants; [`C_ENUMS`] lists them.

use crate::status::{Fail, Status, fail};
use crate::types::BnActivation;
use batchnorm::{Activation, ForwardStats, Isa, Layout, Method, Momentum, WeightLayout};
use core::ffi::c_int;

/// Defines each type alias, constant and table `(C enum name, [(constant name, value)])`.
macro_rules! c_enums {
    ($($(#[$doc:meta])* $table:ident: $alias:ident = $cname:literal { $($(#[$vdoc:meta])* $name:ident = $v:literal,)* })*) => {
        $($(#[$doc])* pub type $alias = c_int;
        $( $(#[$vdoc])* pub const $name: $alias = $v; )*
        #[doc = concat!("`", $cname, "`: its name and constants.")]
        pub const $table: (&str, &[(&str, c_int)]) = ($cname, &[$((stringify!($name), $v)),*]);)*
    };
}

c_enums! {
    /// `bn_layout`: how a tensor's values are ordered.
    LAYOUT: BnLayout = "bn_layout" {
        /// Planar: `((n*C + c)*H + h)*W + w`.
        BN_LAYOUT_NCHW = 0,
        /// Interleaved ("channels last"): `((n*H + h)*W + w)*C + c`.
        BN_LAYOUT_NHWC = 1,
    }
    /// `bn_method`: how statistics are computed.
    METHOD: BnMethod = "bn_method" {
        /// Single-pass Welford.
        BN_METHOD_WELFORD = 0,
        /// Two passes, the most accurate.
        BN_METHOD_TWO_PASS = 1,
    }
    /// `bn_activation_kind`: the activation fused into normalize (the `kind` of a
    /// `bn_activation`).
    ACTIVATION_KIND: BnActivationKind = "bn_activation_kind" {
        /// `y` as is.
        BN_ACTIVATION_IDENTITY = 0,
        /// `max(y, 0)`.
        BN_ACTIVATION_RELU = 1,
        /// `y` limited to `[clamp_min, clamp_max]` (ReLU6: 0 and 6).
        BN_ACTIVATION_CLAMP = 2,
        /// Hard swish, `y * min(max(y + 3, 0), 6) / 6`.
        BN_ACTIVATION_HARDSWISH = 3,
        /// SiLU (swish), `y / (1 + exp(-y))`.
        BN_ACTIVATION_SILU = 4,
        /// Leaky ReLU: `y >= 0 ? y : slope * y`.
        BN_ACTIVATION_LEAKY_RELU = 5,
    }
    /// `bn_momentum`: the running-statistics convention.
    MOMENTUM: BnMomentum = "bn_momentum" {
        /// `running = (1-m)*running + m*batch`, unbiased batch variance.
        BN_MOMENTUM_PYTORCH = 0,
        /// `running = m*running + (1-m)*batch`, biased batch variance.
        BN_MOMENTUM_ONNX = 1,
        /// Cumulative average (PyTorch's `momentum=None`), unbiased batch variance.
        BN_MOMENTUM_CUMULATIVE = 2,
    }
    /// `bn_weight_layout`: where the output channel sits in a weight tensor.
    WEIGHT_LAYOUT: BnWeightLayout = "bn_weight_layout" {
        /// Output channel outermost: OIHW convolution, `[out, in]` linear.
        BN_WEIGHTS_OUT_FIRST = 0,
        /// Output channel innermost: HWIO convolution, `[kh, kw, out]` depthwise, `[in, out]` linear.
        BN_WEIGHTS_OUT_LAST = 1,
        /// Transposed convolution (ConvTranspose) weights `[in, out / groups, kh, kw]`
        /// (PyTorch, ONNX: IOHW), with the weight shape's `groups` and `kernel`.
        BN_WEIGHTS_TRANSPOSED = 2,
    }
    /// `bn_bias`: whether the folded layer has a bias.
    BIAS: BnBias = "bn_bias" {
        /// The layer has no bias: the folded bias is written to the bias buffer.
        BN_BIAS_ZEROS = 0,
        /// The layer has a bias: it is rewritten in place.
        BN_BIAS_IN_PLACE = 1,
    }
    /// `bn_isa`: the instruction-set levels of [`batchnorm::Isa`], in the order of
    /// [`Isa::ALL`].
    ISA: BnIsa = "bn_isa" {
        /// [`Isa::Portable`]: portable SIMD (SSE2 on x86-64, NEON on aarch64, scalar elsewhere).
        BN_ISA_PORTABLE = 0,
        /// [`Isa::Avx2`]: x86-64 AVX2 with FMA.
        BN_ISA_AVX2 = 1,
        /// [`Isa::Avx512`]: x86-64 AVX-512F and AVX-512DQ (with AVX2 and FMA).
        BN_ISA_AVX512 = 2,
    }
    /// `bn_forward_stats`: which statistics the forward normalized with
    /// ([`batchnorm::ForwardStats`]).
    FORWARD_STATS: BnForwardStats = "bn_forward_stats" {
        /// Batch statistics (training mode): the gradient also flows through them.
        BN_FORWARD_STATS_BATCH = 0,
        /// Fixed running statistics (eval mode, frozen batch normalization).
        BN_FORWARD_STATS_RUNNING = 1,
    }
}

/// Every C enum of the header but `bn_status` (see [`crate::Status::ALL`]).
pub const C_ENUMS: [(&str, &[(&str, c_int)]); 8] = [
    LAYOUT,
    METHOD,
    ACTIVATION_KIND,
    MOMENTUM,
    WEIGHT_LAYOUT,
    BIAS,
    ISA,
    FORWARD_STATS,
];

fn bad(arg: &str, value: c_int, table: (&str, &[(&str, c_int)])) -> Fail {
    let (name, values) = table;
    let first = values.first().map_or(0, |v| v.1);
    let last = values.last().map_or(0, |v| v.1);
    fail!(
        Status::BadEnum,
        "`{arg}` = {value} is not a {name} value ({first}..={last})"
    )
}

pub(crate) fn layout(v: BnLayout) -> Result<Layout, Fail> {
    match v {
        BN_LAYOUT_NCHW => Ok(Layout::Nchw),
        BN_LAYOUT_NHWC => Ok(Layout::Nhwc),
        _ => Err(bad("layout", v, LAYOUT)),
    }
}

/// The method; `arg` is the argument's C name (`method`, `params->method`).
pub(crate) fn method(v: BnMethod, arg: &str) -> Result<Method, Fail> {
    match v {
        BN_METHOD_WELFORD => Ok(Method::Welford),
        BN_METHOD_TWO_PASS => Ok(Method::TwoPass),
        _ => Err(bad(arg, v, METHOD)),
    }
}

/// The activation of `a.kind` with the parameters it uses (the others are ignored); the
/// bounds and the slope are checked by the library. `arg` is the struct's C name (`act`,
/// `params->act`).
pub(crate) fn activation(a: BnActivation, arg: &str) -> Result<Activation, Fail> {
    match a.kind {
        BN_ACTIVATION_IDENTITY => Ok(Activation::Identity),
        BN_ACTIVATION_RELU => Ok(Activation::Relu),
        BN_ACTIVATION_CLAMP => Ok(Activation::Clamp {
            min: a.clamp_min,
            max: a.clamp_max,
        }),
        BN_ACTIVATION_HARDSWISH => Ok(Activation::HardSwish),
        BN_ACTIVATION_SILU => Ok(Activation::Silu),
        BN_ACTIVATION_LEAKY_RELU => Ok(Activation::LeakyRelu { slope: a.slope }),
        _ => Err(bad_kind(arg, a.kind)),
    }
}

#[cfg(feature = "std")]
fn bad_kind(arg: &str, v: c_int) -> Fail {
    bad(&format!("{arg}.kind"), v, ACTIVATION_KIND)
}

#[cfg(not(feature = "std"))]
fn bad_kind(arg: &str, v: c_int) -> Fail {
    bad(arg, v, ACTIVATION_KIND)
}

/// The momentum convention; the momentum's range is checked by the library.
pub(crate) fn momentum(v: BnMomentum, m: f32, prior_batches: u64) -> Result<Momentum, Fail> {
    match v {
        BN_MOMENTUM_PYTORCH => Ok(Momentum::PyTorch(m)),
        BN_MOMENTUM_ONNX => Ok(Momentum::Onnx(m)),
        BN_MOMENTUM_CUMULATIVE => Ok(Momentum::Cumulative { prior_batches }),
        _ => Err(bad("running->momentum_kind", v, MOMENTUM)),
    }
}

/// The weight layout of `v`; `groups` and `kernel` are read for `BN_WEIGHTS_TRANSPOSED`
/// only (checked by the library), ignored otherwise.
pub(crate) fn weight_layout(
    v: BnWeightLayout,
    groups: usize,
    kernel: usize,
) -> Result<WeightLayout, Fail> {
    match v {
        BN_WEIGHTS_OUT_FIRST => Ok(WeightLayout::OutFirst),
        BN_WEIGHTS_OUT_LAST => Ok(WeightLayout::OutLast),
        BN_WEIGHTS_TRANSPOSED => Ok(WeightLayout::Transposed { groups, kernel }),
        _ => Err(bad("shape.layout", v, WEIGHT_LAYOUT)),
    }
}

/// Which statistics the forward used (`stats`).
pub(crate) fn forward_stats(v: BnForwardStats) -> Result<ForwardStats, Fail> {
    match v {
        BN_FORWARD_STATS_BATCH => Ok(ForwardStats::Batch),
        BN_FORWARD_STATS_RUNNING => Ok(ForwardStats::Running),
        _ => Err(bad("stats", v, FORWARD_STATS)),
    }
}

/// Whether the layer has a bias (`BN_BIAS_IN_PLACE`).
pub(crate) fn bias_present(v: BnBias) -> Result<bool, Fail> {
    match v {
        BN_BIAS_ZEROS => Ok(false),
        BN_BIAS_IN_PLACE => Ok(true),
        _ => Err(bad("bias_kind", v, BIAS)),
    }
}

/// The `bn_isa` value of `isa`; -1 for a level this C API has no constant for (`Isa` is
/// `#[non_exhaustive]`; `tests/header.rs` checks that every level in [`Isa::ALL`] has one).
pub fn isa_code(isa: Isa) -> BnIsa {
    match isa {
        Isa::Portable => BN_ISA_PORTABLE,
        Isa::Avx2 => BN_ISA_AVX2,
        Isa::Avx512 => BN_ISA_AVX512,
        _ => -1,
    }
}

/// The level whose `bn_isa` value is `v`; `None` for any other value.
pub fn isa_from_code(v: BnIsa) -> Option<Isa> {
    match v {
        BN_ISA_PORTABLE => Some(Isa::Portable),
        BN_ISA_AVX2 => Some(Isa::Avx2),
        BN_ISA_AVX512 => Some(Isa::Avx512),
        _ => None,
    }
}
