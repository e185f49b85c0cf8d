#!/usr/bin/env bash
# Command-line tests of cgpt train/generate/prepare/bench: PyTorch-matching losses through the
# command line, bit-identical resumes, checkpoints that survive a kill, the loss falling on real
# data, and one clear line with exit status 2 for each kind of bad input.
set -u
CGPT=${CGPT:-build/cgpt}
CGPT=$(cd "$(dirname "$CGPT")" && pwd)/$(basename "$CGPT")
FIX=$(pwd)/tests/fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }

# expect_error NAME STATUS PATTERN -- command...: exit status, one line on stderr matching PATTERN
expect_error() {
  local name=$1 status=$2 pattern=$3; shift 4
  "$@" >out.txt 2>err.txt; local got=$?
  local lines; lines=$(wc -l <err.txt)
  if [ $got -ne "$status" ]; then fail "$name" "exit $got, expected $status ($(head -c 300 err.txt))"
  elif [ "$lines" -ne 1 ]; then fail "$name" "expected one line on stderr, got $lines: $(head -c 300 err.txt)"
  elif ! grep -q -- "$pattern" err.txt; then fail "$name" "message '$(cat err.txt)' lacks '$pattern'"
  else ok "$name"; fi
}

# The small parity model: vocabulary 333, so the GPT-2 tokenizer is not involved.
PARITY=(--init "$FIX/parity_model.bin" --train "$FIX/parity_train.bin" --val "$FIX/parity_train.bin" -b 3 -t 17)
EXACT=(--lr 1e-3 --beta1 0.9 --beta2 0.95 --eps 1e-8 --wd 0.1 --warmup 0 --schedule constant --grad-clip 0)

# ---- losses through the command line match PyTorch's (tools/make_fixture.py) to 1e-4 relative
if "$CGPT" train "${PARITY[@]}" "${EXACT[@]}" --steps 3 --val-every 0 --log parity.jsonl >train.txt 2>&1; then
  # expected losses sit after the header, hyperparameters, logits, loss and gradients
  offset=$((1024 + 20 + 3 * 17 * 333 * 4 + 4 + 76608 * 4))
  expected=$(od -A n -t f4 -j $offset -N 12 "$FIX/parity_expected.bin")
  got=$(sed -E 's/.*"loss":([^,]*).*/\1/' parity.jsonl | tr '\n' ' ')
  if awk -v e="$expected" -v g="$got" 'BEGIN { n = split(e, a); m = split(g, b); if (n != 3 || m != 3) exit 1;
        for (i = 1; i <= 3; i++) { d = (a[i] - b[i]) / a[i]; if (d < 0) d = -d; if (d > 1e-4) exit 1 } }'; then
    ok "losses match PyTorch"
  else fail "losses match PyTorch" "expected [$expected] got [$got]"; fi
else fail "losses match PyTorch" "train failed: $(tail -3 train.txt)"; fi

# ---- a resumed run is bit-identical to an uninterrupted one
# (a constant schedule after warm-up, so that stopping at step 3 is the same run as going on to 6)
DATA=(--train "$FIX/parity_train.bin" --val "$FIX/parity_train.bin" -b 3 -t 17 --schedule constant --warmup 2 --val-every 2)
"$CGPT" train --init "$FIX/parity_model.bin" "${DATA[@]}" --steps 6 --out whole --log whole.jsonl >/dev/null 2>&1
"$CGPT" train --init "$FIX/parity_model.bin" "${DATA[@]}" --steps 3 --out part --log part.jsonl >/dev/null 2>&1
"$CGPT" train --resume part "${DATA[@]}" --steps 6 --out part --log part.jsonl >/dev/null 2>&1
strip_ms() { sed -E 's/"ms":[^,]*,"tokens_per_s":[^,}]*//' "$1"; }
if [ -s whole.jsonl ] && [ "$(strip_ms whole.jsonl)" = "$(strip_ms part.jsonl)" ] && cmp -s whole/model.bin part/model.bin &&
   cmp -s whole/state.bin part/state.bin; then
  ok "resume is bit-identical"
else fail "resume is bit-identical" "logs or checkpoints differ"; fi

# ---- killing the process at any moment leaves a loadable checkpoint
"$CGPT" train "${PARITY[@]}" --steps 2 --val-every 0 --out killed >/dev/null 2>&1
survived=1
for delay in 0.05 0.13 0.21 0.37; do
  "$CGPT" train "${DATA[@]}" --steps 100000 --val-every 0 --ckpt-every 1 --resume killed --out killed >/dev/null 2>&1 &
  pid=$!
  sleep $delay
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if ! "$CGPT" train --init killed/model.bin --train "$FIX/parity_train.bin" -b 3 -t 17 --steps 0 --val-every 0 >/dev/null 2>&1 ||
     ! "$CGPT" train "${DATA[@]}" --steps 0 --val-every 0 --resume killed >/dev/null 2>&1; then
    survived=0
  fi
