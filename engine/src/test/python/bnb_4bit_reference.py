#!/usr/bin/python3
"""An independent writer and reader of bitsandbytes 4-bit checkpoints as transformers saves them.

Written from bitsandbytes' functional.py / backends/default/ops.py (quantize_4bit, dequantize_4bit,
quantize_blockwise, create_dynamic_map, get_4bit_type, QuantState.as_dict(packed=True)) and
transformers' bitsandbytes integration, with numpy only, in float32 as torch computes:

  NAME.weight                               uint8 [(n+1)//2, 1]: element 2i in the high nibble of byte i
  NAME.weight.absmax                        float32 [blocks], or uint8 [blocks] with double quantization
  NAME.weight.quant_map                     float32 [16] (the NF4 / FP4 values)
  NAME.weight.nested_absmax                 float32 [ceil(blocks / 256)]            (double quantization)
  NAME.weight.nested_quant_map              float32 [256] (create_dynamic_map)      (double quantization)
  NAME.weight.quant_state.bitsandbytes__nf4 uint8: json.dumps of quant_type, blocksize, dtype, shape
                                            [, nested_blocksize, nested_dtype, nested_offset]

Usage:
  bnb_4bit_reference.py write OUT_DIR TOKENIZER_DIR QUANT_TYPE DOUBLE_QUANT
      a small random Llama (hidden 56, ragged blocks that span rows, > 256 blocks per MLP weight, one
      all-zero block) quantized into OUT_DIR/bnb, and OUT_DIR/fp32: the same model with every
      quantized weight replaced by its dequantization (float32), the reference the loader must equal.
  bnb_4bit_reference.py check SOURCE_DIR BNB_DIR OUT_DIR
      reads a bnb checkpoint written by someone else from the fp32 model SOURCE_DIR: re-quantizes
      every weight by bitsandbytes' rules (taking the file's nested_offset, a float32 mean whose
      summation order is the writer's) and reports every tensor that differs in OUT_DIR/result.json;
      writes the numpy dequantization of every layer to OUT_DIR/model.safetensors.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_family_reference as ref  # noqa: E402  (config.json, random weights, safetensors writer)

F32 = np.float32
BLOCK = 64
NESTED_BLOCK = 256
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=F32)
# get_4bit_type("fp4"): the e2m1 magnitudes by code, "-0" is the Python int 0; data.div_(data.abs().max())
FP4 = (np.array([0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0], dtype=F32) / F32(12))
CODES = {"nf4": NF4, "fp4": FP4}
LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def linspace(n):
    """torch.linspace(0.1, 1, n) in float32 by its scalar formula (start + k*step, then end - (n-1-k)*step)."""
    start, end = F32(0.1), F32(1.0)
    step = (end - start) / F32(n - 1)
    return np.array([start + step * F32(k) if k < n // 2 else end - step * F32(n - 1 - k) for k in range(n)], dtype=F32)


def dynamic_map():
    """create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)."""
    data = []
    for i in range(7):
        b = linspace(2 ** i + 1)
        means = (b[:-1] + b[1:]) / F32(2)
        scale = F32(10.0 ** (i - 6))
        data += list(scale * means)
        data += list(-scale * means)
    data += [F32(0), F32(1)]
    assert len(data) == 256
    return np.array(sorted(data), dtype=F32)


def argmin_code(scaled, code):
    """torch.argmin(|scaled - code|): first minimum; NaN (an all-zero block: 0 * inf) gives index 0."""
    return np.argmin(np.abs(scaled[:, None] - code[None, :]), axis=1).astype(np.uint8)


def blockwise_absmax(flat, block):
    nb = -(-flat.size // block)
    pad = np.zeros(nb * block, dtype=F32)
    pad[:flat.size] = flat
    return np.abs(pad.reshape(nb, block)).max(axis=1)


def scale_blocks(flat, absmax, block):
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = F32(1) / absmax
        return np.clip(flat * np.repeat(inv, block)[:flat.size], F32(-1), F32(1))


def quantize_4bit(w, quant_type, block, double_quant, offset=None):
    """quantize_4bit (+ compress_statistics): codes, absmax (float32 or uint8) and the nested state."""
    flat = np.ascontiguousarray(w, dtype=F32).reshape(-1)
    absmax = blockwise_absmax(flat, block)
    q = argmin_code(scale_blocks(flat, absmax, block), CODES[quant_type])
    if not double_quant:
        return q, absmax, None
    if offset is None:
        offset = F32(absmax.astype(np.float64).mean())
    centred = absmax - F32(offset)
    nested = blockwise_absmax(centred, NESTED_BLOCK)
    q2 = argmin_code(scale_blocks(centred, nested, NESTED_BLOCK), dynamic_map())
    return q, q2, (nested, F32(offset))


def dequantize_4bit(q, absmax, nested, nested_map, quant_type, block, n):
    """dequantize_4bit: absmax from dequantize_blockwise + offset when nested, then code[q] * absmax, float32."""
    if nested is not None:
        nabs, offset = nested
        absmax = nested_map[absmax.astype(np.int64)] * nabs[np.arange(absmax.size) // NESTED_BLOCK] + F32(offset)
    return CODES[quant_type][q.astype(np.int64)] * np.repeat(absmax.astype(F32), block)[:n]


def pack(q):
    if q.size % 2:
        q = np.concatenate([q, np.zeros(1, np.uint8)])
    return ((q[0::2] << 4) | q[1::2]).astype(np.uint8)


def unpack(p, n):
    q = np.empty(p.size * 2, np.uint8)
    q[0::2], q[1::2] = p >> 4, p & 15
    return q[:n]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    kinds = {"F32": np.float32, "U8": np.uint8, "I8": np.int8, "I32": np.int32, "F16": np.float16}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=kinds[e["dtype"]]).reshape(e["shape"])
    return out


def bnb_tensors(name, w, quant_type, double_quant):
    out_f, in_f = w.shape
    q, absmax, nested = quantize_4bit(w, quant_type, BLOCK, double_quant)
    p = name + ".weight"
    t = {p: ("U8", ((q.size + 1) // 2, 1), pack(q).tobytes())}
    t[p + ".absmax"] = ("U8" if double_quant else "F32", (absmax.size,), absmax.tobytes())
    t[p + ".quant_map"] = ("F32", (16,), CODES[quant_type].tobytes())
    state = {"quant_type": quant_type, "blocksize": BLOCK, "dtype": "float32", "shape": [out_f, in_f]}
    if double_quant:
        t[p + ".nested_absmax"] = ("F32", (nested[0].size,), nested[0].tobytes())
        t[p + ".nested_quant_map"] = ("F32", (256,), dynamic_map().tobytes())
        state.update({"nested_blocksize": NESTED_BLOCK, "nested_dtype": "float32", "nested_offset": float(nested[1])})
    js = json.dumps(state).encode()
    t[p + ".quant_state.bitsandbytes__" + quant_type] = ("U8", (len(js),), js)
    deq = dequantize_4bit(q, absmax, nested, dynamic_map(), quant_type, BLOCK, q.size).reshape(w.shape)
    return t, deq



def write(out, tokenizer_dir, quant_type, double_quant):
    s = dict(ref.BASE)
    s.update(hidden=56, inter=600, layers=2, heads=4, kv=2, tie=False, head_dim=14)
    rng = np.random.default_rng(18)
    weights = {k: np.asarray(v, dtype=F32) for k, v in ref.random_weights(s, rng).items()}
    weights["model.layers.0.mlp.up_proj.weight"].reshape(-1)[64 * 3:64 * 4] = 0   # an all-zero block
    bnb, fp32 = {}, {}
    for name, w in weights.items():
        base = name[:-len(".weight")]
        if any(base.endswith(l) for l in LINEARS):
            t, deq = bnb_tensors(base, w, quant_type, double_quant)
            bnb.update(t)
            fp32[name] = ("F32", w.shape, deq.astype(F32).tobytes())
        else:   # embeddings, norms, lm_head: unquantized, as transformers leaves them
            bnb[name] = fp32[name] = ("F32", w.shape, w.tobytes())
    qc = {"quant_method": "bitsandbytes", "load_in_4bit": True, "load_in_8bit": False, "bnb_4bit_quant_type": quant_type,
          "bnb_4bit_use_double_quant": double_quant, "bnb_4bit_compute_dtype": "float32", "bnb_4bit_quant_storage": "uint8",
          "llm_int8_skip_modules": None, "llm_int8_threshold": 6.0}
    for sub, tensors, q in (("bnb", bnb, qc), ("fp32", fp32, None)):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model"):
            if os.path.exists(os.path.join(tokenizer_dir, f)):
                shutil.copy(os.path.join(tokenizer_dir, f), d)
        ref.write_safetensors(os.path.join(d, "model.safetensors"), tensors)
        c = ref.config_json(s)
        if q:
            c["quantization_config"] = q
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=1)


def check(source, bnb_dir, out_dir):
    src = read_safetensors(os.path.join(source, "model.safetensors"))
    got = read_safetensors(os.path.join(bnb_dir, "model.safetensors"))
    qc = json.load(open(os.path.join(bnb_dir, "config.json")))["quantization_config"]
    problems, layers, deq_out = [], 0, {}
    quant_type, dq = qc["bnb_4bit_quant_type"], qc["bnb_4bit_use_double_quant"]
    if qc.get("quant_method") != "bitsandbytes" or not qc.get("load_in_4bit"):
        problems.append("quantization_config: " + json.dumps(qc))
    for name, w in src.items():
        key = name + ".quant_state.bitsandbytes__" + quant_type
        if key not in got:
            continue
        layers += 1
        state_bytes = got[key].tobytes()
        state = json.loads(state_bytes)
        w = w.astype(F32)
        offset = F32(state["nested_offset"]) if dq else None
        q, absmax, nested = quantize_4bit(w, quant_type, state["blocksize"], dq, offset)
        expect = {name: pack(q).reshape(-1, 1), name + ".absmax": absmax, name + ".quant_map": CODES[quant_type]}
        want_state = {"quant_type": quant_type, "blocksize": state["blocksize"], "dtype": "float32", "shape": list(w.shape)}
        if dq:
            expect[name + ".nested_absmax"] = nested[0]
            expect[name + ".nested_quant_map"] = dynamic_map()
            want_state.update({"nested_blocksize": NESTED_BLOCK, "nested_dtype": "float32", "nested_offset": state["nested_offset"]})
            absmax_mean = blockwise_absmax(w.reshape(-1), state["blocksize"]).astype(np.float64).mean()
            if abs(state["nested_offset"] - absmax_mean) > 1e-6 * abs(absmax_mean):
                problems.append(f"{name}: nested_offset {state['nested_offset']} is not the absmax mean {absmax_mean}")
        if state_bytes != json.dumps(want_state).encode():
            problems.append(f"{key}: {state_bytes!r} != {json.dumps(want_state)!r}")
        for k, v in expect.items():
            if k not in got:
                problems.append(f"missing {k}")
            elif got[k].shape != v.shape or got[k].dtype != v.dtype or not np.array_equal(got[k].view(np.uint8), v.view(np.uint8)):
                diff = "shape/dtype" if got[k].shape != v.shape or got[k].dtype != v.dtype else f"{int((got[k] != v).sum())} entries"
                problems.append(f"{k}: {diff} differ ({got[k].dtype}{list(got[k].shape)} vs {v.dtype}{list(v.shape)})")
        nested_got = (got[name + ".nested_absmax"], F32(state["nested_offset"])) if dq else None
        deq = dequantize_4bit(unpack(got[name].reshape(-1), w.size), got[name + ".absmax"], nested_got,
                              got.get(name + ".nested_quant_map"), quant_type, state["blocksize"], w.size)
        deq_out[name] = ("F32", w.shape, deq.astype(F32).tobytes())
    os.makedirs(out_dir, exist_ok=True)
    ref.write_safetensors(os.path.join(out_dir, "model.safetensors"), deq_out)
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump({"layers": layers, "problems": problems}, f, indent=1)


def main():
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].lower() == "true")
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: bnb_4bit_reference.py write OUT TOKENIZER_DIR nf4|fp4 true|false | check SOURCE BNB OUT_DIR")


if __name__ == "__main__":
    main()
