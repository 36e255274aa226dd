//! `Status`: the codes every exported function returns and their messages; `Fail`, a
//! refused call, with its details in C terms (`size_t`, `params->eps`, `act.clamp_max`);
//! and the guard that turns a body's result (or, with `std`, a caught panic) into a status.
//!
//! With the `std` feature the details of the last refused call are kept per thread for
//! `bn_last_error_message`. Without it (`no_std`) no details are formatted or kept: the
//! status of the last refused call is kept in one atomic, and its static message is what
//! `bn_last_error_message` returns.

use core::ffi::{CStr, c_char, c_int};

/// `bn_status` as the C functions return it: an `int`-sized enum (the header keeps it so
/// with a `BN_STATUS_MAX_ENUM = 0x7fffffff` constant, even under `-fshort-enums`).
pub type BnStatus = c_int;

/// The status codes of the C API (`bn_status` in the header). `Ok` is 0; each kind of
/// [`batchnorm::Error`] has its own code: 1 to 8, then 14 to 16 ([`Status::UnsupportedIsa`],
/// [`Status::BadChannel`] and [`Status::Indivisible`], added after the C API's own
/// refusals, 9 to 13, so no code changed).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `BN_OK`: success.
    Ok = 0,
    /// `BN_ERR_LENGTH_MISMATCH`: a buffer's length disagrees with the shape
    /// ([`batchnorm::Error::LengthMismatch`]), or is larger than any buffer can be.
    LengthMismatch = 1,
    /// `BN_ERR_SHAPE_OVERFLOW`: `n*c*h*w` overflows `size_t` ([`batchnorm::Error::ShapeOverflow`]).
    ShapeOverflow = 2,
    /// `BN_ERR_WEIGHT_OVERFLOW`: `out*per_out` overflows `size_t` ([`batchnorm::Error::WeightOverflow`]).
    WeightOverflow = 3,
    /// `BN_ERR_EMPTY_CHANNEL`: `n*h*w == 0` while `c > 0` ([`batchnorm::Error::EmptyChannel`]).
    EmptyChannel = 4,
    /// `BN_ERR_TOO_FEW_VALUES`: one value per channel where the unbiased variance needs two
    /// ([`batchnorm::Error::TooFewValues`]).
    TooFewValues = 5,
    /// `BN_ERR_MISALIGNED`: a pointer is not aligned for its element type
    /// ([`batchnorm::Error::Misaligned`]).
    Misaligned = 6,
    /// `BN_ERR_BYTE_LENGTH`: a byte length is not a whole number of floats
    /// ([`batchnorm::Error::ByteLength`]; no function of this API takes bytes today).
    ByteLength = 7,
    /// `BN_ERR_INVALID_PARAMETER`: `eps`, `momentum`, the clamp bounds or the leaky ReLU
    /// slope are out of range ([`batchnorm::Error::InvalidParameter`]).
    InvalidParameter = 8,
    /// `BN_ERR_NULL_POINTER`: a NULL pointer with a nonzero length, or a NULL struct pointer
    /// that is required.
    NullPointer = 9,
    /// `BN_ERR_OVERLAP`: an output buffer overlaps another buffer (other than `y == x`, or
    /// `dx == dy` in `bn_backward`, which mean in place).
    Overlap = 10,
    /// `BN_ERR_BAD_ENUM`: an enum argument (layout, method, activation, momentum, weight
    /// layout, bias, forward statistics) has a value outside its enum.
    BadEnum = 11,
    /// `BN_ERR_OUT_OF_MEMORY`: no room for the scratch statistics of `bn_train_forward`
    /// with `saved == NULL` (the only place the C API needs memory of its own).
    OutOfMemory = 12,
    /// `BN_ERR_INTERNAL`: a bug: a panic was caught at the boundary (`std` builds), or the
    /// Rust library returned an error kind this version of the C API does not know.
    Internal = 13,
    /// `BN_ERR_UNSUPPORTED_ISA`: an instruction-set level this CPU does not run
    /// ([`batchnorm::Error::UnsupportedIsa`]; no function of this API takes a level today,
    /// so none returns it).
    UnsupportedIsa = 14,
    /// `BN_ERR_BAD_CHANNEL`: a channel's parameters are unusable: not finite, or
    /// `var + eps <= 0` ([`batchnorm::Error::BadChannel`], from `bn_prepare`).
    BadChannel = 15,
    /// `BN_ERR_INDIVISIBLE`: a size is not a multiple of what its layout divides it by, or
    /// that divisor is 0 ([`batchnorm::Error::Indivisible`], from `bn_fold_into_weights`
    /// with `BN_WEIGHTS_TRANSPOSED`: `shape.out` by `shape.groups`, `shape.per_out` by
    /// `shape.kernel`).
    Indivisible = 16,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 17] = [
        Status::Ok,
        Status::LengthMismatch,
        Status::ShapeOverflow,
        Status::WeightOverflow,
        Status::EmptyChannel,
        Status::TooFewValues,
        Status::Misaligned,
        Status::ByteLength,
        Status::InvalidParameter,
        Status::NullPointer,
        Status::Overlap,
        Status::BadEnum,
        Status::OutOfMemory,
        Status::Internal,
        Status::UnsupportedIsa,
        Status::BadChannel,
        Status::Indivisible,
    ];

    /// The status with code `code`, if any.
    pub fn from_code(code: c_int) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as c_int == code)
    }

    /// The C name, e.g. `"BN_ERR_OVERLAP"`.
    pub const fn c_name(self) -> &'static str {
        match self {
            Status::Ok => "BN_OK",
            Status::LengthMismatch => "BN_ERR_LENGTH_MISMATCH",
            Status::ShapeOverflow => "BN_ERR_SHAPE_OVERFLOW",
            Status::WeightOverflow => "BN_ERR_WEIGHT_OVERFLOW",
            Status::EmptyChannel => "BN_ERR_EMPTY_CHANNEL",
            Status::TooFewValues => "BN_ERR_TOO_FEW_VALUES",
            Status::Misaligned => "BN_ERR_MISALIGNED",
            Status::ByteLength => "BN_ERR_BYTE_LENGTH",
            Status::InvalidParameter => "BN_ERR_INVALID_PARAMETER",
            Status::NullPointer => "BN_ERR_NULL_POINTER",
            Status::Overlap => "BN_ERR_OVERLAP",
            Status::BadEnum => "BN_ERR_BAD_ENUM",
            Status::OutOfMemory => "BN_ERR_OUT_OF_MEMORY",
            Status::Internal => "BN_ERR_INTERNAL",
            Status::UnsupportedIsa => "BN_ERR_UNSUPPORTED_ISA",
            Status::BadChannel => "BN_ERR_BAD_CHANNEL",
            Status::Indivisible => "BN_ERR_INDIVISIBLE",
        }
    }

    /// A one-line description, the text `bn_status_message` returns.
    pub const fn message(self) -> &'static CStr {
        match self {
            Status::Ok => c"ok",
            Status::LengthMismatch => c"a buffer's length disagrees with the shape",
            Status::ShapeOverflow => c"the shape's element count overflows size_t",
            Status::WeightOverflow => c"the weight tensor's element count overflows size_t",
            Status::EmptyChannel => c"every channel is empty (n*h*w == 0 with c > 0)",
            Status::TooFewValues => {
                c"too few values per channel (the unbiased variance needs at least 2)"
            }
            Status::Misaligned => c"a pointer is not aligned for its element type",
            Status::ByteLength => c"a byte length is not a whole number of floats",
            Status::InvalidParameter => {
                c"a scalar parameter (eps, momentum, clamp bounds, slope) is out of range"
            }
            Status::NullPointer => c"a required pointer is NULL",
            Status::Overlap => {
                c"an output buffer overlaps another buffer (other than y == x or dx == dy)"
            }
            Status::BadEnum => c"an enum argument is out of range",
            Status::OutOfMemory => c"out of memory (scratch for bn_train_forward without saved)",
            Status::Internal => c"internal error (a bug in batchnorm)",
            Status::UnsupportedIsa => c"the requested instruction set does not run on this CPU",
            Status::BadChannel => {
                c"a channel's parameters are unusable (not finite, or var + eps <= 0)"
            }
            Status::Indivisible => {
                c"a size is not a multiple of its divisor (e.g. out of groups), or a divisor is 0"
            }
        }
    }
}

