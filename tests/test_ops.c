/* Tests of the CPU layer ops (src/cpu/ops/ops.h): each forward against a double-precision
 * reference written here, each backward against central finite differences of that reference,
 * the in-place cross-entropy gradient, AdamW against torch.optim.AdamW's formula, and bit-identical
 * results for 1, 2 and 3 threads. Odd shapes on purpose: tails of the 16-lane loops, T = 1. */
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "cpu/ops/ops.h"
#include "test.h"
#include "util/rng.h"
#include "util/threadpool.h"

static Rng rng;

static float *random_floats(long n, float lo, float hi) {
    float *x = malloc(sizeof(float) * (n > 0 ? n : 1));
    rng_fill_uniform(&rng, x, n, lo, hi);
    return x;
}
static float *copy_floats(const float *x, long n) {
    float *copy = malloc(sizeof(float) * (n > 0 ? n : 1));
    memcpy(copy, x, sizeof(float) * n);
    return copy;
}
static double *to_double(const float *x, long n) {
    double *out = malloc(sizeof(double) * (n > 0 ? n : 1));
    for (long i = 0; i < n; i++) out[i] = x[i];
    return out;
}
static int32_t *random_tokens(long n, int V) {
    int32_t *tokens = malloc(sizeof(int32_t) * n);
    for (long i = 0; i < n; i++) tokens[i] = (int32_t)(rng_next_u64(&rng) % (uint64_t)V);
    return tokens;
}

/* ||a - b|| / ||b|| in double (0 when both are zero; infinity on NaN). */
static double relative_error_d(const double *a, const double *b, long n) {
    double diff = 0, ref = 0;
    for (long i = 0; i < n; i++) {
        if (a[i] != a[i] || b[i] != b[i]) return INFINITY;
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        ref += b[i] * b[i];
    }
    if (ref == 0) return diff == 0 ? 0 : INFINITY;
    return sqrt(diff / ref);
}
/* Float result vs double reference. */
static double relative_error_fd(const float *a, const double *b, long n) {
    double *a_d = to_double(a, n);
    double e = relative_error_d(a_d, b, n);
    free(a_d);
    return e;
}
/* The part of an accumulated gradient that the backward added: after - before, exactly in double. */
static double *added(const float *after, const float *before, long n) {
    double *out = malloc(sizeof(double) * (n > 0 ? n : 1));
    for (long i = 0; i < n; i++) out[i] = (double)after[i] - (double)before[i];
    return out;
}

/* Sets the pool to n threads and waits until every worker has run a task. pool_init returns
 * before new workers have started, and a worker that starts after a later pool_shutdown misses it
 * and the join hangs (see the report on threadpool.c): waiting here keeps quick resizes safe. */
static atomic_int worker_seen[64];
static void mark_worker(void *context, int task) {
    (void)context, (void)task;
    atomic_store(&worker_seen[pool_worker_index()], 1);
    struct timespec pause = {0, 20000};
    nanosleep(&pause, NULL); /* leave tasks for the others */
}
static void set_threads(int n) {
    pool_init(n);
    int size = pool_size();
    for (int i = 0; i < size; i++) atomic_store(&worker_seen[i], 0);
    for (;;) {
        pool_run(4 * size, mark_worker, NULL);
        int all = 1;
        for (int i = 0; i < size; i++) all &= atomic_load(&worker_seen[i]);
        if (all) break;
    }
}

/* ---------- finite differences on a double reference ---------- */

/* A double-precision forward: out[n_out] from x[n_in] (plus fixed context). */
typedef void (*ReferenceForward)(const void *context, const double *x, double *out);

/* grad[i] = d/dx_i sum_j out_j w_j by central differences. */
static void numeric_gradient(ReferenceForward forward, const void *context, double *x, long n_in,
                             const double *w, long n_out, double *grad) {
    double *out = malloc(sizeof(double) * n_out);
    const double h = 1e-5;
    for (long i = 0; i < n_in; i++) {
        double saved = x[i], loss_plus = 0, loss_minus = 0;
        x[i] = saved + h;
        forward(context, x, out);
        for (long j = 0; j < n_out; j++) loss_plus += out[j] * w[j];
        x[i] = saved - h;
        forward(context, x, out);
        for (long j = 0; j < n_out; j++) loss_minus += out[j] * w[j];
        x[i] = saved;
        grad[i] = (loss_plus - loss_minus) / (2 * h);
    }
    free(out);
}

/* ---------- encoder ---------- */

typedef struct { const int32_t *tokens; int B, T, C, V; } EncoderShape;

