/* Tests every available matmul rung in the registry (including ones added later) against a
 * double-precision reference on random inputs with odd shapes: forward with and without bias and
 * backward_input into NaN-poisoned outputs, the accumulating backward passes from random non-zero
 * starting values, and backward_weight's overwriting mode into NaN-poisoned outputs. Also checks that the rungs using
 * the thread pool (threads, bf16, amx) give bit-identical results for any thread count, and that the
 * GEMM frame's panel queue does for any order in which its two tasks claim the panels, and the
 * avx512 kernel's side copies against a plain loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/matmul/gemm_frame.h"
#include "cpu/matmul/matmul.h"
#include "test.h"
#include "util/cpu.h"
#include "util/rng.h"
#include "util/threadpool.h"

typedef struct {
    int M, N, K;
} Shape;

static Rng rng;

static float *random_floats(long n) {
    float *x = malloc((n > 0 ? n : 1) * sizeof(float));
    rng_fill_uniform(&rng, x, n, -1.0f, 1.0f);
    return x;
}

static float *copy_floats(const float *x, long n) {
    float *y = malloc((n > 0 ? n : 1) * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

/* The references, summed in double and rounded once: out = bias + inp . weight^T, and
 * initial + product for the accumulating passes (initial 0 for backward_weight's overwriting mode). */
static void reference_forward(float *out, const float *inp, const float *weight, const float *bias, int M, int N,
                              int K) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double sum = bias ? bias[n] : 0.0;
            for (int k = 0; k < K; k++) sum += (double)inp[(long)m * K + k] * weight[(long)n * K + k];
            out[(long)m * N + n] = (float)sum;
        }
}

static void reference_backward_input(float *dinp, const float *dout, const float *weight, int M, int N, int K) {
    double *sum = calloc((size_t)K, sizeof(double));
    for (int m = 0; m < M; m++) {
        for (int k = 0; k < K; k++) sum[k] = 0.0;
        for (int n = 0; n < N; n++) {
            double d = dout[(long)m * N + n];
            for (int k = 0; k < K; k++) sum[k] += d * weight[(long)n * K + k];
        }
        for (int k = 0; k < K; k++) dinp[(long)m * K + k] = (float)sum[k];
    }
    free(sum);
}

static void reference_backward_weight(float *dweight, const float *dout, const float *inp, int M, int N, int K) {
    double *sum = calloc((size_t)K, sizeof(double));
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) sum[k] = dweight[(long)n * K + k];
        for (int m = 0; m < M; m++) {
            double d = dout[(long)m * N + n];
            for (int k = 0; k < K; k++) sum[k] += d * inp[(long)m * K + k];
        }
        for (int k = 0; k < K; k++) dweight[(long)n * K + k] = (float)sum[k];
    }
    free(sum);
}

static void reference_backward_bias(float *dbias, const float *dout, int M, int N) {
    for (int n = 0; n < N; n++) {
        double sum = dbias[n];
        for (int m = 0; m < M; m++) sum += dout[(long)m * N + n];
        dbias[n] = (float)sum;
    }
}

/* One shape's random operands and the reference results. For bf16 rungs the error is measured
 * against the magnitude of the terms (the same sums over absolute values): a single output that
 * nearly cancels would otherwise show a large relative error that says nothing about the rung. */
typedef struct {
    int M, N, K;
    float *inp, *weight, *bias, *dout;               /* [M,K], [N,K], [N], [M,N] */
    float *dweight_start, *dbias_start; /* random starting values of the += passes */
    float *out_ref, *out_bias_ref, *dinp_ref, *dweight_ref, *dbias_ref;
    float *out_mag, *out_bias_mag, *dinp_mag, *dweight_mag;
    float *dweight_written_ref, *dweight_written_mag; /* backward_weight with accumulate = 0 */
} Case;

static float *absolute_copy(const float *x, long n) {
    float *y = copy_floats(x, n);
    for (long i = 0; i < n; i++) y[i] = fabsf(y[i]);
    return y;
}

