/* Tests of the flat JSON Lines reader (src/util/jsonl.c) and of the SVG text escaping it feeds:
 * numbers, escapes, skipped nested values, and garbage that must give an error, never a crash
 * (including a pseudo-random mutation sweep over a valid line, run under the sanitizers by make test). */
#include <stdint.h>

#include "test.h"
#include "util/jsonl.h"
#include "util/svg.h"

static int parse(JsonObject *obj, const char *text) {
    Error err = {0};
    return json_parse_object(obj, text, strlen(text), &err);
}

TEST(test_numbers) {
    JsonObject obj;
    json_object_init(&obj);
    CHECK(parse(&obj, "{\"a\":0,\"b\":-12.5,\"c\":1e3,\"d\":-2.5E-2,\"e\":3E+2,\"f\":123456789012}") == 0, "parse");
    double v = 0;
    CHECK(json_get_number(&obj, "a", &v) && v == 0, "a=%g", v);
    CHECK(json_get_number(&obj, "b", &v) && v == -12.5, "b=%g", v);
    CHECK(json_get_number(&obj, "c", &v) && v == 1000, "c=%g", v);
    CHECK(json_get_number(&obj, "d", &v) && v == -0.025, "d=%g", v);
    CHECK(json_get_number(&obj, "e", &v) && v == 300, "e=%g", v);
    CHECK(json_get_number(&obj, "f", &v) && v == 123456789012.0, "f=%g", v);
    CHECK(!json_get_number(&obj, "missing", &v), "missing key");
    CHECK(json_get_string(&obj, "a") == NULL, "a number is not a string");
    CHECK(parse(&obj, "{\"big\":1e999,\"tiny\":1e-999}") == 0, "out of range still parses");
    CHECK(json_get_number(&obj, "big", &v) && isinf(v), "big=%g", v);
    CHECK(parse(&obj, "{\"x\":NaN,\"y\":-Infinity,\"z\":nan}") == 0, "non-finite spellings");
    CHECK(json_get_number(&obj, "x", &v) && isnan(v), "x");
    CHECK(json_get_number(&obj, "y", &v) && isinf(v) && v < 0, "y");
    const char *bad[] = {"{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":+1}",
                         "{\"a\":1.5.2}", "{\"a\":0x10}", "{\"a\":nul}", "{\"a\":Inf}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(parse(&obj, bad[i]) != 0, "accepted %s", bad[i]);
    json_object_free(&obj);
}

