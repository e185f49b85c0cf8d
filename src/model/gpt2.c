/* GPT-2 forward and backward sequencing, initialisation, AdamW step and cached decoding.
 * Layer math lives in cpu/ops; matrix products go through model->matmul (the chosen rung). */
#include "model/gpt2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ops/ops.h"
#include "util/bigmem.h"
#include "util/timer.h"

const char *const step_op_names[STEP_OP_COUNT] = {
    "matmul", "encoder", "layernorm", "attention", "gelu", "residual", "crossentropy",
    "zeroing", "grad norm", "adamw", "checks",
};

/* Profiling (model->profile): the time since the previous mark belongs to the op that just ended.
 * profile_start opens a stretch of work without charging the time before it to anything. */
static void profile_start(const GPT2 *model) {
    if (model->profile) model->profile->last_mark = now_seconds();
}
static void mark(const GPT2 *model, StepOp op) {
    if (!model->profile) return;
    double now = now_seconds();
    model->profile->seconds[op] += now - model->profile->last_mark;
    model->profile->last_mark = now;
}

/* ---------------------------------------------------------------- memory layout */

static void *aligned_floats(size_t count) { return big_alloc(count * sizeof(float)); }

static void point_views(ParamViews *views, float *base, const size_t sizes[NUM_PARAM_TENSORS]) {
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        views->tensor[i] = base;
        base += sizes[i];
    }
}

static int setup_layout(GPT2 *model, const GPT2Config *config, Error *err) {
    const char *problem = gpt2_config_problem(config);
    if (problem) return error_set(err, EXIT_BAD_INPUT, "invalid model config: %s", problem);
    memset(model, 0, sizeof *model);
    model->config = *config;
    model->num_params = gpt2_param_sizes(config, model->param_sizes);
    model->matmul = matmul_auto();
    model->mean_loss = -1.0f;
    return 0;
}

int gpt2_init_take_params(GPT2 *model, const GPT2Config *config, float *params, Error *err) {
    if (setup_layout(model, config, err)) return -1;
    model->params = params;
    point_views(&model->weights, model->params, model->param_sizes);
    return 0;
}

int gpt2_init_from_params(GPT2 *model, const GPT2Config *config, const float *params, Error *err) {
    if (setup_layout(model, config, err)) return -1;
    model->params = aligned_floats(model->num_params);
    if (!model->params) return error_set(err, EXIT_RUNTIME, "out of memory for %zu parameters", model->num_params);
    memcpy(model->params, params, model->num_params * sizeof(float));
    point_views(&model->weights, model->params, model->param_sizes);
    return 0;
}

int gpt2_init_random(GPT2 *model, const GPT2Config *config, uint64_t seed, Error *err) {
    if (setup_layout(model, config, err)) return -1;
    model->params = aligned_floats(model->num_params);
    if (!model->params) return error_set(err, EXIT_RUNTIME, "out of memory for %zu parameters", model->num_params);
    point_views(&model->weights, model->params, model->param_sizes);
    const size_t *sizes = model->param_sizes;
    float **w = model->weights.tensor;
    const float std = 0.02f, residual_std = 0.02f / sqrtf(2.0f * (float)config->num_layers);
    Rng rng;
    rng_seed(&rng, seed);
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
        switch (t) {
        case PARAM_WTE: /* only the real vocabulary rows; the padding rows stay zero forever */
            rng_fill_normal(&rng, w[t], (long)config->vocab_size * config->channels, 0.0f, std);
            memset(w[t] + (size_t)config->vocab_size * config->channels, 0,
                   (sizes[t] - (size_t)config->vocab_size * config->channels) * sizeof(float));
            break;
        case PARAM_WPE: case PARAM_QKV_W: case PARAM_FC_W:
            rng_fill_normal(&rng, w[t], (long)sizes[t], 0.0f, std);
            break;
        case PARAM_ATTPROJ_W: case PARAM_FCPROJ_W:
            rng_fill_normal(&rng, w[t], (long)sizes[t], 0.0f, residual_std);
            break;
        case PARAM_LN1_W: case PARAM_LN2_W: case PARAM_LNF_W:
            for (size_t i = 0; i < sizes[t]; i++) w[t][i] = 1.0f;
            break;
        default: /* biases */
            memset(w[t], 0, sizes[t] * sizeof(float));
        }
    }
    return 0;
}

