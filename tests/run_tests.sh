#!/usr/bin/env bash
# Runs every test program in BUILD/tests and every tests/cli_*.sh against BUILD/cgpt, and prints
# "N passed, M failed" (counting individual tests). Exit status is non-zero if anything failed.
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 1
passed=0 failed=0 failed_names=()
for bin in "$build"/tests/test_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  out=$("$bin" 2>&1); status=$?
  p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^FAIL ' <<<"$out")
  if [ $status -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed or failed outside a TEST
  passed=$((passed + p)); failed=$((failed + f))
  if [ $status -ne 0 ]; then
    failed_names+=("$name"); echo "---- $name (exit $status)"; echo "$out" | tail -40
  else
    echo "$name: $p passed"
  fi
done
for script in tests/cli_*.sh; do
  [ -f "$script" ] || continue
  name=$(basename "$script")
  out=$(CGPT="$build/cgpt" bash "$script" 2>&1); status=$?
  p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^FAIL ' <<<"$out")
  if [ $status -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ $status -ne 0 ]; then
    failed_names+=("$name"); echo "---- $name (exit $status)"; echo "$out" | tail -40
  else
    echo "$name: $p passed"
  fi
done
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
