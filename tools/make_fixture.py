#!/usr/bin/env python3
"""Builds the PyTorch parity fixture that cgpt's tests compare against.

Runs transformers' GPT2LMHeadModel (eager attention, float64) on a small random GPT-2 and saves,
in tests/fixtures/:
  parity_model.bin     the model in llm.c's checkpoint format (fp32, vocabulary padded)
  parity_train.bin     the token stream as an llm.c token shard (batch k = tokens [kBT, (k+1)BT])
  parity_expected.bin  logits, loss and every parameter gradient of step 0, the loss of each of
                       STEPS AdamW steps, and the parameters after them (layout: docs/FORMATS.md)
Needs torch and transformers (no network). Usage: python3 tools/make_fixture.py [--out DIR]
"""
import argparse
import os
import struct

import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel

# An odd little model: every shape differs, T is not a power of two, V < Vp.
LAYERS, HEADS, CHANNELS, MAX_T = 2, 4, 48, 32
VOCAB, PADDED_VOCAB = 333, 384
B, T, STEPS = 3, 17, 3
LR, BETA1, BETA2, EPS, WEIGHT_DECAY = 1e-3, 0.9, 0.95, 1e-8, 0.1
FIXTURE_MAGIC, FIXTURE_VERSION = 20261124, 1


def conv1d_layout(model):
    """transformers' GPT-2 stores its linear layers as Conv1D, weight [in, out]: transpose those."""
    return type(model.transformer.h[0].attn.c_attn).__name__ == "Conv1D"


def llmc_params(model):
    """The parameters in llm.c's order and layout ([out, in] weights, padded vocabulary)."""
    sd = model.transformer.state_dict()
    C = CHANNELS
    transposed = conv1d_layout(model)
    wte = torch.zeros(PADDED_VOCAB, C, dtype=torch.float64)
    wte[:VOCAB] = sd["wte.weight"]
    per_layer = lambda name, transpose=False: torch.stack(
        [sd[f"h.{l}.{name}"].t() if transpose and transposed else sd[f"h.{l}.{name}"] for l in range(LAYERS)])
    return [
        wte, sd["wpe.weight"],
        per_layer("ln_1.weight"), per_layer("ln_1.bias"),
        per_layer("attn.c_attn.weight", True), per_layer("attn.c_attn.bias"),
        per_layer("attn.c_proj.weight", True), per_layer("attn.c_proj.bias"),
        per_layer("ln_2.weight"), per_layer("ln_2.bias"),
        per_layer("mlp.c_fc.weight", True), per_layer("mlp.c_fc.bias"),
        per_layer("mlp.c_proj.weight", True), per_layer("mlp.c_proj.bias"),
        sd["ln_f.weight"], sd["ln_f.bias"],
    ]


def llmc_grads(model):
    """Parameter gradients in the same order/layout as llmc_params."""
    t = model.transformer
    C = CHANNELS
    transposed = conv1d_layout(model)
    dwte = torch.zeros(PADDED_VOCAB, C, dtype=torch.float64)
    dwte[:VOCAB] = t.wte.weight.grad
    layer = lambda get, transpose=False: torch.stack(
        [get(t.h[l]).grad.t() if transpose and transposed else get(t.h[l]).grad for l in range(LAYERS)])
    return [
        dwte, t.wpe.weight.grad,
        layer(lambda h: h.ln_1.weight), layer(lambda h: h.ln_1.bias),
        layer(lambda h: h.attn.c_attn.weight, True), layer(lambda h: h.attn.c_attn.bias),
        layer(lambda h: h.attn.c_proj.weight, True), layer(lambda h: h.attn.c_proj.bias),
        layer(lambda h: h.ln_2.weight), layer(lambda h: h.ln_2.bias),
        layer(lambda h: h.mlp.c_fc.weight, True), layer(lambda h: h.mlp.c_fc.bias),
        layer(lambda h: h.mlp.c_proj.weight, True), layer(lambda h: h.mlp.c_proj.bias),
        t.ln_f.weight.grad, t.ln_f.bias.grad,
    ]


def flat32(tensors):
    return np.concatenate([x.detach().reshape(-1).cpu().numpy() for x in tensors]).astype("<f4")


def header(ints):
    h = np.zeros(256, dtype="<i4")
    h[: len(ints)] = ints
    return h.tobytes()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="tests/fixtures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(1234)

    config = GPT2Config(vocab_size=VOCAB, n_positions=MAX_T, n_embd=CHANNELS, n_layer=LAYERS, n_head=HEADS,
                        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        layer_norm_epsilon=1e-5, tie_word_embeddings=True)
    config._attn_implementation = "eager"  # the plain softmax(QK^T/sqrt(d))V path, in float64
    model = GPT2LMHeadModel(config).double()
    model.train()
    with torch.no_grad():  # non-trivial biases and layernorm parameters, so their paths are tested
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.05 * torch.randn_like(p))
    # The fixture's parameters are the fp32-rounded ones, so C and PyTorch start from the same values.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())

    params = flat32(llmc_params(model))
    with open(os.path.join(args.out, "parity_model.bin"), "wb") as f:
        f.write(header([20240326, 3, MAX_T, VOCAB, LAYERS, HEADS, CHANNELS, PADDED_VOCAB]))
        f.write(params.tobytes())

    stream = torch.randint(0, VOCAB, (STEPS * B * T + 1,), generator=torch.Generator().manual_seed(99))
    with open(os.path.join(args.out, "parity_train.bin"), "wb") as f:
        f.write(header([20240520, 1, len(stream)]))
        f.write(stream.numpy().astype("<u2").tobytes())

    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS,
                                  weight_decay=WEIGHT_DECAY)
    losses = []
    for step in range(STEPS):
        chunk = stream[step * B * T: step * B * T + B * T + 1]
        inputs, targets = chunk[:-1].view(B, T), chunk[1:].view(B, T)
        optimizer.zero_grad(set_to_none=False)
        logits = model(inputs).logits  # [B, T, V]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        if step == 0:
            logits0 = logits.detach().reshape(-1).numpy().astype("<f4")
            loss0 = float(loss)
            grads0 = flat32(llmc_grads(model))
        losses.append(float(loss))
        optimizer.step()
    params_after = flat32(llmc_params(model))

    with open(os.path.join(args.out, "parity_expected.bin"), "wb") as f:
        f.write(header([FIXTURE_MAGIC, FIXTURE_VERSION, B, T, STEPS, VOCAB, len(params)]))
        f.write(struct.pack("<5f", LR, BETA1, BETA2, EPS, WEIGHT_DECAY))
        f.write(logits0.tobytes())
        f.write(struct.pack("<f", loss0))
        f.write(grads0.tobytes())
        f.write(np.array(losses, dtype="<f4").tobytes())
        f.write(params_after.tobytes())
    print(f"parity fixture: {len(params)} parameters, losses {losses}")


if __name__ == "__main__":
    main()
