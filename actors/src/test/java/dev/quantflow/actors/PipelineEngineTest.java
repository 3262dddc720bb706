package dev.quantflow.actors;

import static dev.quantflow.actors.EngineTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.sample.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Batched, pipelined generation gives exactly what generating each request alone gives. */
class PipelineEngineTest {
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

    static GenerateOptions options(int i) {
        return GenerateOptions.greedy(8 + (i * 13) % 90);
    }

    @ParameterizedTest(name = "{0} stage(s)")
    @ValueSource(ints = {1, 2, 3})
    void thirtyTwoConcurrentGreedyRequestsMatchTheSingleSequenceGenerator(int stages) throws Exception {
        List<String> prompts = prompts(32);
        EngineConfig config = EngineConfig.builder(MODEL).stages(stages).maxSequences(32).maxBatchTokens(64).build();
        try (PipelineEngine engine = PipelineEngine.start(config)) {
            List<CompletableFuture<Outcome>> runs = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) runs.add(run(engine, client, text("r" + i, prompts.get(i), options(i))));
            int tokens = 0;
            for (int i = 0; i < prompts.size(); i++) {
                Outcome got = await(runs.get(i));
                tokens += got.ids().length;
                GenerateResult want = reference(model, prompts.get(i), options(i));
                assertThat(got.error()).as("request %d", i).isNull();
                assertThat(got.events().getFirst()).isInstanceOf(TokenEvent.Accepted.class);
                assertThat(got.ids()).as("ids of request %d", i).containsExactly(want.tokens());
                assertThat(got.text()).as("text of request %d", i).isEqualTo(want.text());
                assertThat(got.finished().finishReason()).isEqualTo(want.finishReason());
                assertThat(got.finished().completionTokens()).isEqualTo(want.tokens().length);
                assertThat(got.finished().promptTokens()).isEqualTo(want.promptTokens());
            }
            engine.idle().toCompletableFuture().get(10, TimeUnit.SECONDS);
            EngineSnapshot s = engine.snapshot().toCompletableFuture().get();
            assertThat(s.kvBlocksUsed()).isZero();
            assertThat(s.running()).isZero();
            assertThat(s.stages()).hasSize(stages);
            assertThat(s.stepsTotal()).as("steps for %d generated tokens: sequences were batched", tokens).isLessThan(tokens / 2);
        }
    }

    @ParameterizedTest(name = "{0} stage(s)")
    @ValueSource(ints = {1, 2})
    void seededSamplingMatchesTheGeneratorToo(int stages) throws Exception {
        List<String> prompts = prompts(8);
        EngineConfig config = EngineConfig.builder(MODEL).stages(stages).build();
        try (PipelineEngine engine = PipelineEngine.start(config)) {
            List<CompletableFuture<Outcome>> runs = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) runs.add(run(engine, client, text("s" + i, prompts.get(i), sampled(i))));
            for (int i = 0; i < prompts.size(); i++) {
                Outcome got = await(runs.get(i));
                assertThat(got.ids()).as("request %d", i).containsExactly(reference(model, prompts.get(i), sampled(i)).tokens());
            }
        }
    }

    static GenerateOptions sampled(int i) {
        return new GenerateOptions(40, new SamplingParams(0.9f, 40, 0.95f, 1000 + i), false, List.of());
    }
}
