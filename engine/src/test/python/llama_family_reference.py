#!/usr/bin/python3
"""An independent float64 reference for the Llama family (Llama 2/3/3.1/3.2, Mistral, Qwen2, SmolLM).

Written from the semantics of Hugging Face transformers' modeling_llama.py, modeling_mistral.py,
modeling_qwen2.py and the RoPE init functions of modeling_rope_utils.py, with numpy only. For one
named variant it writes a random-weight checkpoint (config.json, hand-written safetensors, the
tokenizer of a small real model) and expected.json: for several prompts of token ids, the greedy
continuation of 40 tokens as HF's generate with a KV cache produces it (the prompt in one forward
call, then one token per call) and the top-5 logits at every step.

Random weights are drawn so that every greedy step is decidable in fp32: a seed is accepted only if
every step's top-1 / top-2 logit margin and every top-5 logit are far from the fp32 noise floor.

Usage: llama_family_reference.py VARIANT OUT_DIR TOKENIZER_DIR   (VARIANT 'list' prints the names)
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

GENERATE = 40
VOCAB = 512                # the tokenizer's (stories260K)
MIN_MARGIN = 2e-3          # top-1 minus top-2 logit, absolute
MIN_TOP5_ABS = 1.0         # |logit| of each top-5 entry, so that a 1e-4 relative check is meaningful
MIN_DISTINCT = 8           # distinct ids in each 40-token continuation: no model that only repeats itself

BASE = dict(arch="LlamaForCausalLM", model_type="llama", hidden=64, inter=96, layers=2, heads=4, kv=4,
            head_dim=None, theta=10000.0, rope_scaling=None, tie=False, attention_bias=False, mlp_bias=False,
            qkv_bias=False, sliding_window=None, extra={}, dtype="F32", shards=1, max_pos=128,
            prompt_lens=(1, 7, 21))

VARIANTS = {
    # Llama 2: multi-head attention (GQA ratio 1), untied head
    "llama2": dict(),
    # Llama 3.1: rope_scaling llama3 whose thresholds fall inside this head's wavelengths, GQA 4
    "llama31-rope-llama3-gqa4": dict(heads=8, kv=2, head_dim=8, theta=500000.0, max_pos=1024,
                                     rope_scaling={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                   "original_max_position_embeddings": 256, "rope_type": "llama3"}),
    "llama-rope-linear": dict(kv=2, rope_scaling={"type": "linear", "factor": 4.0}),
    # dynamic NTK: max_position_embeddings 16, so the 21-token prompt and every continuation grow the base
    "llama-rope-dynamic": dict(kv=2, max_pos=16, rope_scaling={"type": "dynamic", "factor": 4.0}),
    # Llama 3.2 style: head_dim given and != hidden / heads, tied
    "llama32-head-dim": dict(heads=4, kv=2, head_dim=24, tie=True),
    "llama-attention-mlp-bias": dict(kv=2, attention_bias=True, mlp_bias=True),
    # Qwen2: q/k/v biases (o_proj none), tied, GQA 3; sliding_window present but use_sliding_window false, as published
    "qwen2-bias-tied-gqa3": dict(arch="Qwen2ForCausalLM", model_type="qwen2", hidden=48, inter=80, heads=6, kv=2,
                                 qkv_bias=True, tie=True, theta=1000000.0,
                                 extra={"use_sliding_window": False, "sliding_window": 4, "max_window_layers": 1}),
    # Qwen2 with use_sliding_window: layers from max_window_layers on use the window
    "qwen2-window-layers": dict(arch="Qwen2ForCausalLM", model_type="qwen2", hidden=48, inter=80, heads=6, kv=2,
                                qkv_bias=True, layers=3, sliding_window=5,
                                extra={"use_sliding_window": True, "max_window_layers": 1}),
    # Mistral: sliding_window smaller than two of the prompts, GQA 8
    "mistral-window-gqa8": dict(arch="MistralForCausalLM", model_type="mistral", heads=8, kv=1, sliding_window=6),
    # SmolLM style: tied, dims that are not multiples of 16, GQA 3
    "smollm-odd-dims": dict(hidden=60, inter=100, heads=6, kv=2, tie=True, layers=3),
    "llama3-bf16": dict(heads=8, kv=2, theta=500000.0, dtype="BF16"),
    "llama-f16": dict(kv=2, dtype="F16"),
    "llama-sharded": dict(kv=2, layers=3, shards=3),
}


def spec(name):
    s = dict(BASE)
    s.update(VARIANTS[name])
    s["head_dim"] = s["head_dim"] or s["hidden"] // s["heads"]
    return s


def config_json(s):
    c = {"architectures": [s["arch"]], "model_type": s["model_type"], "hidden_size": s["hidden"],
         "intermediate_size": s["inter"], "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
         "num_key_value_heads": s["kv"], "hidden_act": "silu", "max_position_embeddings": s["max_pos"],
         "rms_norm_eps": 1e-5, "rope_theta": s["theta"], "rope_scaling": s["rope_scaling"],
         "tie_word_embeddings": s["tie"], "vocab_size": VOCAB, "bos_token_id": 1, "eos_token_id": 2,
         "torch_dtype": {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}[s["dtype"]]}
    if s["head_dim"] != s["hidden"] // s["heads"] or s["arch"] == "LlamaForCausalLM":
        c["head_dim"] = s["head_dim"]
    if s["arch"] == "LlamaForCausalLM":
        c["attention_bias"] = s["attention_bias"]
        c["mlp_bias"] = s["mlp_bias"]
    if s["arch"] != "LlamaForCausalLM":
        c["sliding_window"] = s["sliding_window"]
    c.update(s["extra"])
    return c


def windows(s):
    """Per layer sliding window (None = full), as modeling_mistral / modeling_qwen2 choose it."""
    c = config_json(s)
    w = c.get("sliding_window")
    if s["arch"] == "MistralForCausalLM":
        return [w] * s["layers"]
    if s["arch"] == "Qwen2ForCausalLM" and c.get("use_sliding_window"):
        return [w if i >= c.get("max_window_layers", 28) else None for i in range(s["layers"])]
    return [None] * s["layers"]


# ---- weights -------------------------------------------------------------------------------

def stored(a, dtype):
    """The values as the checkpoint stores them (bf16: round to nearest even), back in float64."""
    a32 = np.ascontiguousarray(a, dtype=np.float32)
    if dtype == "F32":
        return a32.astype(np.float64), a32.tobytes()
    if dtype == "F16":
        h = a32.astype(np.float16)
        return h.astype(np.float64), h.tobytes()
    u = a32.view(np.uint32).astype(np.uint64)
    b = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    back = (b.astype(np.uint32) << 16).view(np.float32)
    return back.astype(np.float64), b.tobytes()


def random_weights(s, rng):
    d, h, hd, L = s["hidden"], s["inter"], s["head_dim"], s["layers"]
    qd, kvd = s["heads"] * hd, s["kv"] * hd
    # tied: a small embedding (the layers, not the input token's own row, decide the next token) and a final norm gain
    # that gives the logits their spread back
    w = {"model.embed_tokens.weight": rng.normal(0, 0.05 if s["tie"] else 1, (VOCAB, d))}

    def lin(name, out, inp, bias):
        w[name + ".weight"] = rng.normal(0, 1 / math.sqrt(inp), (out, inp))
        if bias:
            w[name + ".bias"] = rng.normal(0, 0.5, (out,))

    qkv = s["qkv_bias"] or s["attention_bias"]
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * rng.normal(0, 1, d)
        lin(p + "self_attn.q_proj", qd, d, qkv)
        lin(p + "self_attn.k_proj", kvd, d, qkv)
        lin(p + "self_attn.v_proj", kvd, d, qkv)
        lin(p + "self_attn.o_proj", d, qd, s["attention_bias"])
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.normal(0, 1, d)
        lin(p + "mlp.gate_proj", h, d, s["mlp_bias"])
        lin(p + "mlp.up_proj", h, d, s["mlp_bias"])
        lin(p + "mlp.down_proj", d, h, s["mlp_bias"])
    w["model.norm.weight"] = (5 if s["tie"] else 1) * (1 + 0.1 * rng.normal(0, 1, d))
    if not s["tie"]:
        w["lm_head.weight"] = rng.normal(0, 4 / math.sqrt(d), (VOCAB, d))
    return w


def write_safetensors(path, tensors):
    """8-byte little-endian header length, JSON header (dtype, shape, data_offsets), raw data."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, raw in tensors.values():
            f.write(raw)


