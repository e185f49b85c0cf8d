/* GELU with the tanh approximation (GPT-2's "gelu_new"), forward and backward, element-wise.
 * 0.5 (1 + tanh(u)) equals the logistic sigmoid of 2u, so gelu(x) = x / (1 + exp(-2u)): one
 * vectorised exp and no cancellation for large |x|, where 1 + tanh(u) would lose all digits. */
#include "cpu/ops/ops.h"
#include "cpu/ops/vectorize.h"

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_CUBIC 0.044715f

typedef struct {
    float *out;
    const float *inp, *dout;
    long n;
    int n_tasks;
} GeluJob;

CGPT_HOT static void gelu_forward_task(void *context, int task) {
    const GeluJob *job = context;
    long first = range_start(job->n, job->n_tasks, task), last = range_start(job->n, job->n_tasks, task + 1);
    const float *inp = job->inp;
    float *out = job->out;
    long i = first;
    for (; i + LANES <= last; i += LANES) {
        f32x16 x, e;
        vec_load(&x, inp + i);
        e = -2.0f * (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
        vec_exp(&e);
        f32x16 result = x / (1.0f + e);
        vec_store(out + i, &result);
    }
    for (; i < last; i++) { /* the same operations, one element */
        float x = inp[i];
        out[i] = x / (1.0f + exp_float(-2.0f * (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x))));
    }
}

void gelu_forward(float *out, const float *inp, long n) {
    GeluJob job = {out, inp, NULL, n, 0};
    job.n_tasks = task_count(n, 16384, 4);
    pool_run(job.n_tasks, gelu_forward_task, &job);
}

CGPT_HOT static void gelu_backward_task(void *context, int task) {
    const GeluJob *job = context;
    long first = range_start(job->n, job->n_tasks, task), last = range_start(job->n, job->n_tasks, task + 1);
    const float *inp = job->inp, *dout = job->dout;
    float *dinp = job->out;
    /* With s = sigmoid(2u): gelu = x s, gelu' = s + x * 2 s (1 - s) du/dx, and 1 - s = e s where
     * e = exp(-2u) (again no cancellation). For e over 1e30 (x below about -9.5) s (1 - s) is
     * taken as 0: e s s would be inf * 0 once e overflows. */
    long i = first;
    for (; i + LANES <= last; i += LANES) {
        f32x16 x, e, d, zero = {0}, s_times_one_minus_s;
        vec_load(&x, inp + i);
        f32x16 du_dx = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * x * x);
        e = -2.0f * (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
        vec_exp(&e);
        f32x16 s = 1.0f / (1.0f + e), product = e * s * s;
        s_times_one_minus_s = VEC_SELECT(e < 1e30f, product, zero);
        f32x16 gradient = s + 2.0f * x * s_times_one_minus_s * du_dx;
        vec_load(&d, dout + i);
        d *= gradient;
        vec_store(dinp + i, &d);
    }
    for (; i < last; i++) {
        float x = inp[i];
        float du_dx = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * x * x);
        float e = exp_float(-2.0f * (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)));
        float s = 1.0f / (1.0f + e);
        float s_times_one_minus_s = e < 1e30f ? e * s * s : 0.0f;
        float gradient = s + 2.0f * x * s_times_one_minus_s * du_dx;
        dinp[i] = dout[i] * gradient;
    }
}

void gelu_backward(float *dinp, const float *inp, const float *dout, long n) {
    GeluJob job = {dinp, inp, dout, n, 0};
    job.n_tasks = task_count(n, 16384, 4);
    pool_run(job.n_tasks, gelu_backward_task, &job);
}
