/* Tests of the GPT-2 tokenizer: known ids, the pre-tokenizer's pieces, round trips (invalid UTF-8
 * included), every token's bytes, Tiny Shakespeare's token count, loading errors, the two BPE merge
 * strategies against each other, and tests/fixtures/tokenizer_cases.txt (ids from tiktoken, written
 * by tools/make_tokenizer_fixture.py) when that file is present. */
#include <stdint.h>

#include "data/embedded.h"
#include "test.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "util/timer.h"

static Tokenizer *shared_tokenizer;

static const Tokenizer *tokenizer(void) {
    if (!shared_tokenizer) {
        Error err = {0};
        shared_tokenizer = tokenizer_load_embedded(&err);
        if (!shared_tokenizer) {
            fprintf(stderr, "cannot load the embedded tokenizer: %s\n", err.message);
            exit(1);
        }
    }
    return shared_tokenizer;
}

typedef struct {
    int32_t *ids;
    size_t count, capacity;
} IdList;

static void push_id(IdList *list, int32_t id) {
    if (list->count == list->capacity) {
        list->capacity = list->capacity ? list->capacity * 2 : 256;
        list->ids = realloc(list->ids, list->capacity * sizeof *list->ids);
        if (!list->ids) exit(1);
    }
    list->ids[list->count++] = id;
}

/* Encodes text (len bytes); the list is emptied first. Returns 0 on success. */
static int encode(IdList *list, const char *text, size_t len) {
    Error err = {0};
    list->count = 0;
    int status = tokenizer_encode(tokenizer(), text, len, &list->ids, &list->count, &list->capacity, &err);
    if (status != 0) fprintf(stderr, "  encode failed: %s\n", err.message);
    return status;
}

/* Concatenated bytes of ids (malloc'ed; *len set); NULL if an id is invalid. */
static char *decode(const int32_t *ids, size_t count, size_t *len) {
    size_t total = 0, token_len;
    for (size_t i = 0; i < count; i++) {
        if (!tokenizer_token_bytes(tokenizer(), ids[i], &token_len)) return NULL;
        total += token_len;
    }
    char *out = malloc(total + 1), *at = out;
    for (size_t i = 0; i < count; i++) {
        const char *bytes = tokenizer_token_bytes(tokenizer(), ids[i], &token_len);
        memcpy(at, bytes, token_len);
        at += token_len;
    }
    *len = total;
    return out;
}

static int round_trips(const char *text, size_t len) {
    IdList list = {0};
    int ok = encode(&list, text, len) == 0;
    size_t decoded_len = 0;
    char *decoded = ok ? decode(list.ids, list.count, &decoded_len) : NULL;
    ok = decoded && decoded_len == len && memcmp(decoded, text, len) == 0;
    free(decoded);
    free(list.ids);
    return ok;
}

static int ids_equal(const int32_t *a, size_t a_count, const int32_t *b, size_t b_count) {
    return a_count == b_count && (a_count == 0 || memcmp(a, b, a_count * sizeof *a) == 0);
}

static void print_ids(const char *label, const int32_t *ids, size_t count) {
    fprintf(stderr, "    %s:", label);
    for (size_t i = 0; i < count && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, count > 40 ? " ... (%zu ids)\n" : "\n", count);
}

TEST(test_embedded_vocabulary) {
    const Tokenizer *tok = tokenizer();
    CHECK(tokenizer_vocab_size(tok) == GPT2_VOCAB_SIZE, "vocab size %d", tokenizer_vocab_size(tok));
    size_t len = 0;
    const char *bytes = tokenizer_token_bytes(tok, GPT2_EOT_TOKEN, &len);
    CHECK(bytes && len == 13 && memcmp(bytes, "<|endoftext|>", 13) == 0, "token 50256");
    bytes = tokenizer_token_bytes(tok, 198, &len);
    CHECK(bytes && len == 1 && bytes[0] == '\n', "token 198 is a newline");
    bytes = tokenizer_token_bytes(tok, 220, &len);
    CHECK(bytes && len == 1 && bytes[0] == ' ', "token 220 is a space");
    bytes = tokenizer_token_bytes(tok, 15496, &len);
    CHECK(bytes && len == 5 && memcmp(bytes, "Hello", 5) == 0, "token 15496 is Hello");
    bytes = tokenizer_token_bytes(tok, 0, &len);
    CHECK(bytes && len == 1 && bytes[0] == '!', "token 0 is '!'");
    CHECK(tokenizer_token_bytes(tok, -1, &len) == NULL, "id -1");
    CHECK(tokenizer_token_bytes(tok, GPT2_VOCAB_SIZE, &len) == NULL, "id 50257");
}

