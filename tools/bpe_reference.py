"""A slow, independent pure-Python GPT-2 byte-level BPE encoder, used to cross-check the C tokenizer
and to write a provisional test fixture where tiktoken is not installed. It follows tiktoken's rules:
split with the GPT-2 pattern (the `regex` module), a piece that is a whole token is that token, and
otherwise the adjacent pair whose concatenation is the lowest-ranked token merges first (leftmost on ties)."""
import json
import os

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# The `regex` module's \s is not exactly Unicode White_Space (tiktoken's Rust regex is), so spell it out.
REFERENCE_PATTERN = (GPT2_PATTERN.replace(r"[^\s", r"[^\p{White_Space}")
                     .replace(r"\S", r"\P{White_Space}").replace(r"\s", r"\p{White_Space}"))
END_OF_TEXT = "<|endoftext|>"


def byte_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable characters: printable Latin-1
    bytes map to themselves, the rest to code points from U+0100 upwards in byte order."""
    printable = [b for b in range(256)
                 if ord("!") <= b <= ord("~") or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table = {b: chr(b) for b in printable}
    next_code_point = 256
    for b in range(256):
        if b not in table:
            table[b] = chr(next_code_point)
            next_code_point += 1
    return table


def load_ranks(gpt2_dir):
    """Token bytes -> rank (= id) from encoder.json, checked against vocab.bpe's merge order."""
    unicode_to_byte = {c: b for b, c in byte_to_unicode().items()}
    with open(os.path.join(gpt2_dir, "encoder.json"), encoding="utf-8") as f:
        encoder = json.load(f)
    ranks = {}
    for token, token_id in encoder.items():
        if token == END_OF_TEXT:
            continue
        ranks[bytes(unicode_to_byte[c] for c in token)] = token_id
    with open(os.path.join(gpt2_dir, "vocab.bpe"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split(" ")) for line in lines[1:] if line]
    for index, (left, right) in enumerate(merges):
        merged = bytes(unicode_to_byte[c] for c in left + right)
        if ranks.get(merged) != 256 + index:
            raise ValueError(f"vocab.bpe merge {index} does not give token {256 + index}")
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError("token ids are not dense")
    return ranks, encoder[END_OF_TEXT], merges


class ReferenceEncoder:
    def __init__(self, gpt2_dir):
        import regex  # only this mode needs it
        self.pattern = regex.compile(REFERENCE_PATTERN)
        self.ranks, self.end_of_text, self.merges = load_ranks(gpt2_dir)

    def pieces(self, text):
        return self.pattern.findall(text)

    def encode_piece(self, piece):
        if piece in self.ranks:
            return [self.ranks[piece]]
        parts = [piece[i:i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            best, best_rank = -1, None
            for i in range(len(parts) - 1):
                rank = self.ranks.get(parts[i] + parts[i + 1])
                if rank is not None and (best_rank is None or rank < best_rank):
                    best, best_rank = i, rank
            if best < 0:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        return [self.ranks[p] for p in parts]

    def encode_ordinary(self, text):
        ids = []
        for piece in self.pieces(text):
            ids.extend(self.encode_piece(piece.encode("utf-8")))
        return ids
