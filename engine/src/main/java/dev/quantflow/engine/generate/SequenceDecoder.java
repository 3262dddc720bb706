package dev.quantflow.engine.generate;

import dev.quantflow.engine.sample.Sampler;
import dev.quantflow.engine.sample.StopMatcher;
import dev.quantflow.engine.structured.ConstrainedOutput;
import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.Optional;
import java.util.Set;

/**
 * The decode rule of one sequence, the only one: `generate`'s loop and the server's sampler actor
 * both run it. The sequence's own seeded sampler picks a token; EOS ends the sequence without it;
 * otherwise the token's text (incremental detokenizer seeded with the prompt, so the first token
 * keeps its leading space; text that may begin a stop string held back) is emitted, and a stop
 * string, max tokens or the position limit (context or KV capacity) ends it. With an output
 * constraint (structured output), the logits of tokens that cannot continue a valid output are set
 * to -infinity in place before sampling (so logprobs are those of the constrained distribution),
 * EOS is allowed only where the output is complete, and an output that nothing can extend ends
 * the sequence ("stop").
 */
public final class SequenceDecoder {
    /** What accepting one token gives: its text (empty for EOS) and, when the sequence ended, why and the text held back until then. */
    public record Emitted(boolean eos, String text, Optional<String> finishReason, String tail) {
        public boolean finished() {
            return finishReason.isPresent();
        }
    }

    private final GenerateOptions options;
    private final int promptTokens, positionLimit;
    private final Set<Integer> eos;
    private final Sampler sampler;
    private final IncrementalDetokenizer detokenizer;
    private final StopMatcher stops;
    private final ConstrainedOutput constraint;   // null: unconstrained
    private int completionTokens;
    private boolean ended;

    /** positionLimit: the sequence ends when a new token's position reaches it. */
    public SequenceDecoder(Tokenizer tokenizer, int[] prompt, GenerateOptions options, int positionLimit) {
        this.options = options;
        this.promptTokens = prompt.length;
        this.positionLimit = positionLimit;
        this.eos = tokenizer.eosTokenIds();
        this.sampler = new Sampler(options.sampling());
        this.detokenizer = tokenizer.newDetokenizer();
        detokenizer.seed(prompt);
        this.stops = new StopMatcher(options.stop());
        this.constraint = options.constraint().map(c -> new ConstrainedOutput(c.over(tokenizer), eos)).orElse(null);
    }

    /** The next token from the logits of this sequence's last position, vocab values at off. */
    public int sample(float[] logits, int off, int vocab) {
        if (constraint == null) return sampler.sample(logits, off, vocab);
        constraint.mask(logits, off, vocab, detokenizer, !options.ignoreEos());
        int token = sampler.sample(logits, off, vocab);
        // a draw can land on a zero-probability token only by rounding; the best allowed one replaces it
        if (!constraint.allows(detokenizer.peekBytes(token), isEos(token))) token = Sampler.argmax(logits, off, vocab);
        if (logits[off + token] == Float.NEGATIVE_INFINITY)
            throw new IllegalStateException("no token of the vocabulary can continue the constrained output");
        return token;
    }

    /** The detokenizer before the next accept: what a token would add to the text (for logprob strings). */
    public IncrementalDetokenizer detokenizer() {
        return detokenizer;
    }

    /** Whether token ends the sequence as EOS (and is then not part of its output). */
    public boolean isEos(int token) {
        return !options.ignoreEos() && eos.contains(token);
    }

    /** Applies the chosen token. */
    public Emitted accept(int token) {
        if (ended) throw new IllegalStateException("the sequence has ended");
        if (isEos(token)) return end(true, "", "stop");
        completionTokens++;
        if (constraint != null) constraint.advance(detokenizer.peekBytes(token));
        String text = stops.push(detokenizer.push(token));
        if (stops.stopped()) {
            ended = true;
            return new Emitted(false, text, Optional.of("stop"), "");
        }
        if (constraint != null && constraint.complete()) return end(false, text, "stop");
        if (completionTokens >= options.maxTokens() || promptTokens + completionTokens - 1 >= positionLimit) return end(false, text, "length");
        return new Emitted(false, text, Optional.empty(), "");
    }

    /** Ends the sequence for a reason from outside (cancelled, KV exhausted): the text held back so far. */
    public String finish() {
        if (ended) return "";
        ended = true;
        return stops.push(detokenizer.flush()) + stops.flush();
    }

    public int completionTokens() {
        return completionTokens;
    }

    public int promptTokens() {
        return promptTokens;
    }

    private Emitted end(boolean eosToken, String text, String reason) {
        return new Emitted(eosToken, text, Optional.of(reason), finish());
    }
}
