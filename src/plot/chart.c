/* Line and bar chart layout of chart.h: axis scales and ticks, grid, labels and legends. Colours
 * and sizes are chosen for a quiet look: light grid, grey tick labels, strong data colours. */
#include "plot/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const chart_palette[CHART_PALETTE_SIZE] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

enum { MAX_TICKS = 64, LINE_WIDTH = 900, LINE_HEIGHT = 520, BAR_WIDTH = 900, NOTE_GAP = 8 };
static const char *const GRID_COLOR = "#e6e6e6", *const MINOR_GRID_COLOR = "#f2f2f2", *const AXIS_COLOR = "#888888",
                         *const TICK_TEXT_COLOR = "#555555", *const TEXT_COLOR = "#222222",
                         *const NOTE_COLOR = "#8a8a8a";

typedef struct {
    double lo, hi;        /* data values at the two ends */
    int log;
    double pixel_lo, pixel_hi;
} Scale;

typedef struct {
    double value;
    int labeled; /* minor log ticks get a faint grid line and no label */
    char label[32];
} Tick;

static double scale_map(const Scale *s, double v) {
    double t = s->log ? (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo)) : (v - s->lo) / (s->hi - s->lo);
    return s->pixel_lo + t * (s->pixel_hi - s->pixel_lo);
}

/* Decimals needed to tell ticks `step` apart (0 for whole steps). */
static int decimals_for_step(double step) {
    if (step >= 1) return 0;
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 12 ? 12 : d;
}

void chart_format_value(double value, char *buffer, int size) {
    const char *suffix = "";
    double a = fabs(value);
    if (a >= 1e9) value /= 1e9, suffix = "G";
    else if (a >= 1e6) value /= 1e6, suffix = "M";
    else if (a >= 1e4) value /= 1e3, suffix = "k";
    a = fabs(value);
    if (a == 0 || !isfinite(a)) snprintf(buffer, (size_t)size, "%g", value);
    else if (a < 1) snprintf(buffer, (size_t)size, "%.3g", value);
    else snprintf(buffer, (size_t)size, "%.*f%s", a >= 100 ? 0 : a >= 10 ? 1 : 2, value, suffix);
}

int chart_linear_ticks(double *lo, double *hi, int target, double *ticks, int max_ticks, double *step_out) {
    double a = *lo, b = *hi;
    if (!isfinite(a) || !isfinite(b) || max_ticks < 2) return 0;
    if (!(b > a)) {
        double pad = fabs(a) > 1e-300 ? fabs(a) * 0.1 : 1;
        a -= pad;
        b += pad;
    }
    double raw = (b - a) / (target > 1 ? target - 1 : 1);
    double magnitude = pow(10, floor(log10(raw)));
    if (!isfinite(raw) || !(magnitude > 0) || !isfinite(magnitude)) return 0;
    double fraction = raw / magnitude;
    double step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
    double first, last, count;
    for (;;) {
        first = floor(a / step + 1e-9) * step;
        last = ceil(b / step - 1e-9) * step;
        count = round((last - first) / step) + 1;
        if (!isfinite(count)) return 0;
        if (count <= max_ticks) break;
        step *= 2; /* only with a tiny max_ticks; keeps the loop finite */
    }
    int n = (int)count;
    for (int i = 0; i < n; i++) {
        double t = first + i * step;
        ticks[i] = fabs(t) < step * 1e-9 ? 0 : t; /* no "-0" label */
    }
    *lo = first;
    *hi = last;
    *step_out = step;
    return n;
}

static void label_linear_tick(Tick *tick, double step, double largest) {
    double v = tick->value;
    if (v == 0)
        snprintf(tick->label, sizeof tick->label, "0");
    else if (largest >= 1e7 && step >= 1e6)
        snprintf(tick->label, sizeof tick->label, "%.*fM", decimals_for_step(step / 1e6), v / 1e6);
    else if (largest >= 1e4 && step >= 1e3)
        snprintf(tick->label, sizeof tick->label, "%.*fk", decimals_for_step(step / 1e3), v / 1e3);
    else
        snprintf(tick->label, sizeof tick->label, "%.*f", decimals_for_step(step), v);
}

