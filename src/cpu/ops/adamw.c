/* AdamW parameter update (decoupled weight decay, as torch.optim.AdamW), fused with zeroing the
 * gradients: one pass that reads params, grads, m, v and writes all four. Memory-bound, so the
 * array is split into a few large contiguous chunks per thread. */
#include <math.h>

#include "cpu/ops/ops.h"
#include "cpu/ops/vectorize.h"

typedef struct {
    float *params, *grads, *m, *v;
    long n;
    int n_tasks;
    float beta1, beta2, eps, grad_scale;
    float decay_factor;     /* 1 - lr * weight_decay */
    float step_size;        /* lr / (1 - beta1^step) */
    float sqrt_correction2; /* sqrt(1 - beta2^step) */
} AdamwJob;

CGPT_HOT static void adamw_task(void *context, int task) {
    const AdamwJob *job = context;
    long first = range_start(job->n, job->n_tasks, task), last = range_start(job->n, job->n_tasks, task + 1);
    float *params = job->params, *grads = job->grads, *m = job->m, *v = job->v;
    const float beta1 = job->beta1, beta2 = job->beta2, eps = job->eps, grad_scale = job->grad_scale;
    const float one_minus_beta1 = 1.0f - beta1, one_minus_beta2 = 1.0f - beta2;
    const float decay_factor = job->decay_factor, minus_step_size = -job->step_size;
    const float sqrt_correction2 = job->sqrt_correction2;
    /* The same operations in the same order as torch's single-tensor AdamW: decay the parameter,
     * m.lerp_(g, 1 - beta1), v = beta2 v + (1 - beta2) g^2, then
     * p += (-step_size) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) (addcdiv). */
    long i = first;
    for (; i + LANES <= last; i += LANES) {
        f32x16 g, m_old, v_old, p, zero = {0};
        vec_load(&g, grads + i);
        vec_load(&m_old, m + i);
        vec_load(&v_old, v + i);
        vec_load(&p, params + i);
        g *= grad_scale;
        f32x16 m_new = m_old + one_minus_beta1 * (g - m_old);
        f32x16 v_new = v_old * beta2 + one_minus_beta2 * g * g;
        f32x16 root = v_new;
        vec_sqrt(&root);
        f32x16 denominator = root / sqrt_correction2 + eps;
        p = p * decay_factor + minus_step_size * m_new / denominator;
        vec_store(params + i, &p);
        vec_store(m + i, &m_new);
        vec_store(v + i, &v_new);
        vec_store(grads + i, &zero);
    }
    for (; i < last; i++) {
        float g = grads[i] * grad_scale;
        float m_new = m[i] + one_minus_beta1 * (g - m[i]);
        float v_new = v[i] * beta2 + one_minus_beta2 * g * g;
        float denominator = sqrt_float(v_new) / sqrt_correction2 + eps;
        params[i] = params[i] * decay_factor + minus_step_size * m_new / denominator;
        m[i] = m_new;
        v[i] = v_new;
        grads[i] = 0.0f;
    }
}

void adamw_update(float *params, float *grads, float *m, float *v, long n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int step, float grad_scale) {
    AdamwJob job = {params, grads, m, v, n, 0, beta1, beta2, eps, grad_scale, 0, 0, 0};
    /* The per-step scalars are computed in double, as PyTorch does in Python. */
    job.decay_factor = (float)(1.0 - (double)lr * weight_decay);
    job.step_size = (float)(lr / (1.0 - pow(beta1, step)));
    job.sqrt_correction2 = (float)sqrt(1.0 - pow(beta2, step));
    /* Chunks of at least 64k elements (1 MB of traffic), a few per thread to even out. */
    job.n_tasks = task_count(n, 65536, 4);
    pool_run(job.n_tasks, adamw_task, &job);
}