def save(s, weights, out):
    """Writes the weights in the variant's dtype; returns them as stored (float64)."""
    values, entries = {}, {}
    for name, a in weights.items():
        values[name], raw = stored(a, s["dtype"])
        entries[name] = (s["dtype"], a.shape, raw)
    names = list(entries)
    if s["shards"] == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), entries)
    else:
        n, weight_map = s["shards"], {}
        for i in range(n):
            file = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
            part = names[i * len(names) // n:(i + 1) * len(names) // n]
            write_safetensors(os.path.join(out, file), {k: entries[k] for k in part})
            weight_map.update({k: file for k in part})
        total = sum(len(e[2]) for e in entries.values())
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    return values


# ---- the model, float64 -----------------------------------------------------------------------

def inv_freq(s, seq_len):
    """modeling_rope_utils: default, linear, dynamic (NTK, for the current sequence length), llama3."""
    hd, theta, rs = s["head_dim"], s["theta"], s["rope_scaling"] or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    exps = np.arange(0, hd, 2, dtype=np.float64) / hd
    if kind == "dynamic":
        mp, factor = s["max_pos"], rs["factor"]
        seq_len = max(seq_len, mp)
        theta = theta * ((factor * seq_len / mp) - (factor - 1)) ** (hd / (hd - 2))
    f = 1.0 / theta ** exps
    if kind == "linear":
        f = f / rs["factor"]
    if kind == "llama3":
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / f
        scaled = np.where(wavelen > old / lo, f / factor, f)
        smooth = (old / wavelen - lo) / (hi - lo)
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        f = np.where(medium, (1 - smooth) * scaled / factor + smooth * scaled, scaled)
    return f


def rms(x, w):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5) * w


