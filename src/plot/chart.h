/* Chart layout on top of svg.h: "nice" axis ticks (linear and log), line charts with a legend
 * (loss curves) and horizontal bar charts with value labels (the rung ladder). The caller owns the
 * data; these functions only place it, and start and finish the Svg themselves. */
#ifndef CGPT_CHART_H
#define CGPT_CHART_H

#include "util/error.h"
#include "util/svg.h"

/* Categorical colours that stay distinct side by side (index with modulo CHART_PALETTE_SIZE). */
enum { CHART_PALETTE_SIZE = 10 };
extern const char *const chart_palette[CHART_PALETTE_SIZE];

typedef struct {
    const char *name;      /* legend text; NULL keeps the series out of the legend */
    const char *color;
    const double *xs, *ys;
    int count;
    double line_width;     /* px; 0 draws no line */
    const char *dash;      /* stroke-dasharray, or NULL for solid */
    double opacity;        /* of the line; 0 is taken as 1 */
    double marker_radius;  /* > 0: a circle at every point */
} LineSeries;

typedef struct {
    const char *title, *x_title, *y_title;
    int log_x; /* points with x <= 0 cannot be placed on a log axis and are left out */
    const LineSeries *series;
    int series_count;
} LineChart;

/* Draws the whole document into svg (900 x 520). Fails (status 2) if no series has a finite point
 * that can be placed. */
int chart_draw_lines(Svg *svg, const LineChart *chart, Error *err);

typedef struct {
    const char *label;  /* left of the bar (or the heading text) */
    double value;       /* NaN or not positive on a log axis: no bar, "n/a" instead */
    const char *color;
    const char *note;   /* after the value label, e.g. "12.3x"; may be NULL */
    int is_heading;     /* a group heading: bold label, no bar */
} BarRow;

typedef struct {
    const char *name, *color;
} LegendEntry;

typedef struct {
    const char *title, *value_title;
    int log_scale;
    const BarRow *rows;
    int row_count;
    const LegendEntry *legend; /* shown under the title when legend_count > 0 */
    int legend_count;
} BarChart;

/* Draws the whole document (900 wide, as tall as the rows need). Fails (status 2) if no row has a
 * value that can be drawn. */
int chart_draw_bars(Svg *svg, const BarChart *chart, Error *err);

/* Tick values for a linear axis covering [lo, hi]: about target ticks at 1, 2 or 5 times a power
 * of ten. Returns the count (at most max_ticks), widens *lo and *hi to the outer ticks and sets
 * *step. A zero-width range is widened first. */
int chart_linear_ticks(double *lo, double *hi, int target, double *ticks, int max_ticks, double *step);

/* A value with three significant digits and a k/M/G suffix from 10000 up: "0.0512", "12.8",
 * "9700", "31.5k". */
void chart_format_value(double value, char *buffer, int size);

#endif
