/* Layer normalisation over the channels of each position, forward and backward.
 * Rows are independent, so both passes split rows over tasks. The backward pass also sums
 * dweight/dbias over all rows: each fixed block of rows (the blocks depend only on N) writes its
 * own partial sums, then the blocks are added in order, so the result is the same for any number
 * of threads. */
#include <math.h>
#include <stdlib.h>

#include "cpu/ops/ops.h"
#include "cpu/ops/vectorize.h"
#include "util/error.h"

#define LAYERNORM_EPS 1e-5f

/* Sum of x[0..n) in 16 lanes then a fixed tree, then the leftover elements in order. */
ALWAYS_INLINE float row_sum(const float *x, int n) {
    f32x16 lanes = {0}, values;
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        vec_load(&values, x + i);
        lanes += values;
    }
    float total = vec_total(&lanes);
    for (; i < n; i++) total += x[i];
    return total;
}

/* Sum of (x[i] - mean)^2, the same way. */
ALWAYS_INLINE float row_squared_deviation(const float *x, float mean, int n) {
    f32x16 lanes = {0}, values;
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        vec_load(&values, x + i);
        values -= mean;
        lanes += values * values;
    }
    float total = vec_total(&lanes);
    for (; i < n; i++) total += (x[i] - mean) * (x[i] - mean);
    return total;
}

typedef struct {
    float *out, *mean, *rstd;
    const float *inp, *weight, *bias;
    int N, C, n_tasks;
} LayernormForward;

CGPT_HOT static void layernorm_forward_task(void *context, int task) {
    const LayernormForward *job = context;
    int C = job->C;
    long first = range_start(job->N, job->n_tasks, task), last = range_start(job->N, job->n_tasks, task + 1);
    for (long n = first; n < last; n++) {
        const float *x = job->inp + n * C;
        float *out = job->out + n * C;
        /* Two passes over a row that sits in L1: the variance about the mean is more accurate than
         * E[x^2] - mean^2. */
        float mean = row_sum(x, C) / C;
        float variance = row_squared_deviation(x, mean, C) / C;
        float rstd = 1.0f / sqrtf(variance + LAYERNORM_EPS);
        const float *weight = job->weight, *bias = job->bias;
        int c = 0;
        for (; c + LANES <= C; c += LANES) {
            f32x16 values, w, b;
            vec_load(&values, x + c);
            vec_load(&w, weight + c);
            vec_load(&b, bias + c);
            values = (values - mean) * rstd * w + b;
            vec_store(out + c, &values);
        }
        for (; c < C; c++) out[c] = (x[c] - mean) * rstd * weight[c] + bias[c];
        job->mean[n] = mean;
        job->rstd[n] = rstd;
    }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C) {
    LayernormForward job = {out, mean, rstd, inp, weight, bias, N, C, 0};
    job.n_tasks = task_count((long)N * C, 4096, 4); /* N x C = 196K in a step: 48 tasks, not 12 */
    pool_run(job.n_tasks, layernorm_forward_task, &job);
}

typedef struct {
    float *dinp, *dweight, *dbias;
    const float *dout, *inp, *weight, *mean, *rstd;
    int N, C;
    int n_blocks;
    float *partials; /* [n_blocks, 2, C]: each row block's dweight sums, then its dbias sums */
    int channels_per_task;
} LayernormBackward;

