package dev.quantflow.actors.sampler;

import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.generate.SequenceDecoder;
import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.stream.BoundedSourceQueue;

/** The output side of one sequence, owned by the sampler actor: its decode rule (the engine's SequenceDecoder), its choice index and its request's stream. */
final class SequenceOutput {
    final String requestId;
    final BoundedSourceQueue<TokenEvent> events;
    final int topLogprobs;     // < 0: none
    final SequenceDecoder decoder;
    final int index;           // the choice, 0..bestOf-1
    final Request request;
    double cumulativeLogprob;  // only kept when the request picks the best
    final List<TokenEvent> held = new ArrayList<>();   // events held until the best are picked
    boolean finished;
    // prompt logprobs: the prompt, its own detokenizer (for the tokens' strings), the alternatives asked for and what has come in; null when not asked for
    int[] prompt;
    int promptTopLogprobs;
    IncrementalDetokenizer promptText;
    String firstPromptToken;
    final List<TokenEvent.TokenLogprob> promptLogprobs = new ArrayList<>();

    SequenceOutput(String requestId, BoundedSourceQueue<TokenEvent> events, int topLogprobs, SequenceDecoder decoder, int index, Request request) {
        this.requestId = requestId;
        this.events = events;
        this.topLogprobs = topLogprobs;
        this.decoder = decoder;
        this.index = index;
        this.request = request;
    }

    /** What the sibling sequences of one request share: how many are still running, and how many choices are returned. */
    static final class Request {
        final long firstSequence;
        final int n, bestOf;
        final List<SequenceOutput> sequences = new ArrayList<>();
        int running;

        Request(long firstSequence, int n, int bestOf) {
            this.firstSequence = firstSequence;
            this.n = n;
            this.bestOf = bestOf;
            this.running = bestOf;
        }

        boolean picksBest() {
            return bestOf > n;
        }
    }
}
