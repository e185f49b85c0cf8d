#!/usr/bin/env bash
# Command-line tests of `cgpt encode` and `cgpt decode`: known ids, exact round trips (Unicode,
# CRLF, invalid UTF-8, Tiny Shakespeare), the output format, --vocab, and that every bad id or
# unknown flag exits 2 with a single "cgpt: ..." line and writes nothing to stdout.
set -u
CGPT=${CGPT:-build/cgpt}
case $CGPT in /*) ;; *) CGPT=$PWD/$CGPT ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$CGPT" ]; then echo "FAIL cli_tokenizer: no binary at $CGPT"; exit 1; fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
failures=0
ok() { echo "ok $1"; }
fail() { echo "FAIL $1${2:+: $2}"; failures=$((failures + 1)); }
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}

# expect_error NAME PATTERN COMMAND...: stdin from the file "input"; exit status 2, nothing on stdout,
# exactly one line on stderr that starts with "cgpt: " and matches PATTERN.
expect_error() {
  local name=$1 pattern=$2; shift 2
  "$@" <input >out 2>err
  local status=$?
  if [ $status -ne 2 ]; then fail "$name" "exit status $status, expected 2"; return; fi
  if [ -s out ]; then fail "$name" "wrote to stdout"; return; fi
  if [ "$(wc -l <err)" -ne 1 ]; then fail "$name" "stderr has $(wc -l <err) lines: $(cat err)"; return; fi
  if ! grep -q "^cgpt: " err || ! grep -qE -- "$pattern" err; then fail "$name" "message: $(cat err)"; return; fi
  ok "$name"
}

# round_trip NAME FILE: encode then decode gives back the same bytes.
round_trip() {
  if "$CGPT" encode <"$2" >ids.txt && "$CGPT" decode <ids.txt >back.txt && cmp -s "$2" back.txt; then
    ok "$1"
  else
    fail "$1" "bytes differ after encode | decode"
  fi
}

"$CGPT" encode --help >out 2>err
check encode_help test $? -eq 0 -a ! -s err
check encode_help_text grep -q "usage: cgpt encode" out
"$CGPT" decode --help >out 2>err
check decode_help test $? -eq 0 -a ! -s err
check decode_help_text grep -q "usage: cgpt decode" out

check encode_hello_world test "$(echo 'Hello world' | "$CGPT" encode)" = "15496 995 198"
check decode_hello_world test "$(echo '15496 995' | "$CGPT" decode)" = "Hello world"
check decode_any_whitespace test "$(printf '15496\n\t995 \r\n' | "$CGPT" decode)" = "Hello world"

printf 'Hello world\n\nline two' | "$CGPT" encode >ids.txt
check encode_one_line test "$(wc -l <ids.txt)" -eq 1 -a "$(tail -c 1 ids.txt | od -An -c | tr -d ' ')" = '\n'
check encode_spaces_between grep -qE '^[0-9]+( [0-9]+)*$' ids.txt
"$CGPT" encode </dev/null >out
check encode_empty_input test "$(od -An -c out | tr -d ' ')" = '\n'
"$CGPT" decode </dev/null >out
check decode_empty_input test ! -s out

printf '<|endoftext|>' | "$CGPT" encode >ids.txt
check endoftext_is_text test "$(cat ids.txt)" = "27 91 437 1659 5239 91 29"
check decode_50256 test "$(echo 50256 | "$CGPT" decode)" = "<|endoftext|>"

printf 'Unicode: na\xc3\xafve caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7, \xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87\r\n' >text.txt
printf 'emoji \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd\n\ttabs\t\tand   spaces   \n\xc2\xa0\xe3\x80\x80 end  ' >>text.txt
round_trip round_trip_unicode text.txt
printf 'bad \xff\xfe bytes \xc3 \xed\xa0\x80 \xf0\x9f\x98 end\x80' >invalid.txt
round_trip round_trip_invalid_utf8 invalid.txt
round_trip round_trip_tiny_shakespeare "$root/data/tinyshakespeare/input.txt"

mkdir vocab && cp "$root/data/gpt2/encoder.json" "$root/data/gpt2/vocab.bpe" vocab/
"$CGPT" encode <text.txt >embedded_ids.txt
"$CGPT" encode --vocab vocab <text.txt >dir_ids.txt
check vocab_dir_same_ids cmp -s embedded_ids.txt dir_ids.txt
check vocab_dir_decode test "$(echo '15496 995' | "$CGPT" decode --vocab=vocab)" = "Hello world"

echo "15496 995" >input
expect_error encode_unknown_flag "unknown option '--bogus'" "$CGPT" encode --bogus
expect_error decode_unknown_flag "unknown option '--bogus'" "$CGPT" decode --bogus
expect_error encode_extra_argument "unexpected argument" "$CGPT" encode extra
expect_error encode_vocab_missing "nowhere/encoder.json" "$CGPT" encode --vocab nowhere
expect_error decode_vocab_missing "nowhere/encoder.json" "$CGPT" decode --vocab nowhere
expect_error vocab_needs_value "needs a value" "$CGPT" encode --vocab
echo "15496 995 abc 11" >input
expect_error decode_not_a_number "'abc' \(id number 3, byte offset 10\) is not a token id" "$CGPT" decode
echo "15496 50257" >input
expect_error decode_too_large "'50257' \(id number 2, byte offset 6\) is out of range" "$CGPT" decode
printf '0\n\n-1\n' >input
expect_error decode_negative "'-1' \(id number 2, byte offset 3\) is out of range" "$CGPT" decode
echo "99999999999999999999999999" >input
expect_error decode_huge "is out of range" "$CGPT" decode
echo "12x" >input
expect_error decode_trailing_junk "'12x' \(id number 1" "$CGPT" decode
printf '1 2 \x01\x1b[31m 3' >input
expect_error decode_control_bytes_one_line "not a token id" "$CGPT" decode

[ $failures -eq 0 ]
