/* GPT-2: parameters, gradients, AdamW moments and activations laid out in flat arrays, and the
 * sequencing of the layers forward and backward. The model never loops over elements itself: the
 * element work is in the ops (cpu/ops/ops.h) and the matmuls go through the chosen rung. */
#ifndef CGPT_GPT2_H
#define CGPT_GPT2_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/matmul/matmul.h"
#include "model/config.h"
#include "util/error.h"
#include "util/rng.h"

/* Views into the flat parameter (or gradient) array, one pointer per tensor of config.h. */
typedef struct {
    float *tensor[NUM_PARAM_TENSORS];
} ParamViews;

/* What the forward pass keeps for the backward pass, for a batch of B sequences of T tokens
 * (N = B*T positions). Per-layer arrays hold all L layers back to back. */
typedef struct {
    float *encoded;        /* [N, C]   token + position embeddings */
    float *ln1;            /* [L, N, C] */
    float *ln1_mean;       /* [L, N] */
    float *ln1_rstd;       /* [L, N] */
    float *qkv;            /* [L, N, 3C] */
    float *attention_out;  /* [L, N, C]  attention output before its projection */
    float *attention_prob; /* [L, B, NH, T, T] softmax probabilities */
    float *residual2;      /* [L, N, C]  residual stream after the attention block */
    float *ln2;            /* [L, N, C] */
    float *ln2_mean;       /* [L, N] */
    float *ln2_rstd;       /* [L, N] */
    float *fc;             /* [L, N, 4C] MLP hidden layer before GELU */
    float *fc_gelu;        /* [L, N, 4C] after GELU */
    float *residual3;      /* [L, N, C]  residual stream after the MLP block = layer output */
    float *lnf;            /* [N, C] */
    float *lnf_mean;       /* [N] */
    float *lnf_rstd;       /* [N] */
    float *logits;         /* [N, Vp]  holds d(loss)/d(logits) after the backward pass */
    float *losses;         /* [N] per-position cross-entropy */
    float *projection;     /* [N, C]  scratch: output of a projection before the residual add */
} Activations;

/* Gradient buffers for activations. The backward pass runs layer by layer, so these hold one
 * layer at a time instead of L copies. */
typedef struct {
    float *residual;       /* [N, C]  gradient of the residual stream, carried down the layers */
    float *normed;         /* [N, C]  gradient of a layernorm output or of the attention output */
    float *qkv;            /* [N, 3C] */
    float *fc;             /* [N, 4C] */
    float *fc_gelu;        /* [N, 4C] */
    float *attention;      /* [B, NH, T, T] scratch for the attention backward */
} ActivationGrads;

/* Key/value cache for generating one sequence a position at a time. */
typedef struct {
    int capacity;          /* positions allocated (<= max_seq_len) */
    float *keys, *values;  /* [L, capacity, C] */
    float *x, *normed, *qkv, *attention_out, *projection, *fc; /* scratch for one position */
    float *scores;         /* [NH, capacity] */
    float *logits;         /* [Vp] */
} KVCache;

/* Where a training step's time goes, op by op (cgpt bench --breakdown). While model->profile
 * points to one, the forward and backward passes and the update add the wall time of each op they
 * run to its class. */
typedef enum {
    STEP_MATMUL, STEP_ENCODER, STEP_LAYERNORM, STEP_ATTENTION, STEP_GELU, STEP_RESIDUAL, STEP_CROSSENTROPY,
    STEP_ZEROING, STEP_GRAD_NORM, STEP_ADAMW, STEP_CHECKS, STEP_OP_COUNT
} StepOp;
extern const char *const step_op_names[STEP_OP_COUNT];
typedef struct {
    double seconds[STEP_OP_COUNT]; /* summed over every profiled step */
    double last_mark;              /* when the previous op ended */
} StepProfile;

