package dev.quantflow.engine.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Streams the text of one sequence as its tokens arrive. Tokens contribute bytes; a UTF-8 decoder
 * keeps an incomplete multi-byte character back until its last byte arrives, so {@link #push}
 * never returns half a character, and everything pushed plus {@link #flush} is exactly what
 * {@link Tokenizer#decode} returns for the same ids (decode is implemented with this class).
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

    /** Adds one token; returns the text that became complete with it (often "", never broken UTF-8). */
    public String push(int tokenId) {
        byte[] bytes = renderer.bytes(tokenId);
        int from = 0;
        while (spacesToStrip > 0 && from < bytes.length && bytes[from] == ' ') {
            from++;
            spacesToStrip--;
        }
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
