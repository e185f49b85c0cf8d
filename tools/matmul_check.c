/* matmul_check: standalone correctness and speed check of matmul rungs, for machines where the
 * lead has no other harness (e.g. an AMX Xeon). Checks all four products (backward_weight both
 * accumulating and overwriting) on odd shapes against a double-precision reference, then times the
 * GPT-2 small shapes (M = 256) for each pass.
 * Build (after `make BUILD=build build/libcgpt.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc tools/matmul_check.c build/libcgpt.a -lm -lpthread -ldl -o build/matmul_check
 * Run:  build/matmul_check [--threads N] [--no-check] [--no-speed] [--reps N] RUNG [RUNG...]   */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/matmul/matmul.h"
#include "util/cpu.h"
#include "util/rng.h"
#include "util/threadpool.h"
#include "util/timer.h"

static float *random_floats(Rng *rng, long n) {
    float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    if (!x) { fprintf(stderr, "out of memory\n"); exit(1); }
    rng_fill_uniform(rng, x, n, -1.0f, 1.0f);
    return x;
}

/* Two measures per product. normwise: max |got - want| / max |want|. bounded: max over elements of
 * |got - want| / (|initial| + sum |a*b| of that element), the measure that rounding bounds: with
 * both operands rounded to bf16 (unit roundoff 2^-8) it stays below about 2 * 2^-8 = 7.8e-3 whatever
 * the cancellation in the sum, while normwise can grow without limit when a sum cancels. */
typedef struct { double normwise, bounded; } Error;

static void measure(Error *worst, const float *got, const double *want, const double *magnitude, long n) {
    double diff_max = 0.0, scale = 1e-30;
    for (long i = 0; i < n; i++) {
        double diff = isnan(got[i]) ? INFINITY : fabs((double)got[i] - want[i]);
        if (diff > diff_max) diff_max = diff;
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
        double bounded = diff / (magnitude[i] > 1e-30 ? magnitude[i] : 1e-30);
        if (bounded > worst->bounded) worst->bounded = bounded;
    }
    if (diff_max / scale > worst->normwise) worst->normwise = diff_max / scale;
}

enum { FORWARD, FORWARD_BIAS, BACKWARD_INPUT, BACKWARD_WEIGHT, OVERWRITE_WEIGHT, BACKWARD_BIAS, PRODUCTS };
static const char *product_names[PRODUCTS] = {"forward", "forward+bias", "backward_input", "backward_weight",
                                              "overwrite_weight", "backward_bias"};

/* Runs every product once on random M x N x K operands and folds its errors into worst[]. The
 * backward products accumulate: they start from random values and run twice. overwrite_weight is
 * backward_weight with accumulate = 0 into NaN, which must never be read. */
