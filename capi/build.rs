//! Tells the tests whether they run on the machine they were built on (the C and C++
//! programs they compile with the system compiler only link against a native library),
//! and gives the shared library its SONAME on Linux: `libbatchnorm_capi.so.<ABI>`, where
//! `<ABI>` is the header's `BN_ABI_VERSION` (checked by `tests/header.rs`).

/// The ABI version: raised on every incompatible change of the C API (`BN_ABI_VERSION`).
const ABI_VERSION: u32 = 3;

fn main() {
    for var in ["HOST", "TARGET"] {
        let value = std::env::var(var).unwrap_or_default();
        println!("cargo:rustc-env=BN_CAPI_BUILD_{var}={value}");
    }
    println!("cargo:rustc-env=BN_CAPI_ABI_VERSION={ABI_VERSION}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbatchnorm_capi.so.{ABI_VERSION}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
