package dev.quantflow.actors.protocol;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.generate.GenerateOptions;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.stream.BoundedSourceQueue;

/** What the sampler receives: it owns the request streams, so it stays in the serving JVM. */
public sealed interface SamplerCommand {
    /**
     * A sequence was admitted to the waiting queue: its stream now belongs to the sampler, which emits Accepted.
     * The prompt's ids seed the detokenizer (not copied: the caller does not modify them). Local: it carries the stream.
     * A request of bestOf sequences registers them all at once: ids sequence .. sequence + bestOf - 1, choice i
     * sampling with seed + i; the n best (by cumulative logprob) are returned when bestOf > n.
     */
    record Register(long sequence, String requestId, BoundedSourceQueue<TokenEvent> events, GenerateOptions options,
                    int[] prompt, int positionLimit, int topLogprobs, int n, int bestOf, int promptTopLogprobs)
            implements SamplerCommand, NoSerializationVerificationNeeded {
        public Register(long sequence, String requestId, BoundedSourceQueue<TokenEvent> events, GenerateOptions options,
                        int[] prompt, int positionLimit, int topLogprobs) {
            this(sequence, requestId, events, options, prompt, positionLimit, topLogprobs, 1, 1, -1);
        }

        public int promptTokens() {
            return prompt.length;
        }
    }

    /** The last stage's logits (logitRows.length, vocab) for a step. */
    record SampleStep(Step step, float[] logits, long[] stageNanos) implements SamplerCommand, CborSerializable {}

    /** Ends a sequence that the scheduler stopped (cancelled, or nothing to generate): flushes its text, emits Finished. */
    record End(long sequence, String finishReason) implements SamplerCommand, CborSerializable {}

    /** Fails a sequence's stream (a stage failed in its step) with an EngineException of kind and message. */
    record Fail(long sequence, EngineException.Kind kind, String message) implements SamplerCommand, CborSerializable {
        public EngineException error() {
            return new EngineException(kind, message);
        }
    }
}
