/* Causal multi-head self-attention: forward, backward, and the one-position forward over a
 * key/value cache used for generation.
 * Every sum here is a "weighted row sum": out[j] = sum over i (in ascending order) of
 * coef[i] * rows[i][j], vectorised across j, so no horizontal reductions and a fixed order. Scores
 * q.k take that form with the keys transposed (per-thread scratch [hs, T]). Tasks are blocks of
 * query rows of one (batch, head); in the backward pass a second round of tasks over key columns
 * sums dk and dv, so that each output element is written by one task. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ops/ops.h"
#include "cpu/ops/vectorize.h"
#include "util/error.h"

/* The columns [0, 16 * vectors) of a weighted row sum (below), one accumulator per 16 columns;
 * vectors is a constant where this is inlined. */
ALWAYS_INLINE void weighted_row_sum_vectors(float *out, const int vectors, const float *coef, long coef_stride,
                                            const float *rows, long row_stride, int count) {
    f32x16 acc[4] = {{0}, {0}, {0}, {0}}, r;
    for (int i = 0; i < count; i++) {
        float weight = coef[i * coef_stride];
        const float *row = rows + i * row_stride;
#pragma GCC unroll 4
        for (int v = 0; v < vectors; v++) {
            vec_load(&r, row + v * LANES);
            acc[v] += weight * r;
        }
    }
#pragma GCC unroll 4
    for (int v = 0; v < vectors; v++) vec_store(out + v * LANES, &acc[v]);
}

/* out[j] = sum_{i < count} coef[i * coef_stride] * rows[i * row_stride + j] for j < width, i in
 * ascending order. Columns go 64 at a time in vector accumulators, then the remaining 48, 32 or 16
 * together (independent chains: the scores of a causal row are 16-48 wide, and one chain of 64
 * dependent adds was latency-bound); the last few one at a time in the same order, so a column's
 * result does not depend on where it falls. */
ALWAYS_INLINE void weighted_row_sum(float *out, int width, const float *coef, long coef_stride,
                                    const float *rows, long row_stride, int count) {
    int j0 = 0;
    for (; j0 + 4 * LANES <= width; j0 += 4 * LANES)
        weighted_row_sum_vectors(out + j0, 4, coef, coef_stride, rows + j0, row_stride, count);
    int vectors_left = (width - j0) / LANES;
    switch (vectors_left) { /* each case a constant, so its accumulators stay in registers */
    case 3: weighted_row_sum_vectors(out + j0, 3, coef, coef_stride, rows + j0, row_stride, count); break;
    case 2: weighted_row_sum_vectors(out + j0, 2, coef, coef_stride, rows + j0, row_stride, count); break;
    case 1: weighted_row_sum_vectors(out + j0, 1, coef, coef_stride, rows + j0, row_stride, count); break;
    default: break;
    }
    j0 += vectors_left * LANES;
    for (int j = j0; j < width; j++) {
        float acc = 0.0f;
        for (int i = 0; i < count; i++) acc += coef[i * coef_stride] * rows[i * row_stride + j];
        out[j] = acc;
    }
}

/* Turns scores[0..n) into softmax probabilities in place, using the vectorised exp. */
ALWAYS_INLINE void softmax_in_place(float *scores, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++) max = scores[i] > max ? scores[i] : max;
    f32x16 lanes = {0}, values;
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        vec_load(&values, scores + i);
        values -= max;
        vec_exp(&values);
        vec_store(scores + i, &values);
        lanes += values;
    }
    float sum = vec_total(&lanes);
    for (; i < n; i++) {
        float e = exp_float(scores[i] - max);
        scores[i] = e;
        sum += e;
    }
    float inverse = 1.0f / sum;
    for (i = 0; i < n; i++) scores[i] *= inverse;
}

ALWAYS_INLINE int round_up_16(int n) { return (n + 15) & ~15; }