/* Fills *ref (and *mag with the same sums over absolute values) for one pass. */
static void reference_pass(int pass, const Case *c, const float *bias, const float *start, long n_out, float **ref,
                           float **mag) {
    const float *left = pass == 0 ? c->inp : c->dout;
    const float *right = pass == 2 ? c->inp : c->weight;
    for (int absolute = 0; absolute < 2; absolute++) {
        long n_left = pass == 0 ? (long)c->M * c->K : (long)c->M * c->N;
        long n_right = pass == 2 ? (long)c->M * c->K : (long)c->N * c->K;
        float *l = absolute ? absolute_copy(left, n_left) : copy_floats(left, n_left);
        float *r = absolute ? absolute_copy(right, n_right) : copy_floats(right, n_right);
        float *b = bias ? (absolute ? absolute_copy(bias, c->N) : copy_floats(bias, c->N)) : NULL;
        float *result = start ? (absolute ? absolute_copy(start, n_out) : copy_floats(start, n_out))
                              : calloc(n_out > 0 ? n_out : 1, sizeof(float));
        if (pass == 0) reference_forward(result, l, r, b, c->M, c->N, c->K);
        if (pass == 1) reference_backward_input(result, l, r, c->M, c->N, c->K);
        if (pass == 2) reference_backward_weight(result, l, r, c->M, c->N, c->K);
        *(absolute ? mag : ref) = result;
        free(l); free(r); free(b);
    }
}

static Case make_case(Shape s) {
    Case c = {.M = s.M, .N = s.N, .K = s.K};
    long MK = (long)s.M * s.K, NK = (long)s.N * s.K, MN = (long)s.M * s.N;
    c.inp = random_floats(MK), c.weight = random_floats(NK), c.bias = random_floats(s.N), c.dout = random_floats(MN);
    c.dweight_start = random_floats(NK), c.dbias_start = random_floats(s.N);
    reference_pass(0, &c, NULL, NULL, MN, &c.out_ref, &c.out_mag);
    reference_pass(0, &c, c.bias, NULL, MN, &c.out_bias_ref, &c.out_bias_mag);
    reference_pass(1, &c, NULL, NULL, MK, &c.dinp_ref, &c.dinp_mag);
    reference_pass(2, &c, NULL, c.dweight_start, NK, &c.dweight_ref, &c.dweight_mag);
    reference_pass(2, &c, NULL, NULL, NK, &c.dweight_written_ref, &c.dweight_written_mag);
    c.dbias_ref = copy_floats(c.dbias_start, s.N);
    reference_backward_bias(c.dbias_ref, c.dout, s.M, s.N);
    return c;
}