/* Fills ticks for a linear axis over [lo, hi] (adjusting the scale's ends); returns the count. */
static int linear_axis(Scale *s, double lo, double hi, int target, Tick *ticks) {
    double values[MAX_TICKS], step;
    int n = chart_linear_ticks(&lo, &hi, target, values, MAX_TICKS, &step);
    if (n == 0) return 0;
    s->lo = lo;
    s->hi = hi;
    s->log = 0;
    double largest = fmax(fabs(lo), fabs(hi));
    for (int i = 0; i < n; i++) {
        ticks[i].value = values[i];
        ticks[i].labeled = 1;
        label_linear_tick(&ticks[i], step, largest);
    }
    return n;
}

/* Log tick labels: 1, 10, 100, 1k, 10k, 2M, 0.01 (plain %g below 1000). */
static void label_log_tick(Tick *tick) {
    double v = tick->value;
    const char *suffix = "";
    if (v >= 1e9) v /= 1e9, suffix = "G";
    else if (v >= 1e6) v /= 1e6, suffix = "M";
    else if (v >= 1e3) v /= 1e3, suffix = "k";
    snprintf(tick->label, sizeof tick->label, "%g%s", v, suffix);
}

/* A log axis from the power of ten at or below lo to the one at or above hi. Every decade is
 * labeled when there are few, every second or third when there are many; narrow ranges also
 * label 2 and 5, wider ones draw unlabeled minor lines at 2..9. */
static int log_axis(Scale *s, double lo, double hi, Tick *ticks) {
    if (!(lo > 0) || !isfinite(hi) || !(hi > 0)) return 0;
    int first = (int)floor(log10(lo) + 1e-9), last = (int)ceil(log10(hi) - 1e-9);
    if (last <= first) last = first + 1;
    if (first < -300 || last > 300) return 0;
    int decades = last - first, every = decades <= 8 ? 1 : decades <= 16 ? 2 : (decades + 7) / 8;
    int n = 0;
    for (int e = first; e <= last && n < MAX_TICKS; e++) {
        double decade = pow(10, e);
        ticks[n].value = decade;
        ticks[n].labeled = (e - first) % every == 0;
        label_log_tick(&ticks[n]);
        n++;
        if (e == last || decades > 6) continue;
        for (int m = 2; m <= 9 && n < MAX_TICKS; m++) {
            ticks[n].value = m * decade;
            ticks[n].labeled = decades <= 2 && (m == 2 || m == 5);
            label_log_tick(&ticks[n]);
            n++;
        }
    }
    s->lo = pow(10, first);
    s->hi = pow(10, last);
    s->log = 1;
    return n;
}

static SvgTextStyle text_style(double size, SvgAnchor anchor, const char *color) {
    SvgTextStyle style = {.size = size, .anchor = anchor, .color = color};
    return style;
}

/* The chart title, centred on center_x of a chart chart_width wide; a title too long for the
 * chart is set smaller (down to 9 px) rather than cut off at the edges. */
static void draw_title(Svg *svg, const char *title, double center_x, double chart_width) {
    if (!title || !*title) return;
    const double size = 18, room = 2 * fmin(center_x, chart_width - center_x) - 16;
    double width = svg_text_width(title, size) * 1.1; /* bold runs wider than the estimate */
    SvgTextStyle style = text_style(width > room ? fmax(9, size * room / width) : size, SVG_ANCHOR_MIDDLE, TEXT_COLOR);
    style.bold = 1;
    svg_text(svg, center_x, 30, title, &style);
}

