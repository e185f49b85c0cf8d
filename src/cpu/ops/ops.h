/* The element-wise and reduction layers of GPT-2 on the CPU, each forward next to its backward.
 * Shapes follow llm.c: N = B*T positions, C channels, NH heads, hs = C/NH, V real vocabulary,
 * Vp padded vocabulary. Backward functions ACCUMULATE (+=) into their gradient outputs, except
 * where a comment says "writes". All ops use the thread pool and are deterministic for a given
 * thread count: every output element is produced by one task with a fixed summation order.
 * Matmuls are not here: they go through the rung registry (cpu/matmul/matmul.h). */
#ifndef CGPT_OPS_H
#define CGPT_OPS_H

#include <stdint.h>

/* out[B,T,C] = wte[tokens[b,t], :] + wpe[t, :]  (writes) */
void encoder_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                     int B, int T, int C);
/* dwte[token,:] += dout[b,t,:]; dwpe[t,:] += dout[b,t,:] */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                      int B, int T, int C);

/* out[N,C] = (inp - mean) * rstd * weight + bias, eps 1e-5, biased variance (writes out, mean[N],
 * rstd[N]; mean and rstd are kept for the backward pass) */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C);
/* dinp[N,C] +=, dweight[C] +=, dbias[C] += */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C);

/* Causal self-attention. qkv[B,T,3C] holds q, k, v side by side (q = qkv[..., 0:C], k = [C:2C],
 * v = [2C:3C]), head h using channels [h*hs, (h+1)*hs) of each. Writes out[B,T,C] and
 * att[B,NH,T,T], the softmax probabilities (scale 1/sqrt(hs); entries above the diagonal are 0),
 * which the backward pass needs. */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
/* dqkv[B,T,3C] += ; scratch[B,NH,T,T] is workspace (overwritten). */
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, int B, int T, int C, int NH);

/* One new position of causal attention for generation with a key/value cache.
 * q[C] is the new position's query; k_cache and v_cache are [max_T, C] per sequence and already
 * hold positions 0..pos (the new one included). Writes out[C]. scratch holds pos+1 floats per head
 * ([NH, pos+1]). */
void attention_forward_cached(float *out, float *scratch, const float *q, const float *k_cache,
                              const float *v_cache, int pos, int C, int NH);

/* GELU, tanh approximation (GPT-2's "gelu_new"): out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * (writes) */
void gelu_forward(float *out, const float *inp, long n);
/* dinp = dout * gelu'(inp) (written: the GELU is the only consumer of its input) */
void gelu_backward(float *dinp, const float *inp, const float *dout, long n);

/* out = a + b (writes) */
void residual_forward(float *out, const float *a, const float *b, long n);
/* da += dout; db += dout */
void residual_backward(float *da, float *db, const float *dout, long n);

/* Fused softmax + cross-entropy (+ gradient). logits[N,Vp]; only the first V columns are real.
 * Writes losses[N] = -log softmax(logits[n, :V])[targets[n]].
 * If grad_scale != 0, overwrites logits in place with the gradient of grad_scale * loss:
 * dlogits[n,v] = grad_scale * (softmax[v] - (v == target)) for v < V, and 0 for the padded
 * columns V..Vp-1; no separate probabilities buffer. Targets must be in [0, V). */
void crossentropy_forward_backward(float *losses, float *logits, const int32_t *targets, int N, int V,
                                   int Vp, float grad_scale);

/* Sum of squares of x[n], computed in double in fixed-size chunks combined in order, so the
 * result does not depend on the thread count. */
double sum_of_squares(const float *x, long n);
/* Sum of squares of rows rows[0..count) of x (cols floats a row), in double, in list order, on
 * the calling thread (for a batch's few hundred token rows of the embedding gradient). */
double sum_of_squares_of_rows(const float *x, long cols, const int32_t *rows, long count);

/* AdamW as torch.optim.AdamW (decoupled weight decay):
 *   g = grads[i] * grad_scale;  m = beta1 m + (1-beta1) g;  v = beta2 v + (1-beta2) g^2
 *   m_hat = m / (1 - beta1^step);  v_hat = v / (1 - beta2^step)
 *   param -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * param)
 * step counts from 1. grad_scale carries gradient clipping (1 when off). grads is only read: it is
 * not zeroed (the model's next backward pass writes the gradients afresh). */
void adamw_update(float *params, const float *grads, float *m, float *v, long n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int step, float grad_scale);

/* Sets x[n] to zero, threaded (for activation gradients). */
void zero_floats(float *x, long n);

#endif
