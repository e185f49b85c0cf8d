/* GPT-2 shapes and the flat parameter layout shared by the model, checkpoints and tests. */
#include "model/config.h"

#include <string.h>

size_t gpt2_param_sizes(const GPT2Config *cfg, size_t s[NUM_PARAM_TENSORS]) {
    size_t C = cfg->channels, L = cfg->num_layers;
    s[PARAM_WTE] = (size_t)cfg->padded_vocab_size * C;
    s[PARAM_WPE] = (size_t)cfg->max_seq_len * C;
    s[PARAM_LN1_W] = L * C;
    s[PARAM_LN1_B] = L * C;
    s[PARAM_QKV_W] = L * 3 * C * C;
    s[PARAM_QKV_B] = L * 3 * C;
    s[PARAM_ATTPROJ_W] = L * C * C;
    s[PARAM_ATTPROJ_B] = L * C;
    s[PARAM_LN2_W] = L * C;
    s[PARAM_LN2_B] = L * C;
    s[PARAM_FC_W] = L * 4 * C * C;
    s[PARAM_FC_B] = L * 4 * C;
    s[PARAM_FCPROJ_W] = L * C * 4 * C;
    s[PARAM_FCPROJ_B] = L * C;
    s[PARAM_LNF_W] = C;
    s[PARAM_LNF_B] = C;
    size_t total = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) total += s[i];
    return total;
}

size_t gpt2_num_params(const GPT2Config *cfg) {
    size_t s[NUM_PARAM_TENSORS];
    return gpt2_param_sizes(cfg, s);
}

const char *gpt2_param_name(int t) {
    static const char *names[NUM_PARAM_TENSORS] = {
        "wte", "wpe", "ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias", "attproj.weight",
        "attproj.bias", "ln2.weight", "ln2.bias", "fc.weight", "fc.bias", "fcproj.weight",
        "fcproj.bias", "lnf.weight", "lnf.bias"};
    return t >= 0 && t < NUM_PARAM_TENSORS ? names[t] : "?";
}

int gpt2_config_by_name(const char *name, GPT2Config *cfg) {
    static const struct { const char *name; int layers, heads, channels; } table[] = {
        {"d6", 6, 6, 384}, {"d12", 12, 12, 768}, {"d24", 24, 16, 1024},
        {"d36", 36, 20, 1280}, {"d48", 48, 25, 1600},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) == 0) {
            cfg->max_seq_len = 1024;
            cfg->vocab_size = 50257;
            cfg->padded_vocab_size = 50304;
            cfg->num_layers = table[i].layers;
            cfg->num_heads = table[i].heads;
            cfg->channels = table[i].channels;
            return 0;
        }
    }
    return -1;
}

const char *gpt2_config_problem(const GPT2Config *c) {
    if (c->max_seq_len <= 0 || c->max_seq_len > 1 << 20) return "max_seq_len out of range";
    if (c->vocab_size <= 0 || c->vocab_size > 1 << 24) return "vocab_size out of range";
    if (c->padded_vocab_size < c->vocab_size || c->padded_vocab_size > 1 << 24)
        return "padded_vocab_size below vocab_size or out of range";
    if (c->num_layers <= 0 || c->num_layers > 1024) return "num_layers out of range";
    if (c->num_heads <= 0 || c->num_heads > 1024) return "num_heads out of range";
    if (c->channels <= 0 || c->channels > 1 << 16) return "channels out of range";
    if (c->channels % c->num_heads != 0) return "channels not divisible by num_heads";
    /* keep the parameter count well inside size_t and float-array sizes used by the loaders */
    if ((double)c->padded_vocab_size * c->channels + 12.0 * c->num_layers * c->channels * c->channels >
        8e9)
        return "model too large";
    return NULL;
}
