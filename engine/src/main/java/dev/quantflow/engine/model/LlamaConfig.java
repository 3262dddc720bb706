package dev.quantflow.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The shape of a Llama-family model, from a Hugging Face config.json (Llama 2/3/3.1/3.2, TinyLlama,
 * SmolLM, Mistral with its sliding window, Qwen2 with q/k/v biases), read with the semantics of
 * transformers' modeling_llama / modeling_mistral / modeling_qwen2, or from a GGUF file's metadata
 * ({@link GgufSource}). A key that would change the computation in a way the engine does not
 * implement is refused here, naming the key.
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
        int maxPositions,        // the context a sequence may fill (dynamic RoPE: factor x max_position_embeddings)
        float rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling, // RopeScaling.NONE when absent
        boolean tieWordEmbeddings,
        boolean attentionBias,   // q/k/v projections have biases
        int bosTokenId,          // -1 if unknown
        int[] eosTokenIds,
        JsonNode quantizationConfig /* null-free: MissingNode when absent */,
        boolean outputBias,      // o_proj has a bias (Llama's attention_bias)
        boolean mlpBias,         // gate/up/down have biases (Llama's mlp_bias)
        int[] attentionWindows) { // per layer: attend to the last w positions (sliding window), 0 = all

    static final Set<String> SUPPORTED = Set.of(
            "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "LLaMAForCausalLM");

    /** A config without o_proj/MLP biases or sliding windows (the shape GGUF and synthetic models give). */
    public LlamaConfig(String architecture, int hiddenSize, int intermediateSize, int numLayers, int numHeads, int numKvHeads, int headDim,
                       int vocabSize, int maxPositions, float rmsNormEps, double ropeTheta, RopeScaling ropeScaling, boolean tieWordEmbeddings,
                       boolean attentionBias, int bosTokenId, int[] eosTokenIds, JsonNode quantizationConfig) {
        this(architecture, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize, maxPositions, rmsNormEps,
                ropeTheta, ropeScaling, tieWordEmbeddings, attentionBias, bosTokenId, eosTokenIds, quantizationConfig, false, false,
                new int[numLayers]);
    }

    public LlamaConfig {
        if (attentionWindows.length != numLayers)
            throw new IllegalArgumentException("attentionWindows has " + attentionWindows.length + " entries for " + numLayers + " layers");
    }

    /**
     * RoPE frequency scaling: "llama3" (Llama 3.1: low frequencies stretched by factor, smooth in
     * between), "linear" (positions divided by factor), "dynamic" (NTK: the base grows with the
     * sequence once it passes originalMaxPositions), "factors" (each frequency divided by its own
     * factor, as a GGUF file's rope_freqs.weight gives Llama 3.1's scaling), "none".
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

        public boolean dynamic() {
            return type.equals("dynamic");
        }
    }

    /**
     * This config as a plain fp32 model's: no quantization_config, and a GGUF file's architecture
     * ("llama", "qwen2") as Hugging Face names it. What a GGUF file decoded to fp32 is (quantize's source).
     */
    public LlamaConfig asFp32Source() {
        String arch = switch (architecture) {
            case "llama" -> "LlamaForCausalLM";
            case "qwen2" -> "Qwen2ForCausalLM";
            default -> architecture;
        };
        return new LlamaConfig(arch, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize, maxPositions, rmsNormEps,
                ropeTheta, ropeScaling, tieWordEmbeddings, attentionBias, bosTokenId, eosTokenIds,
                MissingNode.getInstance(), outputBias, mlpBias, attentionWindows);
    }

    /** Weights of the decoder layers' linears (q, k, v, o, gate, up, down; in x out each): what bits per weight divide by. */
    public long decoderLinearWeights() {
        return (long) numLayers * (2L * hiddenSize * qDim() + 2L * hiddenSize * kvDim() + 3L * hiddenSize * intermediateSize);
    }

    /** Weights of lm_head (the embedding when tied). */
    public long headWeights() {
        return (long) vocabSize * hiddenSize;
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    public int qDim() {
        return numHeads * headDim;
    }

    /** Positions layer l attends back to (its own included); 0 = every earlier position. */
    public int attentionWindow(int layer) {
        return attentionWindows[layer];
    }

    /** The smallest sliding window of any layer, 0 if every layer attends to all positions. */
    public int smallestWindow() {
        return Arrays.stream(attentionWindows).filter(w -> w > 0).min().orElse(0);
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
        boolean qwen2 = arch.startsWith("Qwen2") || arch.equals("qwen2"), mistral = arch.startsWith("Mistral") || arch.equals("mistral");
        int hidden = req(c, "hidden_size", file);
        int heads = req(c, "num_attention_heads", file);
        int layers = req(c, "num_hidden_layers", file);
        int kvHeads = c.hasNonNull("num_key_value_heads") ? c.get("num_key_value_heads").asInt() : heads;
        int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
        if (kvHeads <= 0 || heads % kvHeads != 0) throw new ModelLoadException(file, "num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        if (headDim <= 0 || headDim % 2 != 0) throw new ModelLoadException(file, "head_dim " + headDim + " must be even for RoPE");
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu")) throw new ModelLoadException(file, "hidden_act '" + act + "' is not supported (the MLP is SwiGLU with silu)");
        if (c.hasNonNull("partial_rotary_factor") && c.get("partial_rotary_factor").asDouble() != 1.0)
            throw new ModelLoadException(file, "partial_rotary_factor " + c.get("partial_rotary_factor") + " is not supported (RoPE rotates the whole head)");
        int maxPos = c.path("max_position_embeddings").asInt(2048);
        // transformers 5 writes rope_parameters (theta inside); earlier versions rope_theta + rope_scaling
        JsonNode params = c.path("rope_parameters");
        double theta = params.isObject() && params.has("rope_theta") ? params.get("rope_theta").asDouble() : c.path("rope_theta").asDouble(10000.0);
        String scalingKey = params.isObject() ? "rope_parameters" : "rope_scaling";
        RopeScaling scaling = ropeScaling(params.isObject() ? params : c.path("rope_scaling"), scalingKey, maxPos, file);
        JsonNode eos = c.path("eos_token_id");
        int[] eosIds = eos.isArray() ? toInts(eos) : eos.isInt() ? new int[] {eos.asInt()} : new int[0];
        // Qwen2 always has q/k/v biases and none elsewhere; Mistral none; Llama by attention_bias / mlp_bias
        boolean attnBias = !mistral && (qwen2 || c.path("attention_bias").asBoolean(false));
        boolean outBias = !mistral && !qwen2 && c.path("attention_bias").asBoolean(false);
        boolean mlpBias = !mistral && !qwen2 && c.path("mlp_bias").asBoolean(false);
        int contextLength = scaling.dynamic() ? (int) Math.min(Integer.MAX_VALUE / 2, (long) Math.floor(scaling.factor() * maxPos)) : maxPos;
        return new LlamaConfig(arch, hidden, req(c, "intermediate_size", file), layers,
                heads, kvHeads, headDim, req(c, "vocab_size", file), contextLength,
                (float) c.path("rms_norm_eps").asDouble(1e-6), theta, scaling,
                c.path("tie_word_embeddings").asBoolean(false), attnBias,
                c.path("bos_token_id").asInt(-1), eosIds, c.path("quantization_config"),
                outBias, mlpBias, windows(c, layers, mistral, qwen2, file));
    }

    /** The rope_scaling object (or rope_parameters) as HF's rope init functions read it; unknown types and keys are refused. */
    private static RopeScaling ropeScaling(JsonNode rs, String key, int maxPos, Path file) {
        if (!rs.isObject()) return RopeScaling.NONE;
        String type = rs.path("rope_type").asText(rs.path("type").asText("default"));
        Set<String> known = switch (type) {
            case "default" -> Set.of();
            case "linear" -> Set.of("factor");
            case "dynamic" -> Set.of("factor", "original_max_position_embeddings");
            case "llama3" -> Set.of("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings");
            default -> throw new ModelLoadException(file, key + " type '" + type + "' is not supported (supported: default, linear, dynamic, llama3)");
        };
        for (Iterator<Map.Entry<String, JsonNode>> it = rs.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!known.contains(e.getKey()) && !Set.of("rope_type", "type", "rope_theta").contains(e.getKey()) && !e.getValue().isNull())
                throw new ModelLoadException(file, key + "." + e.getKey() + " is not supported with type '" + type + "'");
        }
        return switch (type) {
            case "linear" -> new RopeScaling(type, positive(rs, "factor", key, file), 1, 4, maxPos);
            case "dynamic" -> {
                // HF's dynamic NTK measures growth against max_position_embeddings and ignores this key: refuse a different value
                if (rs.hasNonNull("original_max_position_embeddings") && rs.get("original_max_position_embeddings").asInt() != maxPos)
                    throw new ModelLoadException(file, key + ".original_max_position_embeddings " + rs.get("original_max_position_embeddings")
                            + " differs from max_position_embeddings " + maxPos + " (dynamic scaling grows from max_position_embeddings)");
                yield new RopeScaling(type, positive(rs, "factor", key, file), 1, 4, maxPos);
            }
            case "llama3" -> {
                double low = positive(rs, "low_freq_factor", key, file), high = positive(rs, "high_freq_factor", key, file);
                if (high <= low) throw new ModelLoadException(file, key + ".high_freq_factor " + high + " must be greater than low_freq_factor " + low);
                yield new RopeScaling(type, positive(rs, "factor", key, file), low, high, (int) positive(rs, "original_max_position_embeddings", key, file));
            }
            default -> RopeScaling.NONE;
        };
    }

    private static double positive(JsonNode rs, String name, String key, Path file) {
        JsonNode n = rs.get(name);
        if (n == null || !n.isNumber() || n.asDouble() <= 0) throw new ModelLoadException(file, key + "." + name + " is missing or not a positive number");
        return n.asDouble();
    }

    /**
     * Sliding windows per layer: Mistral's sliding_window on every layer; Qwen2's only where
     * use_sliding_window is set, from layer max_window_layers on (or as layer_types names them).
     */
    private static int[] windows(JsonNode c, int layers, boolean mistral, boolean qwen2, Path file) {
        int[] w = new int[layers];
        if (!mistral && !qwen2) return w;   // modeling_llama has no sliding window
        JsonNode sw = c.path("sliding_window");
        if (sw.isMissingNode() || sw.isNull()) return w;
        if (!sw.canConvertToInt() || sw.asInt() <= 0) throw new ModelLoadException(file, "sliding_window " + sw + " must be a positive integer or null");
        JsonNode types = c.path("layer_types");
        if (types.isArray()) {
            if (types.size() != layers) throw new ModelLoadException(file, "layer_types has " + types.size() + " entries for " + layers + " layers");
            for (int l = 0; l < layers; l++) {
                String t = types.get(l).asText();
                if (t.equals("sliding_attention")) w[l] = sw.asInt();
                else if (!t.equals("full_attention")) throw new ModelLoadException(file, "layer_types[" + l + "] '" + t + "' is not supported (full_attention or sliding_attention)");
            }
            return w;
        }
        if (mistral) {
            Arrays.fill(w, sw.asInt());
        } else if (c.path("use_sliding_window").asBoolean(false)) {
            int from = c.path("max_window_layers").asInt(28);
            for (int l = Math.max(0, from); l < layers; l++) w[l] = sw.asInt();
        }
        return w;
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