TEST(test_known_ids) {
    /* Ids from GPT-2's tokenizer (checked with tools/bpe_reference.py). */
    static const struct {
        const char *text;
        int32_t ids[8];
        size_t count;
    } cases[] = {
        {"Hello world", {15496, 995}, 2},
        {"", {0}, 0},
        {" ", {220}, 1},
        {"   ", {220, 220, 220}, 3},
        {"  Hello", {220, 18435}, 2},
        {"Hello   ", {15496, 220, 220, 220}, 4},
        {"\n\n\n", {628, 198}, 2},
        {"First Citizen:\n", {5962, 22307, 25, 198}, 4},
        {"<|endoftext|>", {27, 91, 437, 1659, 5239, 91, 29}, 7},
        {"it's", {270, 338}, 2},
        {"123456789 3.14", {10163, 2231, 3134, 4531, 513, 13, 1415}, 7},
    };
    IdList list = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (encode(&list, cases[i].text, strlen(cases[i].text)) != 0) continue;
        int same = ids_equal(list.ids, list.count, cases[i].ids, cases[i].count);
        CHECK(same, "ids of \"%s\"", cases[i].text);
        if (!same) {
            print_ids("got", list.ids, list.count);
            print_ids("expected", cases[i].ids, cases[i].count);
        }
    }
    free(list.ids);
}

/* Pieces the pre-tokenizer cuts text into, joined with '|' (pieces never contain '|' here). */
static void pieces_of(const char *text, char *out, size_t out_size) {
    size_t len = strlen(text), used = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pretokenize_next((const uint8_t *)text, len, pos);
        if (end <= pos || end > len) {
            snprintf(out, out_size, "(bad end %zu at %zu)", end, pos);
            return;
        }
        if (pos > 0 && used + 1 < out_size) out[used++] = '|';
        for (size_t i = pos; i < end && used + 1 < out_size; i++) out[used++] = text[i];
        pos = end;
    }
    out[used] = 0;
}

TEST(test_pretokenizer_pieces) {
    static const struct {
        const char *text, *pieces;
    } cases[] = {
        {"Hello world", "Hello| world"},
        {"Hello   world", "Hello|  | world"},
        {"a \n b", "a| \n| b"},
        {"a\n\nb", "a|\n|\n|b"},         /* "\s+(?!\S)" leaves the last newline to "\s+" */
        {"a\n\n", "a|\n\n"},
        {"x   ", "x|   "},
        {" \tx", " |\t|x"},
        {"it's", "it|'s"},
        {"IT'S", "IT|'|S"},
        {"we've I'll you're he'd I'm don't", "we|'ve| I|'ll| you|'re| he|'d| I|'m| don|'t"},
        {"'x", "'|x"},
        {"!'s", "!'|s"},
        {" 's", " '|s"},
        {"abc123def", "abc|123|def"},
        {" 42 !?", " 42| !?"},
        {"a\r\nb", "a|\r|\n|b"},
        {"e\xcc\x81", "e|\xcc\x81"},                            /* combining acute accent: not a letter */
        {"\xc2\xa0x", "\xc2\xa0|x"},                            /* NBSP is a space, but not the optional ' ' */
        {"a\xe3\x80\x80\xe3\x80\x80" "b", "a|\xe3\x80\x80|\xe3\x80\x80|b"}, /* U+3000 ideographic spaces */
        {"\xd9\xa1\xd9\xa2 x", "\xd9\xa1\xd9\xa2| x"},          /* Arabic-Indic digits are numbers */
        {"\xe2\x85\xab" "a", "\xe2\x85\xab|a"},                 /* Roman numeral twelve (Nl) */
        {"\xc2\xbd" "1", "\xc2\xbd" "1"},                       /* one half (No) joins digits */
        {"a\x1c" "b", "a|\x1c|b"},                              /* U+001C is not White_Space */
        {"a\x0b\x0c" "b", "a|\x0b|\x0c|b"},
        {" \xff!", " \xff!"},                                   /* invalid byte: punctuation-like */
        {"a\xff" "b", "a|\xff|b"},
        {"\xe2\x82" "a", "\xe2\x82|a"},                         /* cut-off sequence */
        {"\xed\xa0\x80x", "\xed\xa0\x80|x"},                    /* encoded surrogate: invalid */
    };
    char got[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pieces_of(cases[i].text, got, sizeof got);
        CHECK(strcmp(got, cases[i].pieces) == 0, "case %zu: pieces '%s', expected '%s'", i, got, cases[i].pieces);
    }
}