/// The details of a refused call: formatted with `std`, nothing without it.
#[cfg(feature = "std")]
pub(crate) type Detail = String;
/// The details of a refused call: formatted with `std`, nothing without it.
#[cfg(not(feature = "std"))]
pub(crate) type Detail = ();

/// A refused call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fail {
    /// Refused by the batchnorm crate; [`guard`] words its message in C terms.
    Lib(batchnorm::Error),
    /// Refused by the C layer (pointers, lengths, enum values), with a message already in
    /// C terms (built by [`fail!`]).
    Capi {
        /// The status code.
        status: Status,
        /// Names the argument and the numbers (`std` builds only).
        detail: Detail,
    },
}

/// `Fail::Capi` with `status` and a `format!`-style message; without `std` the message is
/// neither formatted nor kept.
macro_rules! fail {
    ($status:expr, $($arg:tt)+) => {
        $crate::status::Fail::Capi { status: $status, detail: $crate::status::detail!($($arg)+) }
    };
}

#[cfg(feature = "std")]
macro_rules! detail {
    ($($arg:tt)+) => {
        ::std::format!($($arg)+)
    };
}

#[cfg(not(feature = "std"))]
macro_rules! detail {
    ($($arg:tt)+) => {{
        let _ = ::core::format_args!($($arg)+);
    }};
}

