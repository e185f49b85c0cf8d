/* Developer tool for GEMM tuning (not part of the build or the tests). The machine is shared and
 * noisy, so rungs are compared in alternation: for each shape and pass, every rung runs a short
 * burst in turn, for several rounds; it prints the best and the median burst of each rung.
 *   make BUILD=build-gemm build-gemm/libcgpt.a
 *   cc -O2 -Isrc tools/gemm_lab.c build-gemm/libcgpt.a -lm -lpthread -ldl -o build-gemm/gemm_lab
 *   build-gemm/gemm_lab [-t THREADS] [-m M] [-r ROUNDS] [-p PASS] [-cold] [-overwrite] RUNG|VARIANT ...
 * PASS: 0 forward, 1 backward_input, 2 backward_weight. -cold: each call gets a weight matrix
 * that is not in any cache, as in a training step. -overwrite: weight gradients are written, not
 * added (as in a step's first micro-step).
 * A VARIANT runs the threaded frame with changed knobs, e.g. "kc=512,mc=128,whole=b" (kc, mc:
 * block sizes; whole: a, b or n(one) forces the whole-packed operand; generic: the portable
 * packer; nodirect: pack B even where the kernel could read it in place; nopipe: pack each B panel
 * just before its tiles, not between the previous panel's; nocopy: pack those parts between tiles,
 * not inside the next tile's kernel; noqueue: one fixed column task a thread
 * where the frame would have the threads claim B panels from a queue; cols=N, rows=N: columns
 * or rows per task; default: the frame's own choices). A name ending in "+sq" (e.g. amx+sq) also asks
 * backward_weight for its sum of squares, as a step's last micro-step does.
 * (cgpt bench --gemm reports its own figures, through gemm_bench_run: cold, weight gradients
 * overwritten, like -cold -overwrite here.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/matmul/gemm_frame.h"
#include "cpu/matmul/matmul.h"
#include "util/bigmem.h"
#include "util/rng.h"
#include "util/threadpool.h"
#include "util/timer.h"

#define MAX_RUNGS 8
#define MAX_ROUNDS 64

/* Variants: the threaded rung's driver with knobs. The lab sets `variant` before each call. */
typedef struct {
    char name[64];
    GemmKernel kernel;
    char whole; /* 0: frame's choice; 'a', 'b', 'n' */
    int no_direct; /* pack B even where the kernel could read it in place */
    int no_pipeline; /* pack each B panel just before its tiles, not between the previous panel's */
    int no_copy;     /* B parts packed between tiles, not copied inside the next tile's kernel */
    int no_queue;    /* one fixed column task a thread where the frame would use a panel queue */
    int task_cols;   /* columns per task (a multiple of NR); 0: the frame's choice */
    int task_rows;   /* rows per task (a multiple of MR); 0: the frame's choice */
} Variant;
static Variant variants[MAX_RUNGS];
static const Variant *variant;
static GemmBuffer whole_buffer, scratch_buffers[64];

