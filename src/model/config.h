/* GPT-2's shape (GPT2Config) and the layout of its parameters in one flat fp32 array, in the order
 * llm.c's checkpoint stores them. Everything that reads or writes parameters goes through this. */
#ifndef CGPT_CONFIG_H
#define CGPT_CONFIG_H

#include <stddef.h>

typedef struct {
    int max_seq_len;        /* maximum T (1024 for GPT-2) */
    int vocab_size;         /* real vocabulary, 50257 */
    int padded_vocab_size;  /* vocabulary rows in memory, 50304 (a multiple of 128 for GPT-2) */
    int num_layers;
    int num_heads;
    int channels;
} GPT2Config;

/* The 16 parameter tensors, in llm.c's order. */
enum {
    PARAM_WTE,       /* [Vp, C]   token embedding, also the output head */
    PARAM_WPE,       /* [maxT, C] position embedding */
    PARAM_LN1_W,     /* [L, C] */
    PARAM_LN1_B,     /* [L, C] */
    PARAM_QKV_W,     /* [L, 3C, C] */
    PARAM_QKV_B,     /* [L, 3C] */
    PARAM_ATTPROJ_W, /* [L, C, C] */
    PARAM_ATTPROJ_B, /* [L, C] */
    PARAM_LN2_W,     /* [L, C] */
    PARAM_LN2_B,     /* [L, C] */
    PARAM_FC_W,      /* [L, 4C, C] */
    PARAM_FC_B,      /* [L, 4C] */
    PARAM_FCPROJ_W,  /* [L, C, 4C] */
    PARAM_FCPROJ_B,  /* [L, C] */
    PARAM_LNF_W,     /* [C] */
    PARAM_LNF_B,     /* [C] */
    NUM_PARAM_TENSORS
};

/* Element count of each tensor; returns the total. */
size_t gpt2_param_sizes(const GPT2Config *config, size_t sizes[NUM_PARAM_TENSORS]);
size_t gpt2_num_params(const GPT2Config *config);
const char *gpt2_param_name(int tensor);

/* Named configs: "d6", "d12" (GPT-2 124M), "d24", "d36", "d48". Returns 0, or -1 if unknown.
 * All use vocab 50257 padded to 50304 and max_seq_len 1024. */
int gpt2_config_by_name(const char *name, GPT2Config *config);
/* Checks that a config is usable (positive sizes, channels divisible by heads, padded >= real
 * vocabulary, sizes below sane limits). Returns NULL if fine, else a reason. */
const char *gpt2_config_problem(const GPT2Config *config);

#endif
