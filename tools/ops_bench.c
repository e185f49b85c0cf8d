/* Times each CPU layer op (src/cpu/ops) at the GPT-2 124M training sizes (B=4, T=64, C=768,
 * NH=12, Vp=50304, 124M parameters) and estimates the non-matmul time of one training step.
 * Build:  make BUILD=build-ops build-ops/libcgpt.a &&
 *         cc -std=c11 -D_GNU_SOURCE -O3 -Isrc -o build-ops/ops_bench tools/ops_bench.c build-ops/libcgpt.a -lm -lpthread -ldl
 * Run:    build-ops/ops_bench [threads] [T]   (threads 0 = one per CPU; T defaults to 64) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ops/ops.h"
#include "util/error.h"
#include "util/rng.h"
#include "util/threadpool.h"
#include "util/timer.h"

static Rng rng;

static float *random_buffer(long n, float lo, float hi) {
    float *x = xaligned(sizeof(float) * n, "bench buffer");
    rng_fill_uniform(&rng, x, n, lo, hi);
    return x;
}

/* Calls `body` until at least min_seconds have passed (after one warm-up call); sets result to the
 * milliseconds per call. */
#define TIME_MS(result, min_seconds, body)                              \
    do {                                                                \
        body;                                                           \
        long calls_ = 0;                                                \
        double start_ = now_seconds(), elapsed_;                        \
        do {                                                            \
            body;                                                       \
            calls_++;                                                   \
        } while ((elapsed_ = now_seconds() - start_) < (min_seconds));  \
        (result) = 1e3 * elapsed_ / calls_;                             \
    } while (0)

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    int B = 4, T = argc > 2 ? atoi(argv[2]) : 64, C = 768, NH = 12, L = 12, V = 50257, Vp = 50304;
    long n_params = 124475904L; /* GPT-2 124M with the padded vocabulary */
    pool_init(threads);
    rng_seed(&rng, 1);
    long N = (long)B * T, NC = N * C;
    printf("threads %d, B=%d T=%d C=%d NH=%d Vp=%d, %ld parameters\n", pool_size(), B, T, C, NH, Vp, n_params);

    int32_t *tokens = malloc(sizeof(int32_t) * N);
    for (long i = 0; i < N; i++) tokens[i] = (int32_t)(rng_next_u64(&rng) % V);
    float *wte = random_buffer((long)Vp * C, -0.1f, 0.1f), *wpe = random_buffer((long)1024 * C, -0.1f, 0.1f);
    float *dwte = random_buffer((long)Vp * C, 0, 0), *dwpe = random_buffer((long)1024 * C, 0, 0);
    float *x = random_buffer(NC, -1, 1), *y = random_buffer(NC, -1, 1), *dx = random_buffer(NC, -1, 1);
    float *dy = random_buffer(NC, -1, 1);
    float *weight = random_buffer(C, 0.5f, 1.5f), *bias = random_buffer(C, -1, 1);
    float *dweight = random_buffer(C, 0, 0), *dbias = random_buffer(C, 0, 0);
    float *mean = random_buffer(N, 0, 0), *rstd = random_buffer(N, 0, 0);
    float *qkv = random_buffer(3 * NC, -1, 1), *dqkv = random_buffer(3 * NC, -1, 1);
    float *att = random_buffer((long)B * NH * T * T, 0, 0), *scratch = random_buffer((long)B * NH * T * T, 0, 0);
    float *h = random_buffer(4 * NC, -3, 3), *gelu_out = random_buffer(4 * NC, 0, 0), *dh = random_buffer(4 * NC, -1, 1);
    float *logits = random_buffer(N * Vp, -4, 4), *losses = random_buffer(N, 0, 0);
    int32_t *targets = malloc(sizeof(int32_t) * N);
    for (long i = 0; i < N; i++) targets[i] = (int32_t)(rng_next_u64(&rng) % V);

    struct {
        const char *name;
        double ms;
        int per_step; /* calls in one training step */
    } rows[32];
    int n = 0;