/* x = [wte (V*C), wpe (T*C)] */
static void encoder_reference(const void *context, const double *x, double *out) {
    const EncoderShape *s = context;
    const double *wte = x, *wpe = x + (long)s->V * s->C;
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->T; t++)
            for (int c = 0; c < s->C; c++)
                out[((long)b * s->T + t) * s->C + c] =
                    wte[(long)s->tokens[b * s->T + t] * s->C + c] + wpe[(long)t * s->C + c];
}

static void check_encoder(int B, int T, int C, int V) {
    long N = (long)B * T;
    int32_t *tokens = random_tokens(N, V); /* V small: tokens repeat */
    float *wte = random_floats((long)V * C, -1, 1), *wpe = random_floats((long)T * C, -1, 1);
    float *out = malloc(sizeof(float) * N * C);
    poison(out, N * C);
    encoder_forward(out, tokens, wte, wpe, B, T, C);
    EncoderShape shape = {tokens, B, T, C, V};
    long n_in = (long)(V + T) * C;
    double *x = malloc(sizeof(double) * n_in);
    for (long i = 0; i < (long)V * C; i++) x[i] = wte[i];
    for (long i = 0; i < (long)T * C; i++) x[(long)V * C + i] = wpe[i];
    double *ref = malloc(sizeof(double) * N * C);
    encoder_reference(&shape, x, ref);
    CHECK(relative_error_fd(out, ref, N * C) == 0, "encoder_forward B=%d T=%d C=%d", B, T, C);

    float *dout = random_floats(N * C, -1, 1);
    float *dwte = random_floats((long)V * C, -1, 1), *dwpe = random_floats((long)T * C, -1, 1);
    float *dwte0 = copy_floats(dwte, (long)V * C), *dwpe0 = copy_floats(dwpe, (long)T * C);
    encoder_backward(dwte, dwpe, dout, tokens, B, T, C);
    double *w = to_double(dout, N * C), *grad = malloc(sizeof(double) * n_in);
    numeric_gradient(encoder_reference, &shape, x, n_in, w, N * C, grad);
    double *got_wte = added(dwte, dwte0, (long)V * C), *got_wpe = added(dwpe, dwpe0, (long)T * C);
    double e1 = relative_error_d(got_wte, grad, (long)V * C);
    double e2 = relative_error_d(got_wpe, grad + (long)V * C, (long)T * C);
    CHECK(e1 < 1e-6 && e2 < 1e-6, "encoder_backward B=%d T=%d C=%d: %g %g", B, T, C, e1, e2);
    free(tokens); free(wte); free(wpe); free(out); free(x); free(ref); free(dout); free(dwte);
    free(dwpe); free(dwte0); free(dwpe0); free(w); free(grad); free(got_wte); free(got_wpe);
}

TEST(test_encoder) {
    check_encoder(2, 7, 12, 5);
    check_encoder(1, 1, 33, 3);
    check_encoder(3, 5, 100, 4);
}

/* ---------- layernorm ---------- */

typedef struct { int N, C; } LayernormShape;

/* x = [inp (N*C), weight (C), bias (C)]; out = [out (N*C), mean (N), rstd (N)] */
static void layernorm_reference(const void *context, const double *x, double *out) {
    const LayernormShape *s = context;
    const double *inp = x, *weight = x + (long)s->N * s->C, *bias = weight + s->C;
    for (int n = 0; n < s->N; n++) {
        const double *row = inp + (long)n * s->C;
        double mean = 0, variance = 0;
        for (int c = 0; c < s->C; c++) mean += row[c];
        mean /= s->C;
        for (int c = 0; c < s->C; c++) variance += (row[c] - mean) * (row[c] - mean);
        variance /= s->C;
        double rstd = 1 / sqrt(variance + 1e-5);
        for (int c = 0; c < s->C; c++)
            out[(long)n * s->C + c] = (row[c] - mean) * rstd * weight[c] + bias[c];
        out[(long)s->N * s->C + n] = mean;
        out[(long)s->N * s->C + s->N + n] = rstd;
    }
}