pub(crate) use {detail, fail};

impl Fail {
    /// The status code of the refusal.
    pub(crate) fn status(&self) -> Status {
        use batchnorm::Error as E;
        match self {
            Fail::Capi { status, .. } => *status,
            Fail::Lib(e) => match e {
                E::LengthMismatch { .. } => Status::LengthMismatch,
                E::ShapeOverflow { .. } => Status::ShapeOverflow,
                E::WeightOverflow { .. } => Status::WeightOverflow,
                E::EmptyChannel { .. } => Status::EmptyChannel,
                E::TooFewValues { .. } => Status::TooFewValues,
                E::Misaligned { .. } => Status::Misaligned,
                E::ByteLength { .. } => Status::ByteLength,
                E::InvalidParameter { .. } => Status::InvalidParameter,
                E::BadChannel { .. } => Status::BadChannel,
                E::UnsupportedIsa { .. } => Status::UnsupportedIsa,
                E::Indivisible { .. } => Status::Indivisible,
                // `Error` is non-exhaustive: a kind added later maps here until it gets a code.
                _ => Status::Internal,
            },
        }
    }

    /// The message for `bn_last_error_message`, in C terms: the library's argument names
    /// through `names`, `size_t` and `float` for `usize` and `f32`.
    #[cfg(feature = "std")]
    pub(crate) fn message(&self, names: &Names) -> String {
        match self {
            Fail::Capi { detail, .. } => detail.clone(),
            Fail::Lib(e) => c_message(e, names),
        }
    }
}

impl From<batchnorm::Error> for Fail {
    fn from(e: batchnorm::Error) -> Fail {
        Fail::Lib(e)
    }
}

/// How one exported function spells the batchnorm crate's argument names in C, as pairs
/// `(Rust name, C expression)`: e.g. `("eps", "params->eps")`,
/// `("Clamp.max", "act.clamp_max")`. A name not listed is the same in C (`x`, `y`). A
/// buffer's length is its C name followed by `_len` (`params->mean_len`).
pub(crate) type Names = [(&'static str, &'static str)];

