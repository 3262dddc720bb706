package dev.quantflow.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The shape of a Llama-family model, from a Hugging Face config.json (Llama 2/3, TinyLlama,
 * SmolLM, Mistral-style GQA, Qwen2 with q/k/v biases) or a GGUF file's metadata ({@link GgufSource}).
 */
public record LlamaConfig(
        String architecture,
        int hiddenSize,          // dim
        int intermediateSize,    // hidden dim of the SwiGLU MLP
        int numLayers,
        int numHeads,
        int numKvHeads,          // < numHeads: grouped-query attention
        int headDim,
        int vocabSize,
        int maxPositions,
        float rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling, // RopeScaling.NONE when absent
        boolean tieWordEmbeddings,
        boolean attentionBias,
        int bosTokenId,          // -1 if unknown
        int[] eosTokenIds,
        JsonNode quantizationConfig /* null-free: MissingNode when absent */) {

    static final Set<String> SUPPORTED = Set.of(
            "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "LLaMAForCausalLM");

    /**
     * RoPE frequency scaling: "llama3" (Llama 3.1: low frequencies stretched by factor, smooth
     * in between), "linear" (positions divided by factor), "factors" (each frequency divided by
     * its own factor, as a GGUF file's rope_freqs.weight gives Llama 3.1's scaling), "none".
     */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions, List<Float> freqFactors) {
        public static final RopeScaling NONE = new RopeScaling("none", 1, 1, 4, 8192);

        public RopeScaling {
            freqFactors = List.copyOf(freqFactors);
        }

        public RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
            this(type, factor, lowFreqFactor, highFreqFactor, originalMaxPositions, List.of());
        }

        /** Per-frequency divisors (headDim / 2 of them), e.g. llama.cpp's rope_freqs. */
        public static RopeScaling factors(float[] perFrequency) {
            List<Float> f = new java.util.ArrayList<>(perFrequency.length);
            for (float v : perFrequency) f.add(v);
            return new RopeScaling("factors", 1, 1, 4, 8192, f);
        }
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    public int qDim() {
        return numHeads * headDim;
    }

    /** The config of a Hugging Face model directory (config.json) or of a GGUF file (its metadata). */
    public static LlamaConfig load(Path dir) {
        if (GgufFile.isGguf(dir)) {
            try (GgufFile g = GgufFile.open(dir)) {
                return GgufSource.config(g);
            } catch (GgufFormatException e) {
                throw new ModelLoadException(dir, e.getMessage(), e);
            }
        }
        if (!Files.isDirectory(dir)) throw new ModelLoadException(dir, "model directory does not exist");
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) throw new ModelLoadException(file, "missing (not a Hugging Face model directory)");
        JsonNode c;
        try {
            c = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelLoadException(file, "not valid JSON: " + WeightStore.firstLine(e.getMessage()));
        }
        return parse(c, file);
    }

    public static LlamaConfig parse(JsonNode c, Path file) {
        String arch = c.path("architectures").path(0).asText(c.path("model_type").asText(""));
        if (!SUPPORTED.contains(arch) && !Set.of("llama", "mistral", "qwen2").contains(arch))
            throw new ModelLoadException(file, "unsupported architecture '" + arch + "' (supported: " + String.join(", ", SUPPORTED) + ")");
        int hidden = req(c, "hidden_size", file);
        int heads = req(c, "num_attention_heads", file);
        int kvHeads = c.path("num_key_value_heads").asInt(heads);
        int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
        if (heads % kvHeads != 0) throw new ModelLoadException(file, "num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        if (headDim % 2 != 0) throw new ModelLoadException(file, "head_dim " + headDim + " must be even for RoPE");
        JsonNode rs = c.path("rope_scaling");
        RopeScaling scaling = RopeScaling.NONE;
        if (rs.isObject()) {
            String type = rs.path("rope_type").asText(rs.path("type").asText(""));
            if (type.equals("llama3")) {
                scaling = new RopeScaling(type, rs.path("factor").asDouble(8), rs.path("low_freq_factor").asDouble(1),
                        rs.path("high_freq_factor").asDouble(4), rs.path("original_max_position_embeddings").asInt(8192));
            } else if (type.equals("linear")) {
                scaling = new RopeScaling(type, rs.path("factor").asDouble(1), 1, 4, c.path("max_position_embeddings").asInt(2048));
            } else if (!type.equals("default") && !type.isEmpty()) {
                throw new ModelLoadException(file, "unsupported rope_scaling type '" + type + "'");
            }
        }
        JsonNode eos = c.path("eos_token_id");
        int[] eosIds = eos.isArray() ? toInts(eos) : eos.isInt() ? new int[] {eos.asInt()} : new int[0];
        boolean bias = c.path("attention_bias").asBoolean(arch.startsWith("Qwen2") || arch.equals("qwen2"));
        return new LlamaConfig(arch, hidden, req(c, "intermediate_size", file), req(c, "num_hidden_layers", file),
                heads, kvHeads, headDim, req(c, "vocab_size", file),
                c.path("max_position_embeddings").asInt(2048),
                (float) c.path("rms_norm_eps").asDouble(1e-6), c.path("rope_theta").asDouble(10000.0), scaling,
                c.path("tie_word_embeddings").asBoolean(false), bias,
                c.path("bos_token_id").asInt(-1), eosIds, c.path("quantization_config"));
    }

    private static int[] toInts(JsonNode arr) {
        int[] r = new int[arr.size()];
        for (int i = 0; i < r.length; i++) r[i] = arr.get(i).asInt();
        return r;
    }

    private static int req(JsonNode c, String key, Path file) {
        JsonNode n = c.get(key);
        if (n == null || !n.canConvertToInt() || n.asInt() <= 0) throw new ModelLoadException(file, "missing or invalid '" + key + "'");
        return n.asInt();
    }
}
