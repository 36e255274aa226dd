//! `Status`: the codes every exported function returns, their messages, and the
//! catch-all guard that turns a Rust result (or a caught panic) into one.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The status codes of the C API (`bn_status` in the header). `Ok` is 0; each kind of
/// [`batchnorm::Error`] has its own code: 1 to 8, then 14 ([`Status::UnsupportedIsa`],
/// added after the C API's own refusals, 9 to 13, so no code changed).
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
    /// `BN_ERR_INVALID_PARAMETER`: `eps`, `momentum` or the clamp bounds are out of range
    /// ([`batchnorm::Error::InvalidParameter`]).
    InvalidParameter = 8,
    /// `BN_ERR_NULL_POINTER`: a NULL pointer with a nonzero length, or a NULL struct pointer
    /// that is required.
    NullPointer = 9,
    /// `BN_ERR_OVERLAP`: an output buffer overlaps another buffer (other than `y == x`,
    /// which means in place).
    Overlap = 10,
    /// `BN_ERR_BAD_ENUM`: an enum argument (layout, method, activation, momentum, weight
    /// layout, bias) has a value outside its enum.
    BadEnum = 11,
    /// `BN_ERR_OUT_OF_MEMORY`: reserved; no function allocates, so none returns it today.
    OutOfMemory = 12,
    /// `BN_ERR_INTERNAL`: a bug: a panic was caught at the boundary, or the Rust library
    /// returned an error kind this version of the C API does not know.
    Internal = 13,
    /// `BN_ERR_UNSUPPORTED_ISA`: an instruction-set level this CPU does not run
    /// ([`batchnorm::Error::UnsupportedIsa`]; no function of this API takes a level today,
    /// so none returns it).
    UnsupportedIsa = 14,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 15] = [
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
                c"a scalar parameter (eps, momentum, clamp bounds) is out of range"
            }
            Status::NullPointer => c"a required pointer is NULL",
            Status::Overlap => c"an output buffer overlaps another buffer (other than y == x)",
            Status::BadEnum => c"an enum argument is out of range",
            Status::OutOfMemory => c"out of memory",
            Status::Internal => c"internal error (a bug in batchnorm)",
            Status::UnsupportedIsa => c"the requested instruction set does not run on this CPU",
        }
    }
}

/// A refused call: its status and a message naming the argument and the numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fail {
    pub status: Status,
    pub detail: String,
}

impl Fail {
    pub(crate) fn new(status: Status, detail: impl Into<String>) -> Fail {
        Fail {
            status,
            detail: detail.into(),
        }
    }
}

impl From<batchnorm::Error> for Fail {
    fn from(e: batchnorm::Error) -> Fail {
        use batchnorm::Error as E;
        let status = match e {
            E::LengthMismatch { .. } => Status::LengthMismatch,
            E::ShapeOverflow { .. } => Status::ShapeOverflow,
            E::WeightOverflow { .. } => Status::WeightOverflow,
            E::EmptyChannel { .. } => Status::EmptyChannel,
            E::TooFewValues { .. } => Status::TooFewValues,
            E::Misaligned { .. } => Status::Misaligned,
            E::ByteLength { .. } => Status::ByteLength,
            E::InvalidParameter { .. } => Status::InvalidParameter,
            E::UnsupportedIsa { .. } => Status::UnsupportedIsa,
            // `Error` is non-exhaustive: a kind added later maps here until it gets a code.
            _ => Status::Internal,
        };
        Fail::new(status, e.to_string())
    }
}

thread_local! {
    /// The detail of the last refused call on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// The detail of the last refused call on this thread (`""` if none), for
/// `bn_last_error_message`. Valid until the next refused call on this thread.
pub(crate) fn last_error() -> *const std::ffi::c_char {
    LAST_ERROR
        .try_with(|s| s.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

fn set_last_error(detail: &str) {
    let text = CString::new(detail.replace('\0', " ")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            *s = text;
        }
    });
}

/// Runs an exported function's body: `BN_OK`, the status of its refusal (recording the
/// detail for `bn_last_error_message`), or `BN_ERR_INTERNAL` if it panicked — no panic
/// crosses the C boundary.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Fail>) -> c_int {
    let fail = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return Status::Ok as c_int,
        Ok(Err(fail)) => fail,
        Err(_) => Fail::new(
            Status::Internal,
            "a panic was caught at the C boundary (a bug in batchnorm)",
        ),
    };
    // Formatting cannot panic here, but stay inside the guard's promise anyway.
    let _ = catch_unwind(|| set_last_error(&fail.detail));
    fail.status as c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> String {
        LAST_ERROR.with(|s| s.borrow().to_string_lossy().into_owned())
    }

    #[test]
    fn guard_returns_the_status_and_records_the_detail() {
        assert_eq!(guard(|| Ok(())), 0);
        let code = guard(|| Err(Fail::new(Status::Overlap, "`y` overlaps `x`")));
        assert_eq!(Status::from_code(code), Some(Status::Overlap));
        assert_eq!(last(), "`y` overlaps `x`");
        // A success leaves the detail alone.
        assert_eq!(guard(|| Ok(())), 0);
        assert_eq!(last(), "`y` overlaps `x`");
    }

    // With panic = "abort" (wasm32-wasip1's default) a panic cannot be caught: nothing to test.
    #[cfg(panic = "unwind")]
    #[test]
    fn a_panic_becomes_internal() {
        let code = guard(|| panic!("a bug"));
        assert_eq!(Status::from_code(code), Some(Status::Internal));
        assert!(last().contains("panic"));
    }

    #[test]
    fn every_error_kind_has_its_code() {
        use batchnorm::Error as E;
        let cases = [
            (
                E::LengthMismatch {
                    buffer: "x",
                    expected: 2,
                    actual: 1,
                },
                Status::LengthMismatch,
            ),
            (
                E::ShapeOverflow {
                    n: 1,
                    c: 1,
                    h: 1,
                    w: 1,
                },
                Status::ShapeOverflow,
            ),
            (
                E::WeightOverflow { out: 1, per_out: 1 },
                Status::WeightOverflow,
            ),
            (E::EmptyChannel { n: 0, h: 1, w: 1 }, Status::EmptyChannel),
            (
                E::TooFewValues {
                    count: 1,
                    needed: 2,
                },
                Status::TooFewValues,
            ),
            (
                E::Misaligned {
                    address: 1,
                    align: 4,
                },
                Status::Misaligned,
            ),
            (E::ByteLength { len: 3 }, Status::ByteLength),
            (
                E::InvalidParameter {
                    name: "eps",
                    value: -1.0,
                    expected: ">= 0",
                },
                Status::InvalidParameter,
            ),
            (
                E::UnsupportedIsa {
                    requested: batchnorm::Isa::Avx512,
                    best: batchnorm::Isa::Portable,
                },
                Status::UnsupportedIsa,
            ),
        ];
        for (e, want) in cases {
            let fail = Fail::from(e);
            assert_eq!(fail.status, want);
            assert_eq!(fail.detail, e.to_string());
        }
        // The error Kernels::new gives on this CPU, if any level is unsupported here.
        for isa in batchnorm::Isa::ALL {
            if let Err(e) = batchnorm::Kernels::new(isa) {
                assert_eq!(Fail::from(e).status, Status::UnsupportedIsa, "{isa}");
            }
        }
    }
}
