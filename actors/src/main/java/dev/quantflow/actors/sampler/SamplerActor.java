package dev.quantflow.actors.sampler;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.EventStreams;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.actors.protocol.SampleOutcome;
import dev.quantflow.actors.protocol.SamplerCommand;
import dev.quantflow.actors.protocol.SamplerCommand.End;
import dev.quantflow.actors.protocol.SamplerCommand.Fail;
import dev.quantflow.actors.protocol.SamplerCommand.Register;
import dev.quantflow.actors.protocol.SamplerCommand.SampleStep;
import dev.quantflow.actors.protocol.Step;
import dev.quantflow.actors.protocol.StepSampled;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.SequenceDecoder;
import dev.quantflow.engine.sample.Sampler;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;

/**
 * The sampling and detokenizing step. Receives the last stage's logits, picks each sequence's
 * next token with its own seeded sampler, turns it into text (incremental detokenizer, stop
 * strings), streams the Delta, decides whether the sequence ended (EOS, stop string, max
 * tokens, context end) and tells the ref it was given (the scheduler). It is the only writer of each request's event
 * stream from Accepted to Finished, so a stream sees exactly one end.
 */
public final class SamplerActor extends AbstractBehavior<SamplerCommand> {
    private final ActorRef<StepSampled> scheduler;
    private final Tokenizer tokenizer;
    private final int vocab;
    private final Map<Long, SequenceOutput> outputs = new HashMap<>();

    private SamplerActor(ActorContext<SamplerCommand> ctx, ActorRef<StepSampled> scheduler, Tokenizer tokenizer, int vocab) {
        super(ctx);
        this.scheduler = scheduler;
        this.tokenizer = tokenizer;
        this.vocab = vocab;
    }

    public static Behavior<SamplerCommand> create(ActorRef<StepSampled> scheduler, Tokenizer tokenizer, int vocab) {
        return Behaviors.setup(ctx -> new SamplerActor(ctx, scheduler, tokenizer, vocab));
    }

    @Override
    public Receive<SamplerCommand> createReceive() {
        return newReceiveBuilder()
                .onMessage(Register.class, this::onRegister)
                .onMessage(SampleStep.class, this::onSampleStep)
                .onMessage(End.class, this::onEnd)
                .onMessage(Fail.class, this::onFail)
                .onSignal(PostStop.class, stop -> onStop())
                .build();
    }

    /** One output per sibling sequence; choice i samples with the request's seed + i (vLLM's rule), so a seeded request repeats. */
    private Behavior<SamplerCommand> onRegister(Register r) {
        SequenceOutput.Request request = new SequenceOutput.Request(r.sequence(), r.n(), r.bestOf());
        for (int i = 0; i < r.bestOf(); i++) {
            GenerateOptions options = i == 0 ? r.options() : r.options().withSeed(r.options().sampling().seed() + i);
            SequenceOutput out = new SequenceOutput(r.requestId(), r.events(), r.topLogprobs(),
                    new SequenceDecoder(tokenizer, r.prompt(), options, r.positionLimit()), i, request);
            if (r.promptTopLogprobs() >= 0) {
                out.prompt = r.prompt();
                out.promptTopLogprobs = r.promptTopLogprobs();
                out.promptText = tokenizer.newDetokenizer(options.skipSpecialTokens());
                out.firstPromptToken = out.promptText.push(r.prompt()[0]);
            }
            request.sequences.add(out);
            outputs.put(r.sequence() + i, out);
        }
        offer(r.requestId(), r.events(), new TokenEvent.Accepted(r.requestId(), r.promptTokens()));
        return this;
    }

    private Behavior<SamplerCommand> onSampleStep(SampleStep s) {
        Step step = s.step();
        List<SampleOutcome> outcomes = new ArrayList<>(step.logitRows().length);
        for (int i = 0; i < step.logitRows().length; i++) {
            long seq = step.logitSequences()[i];
            SequenceOutput out = outputs.get(seq);
            if (out == null) {
                outcomes.add(new SampleOutcome.Ended(seq));
                continue;
            }
            int position = step.rows().positions()[step.logitRows()[i]];
            if (out.prompt != null && position < out.prompt.length - 1) {   // a prompt row: it scores prompt token position + 1, it samples nothing
                if (position == out.promptLogprobs.size()) promptLogprob(out, s.logits(), i * vocab, out.prompt[position + 1]);
                continue;
            }
            try {
                outcomes.add(sample(seq, out, s.logits(), i * vocab));
            } catch (RuntimeException e) {
                fail(seq, new EngineException(EngineException.Kind.INTERNAL, "sampling failed: " + e));
                outcomes.add(new SampleOutcome.Ended(seq));
            }
        }
        scheduler.tell(new StepSampled(step.id(), outcomes, s.stageNanos()));
        return this;
    }

    /** A prompt token's logprob and alternatives, from the logits of the position before it (a recompute after preemption repeats none). */
    private void promptLogprob(SequenceOutput out, float[] logits, int off, int token) {
        out.promptLogprobs.add(Logprobs.of(out.promptText, logits, off, vocab, token, out.promptTopLogprobs));
        out.promptText.push(token);
    }

