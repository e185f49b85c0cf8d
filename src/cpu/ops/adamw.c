/* AdamW parameter update (decoupled weight decay, as torch.optim.AdamW): one pass that reads params,
 * grads, m, v and writes params, m, v. The gradients are left as they are (the model's next backward
 * pass overwrites them, so zeroing them here would only add traffic). The array is split into a few
 * large contiguous chunks per thread.
 * On one or two cores the pass is limited by arithmetic, not memory: a square root and two
 * divisions per element. The portable loop computes the square root in software (see sqrt_float);
 * on CPUs with AVX-512 an intrinsics loop uses the hardware vsqrtps/vdivps instead, which are
 * correctly rounded as well, so both loops give the same bits. */
#include <math.h>

#include "cpu/ops/ops.h"
#include "cpu/ops/vectorize.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(CGPT_NO_CLONES)
#include <immintrin.h>
#define ADAMW_AVX512 1
#endif

typedef struct {
    float *params;
    const float *grads;
    float *m, *v;
    long n;
    int n_tasks;
    int use_avx512;
    float beta1, beta2, eps, grad_scale;
    float decay_factor;     /* 1 - lr * weight_decay */
    float step_size;        /* lr / (1 - beta1^step) */
    float sqrt_correction2; /* sqrt(1 - beta2^step) */
} AdamwJob;

/* The same operations in the same order as torch's single-tensor AdamW: decay the parameter,
 * m.lerp_(g, 1 - beta1), v = beta2 v + (1 - beta2) g^2, then
 * p += (-step_size) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) (addcdiv). Every loop below spells
 * out exactly these roundings. */

#ifdef ADAMW_AVX512
/* How far ahead (in floats, 2 KB) to prefetch each of the four streams: the hardware prefetchers
 * alone left one core about 10% short of its bandwidth on this streaming pass. */
#define ADAMW_PREFETCH_AHEAD 512

/* Elements [first, last) in whole groups of 16; returns where it stopped (the rest is left to the
 * portable loop). */
__attribute__((target("avx512f"))) static long adamw_avx512(const AdamwJob *job, long first, long last) {
    float *params = job->params, *m = job->m, *v = job->v;
    const float *grads = job->grads;
    const __m512 grad_scale = _mm512_set1_ps(job->grad_scale), beta2 = _mm512_set1_ps(job->beta2);
    const __m512 one_minus_beta1 = _mm512_set1_ps(1.0f - job->beta1);
    const __m512 one_minus_beta2 = _mm512_set1_ps(1.0f - job->beta2);
    const __m512 eps = _mm512_set1_ps(job->eps), decay_factor = _mm512_set1_ps(job->decay_factor);
    const __m512 minus_step_size = _mm512_set1_ps(-job->step_size);
    const __m512 sqrt_correction2 = _mm512_set1_ps(job->sqrt_correction2);
    long i = first;
    for (; i + 16 <= last; i += 16) {
        _mm_prefetch((const char *)(grads + i + ADAMW_PREFETCH_AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(m + i + ADAMW_PREFETCH_AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(v + i + ADAMW_PREFETCH_AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(params + i + ADAMW_PREFETCH_AHEAD), _MM_HINT_T0);
        __m512 g = _mm512_mul_ps(_mm512_loadu_ps(grads + i), grad_scale);
        __m512 m_old = _mm512_loadu_ps(m + i), v_old = _mm512_loadu_ps(v + i);
        __m512 p = _mm512_loadu_ps(params + i);
        __m512 m_new = _mm512_add_ps(m_old, _mm512_mul_ps(one_minus_beta1, _mm512_sub_ps(g, m_old)));
        __m512 v_new = _mm512_add_ps(_mm512_mul_ps(v_old, beta2), _mm512_mul_ps(_mm512_mul_ps(one_minus_beta2, g), g));
        __m512 denominator = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(v_new), sqrt_correction2), eps);
        __m512 step = _mm512_div_ps(_mm512_mul_ps(minus_step_size, m_new), denominator);
        p = _mm512_add_ps(_mm512_mul_ps(p, decay_factor), step);
        _mm512_storeu_ps(params + i, p);
        _mm512_storeu_ps(m + i, m_new);
        _mm512_storeu_ps(v + i, v_new);
    }
    return i;
}
#endif

CGPT_HOT static void adamw_task(void *context, int task) {
    const AdamwJob *job = context;
    long first = range_start(job->n, job->n_tasks, task), last = range_start(job->n, job->n_tasks, task + 1);
    float *params = job->params, *m = job->m, *v = job->v;
    const float *grads = job->grads;
    const float beta1 = job->beta1, beta2 = job->beta2, eps = job->eps, grad_scale = job->grad_scale;
    const float one_minus_beta1 = 1.0f - beta1, one_minus_beta2 = 1.0f - beta2;
    const float decay_factor = job->decay_factor, minus_step_size = -job->step_size;
    const float sqrt_correction2 = job->sqrt_correction2;
    long i = first;
#ifdef ADAMW_AVX512
    if (job->use_avx512) i = adamw_avx512(job, first, last);
#endif
    for (; i + LANES <= last; i += LANES) {
        f32x16 g, m_old, v_old, p;
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
    }
    for (; i < last; i++) {
        float g = grads[i] * grad_scale;
        float m_new = m[i] + one_minus_beta1 * (g - m[i]);
        float v_new = v[i] * beta2 + one_minus_beta2 * g * g;
        float denominator = sqrt_float(v_new) / sqrt_correction2 + eps;
        params[i] = params[i] * decay_factor + minus_step_size * m_new / denominator;
        m[i] = m_new;
        v[i] = v_new;
    }
}

void adamw_update(float *params, const float *grads, float *m, float *v, long n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int step, float grad_scale) {
    AdamwJob job = {params, grads, m, v, n, 0, 0, beta1, beta2, eps, grad_scale, 0, 0, 0};
#ifdef ADAMW_AVX512
    job.use_avx512 = __builtin_cpu_supports("avx512f");
#endif
    /* The per-step scalars are computed in double, as PyTorch does in Python. */
    job.decay_factor = (float)(1.0 - (double)lr * weight_decay);
    job.step_size = (float)(lr / (1.0 - pow(beta1, step)));
    job.sqrt_correction2 = (float)sqrt(1.0 - pow(beta2, step));
    /* Chunks of at least 64k elements (1 MB of traffic), a few per thread to even out. */
    job.n_tasks = task_count(n, 65536, 4);
    pool_run(job.n_tasks, adamw_task, &job);
}