static void check_layernorm(int N, int C) {
    long NC = (long)N * C, n_in = NC + 2 * C;
    float *inp = random_floats(NC, -2, 3), *weight = random_floats(C, 0.5f, 1.5f);
    float *bias = random_floats(C, -0.5f, 0.5f);
    float *out = malloc(sizeof(float) * NC), *mean = malloc(sizeof(float) * N), *rstd = malloc(sizeof(float) * N);
    poison(out, NC); poison(mean, N); poison(rstd, N);
    layernorm_forward(out, mean, rstd, inp, weight, bias, N, C);
    double *x = malloc(sizeof(double) * n_in);
    for (long i = 0; i < NC; i++) x[i] = inp[i];
    for (int c = 0; c < C; c++) x[NC + c] = weight[c], x[NC + C + c] = bias[c];
    LayernormShape shape = {N, C};
    double *ref = malloc(sizeof(double) * (NC + 2 * N));
    layernorm_reference(&shape, x, ref);
    double e_out = relative_error_fd(out, ref, NC), e_mean = relative_error_fd(mean, ref + NC, N);
    double e_rstd = relative_error_fd(rstd, ref + NC + N, N);
    CHECK(e_out < 1e-6 && e_mean < 1e-6 && e_rstd < 1e-6, "layernorm_forward N=%d C=%d: %g %g %g", N, C,
          e_out, e_mean, e_rstd);

    /* The loss weights only the normalised output; mean and rstd get zero weight. */
    float *dout = random_floats(NC, -1, 1);
    double *w = calloc(NC + 2 * N, sizeof(double));
    for (long i = 0; i < NC; i++) w[i] = dout[i];
    double *grad = malloc(sizeof(double) * n_in);
    numeric_gradient(layernorm_reference, &shape, x, n_in, w, NC + 2 * N, grad);
    float *dinp = random_floats(NC, -1, 1), *dweight = random_floats(C, -1, 1), *dbias = random_floats(C, -1, 1);
    float *dinp0 = copy_floats(dinp, NC), *dweight0 = copy_floats(dweight, C), *dbias0 = copy_floats(dbias, C);
    layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    double *g_inp = added(dinp, dinp0, NC), *g_weight = added(dweight, dweight0, C), *g_bias = added(dbias, dbias0, C);
    double e1 = relative_error_d(g_inp, grad, NC), e2 = relative_error_d(g_weight, grad + NC, C);
    double e3 = relative_error_d(g_bias, grad + NC + C, C);
    CHECK(e1 < 1e-4 && e2 < 1e-5 && e3 < 1e-5, "layernorm_backward N=%d C=%d: %g %g %g", N, C, e1, e2, e3);
    free(inp); free(weight); free(bias); free(out); free(mean); free(rstd); free(x); free(ref);
    free(dout); free(w); free(grad); free(dinp); free(dweight); free(dbias); free(dinp0);
    free(dweight0); free(dbias0); free(g_inp); free(g_weight); free(g_bias);
}

TEST(test_layernorm) {
    check_layernorm(7, 12);
    check_layernorm(1, 33);
    check_layernorm(37, 48); /* several row blocks in the backward pass */
    check_layernorm(5, 71);
}

/* ---------- attention ---------- */

typedef struct { int B, T, C, NH; } AttentionShape;

/* x = qkv [B,T,3C]; out = [out (B*T*C), att (B*NH*T*T)] */
static void attention_reference(const void *context, const double *qkv, double *out) {
    const AttentionShape *s = context;
    int B = s->B, T = s->T, C = s->C, NH = s->NH, hs = C / NH;
    double scale = 1 / sqrt((double)hs);
    double *att_out = out + (long)B * T * C;
    double *scores = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const double *q = qkv + ((long)b * T + t) * 3 * C + h * hs;
                double max = -INFINITY, sum = 0;
                for (int u = 0; u <= t; u++) {
                    const double *k = qkv + ((long)b * T + u) * 3 * C + C + h * hs;
                    double dot = 0;
                    for (int d = 0; d < hs; d++) dot += q[d] * k[d];
                    scores[u] = dot * scale;
                    if (scores[u] > max) max = scores[u];
                }
                for (int u = 0; u <= t; u++) sum += scores[u] = exp(scores[u] - max);
                double *att = att_out + (((long)b * NH + h) * T + t) * T;
                for (int u = 0; u < T; u++) att[u] = u <= t ? scores[u] / sum : 0;
                double *o = out + ((long)b * T + t) * C + h * hs;
                for (int d = 0; d < hs; d++) {
                    double acc = 0;
                    for (int u = 0; u <= t; u++) acc += att[u] * qkv[((long)b * T + u) * 3 * C + 2 * C + h * hs + d];
                    o[d] = acc;
                }
            }
    free(scores);
}