/// `rust` as `names` spells it in C.
#[cfg(feature = "std")]
fn c_name<'a>(names: &'a Names, rust: &'a str) -> &'a str {
    names
        .iter()
        .find(|(r, _)| *r == rust)
        .map_or(rust, |(_, c)| c)
}

/// The library's error as a C programmer reads it: the C names of the arguments, `size_t`
/// and `float` instead of `usize` and `f32`, the shape's fields as `shape.n` etc.
#[cfg(feature = "std")]
fn c_message(e: &batchnorm::Error, names: &Names) -> String {
    use batchnorm::Error as E;
    match *e {
        E::LengthMismatch {
            buffer,
            expected,
            actual,
        } => format!(
            "`{}_len` is {actual} but the shape needs {expected}",
            c_name(names, buffer)
        ),
        E::ShapeOverflow { n, c, h, w } => {
            format!("shape {{n = {n}, c = {c}, h = {h}, w = {w}}}: n*c*h*w overflows size_t")
        }
        E::WeightOverflow { out, per_out } => {
            format!("out*per_out = {out}*{per_out} overflows size_t")
        }
        E::EmptyChannel { n, h, w } => format!(
            "every channel is empty: shape.n*shape.h*shape.w = {n}*{h}*{w} = 0 values per channel"
        ),
        E::TooFewValues { count, needed } => format!(
            "{count} value(s) per channel (shape.n*shape.h*shape.w), at least {needed} needed \
             for the unbiased variance of the running update"
        ),
        E::Misaligned { address, align } => {
            format!("byte buffer at address {address:#x} is not aligned to {align} bytes for float")
        }
        E::ByteLength { len } => {
            format!("byte buffer of {len} bytes is not a whole number of floats")
        }
        E::InvalidParameter {
            name,
            value,
            expected,
        } => {
            // The accepted range may name another parameter (`>= Clamp.min`).
            let mut expected = expected.to_string();
            for (rust, c) in names.iter().filter(|(r, _)| r.contains('.')) {
                expected = expected.replace(rust, c);
            }
            format!(
                "`{}` = {value} but it must be {expected}",
                c_name(names, name)
            )
        }
        E::BadChannel {
            channel,
            name,
            value,
            expected,
        } => format!(
            "channel {channel}: `{}[{channel}]` = {value} but it must be {expected}",
            c_name(names, name)
        ),
        E::UnsupportedIsa { requested, best } => {
            format!("instruction set `{requested}` does not run on this CPU (best: `{best}`)")
        }
        E::Indivisible {
            divisor_name,
            divisor: 0,
            ..
        } => format!("`{}` = 0 but it must be >= 1", c_name(names, divisor_name)),
        E::Indivisible {
            name,
            value,
            divisor_name,
            divisor,
        } => format!(
            "`{}` = {value} is not a multiple of `{}` = {divisor}",
            c_name(names, name),
            c_name(names, divisor_name)
        ),
        _ => e
            .to_string()
            .replace("usize", "size_t")
            .replace("f32", "float"),
    }
}

#[cfg(feature = "std")]
std::thread_local! {
    /// The details of the last refused call on this thread.
    static LAST_ERROR: core::cell::RefCell<std::ffi::CString> =
        core::cell::RefCell::new(std::ffi::CString::default());
}

/// The status of the last refused call in the process (`BN_OK`: none yet).
#[cfg(not(feature = "std"))]
static LAST_STATUS: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(0);

/// For `bn_last_error_message`: with `std`, the details of the last refused call on this
/// thread (`""` if none), valid until the next refused call on this thread; without `std`,
/// the static message of the last refused call's status, any thread (`""` if none).
pub(crate) fn last_error() -> *const c_char {
    #[cfg(feature = "std")]
    {
        LAST_ERROR
            .try_with(|s| s.borrow().as_ptr())
            .unwrap_or(c"".as_ptr())
    }
    #[cfg(not(feature = "std"))]
    {
        let code = LAST_STATUS.load(core::sync::atomic::Ordering::Relaxed);
        match Status::from_code(code) {
            Some(Status::Ok) | None => c"".as_ptr(),
            Some(s) => s.message().as_ptr(),
        }
    }
}

