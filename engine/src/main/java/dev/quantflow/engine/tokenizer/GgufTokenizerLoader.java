package dev.quantflow.engine.tokenizer;

import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufFormatException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Builds a tokenizer from GGUF tokenizer.ggml.* metadata the way llama.cpp interprets it:
 * "llama" is score-based SentencePiece BPE with byte fallback, "gpt2" is rank-based byte-level BPE
 * with the pre-tokenizer named by tokenizer.ggml.pre. Control and user-defined tokens are matched
 * in the text as added tokens.
 */
public final class GgufTokenizerLoader {
    // llama.cpp token types
    private static final int CONTROL = 3, USER_DEFINED = 4, BYTE = 6;

    private GgufTokenizerLoader() {}

    static Tokenizer load(Path file) {
        try (GgufFile gguf = GgufFile.open(file)) {
            return build(gguf);
        } catch (GgufFormatException e) {
            throw new TokenizerException(e.getMessage(), e);
        }
    }

    private static TokenizerException problem(Path file, String what) {
        return new TokenizerException(file + ": " + what);
    }

    private static Tokenizer build(GgufFile gguf) {
        Path file = gguf.path();
        if (!gguf.has("tokenizer.ggml.model")) throw problem(file, "no tokenizer.ggml.model metadata (no vocabulary in this GGUF)");
        String modelName = gguf.getString("tokenizer.ggml.model");
        List<String> tokenList = gguf.getStringArray("tokenizer.ggml.tokens");
        String[] tokens = tokenList.toArray(String[]::new);
        int[] types = gguf.has("tokenizer.ggml.token_type") ? gguf.getIntArray("tokenizer.ggml.token_type") : new int[0];
        Map<String, Integer> vocab = new HashMap<>(tokens.length * 2);
        for (int id = 0; id < tokens.length; id++) vocab.putIfAbsent(tokens[id], id);

        List<AddedToken> added = new ArrayList<>();
        for (int id = 0; id < types.length; id++) {
            if (types[id] == CONTROL || types[id] == USER_DEFINED) {
                added.add(new AddedToken(id, tokens[id], false, false, false, false, types[id] == CONTROL));
            }
        }
        OptionalInt bos = optionalId(gguf, "tokenizer.ggml.bos_token_id", tokens.length);
        Set<Integer> eos = new LinkedHashSet<>();
        for (String key : List.of("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")) {
            optionalId(gguf, key, tokens.length).ifPresent(eos::add);
        }
        int unkId = optionalId(gguf, "tokenizer.ggml.unknown_token_id", tokens.length).orElse(-1);
        Set<Integer> hidden = new LinkedHashSet<>(eos);
        bos.ifPresent(hidden::add);

        boolean spm = modelName.equals("llama");
        if (!spm && !modelName.equals("gpt2")) {
            String kind = switch (modelName) {
                case "bert" -> "WordPiece (bert)";
                case "t5" -> "Unigram (t5)";
                default -> "'" + modelName + "'";
            };
            throw problem(file, "tokenizer.ggml.model " + kind + " is not supported (supported: llama, gpt2)");
        }
        boolean addBos = gguf.findBoolean("tokenizer.ggml.add_bos_token").orElse(spm);
        boolean addEos = gguf.findBoolean("tokenizer.ggml.add_eos_token").orElse(false);
        int[] prefix = addBos && bos.isPresent() ? new int[] {bos.getAsInt()} : new int[0];
        int[] suffix = addEos && !eos.isEmpty() ? new int[] {eos.iterator().next()} : new int[0];

        Normalizer normalizer;
        PreTokenizer preTokenizer;
        TokenModel model;
        TokenRenderer renderer;
        if (spm) {
            boolean addSpacePrefix = gguf.findBoolean("tokenizer.ggml.add_space_prefix").orElse(true);
            List<Normalizer> steps = new ArrayList<>();
            if (addSpacePrefix) steps.add(new Normalizer.Prepend(" "));
            steps.add(new Normalizer.ReplaceLiteral(" ", "\u2581"));
            normalizer = new Normalizer.Sequence(steps);
            preTokenizer = PreTokenizer.NONE;
            model = new SentencePieceScoreModel(vocab, gguf.getFloatArray("tokenizer.ggml.scores"), unkId);
            String[] rendered = tokens.clone();
            for (int id = 0; id < types.length; id++) if (types[id] == BYTE && ByteTokens.parse(tokens[id]) < 0) rendered[id] = null;
            renderer = TokenRenderer.text(rendered, hidden, List.of(Map.entry("\u2581", " ")), true, addSpacePrefix ? 1 : 0);
        } else {
            String pre = gguf.findString("tokenizer.ggml.pre").orElse("default");
            LlamaCppPreTokenizers.Spec spec = LlamaCppPreTokenizers.forName(pre).orElseThrow(() ->
                    problem(file, "tokenizer.ggml.pre '" + pre + "' is not supported (supported: " + LlamaCppPreTokenizers.supportedNames() + ")"));
            List<String[]> merges = merges(gguf);
            normalizer = null;
            preTokenizer = spec.toPreTokenizer();
            model = new BpeModel(vocab, merges, false, -1, false, spec.ignoreMerges());
            renderer = TokenRenderer.byteLevel(tokens, hidden);
        }
        return new PipelineTokenizer(new PipelineTokenizer.Parts(file.toString(), tokens, added, normalizer, preTokenizer, model,
                prefix, suffix, renderer, bos, eos));
    }

    /** A "gpt2" vocabulary's tokenizer.ggml.merges as (left, right) pairs, in rank order. */
    public static List<String[]> merges(GgufFile gguf) {
        List<String[]> merges = new ArrayList<>();
        for (String m : gguf.getStringArray("tokenizer.ggml.merges")) {
            int space = m.indexOf(' ', 1);
            if (space < 0) throw problem(gguf.path(), "tokenizer.ggml.merges entry '" + m + "' is not two tokens separated by a space");
            merges.add(new String[] {m.substring(0, space), m.substring(space + 1)});
        }
        return merges;
    }

    private static OptionalInt optionalId(GgufFile gguf, String key, int vocabSize) {
        if (!gguf.has(key)) return OptionalInt.empty();
        long id = gguf.getLong(key);
        if (id < 0 || id >= vocabSize) return OptionalInt.empty(); // e.g. -1 / UINT32_MAX for "none"
        return OptionalInt.of((int) id);
    }
}