int gpt2_enable_training(GPT2 *model, Error *err) {
    if (model->grads) return 0;
    model->grads = aligned_floats(model->num_params);
    model->adam_m = aligned_floats(model->num_params);
    model->adam_v = aligned_floats(model->num_params);
    if (!model->grads || !model->adam_m || !model->adam_v)
        return error_set(err, EXIT_RUNTIME, "out of memory for gradients and optimizer state (%zu parameters)",
                         model->num_params);
    zero_floats(model->grads, (long)model->num_params);
    zero_floats(model->adam_m, (long)model->num_params);
    zero_floats(model->adam_v, (long)model->num_params);
    point_views(&model->gradients, model->grads, model->param_sizes);
    model->grads_fresh = 1;
    return 0;
}

static void free_activations(GPT2 *model) {
    float **a = (float **)&model->acts;
    for (size_t i = 0; i < sizeof model->acts / sizeof(float *); i++) free(a[i]);
    float **d = (float **)&model->dacts;
    for (size_t i = 0; i < sizeof model->dacts / sizeof(float *); i++) free(d[i]);
    free(model->inputs);
    free(model->targets);
    free(model->distinct_inputs);
    memset(&model->acts, 0, sizeof model->acts);
    memset(&model->dacts, 0, sizeof model->dacts);
    model->inputs = model->targets = model->distinct_inputs = NULL;
    model->batch_size = model->seq_len = 0;
}

static void free_cache(KVCache *cache) {
    free(cache->keys); free(cache->values); free(cache->x); free(cache->normed); free(cache->qkv);
    free(cache->attention_out); free(cache->projection); free(cache->fc); free(cache->scores);
    free(cache->logits);
    memset(cache, 0, sizeof *cache);
}

void gpt2_free(GPT2 *model) {
    free_activations(model);
    free_cache(&model->cache);
    free(model->params);
    free(model->grads);
    free(model->adam_m);
    free(model->adam_v);
    memset(model, 0, sizeof *model);
}

/* (Re)allocates activations when the batch shape changes. The gradient buffers are allocated
 * with them once training is enabled. */
static int ensure_activations(GPT2 *model, int B, int T, Error *err) {
    if (model->batch_size == B && model->seq_len == T && (model->dacts.residual || !model->grads)) return 0;
    free_activations(model);
    const GPT2Config *c = &model->config;
    size_t N = (size_t)B * T, C = c->channels, L = c->num_layers, NH = c->num_heads, Vp = c->padded_vocab_size;
    Activations *a = &model->acts;
    struct { float **slot; size_t count; } plan[] = {
        {&a->encoded, N * C}, {&a->ln1, L * N * C}, {&a->ln1_mean, L * N}, {&a->ln1_rstd, L * N},
        {&a->qkv, L * N * 3 * C}, {&a->attention_out, L * N * C}, {&a->attention_prob, L * B * NH * T * T},
        {&a->residual2, L * N * C}, {&a->ln2, L * N * C}, {&a->ln2_mean, L * N}, {&a->ln2_rstd, L * N},
        {&a->fc, L * N * 4 * C}, {&a->fc_gelu, L * N * 4 * C}, {&a->residual3, L * N * C},
        {&a->lnf, N * C}, {&a->lnf_mean, N}, {&a->lnf_rstd, N}, {&a->logits, N * Vp}, {&a->losses, N},
        {&a->projection, N * C},
        {&model->dacts.residual, model->grads ? N * C : 0}, {&model->dacts.normed, model->grads ? N * C : 0},
        {&model->dacts.qkv, model->grads ? N * 3 * C : 0}, {&model->dacts.fc, model->grads ? N * 4 * C : 0},
        {&model->dacts.fc_gelu, model->grads ? N * 4 * C : 0},
        {&model->dacts.attention, model->grads ? B * NH * T * T : 0},
    };
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        if (plan[i].count == 0) continue;
        *plan[i].slot = aligned_floats(plan[i].count);
        if (!*plan[i].slot) {
            free_activations(model);
            return error_set(err, EXIT_RUNTIME, "out of memory for activations at B=%d, T=%d", B, T);
        }
    }
    model->inputs = malloc(N * sizeof(int32_t));
    model->targets = malloc(N * sizeof(int32_t));
    model->distinct_inputs = malloc(N * sizeof(int32_t));
    if (!model->inputs || !model->targets || !model->distinct_inputs) {
        free_activations(model);
        return error_set(err, EXIT_RUNTIME, "out of memory for a batch of B=%d, T=%d", B, T);
    }
    model->batch_size = B;
    model->seq_len = T;
    return 0;
}