static void check_attention(int B, int T, int C, int NH) {
    long n_qkv = (long)B * T * 3 * C, n_out = (long)B * T * C, n_att = (long)B * NH * T * T;
    float *qkv = random_floats(n_qkv, -1.5f, 1.5f);
    float *out = malloc(sizeof(float) * n_out), *att = malloc(sizeof(float) * n_att);
    poison(out, n_out); poison(att, n_att);
    attention_forward(out, att, qkv, B, T, C, NH);
    AttentionShape shape = {B, T, C, NH};
    double *x = to_double(qkv, n_qkv), *ref = malloc(sizeof(double) * (n_out + n_att));
    attention_reference(&shape, x, ref);
    double e_out = relative_error_fd(out, ref, n_out), e_att = relative_error_fd(att, ref + n_out, n_att);
    int zeros_ok = 1;
    for (long i = 0; i < n_att; i++) {
        int t = (int)(i / T % T), u = (int)(i % T);
        if (u > t && att[i] != 0.0f) zeros_ok = 0;
    }
    CHECK(e_out < 1e-6 && e_att < 1e-6 && zeros_ok, "attention_forward B=%d T=%d C=%d NH=%d: %g %g %d", B, T,
          C, NH, e_out, e_att, zeros_ok);

    float *dout = random_floats(n_out, -1, 1);
    double *w = calloc(n_out + n_att, sizeof(double));
    for (long i = 0; i < n_out; i++) w[i] = dout[i];
    double *grad = malloc(sizeof(double) * n_qkv);
    numeric_gradient(attention_reference, &shape, x, n_qkv, w, n_out + n_att, grad);
    float *dqkv = random_floats(n_qkv, -1, 1), *dqkv0 = copy_floats(dqkv, n_qkv);
    float *scratch = malloc(sizeof(float) * n_att);
    poison(scratch, n_att); /* workspace: must not be read before it is written */
    attention_backward(dqkv, scratch, dout, qkv, att, B, T, C, NH);
    double *got = added(dqkv, dqkv0, n_qkv);
    double e = relative_error_d(got, grad, n_qkv);
    CHECK(e < 1e-4, "attention_backward B=%d T=%d C=%d NH=%d: %g", B, T, C, NH, e);
    free(qkv); free(out); free(att); free(x); free(ref); free(dout); free(w); free(grad);
    free(dqkv); free(dqkv0); free(scratch); free(got);
}

TEST(test_attention) {
    check_attention(2, 7, 12, 3);  /* hs = 4: all tails */
    check_attention(1, 1, 12, 3);  /* T = 1 */
    check_attention(1, 19, 40, 2); /* hs = 20: one group of 16 plus a tail; T > 16 */
    check_attention(1, 40, 16, 1); /* several row blocks per head */
    if (!test_sanitized()) check_attention(2, 23, 64, 2);
    /* T above COLUMN_WALK_MAX_T (128): the backward's key sums walk the rows instead */
    if (!test_sanitized()) check_attention(1, 130, 8, 2);
}

/* attention_forward_cached must equal attention_forward at the last position (bit for bit: the
 * same sums in the same order). */
static void check_attention_cached(int T, int C, int NH) {
    int max_T = T + 3;
    float *qkv = random_floats((long)T * 3 * C, -1.5f, 1.5f);
    float *out = malloc(sizeof(float) * T * C), *att = malloc(sizeof(float) * (long)NH * T * T);
    attention_forward(out, att, qkv, 1, T, C, NH);
    float *k_cache = random_floats((long)max_T * C, -1, 1), *v_cache = random_floats((long)max_T * C, -1, 1);
    for (int t = 0; t < T; t++) {
        memcpy(k_cache + (long)t * C, qkv + (long)t * 3 * C + C, sizeof(float) * C);
        memcpy(v_cache + (long)t * C, qkv + (long)t * 3 * C + 2 * C, sizeof(float) * C);
    }
    float *cached_out = malloc(sizeof(float) * C), *scratch = malloc(sizeof(float) * NH * T);
    int mismatches = 0;
    for (int pos = 0; pos < T; pos += (pos < 20 ? 1 : 7)) {
        poison(cached_out, C);
        attention_forward_cached(cached_out, scratch, qkv + (long)pos * 3 * C, k_cache, v_cache, pos, C, NH);
        double e = relative_error(cached_out, out + (long)pos * C, C);
        CHECK(e < 1e-6, "attention_forward_cached T=%d C=%d pos=%d: %g", T, C, pos, e);
        if (memcmp(cached_out, out + (long)pos * C, sizeof(float) * C) != 0) mismatches++;
    }
    CHECK(mismatches == 0, "attention_forward_cached not bit-identical at %d positions", mismatches);
    free(qkv); free(out); free(att); free(k_cache); free(v_cache); free(cached_out); free(scratch);
}

TEST(test_attention_cached) {
    check_attention_cached(7, 12, 3);
    check_attention_cached(37, 40, 2);
    check_attention_cached(70, 256, 4); /* (pos+1) C over the threading threshold */
}

/* ---------- gelu ---------- */

/* 0.5 x (1 + tanh(u)) written as x sigmoid(2u): the same function, but without the cancellation
 * of 1 + tanh(u) for large negative x, which would make even the double reference inaccurate. */