CGPT_HOT static void layernorm_backward_rows_task(void *context, int block) {
    const LayernormBackward *job = context;
    int C = job->C;
    float *block_dweight = job->partials + (long)block * 2 * C;
    float *block_dbias = block_dweight + C;
    for (int c = 0; c < C; c++) block_dweight[c] = block_dbias[c] = 0.0f;
    long first = (long)job->N * block / job->n_blocks, last = (long)job->N * (block + 1) / job->n_blocks;
    for (long n = first; n < last; n++) {
        const float *dout = job->dout + n * C, *x = job->inp + n * C, *weight = job->weight;
        float *dinp = job->dinp + n * C;
        float mean = job->mean[n], rstd = job->rstd[n];
        /* With xhat = (x - mean) rstd and g = dout * weight:
         * dinp = rstd (g - mean(g) - xhat mean(g xhat)). */
        f32x16 lanes_g = {0}, lanes_g_xhat = {0}, xv, dv, wv;
        int c = 0;
        for (; c + LANES <= C; c += LANES) {
            vec_load(&xv, x + c);
            vec_load(&dv, dout + c);
            vec_load(&wv, weight + c);
            f32x16 xhat = (xv - mean) * rstd, g = dv * wv;
            lanes_g += g;
            lanes_g_xhat += g * xhat;
        }
        float sum_g = vec_total(&lanes_g), sum_g_xhat = vec_total(&lanes_g_xhat);
        for (; c < C; c++) {
            float xhat = (x[c] - mean) * rstd;
            float g = dout[c] * weight[c];
            sum_g += g;
            sum_g_xhat += g * xhat;
        }
        float mean_g = sum_g / C, mean_g_xhat = sum_g_xhat / C;
        for (c = 0; c + LANES <= C; c += LANES) {
            f32x16 gradient, partial_w, partial_b;
            vec_load(&xv, x + c);
            vec_load(&dv, dout + c);
            vec_load(&wv, weight + c);
            vec_load(&gradient, dinp + c);
            vec_load(&partial_w, block_dweight + c);
            vec_load(&partial_b, block_dbias + c);
            f32x16 xhat = (xv - mean) * rstd, g = dv * wv;
            gradient += (g - mean_g - xhat * mean_g_xhat) * rstd;
            partial_w += dv * xhat;
            partial_b += dv;
            vec_store(dinp + c, &gradient);
            vec_store(block_dweight + c, &partial_w);
            vec_store(block_dbias + c, &partial_b);
        }
        for (; c < C; c++) {
            float xhat = (x[c] - mean) * rstd;
            float g = dout[c] * weight[c];
            dinp[c] += (g - mean_g - xhat * mean_g_xhat) * rstd;
            block_dweight[c] += dout[c] * xhat;
            block_dbias[c] += dout[c];
        }
    }
}

/* dweight/dbias += the row blocks' partial sums in block order, tasks over channel ranges. */
CGPT_HOT static void layernorm_backward_combine_task(void *context, int task) {
    const LayernormBackward *job = context;
    int C = job->C;
    int c0 = task * job->channels_per_task;
    int c1 = c0 + job->channels_per_task < C ? c0 + job->channels_per_task : C;
    for (int block = 0; block < job->n_blocks; block++) {
        const float *block_dweight = job->partials + (long)block * 2 * C;
        const float *block_dbias = block_dweight + C;
        for (int c = c0; c < c1; c++) {
            job->dweight[c] += block_dweight[c];
            job->dbias[c] += block_dbias[c];
        }
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C) {
    if (N <= 0 || C <= 0) return;
    LayernormBackward job = {dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C, 0, NULL, C};
    /* The row blocks depend on N only (never on the thread count): about 8 rows each, at most 64
     * blocks, so that there are tasks for 16+ threads but the partial sums stay small. */
    job.n_blocks = (N + 7) / 8;
    if (job.n_blocks > 64) job.n_blocks = 64;
    /* kept between calls: at 393 KB, a malloc each call was an mmap and ~100 page faults */
    static float *partials;
    static size_t partials_floats;
    size_t need = (size_t)2 * C * job.n_blocks;
    if (need > partials_floats) {
        free(partials);
        partials = xmalloc(sizeof(float) * need, "layernorm backward partial sums");
        partials_floats = need;
    }
    job.partials = partials;
    pool_run(job.n_blocks, layernorm_backward_rows_task, &job);
    int combine_tasks = task_count((long)job.n_blocks * C, 16384, 2);
    job.channels_per_task = ((C + combine_tasks - 1) / combine_tasks + 15) / 16 * 16;
    combine_tasks = (C + job.channels_per_task - 1) / job.channels_per_task;
    pool_run(combine_tasks, layernorm_backward_combine_task, &job);
}