typedef struct {
    GPT2Config config;
    size_t param_sizes[NUM_PARAM_TENSORS];
    size_t num_params;
    float *params;         /* [num_params] */
    ParamViews weights;
    float *grads;          /* [num_params], allocated by gpt2_enable_training */
    ParamViews gradients;
    float *adam_m, *adam_v;/* AdamW moments, allocated by gpt2_enable_training */
    int grads_fresh;       /* nothing added to grads since gpt2_enable_training or gpt2_update: the
                            * next backward pass writes them instead of adding (nothing zeroes them) */
    int grad_squares_ready;/* grad_squares = sum of squares of grads, summed by the last backward pass */
    double grad_squares;
    const MatmulRung *matmul;
    StepProfile *profile;  /* NULL, or where each op's time in a step is added */

    int batch_size, seq_len; /* shape the activations were allocated for (0 = none yet) */
    Activations acts;
    ActivationGrads dacts;
    int32_t *inputs, *targets; /* [N] copies of the current batch */
    int32_t *distinct_inputs;  /* [N] scratch: the batch's distinct token ids (the gradient norm) */
    float mean_loss;        /* of the last forward pass with targets; -1 if none */
    KVCache cache;
} GPT2;

/* A model with random GPT-2 initialisation: normal(0, 0.02), residual output projections scaled
 * by 1/sqrt(2 * layers), biases zero, layernorm weights one, padded vocabulary rows zero. */
int gpt2_init_random(GPT2 *model, const GPT2Config *config, uint64_t seed, Error *err);
/* A model whose parameters are copied from params (num_params floats). */
int gpt2_init_from_params(GPT2 *model, const GPT2Config *config, const float *params, Error *err);
/* Takes ownership of a malloc'ed parameter array (avoids a 500 MB copy when loading). */
int gpt2_init_take_params(GPT2 *model, const GPT2Config *config, float *params, Error *err);
void gpt2_free(GPT2 *model);
/* Allocates gradients and AdamW moments (zeroed). */
int gpt2_enable_training(GPT2 *model, Error *err);

/* Forward pass over inputs[B*T]. With targets (may be NULL), fills acts.losses and mean_loss.
 * T must not exceed config.max_seq_len and every id must be < vocab_size (checked: status 2). */
int gpt2_forward(GPT2 *model, const int32_t *inputs, const int32_t *targets, int B, int T, Error *err);
/* Forward and backward passes, ACCUMULATING into model->grads the gradient of loss_scale times
 * the mean loss (1 for a plain step, 1/accum_steps for gradient accumulation), starting from zero
 * after gpt2_enable_training or gpt2_update (that first pass writes the gradients, never reading
 * the old ones). last_micro_step: 1 on the last pass before gpt2_update (on every pass without
 * accumulation); that pass also sums the squares of each gradient as soon as it is final, so that
 * gpt2_grad_norm needs no pass of its own. Needs gpt2_enable_training. Leaves acts.losses and
 * mean_loss as gpt2_forward does. */
int gpt2_forward_backward(GPT2 *model, const int32_t *inputs, const int32_t *targets, int B, int T,
                          float loss_scale, int last_micro_step, Error *err);
/* The gradient norm ||grads||_2 (before clipping): from the sums of the last backward pass when it
 * was a last micro-step, else from a pass over all gradients. */
float gpt2_grad_norm(const GPT2 *model);
/* One AdamW step (step counts from 1); clips the gradient to grad_clip when grad_clip > 0 and
 * its norm is larger. grad_norm is the value from gpt2_grad_norm. The gradients restart from zero:
 * grads still holds the ones just applied, but the next gpt2_forward_backward overwrites them. */
void gpt2_update(GPT2 *model, float lr, float beta1, float beta2, float eps, float weight_decay,
                 float grad_clip, float grad_norm, int step);

/* Generation with a key/value cache: feeds token at position pos (0-based; positions must come
 * in order from 0) and returns the logits [Vp] for the next token (valid until the next call).
 * Each call costs one position, not a whole forward pass. */
const float *gpt2_decode_step(GPT2 *model, int token, int pos, Error *err);

/* FLOPs of one training step (forward + backward) at B, T: 6 * params-in-matmuls * B*T plus
 * attention; used for GFLOP/s figures. */
double gpt2_training_flops(const GPT2Config *config, int B, int T);

#endif
