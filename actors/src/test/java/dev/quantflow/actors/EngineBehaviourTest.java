package dev.quantflow.actors;

import static dev.quantflow.actors.EngineTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.actors.stage.StageFaults;
import dev.quantflow.actors.stage.StageHooks;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.sample.SamplingParams;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.apache.pekko.actor.testkit.typed.javadsl.ManualTime;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Cancellation, admission control, failures and KV pressure, observed through streams and the state snapshot. */
class EngineBehaviourTest {
    static ActorSystem<Void> client;
    static LlamaModel model;

    @BeforeAll
    static void setUp() {
        client = clientSystem();
        model = LlamaModel.open(MODEL);
    }

    @AfterAll
    static void tearDown() {
        client.terminate();
        model.close();
    }

    static EngineConfig.Builder base() {
        return EngineConfig.builder(MODEL).warmup(false);
    }

    static GenerateOptions longRun(int tokens) {
        return new GenerateOptions(tokens, SamplingParams.GREEDY, true, List.of());
    }

    static EngineSnapshot snapshot(PipelineEngine engine) throws Exception {
        return engine.snapshot().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static void awaitIdle(PipelineEngine engine) throws Exception {
        engine.idle().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    /** Slows every step a little so that a 400-token stream is still running when the test acts on it. */
    static final StageFaults SLOW = (stage, step, rows) -> sleep(2);

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void clientCancellingTheStreamCancelsTheSequenceAndFreesItsBlocks() throws Exception {
        try (PipelineEngine engine = PipelineEngine.start(base().build(), StageHooks.DEFAULT.withFaults(SLOW))) {
            List<TokenEvent> seen = engine.submit(text("c1", "Once upon a time", longRun(400)))
                    .take(6)   // Accepted + 5 deltas, then the client goes away
                    .runWith(Sink.seq(), client).toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertThat(seen).hasSize(6);
            awaitIdle(engine);
            EngineSnapshot s = snapshot(engine);
            assertThat(s.kvBlocksUsed()).isZero();
            assertThat(s.running()).isZero();
            assertThat(s.waiting()).isZero();
            assertThat(s.stepsTotal()).as("cancelled long before its 400 tokens").isLessThan(300);
        }
    }

    @Test
    void cancelByRequestIdEndsTheStreamWithFinishedCancelled() throws Exception {
        try (PipelineEngine engine = PipelineEngine.start(base().build(), StageHooks.DEFAULT.withFaults(SLOW))) {
            CountDownLatch started = new CountDownLatch(3);
            List<TokenEvent> events = new CopyOnWriteArrayList<>();
            CompletableFuture<?> done = engine.submit(text("c2", "Once upon a time", longRun(400)))
                    .runWith(Sink.foreach(e -> { events.add(e); started.countDown(); }), client).toCompletableFuture();
            assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
            EngineSnapshot during = snapshot(engine);
            assertThat(during.running()).isEqualTo(1);
            assertThat(during.kvBlocksUsed()).isPositive();
            assertThat(engine.cancel("c2").toCompletableFuture().get()).isTrue();
            done.get(30, TimeUnit.SECONDS);
            assertThat(events.getLast()).isInstanceOfSatisfying(TokenEvent.Finished.class, f -> assertThat(f.finishReason()).isEqualTo("cancelled"));
            awaitIdle(engine);
            assertThat(snapshot(engine).kvBlocksUsed()).isZero();
            assertThat(engine.cancel("c2").toCompletableFuture().get()).as("no longer known").isFalse();
        }
    }

    @Test
    void aFullWaitingQueueRefusesNewRequestsAtOnce() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        StageFaults held = (stage, step, rows) -> {
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        try (PipelineEngine engine = PipelineEngine.start(base().maxSequences(1).maxWaiting(2).build(), StageHooks.DEFAULT.withFaults(held))) {
            List<CompletableFuture<Outcome>> admitted = new ArrayList<>();
            admitted.add(run(engine, client, text("a", "Once", GenerateOptions.greedy(5))));
            awaitState(engine, s -> s.running() == 1);
            admitted.add(run(engine, client, text("b", "Once upon", GenerateOptions.greedy(5))));
            admitted.add(run(engine, client, text("c", "Once upon a", GenerateOptions.greedy(5))));
            awaitState(engine, s -> s.waiting() == 2);
            long t0 = System.nanoTime();
            Outcome refused = await(run(engine, client, text("d", "Once upon a time", GenerateOptions.greedy(5))));
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
            assertThat(refused.events()).isEmpty();
            assertThat(refused.error()).isInstanceOfSatisfying(EngineException.class, e -> {
                assertThat(e.kind()).isEqualTo(EngineException.Kind.OVERLOADED);
                assertThat(e.getMessage()).contains("overloaded").contains("limit 2");
            });
            gate.countDown();
            for (CompletableFuture<Outcome> f : admitted) assertThat(await(f).error()).isNull();
            assertThat(await(run(engine, client, text("e", "Once", GenerateOptions.greedy(3)))).error()).as("room again").isNull();
        }
    }

    @Test
    void aFailingStageEndsOnlyTheSequencesOfItsStepAndTheEngineRecovers() throws Exception {
        AtomicInteger stage1Steps = new AtomicInteger();
        AtomicInteger loads = new AtomicInteger();
        CountDownLatch reloadGate = new CountDownLatch(1);
        StageFaults failTwentieth = (stage, step, rows) -> {
            if (stage == 1 && stage1Steps.incrementAndGet() == 20) throw new IllegalStateException("injected fault");
        };
        // the third load is stage 1 reloading after the fault: hold it so the degraded state can be observed
        EngineConfig config = base().stages(2).build();
        StageHooks hooks = StageHooks.DEFAULT.withFaults(failTwentieth).withLinears((model, weights) -> {
            if (loads.incrementAndGet() == 3) {
                try {
                    reloadGate.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return LinearFactory.DENSE;
        });
        List<String> prompts = prompts(8);
        try (PipelineEngine engine = PipelineEngine.start(config, hooks)) {
            List<CompletableFuture<Outcome>> runs = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) runs.add(run(engine, client, text("f" + i, prompts.get(i), longRun(60))));
            awaitHealth(engine, true);
            CompletableFuture<Outcome> duringReload = run(engine, client, text("late", prompts.get(3), longRun(20)));
            reloadGate.countDown();
            int failed = 0, succeeded = 0;
            for (int i = 0; i < prompts.size(); i++) {
                Outcome o = await(runs.get(i));
                if (o.error() != null) {
                    failed++;
                    assertThat(o.error()).isInstanceOfSatisfying(EngineException.class, e -> {
                        assertThat(e.kind()).isEqualTo(EngineException.Kind.INTERNAL);
                        assertThat(e.getMessage()).contains("stage 1").contains("injected fault");
                    });
                    assertThat(o.events()).isEmpty();   // Sink.seq drops what it had when the stream fails
                } else {
                    succeeded++;
                    assertThat(o.ids()).as("request %d continued after the failure, recomputed", i)
                            .containsExactly(reference(model, prompts.get(i), longRun(60)).tokens());
                }
            }
            assertThat(failed).as("the sequences of the failed step").isBetween(1, 4);
            assertThat(succeeded).isEqualTo(prompts.size() - failed);
            Outcome late = await(duringReload);
            assertThat(late.error()).isNull();
            assertThat(late.ids()).containsExactly(reference(model, prompts.get(3), longRun(20)).tokens());
            assertThat(engine.health().degraded()).isFalse();
            assertThat(await(run(engine, client, text("after", "Once upon a time", GenerateOptions.greedy(10)))).error()).isNull();
            awaitIdle(engine);
            assertThat(snapshot(engine).kvBlocksUsed()).isZero();
        }
    }

    @Test
    void runningOutOfKvBlocksMakesRequestsWaitNotFail() throws Exception {
        List<String> prompts = prompts(10);
        // 12 blocks of 16 tokens hold 192 positions, about a quarter of what the 10 requests need at once
        try (PipelineEngine engine = PipelineEngine.start(base().kvBlocks(12).maxSequences(10).maxBatchTokens(32).build())) {
            List<CompletableFuture<Outcome>> runs = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) runs.add(run(engine, client, text("k" + i, prompts.get(i), longRun(50))));
            for (int i = 0; i < prompts.size(); i++) {
                Outcome o = await(runs.get(i));
                assertThat(o.error()).as("request %d", i).isNull();
                assertThat(o.ids()).containsExactly(reference(model, prompts.get(i), longRun(50)).tokens());
            }
            awaitIdle(engine);
            EngineSnapshot s = snapshot(engine);
            assertThat(s.kvBlocksTotal()).isEqualTo(12);
            assertThat(s.kvBlocksUsed()).isZero();
        }
    }

    @Test
    void badRequestsFailWithClearErrors() throws Exception {
        try (PipelineEngine engine = PipelineEngine.start(base().kvBlocks(4).build())) {
            Outcome tooLong = await(run(engine, client, text("long", String.join(" ", prompts(40).getLast().repeat(3)), GenerateOptions.greedy(5))));
            assertThat(tooLong.error()).isInstanceOfSatisfying(EngineException.class, e -> {
                assertThat(e.kind()).isEqualTo(EngineException.Kind.CONTEXT_LENGTH_EXCEEDED);
                assertThat(e.getMessage()).contains("at most 63 fit");
            });
            Outcome badId = await(run(engine, client, new GenerateRequest("ids", new Prompt.Tokens(new int[] {1, 99999}), GenerateOptions.greedy(5))));
            assertThat(badId.error()).hasMessageContaining("outside the vocabulary");
            Outcome empty = await(run(engine, client, new GenerateRequest("empty", new Prompt.Tokens(new int[0]), GenerateOptions.greedy(5))));
            assertThat(empty.error()).hasMessageContaining("empty");
            Outcome none = await(run(engine, client, text("zero", "Once", GenerateOptions.greedy(0))));
            assertThat(none.events()).hasSize(2);
            assertThat(none.finished()).isEqualTo(new TokenEvent.Finished("length", 2, 0));
            engine.startDrain();
            assertThat(engine.health().draining()).isTrue();
            Outcome drained = await(run(engine, client, text("d", "Once", GenerateOptions.greedy(5))));
            assertThat(drained.error()).isInstanceOfSatisfying(EngineException.class, e -> assertThat(e.kind()).isEqualTo(EngineException.Kind.UNAVAILABLE));
        }
    }

    @Test
    void chatPromptsStopStringsAndReadiness() throws Exception {
        try (PipelineEngine engine = PipelineEngine.start(EngineConfig.builder(MODEL).build())) {
            awaitReady(engine);
            GenerateRequest chat = new GenerateRequest("chat", new Prompt.Chat(List.of(new Prompt.ChatMessage("user", "Tell me a story")), true),
                    GenerateOptions.greedy(20));
            Outcome o = await(run(engine, client, chat));
            assertThat(o.error()).isNull();
            assertThat(o.finished().promptTokens()).isEqualTo(model.tokenizer().encode("user: Tell me a story\nassistant:").length);
            GenerateOptions stop = new GenerateOptions(60, SamplingParams.GREEDY, false, List.of("."));
            Outcome stopped = await(run(engine, client, text("stop", "Once upon a time", stop)));
            assertThat(stopped.finished().finishReason()).isEqualTo("stop");
            assertThat(stopped.text()).isEqualTo(reference(model, "Once upon a time", stop).text()).doesNotContain(".");
            assertThat(engine.modelId()).isEqualTo("stories260K");
            assertThat(engine.contextLength()).isEqualTo(512);
        }
    }

    @Test
    void closingTheEngineFailsOpenStreamsInsteadOfLeavingThemHanging() throws Exception {
        CompletableFuture<Outcome> open;
        try (PipelineEngine engine = PipelineEngine.start(base().build(), StageHooks.DEFAULT.withFaults(SLOW))) {
            open = run(engine, client, text("open", "Once upon a time", longRun(400)));
            awaitState(engine, s -> s.running() == 1);
        }
        assertThat(await(open).error()).isInstanceOfSatisfying(EngineException.class, e -> {
            assertThat(e.kind()).isEqualTo(EngineException.Kind.UNAVAILABLE);
            assertThat(e.getMessage()).contains("shut down");
        });
    }

    @Test
    void closingAtAnyMomentAfterASubmitEndsItsStream() throws Exception {
        // close while the request is being tokenized, handed to the sampler, admitted or decoding:
        // whichever actor holds its stream at that moment, the stream must end, never hang
        for (int i = 0; i < 12; i++) {
            CompletableFuture<Outcome> open;
            try (PipelineEngine engine = PipelineEngine.start(base().build())) {
                open = run(engine, client, text("race" + i, "Once upon a time", longRun(400)));
                Thread.sleep(i % 4);
            }
            Outcome o = open.get(20, TimeUnit.SECONDS);
            if (o.error() != null) assertThat(o.error()).as("iteration %d", i).isInstanceOf(EngineException.class).hasMessageContaining("shut down");
        }
    }

    @Test
    void aRequestThatReachesTheEngineAfterItClosedFailsInsteadOfHanging() throws Exception {
        // the client's stream materializes on its own system: its Submit may arrive when the scheduler is gone
        Source<TokenEvent, NotUsed> late;
        try (PipelineEngine engine = PipelineEngine.start(base().build())) {
            late = engine.submit(text("late", "Once upon a time", longRun(10)));
        }
        Throwable error = late.runWith(Sink.seq(), client).toCompletableFuture().handle((events, e) -> e).get(20, TimeUnit.SECONDS);
        assertThat(error).isInstanceOfSatisfying(EngineException.class, e -> {
            assertThat(e.kind()).isEqualTo(EngineException.Kind.UNAVAILABLE);
            assertThat(e.getMessage()).contains("shut down");
        });
    }

    @Test
    void logprobsComeWithEveryTokenWhenAsked() throws Exception {
        try (PipelineEngine engine = PipelineEngine.start(base().build())) {
            Outcome o = await(run(engine, client, new GenerateRequest("lp", new Prompt.Text("Once upon a time"), GenerateOptions.greedy(8), 3)));
            List<TokenEvent.Delta> deltas = o.events().stream().filter(e -> e instanceof TokenEvent.Delta d && d.tokenIds().length > 0)
                    .map(e -> (TokenEvent.Delta) e).toList();
            assertThat(deltas).hasSize(8);
            for (TokenEvent.Delta d : deltas) {
                TokenEvent.TokenLogprob lp = d.logprobs().getFirst();
                assertThat(lp.tokenId()).isEqualTo(d.tokenIds()[0]);
                assertThat(lp.top()).hasSize(3);
                assertThat(lp.top().getFirst().tokenId()).as("greedy picks the most likely").isEqualTo(lp.tokenId());
                assertThat(lp.logprob()).isEqualTo(lp.top().getFirst().logprob()).isLessThanOrEqualTo(0f);
                assertThat(lp.top().get(1).logprob()).isLessThanOrEqualTo(lp.top().get(0).logprob());
                assertThat(lp.top().get(2).logprob()).isLessThanOrEqualTo(lp.top().get(1).logprob());
            }
            Outcome none = await(run(engine, client, text("nolp", "Once upon a time", GenerateOptions.greedy(3))));
            assertThat(none.events()).filteredOn(e -> e instanceof TokenEvent.Delta).allSatisfy(e -> assertThat(((TokenEvent.Delta) e).logprobs()).isEmpty());
        }
    }

    /** A linear that counts the token rows it has seen: stands in for LLM.int8's outlier statistics. */
    static final class CountingLinear implements Linear {
        final Linear inner;
        final AtomicLong rows = new AtomicLong();

        CountingLinear(Linear inner) { this.inner = inner; }
        @Override public int inFeatures() { return inner.inFeatures(); }
        @Override public int outFeatures() { return inner.outFeatures(); }
        @Override public void forward(float[] x, int n, float[] y) { rows.addAndGet(n); inner.forward(x, n, y); }
        @Override public long weightBytes() { return inner.weightBytes(); }
        @Override public String scheme() { return "counting"; }
    }

    @Test
    void linearProbesReachTheSnapshotByLayerName() throws Exception {
        LinearFactory counting = (name, w, b) -> name.endsWith("down_proj") ? new CountingLinear(LinearFactory.DENSE.create(name, w, b))
                : LinearFactory.DENSE.create(name, w, b);
        EngineConfig config = base().stages(2).build();
        StageHooks hooks = StageHooks.DEFAULT.withLinears((model, weights) -> counting)
                .withProbe(l -> l instanceof CountingLinear c ? OptionalDouble.of(c.rows.get()) : OptionalDouble.empty());
        // the stages report on a Pekko timer: Pekko's manual clock moves it, no wall-clock wait
        try (PipelineEngine engine = PipelineEngine.start(config, ManualTime.config(), hooks)) {
            ManualTime clock = ManualTime.get(engine.actorSystem());
            Duration interval = engine.actorSystem().settings().config().getDuration("quantflow.actors.probe-report-interval");
            assertThat(await(run(engine, client, text("p1", "Once upon a time", GenerateOptions.greedy(10)))).error()).isNull();
            // reported at the first step (the prompt's rows), then not again until the interval passed
            Map<String, Double> first = snapshot(engine).outlierColumnFraction();
            assertThat(first).hasSize(5).allSatisfy((layer, rows) -> assertThat(rows).isPositive());
            clock.timePasses(interval.minusMillis(1));
            assertThat(snapshot(engine).outlierColumnFraction()).isEqualTo(first);
            clock.timePasses(Duration.ofMillis(1));
            // each stage reports on its own timer: wait for both stages' layers, not the first report
            awaitState(engine, s -> first.keySet().stream().allMatch(k -> s.outlierColumnFraction().getOrDefault(k, 0.0) > first.get(k)));
            Map<String, Double> probes = snapshot(engine).outlierColumnFraction();
            probes.forEach((layer, rows) -> assertThat(rows).as(layer).isGreaterThan(first.get(layer)));
            assertThat(probes.keySet()).containsExactly("model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj",
                    "model.layers.2.mlp.down_proj", "model.layers.3.mlp.down_proj", "model.layers.4.mlp.down_proj");
            assertThat(probes.values()).allSatisfy(v -> assertThat(v).isGreaterThan(5.0));
        }
    }

    static void awaitState(PipelineEngine engine, Predicate<EngineSnapshot> p) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!p.test(snapshot(engine))) {
            if (System.nanoTime() > deadline) throw new AssertionError("state not reached: " + snapshot(engine));
            Thread.sleep(5);
        }
    }

    static void awaitHealth(PipelineEngine engine, boolean degraded) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (engine.health().degraded() != degraded) {
            if (System.nanoTime() > deadline) throw new AssertionError("degraded never became " + degraded);
            Thread.sleep(2);
        }
    }

    static void awaitReady(PipelineEngine engine) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!engine.health().ready()) {
            if (System.nanoTime() > deadline) throw new AssertionError("never ready");
            Thread.sleep(2);
        }
    }
}
