package dev.quantflow.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What each token id contributes to decoded text, as bytes (the tokenizer.json "decoder"): byte-level
 * vocabularies map their alphabet back to raw bytes; SentencePiece vocabularies turn "▁" into a
 * space and {@code <0xNN>} into the byte NN. Decoding is the UTF-8 decoding of the concatenated
 * bytes, minus hidden tokens (BOS/EOS) and minus leading spaces the decoder strips (the space the
 * SentencePiece dummy prefix put in front of the first word).
 */
final class TokenRenderer {
    private static final byte[] NOTHING = new byte[0];

    private final byte[][] bytesById;
    private final int leadingSpacesToStrip;
    private final Map<Integer, byte[]> hiddenText;   // what the hidden tokens render to when shown (skip_special_tokens false)

    private TokenRenderer(byte[][] bytesById, int leadingSpacesToStrip, Map<Integer, byte[]> hiddenText) {
        this.bytesById = bytesById;
        this.leadingSpacesToStrip = leadingSpacesToStrip;
        this.hiddenText = hiddenText;
    }

    private static Map<Integer, byte[]> hiddenText(String[] tokens, Set<Integer> hidden) {
        Map<Integer, byte[]> m = new HashMap<>();
        for (int id : hidden) if (id >= 0 && id < tokens.length && tokens[id] != null) m.put(id, tokens[id].getBytes(StandardCharsets.UTF_8));
        return Map.copyOf(m);
    }

    /** The same rendering with the hidden tokens (BOS, EOS) written as their vocabulary text. */
    TokenRenderer showingHidden() {
        if (hiddenText.isEmpty()) return this;
        byte[][] bytes = bytesById.clone();
        hiddenText.forEach((id, text) -> bytes[id] = text);
        return new TokenRenderer(bytes, leadingSpacesToStrip, Map.of());
    }

    /** Byte-level decoding; a token with characters outside the alphabet is taken as plain UTF-8 (as HF does). */
    static TokenRenderer byteLevel(String[] tokens, Set<Integer> hidden) {
        byte[][] bytes = new byte[tokens.length][];
        for (int id = 0; id < tokens.length; id++) {
            bytes[id] = hidden.contains(id) || tokens[id] == null ? NOTHING : byteLevelBytes(tokens[id]);
        }
        return new TokenRenderer(bytes, 0, hiddenText(tokens, hidden));
    }

    private static byte[] byteLevelBytes(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            int b = ByteLevelAlphabet.byteOf(token.charAt(i));
            if (b < 0) return token.getBytes(StandardCharsets.UTF_8);
            out[i] = (byte) b;
        }
        return out;
    }

    /**
     * Text decoding: literal replacements (e.g. "▁" -> " "), then, with byte fallback, a token that
     * is exactly {@code <0xNN>} becomes that byte.
     */
    static TokenRenderer text(String[] tokens, Set<Integer> hidden, List<Map.Entry<String, String>> replacements, boolean byteFallback, int leadingSpacesToStrip) {
        byte[][] bytes = new byte[tokens.length][];
        for (int id = 0; id < tokens.length; id++) {
            String token = tokens[id];
            if (hidden.contains(id) || token == null) {
                bytes[id] = NOTHING;
                continue;
            }
            int b = byteFallback ? ByteTokens.parse(token) : -1;
            if (b >= 0) {
                bytes[id] = new byte[] {(byte) b};
                continue;
            }
            for (Map.Entry<String, String> r : replacements) token = token.replace(r.getKey(), r.getValue());
            bytes[id] = token.getBytes(StandardCharsets.UTF_8);
        }
        return new TokenRenderer(bytes, leadingSpacesToStrip, hiddenText(tokens, hidden));
    }

    /** The bytes token {@code id} renders to (shared: do not modify). Unknown ids render nothing. */
    byte[] bytes(int id) {
        return id >= 0 && id < bytesById.length ? bytesById[id] : NOTHING;
    }

    int leadingSpacesToStrip() {
        return leadingSpacesToStrip;
    }
}