/* A legend swatch: a short line (solid or dashed) with an optional marker, or a filled square. */
static void draw_swatch(Svg *svg, double x, double y, const char *color, const char *dash, double marker, int square) {
    if (square) {
        svg_rect(svg, x + 6, y - 6, 12, 12, color, NULL);
        return;
    }
    svg_line(svg, x, y, x + 24, y, color, 2.2, dash);
    if (marker > 0) svg_circle(svg, x + 12, y, 3.2, "#ffffff", color);
}

/* ---- line charts ---- */

static int placeable(const LineChart *c, double x, double y) {
    return isfinite(x) && isfinite(y) && (!c->log_x || x > 0);
}

static void draw_line_legend(Svg *svg, const LineChart *c, double plot_right, double plot_top) {
    const double font = 12, row = 19;
    int entries = 0;
    double text_width = 0;
    for (int i = 0; i < c->series_count; i++) {
        if (!c->series[i].name) continue;
        entries++;
        text_width = fmax(text_width, svg_text_width(c->series[i].name, font));
    }
    if (entries == 0) return;
    double width = text_width + 46, height = entries * row + 10;
    double x = plot_right - width - 10, y = plot_top + 10;
    svg_printf(svg,
               "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" rx=\"4\" fill=\"#ffffff\" "
               "fill-opacity=\"0.9\" stroke=\"#cccccc\"/>\n",
               x, y, width, height);
    double row_y = y + 5 + row / 2;
    SvgTextStyle style = text_style(font, SVG_ANCHOR_START, TEXT_COLOR);
    for (int i = 0; i < c->series_count; i++) {
        const LineSeries *s = &c->series[i];
        if (!s->name) continue;
        draw_swatch(svg, x + 8, row_y, s->color, s->dash, s->marker_radius, 0);
        svg_text(svg, x + 38, row_y + 4, s->name, &style);
        row_y += row;
    }
}

/* Long logs have many points per pixel column; keeping each column's first, lowest, highest and
 * last point (in their original order) draws the same picture in a fraction of the file size. */
static int decimate(double *px, double *py, int n) {
    if (n < 4000) return n;
    int out = 0, start = 0;
    while (start < n) {
        double column = floor(px[start]);
        int end = start, low = start, high = start;
        while (end < n && floor(px[end]) == column) {
            if (py[end] < py[low]) low = end;
            if (py[end] > py[high]) high = end;
            end++;
        }
        int keep[4] = {start, low < high ? low : high, low < high ? high : low, end - 1}, last_kept = -1;
        for (int k = 0; k < 4; k++) {
            if (keep[k] == last_kept) continue; /* already kept (indices are in order) */
            px[out] = px[keep[k]];
            py[out] = py[keep[k]];
            out++;
            last_kept = keep[k];
        }
        start = end;
    }
    return out;
}

static int draw_series(Svg *svg, const LineChart *c, const LineSeries *s, const Scale *xs, const Scale *ys,
                       Error *err) {
    double *px = malloc((size_t)(s->count > 0 ? s->count : 1) * sizeof *px);
    double *py = malloc((size_t)(s->count > 0 ? s->count : 1) * sizeof *py);
    if (!px || !py) {
        free(px);
        free(py);
        return error_set(err, EXIT_RUNTIME, "out of memory drawing a chart");
    }
    int n = 0;
    for (int i = 0; i < s->count; i++) {
        if (!placeable(c, s->xs[i], s->ys[i])) continue;
        px[n] = scale_map(xs, s->xs[i]);
        py[n] = scale_map(ys, s->ys[i]);
        n++;
    }
    if (s->line_width > 0 && s->marker_radius <= 0) n = decimate(px, py, n);
    if (s->line_width > 0) svg_polyline(svg, px, py, n, s->color, s->line_width, s->dash, s->opacity > 0 ? s->opacity : 1);
    if (n == 1 && s->line_width > 0 && s->marker_radius <= 0) /* a lone point would draw no line */
        svg_circle(svg, px[0], py[0], 2.5, s->color, NULL);
    if (s->marker_radius > 0)
        for (int i = 0; i < n; i++) svg_circle(svg, px[i], py[i], s->marker_radius, "#ffffff", s->color);
    free(px);
    free(py);
    return 0;
}

