//! Version, status and instruction-set queries: `bn_version`, `bn_version_number`,
//! `bn_status_message`, `bn_last_error_message`, `bn_isa_detected`, `bn_isa_name`.

use crate::enums::{BnIsa, isa_code, isa_from_code};
use crate::status::{BnStatus, Status, last_error};
use batchnorm::Isa;
use core::ffi::{CStr, c_char};

/// The version of this library, e.g. `"0.1.0"` (the `batchnorm` crate's, which the C
/// API follows).
pub const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version contains a NUL"),
    };

const fn parse(s: &str) -> u32 {
    let b = s.as_bytes();
    let (mut i, mut v) = (0, 0u32);
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "version part is not a number");
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

/// `major * 10000 + minor * 100 + patch`, e.g. 100 for 0.1.0 (`BN_VERSION_NUMBER`).
pub const VERSION_NUMBER: u32 = parse(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
    + parse(env!("CARGO_PKG_VERSION_MINOR")) * 100
    + parse(env!("CARGO_PKG_VERSION_PATCH"));

/// The library's version as a static NUL-terminated string, e.g. `"0.1.0"`; compare with
/// the header's `BN_VERSION_STRING`.
#[unsafe(no_mangle)]
pub extern "C" fn bn_version() -> *const c_char {
    VERSION.as_ptr()
}

/// The library's version as `major * 10000 + minor * 100 + patch`; compare with the
/// header's `BN_VERSION_NUMBER`.
#[unsafe(no_mangle)]
pub extern "C" fn bn_version_number() -> u32 {
    VERSION_NUMBER
}

/// A static NUL-terminated description of a status code; `"unknown status code"` for a
/// value that is not a `bn_status`. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn bn_status_message(status: BnStatus) -> *const c_char {
    match Status::from_code(status) {
        Some(s) => s.message().as_ptr(),
        None => c"unknown status code".as_ptr(),
    }
}

/// The details of the last refused call on the calling thread, naming the argument and
/// the numbers in C terms, e.g. ``"`params->mean_len` is 2 but the shape needs 3"``; `""`
/// if no call was refused yet. Successful calls leave it unchanged. The string stays valid
/// until the next refused call on the same thread. Never NULL.
///
/// Without the `std` feature no details are kept: the static `bn_status_message` text of
/// the last refused call's status, in any thread (`""` if none).
#[unsafe(no_mangle)]
pub extern "C" fn bn_last_error_message() -> *const c_char {
    last_error()
}

/// The instruction-set level every kernel of this library runs at, as a `bn_isa` value:
/// [`batchnorm::Isa::detected`], the best level this CPU and its OS support (`BN_ISA_PORTABLE`
/// on other architectures), detected on first use and cached for the process.
#[unsafe(no_mangle)]
pub extern "C" fn bn_isa_detected() -> BnIsa {
    isa_code(Isa::detected())
}

/// A static NUL-terminated lower-case name of a `bn_isa` value, the same as
/// [`batchnorm::Isa::name`]: `"portable"`, `"avx2"`, `"avx512"`; `"unknown"` for any other
/// value. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn bn_isa_name(isa: BnIsa) -> *const c_char {
    isa_from_code(isa).map_or(c"unknown", isa_c_name).as_ptr()
}

/// [`Isa::name`] as a static C string.
fn isa_c_name(isa: Isa) -> &'static CStr {
    match isa {
        Isa::Portable => c"portable",
        Isa::Avx2 => c"avx2",
        Isa::Avx512 => c"avx512",
        _ => c"unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isa_names_are_the_crate_names() {
        for isa in Isa::ALL {
            assert_eq!(isa_c_name(isa).to_str(), Ok(isa.name()));
        }
        assert_eq!(
            [Isa::Portable, Isa::Avx2, Isa::Avx512].map(|i| isa_c_name(i).to_str().unwrap()),
            ["portable", "avx2", "avx512"]
        );
    }
}
