package dev.quantflow.engine.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Streams the text of one sequence as its tokens arrive. Tokens contribute bytes; a UTF-8 decoder
 * keeps an incomplete multi-byte character back until its last byte arrives, so {@link #push}
 * never returns half a character, and everything pushed plus {@link #flush} is exactly what
 * {@link Tokenizer#decode} returns for the same ids (decode is implemented with this class).
 * A completion's detokenizer is {@link #seed seeded} with its prompt, so that its text is
 * decode(prompt + completion) minus decode(prompt): the space the decoder strips at the start of
 * a text belongs to the prompt, not to the first generated token.
 * Not thread-safe: one per sequence.
 */
public final class IncrementalDetokenizer {
    private final TokenRenderer renderer;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer pending = ByteBuffer.allocate(64);
    private int spacesToStrip;

    IncrementalDetokenizer(TokenRenderer renderer) {
        this.renderer = renderer;
        this.spacesToStrip = renderer.leadingSpacesToStrip();
    }

    /**
     * Consumes the prompt's ids without returning their text, so that what is pushed next decodes
     * as it does after the prompt. Only the prompt's head (until the leading-space strip is
     * settled) and its last bytes (a character the prompt leaves incomplete) matter.
     */
    public void seed(int[] prompt) {
        int head = 0;
        while (head < prompt.length && spacesToStrip > 0) push(prompt[head++]);
        int tail = prompt.length;
        for (int bytes = 0; tail > head && bytes < 4; ) bytes += renderer.bytes(prompt[--tail]).length;
        if (tail > head) {
            pending.clear();
            utf8.reset();
        }
        for (int i = tail; i < prompt.length; i++) push(prompt[i]);
    }

    /** The bytes that pushing the token now would add to the text (the leading-space strip applied). */
    public byte[] peekBytes(int tokenId) {
        byte[] bytes = renderer.bytes(tokenId);
        int from = stripped(bytes);
        return from == 0 ? bytes.clone() : Arrays.copyOfRange(bytes, from, bytes.length);
    }

    /** The text that pushing the token now would return, without pushing it (for logprob alternatives). */
    public String peek(int tokenId) {
        byte[] bytes = peekBytes(tokenId);
        if (bytes.length == 0) return "";
        ByteBuffer in = ByteBuffer.allocate(pending.position() + bytes.length);
        in.put(pending.duplicate().flip()).put(bytes).flip();
        CharBuffer chars = CharBuffer.allocate(in.remaining() + 4);
        StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(in, chars, false);
        return chars.flip().toString();
    }

    /** The bytes the token renders to anywhere but at the start of a text (where a leading space may be stripped). */
    public byte[] tokenBytes(int tokenId) {
        return renderer.bytes(tokenId).clone();
    }

    /** Whether the next token's leading spaces would be stripped (nothing visible has been decoded yet). */
    public boolean stripsLeadingSpaces() {
        return spacesToStrip > 0;
    }

    /** How many of the token's leading bytes the strip would remove. */
    private int stripped(byte[] bytes) {
        int from = 0;
        while (from < spacesToStrip && from < bytes.length && bytes[from] == ' ') from++;
        return from;
    }

    /** Adds one token; returns the text that became complete with it (often "", never broken UTF-8). */
    public String push(int tokenId) {
        byte[] bytes = renderer.bytes(tokenId);
        int from = stripped(bytes);
        spacesToStrip -= from;
        if (from == bytes.length) return "";
        spacesToStrip = 0; // only spaces at the very start of the text are stripped
        if (pending.remaining() < bytes.length - from) {
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(pending.capacity() * 2, pending.position() + bytes.length));
            pending.flip();
            bigger.put(pending);
            pending = bigger;
        }
        pending.put(bytes, from, bytes.length - from);
        return drain(false);
    }

    /** Ends the sequence: a trailing incomplete character comes out as U+FFFD. */
    public String flush() {
        String rest = drain(true);
        CharBuffer tail = CharBuffer.allocate(4);
        utf8.flush(tail);
        utf8.reset();
        return rest + tail.flip();
    }

    private String drain(boolean endOfInput) {
        pending.flip();
        CharBuffer chars = CharBuffer.allocate(pending.remaining() + 4);
        utf8.decode(pending, chars, endOfInput);
        pending.compact();
        return chars.flip().toString();
    }
}
