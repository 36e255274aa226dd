//! Tells the tests whether they run on the machine they were built on (the C and C++
//! programs they compile with the system compiler only link against a native library).
fn main() {
    for var in ["HOST", "TARGET"] {
        let value = std::env::var(var).unwrap_or_default();
        println!("cargo:rustc-env=BN_CAPI_BUILD_{var}={value}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