/* Per-thread scratch, kept between calls (attention runs every layer). Attention ops are called
 * from the one thread that drives the pool, never from inside a pool task. */
static float *thread_scratch;
static long thread_scratch_floats_each;
static int thread_scratch_threads;

static float *scratch_for_threads(long floats_each) {
    int threads = pool_size();
    floats_each = (floats_each + 15) & ~15L; /* keep each thread's block 64-byte aligned */
    if (floats_each > thread_scratch_floats_each || threads > thread_scratch_threads) {
        free(thread_scratch);
        thread_scratch = xaligned(sizeof(float) * floats_each * threads, "attention scratch");
        thread_scratch_floats_each = floats_each;
        thread_scratch_threads = threads;
    }
    return thread_scratch;
}

ALWAYS_INLINE float *my_scratch(void) {
    return thread_scratch + (long)pool_worker_index() * thread_scratch_floats_each;
}

typedef struct {
    float *out, *att, *dqkv, *dpreatt;
    const float *qkv, *dout, *att_probs; /* att_probs: the forward's att, read by the backward */
    int B, T, C, NH, hs;
    int T_padded; /* row length of the transposed scratch: T rounded up to 16, plus 16 so that rows
                   * are not 4 KB apart (a power-of-two stride maps every row to the same L1 sets) */
    int rows_per_task; /* query rows (forward, backward round 1) or key columns (round 2) */
    int blocks_per_head;
    float scale;
} AttentionJob;

/* Which (batch b, head h) a task works on and its block of rows [t0, t1); 0 if the block is empty. */
static inline int task_rows(const AttentionJob *job, int task, int *b, int *h, int *t0, int *t1) {
    int head_index = task / job->blocks_per_head, block = task % job->blocks_per_head;
    *b = head_index / job->NH;
    *h = head_index % job->NH;
    *t0 = block * job->rows_per_task;
    *t1 = *t0 + job->rows_per_task < job->T ? *t0 + job->rows_per_task : job->T;
    return *t0 < *t1;
}

/* Copies rows [0, count) of the head's keys (or values) into transposed [hs, T_padded], zero
 * filling the columns up to the next multiple of 16 so that whole groups of 16 can be computed. */
ALWAYS_INLINE void transpose_head(float *transposed, const float *first_row, long row_stride, int count,
                                  int hs, int T_padded) {
    int padded = round_up_16(count);
    for (int s = 0; s < count; s++)
        for (int d = 0; d < hs; d++) transposed[(long)d * T_padded + s] = first_row[s * row_stride + d];
    for (int d = 0; d < hs; d++)
        for (int s = count; s < padded; s++) transposed[(long)d * T_padded + s] = 0.0f;
}

/* Copies rows [0, count) of the head's keys or values into contiguous [count, hs]: the rows sit
 * 3C floats apart in qkv, a stride that defeats the caches and prefetchers at large T. */
ALWAYS_INLINE void gather_head(float *packed, const float *first_row, long row_stride, int count, int hs) {
    for (int s = 0; s < count; s++) memcpy(packed + (long)s * hs, first_row + s * row_stride, sizeof(float) * hs);
}