static void free_case(Case *c) {
    float *all[] = {c->inp, c->weight, c->bias, c->dout, c->dweight_start, c->dbias_start,
                    c->out_ref, c->out_bias_ref, c->dinp_ref, c->dweight_ref, c->dbias_ref,
                    c->out_mag, c->out_bias_mag, c->dinp_mag, c->dweight_mag, c->dweight_written_ref,
                    c->dweight_written_mag};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* fp32 rungs: ||a - ref|| / ||ref|| <= 1e-5. bf16 rungs: ||a - ref|| / ||magnitude|| <= 1e-2. */
static int close_enough(const MatmulRung *rung, const float *got, const float *ref, const float *mag, long n,
                        double *err) {
    if (strcmp(rung->precision, "bf16") != 0) {
        *err = relative_error(got, ref, n);
        return *err <= 1e-5;
    }
    double diff = 0, scale = 0;
    for (long i = 0; i < n; i++) {
        if (got[i] != got[i]) { *err = INFINITY; return 0; }
        diff += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        scale += (double)mag[i] * mag[i];
    }
    *err = scale > 0 ? sqrt(diff / scale) : (diff > 0 ? INFINITY : 0);
    return *err <= 1e-2;
}

/* Relative error of a rung's sum of squares against the squares of the dweight it stored, summed
 * in long double. The rungs may sum tiles in float (error ~1e-6 relative). NaN stays NaN. */
static double squares_error(double squares, const float *dweight, long n) {
    long double sum = 0;
    for (long i = 0; i < n; i++) sum += (long double)dweight[i] * dweight[i];
    return sum > 0 ? fabs((double)((squares - sum) / sum)) : fabs(squares);
}

/* n floats, 64-byte aligned as the model's buffers are: rungs may write whole aligned lines of
 * an output with streaming stores, and rows of odd widths then alternate between both paths. */
static float *aligned_floats(long n) {
    return aligned_alloc(64, ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64);
}

/* Runs all passes of one rung on one case and compares each with the reference. */
static void check_rung_on_case(const MatmulRung *rung, const Case *c) {
    int M = c->M, N = c->N, K = c->K;
    long MN = (long)M * N, MK = (long)M * K, NK = (long)N * K;
    double err;
    float *out = aligned_floats(MN);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        poison(out, MN);
        rung->forward(out, c->inp, c->weight, with_bias ? c->bias : NULL, M, N, K);
        int ok = close_enough(rung, out, with_bias ? c->out_bias_ref : c->out_ref,
                              with_bias ? c->out_bias_mag : c->out_mag, MN, &err);
        CHECK(ok, "%s forward%s M=%d N=%d K=%d: error %.3g", rung->name, with_bias ? "+bias" : "", M, N, K, err);
    }
    free(out);

    /* backward_input writes dinp: NaNs it read would show in the result */
    float *dinp = aligned_floats(MK);
    poison(dinp, MK);
    rung->backward_input(dinp, c->dout, c->weight, M, N, K);
    CHECK(close_enough(rung, dinp, c->dinp_ref, c->dinp_mag, MK, &err),
          "%s backward_input M=%d N=%d K=%d: error %.3g", rung->name, M, N, K, err);
    free(dinp);

    /* the sum of squares (both modes) must be that of the rung's own finished output */
    double squares = NAN;
    float *dweight = copy_floats(c->dweight_start, NK);
    rung->backward_weight(dweight, c->dout, c->inp, M, N, K, 1, &squares);
    CHECK(close_enough(rung, dweight, c->dweight_ref, c->dweight_mag, NK, &err),
          "%s backward_weight M=%d N=%d K=%d: error %.3g", rung->name, M, N, K, err);
    err = squares_error(squares, dweight, NK);
    CHECK(err <= 1e-5, "%s backward_weight squares M=%d N=%d K=%d: relative error %.3g", rung->name, M, N, K, err);
    free(dweight);
    /* overwriting: the NaNs must never be read, or they would show in the result. Aligned, where
     * the accumulating call above had malloc's alignment. */
    float *written = aligned_floats(NK);
    poison(written, NK);
    squares = NAN;
    rung->backward_weight(written, c->dout, c->inp, M, N, K, 0, &squares);
    CHECK(close_enough(rung, written, c->dweight_written_ref, c->dweight_written_mag, NK, &err),
          "%s backward_weight (overwriting) M=%d N=%d K=%d: error %.3g", rung->name, M, N, K, err);
    err = squares_error(squares, written, NK);
    CHECK(err <= 1e-5, "%s backward_weight (overwriting) squares M=%d N=%d K=%d: relative error %.3g", rung->name, M,
          N, K, err);
    free(written);

    float *dbias = copy_floats(c->dbias_start, N);
    (rung->backward_bias ? rung->backward_bias : matmul_backward_bias)(dbias, c->dout, M, N);
    err = relative_error(dbias, c->dbias_ref, N);
    CHECK(err <= 1e-5, "%s backward_bias M=%d N=%d: relative error %.3g", rung->name, M, N, err);
    free(dbias);
}

/* Every M, N, K from {1, 7, 33, 257} (257 crosses the SIMD rungs' 256-row block), plus shapes
 * deeper than their k blocks (the avx512 kernel's is 768: K = 800 has a short second one) and
 * GPT-2-like shapes; fewer under the sanitizers, which are slow. */
static int test_shapes(Shape *shapes) {
    static const int odd[] = {1, 7, 33, 257};
    int n_odd = test_sanitized() ? 3 : 4, count = 0;
    for (int a = 0; a < n_odd; a++)
        for (int b = 0; b < n_odd; b++)
            for (int c = 0; c < n_odd; c++) shapes[count++] = (Shape){odd[a], odd[b], odd[c]};
    if (test_sanitized()) {
        shapes[count++] = (Shape){9, 100, 800};
        shapes[count++] = (Shape){260, 50, 20};
    } else {
        shapes[count++] = (Shape){64, 2304, 768};
        shapes[count++] = (Shape){300, 600, 520};
        /* backward_input with both operands too big (> 8 MB) to pack whole, as GPT-2's head */
        shapes[count++] = (Shape){56, 40000, 56};
        /* amx: depth slices ending in a partial one (3 in the forward, 3 in backward_input; the
         * head-like shape above has 27) */
        shapes[count++] = (Shape){40, 96, 3100};
        shapes[count++] = (Shape){33, 4200, 65};
        /* backward_weight with inp rows 4 KiB apart: the frame packs B there instead of reading
         * it in place (as for GPT-2's fcproj) */
        shapes[count++] = (Shape){35, 60, 1024};
    }
    return count;
}

