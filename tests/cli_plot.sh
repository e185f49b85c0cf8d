#!/usr/bin/env bash
# Command-line tests of `cgpt plot`: loss curves and the bench ladder from small fake files give
# well-formed SVG (checked with xmllint when it is installed), and every usage or input error
# exits 2 with one "cgpt: plot: ..." line and leaves no output (or temporary) file behind.
set -u
CGPT=${CGPT:-build/cgpt}
case $CGPT in /*) ;; *) CGPT=$PWD/$CGPT ;; esac
if [ ! -x "$CGPT" ]; then echo "FAIL cli_plot: no binary at $CGPT"; exit 1; fi
dir=$(mktemp -d)
trap 'chmod -R u+w "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
cd "$dir" || exit 1
failures=0
ok() { echo "ok $1"; }
fail() { echo "FAIL $1${2:+: $2}"; failures=$((failures + 1)); }
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}

# A training log with the odd lines a real one may hold: a header record, nested and string
# values, a line that is not JSON, a torn last line.
{
  echo '{"run":"test","config":{"n_layer":2,"dims":[64,128]},"ok":true}'
  for s in 0 1 2 3 4 5 6 7 8 9 10 11 12; do
    loss=$(awk -v s=$s 'BEGIN { printf "%.4f", 2 + 9 * exp(-s / 4) }')
    if [ $((s % 4)) -eq 0 ]; then
      echo "{\"step\":$s,\"loss\":$loss,\"lr\":3e-4,\"grad_norm\":1.5,\"ms\":812.5,\"tokens_per_s\":315.1,\"val_loss\":$loss,\"tag\":\"a\\\"b\"}"
    else
      echo "{\"step\":$s,\"loss\":$loss,\"lr\":3e-4,\"grad_norm\":1.5,\"ms\":812.5,\"tokens_per_s\":315.1}"
    fi
  done
  echo 'garbage that is not json'
  printf '{"step":13,"lo'
} >train_log.jsonl
sed 's/"loss":\([0-9]\)/"loss":1\1/' train_log.jsonl >other_log.jsonl

cat >bench.jsonl <<'EOF'
{"rung":"naive","iters_per_s":0.05,"tokens_per_s":12.8,"gflops":9.7,"speedup":1.0,"precision":"fp32"}
{"rung":"avx512","iters_per_s":1.2,"tokens_per_s":307.2,"gflops":232.8,"speedup":24.0,"precision":"fp32"}
{"rung":"amx<&>","iters_per_s":5.0,"tokens_per_s":1280,"gflops":970,"speedup":100.0,"precision":"bf16"}
{"rung":"naive","shape":"256x768x2304","pass":"forward","gflops":9.1}
{"rung":"avx512","shape":"256x768x2304","pass":"forward","gflops":240.5}
{"rung":"naive","shape":[256,3072,768],"pass":"backward","gflops":8.2}
{"rung":"avx512","shape":[256,3072,768],"pass":"backward","gflops":201}
{"rung":"avx512","breakdown":true,"pass":"dinp","shape":"256x50304x999","calls_per_step":1.0,"ms_per_step":60.1,"gflops":320.5}
EOF

well_formed() { # is_svg FILE: starts like SVG, ends with </svg>, and xmllint (if any) accepts it
  head -c 100 "$1" | grep -q -e '^<?xml' -e '^<svg' || return 1
  tail -n 1 "$1" | grep -q '</svg>' || return 1
  if command -v xmllint >/dev/null; then xmllint --noout "$1" 2>/dev/null || return 1; fi
  return 0
}
no_leftovers() { ! ls -a | grep -q '\.tmp\.'; }

# ---- loss curves ----
"$CGPT" plot train_log.jsonl --out loss.svg >/dev/null 2>err.txt
check "loss: exit 0" test $? -eq 0
check "loss: svg written" test -s loss.svg
check "loss: well-formed svg" well_formed loss.svg
check "loss: legend names the log" grep -q 'train_log.jsonl train' loss.svg
check "loss: val series in legend" grep -q 'train_log.jsonl val' loss.svg
check "loss: has a curve" grep -q -e '<polyline' -e '<path' loss.svg
check "loss: no temporary file left" no_leftovers

"$CGPT" plot train_log.jsonl other_log.jsonl --out two.svg --smooth 3 --log-x --title 'Run <A> & "B"' >/dev/null 2>&1
check "loss: two logs, smoothing, log x" test $? -eq 0
check "loss: two logs well-formed" well_formed two.svg
check "loss: both logs in legend" grep -q 'other_log.jsonl train' two.svg
check "loss: title escaped" grep -q 'Run &lt;A&gt; &amp; &quot;B&quot;' two.svg
check "loss: a short title keeps the full size" grep -q 'font-size="18.0"[^>]*>Run &lt;A' two.svg

long_title="Training loss of GPT-2 124M on Tiny Shakespeare with every rung of the ladder, B=4, T=64"
"$CGPT" plot train_log.jsonl --out long.svg --title "$long_title" >/dev/null 2>&1
check "loss: a title wider than the chart is set smaller" \
    grep -q -E 'font-size="(9|1[0-7])\.[0-9]"[^>]*>Training loss of GPT-2' long.svg

# ---- bench ladder ----
"$CGPT" plot --bench bench.jsonl --out ladder.svg >/dev/null 2>&1
check "ladder: exit 0" test $? -eq 0
check "ladder: well-formed svg" well_formed ladder.svg
check "ladder: rung names escaped" grep -q 'amx&lt;&amp;&gt;' ladder.svg
check "ladder: has bars" grep -q '<rect' ladder.svg
check "ladder: speedup label" grep -q '100×' ladder.svg
"$CGPT" plot --bench bench.jsonl --out ladder_log.svg --log --metric gflops --title Ladder >/dev/null 2>&1
check "ladder: --log --metric gflops" test $? -eq 0 -a -s ladder_log.svg
check "ladder: log well-formed" well_formed ladder_log.svg
"$CGPT" plot --bench bench.jsonl --out gemm.svg --gemm >/dev/null 2>&1
check "gemm: exit 0" test $? -eq 0
check "gemm: well-formed" well_formed gemm.svg
check "gemm: groups by shape and pass" grep -q '256x768x2304  forward' gemm.svg
check "gemm: bench --breakdown rows left out" bash -c '! grep -q 50304x999 gemm.svg'
check "gemm: array shapes label groups" grep -q '\[256,3072,768\]  backward' gemm.svg

# ---- help ----
"$CGPT" plot --help >help.txt 2>&1
check "help: exit 0" test $? -eq 0
check "help: shows usage" grep -q 'usage: cgpt plot' help.txt

# ---- errors: exit 2, one line, no output file ----
printf '{"step":1}\n[1,2]\nnot json\n{"loss":3}\n' >useless.jsonl
: >empty.jsonl
mkdir -p folder
expect_error() { # expect_error NAME OUTPUT_FILE ARGS...
  local name=$1 out=$2; shift 2
  "$CGPT" plot "$@" >stdout.txt 2>stderr.txt
  local status=$?
  if [ $status -ne 2 ]; then fail "$name" "exit $status, expected 2"; return; fi
  if [ "$(wc -l <stderr.txt)" -ne 1 ] || ! grep -q '^cgpt: plot: ' stderr.txt; then
    fail "$name" "message: $(head -c 200 stderr.txt)"; return
  fi
  if [ -n "$out" ] && [ -e "$out" ]; then fail "$name" "left $out behind"; return; fi
  if ! no_leftovers; then fail "$name" "left a temporary file"; return; fi
  ok "$name"
}
expect_error "error: no input files" none.svg --out none.svg
expect_error "error: missing input file" none.svg missing.jsonl --out none.svg
expect_error "error: input is a folder" none.svg folder --out none.svg
expect_error "error: --out missing" "" train_log.jsonl
expect_error "error: --out without value" "" train_log.jsonl --out
expect_error "error: output folder missing" "no_such_dir/x.svg" train_log.jsonl --out no_such_dir/x.svg
expect_error "error: output is a folder" "" train_log.jsonl --out folder
expect_error "error: unknown flag" none.svg train_log.jsonl --out none.svg --colour red
expect_error "error: --smooth not a number" none.svg train_log.jsonl --out none.svg --smooth abc
expect_error "error: --smooth zero" none.svg train_log.jsonl --out none.svg --smooth 0
expect_error "error: --smooth negative" none.svg train_log.jsonl --out none.svg --smooth=-3
expect_error "error: no usable line" none.svg useless.jsonl --out none.svg
expect_error "error: empty log" none.svg train_log.jsonl empty.jsonl --out none.svg
expect_error "error: bad --metric" none.svg --bench bench.jsonl --out none.svg --metric speed
expect_error "error: bench without rungs" none.svg --bench useless.jsonl --out none.svg
expect_error "error: bench missing file" none.svg --bench missing.jsonl --out none.svg
expect_error "error: logs and --bench together" none.svg train_log.jsonl --bench bench.jsonl --out none.svg
expect_error "error: --log without --bench" none.svg train_log.jsonl --log --out none.svg
"$CGPT" plot useless.jsonl --out none.svg 2>stderr.txt
check "error: message names the file" grep -q 'useless.jsonl' stderr.txt

# An error must not touch an existing output file.
echo 'previous' >kept.svg
"$CGPT" plot missing.jsonl --out kept.svg 2>/dev/null
check "error: existing output kept" grep -qx 'previous' kept.svg

# A folder we cannot write into (permissions do not bind root, so only checked as a user).
if [ "$(id -u)" -ne 0 ]; then
  mkdir -p locked && chmod 555 locked
  expect_error "error: unwritable output folder" locked/x.svg train_log.jsonl --out locked/x.svg
fi

[ $failures -eq 0 ]
