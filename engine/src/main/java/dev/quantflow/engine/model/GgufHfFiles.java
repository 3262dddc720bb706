package dev.quantflow.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.tokenizer.GgufTokenizerLoader;
import dev.quantflow.engine.tokenizer.LlamaCppPreTokenizers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The Hugging Face files beside the safetensors of a model quantized from a GGUF file: config.json
 * from the file's llama.* metadata (via its {@link LlamaConfig}) and tokenizer.json +
 * tokenizer_config.json from its tokenizer.ggml.* vocabulary, written as transformers'
 * LlamaConverter writes a SentencePiece BPE model: the score-based merges become a BPE merge list
 * (every split of a normal token into two normal tokens, ranked by the merged token's score, ties
 * by the parts' ids, as its SentencePieceExtractor does), byte fallback, the "▁" normalizer.
 * A "gpt2" (byte-level BPE) vocabulary is written back as convert_hf_to_gguf.py read it: the
 * tokens as the vocab, tokenizer.ggml.merges as the merges in rank order, the pre-tokenizer that
 * tokenizer.ggml.pre names (its regexes as Split steps, then ByteLevel; GPT-2's own regex as a
 * ByteLevel with use_regex, as GPT-2's tokenizer.json has it) and the ByteLevel decoder; control
 * and user-defined tokens become added tokens (special for control).
 */
public final class GgufHfFiles {
    // llama.cpp token types
    private static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, BYTE = 6;
    private static final JsonNodeFactory J = JsonNodeFactory.instance;

    private GgufHfFiles() {}

    /** config.json of c (a GGUF file's config as an fp32 source: {@link LlamaConfig#asFp32Source}). */
    public static ObjectNode config(Path file, LlamaConfig c) {
        ObjectNode o = J.objectNode();
        String arch = c.architecture();
        if (!arch.equals("LlamaForCausalLM") && !arch.equals("Qwen2ForCausalLM"))
            throw new IllegalArgumentException(file + ": architecture " + arch + " has no config.json form here (llama, qwen2)");
        boolean qwen = arch.equals("Qwen2ForCausalLM");
        if (c.attentionBias() && !qwen)
            throw new IllegalArgumentException(file + ": q/k/v biases without an o_proj bias have no Llama config.json form (attention_bias sets all four)");
        o.putArray("architectures").add(arch);
        o.put("model_type", qwen ? "qwen2" : "llama").put("hidden_act", "silu").put("torch_dtype", "float32")
                .put("hidden_size", c.hiddenSize()).put("intermediate_size", c.intermediateSize())
                .put("num_hidden_layers", c.numLayers()).put("num_attention_heads", c.numHeads()).put("num_key_value_heads", c.numKvHeads())
                .put("head_dim", c.headDim()).put("vocab_size", c.vocabSize()).put("max_position_embeddings", c.maxPositions())
                .put("rms_norm_eps", Double.parseDouble(Float.toString(c.rmsNormEps()))).put("rope_theta", c.ropeTheta())
                .put("tie_word_embeddings", c.tieWordEmbeddings());
        if (!qwen) o.put("attention_bias", false).put("mlp_bias", false);
        switch (c.ropeScaling().type()) {
            case "none" -> o.putNull("rope_scaling");
            case "linear" -> o.putObject("rope_scaling").put("rope_type", "linear").put("type", "linear").put("factor", c.ropeScaling().factor());
            default -> throw new IllegalArgumentException(file + ": RoPE scaling '" + c.ropeScaling().type() + "' (rope_freqs.weight) has no config.json form here");
        }
        if (c.bosTokenId() >= 0) o.put("bos_token_id", c.bosTokenId());
        if (c.eosTokenIds().length == 1) o.put("eos_token_id", c.eosTokenIds()[0]);
        else if (c.eosTokenIds().length > 1) {
            ArrayNode eos = o.putArray("eos_token_id");
            for (int id : c.eosTokenIds()) eos.add(id);
        }
        return o;
    }

    /** tokenizer.json and tokenizer_config.json of the file's vocabulary, into dir. */
    public static void writeTokenizer(GgufFile g, Path dir) {
        Path file = g.path();
        String model = g.findString("tokenizer.ggml.model").orElseThrow(() -> new IllegalArgumentException(file + ": no tokenizer.ggml.model (no vocabulary in this GGUF)"));
        boolean spm = model.equals("llama");
        if (!spm && !model.equals("gpt2"))
            throw new IllegalArgumentException(file + ": tokenizer.ggml.model '" + model + "' is not written as tokenizer.json (SentencePiece 'llama' and byte-level BPE 'gpt2' only); use --format gguf");
        String pre = g.findString("tokenizer.ggml.pre").orElse("default");
        LlamaCppPreTokenizers.Spec byteLevel = spm ? null : LlamaCppPreTokenizers.forName(pre).orElseThrow(() -> new IllegalArgumentException(
                file + ": tokenizer.ggml.pre '" + pre + "' has no tokenizer.json form here (supported: " + LlamaCppPreTokenizers.supportedNames() + "); use --format gguf"));
        List<String> tokens = g.getStringArray("tokenizer.ggml.tokens");
        int[] types = g.has("tokenizer.ggml.token_type") ? g.getIntArray("tokenizer.ggml.token_type") : new int[0];
        int n = tokens.size();
        int[] type = new int[n];
        for (int id = 0; id < n; id++) type[id] = id < types.length ? types[id] : NORMAL;
        boolean spacePrefix = spm && g.findBoolean("tokenizer.ggml.add_space_prefix").orElse(true);
        // llama.cpp's defaults when the keys are absent: BOS for SentencePiece vocabularies, none for byte-level ones
        boolean addBos = g.findBoolean("tokenizer.ggml.add_bos_token").orElse(spm), addEos = g.findBoolean("tokenizer.ggml.add_eos_token").orElse(false);
        String bos = token(g, tokens, "tokenizer.ggml.bos_token_id"), eos = token(g, tokens, "tokenizer.ggml.eos_token_id"), unk = token(g, tokens, "tokenizer.ggml.unknown_token_id");

        ObjectNode tj = J.objectNode();
        tj.put("version", "1.0").putNull("truncation").putNull("padding");
        ArrayNode added = tj.putArray("added_tokens");
        for (int id = 0; id < n; id++) {
            if (type[id] != CONTROL && type[id] != UNKNOWN && type[id] != USER_DEFINED) continue;
            added.addObject().put("id", id).put("content", tokens.get(id)).put("single_word", false).put("lstrip", false).put("rstrip", false)
                    .put("normalized", false).put("special", type[id] != USER_DEFINED);
        }
        if (spm) {
            ObjectNode norm = tj.putObject("normalizer").put("type", "Sequence");
            ArrayNode steps = norm.putArray("normalizers");
            if (spacePrefix) steps.addObject().put("type", "Prepend").put("prepend", "\u2581");
            steps.addObject().put("type", "Replace").<ObjectNode>set("pattern", J.objectNode().put("String", " ")).put("content", "\u2581");
            tj.putNull("pre_tokenizer");
        } else {
            tj.putNull("normalizer");
            tj.set("pre_tokenizer", byteLevelPreTokenizer(byteLevel));
        }
        if ((addBos && bos != null) || (addEos && eos != null)) {
            ObjectNode pp = tj.putObject("post_processor").put("type", "TemplateProcessing");
            ArrayNode single = pp.putArray("single"), pair = pp.putArray("pair");
            ObjectNode specials = pp.putObject("special_tokens");
            for (int seq = 0; seq < 2; seq++) {
                ArrayNode t = seq == 0 ? single : pair;
                for (int part = 0; part <= seq; part++) {
                    if (addBos && bos != null) t.addObject().putObject("SpecialToken").put("id", bos).put("type_id", part);
                    t.addObject().putObject("Sequence").put("id", part == 0 ? "A" : "B").put("type_id", part);
                    if (addEos && eos != null) t.addObject().putObject("SpecialToken").put("id", eos).put("type_id", part);
                }
            }
            for (String s : new String[] {addBos ? bos : null, addEos ? eos : null}) {
                if (s == null) continue;
                ObjectNode st = specials.putObject(s).put("id", s);
                st.putArray("ids").add(tokens.indexOf(s));
                st.putArray("tokens").add(s);
            }
        }
        if (spm) {
            ObjectNode dec = tj.putObject("decoder").put("type", "Sequence");
            ArrayNode ds = dec.putArray("decoders");
            ds.addObject().put("type", "Replace").<ObjectNode>set("pattern", J.objectNode().put("String", "\u2581")).put("content", " ");
            ds.addObject().put("type", "ByteFallback");
            ds.addObject().put("type", "Fuse");
            if (spacePrefix) ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        } else {
            tj.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
        }
        ObjectNode m = tj.putObject("model").put("type", "BPE").putNull("dropout");
        if (unk != null) m.put("unk_token", unk); else m.putNull("unk_token");
        m.putNull("continuing_subword_prefix").putNull("end_of_word_suffix").put("fuse_unk", spm);
        boolean bytes = false;
        for (int t : type) bytes |= t == BYTE;
        m.put("byte_fallback", bytes);
        if (!spm) m.put("ignore_merges", byteLevel.ignoreMerges());
        ObjectNode vocab = m.putObject("vocab");
        for (int id = 0; id < n; id++) if (!vocab.has(tokens.get(id))) vocab.put(tokens.get(id), id);
        ArrayNode merges = m.putArray("merges");
        List<String[]> pairs = spm ? merges(tokens, g.getFloatArray("tokenizer.ggml.scores"), type) : GgufTokenizerLoader.merges(g);
        for (String[] mg : pairs) merges.addArray().add(mg[0]).add(mg[1]);

        ObjectNode tc = J.objectNode();
        tc.put("add_bos_token", addBos).put("add_eos_token", addEos).put("clean_up_tokenization_spaces", false);
        if (spm) tc.put("legacy", true);
        tc.put("model_max_length", g.findInt(g.getString("general.architecture") + ".context_length").orElse(2048))
                .put("tokenizer_class", spm ? "LlamaTokenizer" : "PreTrainedTokenizerFast");
        if (bos != null) tc.put("bos_token", bos);
        if (eos != null) tc.put("eos_token", eos);
        if (unk != null) tc.put("unk_token", unk);
        g.findString("tokenizer.chat_template").ifPresent(t -> tc.put("chat_template", t));
        try {
            ObjectMapper om = new ObjectMapper();
            om.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("tokenizer.json").toFile(), tj);
            om.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("tokenizer_config.json").toFile(), tc);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot write the tokenizer: " + e.getMessage(), e);
        }
    }

    /** The tokenizer.json pre_tokenizer of a byte-level vocabulary's regexes. */
    private static ObjectNode byteLevelPreTokenizer(LlamaCppPreTokenizers.Spec spec) {
        if (spec.isGpt2()) return J.objectNode().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true);
        ObjectNode seq = J.objectNode().put("type", "Sequence");
        ArrayNode steps = seq.putArray("pretokenizers");
        for (String regex : spec.regexes())
            steps.addObject().put("type", "Split").<ObjectNode>set("pattern", J.objectNode().put("Regex", regex)).put("behavior", "Isolated").put("invert", false);
        steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", false);
        return seq;
    }

    /** Merges (left, right) of normal tokens whose concatenation is a normal token, by that token's score, highest first. */
    static List<String[]> merges(List<String> tokens, float[] scores, int[] type) {
        Map<String, Integer> normal = new HashMap<>();
        for (int id = 0; id < tokens.size(); id++) if (type[id] == NORMAL) normal.putIfAbsent(tokens.get(id), id);
        record Merge(String left, String right, int l, int r, float score) {}
        List<Merge> all = new ArrayList<>();
        for (int id = 0; id < tokens.size(); id++) {
            if (type[id] != NORMAL) continue;
            String t = tokens.get(id);
            List<Merge> local = new ArrayList<>();
            for (int cut = t.offsetByCodePoints(0, 1); cut < t.length(); cut = t.offsetByCodePoints(cut, 1)) {
                Integer l = normal.get(t.substring(0, cut)), r = normal.get(t.substring(cut));
                if (l != null && r != null) local.add(new Merge(t.substring(0, cut), t.substring(cut), l, r, scores[id]));
            }
            local.sort(Comparator.comparingInt(Merge::l).thenComparingInt(Merge::r));
            all.addAll(local);
        }
        all.sort(Comparator.comparingDouble((Merge x) -> x.score()).reversed());   // stable: ties keep the order above
        List<String[]> out = new ArrayList<>(all.size());
        for (Merge x : all) out.add(new String[] {x.left(), x.right()});
        return out;
    }

    private static String token(GgufFile g, List<String> tokens, String key) {
        if (!g.has(key)) return null;
        long id = g.getLong(key);
        return id >= 0 && id < tokens.size() ? tokens.get((int) id) : null;
    }
}
