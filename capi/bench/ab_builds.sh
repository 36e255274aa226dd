#!/usr/bin/env bash
# Builds the C ABI's shared library twice, for the x86-64 baseline (what `cargo build`
# gives every user) and with `-C target-cpu=native`, and times both in one process on the
# same buffers (capi/bench/ab_builds.c). Usage: bash capi/bench/ab_builds.sh [seconds per row] [row filter]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=target/ab_builds
mkdir -p "$OUT"
cargo build -p batchnorm-capi --release
RUSTFLAGS="-C target-cpu=native" cargo build -p batchnorm-capi --release --target-dir target/native
cp target/release/libbatchnorm_capi.so "$OUT/default.so"
cp target/native/release/libbatchnorm_capi.so "$OUT/native.so"
cc -O2 -std=c11 -Wall -Wextra -o "$OUT/ab_builds" capi/bench/ab_builds.c -ldl
grep -m1 "model name" /proc/cpuinfo
"$OUT/ab_builds" "$OUT/default.so" "$OUT/native.so" "${1:-0.4}" "${2:-}"