static double gelu_reference(double x) {
    double u = sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
    return x / (1 + exp(-2 * u));
}

TEST(test_gelu) {
    long n = 1000 + 13;
    float *inp = random_floats(n, -6, 6);
    const float specials[] = {0.0f, -0.0f, 1e-20f, -1e-20f, 9.5f, -9.5f, 12.0f, -12.0f, 30.0f, -30.0f, 1e4f, -1e4f};
    for (int i = 0; i < 12; i++) inp[i] = specials[i];
    float *out = malloc(sizeof(float) * n);
    poison(out, n);
    gelu_forward(out, inp, n);
    /* In float, u = sqrt(2/pi) (x + 0.044715 x^3) itself carries a relative rounding of ~6e-8,
     * which exp(-2u) turns into a relative error of ~|2u| 6e-8 of the output: the errors are
     * measured relative to that conditioning. */
    double worst = 0;
    for (long i = 0; i < n; i++) {
        double x = inp[i], ref = gelu_reference(x);
        double conditioning = 1 + 2 * fabs(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x));
        double err = fabs(out[i] - ref) / ((fabs(ref) + 1e-35) * conditioning);
        if (!(err <= worst)) worst = err;
    }
    CHECK(worst < 1e-6, "gelu_forward worst relative error %g", worst);

    float *dout = random_floats(n, -1, 1), *dinp = malloc(sizeof(float) * n);
    poison(dinp, n); /* written, never read */
    gelu_backward(dinp, inp, dout, n);
    double worst_grad = 0;
    for (long i = 0; i < n; i++) {
        double x = inp[i], h = 1e-5 * (fabs(x) > 1 ? fabs(x) : 1);
        double derivative = (gelu_reference(x + h) - gelu_reference(x - h)) / (2 * h);
        double got = dinp[i], want = dout[i] * derivative;
        /* gelu' = s + 2x s (1-s) u' cancels near x = -0.75, so the float error is relative to
         * the size of its terms (about 1), not to the small result. */
        double conditioning = 1 + 2 * fabs(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x));
        double allowed = 1e-6 * fabs(dout[i]) * (fabs(derivative) + 1) * conditioning;
        double err = fabs(got - want) / allowed;
        if (!(err <= worst_grad)) worst_grad = err;
    }
    CHECK(worst_grad < 1, "gelu_backward worst error %g of the allowed", worst_grad);
    free(inp); free(out); free(dout); free(dinp);
}

/* ---------- residual, zero ---------- */

TEST(test_residual_and_zero) {
    long n = 70001;
    float *a = random_floats(n, -1, 1), *b = random_floats(n, -1, 1), *out = malloc(sizeof(float) * n);
    poison(out, n);
    residual_forward(out, a, b, n);
    int ok = 1;
    for (long i = 0; i < n; i++) ok &= out[i] == a[i] + b[i];
    CHECK(ok, "residual_forward");
    float *dout = random_floats(n, -1, 1), *da0 = copy_floats(a, n), *db0 = copy_floats(b, n);
    residual_backward(a, b, dout, n);
    ok = 1;
    for (long i = 0; i < n; i++) ok &= a[i] == da0[i] + dout[i] && b[i] == db0[i] + dout[i];
    CHECK(ok, "residual_backward accumulates");
    zero_floats(out, n);
    ok = 1;
    for (long i = 0; i < n; i++) ok &= out[i] == 0.0f;
    CHECK(ok, "zero_floats");
    zero_floats(out, 0); /* nothing to do */
    free(a); free(b); free(out); free(dout); free(da0); free(db0);
}

/* ---------- crossentropy ---------- */