TEST(test_utf8_decoding) {
    static const struct {
        const char *bytes;
        size_t len;
        uint32_t code_point;
        size_t length;
    } cases[] = {
        {"A", 1, 'A', 1},
        {"\xc3\xa9", 2, 0xE9, 2},
        {"\xe2\x82\xac", 3, 0x20AC, 3},
        {"\xf0\x9f\x98\x80", 4, 0x1F600, 4},
        {"\xf4\x8f\xbf\xbf", 4, 0x10FFFF, 4},
        {"\xc0\x80", 2, UTF8_INVALID, 1},         /* overlong */
        {"\xe0\x80\xaf", 3, UTF8_INVALID, 1},     /* overlong */
        {"\xed\xa0\x80", 3, UTF8_INVALID, 1},     /* surrogate */
        {"\xf4\x90\x80\x80", 4, UTF8_INVALID, 1}, /* above U+10FFFF */
        {"\xf0\x9f\x98", 3, UTF8_INVALID, 1},     /* cut off */
        {"\x80", 1, UTF8_INVALID, 1},
        {"\xff", 1, UTF8_INVALID, 1},
        {"\xc3" "A", 2, UTF8_INVALID, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t code_point = 0;
        size_t length = utf8_decode((const uint8_t *)cases[i].bytes, cases[i].len, 0, &code_point);
        CHECK(length == cases[i].length && code_point == cases[i].code_point, "case %zu: got U+%X length %zu", i,
              (unsigned)code_point, length);
    }
}

TEST(test_round_trips) {
    static const char *texts[] = {
        "", "a", "Hello, world! How's it going?\n", "  multiple   spaces\t\ttabs\r\nand CRLF\r\n",
        "日本語のテキストと English mixed", "नमस्ते दुनिया", "مرحبا بالعالم ١٢٣", "안녕하세요 세계",
        "👨‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag", "e\xcc\x81 \xe2\x85\xab \xc2\xbd \xc2\xa0 \xe3\x80\x80 \xe2\x80\x89",
        "<|endoftext|>", "trailing   ", "\n\n\n\n", "int main(void) { return 0; }\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        CHECK(round_trips(texts[i], strlen(texts[i])), "text %zu: \"%s\"", i, texts[i]);
}

TEST(test_end_of_text_is_plain_text) {
    static const char *texts[] = {"<|endoftext|>", "a<|endoftext|>b", " <|endoftext|>", "<|endoftext|>\n\n<|endoftext|>"};
    IdList list = {0};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if (encode(&list, texts[i], strlen(texts[i])) != 0) continue;
        for (size_t j = 0; j < list.count; j++)
            CHECK(list.ids[j] != GPT2_EOT_TOKEN, "\"%s\" gave id 50256 at %zu", texts[i], j);
        CHECK(round_trips(texts[i], strlen(texts[i])), "\"%s\" round trip", texts[i]);
    }
    free(list.ids);
}

static uint64_t next_random(uint64_t *state) { /* xorshift64* */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1Dull;
}