static void pack_task(void *context, int part) { gemm_pack_whole(context, part); }
static void compute_task(void *context, int task) {
    gemm_run_task(context, task, scratch_buffers[pool_worker_index()].data);
}
static void variant_run(const GemmProblem *problem) {
    GemmPlan plan;
    gemm_plan(&plan, &variant->kernel, problem, pool_size());
    if (variant->whole) {
        /* re-plan with the forced choice by planning as if the other operand were missing */
        long a_bytes = (long)plan.m_padded * problem->k * 4, b_bytes = (long)plan.n_padded * problem->k * 4;
        (void)a_bytes; (void)b_bytes;
        plan.whole_a = variant->whole == 'a';
        plan.whole_b = variant->whole == 'b';
    }
    if (variant->no_direct) plan.direct_b = 0;
    if (variant->no_pipeline) plan.pipeline_b = 0;
    if (variant->no_copy) plan.copy_b = 0;
    if (variant->task_rows) {
        plan.task_rows = variant->task_rows;
        plan.tasks_m = (problem->m + plan.task_rows - 1) / plan.task_rows;
        plan.tasks = plan.tasks_m * plan.tasks_n;
    }
    if (variant->no_queue && plan.panel_queue) {
        int nr = plan.kernel->nr, per_thread = (problem->n + pool_size() - 1) / pool_size();
        plan.panel_queue = 0;
        plan.task_cols = (per_thread + nr - 1) / nr * nr;
        plan.tasks_n = (problem->n + plan.task_cols - 1) / plan.task_cols;
        plan.tasks = plan.tasks_m * plan.tasks_n;
    }
    if (variant->task_cols) {
        plan.panel_queue = 0;
        plan.task_cols = variant->task_cols;
        plan.tasks_n = (problem->n + plan.task_cols - 1) / plan.task_cols;
        plan.tasks = plan.tasks_m * plan.tasks_n;
    }
    plan.whole = gemm_buffer_reserve(&whole_buffer, gemm_whole_floats(&plan));
    static GemmQueue queue;
    gemm_queue_start(&plan, &queue);
    for (int t = 0; t < pool_size(); t++) gemm_buffer_reserve(&scratch_buffers[t], gemm_scratch_floats(&plan));
    if (plan.whole_a || plan.whole_b) pool_run(plan.pack_parts, pack_task, &plan);
    pool_run(plan.tasks, compute_task, &plan);
}
static void variant_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N, int K) {
    GemmProblem p = gemm_forward_problem(out, inp, weight, bias, M, N, K);
    variant_run(&p);
}
static void variant_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    GemmProblem p = gemm_backward_input_problem(dinp, dout, weight, M, N, K);
    variant_run(&p);
}
static void variant_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K,
                                    int accumulate, double *squares) {
    (void)squares; /* the lab times the products only */
    GemmProblem p = gemm_backward_weight_problem(dweight, dout, inp, M, N, K, accumulate, NULL);
    variant_run(&p);
}
static int always(void) { return 1; }
static MatmulRung variant_rungs[MAX_RUNGS];

static const MatmulRung *parse_variant(const char *spec, int slot) {
    Variant *v = &variants[slot];
    v->kernel = gemm_kernel_avx512;
    snprintf(v->name, sizeof v->name, "%s", spec);
    char copy[128];
    snprintf(copy, sizeof copy, "%s", spec);
    for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
        if (!strncmp(item, "kc=", 3)) v->kernel.kc = atoi(item + 3);
        else if (!strncmp(item, "mc=", 3)) v->kernel.mc = atoi(item + 3);
        else if (!strncmp(item, "cols=", 5)) v->task_cols = atoi(item + 5);
        else if (!strncmp(item, "rows=", 5)) v->task_rows = atoi(item + 5);
        else if (!strncmp(item, "whole=", 6)) v->whole = item[6];
        else if (!strncmp(item, "generic", 7)) v->kernel.pack = NULL;
        else if (!strcmp(item, "nodirect")) v->no_direct = 1;
        else if (!strcmp(item, "nopipe")) v->no_pipeline = 1;
        else if (!strcmp(item, "noqueue")) v->no_queue = 1;
        else if (!strcmp(item, "nocopy")) v->no_copy = 1;
        else if (!strcmp(item, "default")) continue;
        else return NULL;
    }
    variant_rungs[slot] = (MatmulRung){.name = v->name, .precision = "fp32", .available = always,
                                       .forward = variant_forward, .backward_input = variant_backward_input,
                                       .backward_weight = variant_backward_weight};
    return &variant_rungs[slot];
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int overwrite; /* -overwrite: weight gradients written, not accumulated (a step's first micro-step) */
static int with_squares[MAX_RUNGS]; /* "+sq" */
static double squares;
static void call(const MatmulRung *rung, int pass, float *out, float *left, float *right, float *bias, int M, int N,
                 int K, int slot) {
    variant = &variants[slot];
    if (pass == 0) rung->forward(out, left, right, bias, M, N, K);
    else if (pass == 1) rung->backward_input(out, left, right, M, N, K);
    else rung->backward_weight(out, left, right, M, N, K, !overwrite, with_squares[slot] ? &squares : NULL);
}

