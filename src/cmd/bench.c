/* cgpt bench: the article's table for the running machine. For each available matmul rung: whole
 * GPT-2 training iterations (forward + backward + AdamW; median after a warm-up), the share of the
 * step spent in matmuls, GFLOP/s and percent of the measured FMA peak, and cached generation
 * tokens/s. --gemm times every rung on every GPT-2 GEMM shape and pass instead. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cmd/commands.h"
#include "cpu/matmul/gemm_bench.h"
#include "cpu/matmul/matmul.h"
#include "model/gpt2.h"
#include "util/args.h"
#include "util/cpu.h"
#include "util/fma_peak.h"
#include "util/threadpool.h"
#include "util/timer.h"

static const char *usage_text =
    "usage: cgpt bench [options]\n"
    "  Times every available matmul rung on whole training iterations of GPT-2 (forward, backward,\n"
    "  AdamW) and on cached generation, and prints one row per rung.\n"
    "  --rungs LIST      comma-separated rungs (--matmul is the same)  [all available]\n"
    "  --model NAME      d6, d12, ...  [d12]\n"
    "  -b N, -t N        batch size and sequence length  [4, 64]\n"
    "  --iters N         timed iterations per rung (median; slow rungs use fewer)  [5]\n"
    "  --gen-tokens N    generated tokens per rung  [32]\n"
    "  --breakdown       after each rung, its matmul time per step by pass and shape (mean of\n"
    "                    the timed iterations) and the rate of each, then the whole step's time\n"
    "                    op by op (matmul, layernorm, attention, ..., adamw)\n"
    "  --gemm            time each rung on each GPT-2 GEMM shape and pass instead, as a\n"
    "                    training step runs them: weights and outputs out of cache (calls\n"
    "                    rotate through ~256 MB of copies), weight gradients overwritten\n"
    "  --gemm-seconds X  minimum timing per GEMM measurement  [0.3]\n"
    "  --json            one JSON object per row instead of the table\n"
    "  --out FILE        also append the JSON rows to FILE\n"
    "  --threads N       0 = all cores  [0]\n"
    "example: cgpt bench --json --out bench.jsonl && cgpt plot --bench bench.jsonl --out ladder.svg\n";

/* Bench wraps the rung under test to time its calls; the wrapper is the rung the model sees.
 * Each call's time is also added to its (pass, N x K) class, for --breakdown. */
static const MatmulRung *timed_rung;
static double matmul_seconds;

enum { PASS_FORWARD, PASS_DINP, PASS_DWEIGHT, PASS_DBIAS, PASS_COUNT, MAX_CLASSES = 32 };
static const char *pass_names[PASS_COUNT] = {"forward", "dinp", "dweight", "dbias"};
typedef struct {
    int pass, M, N, K;
    long calls;
    double seconds, flops;
} CallClass;
static CallClass classes[MAX_CLASSES];
static int class_count, recording_classes; /* recorded during training iterations only */

static void record_call(int pass, int M, int N, int K, double seconds) {
    matmul_seconds += seconds;
    if (!recording_classes) return;
    int c = 0;
    while (c < class_count && !(classes[c].pass == pass && classes[c].M == M && classes[c].N == N && classes[c].K == K)) c++;
    if (c == class_count) {
        if (class_count == MAX_CLASSES) return;
        classes[class_count++] = (CallClass){.pass = pass, .M = M, .N = N, .K = K};
    }
    classes[c].calls++;
    classes[c].seconds += seconds;
    classes[c].flops += pass == PASS_DBIAS ? (double)M * N : 2.0 * M * N * K;
}

