package dev.quantflow.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;

/**
 * SentencePiece byte fallback: characters missing from the vocabulary are written as the tokens
 * {@code <0x00>..<0xFF>} of their UTF-8 bytes.
 */
final class ByteTokens {
    private final int[] idOfByte = new int[256];

    ByteTokens(Map<String, Integer> vocab) {
        Arrays.fill(idOfByte, -1);
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(name(b));
            if (id != null) idOfByte[b] = id;
        }
    }

    static String name(int b) {
        return String.format("<0x%02X>", b);
    }

    /** The byte a token like "<0x0A>" stands for, or -1. */
    static int parse(String token) {
        if (token.length() != 6 || !token.startsWith("<0x") || token.charAt(5) != '>') return -1;
        int hi = Character.digit(token.charAt(3), 16), lo = Character.digit(token.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    /** Appends the byte tokens of {@code text}; false (and nothing appended) if one is missing. */
    boolean append(String text, TokenIds out) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) if (idOfByte[b & 0xFF] < 0) return false;
        for (byte b : bytes) out.add(idOfByte[b & 0xFF]);
        return true;
    }
}