static void check_crossentropy(int N, int V, int Vp, float spread) {
    long n = (long)N * Vp;
    float *logits = random_floats(n, -spread, spread);
    for (int r = 0; r < N; r++)
        for (int v = V; v < Vp; v++) logits[(long)r * Vp + v] = NAN; /* padding: must be ignored */
    int32_t *targets = random_tokens(N, V);
    float *original = copy_floats(logits, n);
    float *losses = malloc(sizeof(float) * N);

    /* Reference in double. */
    double *ref_loss = malloc(sizeof(double) * N), *ref_grad = malloc(sizeof(double) * n);
    float grad_scale = 1.0f / N;
    for (int r = 0; r < N; r++) {
        const float *row = original + (long)r * Vp;
        double max = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) max = row[v] > max ? row[v] : max;
        for (int v = 0; v < V; v++) sum += exp(row[v] - max);
        ref_loss[r] = log(sum) - (row[targets[r]] - max);
        for (int v = 0; v < Vp; v++)
            ref_grad[(long)r * Vp + v] = v < V ? grad_scale * (exp(row[v] - max) / sum - (v == targets[r])) : 0;
    }

    poison(losses, N);
    crossentropy_forward_backward(losses, logits, targets, N, V, Vp, 0.0f);
    double e_loss = relative_error_fd(losses, ref_loss, N);
    CHECK(e_loss < 1e-6, "crossentropy loss (no grad) N=%d V=%d: %g", N, V, e_loss);
    CHECK(memcmp(logits, original, sizeof(float) * n) == 0, "grad_scale 0 must leave the logits alone");

    poison(losses, N);
    crossentropy_forward_backward(losses, logits, targets, N, V, Vp, grad_scale);
    e_loss = relative_error_fd(losses, ref_loss, N);
    double e_grad = relative_error_fd(logits, ref_grad, n);
    int padding_zero = 1;
    for (int r = 0; r < N; r++)
        for (int v = V; v < Vp; v++) padding_zero &= logits[(long)r * Vp + v] == 0.0f;
    CHECK(e_loss < 1e-6 && e_grad < 1e-6 && padding_zero, "crossentropy N=%d V=%d Vp=%d: loss %g grad %g pad %d",
          N, V, Vp, e_loss, e_grad, padding_zero);
    free(logits); free(targets); free(original); free(losses); free(ref_loss); free(ref_grad);
}

/* The gradient as a derivative of the loss, by finite differences (tiny shape). */
typedef struct { const int32_t *targets; int N, V; double grad_scale; } CrossentropyShape;

static void crossentropy_reference(const void *context, const double *logits, double *out) {
    const CrossentropyShape *s = context;
    for (int r = 0; r < s->N; r++) {
        const double *row = logits + (long)r * s->V;
        double max = -INFINITY, sum = 0;
        for (int v = 0; v < s->V; v++) max = row[v] > max ? row[v] : max;
        for (int v = 0; v < s->V; v++) sum += exp(row[v] - max);
        out[r] = s->grad_scale * (log(sum) - (row[s->targets[r]] - max));
    }
}

TEST(test_crossentropy) {
    check_crossentropy(5, 37, 48, 5.0f);
    check_crossentropy(1, 1, 16, 1.0f);
    check_crossentropy(3, 100, 100, 30.0f); /* no padding; large spread: exps underflow */
    check_crossentropy(test_sanitized() ? 2 : 4, 50257, 50304, 4.0f);

    int N = 3, V = 21;
    float *logits = random_floats((long)N * V, -3, 3);
    int32_t *targets = random_tokens(N, V);
    CrossentropyShape shape = {targets, N, V, 0.25};
    double *x = to_double(logits, (long)N * V), *grad = malloc(sizeof(double) * N * V);
    double w[3] = {1, 1, 1};
    numeric_gradient(crossentropy_reference, &shape, x, (long)N * V, w, N, grad);
    float losses[3];
    crossentropy_forward_backward(losses, logits, targets, N, V, V, 0.25f);
    double e = relative_error_fd(logits, grad, (long)N * V);
    CHECK(e < 1e-6, "crossentropy gradient vs finite differences: %g", e);
    free(logits); free(targets); free(x); free(grad);
}

/* ---------- sum of squares ---------- */

TEST(test_sum_of_squares) {
    long n = test_sanitized() ? 300007 : 1000037; /* several fixed chunks plus a tail */
    float *x = random_floats(n, -2, 2);
    long double exact = 0;
    for (long i = 0; i < n; i++) exact += (long double)x[i] * x[i];
    set_threads(1);
    double one = sum_of_squares(x, n);
    set_threads(2);
    double two = sum_of_squares(x, n);
    set_threads(3);
    double three = sum_of_squares(x, n);
    CHECK(fabs(one - (double)exact) / (double)exact < 1e-13, "sum_of_squares %.17g vs %.17Lg", one, exact);
    CHECK(one == two && one == three, "sum_of_squares depends on threads: %.17g %.17g %.17g", one, two, three);
    CHECK(sum_of_squares(x, 5) == (double)x[0] * x[0] + (double)x[1] * x[1] + (double)x[2] * x[2] +
                                      (double)x[3] * x[3] + (double)x[4] * x[4],
          "sum_of_squares of 5");
    CHECK(sum_of_squares(x, 0) == 0.0, "sum_of_squares of nothing");
    set_threads(2);
    free(x);
}

/* ---------- adamw ---------- */