done
leftovers=$(ls killed | grep -c tmp)
if [ $survived -eq 1 ] && [ "$leftovers" -le 4 ]; then ok "checkpoints survive kill -9"
else fail "checkpoints survive kill -9" "unloadable checkpoint after a kill (or $leftovers temp files)"; fi

# ---- on real data the loss falls (a small model, so the test stays quick)
steps=12; [ -n "${CGPT_SANITIZE:-}" ] && steps=6
if "$CGPT" train --model d6 -b 4 -t 64 --steps $steps --lr 1e-3 --val-every 0 --log fall.jsonl >fall.txt 2>&1; then
  first=$(head -1 fall.jsonl | sed -E 's/.*"loss":([^,]*).*/\1/'); last=$(tail -1 fall.jsonl | sed -E 's/.*"loss":([^,]*).*/\1/')
  if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }'; then ok "loss falls on Tiny Shakespeare ($first -> $last)"
  else fail "loss falls" "first $first last $last"; fi
  # llm.c's split of Tiny Shakespeare: 32,768 validation and 305,260 training tokens
  counts=$(for s in val train; do od -A n -t d4 -j 8 -N 4 data/tinyshakespeare/tiny_shakespeare_$s.bin; done | tr -s ' \n' ' ')
  [ "$counts" = " 32768 305260 " ] && ok "default data prepared on first use (32,768 + 305,260 tokens)" || fail "default data" "token counts [$counts]"
else fail "loss falls" "$(tail -3 fall.txt)"; fi

# ---- help for every command
for cmd in prepare encode decode train generate bench plot; do
  if "$CGPT" $cmd --help >help.txt 2>&1 && grep -q "usage" help.txt; then ok "$cmd --help"; else fail "$cmd --help" "no usage"; fi
done
"$CGPT" --version | grep -q "matmul rungs" && ok "--version lists rungs" || fail "--version" "no rung list"

# ---- bad input: one line naming the flag or file, exit status 2
expect_error "unknown command" 2 "unknown command" -- "$CGPT" frobnicate
expect_error "unknown flag" 2 "unknown option '--frob'" -- "$CGPT" train --frob
expect_error "missing value" 2 "\-\-steps needs a value" -- "$CGPT" train --steps
expect_error "non-numeric" 2 "\-\-steps: 'ten' is not an integer" -- "$CGPT" train --steps ten
expect_error "out of range" 2 "\-b: 0 is out of range" -- "$CGPT" train -b 0
expect_error "bad float" 2 "\-\-lr: 'fast' is not a number" -- "$CGPT" train --lr fast
expect_error "bad schedule" 2 "\-\-schedule" -- "$CGPT" train --schedule linear
expect_error "unknown model" 2 "unknown model 'd7'" -- "$CGPT" train --model d7 --train "$FIX/parity_train.bin"
expect_error "unknown rung" 2 "unknown rung 'fast'" -- "$CGPT" train --matmul fast
expect_error "missing checkpoint" 2 "nope.bin" -- "$CGPT" train --init nope.bin --train "$FIX/parity_train.bin"
head -c 100 "$FIX/parity_model.bin" >short.bin
expect_error "truncated checkpoint" 2 "short.bin" -- "$CGPT" train --init short.bin --train "$FIX/parity_train.bin"
: >empty.bin
expect_error "empty checkpoint" 2 "empty.bin" -- "$CGPT" train --init empty.bin --train "$FIX/parity_train.bin"
expect_error "shard as checkpoint (wrong magic)" 2 "parity_train.bin" -- "$CGPT" train --init "$FIX/parity_train.bin" --train "$FIX/parity_train.bin"
expect_error "checkpoint as shard (wrong magic)" 2 "parity_model.bin" -- "$CGPT" train "${PARITY[@]/$FIX\/parity_train.bin/$FIX/parity_model.bin}" --val-every 0
expect_error "no matching shards" 2 "no files match" -- "$CGPT" train --init "$FIX/parity_model.bin" --train 'nothing*.bin' -b 3 -t 17
expect_error "T above the model maximum" 2 "exceeds the model's maximum" -- "$CGPT" train --init "$FIX/parity_model.bin" --train "$FIX/parity_train.bin" -b 1 -t 33
# a GPT-2-vocabulary shard has ids >= 333: a clear error, not a crash
printf 'hello world, hello shards\n\nagain\n' >tiny.txt
"$CGPT" prepare tiny.txt --out shards --val-tokens 2 >/dev/null 2>&1
expect_error "token ids beyond the vocabulary" 2 "tiny_train.bin" -- "$CGPT" train --init "$FIX/parity_model.bin" --train shards/tiny_train.bin -b 1 -t 2 --val-every 0
touch notadir
expect_error "unwritable --out" 2 "notadir" -- "$CGPT" train "${PARITY[@]}" --out notadir/run --steps 1
expect_error "unwritable --log" 2 "nodir/log.jsonl" -- "$CGPT" train "${PARITY[@]}" --log nodir/log.jsonl --steps 1
expect_error "resume from nothing" 2 "state.bin" -- "$CGPT" train --resume nothing "${PARITY[@]:2}"
expect_error "resume with another batch" 2 "resume with the same" -- "$CGPT" train --resume whole --train "$FIX/parity_train.bin" -b 2 -t 17 --steps 7
expect_error "generate: missing checkpoint" 2 "missing.bin" -- "$CGPT" generate missing.bin
expect_error "generate: non-GPT-2 vocabulary" 2 "vocabulary" -- "$CGPT" generate "$FIX/parity_model.bin"
expect_error "prepare: no input" 2 "no input files" -- "$CGPT" prepare --out x
expect_error "prepare: missing file" 2 "missing.txt" -- "$CGPT" prepare missing.txt --out x
expect_error "prepare: too little text" 2 "val-tokens" -- "$CGPT" prepare tiny.txt --out x
expect_error "bench: unknown rung" 2 "unknown rung 'quick'" -- "$CGPT" bench --rungs quick

