#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a bounded time
# (FUZZ_SECONDS, default 48: five targets in the four minutes fuzzing has had in CI).
# Any crash (a panic: a broken accuracy bound, an `Err` that wrote to an output, a panic
# inside the library) or any input that runs longer than 20 s (tensors here have at most
# 65536 values: that is a hang) fails the script, after every target has
# had its run; libFuzzer writes the input to fuzz/artifacts/<target>/, the script prints it
# in base64 (CI's files are gone after the run), and cargo-fuzz prints how to reproduce it:
#   cargo fuzz run -a -s none <target> <file>      (with RUSTC_BOOTSTRAP=1 on stable)
#
# To fuzz longer by hand:
#   FUZZ_SECONDS=3600 .ci/fuzz.sh                        # every target, an hour each
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -a -s none stats fuzz/corpus/stats fuzz/seeds/stats
# New corpus entries go to fuzz/corpus/<target>/ (ignored by git); the committed seeds in
# fuzz/seeds/<target>/ are also run by `cargo test` (tests/fuzz_seeds.rs).
#
# Toolchain: the stable compiler with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes `-Z` flags), so
# no nightly download is needed. Build: release with debug assertions (`-a`: integer
# overflow checks on). Sanitizer: none while src/lib.rs forbids unsafe code (safe Rust is
# already bounds-checked and AddressSanitizer would only halve the executions); address
# sanitizer once the library has unsafe code.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
START=$SECONDS
step() { printf '\n=== fuzz: %s (%ss since start)\n' "$*" "$((SECONDS - START))"; }
die() { printf '\nfuzz.sh: %s\n' "$*" >&2; exit 1; }
SECONDS_PER_TARGET=${FUZZ_SECONDS:-48}

step "install cargo-fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked || die "cargo install cargo-fuzz failed"
fi
cargo fuzz --version

export RUSTC_BOOTSTRAP=1
# cargo caches its compiler probe; a probe from a run without RUSTC_BOOTSTRAP would make
# it reject the -Z flags.
rm -f fuzz/target/.rustc_info.json
if grep -q '^#!\[forbid(unsafe_code)\]' src/lib.rs; then
    SANITIZER=none
else
    SANITIZER=address
fi
FLAGS=(--debug-assertions --sanitizer "$SANITIZER")

step "build every target (sanitizer: $SANITIZER)"
cargo fuzz build "${FLAGS[@]}"

mapfile -t TARGETS < <(cargo fuzz list)
[[ ${#TARGETS[@]} -gt 0 ]] || die "cargo fuzz list found no targets"
FAILED=()
for target in "${TARGETS[@]}"; do
    step "run $target for ${SECONDS_PER_TARGET}s"
    [[ -d fuzz/seeds/$target ]] || die "no seeds for $target in fuzz/seeds/$target"
    mkdir -p "fuzz/corpus/$target"
    if ! cargo fuzz run "${FLAGS[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -print_final_stats=1; then
        printf '\nfuzz.sh: FAILED: %s; the input is in fuzz/artifacts/%s/, base64:\n' "$target" "$target" >&2
        for f in "fuzz/artifacts/$target"/*; do
            [[ -f $f ]] && printf '  %s: %s\n' "$f" "$(base64 -w0 "$f")" >&2
        done
        FAILED+=("$target")
    fi
done

if [[ ${#FAILED[@]} -gt 0 ]]; then
    step "FAILED: ${FAILED[*]}"
    exit 1
fi
step "done, no crash: ${TARGETS[*]}"