#define ROW(label, count, body)                \
    do {                                       \
        rows[n].name = (label);                \
        rows[n].per_step = (count);            \
        TIME_MS(rows[n].ms, 0.3, body);        \
        n++;                                   \
    } while (0)
    ROW("encoder_forward", 1, encoder_forward(x, tokens, wte, wpe, B, T, C));
    ROW("encoder_backward", 1, encoder_backward(dwte, dwpe, dx, tokens, B, T, C));
    ROW("layernorm_forward", 2 * L + 1, layernorm_forward(y, mean, rstd, x, weight, bias, (int)N, C));
    ROW("layernorm_backward", 2 * L + 1, layernorm_backward(dx, dweight, dbias, dy, x, weight, mean, rstd, (int)N, C));
    ROW("attention_forward", L, attention_forward(y, att, qkv, B, T, C, NH));
    ROW("attention_backward", L, attention_backward(dqkv, scratch, dy, qkv, att, B, T, C, NH));
    ROW("gelu_forward [B,T,4C]", L, gelu_forward(gelu_out, h, 4 * NC));
    ROW("gelu_backward [B,T,4C]", L, gelu_backward(dh, h, gelu_out, 4 * NC));
    ROW("residual_forward", 2 * L, residual_forward(y, x, dx, NC));
    ROW("residual_backward", 2 * L, residual_backward(x, y, dy, NC));
    ROW("zero_floats [B,T,C]", 0, zero_floats(dy, NC));
    /* The logits are overwritten with the gradient: refresh them (the copy is timed separately). */
    float *logits_copy = random_buffer(N * Vp, -4, 4);
    double copy_ms;
    TIME_MS(copy_ms, 0.3, memcpy(logits, logits_copy, sizeof(float) * N * Vp));
    ROW("crossentropy_fwd_bwd [256,50304]", 1,
        (memcpy(logits, logits_copy, sizeof(float) * N * Vp),
         crossentropy_forward_backward(losses, logits, targets, (int)N, V, Vp, 1.0f / N)));
    rows[n - 1].ms -= copy_ms;
    ROW("crossentropy_forward only", 0, crossentropy_forward_backward(losses, logits_copy, targets, (int)N, V, Vp, 0.0f));
    free(logits);
    free(logits_copy);
    free(h); free(gelu_out); free(dh);

    float *params = random_buffer(n_params, -0.1f, 0.1f), *grads = random_buffer(n_params, -0.01f, 0.01f);
    float *m = random_buffer(n_params, -0.001f, 0.001f), *v = random_buffer(n_params, 0, 0.001f);
    volatile double sink = 0;
    ROW("sum_of_squares [124M]", 1, sink += sum_of_squares(grads, n_params));
    ROW("adamw_update [124M]", 1, adamw_update(params, grads, m, v, n_params, 6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 10, 1.0f));
    ROW("zero_floats [124M]", 0, zero_floats(grads, n_params));
    (void)sink;

    double step_ms = 0;
    printf("%-34s %10s %8s %10s\n", "op", "ms/call", "calls", "ms/step");
    for (int i = 0; i < n; i++) {
        double total = rows[i].ms * rows[i].per_step;
        step_ms += total;
        printf("%-34s %10.3f %8d %10.2f\n", rows[i].name, rows[i].ms, rows[i].per_step, total);
    }
    printf("%-34s %10s %8s %10.2f\n", "non-matmul total per step", "", "", step_ms);
    printf("(memory bandwidth: adamw moves 28 bytes a parameter = %.1f GB/s; sum_of_squares %.1f GB/s)\n",
           28.0 * n_params / (rows[n - 2].ms * 1e6), 4.0 * n_params / (rows[n - 3].ms * 1e6));
    pool_shutdown();
    return 0;
}