int main(int argc, char **argv) {
    int threads = 0, M = 256, only_pass = -1, rounds = 7, cold = 0;
    const MatmulRung *rungs[MAX_RUNGS];
    int n_rungs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) M = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) only_pass = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-cold")) cold = 1;
        else if (!strcmp(argv[i], "-overwrite")) overwrite = 1;
        else if (n_rungs < MAX_RUNGS) {
            char *plus = strstr(argv[i], "+sq");
            if (plus && !plus[3]) *plus = 0, with_squares[n_rungs] = 1;
            int is_variant = strchr(argv[i], '=') || !strcmp(argv[i], "generic") || !strcmp(argv[i], "nodirect") ||
                             !strcmp(argv[i], "nopipe") || !strcmp(argv[i], "noqueue") || !strcmp(argv[i], "nocopy") ||
                             !strcmp(argv[i], "default");
            const MatmulRung *rung = is_variant ? parse_variant(argv[i], n_rungs) : matmul_find(argv[i]);
            if (!rung || !rung->available()) { fprintf(stderr, "rung %s unknown or unavailable\n", argv[i]); return 2; }
            rungs[n_rungs++] = rung;
        }
    }
    if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    if (!n_rungs) { fprintf(stderr, "name at least one rung (%s)\n", matmul_names()); return 2; }
    pool_init(threads);
    static const int shapes[][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}, {50304, 768}};
    static const char *pass_names[] = {"fwd", "dinp", "dwt"};
    printf("M=%d, %d threads, GFLOP/s median/best of %d alternating bursts; load %s", M, pool_size(), rounds, "");
    FILE *load = fopen("/proc/loadavg", "r");
    char line[128] = "";
    if (load && fgets(line, sizeof line, load)) printf("%s", line);
    if (load) fclose(load);
    Rng rng;
    rng_seed(&rng, 7);
    for (int s = 0; s < 5; s++) {
        int N = shapes[s][0], K = shapes[s][1];
        long big = (long)N * K > (long)M * N ? (long)N * K : (long)M * N;
        /* -cold: as in a training step, the weight (or the weight gradient) of each call is one
         * no recent call touched: calls rotate through copies that together exceed any cache */
        int copies = cold ? (int)((256L << 20) / (big * (long)sizeof(float)) + 1) : 1;
        /* big_alloc (huge pages), as the model's buffers: 4 KiB pages make every output row of a
         * block a TLB miss */
        float *left = big_alloc(big * sizeof(float)), *rights = big_alloc(copies * big * sizeof(float));
        float *outs = big_alloc(copies * big * sizeof(float)), *bias = malloc(N * sizeof(float));
        if (!left || !rights || !outs || !bias) { fprintf(stderr, "gemm_lab: out of memory\n"); return 1; }
        rng_fill_uniform(&rng, left, big, -1, 1);
        rng_fill_uniform(&rng, rights, copies * big, -1, 1);
        rng_fill_uniform(&rng, outs, copies * big, -1, 1);
        int turn = 0;
        rng_fill_uniform(&rng, bias, N, -1, 1);
        double flops = 2.0 * M * N * K;
        for (int pass = 0; pass < 3; pass++) {
            if (only_pass >= 0 && pass != only_pass) continue;
            double gflops[MAX_RUNGS][MAX_ROUNDS];
#define NEXT_CALL(r) do { long at_ = (long)(turn++ % copies) * big; \
        call(rungs[r], pass, outs + at_, left, rights + at_, bias, M, N, K, r); } while (0)
            for (int r = 0; r < n_rungs; r++) NEXT_CALL(r); /* warm-up */
            for (int round = 0; round < rounds; round++)
                for (int r = 0; r < n_rungs; r++) {
                    /* a burst: as many calls as fit in about 40 ms, at least 2; its mean rate */
                    int calls = 0;
                    double start = now_seconds(), elapsed;
                    do {
                        NEXT_CALL(r);
                        calls++;
                        elapsed = now_seconds() - start;
                    } while (calls < 2 || elapsed < 0.04);
                    gflops[r][round] = flops * calls / elapsed * 1e-9;
                }
            for (int r = 0; r < n_rungs; r++) {
                qsort(gflops[r], rounds, sizeof(double), compare_doubles);
                printf("%-19s%-3s %-4s %5dx%-5d %6.0f %6.0f\n", rungs[r]->name, with_squares[r] ? "+sq" : "",
                       pass_names[pass], N, K,
                       gflops[r][rounds / 2], gflops[r][rounds - 1]);
            }
            fflush(stdout);
        }
        free(left); free(rights); free(outs); free(bias);
    }
    return 0;
}