CGPT_HOT static void attention_forward_task(void *context, int task) {
    const AttentionJob *job = context;
    int T = job->T, C = job->C, hs = job->hs, NH = job->NH;
    int b, h, t0, t1;
    if (!task_rows(job, task, &b, &h, &t0, &t1)) return;
    long row_stride = 3L * C;
    const float *q_first = job->qkv + (long)b * T * row_stride + h * hs; /* q of position 0 */
    const float *k_first = q_first + C, *v_first = q_first + 2 * C;
    float *keys_transposed = my_scratch(); /* [hs, T_padded] */
    float *scores = keys_transposed + (long)hs * job->T_padded; /* [T_padded] */
    float *values = scores + job->T_padded;                     /* [t1, hs] */
    transpose_head(keys_transposed, k_first, row_stride, t1, hs, job->T_padded);
    gather_head(values, v_first, row_stride, t1, hs);
    for (int t = t0; t < t1; t++) {
        const float *q = q_first + t * row_stride;
        /* scores[s] = q . k_s for s <= t; whole groups of 16 (the padding columns are zeros). */
        weighted_row_sum(scores, round_up_16(t + 1), q, 1, keys_transposed, job->T_padded, hs);
        for (int s = 0; s <= t; s++) scores[s] *= job->scale;
        softmax_in_place(scores, t + 1);
        float *att_row = job->att + (((long)b * NH + h) * T + t) * T;
        for (int s = 0; s <= t; s++) att_row[s] = scores[s];
        for (int s = t + 1; s < T; s++) att_row[s] = 0.0f;
        /* out_t = sum_s att[t, s] v_s */
        weighted_row_sum(job->out + ((long)b * T + t) * C + h * hs, hs, att_row, 1, values, hs, t + 1);
    }
}

/* Cuts each (batch, head) into blocks of rows so that there are several tasks per thread, and at
 * most 64 rows a block (the backward's per-block sums stay in L1/L2). */
static void plan_blocks(AttentionJob *job, int tasks_per_thread) {
    int heads = job->B * job->NH;
    int wanted = pool_size() * tasks_per_thread;
    int blocks = (wanted + heads - 1) / heads;
    int max_blocks = (job->T + 15) / 16; /* at least 16 rows a task */
    if (blocks > max_blocks) blocks = max_blocks;
    if (blocks < (job->T + 63) / 64) blocks = (job->T + 63) / 64;
    if (blocks < 1) blocks = 1;
    job->rows_per_task = (job->T + blocks - 1) / blocks;
    job->blocks_per_head = (job->T + job->rows_per_task - 1) / job->rows_per_task;
}

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    AttentionJob job = {.out = out, .att = att, .qkv = qkv, .B = B, .T = T, .C = C, .NH = NH};
    job.hs = C / NH;
    job.T_padded = round_up_16(T) + 16;
    job.scale = 1.0f / sqrtf((float)job.hs);
    /* [hs, T_padded] keys transposed, [T_padded] scores, [T, hs] values */
    scratch_for_threads((long)job.hs * job.T_padded + job.T_padded + (long)T * job.hs);
    plan_blocks(&job, 8);
    pool_run(B * NH * job.blocks_per_head, attention_forward_task, &job);
}

/* Round 1: for query rows t of one head, dpreatt[t, s] (kept in the scratch) and dq_t. */
CGPT_HOT static void attention_backward_rows_task(void *context, int task) {
    const AttentionJob *job = context;
    int T = job->T, C = job->C, hs = job->hs, NH = job->NH;
    int b, h, t0, t1;
    if (!task_rows(job, task, &b, &h, &t0, &t1)) return;
    long row_stride = 3L * C;
    const float *k_first = job->qkv + (long)b * T * row_stride + C + h * hs;
    const float *v_first = k_first + C;
    float *values_transposed = my_scratch(); /* [hs, T_padded] */
    float *datt = values_transposed + (long)hs * job->T_padded; /* [T_padded] */
    float *dq_sum = datt + job->T_padded;                       /* [hs] */
    float *keys = dq_sum + hs;                                  /* [t1, hs] */
    transpose_head(values_transposed, v_first, row_stride, t1, hs, job->T_padded);
    gather_head(keys, k_first, row_stride, t1, hs);
    for (int t = t0; t < t1; t++) {
        const float *dout = job->dout + ((long)b * T + t) * C + h * hs;
        const float *att_row = job->att_probs + (((long)b * NH + h) * T + t) * T;
        float *dpreatt_row = job->dpreatt + (((long)b * NH + h) * T + t) * T;
        /* datt[s] = dout_t . v_s */
        weighted_row_sum(datt, round_up_16(t + 1), dout, 1, values_transposed, job->T_padded, hs);
        /* Softmax backward: dpreatt[s] = att[s] (datt[s] - sum_s' att[s'] datt[s']). */
        f32x16 lanes = {0}, a, d;
        int s = 0;
        for (; s + LANES <= t + 1; s += LANES) {
            vec_load(&a, att_row + s);
            vec_load(&d, datt + s);
            lanes += a * d;
        }
        float weighted_total = vec_total(&lanes);
        for (; s <= t; s++) weighted_total += att_row[s] * datt[s];
        for (s = 0; s <= t; s++) dpreatt_row[s] = att_row[s] * (datt[s] - weighted_total);
        /* dq_t += scale * sum_s dpreatt[s] k_s */
        weighted_row_sum(dq_sum, hs, dpreatt_row, 1, keys, hs, t + 1);
        float *dq = job->dqkv + ((long)b * T + t) * row_stride + h * hs;
        for (int d = 0; d < hs; d++) dq[d] += job->scale * dq_sum[d];
    }
}