    /** One token by the decode rule that generate runs too (SequenceDecoder); the sampler only streams what it emits. */
    private SampleOutcome sample(long seq, SequenceOutput out, float[] logits, int off) {
        if (out.prompt != null && out.decoder.completionTokens() == 0 && out.promptText != null) {
            emit(out, new TokenEvent.PromptLogprobs(out.firstPromptToken, List.copyOf(out.promptLogprobs), out.index));
            out.promptText = null;   // sent once
        }
        int token = out.decoder.sample(logits, off, vocab);
        if (out.request.picksBest()) out.cumulativeLogprob += Sampler.logprob(logits, off, vocab, token);
        // logprob strings are what each token adds to this text, so read before accepting it
        List<TokenEvent.TokenLogprob> logprobs = out.topLogprobs < 0 || out.decoder.isEos(token) ? List.of()
                : List.of(Logprobs.of(out.decoder.detokenizer(), logits, off, vocab, token, out.topLogprobs));
        SequenceDecoder.Emitted e = out.decoder.accept(token);
        if (!e.eos()) emit(out, new TokenEvent.Delta(e.text(), new int[] {token}, logprobs, out.index));
        if (!e.finished()) return new SampleOutcome.Next(seq, token);
        end(seq, out, e.finishReason().orElseThrow(), e.tail());
        return new SampleOutcome.Ended(seq);
    }

    private Behavior<SamplerCommand> onEnd(End e) {
        SequenceOutput out = outputs.get(e.sequence());
        if (out != null) finish(e.sequence(), out, e.finishReason());
        return this;
    }

    /** The engine is shutting down: no stream is left open. */
    private Behavior<SamplerCommand> onStop() {
        EngineException closed = new EngineException(EngineException.Kind.UNAVAILABLE, "the engine shut down");
        outputs.values().forEach(out -> EventStreams.fail(out.events, closed));   // siblings share a stream: failing it again is a no-op
        outputs.clear();
        return this;
    }

    private Behavior<SamplerCommand> onFail(Fail f) {
        fail(f.sequence(), f.error());
        return this;
    }

    /** Ends a sequence for a reason from outside the decode rule (cancelled, nothing to generate). */
    private void finish(long seq, SequenceOutput out, String reason) {
        end(seq, out, reason, out.decoder.finish());
    }

    /** A sequence ended; its request's stream completes when the last sibling did (after the best were sent, when it picks). */
    private void end(long seq, SequenceOutput out, String reason, String tail) {
        if (!tail.isEmpty()) emit(out, new TokenEvent.Delta(tail, new int[0], List.of(), out.index));
        emit(out, new TokenEvent.Finished(reason, out.decoder.promptTokens(), out.decoder.completionTokens(), out.index));
        outputs.remove(seq);
        out.finished = true;
        SequenceOutput.Request request = out.request;
        if (--request.running > 0) return;
        if (request.picksBest()) sendBest(request);
        EventStreams.complete(out.events);
    }

    /** best_of: the n sequences of highest cumulative logprob (lower index first on ties), renumbered 0..n-1. */
    private void sendBest(SequenceOutput.Request request) {
        List<SequenceOutput> best = request.sequences.stream()
                .sorted(Comparator.comparingDouble((SequenceOutput o) -> -o.cumulativeLogprob).thenComparingInt(o -> o.index))
                .limit(request.n).toList();
        for (int choice = 0; choice < best.size(); choice++) {
            SequenceOutput o = best.get(choice);
            for (TokenEvent ev : o.held) offer(o.requestId, o.events, renumbered(ev, choice));
        }
    }

    private static TokenEvent renumbered(TokenEvent ev, int index) {
        return switch (ev) {
            case TokenEvent.Delta d -> new TokenEvent.Delta(d.text(), d.tokenIds(), d.logprobs(), index);
            case TokenEvent.Finished f -> new TokenEvent.Finished(f.finishReason(), f.promptTokens(), f.completionTokens(), index);
            case TokenEvent.PromptLogprobs p -> new TokenEvent.PromptLogprobs(p.firstToken(), p.logprobs(), index);
            default -> ev;
        };
    }

    /** Fails the request's stream; its sibling sequences stop (the scheduler cancels them when the stream closes). */
    private void fail(long seq, EngineException error) {
        SequenceOutput out = outputs.remove(seq);
        if (out == null) return;
        for (SequenceOutput sibling : out.request.sequences) outputs.remove(out.request.firstSequence + sibling.index);
        EventStreams.fail(out.events, error);
    }

    private void emit(SequenceOutput out, TokenEvent event) {
        if (out.request.picksBest()) out.held.add(event);
        else offer(out.requestId, out.events, event);
    }

    /** The buffer holds every event a request can produce (sized at submit), so nothing is dropped; a closed stream means the client left. */
    private void offer(String requestId, BoundedSourceQueue<TokenEvent> events, TokenEvent event) {
        QueueOfferResult r = events.offer(event);
        if (r instanceof QueueOfferResult.Dropped$)
            getContext().getLog().error("event buffer of request {} overflowed; this is a bug in buffer sizing", requestId);
    }
}
