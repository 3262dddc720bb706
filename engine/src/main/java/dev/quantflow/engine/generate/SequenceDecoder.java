package dev.quantflow.engine.generate;

import dev.quantflow.engine.sample.Sampler;
import dev.quantflow.engine.sample.StopMatcher;
import dev.quantflow.engine.structured.ConstrainedOutput;
import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

/**
 * The decode rule of one sequence, the only one: `generate`'s loop and the server's sampler actor
 * both run it. The sequence's own seeded sampler picks a token; EOS ends the sequence without it;
 * otherwise the token's text (incremental detokenizer seeded with the prompt, so the first token
 * keeps its leading space; text that may begin a stop string held back) is emitted, and a stop
 * string, max tokens or the position limit (context or KV capacity) ends it. The vLLM extensions
 * live here too: before min_tokens EOS and the stop token ids are banned and no stop string
 * matches; a stop token id ends the sequence (its text kept only with include_stop_str_in_output). With an output
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
    private final Set<Integer> stopTokens;
    private final int[] bannedEarly;   // what min_tokens bans until it is reached
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
        this.stopTokens = Set.copyOf(options.stopTokenIds());
        Set<Integer> early = new HashSet<>(stopTokens);
        if (!options.ignoreEos()) early.addAll(eos);
        this.bannedEarly = options.minTokens() > 0 ? early.stream().mapToInt(Integer::intValue).sorted().toArray() : new int[0];
        this.sampler = new Sampler(options.sampling(), prompt);
        this.detokenizer = tokenizer.newDetokenizer(options.skipSpecialTokens());
        detokenizer.seed(prompt);
        this.stops = new StopMatcher(options.stop(), options.includeStopStrInOutput());
        this.constraint = options.constraint().map(c -> new ConstrainedOutput(c.over(tokenizer), eos)).orElse(null);
    }

    /** The next token from the logits of this sequence's last position, vocab values at off. */
    public int sample(float[] logits, int off, int vocab) {
        int[] banned = completionTokens < options.minTokens() ? bannedEarly : NONE;
        if (constraint == null) return sampler.sample(logits, off, vocab, banned);
        constraint.mask(logits, off, vocab, detokenizer, !options.ignoreEos());
        int token = sampler.sample(logits, off, vocab, banned);
        // a draw can land on a zero-probability token only by rounding; the best allowed one replaces it
        if (!constraint.allows(detokenizer.peekBytes(token), isEos(token))) token = Sampler.argmax(logits, off, vocab);
        if (logits[off + token] == Float.NEGATIVE_INFINITY)
            throw new IllegalStateException("no token of the vocabulary can continue the constrained output");
        return token;
    }

    private static final int[] NONE = new int[0];

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
        sampler.record(token);
        completionTokens++;
        boolean armed = completionTokens >= options.minTokens();   // vLLM: stops count from the min_tokens-th token on
        if (constraint != null) constraint.advance(detokenizer.peekBytes(token));
        String piece = detokenizer.push(token);
        if (stopTokens.contains(token) && armed) {
            String text = stops.push(options.includeStopStrInOutput() ? piece : "", true);
            if (stops.stopped()) {
                ended = true;
                return new Emitted(false, text, Optional.of("stop"), "");
            }
            ended = true;
            String rest = detokenizer.flush();
            return new Emitted(false, text, Optional.of("stop"), stops.push(options.includeStopStrInOutput() ? rest : "") + stops.flush());
        }
        String text = stops.push(piece, armed);
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