TEST(every_available_rung_matches_the_reference) {
    Shape shapes[80];
    int n_shapes = test_shapes(shapes), n_rungs;
    const MatmulRung *const *rungs = matmul_rungs(&n_rungs);
    for (int r = 0; r < n_rungs; r++) {
        const MatmulRung *rung = rungs[r];
        if (!rung->available()) printf("     (%s not available here: skipped)\n", rung->name);
        else CHECK(rung->forward && rung->backward_input && rung->backward_weight, "%s lacks a pass", rung->name);
    }
    for (int s = 0; s < n_shapes; s++) {
        Case c = make_case(shapes[s]);
        for (int r = 0; r < n_rungs; r++) {
            const MatmulRung *rung = rungs[r];
            if (!rung->available() || !rung->forward || !rung->backward_input || !rung->backward_weight) continue;
            /* the naive rung is slow on the large shapes, and the textbook loops anyway */
            if (strcmp(rung->name, "naive") == 0 && (long)c.M * c.N * c.K > 20000000L) continue;
            check_rung_on_case(rung, &c);
        }
        free_case(&c);
    }
}

/* Runs the three passes of a rung (backward_weight accumulating, then overwriting) and returns
 * their outputs concatenated. */
static float *rung_outputs(const MatmulRung *rung, int M, int N, int K, const float *inp, const float *weight,
                           const float *bias, const float *dout, const float *initial_dinp,
                           const float *initial_dweight) {
    long out_n = (long)M * N, dinp_n = (long)M * K, dweight_n = (long)N * K;
    /* the sum of squares (a double = 2 floats) goes last */
    float *all = malloc((out_n + dinp_n + 2 * dweight_n + 2) * sizeof(float));
    float *out = all, *dinp = all + out_n, *dweight = dinp + dinp_n, *dweight_written = dweight + dweight_n;
    double squares;
    memcpy(dinp, initial_dinp, dinp_n * sizeof(float));
    memcpy(dweight, initial_dweight, dweight_n * sizeof(float));
    memcpy(dweight_written, initial_dweight, dweight_n * sizeof(float));
    rung->forward(out, inp, weight, bias, M, N, K);
    rung->backward_input(dinp, dout, weight, M, N, K);
    rung->backward_weight(dweight, dout, inp, M, N, K, 1, NULL);
    rung->backward_weight(dweight_written, dout, inp, M, N, K, 0, &squares);
    memcpy(dweight_written + dweight_n, &squares, sizeof squares);
    return all;
}

/* Resizes the pool, then gives new worker threads time to start. Until util/threadpool.c reads a
 * worker's first generation at creation rather than when the thread first runs, a worker that only
 * starts after the next pool_shutdown sleeps through it and the join hangs (seen on a loaded
 * machine); the pause keeps this test clear of that race. */
