/* Softmax + cross-entropy loss over the vocabulary, fused with its gradient, written in place
 * over the logits. Per row (200 KB at Vp = 50304, so it stays in L2): a max pass, a pass that sums
 * exp(logit - max) and stores the exps in place, and a pass that scales them into the gradient.
 * Rows are independent tasks; each row's sum has a fixed order, so results do not depend on
 * threads. */
#include <math.h>

#include "cpu/ops/ops.h"
#include "cpu/ops/vectorize.h"

/* Columns summed in float lanes before the block is added to the double total: short float runs
 * keep the rounding of a 50k-term sum near double precision at float speed. */
#define SUM_BLOCK 1024

typedef struct {
    float *losses, *logits;
    const int32_t *targets;
    int N, V, Vp;
    float grad_scale;
    int rows_per_task;
} CrossentropyJob;

ALWAYS_INLINE float row_max(const float *x, int n) {
    f32x16 lanes, values;
    vec_set(&lanes, -INFINITY);
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        vec_load(&values, x + i);
        lanes = VEC_SELECT(values > lanes, values, lanes);
    }
    float max = -INFINITY;
    for (int j = 0; j < LANES; j++) max = lanes[j] > max ? lanes[j] : max;
    for (; i < n; i++) max = x[i] > max ? x[i] : max;
    return max;
}

/* Sum of exp(x[i] - max) over [0, n); if store, x[i] = exp(x[i] - max). Block by block in 16 float
 * lanes, the blocks added in double, in order. */
ALWAYS_INLINE double sum_exp(float *x, int n, float max, int store) {
    double total = 0.0;
    int i = 0;
    while (i + LANES <= n) {
        int block_end = i + SUM_BLOCK < n ? i + SUM_BLOCK : n;
        f32x16 lanes = {0}, values;
        for (; i + LANES <= block_end; i += LANES) {
            vec_load(&values, x + i);
            values -= max;
            vec_exp(&values);
            if (store) vec_store(x + i, &values);
            lanes += values;
        }
        total += vec_total(&lanes);
    }
    for (; i < n; i++) {
        float e = exp_float(x[i] - max);
        if (store) x[i] = e;
        total += e;
    }
    return total;
}

CGPT_HOT static void crossentropy_task(void *context, int task) {
    const CrossentropyJob *job = context;
    int V = job->V, Vp = job->Vp;
    int first = task * job->rows_per_task;
    int last = first + job->rows_per_task < job->N ? first + job->rows_per_task : job->N;
    for (int n = first; n < last; n++) {
        float *row = job->logits + (long)n * Vp;
        int target = job->targets[n];
        float max = row_max(row, V);
        float target_logit = row[target];
        if (job->grad_scale == 0.0f) {
            double sum = sum_exp(row, V, max, 0);
            job->losses[n] = (float)(log(sum) - ((double)target_logit - max));
            continue;
        }
        double sum = sum_exp(row, V, max, 1);
        job->losses[n] = (float)(log(sum) - ((double)target_logit - max));
        /* row now holds exp(logit - max): the gradient is grad_scale * (exp / sum - onehot). */
        float scale = (float)(job->grad_scale / sum);
        int v = 0;
        for (; v + LANES <= V; v += LANES) {
            f32x16 values;
            vec_load(&values, row + v);
            values *= scale;
            vec_store(row + v, &values);
        }
        for (; v < V; v++) row[v] *= scale;
        row[target] -= job->grad_scale;
        for (v = V; v < Vp; v++) row[v] = 0.0f;
    }
}

void crossentropy_forward_backward(float *losses, float *logits, const int32_t *targets, int N, int V,
                                   int Vp, float grad_scale) {
    CrossentropyJob job = {losses, logits, targets, N, V, Vp, grad_scale, 1};
    /* A row is ~50k exps: worth a task of its own at the GPT-2 vocabulary; small vocabularies
     * group rows. */
    int n_tasks = task_count((long)N * Vp, 32768, 8);
    if (n_tasks > N) n_tasks = N;
    job.rows_per_task = (N + n_tasks - 1) / n_tasks;
    n_tasks = (N + job.rows_per_task - 1) / job.rows_per_task;
    pool_run(n_tasks, crossentropy_task, &job);
}