# bench --breakdown on a small model: one row per (pass, shape) of the step, five layer shapes x
# three passes plus the biases, whose times add up to the step's matmul time; then one row per op
# of the step, whose matmul row agrees with the classes and whose unattributed rest is small.
# (The "+ 0" makes awk compare numbers: substr() returns strings, compared as text otherwise.)
"$CGPT" bench --model d6 -b 1 -t 4 --iters 1 --rungs threads --gen-tokens 1 --breakdown --json >breakdown.jsonl 2>/dev/null
if awk '/"breakdown":true/ && /"pass":/ { rows++; match($0, /"ms_per_step":[0-9.]+/); sum += substr($0, RSTART + 14, RLENGTH - 14)
                             if ($0 ~ /"shape":"4x50304x384"/ && $0 ~ /"calls_per_step":1.0/) head++
                             if ($0 ~ /"shape":"4x1536x384"/ && $0 ~ /"calls_per_step":6.0/) fc++ }
        /"breakdown":true/ && /"op":/ { ops++; match($0, /"ms_per_step":-?[0-9.]+/); ms = substr($0, RSTART + 14, RLENGTH - 14) + 0
                             if ($0 ~ /"op":"matmul"/) op_matmul = ms
                             if ($0 ~ /"op":"adamw"/ && ms > 0) adamw++
                             if ($0 ~ /"op":"unattributed"/) rest = ms }
        /"iters_per_s"/ { match($0, /"matmul_ms":[0-9.]+/); total = substr($0, RSTART + 12, RLENGTH - 12) + 0
                          match($0, /"step_ms":[0-9.]+/); step = substr($0, RSTART + 10, RLENGTH - 10) + 0 }
        END { exit !(rows == 18 && head == 3 && fc == 3 && total > 0 && sum > 0.95 * total && sum < 1.05 * total &&
                     ops == 12 && adamw == 1 && op_matmul > 0.9 * total && op_matmul < 1.1 * total &&
                     rest < 0.1 * step && rest > -0.1 * step) }' breakdown.jsonl
then ok "bench --breakdown: 18 classes adding up to the matmul time, 12 op rows covering the step"
else fail "bench --breakdown" "$(head -c 300 breakdown.jsonl)"; fi
# bench --gemm: one JSON row per pass and GPT-2 shape (15 for a rung), each with a positive rate;
# briefly (--gemm-seconds 0: one warm-up call and five timed ones each).
"$CGPT" bench --gemm --rungs threads --gemm-seconds 0 --json >gemm.jsonl 2>/dev/null
if awk '/"rung":"threads"/ && /"gflops":[0-9]/ { match($0, /"gflops":[0-9.]+/); if (substr($0, RSTART + 9, RLENGTH - 9) + 0 > 0) rows++
                                                 if ($0 ~ /"shape":"256x50304x768"/ && $0 ~ /"pass":"dweight"/) head++ }
        END { exit !(rows == 15 && head == 1) }' gemm.jsonl
then ok "bench --gemm: 15 rows with positive rates"
else fail "bench --gemm" "$(head -c 300 gemm.jsonl)"; fi
[ ! -e x/tiny_train.bin ] && [ ! -e x/tiny_val.bin ] && ok "no partial shards after a failed prepare" || fail "partial output" "x/ has shards"

echo "# cli_train: $failures failed"
[ $failures -eq 0 ]
