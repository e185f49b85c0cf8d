/* Building an SVG document in memory, so that a command can write it to disk in one go (and
 * atomically). Only the few shapes charts need: rectangles, lines, polylines, circles and text,
 * with text escaped for XML and cleaned of bytes that would make the file ill-formed. */
#ifndef CGPT_SVG_H
#define CGPT_SVG_H

#include <stddef.h>

#include "util/error.h"

typedef struct {
    char *data;
    size_t length, capacity;
    int out_of_memory; /* set by any append that could not grow the buffer; checked by svg_finish */
    int width, height;
} Svg;

typedef enum { SVG_ANCHOR_START, SVG_ANCHOR_MIDDLE, SVG_ANCHOR_END } SvgAnchor;

typedef struct {
    double size;       /* font size in px */
    SvgAnchor anchor;
    const char *color; /* CSS colour */
    int bold;
    double rotate;     /* degrees about the anchor point; 0 for none */
} SvgTextStyle;

/* Starts a document of the given size with a white background and the chart font. */
void svg_begin(Svg *svg, int width, int height);
/* Closes the document; fails (status 1) if memory ran out while building it. */
int svg_finish(Svg *svg, Error *err);
void svg_free(Svg *svg);

/* Appends formatted raw markup (the caller escapes any text in it). */
void svg_printf(Svg *svg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text escaped for XML content and attributes: &<>"' become entities; control characters
 * and invalid UTF-8 bytes (which XML forbids or cannot hold) become U+FFFD. */
void svg_append_escaped(Svg *svg, const char *text);

void svg_rect(Svg *svg, double x, double y, double w, double h, const char *fill, const char *stroke);
/* dash: an SVG stroke-dasharray such as "6 4", or NULL for a solid line. */
void svg_line(Svg *svg, double x1, double y1, double x2, double y2, const char *color, double width,
              const char *dash);
/* A polyline through n points; opacity 1 is opaque. Nothing is drawn for n < 2. */
void svg_polyline(Svg *svg, const double *xs, const double *ys, int n, const char *color, double width,
                  const char *dash, double opacity);
void svg_circle(Svg *svg, double cx, double cy, double r, const char *fill, const char *stroke);
void svg_text(Svg *svg, double x, double y, const char *text, const SvgTextStyle *style);

/* A rough width in px of text in the chart font (for layout: legends, label margins). */
double svg_text_width(const char *text, double font_size);

#endif