int chart_draw_lines(Svg *svg, const LineChart *c, Error *err) {
    double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
    for (int i = 0; i < c->series_count; i++) {
        const LineSeries *s = &c->series[i];
        for (int j = 0; j < s->count; j++) {
            if (!placeable(c, s->xs[j], s->ys[j])) continue;
            x_min = fmin(x_min, s->xs[j]);
            x_max = fmax(x_max, s->xs[j]);
            y_min = fmin(y_min, s->ys[j]);
            y_max = fmax(y_max, s->ys[j]);
        }
    }
    if (!(x_min <= x_max)) return error_set(err, EXIT_BAD_INPUT, "no points to plot");

    Scale xs = {0}, ys = {0};
    Tick x_ticks[MAX_TICKS], y_ticks[MAX_TICKS];
    int x_count = c->log_x ? log_axis(&xs, x_min, x_max, x_ticks) : linear_axis(&xs, x_min, x_max, 8, x_ticks);
    int y_count = linear_axis(&ys, y_min, y_max, 7, y_ticks);
    if (x_count == 0 || y_count == 0) return error_set(err, EXIT_BAD_INPUT, "values too large to plot");

    /* The left margin fits the widest y label plus the rotated axis title. */
    const double tick_font = 12;
    double label_width = 0;
    for (int i = 0; i < y_count; i++) label_width = fmax(label_width, svg_text_width(y_ticks[i].label, tick_font));
    double left = fmax(64, 40 + label_width), right = LINE_WIDTH - 28, top = 50, bottom = LINE_HEIGHT - 58;
    xs.pixel_lo = left;
    xs.pixel_hi = right;
    ys.pixel_lo = bottom;
    ys.pixel_hi = top;

    svg_begin(svg, LINE_WIDTH, LINE_HEIGHT);
    draw_title(svg, c->title, (left + right) / 2, LINE_WIDTH);
    for (int i = 0; i < x_count; i++) {
        double x = scale_map(&xs, x_ticks[i].value);
        svg_line(svg, x, top, x, bottom, x_ticks[i].labeled ? GRID_COLOR : MINOR_GRID_COLOR, 1, NULL);
    }
    for (int i = 0; i < y_count; i++) {
        double y = scale_map(&ys, y_ticks[i].value);
        svg_line(svg, left, y, right, y, GRID_COLOR, 1, NULL);
    }
    svg_rect(svg, left, top, right - left, bottom - top, NULL, "#d0d0d0");

    for (int i = 0; i < c->series_count; i++)
        if (draw_series(svg, c, &c->series[i], &xs, &ys, err) != 0) return -1;

    svg_line(svg, left, bottom, right, bottom, AXIS_COLOR, 1, NULL);
    svg_line(svg, left, top, left, bottom, AXIS_COLOR, 1, NULL);
    SvgTextStyle tick_style = text_style(tick_font, SVG_ANCHOR_MIDDLE, TICK_TEXT_COLOR);
    for (int i = 0; i < x_count; i++) {
        if (!x_ticks[i].labeled) continue;
        double x = scale_map(&xs, x_ticks[i].value);
        svg_line(svg, x, bottom, x, bottom + 4, AXIS_COLOR, 1, NULL);
        svg_text(svg, x, bottom + 18, x_ticks[i].label, &tick_style);
    }
    tick_style.anchor = SVG_ANCHOR_END;
    for (int i = 0; i < y_count; i++) {
        double y = scale_map(&ys, y_ticks[i].value);
        svg_line(svg, left - 4, y, left, y, AXIS_COLOR, 1, NULL);
        svg_text(svg, left - 8, y + 4, y_ticks[i].label, &tick_style);
    }
    SvgTextStyle axis_style = text_style(13, SVG_ANCHOR_MIDDLE, TEXT_COLOR);
    if (c->x_title) svg_text(svg, (left + right) / 2, bottom + 42, c->x_title, &axis_style);
    axis_style.rotate = -90;
    if (c->y_title) svg_text(svg, 20, (top + bottom) / 2, c->y_title, &axis_style);
    draw_line_legend(svg, c, right, top);
    return svg_finish(svg, err);
}

