package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.onnx.ModelProto;
import dev.quantflow.engine.onnx.OnnxGraph;
import dev.quantflow.engine.onnx.OnnxGraph.Attr;
import dev.quantflow.engine.onnx.TensorProto;
import dev.quantflow.engine.onnx.TensorProto.DataType;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a built (quantized) Llama model as one ONNX model (opset 21, standard ops only), the same
 * steps as DecoderForward (RMSNorm, rotate-half RoPE from the engine's own cos/sin tables, GQA,
 * SwiGLU, tied or untied head), in one of two graphs:
 * <ul>
 * <li>prefill: input_ids (1, seq) int64 -> logits (1, seq, vocab), causal, no KV cache;
 * <li>KV cache (decode), Optimum's / onnxruntime-genai's layout: input_ids, position_ids (1, seq),
 *     attention_mask (1, past + seq) int64, past_key_values.N.key/value (1, kv_heads, past, head_dim)
 *     float -> logits (1, seq, vocab), present.N.key/value (1, kv_heads, past + seq, head_dim): K
 *     after RoPE, as the engine caches it; past = 0 is the prefill, seq = 1 a decode step.
 * </ul>
 *
 * <p>Linears, by {@link Form}:
 * <ul>
 * <li>fp32 / bf16: Gemm with the (bf16-rounded) weights as fp32;
 * <li>w8a16: DequantizeLinear(int8 codes, per-channel scale, axis 0) -> Gemm;
 * <li>w4a16-rtn/gptq/awq: DequantizeLinear(uint4 codes, uint4 zero points, scales (out, groups),
 *     axis 1, block_size G) -> Gemm (opset 21 blocked quantization; a ragged last group is a partial
 *     block, as ONNX defines it); act-order's input permutation is a Gather on x;
 * <li>w8a8-dynamic / smoothquant, QDQ form: the per-token scale max|x_row|/127 is computed in the
 *     graph (ReduceMax) and fed to QuantizeLinear / DequantizeLinear along axis 0, so the export
 *     computes the engine's per-token scheme; per-group activations use the blocked form;
 * <li>w8a8-dynamic / smoothquant, integer form: DynamicQuantizeLinear (one uint8 scale and zero
 *     point for the whole (seq, in) input: ONNX's dynamic quantizer is per tensor) -> MatMulInteger
 *     with the int8 weights -> times x_scale times the per-channel weight scales. Per-token scales
 *     have no integer-op form in ONNX, so this form is per-tensor dynamic (an approximation of the
 *     scheme, measured in docs/QUANTIZATION.md); per-group weights are refused (MatMulInteger
 *     applies scales after the whole sum);
 * <li>w8a8-tensor: the static activation scale as a constant QuantizeLinear (QDQ) or
 *     QuantizeLinear -> MatMulInteger (integer form), exact in both;
 * <li>fp8 (weight-only): DequantizeLinear(FLOAT8E4M3FN / FLOAT8E5M2 codes, the same OCP bits,
 *     float8 zero point, per-channel scale axis 0 or one per-tensor scale) -> Gemm;
 * <li>fp8-w8a8: the engine's e4m3 activations per token (in-graph scale, as for int8), per tensor or
 *     static, QuantizeLinear(output_dtype FLOAT8E4M3FN) -> Cast -> Gemm -> times the scale;
 * <li>nf4 / fp4: no ONNX type: UINT4 codes Cast to int64, Gather from the 16-value table, times the
 *     block absmax (double quantization decoded in the graph by a second Gather and Mul) -> Gemm.
 * </ul>
 * Weight-only layers have no int8 activations, so they are written in their QDQ form in both forms.
 * LLM.int8() (data-dependent fp32 columns) is refused.
 */
public final class OnnxExport {
    private OnnxExport() {}

    /** QDQ: float MatMuls of dequantized values; INTEGER: MatMulInteger on int8 activations. */
    public enum Form { QDQ, INTEGER;
        public static Form parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "qdq" -> QDQ;
                case "integer", "int" -> INTEGER;
                default -> throw new IllegalArgumentException("--onnx-form must be qdq or integer, got '" + s + "'");
            };
        }
    }

    /** What was written: how each linear is expressed, node count, file bytes. */
    public record Summary(Form form, Map<String, String> linears, int nodes, long bytes) {
        public Map<String, Integer> counts() {
            Map<String, Integer> c = new LinkedHashMap<>();
            linears.values().forEach(v -> c.merge(v, 1, Integer::sum));
            return c;
        }
    }

    /** The prefill graph (input_ids -> logits), no KV cache. */
    public static Summary write(QuantizedModels.Built b, Path file, Form form) {
        return write(b, file, form, false);
    }

    /** kvCache: the decode graph with past_key_values.N.* inputs and present.N.* outputs (see the class comment). */
    public static Summary write(QuantizedModels.Built b, Path file, Form form, boolean kvCache) {
        Map<String, String> how = new LinkedHashMap<>();
        OnnxGraph g = new OnnxGraph("quantflow_llama");
        ModelProto model = model(b, form, kvCache, g, how);
        try (OutputStream out = Files.newOutputStream(file)) {
            model.writeTo(out);
            return new Summary(form, how, g.nodeCount(), Files.size(file));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** The model as ONNX (what write stores). */
    public static ModelProto model(QuantizedModels.Built b, Form form) {
        return model(b, form, false);
    }

    public static ModelProto model(QuantizedModels.Built b, Form form, boolean kvCache) {
        return model(b, form, kvCache, new OnnxGraph("quantflow_llama"), new LinkedHashMap<>());
    }

    private static ModelProto model(QuantizedModels.Built b, Form form, boolean kv, OnnxGraph g, Map<String, String> how) {
        LlamaConfig c = b.config();
        check(c);
        int d = c.hiddenSize(), hd = c.headDim(), nh = c.numHeads(), nkv = c.numKvHeads(), half = hd / 2;
        String embed = g.floats("model.embed_tokens.weight", new long[] {c.vocabSize(), d}, b.weights().get("model.embed_tokens.weight").toFloatArray());
        g.input("input_ids", DataType.INT64, 1L, "seq");
        if (kv) {
            g.input("attention_mask", DataType.INT64, 1L, "total");
            g.input("position_ids", DataType.INT64, 1L, "seq");
            for (int l = 0; l < c.numLayers(); l++) {
                g.input("past_key_values." + l + ".key", DataType.FLOAT, 1L, (long) nkv, "past", (long) hd);
                g.input("past_key_values." + l + ".value", DataType.FLOAT, 1L, (long) nkv, "past", (long) hd);
            }
        }
        String seq = g.op("Shape", List.of(Attr.i("start", 1), Attr.i("end", 2)), "input_ids");   // (1): the sequence length
        String x = g.op("Gather", List.of(Attr.i("axis", 0)), embed, g.op("Squeeze", "input_ids", g.int64s(0)));   // (seq, d)
        // RoPE: the engine's own angles (pos * invFreq in fp32, cos/sin in double), at positions 0..seq-1 or position_ids
        float[] invFreq = b.stage().ropeInvFreq();
        int maxPos = c.maxPositions();
        float[] cos = new float[maxPos * hd], sin = new float[maxPos * hd];
        for (int p = 0; p < maxPos; p++)
            for (int i = 0; i < half; i++) {
                float angle = p * invFreq[i];
                cos[p * hd + i] = cos[p * hd + i + half] = (float) Math.cos(angle);
                sin[p * hd + i] = sin[p * hd + i + half] = (float) Math.sin(angle);
            }
        String cosTable = g.floats("rope.cos", new long[] {maxPos, hd}, cos), sinTable = g.floats("rope.sin", new long[] {maxPos, hd}, sin);
        String cosT, sinT, mask;
        TensorProto minusInf = OnnxGraph.tensor("v", DataType.FLOAT, new long[] {1}, f32(Float.NEGATIVE_INFINITY));
        if (kv) {
            String positions = g.op("Squeeze", "position_ids", g.int64s(0));
            cosT = g.op("Gather", List.of(Attr.i("axis", 0)), cosTable, positions);
            sinT = g.op("Gather", List.of(Attr.i("axis", 0)), sinTable, positions);
            // (seq, past + seq): query i (at past + i) sees keys 0..past + i; keys whose attention_mask is 0 are hidden too
            String past = g.op("Shape", List.of(Attr.i("start", 2), Attr.i("end", 3)), "past_key_values.0.key");
            String total = g.op("Add", past, seq);
            String causal = g.op("Trilu", List.of(Attr.i("upper", 1)),
                    g.op("ConstantOfShape", List.of(Attr.tensor("value", minusInf)), g.op("Concat", List.of(Attr.i("axis", 0)), seq, total)),
                    g.op("Squeeze", g.op("Add", past, g.int64s(1)), g.int64s(0)));
            // the lowest finite float, not -inf (as transformers does): a padding row that sees only masked keys gets a
            // finite softmax instead of NaN, which would reach the other rows through 0 * NaN in the V MatMul
            String hidden = g.op("Where", g.op("Equal", "attention_mask", g.int64(0)), g.scalar(-Float.MAX_VALUE), g.scalar(0f));   // (1, total)
            mask = g.op("Add", causal, hidden);
        } else {
            cosT = g.op("Slice", cosTable, g.int64s(0), seq, g.int64s(0));
            sinT = g.op("Slice", sinTable, g.int64s(0), seq, g.int64s(0));
            // causal mask (seq, seq): -inf above the diagonal, 0 elsewhere
            mask = g.op("Trilu", List.of(Attr.i("upper", 1)),
                    g.op("ConstantOfShape", List.of(Attr.tensor("value", minusInf)), g.op("Concat", List.of(Attr.i("axis", 0)), seq, seq)), g.int64(1));
        }
        String attScale = g.scalar((float) (1.0 / Math.sqrt(hd)));
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            String xb = rmsnorm(g, b, c, x, p + "input_layernorm.weight");
            String q = heads(g, linear(g, b, form, how, p + "self_attn.q_proj", xb), nh, hd);
            String k = heads(g, linear(g, b, form, how, p + "self_attn.k_proj", xb), nkv, hd);
            String v = heads(g, linear(g, b, form, how, p + "self_attn.v_proj", xb), nkv, hd);
            q = rope(g, q, half, cosT, sinT);
            k = rope(g, k, half, cosT, sinT);
            if (kv) {   // the cache holds K after RoPE, as the engine's does: (1, nkv, past + seq, hd)
                k = g.op("Concat", List.of(Attr.i("axis", 1)), g.op("Squeeze", "past_key_values." + l + ".key", g.int64s(0)), k);
                v = g.op("Concat", List.of(Attr.i("axis", 1)), g.op("Squeeze", "past_key_values." + l + ".value", g.int64s(0)), v);
                g.alias(g.op("Unsqueeze", k, g.int64s(0)), "present." + l + ".key");
                g.alias(g.op("Unsqueeze", v, g.int64s(0)), "present." + l + ".value");
            }
            if (nkv != nh) {   // query head h reads kv head h / (nh / nkv), as the engine's cache does
                k = repeatKv(g, k, nkv, nh / nkv, hd);
                v = repeatKv(g, v, nkv, nh / nkv, hd);
            }
            String scores = g.op("Add", g.op("Mul", g.op("MatMul", q, g.op("Transpose", List.of(Attr.ints("perm", 0, 2, 1)), k)), attScale), mask);
            String att = g.op("MatMul", g.op("Softmax", List.of(Attr.i("axis", -1)), scores), v);   // (nh, seq, hd)
            att = g.op("Reshape", g.op("Transpose", List.of(Attr.ints("perm", 1, 0, 2)), att), g.int64s(-1, (long) nh * hd));
            x = g.op("Add", x, linear(g, b, form, how, p + "self_attn.o_proj", att));
            xb = rmsnorm(g, b, c, x, p + "post_attention_layernorm.weight");
            String gate = linear(g, b, form, how, p + "mlp.gate_proj", xb), up = linear(g, b, form, how, p + "mlp.up_proj", xb);
            String h = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), up);
            x = g.op("Add", x, linear(g, b, form, how, p + "mlp.down_proj", h));
        }
        String xn = rmsnorm(g, b, c, x, "model.norm.weight");
        String logits;
        if (c.tieWordEmbeddings() && b.format("lm_head") instanceof DenseLinear dl && !dl.scheme().equals("bf16")) {
            logits = g.op("Gemm", List.of(Attr.i("transB", 1)), xn, embed);   // the tied head reads the embedding table
            how.put("lm_head", "fp32 (tied)");
        } else {
            logits = linear(g, b, form, how, "lm_head", xn);
        }
        g.alias(g.op("Unsqueeze", logits, g.int64s(0)), "logits");
        g.output("logits", DataType.FLOAT, 1L, "seq", (long) c.vocabSize());
        if (kv)
            for (int l = 0; l < c.numLayers(); l++) {
                g.output("present." + l + ".key", DataType.FLOAT, 1L, (long) nkv, "total", (long) hd);
                g.output("present." + l + ".value", DataType.FLOAT, 1L, (long) nkv, "total", (long) hd);
            }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("quantflow.plan", b.plan().toString());
        meta.put("quantflow.onnx_form", form.name().toLowerCase(Locale.ROOT));
        meta.put("quantflow.kv_cache", Boolean.toString(kv));
        String doc = kv ? "Llama with KV cache: input_ids, attention_mask, position_ids (1, seq), past_key_values.N.key/value (1, kv_heads, past, head_dim) -> "
                + "logits (1, seq, vocab), present.N.key/value (1, kv_heads, past + seq, head_dim); " : "Llama prefill (no KV cache): input_ids (1, seq) -> logits (1, seq, vocab); ";
        return g.model("quantflow", doc + b.plan(), meta);
    }

    private static void check(LlamaConfig c) {
        if (!c.architecture().equals("LlamaForCausalLM") && !c.architecture().equals("LLaMAForCausalLM"))
            throw new IllegalArgumentException("ONNX export writes llama models; " + c.architecture() + " is not one");
        if (!c.ropeScaling().type().equals("none") && !c.ropeScaling().type().equals("linear") && !c.ropeScaling().type().equals("llama3"))
            throw new IllegalArgumentException("ONNX export: rope_scaling " + c.ropeScaling().type() + " depends on the sequence and is not written");
        if (c.attentionBias() || c.mlpBias() || c.outputBias()) throw new IllegalArgumentException("ONNX export: linear biases are not written");
        for (int l = 0; l < c.numLayers(); l++)
            if (c.attentionWindow(l) > 0) throw new IllegalArgumentException("ONNX export: sliding-window attention (layer " + l + ") is not written");
    }

    /** out = weight * x / sqrt(mean(x^2) + eps) over the last axis of x (rows, n). */
    private static String rmsnorm(OnnxGraph g, QuantizedModels.Built b, LlamaConfig c, String x, String weight) {
        float[] w = b.weights().get(weight).toFloatArray();
        String ms = g.op("ReduceMean", List.of(Attr.i("keepdims", 1)), g.op("Mul", x, x), g.int64s(-1));
        String inv = g.op("Reciprocal", g.op("Sqrt", g.op("Add", ms, g.scalar(c.rmsNormEps()))));
        return g.op("Mul", g.op("Mul", x, inv), g.floats(weight, new long[] {w.length}, w));
    }

    /** (seq, heads*hd) -> (heads, seq, hd). */
    private static String heads(OnnxGraph g, String x, int heads, int hd) {
        return g.op("Transpose", List.of(Attr.ints("perm", 1, 0, 2)), g.op("Reshape", x, g.int64s(-1, heads, hd)));
    }

    /** Rotate-half RoPE over (heads, seq, hd): x cos + (-x2, x1) sin. */
    private static String rope(OnnxGraph g, String x, int half, String cos, String sin) {
        String[] parts = g.ops("Split", 2, List.of(Attr.i("axis", -1)), x, g.int64s(half, half));
        String rotated = g.op("Concat", List.of(Attr.i("axis", -1)), g.op("Neg", parts[1]), parts[0]);
        return g.op("Add", g.op("Mul", x, cos), g.op("Mul", rotated, sin));
    }

    /** (nkv, seq, hd) -> (nkv * group, seq, hd), each kv head repeated group times in a row. */
    private static String repeatKv(OnnxGraph g, String x, int nkv, int group, int hd) {
        String e = g.op("Expand", g.op("Unsqueeze", x, g.int64s(1)), g.int64s(nkv, group, 1, 1));
        return g.op("Reshape", e, g.int64s((long) nkv * group, -1, hd));
    }

    /** y (rows, out) = the linear name applied to x (rows, in), in the form its scheme allows. */
    private static String linear(OnnxGraph g, QuantizedModels.Built b, Form form, Map<String, String> how, String name, String x) {
        Linear l = b.format(name);
        return switch (l) {
            case DenseLinear dl -> {
                String weight = name.equals("lm_head") && b.weights().find("lm_head.weight").isEmpty() ? "model.embed_tokens.weight" : name + ".weight";
                Tensor t = b.weights().get(weight);
                if (dl.scheme().equals("bf16") && t.dtype() != DType.BF16) t = QuantizedModels.toBf16(t);
                how.put(name, dl.scheme());
                yield g.op("Gemm", List.of(Attr.i("transB", 1)), x, g.floats(name + ".weight", new long[] {t.rows(), t.cols()}, t.toFloatArray()));
            }
            case Int8Linear i -> {
                how.put(name, "int8 per-channel DequantizeLinear");
                yield g.op("Gemm", List.of(Attr.i("transB", 1)), x, dequantizedWeight(g, name, i.weights()));
            }
            case Int4GroupLinear i4 -> {
                String xs = i4.permutation() == null ? x : g.op("Gather", List.of(Attr.i("axis", 1)), x, g.int64s(toLongs(i4.permutation())));
                how.put(name, "uint4 DequantizeLinear " + (i4.weights().groups() == 1 ? "per channel" : "blocked (block " + i4.weights().layout().groupSize() + ")")
                        + (i4.permutation() == null ? "" : " + act-order Gather"));
                yield g.op("Gemm", List.of(Attr.i("transB", 1)), xs, dequantizedWeight(g, name, i4.weights()));
            }
            case W8A8DynamicLinear w -> form == Form.QDQ ? perTokenQdq(g, how, name, x, w.weights()) : dynamicInteger(g, how, name, x, w.weights());
            case W8A8TensorLinear w -> staticInt8(g, how, name, x, w, form);
            case Fp8Linear f -> {
                how.put(name, f.weights().format().name().toLowerCase(Locale.ROOT) + " DequantizeLinear " + (f.weights().perChannel() ? "per channel" : "per tensor"));
                yield g.op("Gemm", List.of(Attr.i("transB", 1)), x, fp8Weight(g, name, f.weights()));
            }
            case Fp8W8A8Linear f -> fp8Activations(g, how, name, x, f);
            case FourBitLinear f -> {
                FourBitMatrix m = f.weights();
                how.put(name, m.code().schemeName() + " Gather codebook (block " + m.blockSize() + (m.doubleQuant() ? ", double-quant Gather" : "") + ")");
                yield g.op("Gemm", List.of(Attr.i("transB", 1)), x, fourBitWeight(g, name, m));
            }
            default -> throw new IllegalArgumentException(name + " is " + l.scheme() + ": ONNX export writes fp32, bf16, w8a16, w8a8-dynamic, smoothquant, "
                    + "w8a8-tensor, w4a16-rtn/gptq/awq, fp8, fp8-w8a8, nf4 and fp4; LLM.int8()'s run-time fp32 columns and other schemes are not written");
        };
    }

    /** DequantizeLinear of the FP8 codes as ONNX FLOAT8E4M3FN / FLOAT8E5M2 (the same OCP bits), per channel (axis 0) or per tensor. */
    private static String fp8Weight(OnnxGraph g, String name, Fp8Matrix m) {
        DataType type = m.format() == Fp8Format.E4M3 ? DataType.FLOAT8E4M3FN : DataType.FLOAT8E5M2;
        String q = g.initializer(name + ".weight_q", type, new long[] {m.rows(), m.cols()}, m.q().clone());
        long[] sdims = m.perChannel() ? new long[] {m.rows()} : new long[0];
        String s = g.floats(name + ".weight_scale", sdims, m.storedScales());
        String z = g.initializer(name + ".weight_zero", type, sdims, new byte[m.storedScales().length]);   // float8 +0.0
        return g.op("DequantizeLinear", m.perChannel() ? List.of(Attr.i("axis", 0)) : List.of(), q, s, z);
    }

    /**
     * FP8 W8A8: the engine's e4m3 activations, scale max|x|/448 (1 for zero) per token (the row,
     * capped at the upper bound when one is set) or per tensor computed in the graph, or the static
     * one; QuantizeLinear to FLOAT8E4M3FN (round to nearest even, saturate), Cast back to float (the
     * dequantization with scale 1), Gemm with the dequantized weights, times the activation scale (as
     * for int8 per token).
     */
    static String fp8Activations(OnnxGraph g, Map<String, String> how, String name, String x, Fp8W8A8Linear f) {
        String scale;
        List<Attr> axis;
        switch (f.act()) {
            case STATIC -> {
                scale = g.scalar(f.inputScale());
                axis = List.of();
            }
            case TENSOR -> {
                String absMax = g.op("ReduceMax", List.of(Attr.i("keepdims", 0)), g.op("Abs", x));
                scale = g.op("Where", g.op("Equal", absMax, g.scalar(0f)), g.scalar(1f), g.op("Div", absMax, g.scalar(Fp8Format.E4M3.max)));
                axis = List.of();
            }
            default -> {
                String absMax = g.op("ReduceMax", List.of(Attr.i("keepdims", 0)), g.op("Abs", x), g.int64s(1));
                if (Float.isFinite(f.inputScale())) absMax = g.op("Min", absMax, g.scalar(f.inputScale()));   // FBGEMM's activation_scale_ub
                scale = g.op("Where", g.op("Equal", absMax, g.scalar(0f)), g.scalar(1f), g.op("Div", absMax, g.scalar(Fp8Format.E4M3.max)));
                axis = List.of(Attr.i("axis", 0));
            }
        }
        List<Attr> qa = new java.util.ArrayList<>(axis);
        qa.add(Attr.i("output_dtype", DataType.FLOAT8E4M3FN.getNumber()));
        String q = g.op("QuantizeLinear", qa, x, scale);
        // the e4m3 values as floats: a Cast, not DequantizeLinear(scale 1): ORT 1.23's QDQ optimizer fuses
        // DequantizeLinear(float8) -> Gemm into a QGemm that has no float8 kernel and rejects the model
        String codes = g.op("Cast", List.of(Attr.i("to", DataType.FLOAT.getNumber())), q);
        String y = g.op("Gemm", List.of(Attr.i("transB", 1)), codes, fp8Weight(g, name, f.weights()));
        how.put(name, "e4m3 weights + " + f.act().name().toLowerCase(Locale.ROOT) + (f.act() == Fp8W8A8Linear.Act.STATIC ? "" : " dynamic") + " e4m3 QDQ");
        return g.op("Mul", y, f.act() == Fp8W8A8Linear.Act.TOKEN ? g.op("Unsqueeze", scale, g.int64s(1)) : scale);
    }

    /**
     * NF4 / FP4 (no ONNX type): the codes as UINT4 (two per byte) Cast to int64 and Gathered from the
     * 16-value table, times the block absmax, over the flattened weight in blocks of blockSize (padded
     * to whole blocks, then cut back). Double quantization is expressed too: absmax = Gather(the
     * 256-entry map, 8-bit codes) times the scale of its block of 256, plus the offset, in fp32 as the
     * engine computes it, so the weights are exactly the engine's.
     */
    private static String fourBitWeight(OnnxGraph g, String name, FourBitMatrix m) {
        long n = (long) m.rows() * m.cols();
        int nb = m.blocks();
        String codes = g.op("Cast", List.of(Attr.i("to", DataType.INT64.getNumber())),
                g.initializer(name + ".weight_codes", DataType.UINT4, new long[] {n}, packUint4(m.q())));
        String values = g.op("Gather", List.of(Attr.i("axis", 0)), g.floats(name + ".code_table", new long[] {16}, m.code().table()), codes);
        String absmax;
        if (m.doubleQuant()) {
            int n2 = m.absmaxScales().length;
            String q2 = g.op("Cast", List.of(Attr.i("to", DataType.INT64.getNumber())), g.initializer(name + ".absmax_q", DataType.UINT8, new long[] {nb}, m.absmaxQ().clone()));
            String mapped = g.op("Gather", List.of(Attr.i("axis", 0)), g.floats(name + ".absmax_map", new long[] {m.absmaxMap().length}, m.absmaxMap()), q2);
            String scaled = blockwise(g, mapped, nb, FourBitMatrix.DQ_BLOCK, g.floats(name + ".absmax_scale", new long[] {n2, 1}, m.absmaxScales()));
            absmax = g.op("Add", scaled, g.scalar(m.absmaxOffset()));
        } else {
            absmax = g.floats(name + ".absmax", new long[] {nb}, m.absmaxFp32());
        }
        String w = blockwise(g, values, n, m.blockSize(), g.op("Unsqueeze", absmax, g.int64s(1)));
        return g.op("Reshape", w, g.int64s(m.rows(), m.cols()));
    }

    /** v (n) times scales (blocks, 1), block by block: padded to whole blocks, reshaped, multiplied, cut back to n. */
    private static String blockwise(OnnxGraph g, String v, long n, int block, String scales) {
        long blocks = (n + block - 1) / block, padded = blocks * block;
        String p = padded == n ? v : g.op("Pad", v, g.int64s(0, padded - n));
        String r = g.op("Reshape", g.op("Mul", g.op("Reshape", p, g.int64s(blocks, block)), scales), g.int64s(padded));
        return padded == n ? r : g.op("Slice", r, g.int64s(0), g.int64s(n), g.int64s(0));
    }

    /** DequantizeLinear of m's codes (out, in): per-channel (axis 0) for one group per row, blocked along axis 1 otherwise. */
    private static String dequantizedWeight(OnnxGraph g, String name, QuantizedMatrix m) {
        int rows = m.rows(), cols = m.cols(), ng = m.groups();
        boolean int4 = m.range().bits() == 4;
        if (int4 && m.range().symmetric()) throw new IllegalArgumentException(name + ": symmetric int4 codes (-7..7) are stored here as uint4 only with a zero point");
        DataType type = int4 ? DataType.UINT4 : DataType.INT8;   // int8 codes are -128..127 either way (zero point 0 when symmetric)
        byte[] codes = int4 ? packUint4(m.q()) : m.q().clone();
        String q = g.initializer(name + ".weight_q", type, new long[] {rows, cols}, codes);
        boolean perRow = ng == 1;
        long[] sdims = perRow ? new long[] {rows} : new long[] {rows, ng};
        String s = g.floats(name + ".weight_scale", sdims, m.scales());
        String z = g.initializer(name + ".weight_zero", type, sdims, int4 ? packUint4(m.zeros()) : m.zeros().clone());
        List<Attr> attrs = perRow ? List.of(Attr.i("axis", 0)) : List.of(Attr.i("axis", 1), Attr.i("block_size", m.layout().groupSize()));
        return g.op("DequantizeLinear", attrs, q, s, z);
    }

    /**
     * The engine's per-token (or per-row-group) symmetric int8 activations: scale max|x|/127 (1 for
     * a zero row) computed in the graph, QuantizeLinear along axis 0 (of the row-groups for groups).
     * The codes are dequantized with scale 1 and the row scale applied after the Gemm (it commutes
     * with the sum over the row): a DequantizeLinear with a per-row scale straight into Gemm is
     * fused by ONNX Runtime <= 1.23 into a QGemm that takes only a per-tensor scale and fails at run
     * time (onnxruntime PR 28714); with scale 1 the fusion is legal and runs int8 x int8.
     */
    static String perTokenQdq(OnnxGraph g, Map<String, String> how, String name, String x, QuantizedMatrix w) {
        int in = w.cols(), ng = w.groups(), gs = w.layout().groupSize();
        // groups: (rows, in) -> (rows * ng, gs), the ragged last group padded with zeros, so each row-group is a row
        String rows = ng == 1 ? x : g.op("Reshape", padColumns(g, x, in, ng * gs), g.int64s(-1, gs));
        String absMax = g.op("ReduceMax", List.of(Attr.i("keepdims", 0)), g.op("Abs", rows), g.int64s(1));
        String scale = g.op("Where", g.op("Equal", absMax, g.scalar(0f)), g.scalar(1f), g.op("Div", absMax, g.scalar(127f)));
        String q = g.op("QuantizeLinear", List.of(Attr.i("axis", 0), Attr.i("output_dtype", DataType.INT8.getNumber())), rows, scale);
        String codes = g.op("DequantizeLinear", q, g.scalar(1f), g.int8Zero());   // the int8 codes as floats
        String wd = dequantizedWeight(g, name, w), rowScale = g.op("Unsqueeze", scale, g.int64s(1));
        if (ng == 1) {
            how.put(name, "int8 weights + per-token dynamic QDQ");
            return g.op("Mul", g.op("Gemm", List.of(Attr.i("transB", 1)), codes, wd), rowScale);
        }
        String xd = g.op("Slice", g.op("Reshape", g.op("Mul", codes, rowScale), g.int64s(-1, (long) ng * gs)), g.int64s(0), g.int64s(in), g.int64s(1));
        how.put(name, "int8 weights + per-token dynamic QDQ (groups of " + gs + ")");
        return g.op("Gemm", List.of(Attr.i("transB", 1)), xd, wd);
    }

    /** x (rows, in) with zero columns appended up to width. */
    private static String padColumns(OnnxGraph g, String x, int in, int width) {
        return width == in ? x : g.op("Pad", x, g.int64s(0, 0, 0, width - in));
    }

    /** DynamicQuantizeLinear (per-tensor uint8) -> MatMulInteger with the int8 weights -> scales. */
    private static String dynamicInteger(OnnxGraph g, Map<String, String> how, String name, String x, QuantizedMatrix w) {
        if (w.groups() != 1)
            throw new IllegalArgumentException(name + ": per-group weight scales (group " + w.layout().groupSize() + ") have no MatMulInteger form "
                    + "(its scales apply after the whole sum); use --onnx-form qdq or a per-channel scheme");
        String[] dq = g.ops("DynamicQuantizeLinear", 3, List.of(), x);
        String wq = g.initializer(name + ".weight_qT", DataType.INT8, new long[] {w.cols(), w.rows()}, transposed(w.q(), w.rows(), w.cols()));
        String acc = g.op("MatMulInteger", dq[0], wq, dq[2]);
        String ws = g.floats(name + ".weight_scale", new long[] {w.rows()}, w.scales());
        how.put(name, "DynamicQuantizeLinear (per-tensor) + MatMulInteger");
        return g.op("Mul", g.op("Mul", g.op("Cast", List.of(Attr.i("to", DataType.FLOAT.getNumber())), acc), dq[1]), ws);
    }

    /** w8a8-tensor: the calibrated scale as a constant; the engine's codes stop at -127, so x is clipped first. */
    private static String staticInt8(OnnxGraph g, Map<String, String> how, String name, String x, W8A8TensorLinear l, Form form) {
        QuantizedMatrix w = l.weights();
        float s = l.inputScale();
        String xc = g.op("Clip", x, g.scalar(-127 * s), g.scalar(127 * s));
        String xq = g.op("QuantizeLinear", xc, g.scalar(s), g.int8Zero());   // static: a constant per-tensor scale
        if (form == Form.QDQ) {
            how.put(name, "int8 per-tensor static QDQ");
            String wd = g.op("DequantizeLinear", g.initializer(name + ".weight_q", DataType.INT8, new long[] {w.rows(), w.cols()}, w.q().clone()), g.scalar(w.scales()[0]));
            return g.op("Gemm", List.of(Attr.i("transB", 1)), g.op("DequantizeLinear", xq, g.scalar(s)), wd);
        }
        how.put(name, "static QuantizeLinear + MatMulInteger");
        String wq = g.initializer(name + ".weight_qT", DataType.INT8, new long[] {w.cols(), w.rows()}, transposed(w.q(), w.rows(), w.cols()));
        String acc = g.op("MatMulInteger", xq, wq);
        return g.op("Mul", g.op("Cast", List.of(Attr.i("to", DataType.FLOAT.getNumber())), acc), g.scalar(s * w.scales()[0]));
    }

    /** ONNX's 4-bit packing: element 2i in the low nibble of byte i, 2i+1 in the high one. */
    static byte[] packUint4(byte[] codes) {
        byte[] out = new byte[(codes.length + 1) / 2];
        for (int i = 0; i < codes.length; i++) out[i / 2] |= (byte) ((codes[i] & 0xF) << (4 * (i & 1)));
        return out;
    }

    private static byte[] transposed(byte[] q, int rows, int cols) {
        byte[] t = new byte[q.length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = q[r * cols + c];
        return t;
    }

    private static long[] toLongs(int[] v) {
        long[] out = new long[v.length];
        for (int i = 0; i < v.length; i++) out[i] = v[i];
        return out;
    }

    private static byte[] f32(float v) {
        return java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(v).array();
    }
}
