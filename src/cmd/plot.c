/* cgpt plot: draws SVG charts from the JSON Lines files cgpt writes: loss curves (train and val
 * loss against step, one colour per log) from training logs, and the matmul rung ladder (one bar
 * per rung, or GEMM rows grouped by shape and pass) from bench results. No dependencies. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/commands.h"
#include "io/files.h"
#include "plot/chart.h"
#include "util/args.h"
#include "util/error.h"
#include "util/jsonl.h"
#include "util/svg.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cgpt plot LOG.jsonl [LOG2.jsonl ...] --out FILE.svg [--title TEXT] [--log-x] [--smooth N]\n"
            "       cgpt plot --bench BENCH.jsonl --out FILE.svg [--title TEXT] [--metric NAME] [--log] [--gemm]\n"
            "\n"
            "Loss curves: train loss (line) and val loss (points) against step, one colour per log;\n"
            "lines of a log without \"step\" and \"loss\" or \"val_loss\" are skipped.\n"
            "  --log-x       log-scale step axis (step 0 cannot be shown on it and is left out)\n"
            "  --smooth N    also draw train loss as the mean of the last N points (raw curve faded)\n"
            "\n"
            "Rung ladder: one bar per bench row with a \"rung\", in file order, labelled with its value and\n"
            "its speedup over the first row.\n"
            "  --metric NAME iters_per_s (default), tokens_per_s or gflops (default with --gemm)\n"
            "  --log         log-scale value axis (ladders span orders of magnitude)\n"
            "  --gemm        plot the GEMM rows (those with \"shape\"/\"pass\") grouped by shape and pass\n"
            "\n"
            "Both:\n"
            "  --out FILE    the SVG to write (replaced atomically)\n"
            "  --title TEXT  chart title\n");
}

/* ---- reading JSON Lines ---- */

/* Called for each line that parses as an object; returns 1 if the line was used, 0 if skipped,
 * -1 on a runtime failure (err set). */
typedef int (*LineVisitor)(void *context, const JsonObject *obj, Error *err);

/* Feeds every object line of path to visit; *used counts the lines it used. Unparsable lines are
 * skipped like lines without the wanted fields: logs may hold other records and a torn last line. */
static int read_jsonl(const char *path, LineVisitor visit, void *context, int *used, Error *err) {
    void *data;
    size_t size;
    *used = 0;
    if (read_whole_file(path, &data, &size, err) != 0) return -1;
    const char *text = data, *end = text + size;
    JsonObject obj;
    json_object_init(&obj);
    int status = 0;
    while (text < end) {
        const char *newline = memchr(text, '\n', (size_t)(end - text));
        const char *line_end = newline ? newline : end;
        Error line_err = {0};
        if (json_parse_object(&obj, text, (size_t)(line_end - text), &line_err) == 0) {
            int result = visit(context, &obj, err);
            if (result < 0) {
                status = -1;
                break;
            }
            *used += result;
        } else if (line_err.status == EXIT_RUNTIME) {
            status = error_set(err, EXIT_RUNTIME, "%s: %s", path, line_err.message);
            break;
        }
        text = newline ? newline + 1 : end;
    }
    json_object_free(&obj);
    free(data);
    return status;
}

typedef struct {
    double *x, *y;
    int count, capacity;
} Points;

static int points_add(Points *p, double x, double y, Error *err) {
    if (p->count == p->capacity) {
        int capacity = p->capacity ? p->capacity * 2 : 256;
        double *x_grown = realloc(p->x, (size_t)capacity * sizeof *x_grown);
        if (x_grown) p->x = x_grown;
        double *y_grown = x_grown ? realloc(p->y, (size_t)capacity * sizeof *y_grown) : NULL;
        if (!y_grown) return error_set(err, EXIT_RUNTIME, "out of memory reading points");
        p->y = y_grown;
        p->capacity = capacity;
    }
    p->x[p->count] = x;
    p->y[p->count] = y;
    p->count++;
    return 0;
}

static void points_free(Points *p) {
    free(p->x);
    free(p->y);
    memset(p, 0, sizeof *p);
}

/* ---- loss curves ---- */

typedef struct {
    Points train, val, smoothed;
    char train_name[300], val_name[300], smoothed_name[300];
} LossLog;

