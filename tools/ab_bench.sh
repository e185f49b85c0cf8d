#!/usr/bin/env bash
# Interleaved A/B timing of two cgpt binaries on whole training steps: on a shared, noisy machine
# only ratios measured side by side mean anything. Prints one summary line per run and per rung.
# Usage: tools/ab_bench.sh ROUNDS RUNGS BIN_A BIN_B [extra bench flags...]
#   e.g. tools/ab_bench.sh 3 threads,amx .dev/base/cgpt build/cgpt --iters 9
set -uo pipefail
rounds=${1:?rounds}; rungs=${2:?rungs}; a=${3:?binary A}; b=${4:?binary B}; shift 4
for ((r = 1; r <= rounds; r++)); do
  for bin in "$a" "$b"; do
    "$bin" bench --rungs "$rungs" --gen-tokens 4 --json "$@" 2>/dev/null |
      python3 -c '
import json, sys
for line in sys.stdin:
    row = json.loads(line)
    if "rung" in row and "iters_per_s" in row:
        print("%-24s %-8s it/s %.3f  matmul %.1f ms  other %.1f ms" % (sys.argv[1], row["rung"], row["iters_per_s"], row.get("matmul_ms", 0), row.get("other_ms", 0)))
' "$bin"
  done
done
