#!/usr/bin/env bash
# CI for the C ABI (capi/, issue 5), called from .ci/run after the tests step (which already
# ran capi's tests in the debug profile: the C program and the C++ header test against the
# debug static library, the header-vs-symbols check). Here:
#   - the release static and shared libraries, and the same C/C++/header tests against them;
#   - Miri over the code that turns C pointers into slices (capi/src/raw.rs) and every
#     exported function called from Rust;
#   - the Python ctypes + numpy example against the release shared library.
# Runs on a clean machine as root and installs what it needs; fails on the first error.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
START=$SECONDS
step() { printf '\n=== capi: %s (%ss since start)\n' "$*" "$((SECONDS - START))"; }
die() { printf '\ncapi.sh: %s\n' "$*" >&2; exit 1; }

step "release build: libbatchnorm_capi.a and libbatchnorm_capi.so"
cargo build -p batchnorm-capi --release
ls -l target/release/libbatchnorm_capi.a target/release/libbatchnorm_capi.so

step "C program, C++ header test and header check against the release libraries"
cargo test -p batchnorm-capi --release --test c_api --test header

step "Miri: pointer checks and slices (capi/src/raw.rs) and every export called from Rust"
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal --component miri \
        || die "rustup could not install nightly with miri"
fi
cargo +nightly miri setup >/dev/null || die "cargo miri setup failed"
cargo +nightly miri test -p batchnorm-capi --lib --test rust_calls

step "Python ctypes + numpy example"
command -v python3 >/dev/null || die "python3 is needed for capi/examples/normalize_numpy.py"
if ! python3 -c 'import numpy' 2>/dev/null; then
    python3 -m pip install --quiet numpy || die "pip could not install numpy"
fi
python3 capi/examples/normalize_numpy.py target/release/libbatchnorm_capi.so

step "done"
