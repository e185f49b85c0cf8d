#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer_cases.txt: varied texts with the GPT-2 token ids that OpenAI's
tiktoken gives them, for tests/test_tokenizer.c to compare against.

    python3 tools/make_tokenizer_fixture.py --out tests/fixtures/tokenizer_cases.txt
        needs only tiktoken and the standard library; works offline: the "gpt2" encoding is built
        from data/gpt2/encoder.json and vocab.bpe instead of being downloaded.
    python3 tools/make_tokenizer_fixture.py --reference --out ...
        uses tools/bpe_reference.py (pure Python + the `regex` module) instead of tiktoken, for
        machines without tiktoken; a provisional fixture.

Every line after the '#' header lines is: hex of the text's UTF-8 bytes, a tab, the ids separated
by spaces. The cases are the same on every run (fixed seeds): prose, Tiny Shakespeare excerpts, code,
numbers, contractions, many scripts, combining marks, emoji sequences, every kind of Unicode space,
long runs, "<|endoftext|>" as text, and seeded random strings. Random code points are drawn only from
characters assigned in Unicode 15.0 (data/unicode/UnicodeData.txt): the C tokenizer's tables are 15.0,
and a later Unicode version in tiktoken's regex engine would class newer characters differently.
"""
import argparse
import os
import random
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.dont_write_bytecode = True  # leave no __pycache__ in tools/
import bpe_reference  # noqa: E402  (standard library only unless --reference)


def assigned_code_points():
    """Code points assigned in Unicode 15.0, without surrogates."""
    assigned = set()
    range_start = None
    with open(os.path.join(REPO, "data", "unicode", "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.split(";")
            code_point, name = int(fields[0], 16), fields[1]
            if name.endswith(", First>"):
                range_start = code_point
            elif name.endswith(", Last>"):
                assigned.update(range(range_start, code_point + 1))
            else:
                assigned.add(code_point)
    return assigned - set(range(0xD800, 0xE000))


FIXED_CASES = [
    "", "Hello world", "Hello, world!", " Hello", "  Hello", "   Hello", "Hello ", "Hello  ", "Hello   ",
    " ", "  ", "   ", "\n", "\n\n", "\n\n\n", " \n", "\n ", " \n ", "a\n\nb", "a \n b", "a  b", "a   b",
    "a\tb", "a\t\tb", "\ta", " \ta", "\t a", "a\r\nb", "line one\r\nline two\r\n", "\r\n\r\n", "x\r\n",
    "trailing spaces   ", "spaces   \n   before newline", "  leading and trailing  ",
    "     five spaces before word", "tab\tseparated\tvalues\n1\t2\t3\n",
    "it's", "It's", "IT'S", "I'LL", "I'll", "we've", "WE'VE", "you're", "YOU'RE", "I'm", "I'M", "he'd",
    "HE'D", "don't", "DON'T", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'", "''", "'''s", "' s",
    "rock'n'roll", "the cat's toy", "O'Brien's", "'tis", "'Tis", "ma'am", "y'all'd've",
    "123456789 3.14", "0", "007", "1,000,000", "-42", "+3.5e-10", "2024-05-20", "12:30:45", "v1.2.3",
    "0x1F600", "$100", "50%", "#1", "1st 2nd 3rd 4th", "3+4=7", "π≈3.14159",
    "<|endoftext|>", "Hello<|endoftext|>world", " <|endoftext|> ", "<|endoftext|><|endoftext|>",
    "<|endoftext", "endoftext|>", "<|", "|>",
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "She said, \"Hello?\" -- and then... nothing.",
    "Mr. & Mrs. Smith (née Jones) [sic] {braces} <angle> @user #tag ~tilde `tick` ^caret | pipe \\ backslash",
    "email@example.com https://example.com/path?query=1&x=y#frag",
    "日本語のテキスト", "中文字符测试", "你好，世界！", "こんにちは世界", "カタカナ ひらがな 漢字",
    "한국어 텍스트입니다", "안녕하세요", "ㄱㄴㄷ ㅏㅑㅓ",
    "مرحبا بالعالم", "العربية ١٢٣ ٤٥٦", "שלום עולם", "Привет, мир!", "Ελληνικά κείμενα", "ქართული",
    "नमस्ते दुनिया", "हिन्दी में लिखा गया पाठ", "०१२३४५६७८९", "தமிழ்", "বাংলা", "ภาษาไทย", "ພາສາລາວ",
    "Tiếng Việt có dấu", "Zürich Straße façade naïve coöperate", "e\u0301 vs \u00e9", "a\u0308\u0301\u0323",
    "Z\u0351\u036b\u0343a\u0310\u0334l\u0360g\u0489o", "\u1e9b\u0323", "Ǆ ǅ ǆ", "ﬁ ﬂ", "Ⅻ Ⅳ ⅸ ↂ", "ⅰⅱⅲ",
    "x² + y³ = z¹", "½ ¼ ¾ ⅓", "①②③", "⑴⑵", "𝟘𝟙𝟚", "𝐀𝐁𝐂 𝒜𝒷𝒸", "ℕℤℚℝ", "℃ ℉ № ™",
    "😀", "😀😃😄", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵", "❤️", "1️⃣", "🧑🏿‍🚀 🚀", "emoji😀in text",
    " 😀", "a😀b", "🙂 smile", "☃☕✈", "🀄🃏",
    "\u00a0", "a\u00a0b", "\u00a0\u00a0word", "word\u00a0", "a\u3000b", "\u3000\u3000", "thin\u2009space",
    "a\u2028b", "a\u2029b", "a\u0085b", "a\u1680b", "a\u202fb", "a\u205fb", "a\u200ab", "a\u2007b",
    "a\u200bb", "a\ufeffb", "a\u200db", "\v\f", "a\vb\fc", "a\x1cb\x1dc\x1ed\x1ff", "\x00", "a\x00b",
    "\x7f", "\u0080\u009f", "a \u00a0 b", " \u00a0", "\u00a0 ", "\t\u3000 x",
    "\uffff", "\U0010ffff", "\ue000 private", "\U000f0000",
    "ab" * 50, "a" * 100, " " * 50 + "x", "\n" * 30, "!" * 40, "1234567890" * 5,
]

CODE_SNIPPETS = [
    "#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, world!\\n\");\n    return 0;\n}\n",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
    "for (size_t i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}\n",
    "{\"name\": \"cgpt\", \"version\": \"0.1.0\", \"tokens\": [50256, 198, 628], \"ok\": true, \"x\": null}",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
    "if [ -f \"$file\" ]; then\n  echo \"found $file\" >&2\nfi\n",
    "<html>\n  <body class=\"main\">\n    <p>Hi &amp; bye</p>\n  </body>\n</html>\n",
    "    x = y  # comment with  two spaces\n\t\ty += 1;;\n",
    "a = [1, 2, 3]\r\nb = {'k': 'v'}\r\n",
    "fn main() -> Result<(), Box<dyn Error>> { let v: Vec<u8> = vec![0; 16]; Ok(()) }",
    "λx.λy.x  // lambda\n",
    "matrix[i][j] += alpha * (x[i] - mu) / sqrtf(var + 1e-5f);",
]

# Code point ranges to sample random characters from (only assigned ones are used).
RANDOM_RANGES = [
    (0x20, 0x7E), (0x09, 0x0D), (0xA0, 0xFF), (0x100, 0x24F), (0x250, 0x2FF), (0x300, 0x36F),
    (0x370, 0x3FF), (0x400, 0x4FF), (0x530, 0x58F), (0x590, 0x5FF), (0x600, 0x6FF), (0x700, 0x74F),
    (0x900, 0x97F), (0x980, 0x9FF), (0xB80, 0xBFF), (0xE00, 0xE7F), (0x10A0, 0x10FF), (0x1100, 0x11FF),
    (0x1680, 0x169F), (0x16A0, 0x16FF), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x2070, 0x209F),
    (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2150, 0x218F), (0x2190, 0x21FF), (0x2200, 0x22FF),
    (0x2460, 0x24FF), (0x2500, 0x257F), (0x2600, 0x26FF), (0x2700, 0x27BF), (0x2E80, 0x2EFF),
    (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x3100, 0x312F), (0x3190, 0x319F),
    (0x3200, 0x32FF), (0x4E00, 0x9FFF), (0xA000, 0xA48F), (0xA830, 0xA83F), (0xAC00, 0xD7A3),
    (0xE000, 0xE0FF), (0xF900, 0xFAFF), (0xFB00, 0xFB4F), (0xFE00, 0xFE0F), (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF), (0xFFF0, 0xFFFF), (0x10000, 0x1007F), (0x10140, 0x1018F), (0x10300, 0x1034F),
    (0x10900, 0x1091F), (0x11000, 0x1107F), (0x12000, 0x123FF), (0x12400, 0x1247F), (0x13000, 0x1342F),
    (0x16A40, 0x16A6F), (0x1D400, 0x1D7FF), (0x1D360, 0x1D37F), (0x1E900, 0x1E95F), (0x1EC70, 0x1ECBF),
    (0x1F000, 0x1F02F), (0x1F100, 0x1F1FF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF),
    (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF), (0x1FBF0, 0x1FBF9), (0x20000, 0x2A6DF), (0x2B740, 0x2B81D),
    (0x31350, 0x323AF), (0xE0000, 0xE007F), (0xE0100, 0xE01EF), (0xF0000, 0xF00FF), (0x10FF00, 0x10FFFD),
]

# Characters that sit on the pre-tokenizer's decision points, mixed into random strings.
BOUNDARY_CHARS = [" ", " ", " ", "  ", "\n", "\t", "\r\n", "'", "'s", "'ll", "'RE", "0", "7", "x", "Q",
                  "!", ".", "\u00a0", "\u3000", "\u2009", "\u0301", "\u200d", "😀", "é", "中", "١"]


def make_cases():
    rng = random.Random(20240520)
    cases = list(FIXED_CASES) + list(CODE_SNIPPETS)

    with open(os.path.join(REPO, "data", "tinyshakespeare", "input.txt"), encoding="utf-8") as f:
        shakespeare = f.read()
    cases.append(shakespeare[:3000])
    cases.append(shakespeare[-1000:])
    for _ in range(80):
        start = rng.randrange(len(shakespeare) - 600)
        cases.append(shakespeare[start:start + rng.randint(1, 600)])

    # Long runs that take the C tokenizer's priority-queue merge path (pieces over 128 bytes).
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    cases += [
        " " * 300 + "word", "a" * 1000, " " + "a" * 999, "0" * 500, "9" * 257, "!" * 300, "ab" * 600,
        "abc" * 333, "\n" * 200, "\t" * 150 + "x", " " * 200, "\u00a0" * 100, "😀" * 100, "中" * 200,
        "".join(rng.choice(letters) for _ in range(1500)), "".join(rng.choice("0123456789") for _ in range(800)),
        "".join(rng.choice("!@#$%^&*()_+-=[]{};:,.<>/?|~`\"") for _ in range(600)),
        "".join(rng.choice(["the", "and", "ing", "tion", "er", "a", "e"]) for _ in range(400)),
    ]

    # Random strings of the characters the pre-tokenizer cares most about.
    ascii_soup = " \t\n\r'sStTrReEvVmMlLdD0123456789!?.,-_aAbzZ\u00a0"
    for _ in range(250):
        cases.append("".join(rng.choice(ascii_soup) for _ in range(rng.randint(1, 30))))

    # Random Unicode from many blocks, mixed with boundary characters.
    assigned = assigned_code_points()
    pools = []
    for first, last in RANDOM_RANGES:
        pool = [c for c in range(first, last + 1) if c in assigned]
        if pool:
            pools.append(pool)
    for _ in range(400):
        parts = []
        for _ in range(rng.randint(1, 24)):
            if rng.random() < 0.3:
                parts.append(rng.choice(BOUNDARY_CHARS))
            else:
                pool = rng.choice(pools)
                parts.append("".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 4))))
        cases.append("".join(parts))
    for _ in range(60):  # one block at a time, like real text in one script
        pool = rng.choice(pools)
        words = ["".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 8))]
        cases.append(rng.choice([" ", "  ", "\n", ""]).join(words) + rng.choice(["", " ", "\n", ".", "  "]))
    return cases


def tiktoken_encoder():
    import tiktoken
    ranks, end_of_text, _ = bpe_reference.load_ranks(os.path.join(REPO, "data", "gpt2"))
    encoding = tiktoken.Encoding(name="gpt2_local", pat_str=bpe_reference.GPT2_PATTERN, mergeable_ranks=ranks,
                                 special_tokens={bpe_reference.END_OF_TEXT: end_of_text})
    if encoding.n_vocab != 50257:
        sys.exit(f"built a vocabulary of {encoding.n_vocab} tokens, expected 50257")
    return encoding.encode_ordinary, encoding.decode_bytes, f"tiktoken {getattr(tiktoken, '__version__', '?')}"


def reference_encoder():
    import regex
    reference = bpe_reference.ReferenceEncoder(os.path.join(REPO, "data", "gpt2"))
    ranks = reference.ranks
    token_bytes = {token_id: token for token, token_id in ranks.items()}
    token_bytes[reference.end_of_text] = bpe_reference.END_OF_TEXT.encode()

    def decode_bytes(ids):
        return b"".join(token_bytes[i] for i in ids)
    return reference.encode_ordinary, decode_bytes, f"tools/bpe_reference.py (python regex {regex.__version__})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join("tests", "fixtures", "tokenizer_cases.txt"))
    parser.add_argument("--reference", action="store_true",
                        help="use tools/bpe_reference.py (needs the regex module) instead of tiktoken")
    args = parser.parse_args()

    encode, decode_bytes, engine = reference_encoder() if args.reference else tiktoken_encoder()
    cases = make_cases()
    lines = [
        "# GPT-2 tokenizer test cases for tests/test_tokenizer.c, written by tools/make_tokenizer_fixture.py",
        f"# ids from: {engine}",
        "# each line: hex of the UTF-8 text <TAB> token ids separated by spaces",
    ]
    seen = set()
    for text in cases:
        if text in seen:
            continue
        seen.add(text)
        ids = encode(text)
        if decode_bytes(ids) != text.encode("utf-8"):
            sys.exit(f"ids for {text!r} do not decode back to the text")
        if 50256 in ids:
            sys.exit(f"text {text!r} was encoded with <|endoftext|>")
        lines.append(text.encode("utf-8").hex() + "\t" + " ".join(map(str, ids)))
    with open(args.out, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}: {len(lines) - 3} cases, ids from {engine}")


if __name__ == "__main__":
    main()