TEST(test_invalid_utf8) {
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\xff", 1}, {"\x80", 1}, {"\xc0\x80", 2}, {"\xed\xa0\x80", 3}, {"\xf4\x90\x80\x80", 4}, {"\xe2\x82", 2},
        {" \xff\xfe", 3}, {"a\x80" "b", 3}, {"\xf0\x9f\x98", 3}, {"\xf0\x9f\x98 x", 5}, {"abc\xc3", 4},
        {"\x00\x00", 2}, {"\xfe\xff\xfe\xff", 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(round_trips(cases[i].bytes, cases[i].len), "case %zu", i);

    /* "a\xff" "b": three pieces, each a single token. */
    IdList list = {0};
    if (encode(&list, "a\xff" "b", 3) == 0) CHECK(list.count == 3, "a\\xffb gave %zu ids", list.count);
    free(list.ids);

    /* Random bytes, with a bias towards UTF-8 lead and continuation bytes and spaces. */
    uint64_t state = 0x9E3779B97F4A7C15ull;
    int rounds = test_sanitized() ? 300 : 3000, failures = 0;
    char text[96];
    for (int round = 0; round < rounds; round++) {
        size_t len = next_random(&state) % sizeof text;
        for (size_t i = 0; i < len; i++) {
            uint64_t r = next_random(&state);
            switch (r % 6) {
            case 0: text[i] = (char)(0x80 + (r >> 8) % 64); break;
            case 1: text[i] = (char)(0xC0 + (r >> 8) % 64); break;
            case 2: text[i] = ' '; break;
            case 3: text[i] = (char)('a' + (r >> 8) % 26); break;
            default: text[i] = (char)(r >> 8); break;
            }
        }
        if (!round_trips(text, len) && failures++ < 5) CHECK(0, "random bytes, round %d", round);
    }
    CHECK(failures == 0, "%d random byte strings did not round-trip", failures);
}

TEST(test_every_token) {
    /* Each token decodes to non-empty bytes; a token whose bytes the pre-tokenizer keeps as one piece
     * encodes back to itself (BPE gives a whole-token piece that token). */
    const Tokenizer *tok = tokenizer();
    IdList list = {0};
    int single_piece = 0, wrong = 0;
    for (int id = 0; id < GPT2_VOCAB_SIZE; id++) {
        size_t len = 0;
        const char *bytes = tokenizer_token_bytes(tok, id, &len);
        if (!bytes || len == 0) {
            CHECK(0, "token %d has no bytes", id);
            continue;
        }
        if (id == GPT2_EOT_TOKEN) continue;
        if (pretokenize_next((const uint8_t *)bytes, len, 0) != len) continue;
        single_piece++;
        if (encode(&list, bytes, len) != 0 || list.count != 1 || list.ids[0] != id) {
            if (wrong++ < 5) CHECK(0, "token %d does not encode back to itself (%zu ids)", id, list.count);
        }
    }
    CHECK(wrong == 0, "%d tokens did not encode back to themselves", wrong);
    /* Nearly every GPT-2 token is one piece; a few (like "\n " or ".\"") are cut by the pre-tokenizer. */
    CHECK(single_piece > 49000, "only %d tokens are a single piece", single_piece);
    printf("  %d of 50256 tokens are a single pre-tokenizer piece and encode back to themselves\n", single_piece);
    free(list.ids);
}

TEST(test_tiny_shakespeare) {
    EmbeddedFile text = embedded_tiny_shakespeare();
    IdList list = {0};
    Error err = {0};
    double start = now_seconds();
    int status = tokenizer_encode_documents(tokenizer(), text.data, text.size, &list.ids, &list.count, &list.capacity, &err);
    double seconds = now_seconds() - start;
    CHECK(status == 0, "%s", err.message);
    if (status != 0) return;
    printf("  Tiny Shakespeare (%zu bytes): %zu tokens in %.3f s\n", text.size, list.count, seconds);
    CHECK(list.count == 338028, "%zu tokens, expected 338028 (32768 val + 305260 train)", list.count);
    static const int32_t first[] = {50256, 5962, 22307, 25, 198, 8421, 356, 5120, 597, 2252, 11, 3285, 502, 2740, 13, 628};
    size_t first_count = sizeof first / sizeof first[0];
    CHECK(list.count >= first_count && memcmp(list.ids, first, sizeof first) == 0, "first tokens");

    /* One <|endoftext|> per section; without them the ids decode to the text. */
    size_t sections = 1, end_of_texts = 0;
    for (size_t i = 0; i + 1 < text.size; i++)
        if (text.data[i] == '\n' && text.data[i + 1] == '\n') sections++, i++;
    size_t kept = 0;
    for (size_t i = 0; i < list.count; i++) {
        if (list.ids[i] == GPT2_EOT_TOKEN) end_of_texts++;
        else list.ids[kept++] = list.ids[i];
    }
    CHECK(end_of_texts == sections, "%zu <|endoftext|> for %zu sections", end_of_texts, sections);
    size_t len = 0;
    char *decoded = decode(list.ids, kept, &len);
    CHECK(decoded && len == text.size && memcmp(decoded, text.data, len) == 0, "decodes to the text");
    free(decoded);
    free(list.ids);
}

TEST(test_documents_sections) {
    /* Each case: text, and the texts of the sections it is cut into. */
    static const struct {
        const char *text;
        const char *sections[4];
        int count;
    } cases[] = {
        {"", {""}, 1},
        {"abc", {"abc"}, 1},
        {"a\n\nb", {"a\n\n", "b"}, 2},
        {"a\n\n\nb", {"a\n\n", "\nb"}, 2},
        {"x\n\n", {"x\n\n", ""}, 2},
        {"\n\n\n\n", {"\n\n", "\n\n", ""}, 3},
        {"one\n\ntwo\n\n\n\nthree\n", {"one\n\n", "two\n\n", "\n\n", "three\n"}, 4},
    };
    IdList got = {0}, expected = {0}, part = {0};
    const int32_t sentinel = 7; /* ids already in the list stay in front */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Error err = {0};
        got.count = expected.count = 0;
        push_id(&got, sentinel);
        CHECK(tokenizer_encode_documents(tokenizer(), cases[i].text, strlen(cases[i].text), &got.ids, &got.count,
                                         &got.capacity, &err) == 0, "%s", err.message);
        push_id(&expected, sentinel);
        for (int section = 0; section < cases[i].count; section++) {
            push_id(&expected, GPT2_EOT_TOKEN);
            encode(&part, cases[i].sections[section], strlen(cases[i].sections[section]));
            for (size_t j = 0; j < part.count; j++) push_id(&expected, part.ids[j]);
        }
        int same = ids_equal(got.ids, got.count, expected.ids, expected.count);
        CHECK(same, "case %zu", i);
        if (!same) {
            print_ids("got", got.ids, got.count);
            print_ids("expected", expected.ids, expected.count);
        }
    }
    free(got.ids);
    free(expected.ids);
    free(part.ids);
}