static int visit_log_line(void *context, const JsonObject *obj, Error *err) {
    LossLog *log = context;
    double step, loss;
    if (!json_get_number(obj, "step", &step) || !isfinite(step)) return 0;
    int used = 0;
    if (json_get_number(obj, "loss", &loss) && isfinite(loss)) {
        if (points_add(&log->train, step, loss, err) != 0) return -1;
        used = 1;
    }
    if (json_get_number(obj, "val_loss", &loss) && isfinite(loss)) {
        if (points_add(&log->val, step, loss, err) != 0) return -1;
        used = 1;
    }
    return used;
}

/* Centred moving average over `window` points (fewer at the ends): a trailing one would lag the
 * raw curve by half a window, which reads as slower training than there was. */
static int smooth_points(const Points *in, int window, Points *out, Error *err) {
    int before = (window - 1) / 2, after = window - 1 - before;
    double sum = 0;
    int lo = 0, hi = 0; /* the sum covers points [lo, hi) */
    for (int i = 0; i < in->count; i++) {
        int want_lo = i - before > 0 ? i - before : 0;
        int want_hi = i + after + 1 < in->count ? i + after + 1 : in->count;
        while (hi < want_hi) sum += in->y[hi++];
        while (lo < want_lo) sum -= in->y[lo++];
        if (points_add(out, in->x[i], sum / (hi - lo), err) != 0) return -1;
    }
    return 0;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* Legend name of a log: its file name, or the whole path when two logs share a file name. */
static const char *log_label(char **paths, int count, int index) {
    for (int i = 0; i < count; i++)
        if (i != index && strcmp(base_name(paths[i]), base_name(paths[index])) == 0) return paths[index];
    return base_name(paths[index]);
}

static int build_loss_chart(char **paths, int count, const char *title, int log_x, int smooth, Svg *svg,
                            Error *err) {
    LossLog *logs = calloc((size_t)count, sizeof *logs);
    LineSeries *series = calloc((size_t)count * 3, sizeof *series);
    int status = 0, series_count = 0;
    if (!logs || !series) {
        status = error_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    for (int i = 0; i < count && status == 0; i++) {
        LossLog *log = &logs[i];
        int used;
        if (read_jsonl(paths[i], visit_log_line, log, &used, err) != 0) {
            status = -1;
        } else if (used == 0) {
            status = error_set(err, EXIT_BAD_INPUT, "%s: no line has a \"step\" with a finite \"loss\" or \"val_loss\"", paths[i]);
        } else if (smooth > 1) {
            status = smooth_points(&log->train, smooth, &log->smoothed, err);
        }
    }
    if (status != 0) goto done;

    for (int i = 0; i < count; i++) {
        LossLog *log = &logs[i];
        const char *label = log_label(paths, count, i);
        /* One log: train and val in two colours; several: one colour per log, val dashed. */
        const char *train_color = chart_palette[i % CHART_PALETTE_SIZE];
        const char *val_color = count == 1 ? chart_palette[1] : train_color;
        snprintf(log->train_name, sizeof log->train_name, "%s train%s", label, smooth > 1 ? " (smoothed)" : "");
        snprintf(log->val_name, sizeof log->val_name, "%s val", label);
        if (log->train.count > 0) {
            LineSeries raw = {.name = smooth > 1 ? NULL : log->train_name, .color = train_color,
                              .xs = log->train.x, .ys = log->train.y, .count = log->train.count,
                              .line_width = 1.6, .opacity = smooth > 1 ? 0.25 : 1};
            series[series_count++] = raw;
        }
        if (smooth > 1 && log->smoothed.count > 0) {
            LineSeries smoothed = {.name = log->train_name, .color = train_color, .xs = log->smoothed.x,
                                   .ys = log->smoothed.y, .count = log->smoothed.count, .line_width = 2};
            series[series_count++] = smoothed;
        }
        if (log->val.count > 0) {
            /* Markers while they stay readable; dense evaluations are just a line. */
            double radius = log->val.count <= 60 ? 3.2 : log->val.count <= 200 ? 2.2 : 0;
            LineSeries val = {.name = log->val_name, .color = val_color, .xs = log->val.x, .ys = log->val.y,
                              .count = log->val.count, .line_width = 1.8, .dash = count > 1 ? "6 4" : NULL,
                              .marker_radius = radius};
            series[series_count++] = val;
        }
    }
    LineChart chart = {.title = title ? title : "Training loss", .x_title = log_x ? "step (log scale)" : "step",
                       .y_title = "loss", .log_x = log_x, .series = series, .series_count = series_count};
    if (chart_draw_lines(svg, &chart, err) != 0) {
        /* With --log-x a log of only step 0 has nothing left; say so rather than "no points". */
        Error detailed = {0};
        error_set(&detailed, err->status, "%s%s", err->message, log_x ? " (step 0 is left out with --log-x)" : "");
        *err = detailed;
        status = -1;
    }
done:
    if (logs)
        for (int i = 0; i < count; i++) {
            points_free(&logs[i].train);
            points_free(&logs[i].val);
            points_free(&logs[i].smoothed);
        }
    free(logs);
    free(series);
    return status;
}

/* ---- bench ladder ---- */

typedef struct {
    char *rung, *precision, *group;
    double value;
} BenchRow;

typedef struct {
    const char *metric;
    int gemm;
    BenchRow *rows;
    int count, capacity;
} BenchRows;

static char *copy_string(const char *text) {
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy) memcpy(copy, text, n);
    return copy;
}

/* "shape" may be a string, a number or an array: whatever it is, its text labels the group. */
static const char *field_text(const JsonObject *obj, const char *key) {
    const JsonField *f = json_find(obj, key);
    return f && f->type != JSON_NULL ? f->text : NULL;
}

static int visit_bench_line(void *context, const JsonObject *obj, Error *err) {
    BenchRows *rows = context;
    const char *rung = json_get_string(obj, "rung");
    if (!rung) return 0;
    /* bench --breakdown rows time calls inside a training step: neither a ladder row nor a GEMM one */
    if (field_text(obj, "breakdown")) return 0;
    const char *shape = field_text(obj, "shape"), *pass = field_text(obj, "pass"), *layer = json_get_string(obj, "layer");
    int is_gemm = shape || pass;
    if (is_gemm != rows->gemm) return 0;
    if (rows->count == rows->capacity) {
        int capacity = rows->capacity ? rows->capacity * 2 : 32;
        BenchRow *grown = realloc(rows->rows, (size_t)capacity * sizeof *grown);
        if (!grown) return error_set(err, EXIT_RUNTIME, "out of memory reading bench rows");
        rows->rows = grown;
        rows->capacity = capacity;
    }
    BenchRow *row = &rows->rows[rows->count];
    memset(row, 0, sizeof *row);
    if (!json_get_number(obj, rows->metric, &row->value)) row->value = NAN;
    const char *precision = json_get_string(obj, "precision");
    char group[512];
    snprintf(group, sizeof group, "%.200s%s%.100s%s%s%.100s", shape ? shape : "", layer ? " (" : "", layer ? layer : "",
             layer ? ")" : "", shape && pass ? "  " : "", pass ? pass : "");
    row->rung = copy_string(rung);
    row->precision = precision ? copy_string(precision) : NULL;
    row->group = rows->gemm ? copy_string(group) : NULL;
    rows->count++; /* counted before the checks below so that bench_rows_free frees what was copied */
    if (!row->rung || (precision && !row->precision) || (rows->gemm && !row->group))
        return error_set(err, EXIT_RUNTIME, "out of memory reading bench rows");
    return 1;
}

static void bench_rows_free(BenchRows *rows) {
    for (int i = 0; i < rows->count; i++) {
        free(rows->rows[i].rung);
        free(rows->rows[i].precision);
        free(rows->rows[i].group);
    }
    free(rows->rows);
}

static const char *metric_title(const char *metric) {
    return strcmp(metric, "iters_per_s") == 0    ? "training steps per second"
           : strcmp(metric, "tokens_per_s") == 0 ? "tokens per second"
                                                 : "GFLOP/s";
}

static void format_speedup(double ratio, char *buffer, size_t size) {
    snprintf(buffer, size, "%.*f\xC3\x97", ratio < 0.1 ? 3 : ratio < 1 ? 2 : ratio < 10 ? 1 : 0, ratio);
}

/* Index of name in names[0..*count), adding it if new (names point at rows' strings). */
static int category_index(const char **names, int *count, const char *name) {
    for (int i = 0; i < *count; i++)
        if (strcmp(names[i], name) == 0) return i;
    names[*count] = name;
    return (*count)++;
}

static int build_bench_chart(const char *path, const char *title, const char *metric, int log_scale, int gemm,
                             Svg *svg, Error *err) {
    BenchRows rows = {.metric = metric, .gemm = gemm};
    int used, status = 0;
    BarRow *bars = NULL;
    const char **categories = NULL, **groups = NULL;
    LegendEntry *legend = NULL;
    char(*notes)[32] = NULL;
    if (read_jsonl(path, visit_bench_line, &rows, &used, err) != 0) {
        status = -1;
        goto done;
    }
    if (used == 0) {
        status = error_set(err, EXIT_BAD_INPUT, gemm ? "%s: no GEMM row (with \"rung\" and \"shape\" or \"pass\")"
                                                      : "%s: no row has a \"rung\"", path);
        goto done;
    }
    int any_value = 0;
    for (int i = 0; i < rows.count; i++) any_value |= isfinite(rows.rows[i].value);
    if (!any_value) {
        status = error_set(err, EXIT_BAD_INPUT, "%s: no row has a number for \"%s\"", path, metric);
        goto done;
    }

    /* Colours: by rung in GEMM groups (so a rung looks the same in every group), else by precision. */
    int category_count = 0, group_count = 0;
    bars = calloc((size_t)rows.count * 2, sizeof *bars);
    categories = calloc((size_t)rows.count, sizeof *categories);
    groups = calloc((size_t)rows.count, sizeof *groups);
    legend = calloc((size_t)rows.count, sizeof *legend);
    notes = calloc((size_t)rows.count, sizeof *notes);
    if (!bars || !categories || !groups || !legend || !notes) {
        status = error_set(err, EXIT_RUNTIME, "out of memory");
        goto done;
    }
    for (int i = 0; i < rows.count; i++) {
        const char *category = gemm ? rows.rows[i].rung : rows.rows[i].precision;
        if (category) category_index(categories, &category_count, category);
        if (gemm) category_index(groups, &group_count, rows.rows[i].group);
    }
    int bar_count = 0;
    for (int g = 0; g < (gemm ? group_count : 1); g++) {
        if (gemm) bars[bar_count++] = (BarRow){.label = groups[g], .is_heading = 1};
        double baseline = NAN; /* the first row's value (of the group): speedups are relative to it */
        int first = 1;
        for (int i = 0; i < rows.count; i++) {
            const BenchRow *row = &rows.rows[i];
            if (gemm && strcmp(row->group, groups[g]) != 0) continue;
            const char *category = gemm ? row->rung : row->precision;
            int color = category ? category_index(categories, &category_count, category) : 0;
            if (first) baseline = row->value;
            first = 0;
            int has_note = isfinite(baseline) && baseline > 0 && isfinite(row->value);
            if (has_note) format_speedup(row->value / baseline, notes[i], sizeof notes[i]);
            bars[bar_count++] = (BarRow){.label = row->rung, .value = row->value,
                                         .color = chart_palette[color % CHART_PALETTE_SIZE],
                                         .note = has_note ? notes[i] : NULL};
        }
    }
    for (int i = 0; i < category_count; i++)
        legend[i] = (LegendEntry){.name = categories[i], .color = chart_palette[i % CHART_PALETTE_SIZE]};

    char value_title[128];
    snprintf(value_title, sizeof value_title, "%s%s%s", metric_title(metric), log_scale ? " (log scale)" : "",
             "   \xC2\xB7   bar labels: value, speedup over the first rung");
    char default_title[128];
    snprintf(default_title, sizeof default_title, gemm ? "GEMM throughput by rung" : "Matmul rung ladder: %s",
             metric_title(metric));
    BarChart chart = {.title = title ? title : default_title, .value_title = value_title, .log_scale = log_scale,
                      .rows = bars, .row_count = bar_count, .legend = legend, .legend_count = category_count};
    if (chart_draw_bars(svg, &chart, err) != 0) status = -1;
done:
    bench_rows_free(&rows);
    free(bars);
    free(categories);
    free(groups);
    free(legend);
    free(notes);
    return status;
}

/* ---- the command ---- */

static int fail(const Error *err) {
    fprintf(stderr, "cgpt: plot: %s\n", err->message[0] ? err->message : "unknown error");
    return err->status ? err->status : EXIT_RUNTIME;
}

static int write_svg(const char *path, const Svg *svg, Error *err) {
    AtomicFile file;
    if (atomic_open(&file, path, err) != 0) return -1;
    if (atomic_write(&file, svg->data, svg->length, err) != 0) return -1;
    return atomic_commit(&file, err);
}

static int flag_without_value(const Args *args) {
    if (args->inline_value) die(EXIT_BAD_INPUT, "plot: %s takes no value", args->flag);
    return 1;
}

int cmd_plot(int argc, char **argv) {
    Args args;
    args_init(&args, argc, argv, "plot");
    char **inputs = xcalloc((unsigned long long)(argc > 0 ? argc : 1), sizeof *inputs, "arguments");
    int input_count = 0, log_x = 0, log_scale = 0, gemm = 0, smooth = 1, only_files = 0;
    int loss_flag = 0, bench_flag = 0; /* a flag of each mode was given (to refuse mixing them) */
    const char *out = NULL, *title = NULL, *bench = NULL, *metric = NULL;
    const char *flag;
    while (args_next(&args, &flag)) {
        const char *whole = argv[args.index - 1]; /* args.flag is cut at 63 characters */
        if (only_files || whole[0] != '-' || whole[1] == 0) {
            inputs[input_count++] = (char *)whole;
        } else if (strcmp(whole, "--") == 0) {
            only_files = 1;
        } else if (args_is_help(flag)) {
            usage(stdout);
            free(inputs);
            return 0;
        } else if (args_is(&args, "--out")) {
            out = args_value(&args);
        } else if (args_is(&args, "--title")) {
            title = args_value(&args);
        } else if (args_is(&args, "--log-x")) {
            loss_flag = log_x = flag_without_value(&args);
        } else if (args_is(&args, "--smooth")) {
            smooth = (int)args_int(&args, 1, 1000000);
            loss_flag = 1;
        } else if (args_is(&args, "--bench")) {
            bench = args_value(&args);
        } else if (args_is(&args, "--metric")) {
            metric = args_value(&args);
            bench_flag = 1;
            if (strcmp(metric, "iters_per_s") != 0 && strcmp(metric, "tokens_per_s") != 0 && strcmp(metric, "gflops") != 0)
                die(EXIT_BAD_INPUT, "plot: --metric: '%s' is not one of iters_per_s, tokens_per_s, gflops", metric);
        } else if (args_is(&args, "--log")) {
            bench_flag = log_scale = flag_without_value(&args);
        } else if (args_is(&args, "--gemm")) {
            bench_flag = gemm = flag_without_value(&args);
        } else {
            args_unknown(&args);
        }
    }

    Error err = {0};
    if (!bench && input_count == 0)
        error_set(&err, EXIT_BAD_INPUT, "no input files (see cgpt plot --help)");
    else if (bench && input_count > 0)
        error_set(&err, EXIT_BAD_INPUT, "give either training logs or --bench FILE, not both");
    else if (bench && loss_flag)
        error_set(&err, EXIT_BAD_INPUT, "--log-x and --smooth are for loss curves, not --bench");
    else if (!bench && bench_flag)
        error_set(&err, EXIT_BAD_INPUT, "--metric, --log and --gemm need --bench FILE");
    else if (!out)
        error_set(&err, EXIT_BAD_INPUT, "--out FILE.svg is required");
    else if (!out[0] || out[strlen(out) - 1] == '/')
        error_set(&err, EXIT_BAD_INPUT, "--out needs a file name, not '%s'", out);
    if (err.status) {
        free(inputs);
        return fail(&err);
    }

    Svg svg = {0};
    int status = bench ? build_bench_chart(bench, title, metric ? metric : gemm ? "gflops" : "iters_per_s", log_scale,
                                           gemm, &svg, &err)
                       : build_loss_chart(inputs, input_count, title, log_x, smooth, &svg, &err);
    if (status == 0) status = write_svg(out, &svg, &err);
    svg_free(&svg);
    free(inputs);
    if (status != 0) return fail(&err);
    printf("wrote %s\n", out);
    return 0;
}
