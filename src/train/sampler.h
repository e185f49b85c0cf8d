/* Sampling text from a model: temperature and top-k over the next-token distribution, and a
 * generation loop over the key/value-cached decoder. */
#ifndef CGPT_SAMPLER_H
#define CGPT_SAMPLER_H

#include <stdint.h>

#include "model/gpt2.h"
#include "util/rng.h"

typedef struct {
    float temperature; /* 0 = greedy (argmax) */
    int top_k;         /* 0 = whole vocabulary */
} SamplingOptions;

/* Picks a token id from logits[0..V). */
int sample_token(const float *logits, int V, const SamplingOptions *options, Rng *rng);

/* Called with each generated token; return non-zero to stop early. */
typedef int (*TokenCallback)(void *context, int token);

/* Feeds prompt[0..prompt_len) through the cached decoder, then samples up to max_new tokens
 * (fewer if the context fills up or the callback stops). Returns the number generated, -1 on error. */
int generate_tokens(GPT2 *model, const int32_t *prompt, int prompt_len, int max_new, const SamplingOptions *options,
                    Rng *rng, TokenCallback callback, void *context, Error *err);

#endif
