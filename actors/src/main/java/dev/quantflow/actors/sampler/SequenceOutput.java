package dev.quantflow.actors.sampler;

import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.generate.SequenceDecoder;
import org.apache.pekko.stream.BoundedSourceQueue;

/** The output side of one sequence, owned by the sampler actor: its decode rule (the engine's SequenceDecoder) and event stream. */
final class SequenceOutput {
    final String requestId;
    final BoundedSourceQueue<TokenEvent> events;
    final int topLogprobs;     // < 0: none
    final SequenceDecoder decoder;

    SequenceOutput(String requestId, BoundedSourceQueue<TokenEvent> events, int topLogprobs, SequenceDecoder decoder) {
        this.requestId = requestId;
        this.events = events;
        this.topLogprobs = topLogprobs;
        this.decoder = decoder;
    }
}
