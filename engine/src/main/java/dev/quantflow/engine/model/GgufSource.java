package dev.quantflow.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufFormatException;
import dev.quantflow.engine.gguf.GgufTensorInfo;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A llama.cpp GGUF file as a model source: its {arch}.* metadata as a {@link LlamaConfig} and its
 * tensors under the Hugging Face names the stage loader reads, in their stored types (block
 * types stay blocks, views of the mapping). llama.cpp's converter permutes q/k rows of the
 * "llama" architecture from Hugging Face's rotate-half RoPE layout to the interleaved one; the
 * inverse row permutation is applied here, once (whole rows move, so it is exact for every
 * block type). Qwen2 files keep rotate-half (llama.cpp runs them with NEOX RoPE) and are not permuted.
 */
public final class GgufSource {
    /** llama.cpp writes Llama 1/2/3, Mistral, TinyLlama, SmolLM as "llama". */
    static final Set<String> ARCHITECTURES = Set.of("llama", "qwen2");

    private GgufSource() {}

    /** The config of an open GGUF file; throws ModelLoadException naming an unsupported architecture. */
    public static LlamaConfig config(GgufFile g) {
        Path file = g.path();
        try {
            String arch = g.findString("general.architecture").orElseThrow(() -> new ModelLoadException(file, "no general.architecture metadata"));
            if (!ARCHITECTURES.contains(arch))
                throw new ModelLoadException(file, "GGUF architecture '" + arch + "' is not supported (supported: " + String.join(", ", ARCHITECTURES.stream().sorted().toList()) + ")");
            String p = arch + ".";
            int hidden = g.getInt(p + "embedding_length");
            int heads = g.getInt(p + "attention.head_count");
            int kvHeads = g.findInt(p + "attention.head_count_kv").orElse(heads);
            int headDim = g.findInt(p + "attention.key_length").orElse(hidden / heads);
            if (heads % kvHeads != 0) throw new ModelLoadException(file, "head_count " + heads + " is not a multiple of head_count_kv " + kvHeads);
            int ropeDims = g.findInt(p + "rope.dimension_count").orElse(headDim);
            if (ropeDims != headDim) throw new ModelLoadException(file, "partial RoPE (rope.dimension_count " + ropeDims + " of head size " + headDim + ") is not supported");
            LlamaConfig.RopeScaling scaling = LlamaConfig.RopeScaling.NONE;
            String type = g.findString(p + "rope.scaling.type").orElse("none");
            if (g.tensors().containsKey("rope_freqs.weight")) {
                // llama.cpp's converter writes Llama 3.1's "llama3" scaling as one divisor per frequency
                if (!type.equals("none")) throw new ModelLoadException(file, "rope_freqs.weight together with rope.scaling.type '" + type + "' is not supported");
                float[] f = g.toFloatArray("rope_freqs.weight");
                if (f.length != headDim / 2) throw new ModelLoadException(file, "rope_freqs.weight has " + f.length + " factors for head size " + headDim);
                scaling = LlamaConfig.RopeScaling.factors(f);
            } else if (type.equals("linear")) {
                scaling = new LlamaConfig.RopeScaling("linear", g.getFloat(p + "rope.scaling.factor"), 1, 4, g.findInt(p + "context_length").orElse(2048));
            } else if (!type.equals("none")) {
                throw new ModelLoadException(file, "rope.scaling.type '" + type + "' is not supported (none, linear)");
            }
            int vocab = g.findInt(p + "vocab_size").orElseGet(() -> g.has("tokenizer.ggml.tokens")
                    ? g.getArray("tokenizer.ggml.tokens").size() : (int) g.tensor("token_embd.weight").dims()[1]);
            int bos = g.has("tokenizer.ggml.bos_token_id") ? (int) g.getLong("tokenizer.ggml.bos_token_id") : -1;
            int[] eos = g.has("tokenizer.ggml.eos_token_id") ? new int[] {(int) g.getLong("tokenizer.ggml.eos_token_id")} : new int[0];
            double theta = g.has(p + "rope.freq_base") ? g.getFloat(p + "rope.freq_base") : 10000.0;
            float eps = g.has(p + "attention.layer_norm_rms_epsilon") ? g.getFloat(p + "attention.layer_norm_rms_epsilon") : 1e-5f;
            return new LlamaConfig(arch, hidden, g.getInt(p + "feed_forward_length"), g.getInt(p + "block_count"), heads, kvHeads, headDim,
                    vocab, g.findInt(p + "context_length").orElse(2048), eps, theta, scaling,
                    !g.tensors().containsKey("output.weight"), g.tensors().containsKey("blk.0.attn_q.bias"), bos, eos, quantization(g));
        } catch (GgufFormatException e) {
            throw new ModelLoadException(file, e.getMessage(), e);
        }
    }

