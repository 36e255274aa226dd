#!/usr/bin/env bash
# Every SIMD path and every platform class batchnorm promises, each with the full test suite
# where it can run:
#   x86     x86-64 built at levels x86-64-v3 and x86-64-v4 (the default level is .ci/run's
#           test step), each in its own target dir. The AVX2 and AVX-512 lanes are chosen at run time in every build;
#           what the level changes is the portable lanes (`wide` picks their instructions
#           at compile time: SSE2, AVX2+FMA or AVX-512) and the code around the kernels;
#   aarch64 aarch64 (NEON) under qemu-user;
#   wasm    wasm32-wasip1 with simd128: the library, and the tests run by Node's WASI
#           (.ci/wasi-runner.mjs);
#   nostd   the library for thumbv7em-none-eabihf and riscv32imac-unknown-none-elf, and
#           ensure_no_std/ (a no_std, no_main binary calling every public kernel) linked
#           for thumbv7em-none-eabihf;
#   miri    Miri over the unit tests: the portable lanes and the dispatcher's safe parts
#           (under Miri the dispatcher detects no x86 extension, so the AVX lanes, which
#           Miri cannot interpret, are covered by the native test runs instead).
# Runs on a clean machine as root and installs what it needs (a failed install stops the
# script at once). Each build or test run is attempted even when an earlier one failed
# (`cargo test --no-fail-fast`), and the script ends with a summary and fails if any did.
#
# Usage: .ci/cross.sh [x86] [aarch64] [wasm] [nostd] [miri]    (no argument: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
START=$SECONDS
step() { printf '\n=== cross: %s (%ss since start)\n' "$*" "$((SECONDS - START))"; }
die() { printf '\ncross.sh: %s\n' "$*" >&2; exit 1; }
add_target() { rustup target add "$@" || die "rustup could not add target(s) $*"; }
FAILED=()
# check LABEL CMD...: runs CMD; on failure records LABEL and goes on.
check() {
    local label=$1
    shift
    if ! "$@"; then
        printf '\ncross.sh: FAILED: %s\n' "$label" >&2
        FAILED+=("$label")
    fi
}

x86() {
    # The default level (SSE2) is .ci/run's own test step; every test there runs each ISA
    # level the CPU has at run time. Here the portable lanes compiled for x86-64-v3 and v4
    # (what a `-C target-cpu=native` build runs at Isa::Portable).
    local level
    for level in x86-64-v3 x86-64-v4; do
        if [[ $level == x86-64-v4 ]] && ! grep -qw avx512f /proc/cpuinfo; then
            # This machine's kind has AVX-512; do not fail where it is missing.
            step "x86-64-v4 SKIPPED: this CPU has no AVX-512F"
            continue
        fi
        step "x86-64 level $level"
        check "$level tests" env CARGO_TARGET_DIR="$ROOT/target/cross/$level" \
            RUSTFLAGS="-C target-cpu=$level" RUSTDOCFLAGS="-C target-cpu=$level" \
            cargo test --workspace --no-fail-fast
    done
}

aarch64() {
    step "aarch64 (NEON) under qemu-user: install"
    if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
        || [[ ! -d /usr/aarch64-linux-gnu/lib ]]; then
        { apt-get update && apt-get install -y qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross; } \
            || die "apt-get could not install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
    fi
    add_target aarch64-unknown-linux-gnu
    step "aarch64 (NEON) under qemu-user: tests"
    check "aarch64 tests" env CARGO_TARGET_DIR="$ROOT/target/cross/aarch64" \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
        cargo test --workspace --no-fail-fast --target aarch64-unknown-linux-gnu
}

wasm() {
    step "wasm32-wasip1 + simd128: library"
    command -v node >/dev/null || die "node is needed to run the wasm tests (Debian package nodejs)"
    add_target wasm32-wasip1
    local env=(CARGO_TARGET_DIR="$ROOT/target/cross/wasm" RUSTFLAGS="-C target-feature=+simd128"
        CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $ROOT/.ci/wasi-runner.mjs")
    check "wasm32 library" env "${env[@]}" cargo build --lib --target wasm32-wasip1
    step "wasm32-wasip1 + simd128: tests under Node's WASI (doctests are host-only)"
    check "wasm32 tests" env "${env[@]}" \
        cargo test --workspace --no-fail-fast --target wasm32-wasip1 --tests
}

nostd() {
    step "no_std: library for thumbv7em-none-eabihf and riscv32imac-unknown-none-elf"
    add_target thumbv7em-none-eabihf riscv32imac-unknown-none-elf
    local target
    for target in thumbv7em-none-eabihf riscv32imac-unknown-none-elf; do
        check "$target library" env CARGO_TARGET_DIR="$ROOT/target/cross/nostd" \
            cargo build --lib --target "$target"
    done
    step "no_std: ensure_no_std links for thumbv7em-none-eabihf"
    check "ensure_no_std link" env CARGO_TARGET_DIR="$ROOT/target/cross/nostd-bin" \
        cargo build --release --manifest-path ensure_no_std/Cargo.toml --target thumbv7em-none-eabihf
}

miri() {
    if grep -q '^#!\[forbid(unsafe_code)\]' src/lib.rs; then
        step "Miri SKIPPED: src/lib.rs forbids unsafe code"
        return
    fi
    step "Miri: unit tests of the unsafe code"
    rustup toolchain install nightly --profile minimal --component miri \
        || die "rustup could not install nightly with miri"
    cargo +nightly miri setup || die "cargo miri setup failed"
    check "Miri" env MIRIFLAGS=-Zmiri-disable-isolation PROPTEST_CASES=16 \
        cargo +nightly miri test --lib
}

STEPS=("$@")
[[ ${#STEPS[@]} -gt 0 ]] || STEPS=(x86 aarch64 wasm nostd miri)
for s in "${STEPS[@]}"; do
    case $s in
        x86 | aarch64 | wasm | nostd | miri) "$s" ;;
        *) die "unknown step $s (x86, aarch64, wasm, nostd, miri)" ;;
    esac
done
if [[ ${#FAILED[@]} -gt 0 ]]; then
    step "FAILED: ${FAILED[*]}"
    exit 1
fi
step "done, all passed: ${STEPS[*]}"