/* ---- bar charts ---- */

static int drawable(const BarChart *c, const BarRow *row) {
    return !row->is_heading && isfinite(row->value) && (c->log_scale ? row->value > 0 : row->value >= 0);
}

/* Copies text into buffer, cut (at a UTF-8 boundary, with an ellipsis) to fit max_width px. */
static void fit_text(const char *text, double font, double max_width, char *buffer, size_t size) {
    snprintf(buffer, size, "%s", text);
    if (svg_text_width(buffer, font) <= max_width) return;
    size_t n = strlen(buffer);
    if (size < 8) return;
    if (n + 4 > size) n = size - 4; /* room for the ellipsis (3 bytes) and the terminator */
    while (n > 0) {
        do n--;
        while (n > 0 && ((unsigned char)buffer[n] & 0xC0) == 0x80);
        memcpy(buffer + n, "\xE2\x80\xA6", 4); /* U+2026 and the terminator */
        if (svg_text_width(buffer, font) <= max_width) return;
    }
}

/* The value label, plus the note's width for layout (the note is drawn apart, lighter). */
static void bar_annotation(const BarChart *c, const BarRow *row, char *buffer, size_t size) {
    if (!drawable(c, row)) {
        snprintf(buffer, size, "n/a");
        return;
    }
    chart_format_value(row->value, buffer, (int)size);
}

static double annotation_width(const BarChart *c, const BarRow *row, double font) {
    char text[64];
    bar_annotation(c, row, text, sizeof text);
    double width = svg_text_width(text, font);
    if (row->note && drawable(c, row)) width += NOTE_GAP + svg_text_width(row->note, font);
    return width;
}