    /**
     * A file with block-quantized tensors is a quantized checkpoint ({"quant_method": "gguf",
     * "types": "Q8_0, F32"}): run as stored, never re-quantized; one of F32/F16/BF16 only is not.
     */
    private static JsonNode quantization(GgufFile g) {
        Set<String> types = new TreeSet<>();
        boolean blocks = false;
        for (GgufTensorInfo t : g.tensors().values()) {
            if (hfName(t.name()) == null || t.dims().length < 2) continue;   // the matrices: norms and biases stay F32
            types.add(t.type().name());
            blocks |= t.type().blockSize > 1;
        }
        if (!blocks) return MissingNode.getInstance();
        ObjectNode qc = JsonNodeFactory.instance.objectNode();
        qc.put("quant_method", "gguf").put("types", String.join(", ", types));
        return qc;
    }

    /** The Hugging Face name of a llama.cpp tensor name, or null for one the engine does not use. */
    static String hfName(String gguf) {
        switch (gguf) {
            case "token_embd.weight": return "model.embed_tokens.weight";
            case "output_norm.weight": return "model.norm.weight";
            case "output.weight": return "lm_head.weight";
            default:
        }
        if (!gguf.startsWith("blk.")) return null;
        int dot = gguf.indexOf('.', 4);
        if (dot < 0) return null;
        String layer = gguf.substring(4, dot), rest = gguf.substring(dot + 1);
        int suffix = rest.lastIndexOf('.');
        if (suffix < 0) return null;
        String part = switch (rest.substring(0, suffix)) {
            case "attn_norm" -> "input_layernorm";
            case "attn_q" -> "self_attn.q_proj";
            case "attn_k" -> "self_attn.k_proj";
            case "attn_v" -> "self_attn.v_proj";
            case "attn_output" -> "self_attn.o_proj";
            case "ffn_norm" -> "post_attention_layernorm";
            case "ffn_gate" -> "mlp.gate_proj";
            case "ffn_up" -> "mlp.up_proj";
            case "ffn_down" -> "mlp.down_proj";
            default -> null;
        };
        return part == null ? null : "model.layers." + layer + "." + part + rest.substring(suffix);
    }

    /**
     * The tensors the engine uses, by Hugging Face name, as views of the file's mapping in file
     * order. The q/k rows of a "llama" file are still in llama.cpp's order here: {@link #permuted}
     * names them and {@link #huggingFaceRows} makes their Hugging Face order (WeightStore does, when
     * they are read).
     */
    static Map<String, Tensor> tensors(GgufFile g) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (GgufTensorInfo t : g.tensors().values()) {
            String name = hfName(t.name());
            if (name == null) continue;
            DType dtype = dtype(g.path(), t);
            long[] dims = t.dims();
            long[] shape = new long[dims.length];
            for (int i = 0; i < dims.length; i++) shape[i] = dims[dims.length - 1 - i];   // ggml lists the row length first
            out.put(name, new Tensor(name, dtype, shape, g.tensorData(t.name())));
        }
        return out;
    }

    /** Whether tensor name (a Hugging Face name) of a file of config c is stored with llama.cpp's permuted q/k rows. */
    static boolean permuted(LlamaConfig c, String name) {
        return c.architecture().equals("llama") && (name.contains("self_attn.q_proj.") || name.contains("self_attn.k_proj."));
    }

    /** The mapped tensor's rows in Hugging Face order, copied once into memory of arena; the mapped pages are dropped. */
    static Tensor huggingFaceRows(Tensor mapped, LlamaConfig c, Arena arena) {
        MemorySegment data = rotateHalfRows(mapped.data(), mapped.shape()[0], mapped.dtype().byteSize(mapped.numel() / mapped.shape()[0]), c.headDim(), arena);
        if (mapped.data().isMapped()) mapped.data().unload();   // only the permuted copy is read from now on
        return new Tensor(mapped.name(), mapped.dtype(), mapped.shape(), data);
    }

    private static DType dtype(Path file, GgufTensorInfo t) {
        GgmlType type = t.type();
        try {
            DType d = DType.valueOf(type.name());
            if (d.isBlockQuantized() || d == DType.F32 || d == DType.F16 || d == DType.BF16) return d;
        } catch (IllegalArgumentException e) {
            // no such DType: refused below
        }
        throw new ModelLoadException(file, "GGUF type " + type + " (tensor " + t.name() + ") is not supported");
    }

    /**
     * Undoes llama.cpp's permute(): within each head of headDim rows, GGUF row 2j + s holds Hugging
     * Face row s * headDim/2 + j (s = 0, 1). Rows are rowBytes each (a bias: one element per row).
     */
    static MemorySegment rotateHalfRows(MemorySegment src, long rows, long rowBytes, int headDim, Arena arena) {
        if (rows % headDim != 0) throw new IllegalArgumentException(rows + " rows are not whole heads of " + headDim);
        MemorySegment dst = arena.allocate(rows * rowBytes, 64);
        int half = headDim / 2;
        for (long h = 0; h < rows / headDim; h++) {
            for (int j = 0; j < half; j++) {
                for (int s = 0; s < 2; s++) {
                    long from = h * headDim + 2L * j + s, to = h * headDim + (long) s * half + j;
                    MemorySegment.copy(src, from * rowBytes, dst, to * rowBytes, rowBytes);
                }
            }
        }
        return dst;
    }
}