/* acc[d] += weight * x[d] for d < n */
ALWAYS_INLINE void add_scaled(float *acc, float weight, const float *x, int n) {
    int d = 0;
    for (; d + LANES <= n; d += LANES) {
        f32x16 a, v;
        vec_load(&a, acc + d);
        vec_load(&v, x + d);
        a += weight * v;
        vec_store(acc + d, &a);
    }
    for (; d < n; d++) acc[d] += weight * x[d];
}

/* Up to this T, round 2 walks down the columns of att and dpreatt (a head's T x T probabilities,
 * 64 KB at T = 128, stay in cache) with each key's sums in registers; above it, along their rows
 * with the block's sums in scratch, whose load-add-store per (t, s) pair held ~37% of the
 * attention's time at T = 64 (perf, Zen 5). Both add in the same order: the same bits. */
#define COLUMN_WALK_MAX_T 128

/* Round 2: for key positions s in [s0, s1) of one head, dk_s and dv_s summed over the queries
 * t >= s, each sum in the order t = s, s+1, ... (see COLUMN_WALK_MAX_T). */
CGPT_HOT static void attention_backward_columns_task(void *context, int task) {
    const AttentionJob *job = context;
    int T = job->T, C = job->C, hs = job->hs, NH = job->NH;
    int b, h, s0, s1; /* this task's key rows [s0, s1) */
    if (!task_rows(job, task, &b, &h, &s0, &s1)) return;
    long row_stride = 3L * C;
    const float *q_first = job->qkv + (long)b * T * row_stride + h * hs;
    const float *dout_first = job->dout + (long)b * T * C + h * hs;
    const float *att_head = job->att_probs + ((long)b * NH + h) * T * T;
    const float *dpreatt_head = job->dpreatt + ((long)b * NH + h) * T * T;
    float *dv_sums = my_scratch();                       /* [s1 - s0, hs] */
    float *dk_sums = dv_sums + (long)(s1 - s0) * hs;     /* [s1 - s0, hs] */
    if (T <= COLUMN_WALK_MAX_T)
        for (int s = s0; s < s1; s++) { /* t = s .. T-1 down column s of att and dpreatt */
            weighted_row_sum(dv_sums + (long)(s - s0) * hs, hs, att_head + (long)s * T + s, T,
                             dout_first + (long)s * C, C, T - s);
            weighted_row_sum(dk_sums + (long)(s - s0) * hs, hs, dpreatt_head + (long)s * T + s, T,
                             q_first + s * row_stride, row_stride, T - s);
        }
    else
        for (long i = 0; i < 2L * (s1 - s0) * hs; i++) dv_sums[i] = 0.0f;
    for (int t = s0; t < T && T > COLUMN_WALK_MAX_T; t++) {
        int s_end = t + 1 < s1 ? t + 1 : s1;
        const float *att_row = att_head + (long)t * T, *dpreatt_row = dpreatt_head + (long)t * T;
        const float *dout = dout_first + (long)t * C, *q = q_first + t * row_stride;
        for (int s = s0; s < s_end; s++) {
            add_scaled(dv_sums + (long)(s - s0) * hs, att_row[s], dout, hs);
            add_scaled(dk_sums + (long)(s - s0) * hs, dpreatt_row[s], q, hs);
        }
    }
    for (int s = s0; s < s1; s++) {
        float *dk = job->dqkv + ((long)b * T + s) * row_stride + C + h * hs;
        float *dv = dk + C;
        const float *dv_sum = dv_sums + (long)(s - s0) * hs, *dk_sum = dk_sums + (long)(s - s0) * hs;
        for (int d = 0; d < hs; d++) {
            dv[d] += dv_sum[d];
            dk[d] += job->scale * dk_sum[d];
        }
    }
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, int B, int T, int C, int NH) {
    AttentionJob job = {.dqkv = dqkv, .dpreatt = scratch, .qkv = qkv, .dout = dout, .att_probs = att,
                        .B = B, .T = T, .C = C, .NH = NH};
    job.hs = C / NH;
    job.T_padded = round_up_16(T) + 16;
    job.scale = 1.0f / sqrtf((float)job.hs);
    /* round 1: [hs, T_padded] + [T_padded] + [hs] + [T, hs]; round 2: two [rows_per_task, hs] */
    plan_blocks(&job, 8);
    long round1 = (long)job.hs * job.T_padded + job.T_padded + job.hs + (long)T * job.hs;
    long round2 = 2L * job.rows_per_task * job.hs;
    scratch_for_threads(round1 > round2 ? round1 : round2);
    pool_run(B * NH * job.blocks_per_head, attention_backward_rows_task, &job);
    pool_run(B * NH * job.blocks_per_head, attention_backward_columns_task, &job);
}

