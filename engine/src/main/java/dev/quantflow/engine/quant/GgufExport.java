package dev.quantflow.engine.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufFileType;
import dev.quantflow.engine.gguf.GgufWriter;
import dev.quantflow.engine.gguf.block.Q6KQuantizer;
import dev.quantflow.engine.gguf.block.Q6_KLinear;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes a built (quantized) Llama model as a GGUF v3 file that llama.cpp and our GGUF loader
 * read: general.architecture = llama with the llama.* keys, the SentencePiece-style vocabulary as
 * tokenizer.ggml.*, tensors named as llama.cpp names them, q/k rows in llama.cpp's interleaved
 * RoPE order (HF's rotate-half rows permuted back, as convert_hf_to_gguf.py does).
 *
 * <p>Only where a GGUF type holds our scheme exactly:
 * <ul>
 * <li>int8 symmetric, per output channel (w8a16) or per group of a multiple of 32 (w8a8-dynamic:group=32)
 *     -> Q8_0 (block of 32: f16 d, int8 codes; w = d q);
 * <li>int4 symmetric (w4a16-rtn:sym=true, stored as unsigned codes with zero point 8), groups of a
 *     multiple of 32 -> Q4_0 (w = d (q - 8));
 * <li>int4 asymmetric (w4a16-rtn/gptq/awq, no act-order), groups of a multiple of 32 -> Q4_1
 *     (w = d q + m; ours is s (q - z), so d = s and m = -z s);
 * <li>q6_k -> Q6_K (its blocks as they are);
 * <li>fp32 / bf16 layers -> F32 / BF16 (F16 if stored as F16), norms F32.
 * </ul>
 * GGUF scales are f16 where ours are f32, so each scale is first rounded ({@link #asStored}); the
 * codes stay as the scheme chose them. For Q8_0/Q4_0 that is the nearest f16. For Q4_1, m = -z d
 * must be an f16 too, which for an odd zero point z needs low bits of d's mantissa clear: d is
 * the f16 nearest to s for which z d is exact (relative change at most 2^-7 for z = 9..15, 2^-11
 * for z = 0 or a power of two; scales below 2^-14 are f16 subnormals, 2^-24 apart). The file
 * then decodes bit for bit to the rounded scheme.
 */
public final class GgufExport {
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");
    private static final Map<String, String> LAYER_NAMES = Map.of(
            "self_attn.q_proj", "attn_q", "self_attn.k_proj", "attn_k", "self_attn.v_proj", "attn_v", "self_attn.o_proj", "attn_output",
            "mlp.gate_proj", "ffn_gate", "mlp.up_proj", "ffn_up", "mlp.down_proj", "ffn_down",
            "input_layernorm", "attn_norm", "post_attention_layernorm", "ffn_norm");

    private GgufExport() {}

    /** What was written: the GGUF type of each tensor and the largest relative change of a scale by f16 rounding. */
    public record Summary(Map<String, GgmlType> types, double maxScaleChange, long tensorBytes) {
        public Map<GgmlType, Integer> counts() {
            Map<GgmlType, Integer> c = new EnumMap<>(GgmlType.class);
            types.values().forEach(t -> c.merge(t, 1, Integer::sum));
            return c;
        }
    }

    /** llama.cpp's name of a Hugging Face tensor (model.layers.3.self_attn.q_proj.weight -> blk.3.attn_q.weight). */
    public static String ggufName(String hf) {
        switch (hf) {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
            default:
        }
        Matcher m = LAYER.matcher(hf);
        if (m.matches()) {
            String rest = m.group(2), suffix = rest.endsWith(".weight") ? ".weight" : rest.endsWith(".bias") ? ".bias" : null;
            if (suffix != null) {
                String n = LAYER_NAMES.get(rest.substring(0, rest.length() - suffix.length()));
                if (n != null) return "blk." + m.group(1) + "." + n + suffix;
            }
        }
        throw new IllegalArgumentException("no GGUF name for tensor " + hf);
    }

    /**
     * GGUF row r of a q (heads = attention heads) or k (heads = KV heads) projection is HF row
     * perm[r]: within a head of hd rows, GGUF keeps the pair (2j, 2j+1) that RoPE rotates
     * together, HF keeps (j, j + hd/2).
     */
    public static int[] ropeRowOrder(int rows, int heads) {
        int hd = rows / heads;
        if (hd * heads != rows || hd % 2 != 0) throw new IllegalArgumentException(rows + " rows are not " + heads + " heads of an even size");
        int[] perm = new int[rows];
        for (int r = 0; r < rows; r++) {
            int h = r / hd, k = r % hd;
            perm[r] = h * hd + (k % 2) * (hd / 2) + k / 2;
        }
        return perm;
    }

    /** The GGUF type that holds m exactly (after f16 rounding of its scales), or an error naming why none does. */
    public static GgmlType typeFor(String name, QuantizedMatrix m, boolean permuted) {
        if (permuted) throw new IllegalArgumentException(name + ": act-order (permuted input columns) has no GGUF type");
        int g = m.layout().groupSize();
        if (m.cols() % 32 != 0 || !(g % 32 == 0 || m.layout().perRowOnly()))
            throw new IllegalArgumentException(name + ": groups of " + g + " over " + m.cols() + " columns do not fit GGUF's blocks of 32 (use a group that is a multiple of 32)");
        if (m.range() == IntRange.INT8_SYM) return GgmlType.Q8_0;
        if (m.range() == IntRange.INT4_ASYM) {
            for (byte z : m.zeros()) if (z != 8) return GgmlType.Q4_1;
            return GgmlType.Q4_0;
        }
        throw new IllegalArgumentException(name + ": " + m.range() + " codes have no GGUF type");
    }

    /** m with each scale rounded to what the GGUF type stores (see the class comment); codes and zero points unchanged. */
    public static QuantizedMatrix asStored(QuantizedMatrix m, GgmlType type) {
        float[] s = m.scales().clone();
        byte[] z = m.zeros();
        for (int i = 0; i < s.length; i++) {
            short bits = Float.floatToFloat16(s[i]);
            if (type == GgmlType.Q4_1) bits = withExactMin(bits, z[i]);
            float r = Float.float16ToFloat(bits);
            if (!Float.isFinite(r)) throw new IllegalArgumentException("scale " + s[i] + " does not fit an f16");
            s[i] = r;
        }
        return new QuantizedMatrix(m.range(), m.rows(), m.cols(), m.layout(), m.q(), s, z);
    }

    /** The f16 nearest to bits (positive) whose product with zero point z is also exactly an f16. */
    private static short withExactMin(short bits, int z) {
        for (int delta = 0; delta < 64; delta++) {
            for (int sign : new int[] {1, -1}) {
                int b = bits + sign * delta;
                if (b <= 0 || b >= 0x7C00) continue;
                float d = Float.float16ToFloat((short) b), m = z * d;
                if (Float.float16ToFloat(Float.floatToFloat16(m)) == m) return (short) b;
            }
        }
        throw new IllegalStateException("no f16 scale near " + Float.float16ToFloat(bits) + " with an exact f16 min for zero point " + z);
    }

    /** Writes b (built from the model directory source, which holds its tokenizer) to file. */
    public static Summary write(QuantizedModels.Built b, Path source, Path file) {
        LlamaConfig c = b.config();
        if (!c.architecture().equals("LlamaForCausalLM") && !c.architecture().equals("LLaMAForCausalLM"))
            throw new IllegalArgumentException("GGUF export writes llama models; " + c.architecture() + " is not one");
        if (!c.ropeScaling().type().equals("none")) throw new IllegalArgumentException("GGUF export: rope_scaling " + c.ropeScaling().type() + " is not written (llama.cpp needs rope_freqs for it)");
        if (c.attentionBias()) throw new IllegalArgumentException("GGUF export: attention biases are not written");
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama").putString("general.name", source.getFileName().toString().replaceAll("\\.gguf$", ""))
                .putUint32("llama.context_length", c.maxPositions()).putUint32("llama.embedding_length", c.hiddenSize())
                .putUint32("llama.block_count", c.numLayers()).putUint32("llama.feed_forward_length", c.intermediateSize())
                .putUint32("llama.attention.head_count", c.numHeads()).putUint32("llama.attention.head_count_kv", c.numKvHeads())
                .putFloat("llama.attention.layer_norm_rms_epsilon", c.rmsNormEps()).putFloat("llama.rope.freq_base", (float) c.ropeTheta())
                .putUint32("llama.rope.dimension_count", c.headDim()).putUint32("llama.vocab_size", c.vocabSize());
        if (c.headDim() * c.numHeads() != c.hiddenSize()) {
            w.putUint32("llama.attention.key_length", c.headDim()).putUint32("llama.attention.value_length", c.headDim());
        }
        Map<String, GgmlType> types = new LinkedHashMap<>();
        double[] maxChange = {0};
        long[] bytes = {0};
        raw(w, types, bytes, "model.embed_tokens.weight", b.weights().get("model.embed_tokens.weight"), null);
        for (int layer = 0; layer < c.numLayers(); layer++) {
            String p = "model.layers." + layer + ".";
            norm(w, types, bytes, b, p + "input_layernorm.weight");
            for (String proj : List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")) {
                int[] order = proj.endsWith("q_proj") ? ropeRowOrder(c.qDim(), c.numHeads()) : proj.endsWith("k_proj") ? ropeRowOrder(c.kvDim(), c.numKvHeads()) : null;
                linear(w, types, bytes, maxChange, b, p + proj, order);
            }
            norm(w, types, bytes, b, p + "post_attention_layernorm.weight");
            for (String proj : List.of("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")) linear(w, types, bytes, maxChange, b, p + proj, null);
        }
        norm(w, types, bytes, b, "model.norm.weight");
        Linear head = b.linears().get("lm_head");
        if (head != null && (!c.tieWordEmbeddings() || !(b.format("lm_head") instanceof DenseLinear))) linear(w, types, bytes, maxChange, b, "lm_head", null);
        w.putUint32("general.file_type", fileType(types).code).putUint32("general.quantization_version", 2);
        tokenizer(w, source, c);
        w.write(file);
        return new Summary(types, maxChange[0], bytes[0]);
    }

    private static GgufFileType fileType(Map<String, GgmlType> types) {
        Map<GgmlType, Integer> n = new EnumMap<>(GgmlType.class);
        types.forEach((name, t) -> { if (name.startsWith("blk.")) n.merge(t, 1, Integer::sum); });
        GgmlType most = n.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(GgmlType.F32);
        return switch (most) {
            case Q8_0 -> GgufFileType.Q8_0;
            case Q4_0 -> GgufFileType.Q4_0;
            case Q4_1 -> GgufFileType.Q4_1;
            case Q6_K -> GgufFileType.Q6_K;
            case F16 -> GgufFileType.F16;
            case BF16 -> GgufFileType.BF16;
            default -> GgufFileType.F32;
        };
    }

    private static void norm(GgufWriter w, Map<String, GgmlType> types, long[] bytes, QuantizedModels.Built b, String hf) {
        float[] v = b.weights().get(hf).toFloatArray();
        add(w, types, bytes, ggufName(hf), GgmlType.F32, new long[] {v.length}, () -> f32(v));
    }

    private static void add(GgufWriter w, Map<String, GgmlType> types, long[] bytes, String name, GgmlType type, long[] dims, Supplier<byte[]> data) {
        w.tensor(name, type, dims, data);
        types.put(name, type);
        long n = 1;
        for (long d : dims) n *= d;
        bytes[0] += type.byteSize(n);
    }

    /** A dense tensor in its stored dtype (rows permuted by order when given). */
    private static void raw(GgufWriter w, Map<String, GgmlType> types, long[] bytes, String hf, Tensor t, int[] order) {
        GgmlType type = switch (t.dtype()) {
            case F32 -> GgmlType.F32;
            case BF16 -> GgmlType.BF16;
            case F16 -> GgmlType.F16;
            default -> throw new IllegalArgumentException(hf + ": " + t.dtype() + " weights have no GGUF type here");
        };
        int rows = t.rows(), cols = t.cols(), rowBytes = cols * t.dtype().bytes;
        add(w, types, bytes, ggufName(hf), type, new long[] {cols, rows}, () -> {
            byte[] src = t.data().asSlice(0, (long) rows * rowBytes).toArray(ValueLayout.JAVA_BYTE);
            if (order == null) return src;
            byte[] out = new byte[src.length];
            for (int r = 0; r < rows; r++) System.arraycopy(src, order[r] * rowBytes, out, r * rowBytes, rowBytes);
            return out;
        });
    }

    private static void linear(GgufWriter w, Map<String, GgmlType> types, long[] bytes, double[] maxChange, QuantizedModels.Built b, String name, int[] order) {
        Linear l = b.format(name);
        String weight = name.equals("lm_head") && b.weights().find("lm_head.weight").isEmpty() ? "model.embed_tokens.weight" : name + ".weight";
        String gguf = ggufName(name.equals("lm_head") ? "lm_head.weight" : name + ".weight");
        QuantizedMatrix m = switch (l) {
            case DenseLinear d -> {
                Tensor t = b.weights().get(weight);
                if (d.scheme().equals("bf16") && t.dtype() != DType.BF16) t = QuantizedModels.toBf16(t);
                raw(w, types, bytes, name.equals("lm_head") ? "lm_head.weight" : name + ".weight", t, order);
                yield null;
            }
            case Q6_KLinear q -> {   // already GGUF blocks: written as they are (rows reordered whole)
                byte[] blocks = q.blocks();
                int rb = (int) Q6KQuantizer.rowBytes(q.inFeatures());
                add(w, types, bytes, gguf, GgmlType.Q6_K, new long[] {q.inFeatures(), q.outFeatures()}, () -> {
                    if (order == null) return blocks;
                    byte[] out = new byte[blocks.length];
                    for (int r = 0; r < q.outFeatures(); r++) System.arraycopy(blocks, order[r] * rb, out, r * rb, rb);
                    return out;
                });
                yield null;
            }
            case Int8Linear i -> i.weights();
            case W8A8DynamicLinear d -> d.weights();
            case Int4GroupLinear i4 -> {
                if (i4.permutation() != null) typeFor(name, i4.weights(), true);
                yield i4.weights();
            }
            default -> throw new IllegalArgumentException(name + " is " + l.scheme() + ": GGUF holds exactly only w8a16, w8a8-dynamic (group a multiple of 32), "
                    + "w4a16-rtn/gptq/awq (group a multiple of 32, no act-order; rtn also sym=true), fp32, bf16 and q6_k");
        };
        if (m == null) return;
        GgmlType type = typeFor(name, m, false);
        QuantizedMatrix s = asStored(m, type);
        for (int i = 0; i < s.scales().length; i++) maxChange[0] = Math.max(maxChange[0], Math.abs(s.scales()[i] - m.scales()[i]) / Math.abs(m.scales()[i]));
        add(w, types, bytes, gguf, type, new long[] {m.cols(), m.rows()}, () -> encode(s, type, order));
    }

    /** The blocks of s (already f16-exact scales) in GGUF row order. */
    static byte[] encode(QuantizedMatrix s, GgmlType type, int[] order) {
        int rows = s.rows(), cols = s.cols(), blocks = cols / 32, bb = type.bytesPerBlock;
        byte[] out = new byte[rows * blocks * bb];
        for (int r = 0; r < rows; r++) {
            int src = order == null ? r : order[r];
            for (int k = 0; k < blocks; k++) {
                int at = (r * blocks + k) * bb, g = k * 32 / s.layout().groupSize();
                float d = s.scale(src, g);
                half(out, at, d);
                switch (type) {
                    case Q8_0 -> {
                        for (int j = 0; j < 32; j++) out[at + 2 + j] = (byte) s.code(src, k * 32 + j);
                    }
                    case Q4_0, Q4_1 -> {
                        int qs = at + 2;
                        if (type == GgmlType.Q4_1) {
                            half(out, at + 2, -s.zero(src, g) * d);   // exact: asStored chose d so
                            qs = at + 4;
                        }
                        for (int j = 0; j < 16; j++) out[qs + j] = (byte) (s.code(src, k * 32 + j) | s.code(src, k * 32 + 16 + j) << 4);
                    }
                    default -> throw new IllegalArgumentException(type.toString());
                }
            }
        }
        return out;
    }

    private static void half(byte[] out, int at, float v) {
        short h = Float.floatToFloat16(v);
        if (Float.float16ToFloat(h) != v && !(v == 0 && h == 0)) throw new IllegalStateException(v + " is not exactly an f16");
        out[at] = (byte) h;
        out[at + 1] = (byte) (h >> 8);
    }

    private static byte[] f32(float[] v) {
        byte[] out = new byte[4 * v.length];
        java.nio.ByteBuffer.wrap(out).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(v);
        return out;
    }

    /**
     * tokenizer.ggml.* from tokenizer.json, for SentencePiece-style BPE vocabularies (Llama 1/2,
     * TinyLlama): model "llama", tokens by id, scores 0 for special and byte tokens and -(rank) for
     * the rest in id order (as llama.cpp's converter writes them), types normal 1, unknown 2,
     * control 3, user-defined 4, byte 6.
     */
    private static void tokenizer(GgufWriter w, Path source, LlamaConfig c) {
        if (GgufFile.isGguf(source)) {
            copyTokenizer(w, source);
            return;
        }
        JsonNode tj, cfg;
        try {
            ObjectMapper om = new ObjectMapper();
            tj = om.readTree(source.resolve("tokenizer.json").toFile());
            Path tc = source.resolve("tokenizer_config.json");
            cfg = Files.isRegularFile(tc) ? om.readTree(tc.toFile()) : om.createObjectNode();
        } catch (IOException e) {
            throw new UncheckedIOException("GGUF export needs " + source.resolve("tokenizer.json") + ": " + e.getMessage(), e);
        }
        JsonNode model = tj.path("model");
        boolean spm = model.path("type").asText("").equals("BPE") && tj.toString().contains("\u2581") && !tj.path("pre_tokenizer").path("type").asText("").equals("ByteLevel");
        if (!spm) throw new IllegalArgumentException("GGUF export writes SentencePiece-style BPE vocabularies (tokenizer.ggml.model llama); " + source.resolve("tokenizer.json") + " is not one");
        Map<Integer, String> byId = new HashMap<>();
        model.path("vocab").properties().forEach(e -> byId.put(e.getValue().asInt(), e.getKey()));
        Map<Integer, Boolean> added = new HashMap<>();
        for (JsonNode a : tj.path("added_tokens")) {
            byId.put(a.path("id").asInt(), a.path("content").asText());
            added.put(a.path("id").asInt(), a.path("special").asBoolean(false));
        }
        int n = c.vocabSize();
        String unk = model.path("unk_token").asText(null);
        boolean byteFallback = model.path("byte_fallback").asBoolean(false);
        List<String> tokens = new ArrayList<>(n);
        float[] scores = new float[n];
        int[] kinds = new int[n];
        int normal = 0;
        for (int id = 0; id < n; id++) {
            String t = byId.get(id);
            if (t == null) throw new IllegalArgumentException("tokenizer.json has no token " + id + " of the model's " + n);
            tokens.add(t);
            if (t.equals(unk)) kinds[id] = 2;
            else if (added.containsKey(id)) kinds[id] = added.get(id) ? 3 : 4;
            else if (byteFallback && t.matches("<0x[0-9A-F]{2}>")) kinds[id] = 6;
            else {
                kinds[id] = 1;
                scores[id] = -(float) normal++;   // the first is -0.0, as llama.cpp writes it
            }
        }
        w.putString("tokenizer.ggml.model", "llama").putString("tokenizer.ggml.pre", "default")
                .putStrings("tokenizer.ggml.tokens", tokens).putFloats("tokenizer.ggml.scores", scores).putInts("tokenizer.ggml.token_type", kinds);
        if (c.bosTokenId() >= 0) w.putUint32("tokenizer.ggml.bos_token_id", c.bosTokenId());
        if (c.eosTokenIds().length > 0) w.putUint32("tokenizer.ggml.eos_token_id", c.eosTokenIds()[0]);
        if (unk != null && model.path("vocab").has(unk)) w.putUint32("tokenizer.ggml.unknown_token_id", model.path("vocab").path(unk).asInt());
        w.putBool("tokenizer.ggml.add_bos_token", cfg.path("add_bos_token").asBoolean(true))
                .putBool("tokenizer.ggml.add_eos_token", cfg.path("add_eos_token").asBoolean(false));
    }

    /** A GGUF source's tokenizer.* metadata (vocabulary, scores, types, ids, chat template), value for value. */
    private static void copyTokenizer(GgufWriter w, Path source) {
        try (GgufFile g = GgufFile.open(source)) {
            for (var e : g.metadata().entrySet()) {
                String k = e.getKey();
                if (!k.startsWith("tokenizer.")) continue;
                switch (e.getValue()) {
                    case String v -> w.putString(k, v);
                    case Boolean v -> w.putBool(k, v);
                    case Float v -> w.putFloat(k, v);
                    case Double v -> w.putFloat(k, v.floatValue());
                    case Number v -> w.putUint32(k, v.longValue());
                    case List<?> l when l.isEmpty() || l.getFirst() instanceof String -> w.putStrings(k, g.getStringArray(k));
                    case List<?> l when l.getFirst() instanceof Float || l.getFirst() instanceof Double -> w.putFloats(k, g.getFloatArray(k));
                    case List<?> l -> w.putInts(k, g.getIntArray(k));
                    default -> throw new IllegalArgumentException(source + ": metadata " + k + " of an unexpected kind");
                }
            }
        }
    }
}