TEST(test_strings_and_literals) {
    JsonObject obj;
    json_object_init(&obj);
    const char *line = "{ \"rung\" : \"a\\\"b\\\\c\\/d\\n\\t\" , \"u\":\"\\u00e9\\u20ac\\ud83d\\ude00\", "
                       "\"t\":true, \"f\":false, \"n\":null, \"empty\":\"\", \"esc\\u0041key\":1 }\r\n";
    CHECK(parse(&obj, line) == 0, "parse");
    const char *s = json_get_string(&obj, "rung");
    CHECK(s && strcmp(s, "a\"b\\c/d\n\t") == 0, "rung=%s", s ? s : "(null)");
    s = json_get_string(&obj, "u");
    CHECK(s && strcmp(s, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") == 0, "unicode=%s", s ? s : "(null)");
    const JsonField *f = json_find(&obj, "t");
    CHECK(f && f->type == JSON_TRUE, "true");
    f = json_find(&obj, "f");
    CHECK(f && f->type == JSON_FALSE, "false");
    f = json_find(&obj, "n");
    CHECK(f && f->type == JSON_NULL, "null");
    s = json_get_string(&obj, "empty");
    CHECK(s && s[0] == 0, "empty string");
    double v;
    CHECK(json_get_number(&obj, "escAkey", &v) && v == 1, "escaped key");
    /* Lone surrogates and \u0000 become U+FFFD so the text stays valid, NUL-free UTF-8. */
    CHECK(parse(&obj, "{\"s\":\"x\\ud800y\\u0000\\udc00\"}") == 0, "lone surrogates");
    s = json_get_string(&obj, "s");
    CHECK(s && strcmp(s, "x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD") == 0, "replacement characters");
    /* A repeated key: the last one wins. */
    CHECK(parse(&obj, "{\"k\":1,\"k\":2}") == 0 && json_get_number(&obj, "k", &v) && v == 2, "last key wins");
    CHECK(parse(&obj, "{}") == 0 && obj.count == 0, "empty object");
    CHECK(parse(&obj, "\xEF\xBB\xBF{\"bom\":1}") == 0, "byte order mark");
    json_object_free(&obj);
}

TEST(test_nested_values_are_skipped) {
    JsonObject obj;
    json_object_init(&obj);
    const char *line = "{\"step\":5,\"shape\":[256,768,[1,{\"x\":\"]}\"}]],\"cfg\":{\"a\":{\"b\":[]}},\"loss\":2.5}";
    CHECK(parse(&obj, line) == 0, "parse");
    double v;
    CHECK(json_get_number(&obj, "step", &v) && v == 5, "step");
    CHECK(json_get_number(&obj, "loss", &v) && v == 2.5, "loss after nested values");
    const JsonField *f = json_find(&obj, "shape");
    CHECK(f && f->type == JSON_NESTED && strcmp(f->text, "[256,768,[1,{\"x\":\"]}\"}]]") == 0, "shape text");
    CHECK(json_get_string(&obj, "cfg") == NULL, "nested is not a string");
    char deep[2000];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"d\":");
    for (int i = 0; i < 600; i++) deep[n++] = '[';
    for (int i = 0; i < 600; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = 0;
    Error err = {0};
    CHECK(json_parse_object(&obj, deep, n, &err) != 0 && err.status == EXIT_BAD_INPUT, "too deep is an error");
    json_object_free(&obj);
}

TEST(test_garbage_lines) {
    JsonObject obj;
    json_object_init(&obj);
    const char *garbage[] = {"", "   ", "\r", "[1,2]", "42", "\"str\"", "null", "{", "}", "{\"a\"}", "{\"a\":}",
                             "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{a:1}", "{'a':1}", "{\"a\":1}}", "{\"a\":1} x",
                             "{\"a\":\"unterminated}", "{\"a\":\"bad\\x\"}", "{\"a\":\"\\u12\"}",
                             "{\"a\":\"\\u12G4\"}", "{\"a\":[1,2}", "{\"a\":{\"b\":1]}", "{\"a\":[\"]\"}",
                             "{\"a\":\"tab\there\"}", "{\"a\":tru}", "{\"a\":truex}", "\x01\x02\xff",
                             "{\"a\":1,\"b\":[[[[", "{\"\\", "{\"a\":-"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        Error err = {0};
        int status = json_parse_object(&obj, garbage[i], strlen(garbage[i]), &err);
        CHECK(status != 0 && err.status == EXIT_BAD_INPUT && err.message[0], "accepted garbage #%zu: %s", i, garbage[i]);
        CHECK(obj.count == 0, "fields left after a failed parse");
    }
    /* Length is respected: text past it (here a NUL and more) is never read. */
    const char text[] = "{\"a\":1}\0garbage";
    Error err = {0};
    CHECK(json_parse_object(&obj, text, 7, &err) == 0, "exact length");
    CHECK(json_parse_object(&obj, text, 6, &err) != 0, "cut short");
    json_object_free(&obj);
}

/* Every truncation, and many single-byte mutations, of a valid log line: each must parse or fail
 * cleanly (the sanitizer build catches any out-of-bounds access). Inputs are heap copies of exactly
 * the given length so that reading one byte too far is caught. */
TEST(test_mutations_never_crash) {
    const char *line = "{\"step\":12,\"loss\":3.25e0,\"name\":\"r\\u00e9n\\\"x\",\"shape\":[1,{\"a\":[2]}],\"ok\":true}";
    size_t length = strlen(line);
    JsonObject obj;
    json_object_init(&obj);
    int parsed = 0;
    for (size_t cut = 0; cut <= length; cut++) {
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, line, cut);
        Error err = {0};
        parsed += json_parse_object(&obj, copy, cut, &err) == 0;
        free(copy);
    }
    CHECK(parsed == 1, "only the whole line parses, got %d", parsed);
    static const char replacements[] = "{}[]\",:\\u0e.-+ \x00\x80\xff";
    uint32_t state = 12345;
    for (int trial = 0; trial < 20000; trial++) {
        char *copy = malloc(length);
        memcpy(copy, line, length);
        for (int k = 0; k < 1 + trial % 3; k++) {
            state = state * 1664525u + 1013904223u;
            size_t at = (state >> 8) % length;
            state = state * 1664525u + 1013904223u;
            copy[at] = replacements[(state >> 8) % (sizeof replacements - 1)];
        }
        Error err = {0};
        if (json_parse_object(&obj, copy, length, &err) == 0) {
            for (int i = 0; i < obj.count; i++) CHECK(obj.fields[i].key && obj.fields[i].text, "field pointers");
        } else {
            CHECK(err.status != 0 && obj.count == 0, "error without status");
        }
        free(copy);
    }
    json_object_free(&obj);
}

TEST(test_svg_escaping) {
    Svg svg = {0};
    svg_append_escaped(&svg, "a<b>&\"c'\t\x01\xff\xC3\xA9");
    CHECK(svg.data && strcmp(svg.data, "a&lt;b&gt;&amp;&quot;c&apos; \xEF\xBF\xBD\xEF\xBF\xBD\xC3\xA9") == 0, "escaped: %s",
          svg.data ? svg.data : "(null)");
    svg_free(&svg);
    Error err = {0};
    svg_begin(&svg, 100, 50);
    SvgTextStyle style = {.size = 12};
    svg_text(&svg, 1, 2, "x & y", &style);
    CHECK(svg_finish(&svg, &err) == 0, "finish");
    CHECK(strncmp(svg.data, "<?xml", 5) == 0 && strstr(svg.data, "x &amp; y</text>") && strstr(svg.data, "</svg>\n"),
          "document");
    svg_free(&svg);
}

int main(void) {
    RUN_TEST(test_numbers);
    RUN_TEST(test_strings_and_literals);
    RUN_TEST(test_nested_values_are_skipped);
    RUN_TEST(test_garbage_lines);
    RUN_TEST(test_mutations_never_crash);
    RUN_TEST(test_svg_escaping);
    return TEST_SUMMARY();
}