TEST(test_cached_encoding_matches) {
    /* Texts of 4 KiB and more use a cache of encoded pieces: a repeated sentence must encode to the
     * same ids each time, as it does alone. */
    static const char unit[] = " the cat's 12 dogs, 3.5 \xe2\x82\xac each!\n";
    size_t unit_len = sizeof unit - 1, repeats = 400;
    char *text = malloc(unit_len * repeats);
    for (size_t i = 0; i < repeats; i++) memcpy(text + i * unit_len, unit, unit_len);
    IdList whole = {0}, one = {0};
    encode(&one, unit, unit_len);
    encode(&whole, text, unit_len * repeats);
    int same = whole.count == one.count * repeats;
    for (size_t i = 0; same && i < repeats; i++)
        same = memcmp(whole.ids + i * one.count, one.ids, one.count * sizeof *one.ids) == 0;
    CHECK(same, "repeated text: %zu ids, expected %zu x %zu", whole.count, repeats, one.count);
    free(text);
    free(whole.ids);
    free(one.ids);
}

TEST(test_merge_strategies_agree) {
    /* The scan (short pieces) and the heap (long pieces) must merge identically: compare both on
     * random pieces made of common fragments, which merge in many different orders. */
    static const char *fragments[] = {"the", "a", "e", "in", "ing", "tion", "er", "s", "th", "an", "re", "on",
                                      "at", "en", "ll", "o", "x", "q", "é", " ", "1", "00", "!"};
    size_t fragment_count = sizeof fragments / sizeof fragments[0];
    uint64_t state = 12345;
    IdList scan = {0}, heap = {0};
    int rounds = test_sanitized() ? 300 : 3000, failures = 0;
    char piece[160];
    for (int round = 0; round < rounds; round++) {
        size_t len = 0, target = 2 + next_random(&state) % 120;
        while (len < target) {
            const char *fragment = fragments[next_random(&state) % fragment_count];
            size_t fragment_len = strlen(fragment);
            if (len + fragment_len > 128) break;
            memcpy(piece + len, fragment, fragment_len);
            len += fragment_len;
        }
        Error err = {0};
        scan.count = heap.count = 0;
        tokenizer_encode_piece(tokenizer(), (const uint8_t *)piece, len, BPE_SCAN, &scan.ids, &scan.count, &scan.capacity, &err);
        tokenizer_encode_piece(tokenizer(), (const uint8_t *)piece, len, BPE_HEAP, &heap.ids, &heap.count, &heap.capacity, &err);
        if (err.status || !ids_equal(scan.ids, scan.count, heap.ids, heap.count)) {
            if (failures++ < 3) {
                CHECK(0, "round %d: %.*s (%s)", round, (int)len, piece, err.message);
                print_ids("scan", scan.ids, scan.count);
                print_ids("heap", heap.ids, heap.count);
            }
        }
    }
    CHECK(failures == 0, "%d pieces merged differently", failures);
    free(scan.ids);
    free(heap.ids);
}

