#!/usr/bin/env bash
# Instructions per input vector of every kernel and bound of bench_report, counted by
# callgrind, at the best level valgrind runs (it has no AVX-512, so AVX2 on an AVX2 or
# AVX-512 CPU). Usage: bash benches/callgrind.sh [OP] > table.md
#
# bench_report --count runs each job once to warm up, then twice inside its function
# `counted`; callgrind collects only inside `counted` and dumps after each call, so dump
# i holds exactly the two calls of job i. A vector here is 8 values, one 256-bit register
# of f32: "instructions per vector" is instructions per call / (values / 8), where values
# is n*c*h*w (of x; the backward also reads dy).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is needed (apt-get install -y valgrind)" >&2; exit 1; }
cargo build --release --example bench_report >&2
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
valgrind --tool=callgrind --collect-atstart=no --toggle-collect='bench_report::counted' \
    --dump-after='bench_report::counted' --callgrind-out-file="$OUT/cg" \
    target/release/examples/bench_report --count ${1:+--op "$1"} > "$OUT/jobs" 2> "$OUT/log" \
    || { cat "$OUT/log" >&2; exit 1; }
cat <<HEADER
# Instructions per input vector, counted by callgrind

Written by \`bash benches/callgrind.sh > CALLGRIND.md\` (valgrind $(valgrind --version | sed 's/valgrind-//'), commit
$(git rev-parse --short HEAD 2>/dev/null || echo unknown)). $(head -1 "$OUT/jobs" | sed 's/^count: level \([a-z0-9]*\); CPU \(.*\)$/Level \1 (valgrind runs no AVX-512), on \2./')

Each kernel of \`bench_report\` on the same buffers, once to warm up and then twice with
callgrind collecting; the count is per call, divided by n*c*h*w / 8: instructions per
vector of 8 input values, one 256-bit register of f32. Instruction counts do not depend on
the machine's load, unlike times; the rows of the bounds (\`bound\`) are the loops
\`bench_report\` measures the kernels against: \`Read\` (a sum), \`Floor\` (the floor of a
one-pass statistic), \`Copy\` (\`y = a*x + b\`) and their sequences. The last column divides
by the shape's \`Floor\`.

HEADER
echo "| shape | layout | op | method | kernel (plan) | instructions per vector of 8 values | x floor |"
echo "|---|---|---|---|---|---:|---:|"
i=0
tail -n +2 "$OUT/jobs" | while IFS=$'\t' read -r tag shape values layout op method kernel; do
    i=$((i + 1))
    [[ $tag == count ]] || continue
    ir=$(sed -n 's/^totals: *//p' "$OUT/cg.$i")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$shape" "$layout" "$op" "$method" "$kernel" \
        "$(awk -v ir="$ir" -v n="$values" 'BEGIN { printf "%.2f", ir / 2 / (n / 8) }')"
done > "$OUT/rows"
# The floor of the row's shape, the second column's unit.
awk -F'\t' '
    { row[NR] = $0; if ($3 == "bound" && $4 == "Floor") floor[$1] = $6 }
    END {
        for (r = 1; r <= NR; r++) {
            split(row[r], f, "\t")
            printf "| %s | %s | %s | %s | %s | %s | %.2f |\n", f[1], f[2], f[3], f[4], f[5], f[6], f[6] / floor[f[1]]
        }
    }' "$OUT/rows"