/* ---------------------------------------------------------------- forward */

/* The forward pass. With targets and a non-zero gradient_scale, the cross-entropy also writes the
 * gradient of gradient_scale * (sum of losses) over the logits, ready for the backward pass: one
 * pass over the [N, Vp] logits instead of two. */
static int forward(GPT2 *model, const int32_t *inputs, const int32_t *targets, int B, int T,
                   float gradient_scale, Error *err) {
    const GPT2Config *c = &model->config;
    profile_start(model);
    if (B <= 0 || T <= 0) return error_set(err, EXIT_BAD_INPUT, "batch size and sequence length must be positive");
    if (T > c->max_seq_len)
        return error_set(err, EXIT_BAD_INPUT, "sequence length %d exceeds the model's maximum of %d", T, c->max_seq_len);
    for (long i = 0; i < (long)B * T; i++) {
        if (inputs[i] < 0 || inputs[i] >= c->vocab_size)
            return error_set(err, EXIT_BAD_INPUT, "token id %d at position %ld is outside the vocabulary [0, %d)",
                             inputs[i], i, c->vocab_size);
        if (targets && (targets[i] < 0 || targets[i] >= c->vocab_size))
            return error_set(err, EXIT_BAD_INPUT, "target id %d at position %ld is outside the vocabulary [0, %d)",
                             targets[i], i, c->vocab_size);
    }
    if (ensure_activations(model, B, T, err)) return -1;

    const int N = B * T, C = c->channels, L = c->num_layers, NH = c->num_heads, Vp = c->padded_vocab_size;
    const MatmulRung *mm = model->matmul;
    float **w = model->weights.tensor;
    Activations *a = &model->acts;
    memcpy(model->inputs, inputs, (size_t)N * sizeof(int32_t));
    if (targets) memcpy(model->targets, targets, (size_t)N * sizeof(int32_t));
    mark(model, STEP_CHECKS);

    encoder_forward(a->encoded, inputs, w[PARAM_WTE], w[PARAM_WPE], B, T, C);
    mark(model, STEP_ENCODER);
    for (int l = 0; l < L; l++) {
        const float *residual = l == 0 ? a->encoded : a->residual3 + (size_t)(l - 1) * N * C;
        float *ln1 = a->ln1 + (size_t)l * N * C, *qkv = a->qkv + (size_t)l * N * 3 * C;
        float *att_out = a->attention_out + (size_t)l * N * C;
        float *att_prob = a->attention_prob + (size_t)l * B * NH * T * T;
        float *residual2 = a->residual2 + (size_t)l * N * C, *ln2 = a->ln2 + (size_t)l * N * C;
        float *fc = a->fc + (size_t)l * N * 4 * C, *fc_gelu = a->fc_gelu + (size_t)l * N * 4 * C;
        float *residual3 = a->residual3 + (size_t)l * N * C;

        /* attention block: x + proj(attention(ln1(x))) */
        layernorm_forward(ln1, a->ln1_mean + (size_t)l * N, a->ln1_rstd + (size_t)l * N, residual,
                          w[PARAM_LN1_W] + (size_t)l * C, w[PARAM_LN1_B] + (size_t)l * C, N, C);
        mark(model, STEP_LAYERNORM);
        mm->forward(qkv, ln1, w[PARAM_QKV_W] + (size_t)l * 3 * C * C, w[PARAM_QKV_B] + (size_t)l * 3 * C, N, 3 * C, C);
        mark(model, STEP_MATMUL);
        attention_forward(att_out, att_prob, qkv, B, T, C, NH);
        mark(model, STEP_ATTENTION);
        mm->forward(a->projection, att_out, w[PARAM_ATTPROJ_W] + (size_t)l * C * C, w[PARAM_ATTPROJ_B] + (size_t)l * C,
                    N, C, C);
        mark(model, STEP_MATMUL);
        residual_forward(residual2, residual, a->projection, (long)N * C);
        mark(model, STEP_RESIDUAL);

        /* MLP block: x + proj(gelu(fc(ln2(x)))) */
        layernorm_forward(ln2, a->ln2_mean + (size_t)l * N, a->ln2_rstd + (size_t)l * N, residual2,
                          w[PARAM_LN2_W] + (size_t)l * C, w[PARAM_LN2_B] + (size_t)l * C, N, C);
        mark(model, STEP_LAYERNORM);
        mm->forward(fc, ln2, w[PARAM_FC_W] + (size_t)l * 4 * C * C, w[PARAM_FC_B] + (size_t)l * 4 * C, N, 4 * C, C);
        mark(model, STEP_MATMUL);
        gelu_forward(fc_gelu, fc, (long)N * 4 * C);
        mark(model, STEP_GELU);
        mm->forward(a->projection, fc_gelu, w[PARAM_FCPROJ_W] + (size_t)l * C * 4 * C,
                    w[PARAM_FCPROJ_B] + (size_t)l * C, N, C, 4 * C);
        mark(model, STEP_MATMUL);
        residual_forward(residual3, residual2, a->projection, (long)N * C);
        mark(model, STEP_RESIDUAL);
    }
    const float *last = a->residual3 + (size_t)(L - 1) * N * C;
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, w[PARAM_LNF_W], w[PARAM_LNF_B], N, C);
    mark(model, STEP_LAYERNORM);
    /* the output head is tied to the token embedding */
    mm->forward(a->logits, a->lnf, w[PARAM_WTE], NULL, N, Vp, C);
    mark(model, STEP_MATMUL);

    if (targets) {
        crossentropy_forward_backward(a->losses, a->logits, targets, N, c->vocab_size, Vp, gradient_scale);
        double sum = 0;
        for (int i = 0; i < N; i++) sum += a->losses[i];
        model->mean_loss = (float)(sum / N);
        mark(model, STEP_CROSSENTROPY);
    } else {
        model->mean_loss = -1.0f;
    }
    return 0;
}

