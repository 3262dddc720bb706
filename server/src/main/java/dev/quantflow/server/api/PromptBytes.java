package dev.quantflow.server.api;

import com.typesafe.config.Config;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;

/**
 * Refuses a prompt by its UTF-8 byte length before anything tokenizes it, so that a huge prompt
 * costs a length count, not a tokenization (an 8 MB prompt was 8.4 M tokens before the context
 * check refused it).
 *
 * <p>The default limit ({@code max-prompt-bytes = 0}) refuses only prompts that cannot fit: no
 * token covers more bytes than the longest string in the vocabulary, so a prompt of more than
 * context x that many bytes has more tokens than the context. (This holds for tokenizers whose
 * normalizer does not shrink the text, as those of byte-level BPE and SentencePiece models do
 * not; template and special tokens only add tokens.) A positive {@code max-prompt-bytes} is the
 * operator's own cap instead. Chat prompts count the bytes of their messages' roles and contents.
 */
public final class PromptBytes {
    private final long maxBytes;
    private final int contextLength;

    private PromptBytes(long maxBytes, int contextLength) {
        this.maxBytes = maxBytes;
        this.contextLength = contextLength;
    }

    /** configured: {@code quantflow.server.max-prompt-bytes} (0: derived from the vocabulary). */
    public static PromptBytes of(long configured, Tokenizer tokenizer, int contextLength) {
        if (configured < 0) throw new IllegalArgumentException("quantflow.server.max-prompt-bytes must be >= 0");
        return new PromptBytes(configured > 0 ? configured : (long) contextLength * longestToken(tokenizer), contextLength);
    }

    public static long configured(Config root) {
        return root.getBytes("quantflow.server.max-prompt-bytes");
    }

    public long maxBytes() {
        return maxBytes;
    }

    /** Throws context_length_exceeded when the prompt is over the limit; token-id prompts are counted by the caller. */
    public void check(Prompt prompt, String param) {
        long bytes = switch (prompt) {
            case Prompt.Text t -> utf8Length(t.text(), 0);
            case Prompt.Chat c -> {
                long n = 0;
                for (Prompt.ChatMessage m : c.messages()) {
                    n = utf8Length(m.role(), n);
                    n = utf8Length(m.content(), n);
                    // a call's name and arguments reach the template; JSON whitespace may not (tojson re-writes it)
                    for (Prompt.ToolCall call : m.toolCalls()) n = utf8Length(call.arguments().replaceAll("\\s", ""), utf8Length(call.name(), n));
                    if (n > maxBytes) break;
                }
                yield n;
            }
            case Prompt.Tokens t -> 0;
        };
        if (bytes > maxBytes)
            throw ApiError.invalid(param, "the prompt is longer than " + maxBytes + " bytes (UTF-8), more than this model's context of "
                    + contextLength + " tokens can hold").withCode("context_length_exceeded").exception();
    }

    /** The longest token in UTF-8 bytes, as stored (SentencePiece's "▁" and byte-level "Ġ" count more than the byte they stand for: an over-estimate is safe). */
    static int longestToken(Tokenizer tokenizer) {
        int longest = 4;  // an unknown character becomes one <unk> token: up to 4 bytes
        for (int id = 0; id < tokenizer.vocabSize(); id++)
            longest = Math.max(longest, tokenizer.tokenText(id).getBytes(StandardCharsets.UTF_8).length);
        return longest;
    }

    /** acc + the UTF-8 length of s, without encoding it; stops counting past the limit. */
    private long utf8Length(String s, long acc) {
        for (int i = 0; i < s.length() && acc <= maxBytes; i++) {
            char c = s.charAt(i);
            if (c < 0x80) acc += 1;
            else if (c < 0x800) acc += 2;
            else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                acc += 4;
                i++;
            } else acc += 3;
        }
        return acc;
    }
}