typedef struct {
    float *out, *scratch;
    const float *q, *k_cache, *v_cache;
    int pos, C, hs;
    float scale;
} CachedJob;

CGPT_HOT static void attention_cached_head(void *context, int h) {
    const CachedJob *job = context;
    int hs = job->hs, C = job->C, count = job->pos + 1;
    const float *q = job->q + h * hs;
    float *scores = job->scratch + (long)h * count;
    const float *k_first = job->k_cache + h * hs;
    /* scores[s] = q . k_s summed in ascending d, as the full forward pass sums it (so both give the
     * same bits); 16 positions at a time for independent accumulators. */
    int s0 = 0;
    for (; s0 + LANES <= count; s0 += LANES) {
        float acc[LANES] = {0};
        for (int d = 0; d < hs; d++)
            for (int j = 0; j < LANES; j++) acc[j] += q[d] * k_first[(long)(s0 + j) * C + d];
        for (int j = 0; j < LANES; j++) scores[s0 + j] = acc[j];
    }
    for (int s = s0; s < count; s++) {
        float dot = 0.0f;
        for (int d = 0; d < hs; d++) dot += q[d] * k_first[(long)s * C + d];
        scores[s] = dot;
    }
    for (int s = 0; s < count; s++) scores[s] *= job->scale;
    softmax_in_place(scores, count);
    weighted_row_sum(job->out + h * hs, hs, scores, 1, job->v_cache + h * hs, C, count);
}

void attention_forward_cached(float *out, float *scratch, const float *q, const float *k_cache,
                              const float *v_cache, int pos, int C, int NH) {
    CachedJob job = {out, scratch, q, k_cache, v_cache, pos, C, C / NH, 0};
    job.scale = 1.0f / sqrtf((float)job.hs);
    /* One task per head once a head's work (2 (pos+1) hs multiply-adds) is worth a thread. */
    if ((long)(pos + 1) * C < 16384) {
        for (int h = 0; h < NH; h++) attention_cached_head(&job, h);
    } else {
        pool_run(NH, attention_cached_head, &job);
    }
}