/* ---------------------------------------------------------------- backward */

int gpt2_forward(GPT2 *model, const int32_t *inputs, const int32_t *targets, int B, int T, Error *err) {
    return forward(model, inputs, targets, B, T, 0.0f, err);
}

/* The gradients that backward_weight produces (and so can write instead of add to); the others are
 * sums that ops add into. */
static int written_by_backward_weight(int tensor) {
    return tensor == PARAM_WTE || tensor == PARAM_QKV_W || tensor == PARAM_ATTPROJ_W || tensor == PARAM_FC_W ||
           tensor == PARAM_FCPROJ_W;
}

/* Backward of a linear layer out[M,N] = inp[M,K] . weight[N,K]^T + bias: writes dinp, writes dweight
 * (accumulate = 0) or adds to it, adds to dbias (when bias exists). With weight_squares, dweight is
 * final after this call: the rung sums its squares as it stores it (no second pass over the
 * gradient), and they are added to *weight_squares. */
static void linear_backward(const GPT2 *model, float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int M, int N, int K, int accumulate,
                            double *weight_squares) {
    const MatmulRung *mm = model->matmul;
    double squares = 0.0;
    mm->backward_input(dinp, dout, weight, M, N, K);
    mm->backward_weight(dweight, dout, inp, M, N, K, accumulate, weight_squares ? &squares : NULL);
    if (weight_squares) *weight_squares += squares;
    if (dbias) (mm->backward_bias ? mm->backward_bias : matmul_backward_bias)(dbias, dout, M, N);
    mark(model, STEP_MATMUL);
}