static void check_shape(const MatmulRung *rung, int M, int N, int K, Error worst[PRODUCTS], Rng *rng) {
    float *inp = random_floats(rng, (long)M * K), *weight = random_floats(rng, (long)N * K);
    float *bias = random_floats(rng, N), *dout = random_floats(rng, (long)M * N);
    float *out = malloc(sizeof(float) * (size_t)M * N);
    float *dinp = random_floats(rng, (long)M * K), *dweight = random_floats(rng, (long)N * K);
    float *dbias = random_floats(rng, N);
    long big = (long)M * N > (long)N * K ? (long)M * N : (long)N * K;
    if ((long)M * K > big) big = (long)M * K;
    double *want = malloc(sizeof(double) * (size_t)big), *magnitude = malloc(sizeof(double) * (size_t)big);
    if (!out || !want || !magnitude) { fprintf(stderr, "out of memory\n"); exit(1); }

    for (int with_bias = 0; with_bias < 2; with_bias++) {
        for (long i = 0; i < (long)M * N; i++) out[i] = NAN; /* forward must overwrite, not add */
        rung->forward(out, inp, weight, with_bias ? bias : NULL, M, N, K);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double sum = with_bias ? bias[n] : 0.0, mag = fabs(sum);
                for (int k = 0; k < K; k++) {
                    double term = (double)inp[(long)m * K + k] * weight[(long)n * K + k];
                    sum += term, mag += fabs(term);
                }
                want[(long)m * N + n] = sum, magnitude[(long)m * N + n] = mag;
            }
        measure(&worst[FORWARD + with_bias], out, want, magnitude, (long)M * N);
    }

    /* backward_input writes dinp (its old contents are never read) */
    for (long i = 0; i < (long)M * K; i++) want[i] = 0, magnitude[i] = 0;
    rung->backward_input(dinp, dout, weight, M, N, K);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) {
                double term = (double)dout[(long)m * N + n] * weight[(long)n * K + k];
                want[(long)m * K + k] += term, magnitude[(long)m * K + k] += fabs(term);
            }
    measure(&worst[BACKWARD_INPUT], dinp, want, magnitude, (long)M * K);

    for (long i = 0; i < (long)N * K; i++) want[i] = dweight[i], magnitude[i] = fabs(dweight[i]);
    for (int pass = 0; pass < 2; pass++) {
        rung->backward_weight(dweight, dout, inp, M, N, K, 1, NULL);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                for (int m = 0; m < M; m++) {
                    double term = (double)dout[(long)m * N + n] * inp[(long)m * K + k];
                    want[(long)n * K + k] += term, magnitude[(long)n * K + k] += fabs(term);
                }
    }
    measure(&worst[BACKWARD_WEIGHT], dweight, want, magnitude, (long)N * K);

    for (long i = 0; i < (long)N * K; i++) dweight[i] = NAN, want[i] = 0.0, magnitude[i] = 0.0;
    rung->backward_weight(dweight, dout, inp, M, N, K, 0, NULL);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int m = 0; m < M; m++) {
                double term = (double)dout[(long)m * N + n] * inp[(long)m * K + k];
                want[(long)n * K + k] += term, magnitude[(long)n * K + k] += fabs(term);
            }
    measure(&worst[OVERWRITE_WEIGHT], dweight, want, magnitude, (long)N * K);

    for (int n = 0; n < N; n++) want[n] = dbias[n], magnitude[n] = fabs(dbias[n]);
    (rung->backward_bias ? rung->backward_bias : matmul_backward_bias)(dbias, dout, M, N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) want[n] += dout[(long)m * N + n], magnitude[n] += fabs(dout[(long)m * N + n]);
    measure(&worst[BACKWARD_BIAS], dbias, want, magnitude, N);

    free(inp), free(weight), free(bias), free(dout), free(out), free(dinp), free(dweight), free(dbias);
    free(want), free(magnitude);
}

/* Runs the rung's three passes twice on the same inputs and compares bit for bit. */
static int check_deterministic(const MatmulRung *rung, int M, int N, int K, Rng *rng) {
    float *inp = random_floats(rng, (long)M * K), *weight = random_floats(rng, (long)N * K);
    float *dout = random_floats(rng, (long)M * N), *bias = random_floats(rng, N);
    float *results[2][3];
    for (int run = 0; run < 2; run++) {
        results[run][0] = calloc((size_t)M * N, sizeof(float));
        results[run][1] = calloc((size_t)M * K, sizeof(float));
        results[run][2] = calloc((size_t)N * K, sizeof(float));
        rung->forward(results[run][0], inp, weight, bias, M, N, K);
        rung->backward_input(results[run][1], dout, weight, M, N, K);
        rung->backward_weight(results[run][2], dout, inp, M, N, K, 1, NULL);
    }
    int same = memcmp(results[0][0], results[1][0], sizeof(float) * (size_t)M * N) == 0 &&
               memcmp(results[0][1], results[1][1], sizeof(float) * (size_t)M * K) == 0 &&
               memcmp(results[0][2], results[1][2], sizeof(float) * (size_t)N * K) == 0;
    for (int run = 0; run < 2; run++)
        for (int i = 0; i < 3; i++) free(results[run][i]);
    free(inp), free(weight), free(dout), free(bias);
    return same;
}

static void check(const MatmulRung *rung) {
    static const int sizes[] = {1, 7, 33, 257};
    Error worst[PRODUCTS] = {{0, 0}};
    Rng rng;
    rng_seed(&rng, 1234);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++) check_shape(rung, sizes[a], sizes[b], sizes[c], worst, &rng);
    printf("%s (%s): worst relative error over M,N,K in {1,7,33,257}\n", rung->name, rung->precision);
    printf("  %-16s %10s %10s\n", "product", "normwise", "bounded");
    for (int p = 0; p < PRODUCTS; p++)
        printf("  %-16s %10.2e %10.2e\n", product_names[p], worst[p].normwise, worst[p].bounded);
    /* the GPT-2 contraction lengths, where rounding accumulates most */
    static const int depths[] = {768, 3072};
    for (int d = 0; d < 2; d++) {
        Error along_k[PRODUCTS] = {{0, 0}}, along_n[PRODUCTS] = {{0, 0}}, along_m[PRODUCTS] = {{0, 0}};
        check_shape(rung, 64, 96, depths[d], along_k, &rng); /* forward sums over K */
        check_shape(rung, 64, depths[d], 96, along_n, &rng); /* backward_input sums over N */
        check_shape(rung, depths[d], 64, 96, along_m, &rng); /* backward_weight sums over M */
        printf("  sums of length %4d (normwise/bounded): forward %.2e/%.2e  backward_input %.2e/%.2e  "
               "backward_weight %.2e/%.2e\n", depths[d], along_k[FORWARD].normwise, along_k[FORWARD].bounded,
               along_n[BACKWARD_INPUT].normwise, along_n[BACKWARD_INPUT].bounded,
               along_m[BACKWARD_WEIGHT].normwise, along_m[BACKWARD_WEIGHT].bounded);
    }
    printf("  deterministic: %s\n", check_deterministic(rung, 257, 129, 65, &rng) ? "yes" : "NO");
}