TEST(test_adamw) {
    long n = 1037;
    float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.1f, grad_scale = 0.5f;
    float *params = random_floats(n, -1, 1), *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
    double *ref_p = to_double(params, n), *ref_m = calloc(n, sizeof(double)), *ref_v = calloc(n, sizeof(double));
    float *params_before = copy_floats(params, n);
    for (int step = 1; step <= 3; step++) {
        float *grads = random_floats(n, -0.1f, 0.1f);
        grads[0] = 0.0f; /* a parameter without gradient still decays */
        /* torch.optim.AdamW: p *= 1 - lr wd; m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2;
         * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
        for (long i = 0; i < n; i++) {
            double g = (double)grads[i] * grad_scale;
            ref_p[i] *= 1 - (double)lr * weight_decay;
            ref_m[i] = beta1 * ref_m[i] + (1 - (double)beta1) * g;
            ref_v[i] = beta2 * ref_v[i] + (1 - (double)beta2) * g * g;
            double denominator = sqrt(ref_v[i]) / sqrt(1 - pow(beta2, step)) + eps;
            ref_p[i] -= lr / (1 - pow(beta1, step)) * ref_m[i] / denominator;
        }
        float *grads_before = copy_floats(grads, n);
        adamw_update(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, step, grad_scale);
        CHECK(memcmp(grads, grads_before, sizeof(float) * n) == 0,
              "adamw_update must leave the gradients as they are (step %d)", step);
        free(grads);
        free(grads_before);
    }
    /* Compare the change of the parameters (small next to the parameters themselves). */
    double *got_change = added(params, params_before, n), *want_change = malloc(sizeof(double) * n);
    for (long i = 0; i < n; i++) want_change[i] = ref_p[i] - params_before[i];
    double e_p = relative_error_d(got_change, want_change, n);
    double e_m = relative_error_fd(m, ref_m, n), e_v = relative_error_fd(v, ref_v, n);
    CHECK(e_p < 1e-4 && e_m < 1e-5 && e_v < 1e-5, "adamw vs torch formula: params %g m %g v %g", e_p, e_m, e_v);
    free(params); free(m); free(v); free(ref_p); free(ref_m); free(ref_v); free(params_before);
    free(got_change); free(want_change);
}

/* The update rounds exactly as the torch formula written in float, one operation at a time: the
 * vector loops (software square root, or the hardware one on AVX-512) and the scalar tail must all
 * give these bits. */
TEST(test_adamw_rounding) {
    long n = 4096 + 7; /* whole vectors and a tail */
    float lr = 6e-4f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f, grad_scale = 0.7f;
    int step = 5;
    float *params = random_floats(n, -1, 1), *grads = random_floats(n, -0.1f, 0.1f);
    float *m = random_floats(n, -0.01f, 0.01f), *v = random_floats(n, 0, 1e-4f);
    grads[3] = 0.0f;
    v[3] = 0.0f; /* sqrt(0) */
    v[5] = 1e-40f; /* subnormal */
    float *want_p = copy_floats(params, n), *want_m = copy_floats(m, n), *want_v = copy_floats(v, n);
    const float decay_factor = (float)(1.0 - (double)lr * weight_decay);
    const float minus_step_size = -(float)(lr / (1.0 - pow(beta1, step)));
    const float sqrt_correction2 = (float)sqrt(1.0 - pow(beta2, step));
    for (long i = 0; i < n; i++) {
        float g = grads[i] * grad_scale;
        float m_new = want_m[i] + (1.0f - beta1) * (g - want_m[i]);
        float v_new = want_v[i] * beta2 + (1.0f - beta2) * g * g;
        float denominator = sqrtf(v_new) / sqrt_correction2 + eps;
        want_p[i] = want_p[i] * decay_factor + minus_step_size * m_new / denominator;
        want_m[i] = m_new;
        want_v[i] = v_new;
    }
    adamw_update(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, step, grad_scale);
    CHECK(memcmp(params, want_p, sizeof(float) * n) == 0, "adamw params differ from the float formula");
    CHECK(memcmp(m, want_m, sizeof(float) * n) == 0, "adamw m differs from the float formula");
    CHECK(memcmp(v, want_v, sizeof(float) * n) == 0, "adamw v differs from the float formula");
    free(params); free(grads); free(m); free(v); free(want_p); free(want_m); free(want_v);
}

/* ---------- determinism: the same bits for 1, 2 and 3 threads ---------- */

typedef struct {
    float *buffers[16];
    long sizes[16];
    int count;
} Outputs;

static void outputs_add(Outputs *o, const float *x, long n) {
    o->buffers[o->count] = copy_floats(x, n);
    o->sizes[o->count++] = n;
}
static int outputs_equal(const Outputs *a, const Outputs *b) {
    if (a->count != b->count) return 0;
    for (int i = 0; i < a->count; i++)
        if (memcmp(a->buffers[i], b->buffers[i], sizeof(float) * a->sizes[i]) != 0) return 0;
    return 1;
}
static void outputs_free(Outputs *o) {
    for (int i = 0; i < o->count; i++) free(o->buffers[i]);
    o->count = 0;
}

/* Runs every op on fixed inputs and records all outputs. */
static void run_all_ops(Outputs *o, int seed) {
    rng_seed(&rng, (uint64_t)seed);
    int B = 2, T = 40, C = 64, NH = 4, V = 1000, Vp = 1008;
    long N = (long)B * T, NC = N * C;
    /* encoder */
    int32_t *tokens = random_tokens(N, 50);
    float *wte = random_floats(50L * C, -1, 1), *wpe = random_floats((long)T * C, -1, 1);
    float *enc = malloc(sizeof(float) * NC), *dout = random_floats(NC, -1, 1);
    encoder_forward(enc, tokens, wte, wpe, B, T, C);
    encoder_backward(wte, wpe, dout, tokens, B, T, C);
    outputs_add(o, enc, NC); outputs_add(o, wte, 50L * C);
    /* layernorm */
    float *weight = random_floats(C, 0.5f, 1.5f), *bias = random_floats(C, -1, 1);
    float *ln = malloc(sizeof(float) * NC), *mean = malloc(sizeof(float) * N), *rstd = malloc(sizeof(float) * N);
    layernorm_forward(ln, mean, rstd, enc, weight, bias, (int)N, C);
    float *dweight = random_floats(C, -1, 1), *dbias = random_floats(C, -1, 1);
    layernorm_backward(enc, dweight, dbias, dout, ln, weight, mean, rstd, (int)N, C);
    outputs_add(o, ln, NC); outputs_add(o, enc, NC); outputs_add(o, dweight, C); outputs_add(o, dbias, C);
    /* attention */
    float *qkv = random_floats(NC * 3, -1, 1), *dqkv = random_floats(NC * 3, -1, 1);
    float *att = malloc(sizeof(float) * B * NH * T * T), *scratch = malloc(sizeof(float) * B * NH * T * T);
    attention_forward(ln, att, qkv, B, T, C, NH);
    attention_backward(dqkv, scratch, dout, qkv, att, B, T, C, NH);
    outputs_add(o, ln, NC); outputs_add(o, dqkv, NC * 3);
    /* gelu, crossentropy, adamw */
    long n = 200003;
    float *g_in = random_floats(n, -5, 5), *g_out = malloc(sizeof(float) * n), *g_d = random_floats(n, -1, 1);
    gelu_forward(g_out, g_in, n);
    gelu_backward(g_d, g_in, g_out, n);
    outputs_add(o, g_d, n);
    float *logits = random_floats(16L * Vp, -4, 4), losses[16];
    int32_t *targets = random_tokens(16, V);
    crossentropy_forward_backward(losses, logits, targets, 16, V, Vp, 1.0f / 16);
    outputs_add(o, logits, 16L * Vp); outputs_add(o, losses, 16);
    float *m = random_floats(n, -0.01f, 0.01f), *v = random_floats(n, 0, 0.01f);
    adamw_update(g_in, g_d, m, v, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 7, 0.8f);
    outputs_add(o, g_in, n);
    free(tokens); free(wte); free(wpe); free(enc); free(dout); free(weight); free(bias); free(dweight); free(dbias); free(ln);
    free(mean); free(rstd); free(qkv); free(dqkv); free(att); free(scratch); free(g_in); free(g_out);
    free(g_d); free(logits); free(targets); free(m); free(v);
}

TEST(test_thread_count_independence) {
    Outputs one = {0}, two = {0}, three = {0};
    set_threads(1);
    run_all_ops(&one, 42);
    set_threads(2);
    run_all_ops(&two, 42);
    set_threads(3);
    run_all_ops(&three, 42);
    CHECK(outputs_equal(&one, &two), "1 vs 2 threads differ");
    CHECK(outputs_equal(&one, &three), "1 vs 3 threads differ");
    set_threads(2);
    outputs_free(&one); outputs_free(&two); outputs_free(&three);
}

int main(void) {
    rng_seed(&rng, 1234);
    set_threads(2);
    RUN_TEST(test_encoder);
    RUN_TEST(test_layernorm);
    RUN_TEST(test_attention);
    RUN_TEST(test_attention_cached);
    RUN_TEST(test_gelu);
    RUN_TEST(test_residual_and_zero);
    RUN_TEST(test_crossentropy);
    RUN_TEST(test_sum_of_squares);
    RUN_TEST(test_adamw);
    RUN_TEST(test_adamw_rounding);
    RUN_TEST(test_thread_count_independence);
    pool_shutdown();
    return TEST_SUMMARY();
}
