/* The in-memory SVG builder of svg.h. Appends never fail loudly: the first allocation failure
 * marks the document, later appends do nothing, and svg_finish reports it, which keeps drawing
 * code free of error checks on every shape. */
#include "util/svg.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const CHART_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

static int reserve(Svg *svg, size_t extra) {
    if (svg->out_of_memory) return -1;
    if (svg->length + extra + 1 <= svg->capacity) return 0;
    size_t capacity = svg->capacity ? svg->capacity : 4096;
    while (capacity < svg->length + extra + 1) capacity *= 2;
    char *grown = realloc(svg->data, capacity);
    if (!grown) {
        svg->out_of_memory = 1;
        return -1;
    }
    svg->data = grown;
    svg->capacity = capacity;
    return 0;
}

static void append_bytes(Svg *svg, const char *bytes, size_t n) {
    if (reserve(svg, n) != 0) return;
    memcpy(svg->data + svg->length, bytes, n);
    svg->length += n;
    svg->data[svg->length] = 0;
}

void svg_printf(Svg *svg, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(svg, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(svg->data + svg->length, (size_t)n + 1, fmt, ap);
    va_end(ap);
    svg->length += (size_t)n;
}

/* Length of the valid UTF-8 sequence starting at s (1-4), or 0 if it is not one (overlong forms,
 * surrogates and code points above U+10FFFF count as invalid). */
static int utf8_sequence_length(const unsigned char *s) {
    unsigned c = s[0];
    int n;
    uint32_t code;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, code = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, code = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, code = c & 0x07;
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the terminating NUL */
        code = (code << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && code < 0x800) || (n == 4 && (code < 0x10000 || code > 0x10FFFF))) return 0;
    if (code >= 0xD800 && code <= 0xDFFF) return 0;
    if (code == 0xFFFE || code == 0xFFFF) return 0; /* XML forbids these two */
    return n;
}

void svg_append_escaped(Svg *svg, const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned c = *s;
        switch (c) {
        case '&': append_bytes(svg, "&amp;", 5); s++; continue;
        case '<': append_bytes(svg, "&lt;", 4); s++; continue;
        case '>': append_bytes(svg, "&gt;", 4); s++; continue;
        case '"': append_bytes(svg, "&quot;", 6); s++; continue;
        case '\'': append_bytes(svg, "&apos;", 6); s++; continue;
        case '\t': case '\n': case '\r': append_bytes(svg, " ", 1); s++; continue;
        default: break;
        }
        int n = c < 0x20 || c == 0x7F ? 0 : utf8_sequence_length(s);
        if (n == 0) {
            append_bytes(svg, "\xEF\xBF\xBD", 3); /* U+FFFD replacement character */
            s++;
        } else {
            append_bytes(svg, (const char *)s, (size_t)n);
            s += n;
        }
    }
}

void svg_begin(Svg *svg, int width, int height) {
    memset(svg, 0, sizeof *svg);
    svg->width = width;
    svg->height = height;
    svg_printf(svg,
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"%s\">\n",
               width, height, width, height, CHART_FONT);
    svg_rect(svg, 0, 0, width, height, "#ffffff", NULL);
}

int svg_finish(Svg *svg, Error *err) {
    svg_printf(svg, "</svg>\n");
    if (svg->out_of_memory) return error_set(err, EXIT_RUNTIME, "out of memory building the SVG");
    return 0;
}

void svg_free(Svg *svg) {
    free(svg->data);
    memset(svg, 0, sizeof *svg);
}

void svg_rect(Svg *svg, double x, double y, double w, double h, const char *fill, const char *stroke) {
    svg_printf(svg, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"", x, y, w < 0 ? 0 : w,
               h < 0 ? 0 : h, fill ? fill : "none");
    if (stroke) svg_printf(svg, " stroke=\"%s\"", stroke);
    svg_printf(svg, "/>\n");
}

void svg_line(Svg *svg, double x1, double y1, double x2, double y2, const char *color, double width,
              const char *dash) {
    svg_printf(svg, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"%.2f\"",
               x1, y1, x2, y2, color, width);
    if (dash) svg_printf(svg, " stroke-dasharray=\"%s\"", dash);
    svg_printf(svg, "/>\n");
}

void svg_polyline(Svg *svg, const double *xs, const double *ys, int n, const char *color, double width,
                  const char *dash, double opacity) {
    if (n < 2) return;
    svg_printf(svg, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.2f\" stroke-linejoin=\"round\"", color,
               width);
    if (dash) svg_printf(svg, " stroke-dasharray=\"%s\"", dash);
    if (opacity < 1) svg_printf(svg, " stroke-opacity=\"%.2f\"", opacity);
    svg_printf(svg, " points=\"");
    for (int i = 0; i < n; i++) svg_printf(svg, "%s%.2f,%.2f", i ? " " : "", xs[i], ys[i]);
    svg_printf(svg, "\"/>\n");
}

void svg_circle(Svg *svg, double cx, double cy, double r, const char *fill, const char *stroke) {
    svg_printf(svg, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\" fill=\"%s\"", cx, cy, r, fill ? fill : "none");
    if (stroke) svg_printf(svg, " stroke=\"%s\" stroke-width=\"1.5\"", stroke);
    svg_printf(svg, "/>\n");
}

void svg_text(Svg *svg, double x, double y, const char *text, const SvgTextStyle *style) {
    static const char *const anchors[] = {"start", "middle", "end"};
    svg_printf(svg, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" fill=\"%s\" text-anchor=\"%s\"", x, y, style->size,
               style->color ? style->color : "#222222", anchors[style->anchor]);
    if (style->bold) svg_printf(svg, " font-weight=\"bold\"");
    if (style->rotate != 0) svg_printf(svg, " transform=\"rotate(%.1f %.2f %.2f)\"", style->rotate, x, y);
    svg_printf(svg, ">");
    svg_append_escaped(svg, text);
    svg_printf(svg, "</text>\n");
}

double svg_text_width(const char *text, double font_size) {
    /* Average advance of a sans-serif font is about 0.58 em; UTF-8 continuation bytes add nothing. */
    double chars = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++)
        if ((*s & 0xC0) != 0x80) chars += 1;
    return chars * font_size * 0.58;
}