/* GFLOP/s of one pass: best of `reps` timed runs after one warm-up */
/* buf: inp, weight, bias, out (also dout), dinp, dweight */
static double time_pass(const MatmulRung *rung, int pass, int M, int N, int K, int reps, float *const buf[6]) {
    double best = INFINITY;
    for (int r = 0; r <= reps; r++) {
        double start = now_seconds();
        if (pass == 0) rung->forward(buf[3], buf[0], buf[1], buf[2], M, N, K);
        else if (pass == 1) rung->backward_input(buf[4], buf[3], buf[1], M, N, K);
        else rung->backward_weight(buf[5], buf[3], buf[0], M, N, K, 1, NULL);
        double t = now_seconds() - start;
        if (r > 0 && t < best) best = t;
    }
    return 2.0 * M * N * K / best * 1e-9;
}

static void speed(const MatmulRung *const *rungs, int count, int reps) {
    static const int shapes[5][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}, {50304, 768}};
    static const char *pass_names[3] = {"forward", "bwd_input", "bwd_weight"};
    const int M = 256;
    printf("\nGFLOP/s (best of %d), M = %d, %d threads, %s\n", reps, M, pool_size(), cpu_features()->brand);
    printf("%-6s %-6s %-10s", "N", "K", "pass");
    for (int r = 0; r < count; r++) printf(" %10s", rungs[r]->name);
    printf("\n");
    Rng rng;
    rng_seed(&rng, 42);
    double total_flops = 0.0, *total_time = calloc((size_t)count, sizeof(double));
    for (int s = 0; s < 5; s++) {
        int N = shapes[s][0], K = shapes[s][1];
        float *buf[6] = {random_floats(&rng, (long)M * K), random_floats(&rng, (long)N * K),
                         random_floats(&rng, N),           random_floats(&rng, (long)M * N),
                         random_floats(&rng, (long)M * K), random_floats(&rng, (long)N * K)};
        for (int pass = 0; pass < 3; pass++) {
            printf("%-6d %-6d %-10s", N, K, pass_names[pass]);
            double flops = 2.0 * M * N * K;
            total_flops += flops;
            for (int r = 0; r < count; r++) {
                double gflops = time_pass(rungs[r], pass, M, N, K, reps, buf);
                total_time[r] += flops / (gflops * 1e9);
                printf(" %10.1f", gflops);
            }
            printf("\n");
            fflush(stdout);
        }
        for (int i = 0; i < 6; i++) free(buf[i]);
    }
    printf("%-24s", "all (time-weighted)");
    for (int r = 0; r < count; r++) printf(" %10.1f", total_flops / total_time[r] * 1e-9);
    printf("\n");
    free(total_time);
}

int main(int argc, char **argv) {
    int do_check = 1, do_speed = 1, reps = 5, threads = 0, count = 0;
    const MatmulRung *chosen[16];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-check") == 0) do_check = 0;
        else if (strcmp(argv[i], "--no-speed") == 0) do_speed = 0;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            const MatmulRung *rung = matmul_find(argv[i]);
            if (!rung) {
                fprintf(stderr, "unknown rung '%s' (known: %s)\n", argv[i], matmul_names());
                return 2;
            }
            if (!rung->available()) {
                printf("%s: not available on this machine (needs %s)\n", rung->name, rung->needs);
                continue;
            }
            if (count < 16) chosen[count++] = rung;
        }
    }
    if (argc < 2) {
        fprintf(stderr, "usage: %s [--threads N] [--no-check] [--no-speed] [--reps N] RUNG [RUNG...]\n"
                        "rungs: %s\n", argv[0], matmul_names());
        return 2;
    }
    if (reps < 1) reps = 1;
    pool_init(threads);
    if (do_check)
        for (int r = 0; r < count; r++) check(chosen[r]);
    if (do_speed && count > 0) speed(chosen, count, reps);
    return count > 0 ? 0 : 1;
}