static void timed_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N, int K) {
    double t = now_seconds();
    timed_rung->forward(out, inp, weight, bias, M, N, K);
    record_call(PASS_FORWARD, M, N, K, now_seconds() - t);
}
static void timed_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    double t = now_seconds();
    timed_rung->backward_input(dinp, dout, weight, M, N, K);
    record_call(PASS_DINP, M, N, K, now_seconds() - t);
}
static void timed_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                  int accumulate, double *squares) {
    double t = now_seconds();
    timed_rung->backward_weight(dweight, dout, inp, M, N, K, accumulate, squares);
    record_call(PASS_DWEIGHT, M, N, K, now_seconds() - t);
}
static void timed_backward_bias(float *dbias, const float *dout, int M, int N) {
    double t = now_seconds();
    if (timed_rung->backward_bias) timed_rung->backward_bias(dbias, dout, M, N);
    else matmul_backward_bias(dbias, dout, M, N);
    record_call(PASS_DBIAS, M, N, 0, now_seconds() - t);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n) {
    qsort(values, (size_t)n, sizeof(double), compare_doubles);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

static int rung_selected(const char *list, const char *name) {
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

static void check_rung_list(const char *list) {
    if (!list) return;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *name = strtok(copy, ","); name; name = strtok(NULL, ","))
        if (!matmul_find(name) || strcmp(name, "auto") == 0)
            die(EXIT_BAD_INPUT, "bench: --rungs/--matmul: unknown rung '%s' (one of: %s)", name, matmul_names());
}

typedef struct {
    FILE *extra;  /* --out file, or NULL */
    int json;
} Output;

/* Prints a JSON row to stdout (with --json) and to the --out file. */
static void emit_json(const Output *out, const char *row) {
    if (out->json) printf("%s\n", row);
    if (out->extra) fprintf(out->extra, "%s\n", row);
}

/* --breakdown: the matmul time of one step (mean over the timed iterations) by pass and shape,
 * slowest first, with each class's achieved rate. */
static int slower_first(const void *a, const void *b) {
    double x = ((const CallClass *)a)->seconds, y = ((const CallClass *)b)->seconds;
    return (x < y) - (x > y);
}
static void print_breakdown(const Output *out, const MatmulRung *rung, int iterations) {
    if (iterations < 1) return;
    qsort(classes, (size_t)class_count, sizeof classes[0], slower_first);
    if (!out->json) printf("    %-8s %-16s %6s %10s %9s\n", "pass", "M x N x K", "calls", "ms/step", "GFLOP/s");
    for (int c = 0; c < class_count; c++) {
        const CallClass *k = &classes[c];
        char shape[48], row[384];
        if (k->pass == PASS_DBIAS) snprintf(shape, sizeof shape, "%dx%d", k->M, k->N);
        else snprintf(shape, sizeof shape, "%dx%dx%d", k->M, k->N, k->K);
        double ms = 1000 * k->seconds / iterations, gflops = k->seconds > 0 ? k->flops / k->seconds / 1e9 : 0;
        snprintf(row, sizeof row,
                 "{\"rung\":\"%s\",\"breakdown\":true,\"pass\":\"%s\",\"shape\":\"%s\",\"calls_per_step\":%.1f,"
                 "\"ms_per_step\":%.3f,\"gflops\":%.2f}",
                 rung->name, pass_names[k->pass], shape, (double)k->calls / iterations, ms, gflops);
        emit_json(out, row);
        if (!out->json)
            printf("    %-8s %-16s %6.0f %10.2f %9.1f\n", pass_names[k->pass], shape, (double)k->calls / iterations, ms,
                   gflops);
    }
}

/* --breakdown, second part: the whole step op by op (mean over the timed iterations), so that the
 * "other" column can be traced to the ops; what no op claims (the bench loop's own work) is
 * printed as "unattributed". */
static void print_op_profile(const Output *out, const MatmulRung *rung, const StepProfile *profile, int iterations,
                             double step_seconds_total) {
    if (iterations < 1) return;
    double claimed = 0;
    for (int op = 0; op < STEP_OP_COUNT; op++) claimed += profile->seconds[op];
    if (!out->json) printf("    %-14s %10s %7s\n", "op", "ms/step", "share");
    for (int op = 0; op <= STEP_OP_COUNT; op++) {
        const char *name = op < STEP_OP_COUNT ? step_op_names[op] : "unattributed";
        double seconds = op < STEP_OP_COUNT ? profile->seconds[op] : step_seconds_total - claimed;
        double ms = 1000 * seconds / iterations, share = step_seconds_total > 0 ? 100 * seconds / step_seconds_total : 0;
        char row[256];
        snprintf(row, sizeof row, "{\"rung\":\"%s\",\"breakdown\":true,\"op\":\"%s\",\"ms_per_step\":%.3f,\"share\":%.2f}",
                 rung->name, name, ms, share);
        emit_json(out, row);
        if (!out->json) printf("    %-14s %10.2f %6.1f%%\n", name, ms, share);
    }
}

static int bench_gemm(const char *rung_list, double min_seconds, const Output *out) {
    static const struct { int N, K; const char *what; } shapes[] = {
        {2304, 768, "qkv"}, {768, 768, "attproj"}, {3072, 768, "fc"}, {768, 3072, "fcproj"}, {50304, 768, "head"},
    };
    const int M = 256;
    int count;
    const MatmulRung *const *rungs = matmul_rungs(&count);
    if (!out->json)
        printf("GEMM GFLOP/s at M=%d (B=4, T=64), %d threads, median of calls\n%-9s %-8s", M, pool_size(), "rung",
               "pass");
    if (!out->json)
        for (size_t s = 0; s < 5; s++) printf(" %7s", shapes[s].what);
    if (!out->json) printf("\n");
    for (int r = 0; r < count; r++) {
        const MatmulRung *rung = rungs[r];
        if (!rung_selected(rung_list, rung->name) || !rung->available()) continue;
        /* the naive rung needs seconds per call on the big shapes: time it briefly */
        double seconds = strcmp(rung->name, "naive") == 0 ? 0.0 : min_seconds;
        for (int pass = 0; pass < 3; pass++) {
            if (!out->json) printf("%-9s %-8s", rung->name, pass_names[pass]);
            for (size_t s = 0; s < 5; s++) {
                fprintf(stderr, "\r  %s %s %dx%dx%d ...        ", rung->name, pass_names[pass], M, shapes[s].N,
                        shapes[s].K);
                GemmBenchResult result = gemm_bench_run(rung, pass, M, shapes[s].N, shapes[s].K, seconds);
                fprintf(stderr, "\r%60s\r", "");
                char row[512];
                snprintf(row, sizeof row,
                         "{\"rung\":\"%s\",\"precision\":\"%s\",\"shape\":\"%dx%dx%d\",\"layer\":\"%s\",\"pass\":\"%s\","
                         "\"gflops\":%.2f,\"best_gflops\":%.2f,\"calls\":%d,\"threads\":%d}",
                         rung->name, rung->precision, M, shapes[s].N, shapes[s].K, shapes[s].what, pass_names[pass],
                         result.median_gflops, result.best_gflops, result.calls, pool_size());
                emit_json(out, row);
                if (!out->json) printf(" %7.1f", result.median_gflops);
                fflush(stdout);
            }
            if (!out->json) printf("\n");
        }
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    Args args;
    args_init(&args, argc, argv, "bench");
    const char *flag, *rung_list = NULL, *model_name = "d12", *out_path = NULL;
    int B = 4, T = 64, iters = 5, gen_tokens = 32, gemm = 0, json = 0, threads = 0, breakdown = 0;
    double gemm_seconds = 0.3;
    while (args_next(&args, &flag)) {
        if (args_is_help(flag)) { fputs(usage_text, stdout); return 0; }
        else if (args_is(&args, "--rungs") || args_is(&args, "--matmul")) rung_list = args_value(&args);
        else if (args_is(&args, "--model")) model_name = args_value(&args);
        else if (args_is(&args, "-b") || args_is(&args, "--batch")) B = (int)args_int(&args, 1, 4096);
        else if (args_is(&args, "-t") || args_is(&args, "--seq-len")) T = (int)args_int(&args, 1, 1 << 16);
        else if (args_is(&args, "--iters")) iters = (int)args_int(&args, 1, 1000);
        else if (args_is(&args, "--gen-tokens")) gen_tokens = (int)args_int(&args, 1, 1 << 16);
        else if (args_is(&args, "--gemm")) gemm = 1;
        else if (args_is(&args, "--breakdown")) breakdown = 1;
        else if (args_is(&args, "--gemm-seconds")) gemm_seconds = args_double(&args, 0, 60);
        else if (args_is(&args, "--json")) json = 1;
        else if (args_is(&args, "--out")) out_path = args_value(&args);
        else if (args_is(&args, "--threads")) threads = (int)args_int(&args, 0, 4096);
        else args_unknown(&args);
    }
    check_rung_list(rung_list);
    GPT2Config config;
    if (gpt2_config_by_name(model_name, &config))
        die(EXIT_BAD_INPUT, "bench: --model: unknown model '%s' (one of d6, d12, d24, d36, d48)", model_name);
    if (T > config.max_seq_len) die(EXIT_BAD_INPUT, "bench: -t %d exceeds the model's maximum of %d", T, config.max_seq_len);
    Output out = {NULL, json};
    if (out_path && !(out.extra = fopen(out_path, "a")))
        die(EXIT_BAD_INPUT, "bench: --out: cannot write %s", out_path);
    pool_init(threads);
    const CpuFeatures *cpu = cpu_features();
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));

    if (gemm) {
        int status = bench_gemm(rung_list, gemm_seconds, &out);
        if (out.extra) fclose(out.extra);
        return status;
    }

    fprintf(stderr, "measuring the FMA peak ...\n");
    FmaPeak peak = measure_fma_peak();
    Error err = {0};
    GPT2 model;
    fprintf(stderr, "initialising %s ...\n", model_name);
    if (gpt2_init_random(&model, &config, 1337, &err) || gpt2_enable_training(&model, &err)) error_exit(&err);
    double flops = gpt2_training_flops(&config, B, T);
    int N = B * T;
    int32_t *inputs = malloc(sizeof(int32_t) * N), *targets = malloc(sizeof(int32_t) * N);
    Rng rng;
    rng_seed(&rng, 42);
    for (int i = 0; i < N; i++) {
        inputs[i] = (int32_t)(rng_next_u64(&rng) % (uint64_t)config.vocab_size);
        targets[i] = (int32_t)(rng_next_u64(&rng) % (uint64_t)config.vocab_size);
    }
    if (!json) {
        printf("cgpt bench | %s | %s | %d threads | FMA peak (%s): 1 core %.0f, all %.0f GFLOP/s\n", date, cpu->brand,
               pool_size(), peak.isa, peak.one_core_gflops, peak.all_cores_gflops);
        printf("GPT-2 %s (%.1fM params), B=%d, T=%d: %.3g FLOPs per training iteration (fwd+bwd; AdamW extra)\n",
               model_name, model.num_params / 1e6, B, T, flops);
        printf("%-9s %-5s %9s %8s %9s %8s %8s %7s %9s %9s %5s\n", "rung", "prec", "gen tok/s", "it/s", "tok/s",
               "speedup", "GFLOP/s", "% peak", "matmul ms", "other ms", "iters");
        fflush(stdout);
    }

    int count;
    const MatmulRung *const *rungs = matmul_rungs(&count);
    double baseline_iters_per_s = 0;
    for (int r = 0; r < count; r++) {
        const MatmulRung *rung = rungs[r];
        if (!rung_selected(rung_list, rung->name) || !rung->available()) continue;
        MatmulRung wrapper = *rung;
        wrapper.forward = timed_forward;
        wrapper.backward_input = timed_backward_input;
        wrapper.backward_weight = timed_backward_weight;
        wrapper.backward_bias = timed_backward_bias;
        timed_rung = rung;
        model.matmul = &wrapper;
        class_count = 0;
        recording_classes = 1;
        StepProfile profile = {0};
        if (breakdown) model.profile = &profile;
        double step_seconds_total = 0;

        /* training iterations: the first warms up; a rung slower than 10 s per step keeps that one */
        double step_times[1000], matmul_times[1000];
        int measured = 0;
        for (int i = 0; i <= iters; i++) {
            fprintf(stderr, "\r  %-9s training iteration %d/%d ...   ", rung->name, i, iters);
            matmul_seconds = 0;
            double start = now_seconds();
            const int last_micro_step = 1; /* no accumulation: the norm is summed in the backward pass */
            if (gpt2_forward_backward(&model, inputs, targets, B, T, 1.0f, last_micro_step, &err)) error_exit(&err);
            float norm = gpt2_grad_norm(&model);
            gpt2_update(&model, 1e-5f, 0.9f, 0.95f, 1e-8f, 0.0f, 1.0f, norm, i + 1);
            double t = now_seconds() - start;
            if (i == 0 && t < 10.0) {
                class_count = 0; /* a warm-up: the breakdown counts the timed iterations only */
                profile = (StepProfile){0};
                continue;
            }
            step_times[measured] = t;
            matmul_times[measured] = matmul_seconds;
            step_seconds_total += t;
            measured++;
            if (t >= 10.0) break;
        }
        double step_s = median(step_times, measured), matmul_s = median(matmul_times, measured);
        recording_classes = 0; /* generation's calls below are not part of the breakdown */
        model.profile = NULL;
        /* generation: one position at a time through the key/value cache */
        int tokens = step_s > 10.0 ? (gen_tokens < 8 ? gen_tokens : 8) : gen_tokens;
        fprintf(stderr, "\r  %-9s generating %d tokens ...          ", rung->name, tokens);
        gpt2_decode_step(&model, inputs[0], 0, &err);
        double start = now_seconds();
        for (int pos = 1; pos <= tokens; pos++)
            if (!gpt2_decode_step(&model, inputs[pos % N], pos, &err)) error_exit(&err);
        double gen_tokens_per_s = tokens / (now_seconds() - start);
        fprintf(stderr, "\r%60s\r", "");

        double iters_per_s = 1.0 / step_s, gflops = flops / step_s / 1e9;
        if (baseline_iters_per_s == 0) baseline_iters_per_s = iters_per_s;
        double speedup = iters_per_s / baseline_iters_per_s;
        double percent = peak.all_cores_gflops > 0 ? 100.0 * gflops / peak.all_cores_gflops : 0;
        char row[1024];
        snprintf(row, sizeof row,
                 "{\"rung\":\"%s\",\"precision\":\"%s\",\"iters_per_s\":%.4f,\"tokens_per_s\":%.1f,"
                 "\"gen_tokens_per_s\":%.2f,\"gflops\":%.2f,\"speedup\":%.2f,\"pct_peak\":%.1f,\"step_ms\":%.2f,"
                 "\"matmul_ms\":%.2f,\"other_ms\":%.2f,\"iterations\":%d,\"model\":\"%s\",\"B\":%d,\"T\":%d,"
                 "\"threads\":%d,\"peak_gflops\":%.1f,\"cpu\":\"%s\",\"date\":\"%s\"}",
                 rung->name, rung->precision, iters_per_s, iters_per_s * N, gen_tokens_per_s, gflops, speedup, percent,
                 1000 * step_s, 1000 * matmul_s, 1000 * (step_s - matmul_s), measured, model_name, B, T, pool_size(),
                 peak.all_cores_gflops, cpu->brand, date);
        emit_json(&out, row);
        if (!json)
            printf("%-9s %-5s %9.1f %8.3f %9.1f %7.1fx %8.1f %6.1f%% %9.1f %9.1f %5d\n", rung->name, rung->precision,
                   gen_tokens_per_s, iters_per_s, iters_per_s * N, speedup, gflops, percent, 1000 * matmul_s,
                   1000 * (step_s - matmul_s), measured);
        if (breakdown) {
            print_breakdown(&out, rung, measured);
            print_op_profile(&out, rung, &profile, measured, step_seconds_total);
        }
        fflush(stdout);
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    if (!json) printf("peak memory %.0f MB\n", usage.ru_maxrss / 1024.0);
    if (out.extra) fclose(out.extra);
    free(inputs);
    free(targets);
    gpt2_free(&model);
    return 0;
}
