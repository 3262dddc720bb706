package dev.quantflow.actors.sampler;

import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.sample.Sampler;
import dev.quantflow.engine.sample.StopMatcher;
import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import org.apache.pekko.stream.BoundedSourceQueue;

/** The output side of one sequence, owned by the sampler actor: its seeded sampler, detokenizer, stop matcher and event stream. */
final class SequenceOutput {
    final String requestId;
    final BoundedSourceQueue<TokenEvent> events;
    final GenerateOptions options;
    final int promptTokens;
    final int positionLimit;   // the sequence ends when a new token's position reaches this (context or KV capacity)
    final int topLogprobs;     // < 0: none
    final Sampler sampler;
    final IncrementalDetokenizer detokenizer;
    final StopMatcher stops;
    int completionTokens;

    SequenceOutput(String requestId, BoundedSourceQueue<TokenEvent> events, GenerateOptions options, int promptTokens,
                   int positionLimit, int topLogprobs, IncrementalDetokenizer detokenizer) {
        this.requestId = requestId;
        this.events = events;
        this.options = options;
        this.promptTokens = promptTokens;
        this.positionLimit = positionLimit;
        this.topLogprobs = topLogprobs;
        this.sampler = new Sampler(options.sampling());
        this.detokenizer = detokenizer;
        this.stops = new StopMatcher(options.stop());
    }

    /** Position the most recent token occupies. */
    int lastPosition() {
        return promptTokens + completionTokens - 1;
    }
}