TEST(test_long_pieces) {
    /* One piece of 200,000 bytes goes through the heap merge in well under a second. */
    size_t len = test_sanitized() ? 20000 : 200000;
    char *text = malloc(len);
    static const char *fills[] = {"a", " ", "0", "!", "ab"};
    for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
        size_t fill_len = strlen(fills[f]);
        for (size_t i = 0; i < len; i++) text[i] = fills[f][i % fill_len];
        double start = now_seconds();
        CHECK(round_trips(text, len), "%zu bytes of \"%s\"", len, fills[f]);
        double seconds = now_seconds() - start;
        CHECK(seconds < 5.0, "%zu bytes of \"%s\" took %.2f s", len, fills[f], seconds);
    }
    free(text);
}

TEST(test_load_from_files) {
    Error err = {0};
    Tokenizer *from_files = tokenizer_load("data/gpt2/encoder.json", "data/gpt2/vocab.bpe", &err);
    CHECK(from_files != NULL, "%s", err.message);
    if (!from_files) return;
    CHECK(tokenizer_vocab_size(from_files) == GPT2_VOCAB_SIZE, "vocab size");
    int differences = 0;
    for (int id = 0; id < GPT2_VOCAB_SIZE; id++) {
        size_t a_len = 0, b_len = 0;
        const char *a = tokenizer_token_bytes(from_files, id, &a_len), *b = tokenizer_token_bytes(tokenizer(), id, &b_len);
        if (!a || !b || a_len != b_len || memcmp(a, b, a_len) != 0) differences++;
    }
    CHECK(differences == 0, "%d tokens differ from the embedded vocabulary", differences);
    tokenizer_free(from_files);

    Error missing = {0};
    CHECK(tokenizer_load("no/such/encoder.json", "data/gpt2/vocab.bpe", &missing) == NULL, "missing file loads");
    CHECK(missing.status == EXIT_BAD_INPUT && strstr(missing.message, "no/such/encoder.json"), "message: %s",
          missing.message);
}

/* Loads a vocabulary from memory and expects a bad-input error mentioning `expected`. */
static void expect_load_error(const char *encoder, size_t encoder_len, const char *vocab, size_t vocab_len,
                              const char *expected, const char *what) {
    Error err = {0};
    Tokenizer *tok = tokenizer_from_memory(encoder, encoder_len, vocab, vocab_len, "test", &err);
    CHECK(tok == NULL, "%s: loaded", what);
    tokenizer_free(tok);
    CHECK(err.status == EXIT_BAD_INPUT && strstr(err.message, expected), "%s: status %d, message '%s'", what,
          err.status, err.message);
}