static void resize_pool(int threads) {
    pool_init(threads);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

/* The rungs that split work over the pool: their sums must not depend on the split. */
TEST(pooled_rungs_are_deterministic_for_any_thread_count) {
    /* {7, 3000, 20} is deep in backward_input (k = 3000) with a single row task, and three of
     * amx's depth slices there; {20, 70, 3100} three slices in its forward */
    Shape shapes[] = {{33, 100, 300}, {64, 2304, 768}, {257, 300, 520}, {7, 33, 1000}, {7, 3000, 20}, {20, 70, 3100}};
    static const char *const names[] = {"threads", "bf16", "amx"};
    int n_shapes = test_sanitized() ? 1 : 6;
    for (int r = 0; r < 3; r++) {
        const MatmulRung *rung = matmul_find(names[r]);
        if (!rung || !rung->available()) continue;
        for (int s = 0; s < n_shapes; s++) {
            Shape shape = shapes[s];
            int M = shape.M, N = shape.N, K = shape.K;
            long total = (long)M * N + (long)M * K + 2L * N * K + 2;
            float *inp = random_floats((long)M * K), *weight = random_floats((long)N * K), *bias = random_floats(N);
            float *dout = random_floats((long)M * N), *dinp = random_floats((long)M * K);
            float *dweight = random_floats((long)N * K);

            resize_pool(2);
            float *first = rung_outputs(rung, M, N, K, inp, weight, bias, dout, dinp, dweight);
            float *again = rung_outputs(rung, M, N, K, inp, weight, bias, dout, dinp, dweight);
            resize_pool(1);
            float *one_thread = rung_outputs(rung, M, N, K, inp, weight, bias, dout, dinp, dweight);
            resize_pool(3); /* more threads than cores: a different split of the same tasks */
            float *three_threads = rung_outputs(rung, M, N, K, inp, weight, bias, dout, dinp, dweight);
            CHECK(memcmp(first, again, total * sizeof(float)) == 0, "%s M=%d N=%d K=%d: two calls differ", rung->name,
                  M, N, K);
            CHECK(memcmp(first, one_thread, total * sizeof(float)) == 0, "%s M=%d N=%d K=%d: 1 vs 2 threads differ",
                  rung->name, M, N, K);
            CHECK(memcmp(first, three_threads, total * sizeof(float)) == 0, "%s M=%d N=%d K=%d: 3 vs 2 threads differ",
                  rung->name, M, N, K);
            free(inp); free(weight); free(bias); free(dout); free(dinp); free(dweight);
            free(first); free(again); free(one_thread); free(three_threads);
        }
    }
    resize_pool(0);
}

/* The GEMM frame's two-thread panel queue: whichever task claims which panels, and in whatever
 * order, the result is the one-thread result bit for bit. Running the two tasks one after the
 * other on this thread makes the claim orders deterministic: the first task takes its own half,
 * then steals all of the other's (from its far end); the second finds nothing left. Shapes with
 * an odd number of panels, partial edge panels and several k blocks (a later block waits on the
 * panel's earlier one), for the forward and backward_input problems that use the queue; the
 * last is wide (625 panels for avx512, 3,750 for the portable kernel; GPT-2's head has 1,048). */
TEST(panel_queue_matches_one_thread_in_any_claim_order) {
    Shape shapes[] = {{64, 600, 2000}, {33, 1000, 100}, {7, 1601, 20}, {120, 770, 768}, {9, 30000, 40}};
    const GemmKernel *kernels[] = {&gemm_kernel_portable, &gemm_kernel_avx512};
    int n_kernels = cpu_features()->avx512 ? 2 : 1;
    for (int kernel_index = 0; kernel_index < n_kernels; kernel_index++) {
        const GemmKernel *kernel = kernels[kernel_index];
        for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
            int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K;
            float *inp = random_floats((long)M * K), *weight = random_floats((long)N * K), *bias = random_floats(N);
            float *dout = random_floats((long)M * N);
            float *outputs[3];
            for (int order = 0; order < 3; order++) {
                /* order 0: one thread (gemm_serial); 1: task 0 then task 1; 2: task 1 then task 0 */
                float *out = malloc(((long)M * N + (long)M * K) * sizeof(float)), *dinp = out + (long)M * N;
                for (long i = 0; i < (long)M * N + (long)M * K; i++) out[i] = NAN;
                GemmProblem problems[2] = {gemm_forward_problem(out, inp, weight, bias, M, N, K),
                                           gemm_backward_input_problem(dinp, dout, weight, M, N, K)};
                for (int pass = 0; pass < 2; pass++) {
                    GemmBuffer whole = {0}, scratch = {0}, squares = {0};
                    if (order == 0) {
                        gemm_serial(kernel, &problems[pass], &whole, &scratch, &squares);
                    } else {
                        GemmPlan plan;
                        GemmQueue queue;
                        gemm_plan(&plan, kernel, &problems[pass], 2);
                        CHECK(plan.panel_queue && plan.tasks == 2, "%s M=%d N=%d K=%d pass %d: no panel queue",
                              kernel->name, M, N, K, pass);
                        gemm_queue_start(&plan, &queue);
                        float *task_scratch = gemm_buffer_reserve(&scratch, gemm_scratch_floats(&plan));
                        gemm_run_task(&plan, order == 1 ? 0 : 1, task_scratch);
                        gemm_run_task(&plan, order == 1 ? 1 : 0, task_scratch);
                    }
                    free(whole.data), free(scratch.data), free(squares.data);
                }
                outputs[order] = out;
            }
            long total = (long)M * N + (long)M * K;
            for (int order = 1; order < 3; order++)
                CHECK(memcmp(outputs[0], outputs[order], total * sizeof(float)) == 0,
                      "%s M=%d N=%d K=%d: claim order %d differs from one thread", kernel->name, M, N, K, order);
            int finite = 1;
            for (long i = 0; i < total; i++) finite &= isfinite(outputs[0][i]) != 0;
            CHECK(finite, "%s M=%d N=%d K=%d: an output was not written", kernel->name, M, N, K);
            for (int order = 0; order < 3; order++) free(outputs[order]);
            free(inp), free(weight), free(bias), free(dout);
        }
    }
}

