#!/usr/bin/env bash
# CI for the C ABI (capi/, issue 5), called from .ci/run after the tests step (which already
# ran capi's tests in the debug profile: the C program and the C++ header test against the
# debug static library, the header-vs-symbols check). Here:
#   - the release static and shared libraries, the shared library's SONAME, and the same
#     C/C++/header tests against them;
#   - Miri over the code that turns C pointers into slices (capi/src/raw.rs) and every
#     exported function called from Rust;
#   - the Python ctypes + numpy example against the release shared library;
#   - the two-builds timing harness (capi/bench/ab_builds.c), compiled and run on one shape;
#   - the no_std static library for thumbv7em-none-eabihf (`--no-default-features`), and a
#     tiny C main (capi/tests/nostd/main.c) linked against it with arm-none-eabi-gcc.
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

step "SONAME of the shared library: libbatchnorm_capi.so.<BN_ABI_VERSION of the header>"
ABI=$(sed -n 's/^#define BN_ABI_VERSION \([0-9]*\)$/\1/p' capi/include/batchnorm.h)
[[ -n $ABI ]] || die "no BN_ABI_VERSION in capi/include/batchnorm.h"
SONAME=$(readelf -d target/release/libbatchnorm_capi.so | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "SONAME: ${SONAME:-none}"
[[ $SONAME == "libbatchnorm_capi.so.$ABI" ]] || die "SONAME is '${SONAME:-none}', expected libbatchnorm_capi.so.$ABI"

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

step "two builds in one process (capi/bench/ab_builds.c): compiles, loads the release library twice, runs a row"
# The full comparison (default build against -C target-cpu=native) is capi/bench/ab_builds.sh;
# here the harness only has to keep working: every kernel it calls returns BN_OK.
cc -O2 -std=c11 -Wall -Wextra -Werror -o target/release/ab_builds capi/bench/ab_builds.c -ldl
target/release/ab_builds target/release/libbatchnorm_capi.so target/release/libbatchnorm_capi.so \
    0.01 "1x64x56x56"

step "no_std C ABI: static library for thumbv7em-none-eabihf (no std, no allocator)"
rustup target add thumbv7em-none-eabihf || die "rustup could not add thumbv7em-none-eabihf"
# Only the staticlib (a cdylib cannot be built for this target); warnings are errors for the
# C ABI crate itself.
cargo rustc -p batchnorm-capi --release --no-default-features --target thumbv7em-none-eabihf \
    --crate-type staticlib -- -D warnings
NOSTD_LIB=target/thumbv7em-none-eabihf/release/libbatchnorm_capi.a
ls -l "$NOSTD_LIB"

step "no_std C ABI: clippy on thumbv7em-none-eabihf, unit tests of the no_std paths on the host"
cargo clippy -p batchnorm-capi --no-default-features --target thumbv7em-none-eabihf -- -D warnings
cargo test -p batchnorm-capi --no-default-features --lib

step "no_std C ABI: a C main linked for Cortex-M4F with arm-none-eabi-gcc"
if ! command -v arm-none-eabi-gcc >/dev/null; then
    { apt-get update && apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi; } \
        || echo "capi.sh: SKIPPED the Cortex-M link: apt-get could not install gcc-arm-none-eabi"
fi
if command -v arm-none-eabi-gcc >/dev/null; then
    arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 \
        --specs=nosys.specs -std=c99 -Wall -Wextra -Werror -pedantic -O1 -I capi/include \
        capi/tests/nostd/main.c "$NOSTD_LIB" -lm -o target/thumbv7em-none-eabihf/bn_nostd.elf
    arm-none-eabi-size target/thumbv7em-none-eabihf/bn_nostd.elf
fi

step "done"
