package dev.quantflow.engine.tokenizer;

import dev.quantflow.engine.gguf.GgufFile;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Text to token ids and back, for one model. Implementations are immutable and thread-safe;
 * {@link IncrementalDetokenizer}s are per sequence.
 */
public interface Tokenizer {
    /**
     * Loads tokenizer.json from a Hugging Face model directory, with tokenizer_config.json,
     * generation_config.json and config.json (when present) for BOS/EOS; or, given a GGUF model
     * file, its tokenizer.ggml.* metadata (BOS/EOS/add_bos included).
     */
    static Tokenizer fromModelDir(Path dir) {
        if (GgufFile.isGguf(dir)) return fromGguf(dir);
        return TokenizerJsonLoader.load(dir);
    }

    /** Builds the tokenizer from a GGUF file's tokenizer.ggml.* metadata. */
    static Tokenizer fromGguf(Path ggufFile) {
        return GgufTokenizerLoader.load(ggufFile);
    }

    /** Encodes as the model's own tokenizer does by default (BOS etc. added as configured). */
    default int[] encode(String text) {
        return encode(text, true);
    }

    /** Encodes; {@code addSpecialTokens} controls the post-processor's BOS/EOS only (added tokens in the text are always matched). */
    int[] encode(String text, boolean addSpecialTokens);

    /** Text of the ids; BOS and EOS are not rendered, everything else is. */
    String decode(int... ids);

    int vocabSize();

    OptionalInt bosTokenId();

    /** Ids that end generation. */
    Set<Integer> eosTokenIds();

    /** The token's string as stored in the vocabulary (e.g. "▁Hello", "Ġworld", "<0x0A>"). */
    String tokenText(int id);

    IncrementalDetokenizer newDetokenizer();

    /** skipSpecialTokens false: the special tokens decode hides (BOS, EOS) are written as their vocabulary text. */
    default IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens) {
        return newDetokenizer();
    }
}