TEST(test_bad_vocabulary_data) {
    EmbeddedFile encoder = embedded_encoder_json(), vocab = embedded_vocab_bpe();
    static const char *bad_json[] = {"", "[]", "{", "{\"a\"", "{\"a\":}", "{\"a\": 0,}", "{\"a\": -1}",
                                     "{\"a\": 0} x", "{\"\\q\": 0}", "{\"\\u12\": 0}", "{\"\\ud800\": 0}",
                                     "{\"\xff\": 0}", "{\"\": 0}", "{\"\xe4\xb8\xad\": 0}"};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++)
        expect_load_error(bad_json[i], strlen(bad_json[i]), vocab.data, vocab.size, "encoder.json", bad_json[i]);
    /* Valid JSON, but no token for most bytes. */
    expect_load_error("{\"a\": 0}", 8, vocab.data, vocab.size, "no token for byte", "tiny vocabulary");

    /* The real encoder with damaged merges. */
    expect_load_error(encoder.data, encoder.size, "#version: 0.2\nx\n", 16, "line 2", "merge without a space");
    expect_load_error(encoder.data, encoder.size, "#version: 0.2\n\xc4\xa0 a\n", 17, "line 2", "wrong first merge");
    expect_load_error(encoder.data, encoder.size, "#version: 0.2\nzzz q\n", 20, "line 2", "unknown token");
    expect_load_error(encoder.data, encoder.size, "#version: 0.2\n\xe4\xb8\xad t\n", 19, "line 2", "bad character");

    /* Truncations of the real files never crash (the JSON ones always fail). */
    size_t cuts[] = {1, 100, 5000, encoder.size / 2, encoder.size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        expect_load_error(encoder.data, cuts[i], vocab.data, vocab.size, "encoder.json", "truncated encoder.json");
    Error err = {0};
    Tokenizer *fewer_merges = tokenizer_from_memory(encoder.data, encoder.size, vocab.data, vocab.size / 2, "test", &err);
    /* Half the merges: still a consistent vocabulary (later tokens are simply never produced). */
    CHECK(fewer_merges != NULL, "half of vocab.bpe: %s", err.message);
    if (fewer_merges) {
        IdList list = {0};
        Error encode_err = {0};
        CHECK(tokenizer_encode(fewer_merges, "Hello world", 11, &list.ids, &list.count, &list.capacity, &encode_err) == 0,
              "encode with fewer merges");
        free(list.ids);
        tokenizer_free(fewer_merges);
    }
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

TEST(test_fixture_cases) {
    const char *path = "tests/fixtures/tokenizer_cases.txt";
    FILE *file = fopen(path, "rb");
    if (!file) {
        printf("  %s not found: skipped (make it with tools/make_tokenizer_fixture.py)\n", path);
        return;
    }
    size_t line_capacity = 1 << 16;
    char *line = malloc(line_capacity);
    char *text = malloc(line_capacity);
    IdList expected = {0}, got = {0};
    int cases = 0, mismatches = 0, line_number = 0;
    while (fgets(line, (int)line_capacity, file)) {
        line_number++;
        size_t len = strlen(line);
        if (len == line_capacity - 1 && line[len - 1] != '\n') {
            CHECK(0, "%s:%d: line too long", path, line_number);
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab || (tab - line) % 2 != 0) {
            CHECK(0, "%s:%d: expected hex text, a tab, ids", path, line_number);
            continue;
        }
        size_t text_len = (size_t)(tab - line) / 2;
        int bad = 0;
        for (size_t i = 0; i < text_len; i++) {
            int high = hex_value(line[2 * i]), low = hex_value(line[2 * i + 1]);
            if (high < 0 || low < 0) bad = 1;
            text[i] = (char)(high * 16 + low);
        }
        expected.count = 0;
        for (char *at = tab + 1; *at;) {
            char *end;
            long id = strtol(at, &end, 10);
            if (end == at) {
                bad = 1;
                break;
            }
            push_id(&expected, (int32_t)id);
            at = end;
            while (*at == ' ') at++;
        }
        if (bad) {
            CHECK(0, "%s:%d: malformed line", path, line_number);
            continue;
        }
        cases++;
        if (encode(&got, text, text_len) != 0 || !ids_equal(got.ids, got.count, expected.ids, expected.count)) {
            if (mismatches++ < 10) {
                CHECK(0, "%s:%d: ids differ for \"%.*s\"", path, line_number, (int)(text_len < 80 ? text_len : 80), text);
                print_ids("got", got.ids, got.count);
                print_ids("expected", expected.ids, expected.count);
            }
        }
    }
    fclose(file);
    CHECK(mismatches == 0, "%d of %d fixture cases differ", mismatches, cases);
    CHECK(cases > 0, "no cases in %s", path);
    printf("  %d fixture cases, %d differ\n", cases, mismatches);
    free(line);
    free(text);
    free(expected.ids);
    free(got.ids);
}

int main(void) {
    RUN_TEST(test_embedded_vocabulary);
    RUN_TEST(test_known_ids);
    RUN_TEST(test_pretokenizer_pieces);
    RUN_TEST(test_utf8_decoding);
    RUN_TEST(test_round_trips);
    RUN_TEST(test_end_of_text_is_plain_text);
    RUN_TEST(test_invalid_utf8);
    RUN_TEST(test_every_token);
    RUN_TEST(test_tiny_shakespeare);
    RUN_TEST(test_documents_sections);
    RUN_TEST(test_cached_encoding_matches);
    RUN_TEST(test_merge_strategies_agree);
    RUN_TEST(test_long_pieces);
    RUN_TEST(test_load_from_files);
    RUN_TEST(test_bad_vocabulary_data);
    RUN_TEST(test_fixture_cases);
    tokenizer_free(shared_tokenizer);
    return TEST_SUMMARY();
}