/// Records a refusal for [`last_error`].
fn record(fail: &Fail, names: &Names) {
    #[cfg(feature = "std")]
    {
        // Formatting cannot panic here, but stay inside the guard's promise anyway.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let text = fail.message(names).replace('\0', " ");
            let text = std::ffi::CString::new(text).unwrap_or_default();
            let _ = LAST_ERROR.try_with(|s| {
                if let Ok(mut s) = s.try_borrow_mut() {
                    *s = text;
                }
            });
        }));
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = names;
        LAST_STATUS.store(
            fail.status() as c_int,
            core::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// Runs an exported function's body: `BN_OK`, or the status of its refusal (recording
/// the details, with the library's names spelled as `names` says). With `std` a panic (a
/// bug) becomes `BN_ERR_INTERNAL` and no panic crosses the C boundary; without `std` there
/// is no unwinding (the kernels do not panic; a `no_std` build aborts or loops in its
/// panic handler if one ever did).
pub(crate) fn guard(names: &Names, body: impl FnOnce() -> Result<(), Fail>) -> BnStatus {
    #[cfg(feature = "std")]
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(_) => Err(fail!(
            Status::Internal,
            "a panic was caught at the C boundary (a bug in batchnorm)"
        )),
    };
    #[cfg(not(feature = "std"))]
    let result = body();
    match result {
        Ok(()) => Status::Ok as c_int,
        Err(fail) => {
            record(&fail, names);
            fail.status() as c_int
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    fn last() -> String {
        LAST_ERROR.with(|s| s.borrow().to_string_lossy().into_owned())
    }

    #[test]
    fn guard_returns_the_status_and_records_the_detail() {
        assert_eq!(guard(&[], || Ok(())), 0);
        let code = guard(&[], || Err(fail!(Status::Overlap, "`y` overlaps `x`")));
        assert_eq!(Status::from_code(code), Some(Status::Overlap));
        assert_eq!(last(), "`y` overlaps `x`");
        // A success leaves the detail alone.
        assert_eq!(guard(&[], || Ok(())), 0);
        assert_eq!(last(), "`y` overlaps `x`");
    }

    // With panic = "abort" (wasm32-wasip1's default) a panic cannot be caught: nothing to test.
    #[cfg(panic = "unwind")]
    #[test]
    fn a_panic_becomes_internal() {
        let code = guard(&[], || panic!("a bug"));
        assert_eq!(Status::from_code(code), Some(Status::Internal));
        assert!(last().contains("panic"));
    }

    #[test]
    fn every_error_kind_has_its_code_and_a_message_in_c_terms() {
        use batchnorm::Error as E;
        let names: &Names = &[
            ("mean", "params->mean"),
            ("var", "params->var"),
            ("eps", "params->eps"),
            ("out", "shape.out"),
            ("Transposed.groups", "shape.groups"),
            ("Clamp.min", "act.clamp_min"),
            ("Clamp.max", "act.clamp_max"),
        ];
        let cases = [
            (
                E::LengthMismatch {
                    buffer: "mean",
                    expected: 2,
                    actual: 1,
                },
                Status::LengthMismatch,
                "`params->mean_len` is 1 but the shape needs 2",
            ),
            (
                E::ShapeOverflow {
                    n: 1,
                    c: 2,
                    h: 3,
                    w: 4,
                },
                Status::ShapeOverflow,
                "shape {n = 1, c = 2, h = 3, w = 4}: n*c*h*w overflows size_t",
            ),
            (
                E::WeightOverflow { out: 1, per_out: 1 },
                Status::WeightOverflow,
                "out*per_out = 1*1 overflows size_t",
            ),
            (
                E::EmptyChannel { n: 0, h: 1, w: 1 },
                Status::EmptyChannel,
                "every channel is empty: shape.n*shape.h*shape.w = 0*1*1 = 0 values per channel",
            ),
            (
                E::TooFewValues {
                    count: 1,
                    needed: 2,
                },
                Status::TooFewValues,
                "1 value(s) per channel (shape.n*shape.h*shape.w), at least 2 needed for the \
                 unbiased variance of the running update",
            ),
            (
                E::Misaligned {
                    address: 1,
                    align: 4,
                },
                Status::Misaligned,
                "byte buffer at address 0x1 is not aligned to 4 bytes for float",
            ),
            (
                E::ByteLength { len: 3 },
                Status::ByteLength,
                "byte buffer of 3 bytes is not a whole number of floats",
            ),
            (
                E::InvalidParameter {
                    name: "eps",
                    value: -1.0,
                    expected: "finite and >= 0",
                },
                Status::InvalidParameter,
                "`params->eps` = -1 but it must be finite and >= 0",
            ),
            (
                E::InvalidParameter {
                    name: "Clamp.max",
                    value: 0.0,
                    expected: "not NaN and >= Clamp.min",
                },
                Status::InvalidParameter,
                "`act.clamp_max` = 0 but it must be not NaN and >= act.clamp_min",
            ),
            (
                E::BadChannel {
                    channel: 3,
                    name: "var",
                    value: -1.0,
                    expected: "finite, with var + eps > 0",
                },
                Status::BadChannel,
                "channel 3: `params->var[3]` = -1 but it must be finite, with var + eps > 0",
            ),
            (
                E::UnsupportedIsa {
                    requested: batchnorm::Isa::Avx512,
                    best: batchnorm::Isa::Portable,
                },
                Status::UnsupportedIsa,
                "instruction set `avx512` does not run on this CPU (best: `portable`)",
            ),
            (
                E::Indivisible {
                    name: "out",
                    value: 6,
                    divisor_name: "Transposed.groups",
                    divisor: 4,
                },
                Status::Indivisible,
                "`shape.out` = 6 is not a multiple of `shape.groups` = 4",
            ),
            (
                E::Indivisible {
                    name: "out",
                    value: 6,
                    divisor_name: "Transposed.groups",
                    divisor: 0,
                },
                Status::Indivisible,
                "`shape.groups` = 0 but it must be >= 1",
            ),
        ];
        for (e, want, message) in cases {
            let fail = Fail::from(e);
            assert_eq!(fail.status(), want);
            assert_eq!(fail.message(names), message);
            for rust_word in ["usize", "f32", "Clamp", "LeakyRelu", "Transposed"] {
                assert!(!fail.message(names).contains(rust_word), "{message}");
            }
        }
        // The error Kernels::new gives on this CPU, if any level is unsupported here.
        for isa in batchnorm::Isa::ALL {
            if let Err(e) = batchnorm::Kernels::new(isa) {
                assert_eq!(Fail::from(e).status(), Status::UnsupportedIsa, "{isa}");
            }
        }
    }
}

/// The `no_std` build on the host (`cargo test -p batchnorm-capi --no-default-features
/// --lib`): no details, the last refused status's static message instead.
#[cfg(all(test, not(feature = "std")))]
mod no_std_tests {
    use super::*;

    fn last() -> &'static CStr {
        // SAFETY: `last_error` returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(last_error()) }
    }

    #[test]
    fn the_last_refused_status_gives_the_message() {
        assert_eq!(guard(&[], || Ok(())), 0);
        let code = guard(&[], || Err(fail!(Status::Overlap, "`y` overlaps `x`")));
        assert_eq!(Status::from_code(code), Some(Status::Overlap));
        assert_eq!(last(), Status::Overlap.message());
        assert_eq!(guard(&[], || Ok(())), 0);
        assert_eq!(last(), Status::Overlap.message());
        let e = batchnorm::Error::ByteLength { len: 3 };
        assert_eq!(guard(&[], || Err(e.into())), Status::ByteLength as c_int);
        assert_eq!(last(), Status::ByteLength.message());
    }
}