int chart_draw_bars(Svg *svg, const BarChart *c, Error *err) {
    /* Rows get tighter when there are many (a full GEMM sweep has over a hundred bars). */
    int dense = c->row_count > 40;
    const double label_font = dense ? 12 : 13, value_font = dense ? 11 : 12, bar_row = dense ? 20 : 30,
                 heading_row = dense ? 24 : 28, bar_thickness = dense ? 14 : 20;
    double v_min = INFINITY, v_max = -INFINITY, label_width = 0, widest_annotation = 0;
    char text[256];
    for (int i = 0; i < c->row_count; i++) {
        const BarRow *row = &c->rows[i];
        if (row->is_heading) continue; /* headings run across the chart, not in the label column */
        label_width = fmax(label_width, svg_text_width(row->label, label_font));
        widest_annotation = fmax(widest_annotation, annotation_width(c, row, value_font));
        if (!drawable(c, row)) continue;
        v_min = fmin(v_min, row->value);
        v_max = fmax(v_max, row->value);
    }
    if (!(v_min <= v_max)) return error_set(err, EXIT_BAD_INPUT, "no bar values to plot");

    label_width = fmin(fmax(label_width, 40), 280);
    double left = 24 + label_width + 10, right = BAR_WIDTH - fmin(widest_annotation + 24, 260);
    double top = 52 + (c->legend_count > 0 ? 26 : 0), rows_height = 0;
    for (int i = 0; i < c->row_count; i++) rows_height += c->rows[i].is_heading ? heading_row : bar_row;
    double bottom = top + rows_height + 8;
    int height = (int)ceil(bottom + 50);

    Scale xs = {0};
    Tick ticks[MAX_TICKS];
    int tick_count = c->log_scale ? log_axis(&xs, v_min, v_max, ticks) : linear_axis(&xs, 0, v_max, 6, ticks);
    if (tick_count == 0) return error_set(err, EXIT_BAD_INPUT, "values too large to plot");
    xs.pixel_lo = left;
    xs.pixel_hi = right;

    svg_begin(svg, BAR_WIDTH, height);
    draw_title(svg, c->title, BAR_WIDTH / 2.0, BAR_WIDTH);
    if (c->legend_count > 0) {
        double x = left;
        SvgTextStyle style = text_style(12, SVG_ANCHOR_START, TEXT_COLOR);
        for (int i = 0; i < c->legend_count; i++) {
            draw_swatch(svg, x, 62, c->legend[i].color, NULL, 0, 1);
            svg_text(svg, x + 24, 66, c->legend[i].name, &style);
            x += 24 + svg_text_width(c->legend[i].name, 12) + 18;
        }
    }
    for (int i = 0; i < tick_count; i++) {
        double x = scale_map(&xs, ticks[i].value);
        svg_line(svg, x, top, x, bottom, ticks[i].labeled ? GRID_COLOR : MINOR_GRID_COLOR, 1, NULL);
    }

    SvgTextStyle label_style = text_style(label_font, SVG_ANCHOR_END, TEXT_COLOR);
    SvgTextStyle heading_style = text_style(label_font, SVG_ANCHOR_START, TEXT_COLOR);
    heading_style.bold = 1;
    double y = top;
    for (int i = 0; i < c->row_count; i++) {
        const BarRow *row = &c->rows[i];
        if (row->is_heading) {
            fit_text(row->label, label_font * 1.08, right - 24, text, sizeof text);
            svg_text(svg, 24, y + heading_row - 9, text, &heading_style);
            y += heading_row;
            continue;
        }
        double center = y + bar_row / 2;
        fit_text(row->label, label_font, label_width, text, sizeof text);
        svg_text(svg, left - 10, center + 4.5, text, &label_style);
        double end = left;
        if (drawable(c, row)) {
            end = scale_map(&xs, row->value);
            svg_printf(svg, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" rx=\"2\" fill=\"%s\"/>\n", left,
                       center - bar_thickness / 2, fmax(end - left, 1), bar_thickness,
                       row->color ? row->color : chart_palette[0]);
        }
        bar_annotation(c, row, text, sizeof text);
        svg_printf(svg, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" fill=\"%s\">", end + 6, center + 4, value_font,
                   TEXT_COLOR);
        svg_append_escaped(svg, text);
        if (row->note && drawable(c, row)) {
            svg_printf(svg, "<tspan dx=\"%d\" fill=\"%s\">", NOTE_GAP, NOTE_COLOR);
            svg_append_escaped(svg, row->note);
            svg_printf(svg, "</tspan>");
        }
        svg_printf(svg, "</text>\n");
        y += bar_row;
    }

    svg_line(svg, left, top, left, bottom, AXIS_COLOR, 1, NULL);
    svg_line(svg, left, bottom, right, bottom, AXIS_COLOR, 1, NULL);
    SvgTextStyle tick_style = text_style(12, SVG_ANCHOR_MIDDLE, TICK_TEXT_COLOR);
    for (int i = 0; i < tick_count; i++) {
        if (!ticks[i].labeled) continue;
        double x = scale_map(&xs, ticks[i].value);
        svg_line(svg, x, bottom, x, bottom + 4, AXIS_COLOR, 1, NULL);
        svg_text(svg, x, bottom + 18, ticks[i].label, &tick_style);
    }
    SvgTextStyle axis_style = text_style(13, SVG_ANCHOR_MIDDLE, TEXT_COLOR);
    if (c->value_title) svg_text(svg, (left + right) / 2, bottom + 40, c->value_title, &axis_style);
    return svg_finish(svg, err);
}