/* The avx512 kernel's side copies (GemmPrefetch.copy_*: the next weight panel's parts) against a
 * plain loop, plain and transposed, for k loops shorter and longer than the copy, into a poisoned
 * destination with a guard after it; the tile itself must come out as it does without them. */
TEST(avx512_kernel_side_copies_match_a_plain_copy) {
    if (!cpu_features()->avx512) return;
    const GemmKernel *kernel = &gemm_kernel_avx512;
    int mr = kernel->mr, nr = kernel->nr;
    long k_lens[] = {1, 5, 64, 770};
    for (int k = 0; k < 4; k++)
        for (int transposed = 0; transposed < 2; transposed++) {
            long k_len = k_lens[k];
            float *a = random_floats(k_len * mr), *b = random_floats(k_len * nr);
            float *c_plain = malloc((size_t)mr * nr * sizeof(float)), *c_side = malloc((size_t)mr * nr * sizeof(float));
            /* plain: 37 rows of 3 vectors, source rows 53 floats apart, destination rows 48;
             * transposed: 12 source rows (4 groups) of 4 vectors (64 floats) into columns of 48 */
            long rows = transposed ? 12 : 37, vectors = transposed ? 4 : 3, from_stride = transposed ? 71 : 53;
            long to_floats = transposed ? 16 * vectors * 48 : rows * 48, guard = 64;
            float *from = random_floats(rows * from_stride), *to = malloc((size_t)(to_floats + guard) * sizeof(float));
            poison(to, to_floats + guard);
            GemmPrefetch side = {.copy_from = from, .copy_to = to, .copy_rows = rows, .copy_from_stride = from_stride,
                                 .copy_to_stride = 48, .copy_vectors = (int)vectors, .copy_transposed = transposed};
            kernel->kernel(k_len, a, b, nr, c_plain, nr, GEMM_WRITE, NULL, NULL, NULL);
            kernel->kernel(k_len, a, b, nr, c_side, nr, GEMM_WRITE, NULL, NULL, &side);
            CHECK(memcmp(c_plain, c_side, (size_t)mr * nr * sizeof(float)) == 0,
                  "k_len %ld transposed %d: the tile changed with side copies", k_len, transposed);
            int wrong = 0;
            for (long r = 0; r < rows; r++)
                for (long f = 0; f < 16 * vectors; f++) {
                    float want = from[r * from_stride + f];
                    float got = transposed ? to[f * 48 + r] : to[r * 48 + f];
                    wrong += got != want;
                }
            int untouched = 1;
            for (long i = to_floats; i < to_floats + guard; i++) untouched &= isnan(to[i]) != 0;
            CHECK(wrong == 0, "k_len %ld transposed %d: %d floats copied wrong", k_len, transposed, wrong);
            CHECK(untouched, "k_len %ld transposed %d: wrote past the destination", k_len, transposed);
            free(a), free(b), free(c_plain), free(c_side), free(from), free(to);
        }
}

TEST(auto_picks_an_available_fp32_rung) {
    const MatmulRung *rung = matmul_auto();
    CHECK(rung->available(), "auto picked %s, which is not available", rung->name);
    CHECK(strcmp(rung->precision, "fp32") == 0, "auto picked %s of precision %s", rung->name, rung->precision);
    CHECK(strcmp(rung->name, "openblas") != 0, "auto must never pick the openblas reference");
}

int main(void) {
    rng_seed(&rng, 20240520);
    RUN_TEST(every_available_rung_matches_the_reference);
    RUN_TEST(pooled_rungs_are_deterministic_for_any_thread_count);
    RUN_TEST(panel_queue_matches_one_thread_in_any_claim_order);
    RUN_TEST(avx512_kernel_side_copies_match_a_plain_copy);
    RUN_TEST(auto_picks_an_available_fp32_rung);
    pool_shutdown();
    return TEST_SUMMARY();
}