static int compare_ints(const void *a, const void *b) {
    int x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The distinct ids of tokens[0..n) into distinct (ascending); returns how many. */
static int distinct_tokens(const int32_t *tokens, int n, int32_t *distinct) {
    memcpy(distinct, tokens, sizeof(int32_t) * (size_t)n);
    qsort(distinct, (size_t)n, sizeof(int32_t), compare_ints);
    int count = 0;
    for (int i = 0; i < n; i++)
        if (count == 0 || distinct[i] != distinct[count - 1]) distinct[count++] = distinct[i];
    return count;
}

/* The backward pass of a forward that wrote the logits' gradient. On the last micro-step it also
 * sums the squares of the gradients, each as soon as it is final, always in the same order (so the
 * norm does not depend on the thread count). */
static void backward(GPT2 *model, int last_micro_step) {
    const GPT2Config *c = &model->config;
    const int B = model->batch_size, T = model->seq_len, N = B * T;
    const int C = c->channels, L = c->num_layers, NH = c->num_heads, Vp = c->padded_vocab_size;
    float **w = model->weights.tensor, **g = model->gradients.tensor;
    Activations *a = &model->acts;
    ActivationGrads *d = &model->dacts;
    profile_start(model);

    /* The first pass since the last update writes the gradients rather than adding to stale ones:
     * backward_weight overwrites the weight matrices, and the small tensors that ops add into
     * (biases, layernorms, wpe: a few MB) are zeroed here. Nothing zeroes the whole 0.5 GB. */
    const int accumulate = !model->grads_fresh;
    if (!accumulate)
        for (int t = 0; t < NUM_PARAM_TENSORS; t++)
            if (!written_by_backward_weight(t)) zero_floats(g[t], (long)model->param_sizes[t]);
    mark(model, STEP_ZEROING);
    double squares = 0.0, *weight_squares = last_micro_step ? &squares : NULL;

    float *dlogits = a->logits; /* the forward pass wrote the gradient over the logits */

    /* the tied wte: written here first (its squares summed by the rung as for the layers), then
     * encoder_backward adds to the rows of the batch's tokens, whose squares are taken out before
     * and put back after (154 MB not read again) */
    double wte_squares = 0.0;
    linear_backward(model, d->normed, g[PARAM_WTE], NULL, dlogits, a->lnf, w[PARAM_WTE], N, Vp, C, accumulate,
                    last_micro_step ? &wte_squares : NULL);
    zero_floats(d->residual, (long)N * C);
    mark(model, STEP_ZEROING);
    const float *last = a->residual3 + (size_t)(L - 1) * N * C;
    layernorm_backward(d->residual, g[PARAM_LNF_W], g[PARAM_LNF_B], d->normed, last, w[PARAM_LNF_W], a->lnf_mean,
                       a->lnf_rstd, N, C);
    mark(model, STEP_LAYERNORM);

    for (int l = L - 1; l >= 0; l--) {
        const float *residual = l == 0 ? a->encoded : a->residual3 + (size_t)(l - 1) * N * C;
        const float *ln1 = a->ln1 + (size_t)l * N * C, *qkv = a->qkv + (size_t)l * N * 3 * C;
        const float *att_out = a->attention_out + (size_t)l * N * C;
        const float *att_prob = a->attention_prob + (size_t)l * B * NH * T * T;
        const float *residual2 = a->residual2 + (size_t)l * N * C, *ln2 = a->ln2 + (size_t)l * N * C;
        const float *fc = a->fc + (size_t)l * N * 4 * C, *fc_gelu = a->fc_gelu + (size_t)l * N * 4 * C;

        /* MLP block. d->residual holds d(loss)/d(residual3); the residual connection passes it
         * unchanged to residual2, and the MLP branch adds its part below. */
        linear_backward(model, d->fc_gelu, g[PARAM_FCPROJ_W] + (size_t)l * C * 4 * C, g[PARAM_FCPROJ_B] + (size_t)l * C,
                        d->residual, fc_gelu, w[PARAM_FCPROJ_W] + (size_t)l * C * 4 * C, N, C, 4 * C, accumulate,
                        weight_squares);
        gelu_backward(d->fc, fc, d->fc_gelu, (long)N * 4 * C);
        mark(model, STEP_GELU);
        linear_backward(model, d->normed, g[PARAM_FC_W] + (size_t)l * 4 * C * C, g[PARAM_FC_B] + (size_t)l * 4 * C, d->fc,
                        ln2, w[PARAM_FC_W] + (size_t)l * 4 * C * C, N, 4 * C, C, accumulate, weight_squares);
        layernorm_backward(d->residual, g[PARAM_LN2_W] + (size_t)l * C, g[PARAM_LN2_B] + (size_t)l * C, d->normed,
                           residual2, w[PARAM_LN2_W] + (size_t)l * C, a->ln2_mean + (size_t)l * N,
                           a->ln2_rstd + (size_t)l * N, N, C);
        mark(model, STEP_LAYERNORM);

        /* attention block; d->residual now holds d(loss)/d(residual2) */
        linear_backward(model, d->normed, g[PARAM_ATTPROJ_W] + (size_t)l * C * C, g[PARAM_ATTPROJ_B] + (size_t)l * C,
                        d->residual, att_out, w[PARAM_ATTPROJ_W] + (size_t)l * C * C, N, C, C, accumulate,
                        weight_squares);
        zero_floats(d->qkv, (long)N * 3 * C);
        mark(model, STEP_ZEROING);
        attention_backward(d->qkv, d->attention, d->normed, qkv, att_prob, B, T, C, NH);
        mark(model, STEP_ATTENTION);
        linear_backward(model, d->normed, g[PARAM_QKV_W] + (size_t)l * 3 * C * C, g[PARAM_QKV_B] + (size_t)l * 3 * C,
                        d->qkv, ln1, w[PARAM_QKV_W] + (size_t)l * 3 * C * C, N, 3 * C, C, accumulate, weight_squares);
        layernorm_backward(d->residual, g[PARAM_LN1_W] + (size_t)l * C, g[PARAM_LN1_B] + (size_t)l * C, d->normed,
                           residual, w[PARAM_LN1_W] + (size_t)l * C, a->ln1_mean + (size_t)l * N,
                           a->ln1_rstd + (size_t)l * N, N, C);
        mark(model, STEP_LAYERNORM);
    }
    int distinct = last_micro_step ? distinct_tokens(model->inputs, N, model->distinct_inputs) : 0;
    if (last_micro_step) wte_squares -= sum_of_squares_of_rows(g[PARAM_WTE], C, model->distinct_inputs, distinct);
    mark(model, STEP_GRAD_NORM);
    encoder_backward(g[PARAM_WTE], g[PARAM_WPE], d->residual, model->inputs, B, T, C);
    mark(model, STEP_ENCODER);

    /* the rest is final now: wte's token rows and the small tensors */
    if (last_micro_step) {
        squares += wte_squares + sum_of_squares_of_rows(g[PARAM_WTE], C, model->distinct_inputs, distinct);
        for (int t = 0; t < NUM_PARAM_TENSORS; t++)
            if (!written_by_backward_weight(t)) squares += sum_of_squares(g[t], (long)model->param_sizes[t]);
    }
    mark(model, STEP_GRAD_NORM);
    model->grads_fresh = 0;
    model->grad_squares_ready = last_micro_step;
    model->grad_squares = squares;
}

int gpt2_forward_backward(GPT2 *model, const int32_t *inputs, const int32_t *targets, int B, int T,
                          float loss_scale, int last_micro_step, Error *err) {
    if (!model->grads) return error_set(err, EXIT_RUNTIME, "internal: training not enabled on this model");
    if (!targets) return error_set(err, EXIT_RUNTIME, "internal: a backward pass needs targets");
    if (forward(model, inputs, targets, B, T, loss_scale / (float)(B * T), err)) return -1;
    backward(model, last_micro_step);
    return 0;
}

float gpt2_grad_norm(const GPT2 *model) {
    if (model->grad_squares_ready) return (float)sqrt(model->grad_squares);
    return (float)sqrt(sum_of_squares(model->grads, (long)model->num_params));
}

void gpt2_update(GPT2 *model, float lr, float beta1, float beta2, float eps, float weight_decay,
                 float grad_clip, float grad_norm, int step) {
    profile_start(model);
    float scale = 1.0f;
    if (grad_clip > 0 && grad_norm > grad_clip) scale = grad_clip / grad_norm;
    adamw_update(model->params, model->grads, model->adam_m, model->adam_v, (long)model->num_params, lr, beta1,
                 beta2, eps, weight_decay, step, scale);
    mark(model, STEP_ADAMW);
    /* the gradients just applied stay in grads; the next backward pass overwrites them */
    model->grads_fresh = 1;
}

/* ---------------------------------------------------------------- cached decoding */

static int ensure_cache(GPT2 *model, Error *err) {
    KVCache *k = &model->cache;
    const GPT2Config *c = &model->config;
    if (k->keys) return 0;
    size_t C = c->channels, L = c->num_layers, cap = c->max_seq_len;
    k->capacity = (int)cap;
    k->keys = aligned_floats(L * cap * C);
    k->values = aligned_floats(L * cap * C);
    k->x = aligned_floats(C);
    k->normed = aligned_floats(C);
    k->qkv = aligned_floats(3 * C);
    k->attention_out = aligned_floats(C);
    k->projection = aligned_floats(C);
    k->fc = aligned_floats(8 * C); /* hidden layer, then its GELU in the second half */
    k->scores = aligned_floats((size_t)c->num_heads * cap);
    k->logits = aligned_floats(c->padded_vocab_size);
    if (!k->keys || !k->values || !k->x || !k->normed || !k->qkv || !k->attention_out || !k->projection ||
        !k->fc || !k->scores || !k->logits) {
        free_cache(k);
        return error_set(err, EXIT_RUNTIME, "out of memory for the key/value cache");
    }
    return 0;
}

const float *gpt2_decode_step(GPT2 *model, int token, int pos, Error *err) {
    const GPT2Config *c = &model->config;
    if (token < 0 || token >= c->vocab_size) {
        error_set(err, EXIT_BAD_INPUT, "token id %d is outside the vocabulary [0, %d)", token, c->vocab_size);
        return NULL;
    }
    if (pos < 0 || pos >= c->max_seq_len) {
        error_set(err, EXIT_BAD_INPUT, "position %d exceeds the model's maximum sequence length %d", pos,
                  c->max_seq_len);
        return NULL;
    }
    if (ensure_cache(model, err)) return NULL;
    KVCache *k = &model->cache;
    const int C = c->channels, L = c->num_layers, NH = c->num_heads, cap = k->capacity;
    const MatmulRung *mm = model->matmul;
    float **w = model->weights.tensor;
    float mean, rstd, *fc_gelu = k->fc + 4 * C;

    encoder_forward(k->x, &token, w[PARAM_WTE], w[PARAM_WPE] + (size_t)pos * C, 1, 1, C);
    for (int l = 0; l < L; l++) {
        float *keys = k->keys + (size_t)l * cap * C, *values = k->values + (size_t)l * cap * C;
        layernorm_forward(k->normed, &mean, &rstd, k->x, w[PARAM_LN1_W] + (size_t)l * C, w[PARAM_LN1_B] + (size_t)l * C,
                          1, C);
        mm->forward(k->qkv, k->normed, w[PARAM_QKV_W] + (size_t)l * 3 * C * C, w[PARAM_QKV_B] + (size_t)l * 3 * C, 1,
                    3 * C, C);
        memcpy(keys + (size_t)pos * C, k->qkv + C, (size_t)C * sizeof(float));
        memcpy(values + (size_t)pos * C, k->qkv + 2 * C, (size_t)C * sizeof(float));
        attention_forward_cached(k->attention_out, k->scores, k->qkv, keys, values, pos, C, NH);
        mm->forward(k->projection, k->attention_out, w[PARAM_ATTPROJ_W] + (size_t)l * C * C,
                    w[PARAM_ATTPROJ_B] + (size_t)l * C, 1, C, C);
        residual_forward(k->x, k->x, k->projection, C);
        layernorm_forward(k->normed, &mean, &rstd, k->x, w[PARAM_LN2_W] + (size_t)l * C, w[PARAM_LN2_B] + (size_t)l * C,
                          1, C);
        mm->forward(k->fc, k->normed, w[PARAM_FC_W] + (size_t)l * 4 * C * C, w[PARAM_FC_B] + (size_t)l * 4 * C, 1,
                    4 * C, C);
        gelu_forward(fc_gelu, k->fc, 4 * C);
        mm->forward(k->projection, fc_gelu, w[PARAM_FCPROJ_W] + (size_t)l * C * 4 * C,
                    w[PARAM_FCPROJ_B] + (size_t)l * C, 1, C, 4 * C);
        residual_forward(k->x, k->x, k->projection, C);
    }
    layernorm_forward(k->normed, &mean, &rstd, k->x, w[PARAM_LNF_W], w[PARAM_LNF_B], 1, C);
    mm->forward(k->logits, k->normed, w[PARAM_WTE], NULL, 1, c->padded_vocab_size, C);
    return k->logits;
}

double gpt2_training_flops(const GPT2Config *c, int B, int T) {
    /* matmuls: 2 flops per multiply-add, forward once and backward twice (input and weight
     * gradients) = 6 per weight per token; attention adds QK^T and AV (causal: half of T^2). */
    double N = (double)B * T, C = c->channels, L = c->num_layers;
    double matmul_weights = L * 12.0 * C * C + (double)c->padded_vocab_size * C;
    double attention = L * 2.0 * 2.0 * N * (T / 2.0) * C; /* forward: QK^T and AV, ~T/2 keys each */
    return 6.0 * matmul_weights * N + 3.0 * attention;
}