def rotate(x, pos, f):
    """Rotate-half RoPE: x (T, heads, hd) at positions pos (T) with frequencies f (hd/2)."""
    ang = pos[:, None] * f[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


class Model:
    def __init__(self, s, w):
        self.s, self.w, self.win = s, w, windows(s)
        self.head = w["model.embed_tokens.weight"] if s["tie"] else w["lm_head.weight"]

    def lin(self, name, x):
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y if b is None else y + b

    def forward(self, tokens, start, cache):
        """One forward call over tokens at positions start..; cache: per layer (keys, values) after RoPE. Last row's logits."""
        s = self.s
        T, H, KV, hd = len(tokens), s["heads"], s["kv"], s["head_dim"]
        pos = np.arange(start, start + T, dtype=np.float64)
        f = inv_freq(s, start + T)   # the rotary embedding of this call (dynamic: max position + 1)
        x = self.w["model.embed_tokens.weight"][tokens]
        for l in range(s["layers"]):
            p = f"model.layers.{l}."
            h = rms(x, self.w[p + "input_layernorm.weight"])
            q = rotate(self.lin(p + "self_attn.q_proj", h).reshape(T, H, hd), pos, f)
            k = rotate(self.lin(p + "self_attn.k_proj", h).reshape(T, KV, hd), pos, f)
            v = self.lin(p + "self_attn.v_proj", h).reshape(T, KV, hd)
            K = np.concatenate([cache[l][0], k]) if cache[l] else k
            V = np.concatenate([cache[l][1], v]) if cache[l] else v
            cache[l] = (K, V)
            qi = np.arange(start, start + T)[:, None]
            kj = np.arange(K.shape[0])[None, :]
            allowed = kj <= qi
            if self.win[l] is not None:
                allowed &= kj > qi - self.win[l]      # masking_utils' sliding_window_overlay
            att = np.empty((T, H, hd))
            for hh in range(H):
                g = hh // (H // KV)
                sc = q[:, hh, :] @ K[:, g, :].T / math.sqrt(hd)
                sc = np.where(allowed, sc, -np.inf)
                pr = np.exp(sc - sc.max(axis=1, keepdims=True))
                pr /= pr.sum(axis=1, keepdims=True)
                att[:, hh, :] = pr @ V[:, g, :]
            x = x + self.lin(p + "self_attn.o_proj", att.reshape(T, H * hd))
            h = rms(x, self.w[p + "post_attention_layernorm.weight"])
            gate = self.lin(p + "mlp.gate_proj", h)
            x = x + self.lin(p + "mlp.down_proj", gate / (1 + np.exp(-gate)) * self.lin(p + "mlp.up_proj", h))
        return rms(x[-1], self.w["model.norm.weight"]) @ self.head.T

    def greedy(self, prompt):
        cache = [None] * self.s["layers"]
        logits = self.forward(np.array(prompt), 0, cache)
        ids, steps, n = [], [], len(prompt)
        for i in range(GENERATE):
            top = np.argsort(-logits)[:5]
            steps.append({"top5": [[int(t), float(logits[t])] for t in top],
                          "margin": float(logits[top[0]] - logits[top[1]])})
            ids.append(int(top[0]))
            if i + 1 < GENERATE:
                logits = self.forward(np.array([top[0]]), n + i, cache)
        return ids, steps


def main():
    if sys.argv[1] == "list":
        print("\n".join(VARIANTS))
        return
    name, out, tokenizer_dir = sys.argv[1:4]
    s = spec(name)
    os.makedirs(out, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(tokenizer_dir, f)):
            shutil.copy(os.path.join(tokenizer_dir, f), out)
    prompt_rng = np.random.default_rng(7)
    prompts = [[1] + [int(t) for t in prompt_rng.integers(3, VOCAB, n - 1)] for n in s["prompt_lens"]]
    seed = sum(map(ord, name)) * 1000
    for attempt in range(64):
        rng = np.random.default_rng(seed + attempt)
        weights = random_weights(s, rng)
        model = Model(s, {k: stored(a, s["dtype"])[0] for k, a in weights.items()})
        cases = []
        for pr in prompts:
            ids, steps = model.greedy(pr)
            cases.append({"prompt": pr, "greedy": ids, "steps": steps})
        margin = min(st["margin"] for c in cases for st in c["steps"])
        top5 = min(abs(v) for c in cases for st in c["steps"] for _, v in st["top5"])
        distinct = min(len(set(c["greedy"])) for c in cases)
        if margin >= MIN_MARGIN and top5 >= MIN_TOP5_ABS and distinct >= MIN_DISTINCT:
            break
    else:
        sys.exit(f"{name}: no seed gave decidable greedy steps")
    save(s, weights, out)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(s), f, indent=1)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"variant": name, "seed": seed + attempt, "min_margin": margin, "windows": windows(s),
                   "cases": cases}, f)


if __name__ == "__main__":
    main()
