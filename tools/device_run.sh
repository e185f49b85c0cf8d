#!/usr/bin/env bash
# One batch of work on the borrowed GPU host (16-core Xeon with AMX): build, tests, tokenizer
# fixture from real tiktoken, the bench table, GEMM table and the 200-step precision runs.
# Usage: tools/device_run.sh OUTDIR [parts...]   parts: build test fixture bench gemm track
set -uo pipefail
out=${1:?usage: tools/device_run.sh OUTDIR [parts]}; shift
parts=${*:-build test fixture bench gemm track}
mkdir -p "$out"
has() { [[ " $parts " == *" $1 "* ]]; }
if has build; then
  make -j"$(nproc)" >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
  build/cgpt --version | tee "$out/version.txt"
fi
if has test; then
  make -j"$(nproc)" $(ls tests/test_*.c | sed 's|tests/\(.*\)\.c|build/tests/\1|') >>"$out/build.log" 2>&1
  tests/run_tests.sh build 2>&1 | tee "$out/tests.txt" | tail -15
fi
if has fixture; then
  python3 tools/make_tokenizer_fixture.py --out "$out/tokenizer_cases.txt" 2>&1 | tail -3
fi
if has bench; then
  build/cgpt bench --out "$out/bench.jsonl" 2>/dev/null | tee "$out/bench.txt"
fi
if has gemm; then
  build/cgpt bench --gemm --rungs avx512,threads,bf16,amx,openblas --out "$out/gemm.jsonl" 2>/dev/null | tee "$out/gemm.txt"
fi
if has track; then
  for rung in threads bf16 amx; do
    build/cgpt train --steps 200 --matmul $rung --val-every 50 --log "$out/track_$rung.jsonl" >"$out/track_$rung.txt" 2>&1
    tail -2 "$out/track_$rung.txt"
  done
fi
