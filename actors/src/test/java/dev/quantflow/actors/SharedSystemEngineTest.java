package dev.quantflow.actors;

import static dev.quantflow.actors.EngineTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.progress.Progress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The engine in an actor system it is given: with serialize-messages on, so every message between
 * its actors really goes through its serializer (the plain-data protocol, or a local-only mark),
 * and greedy output stays exactly the single-sequence generator's; closing it stops only its actors.
 */
class SharedSystemEngineTest {
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

    static void generateAndCompare(PipelineEngine engine, String prefix, int n) throws Exception {
        List<String> prompts = prompts(n);
        List<CompletableFuture<Outcome>> runs = new ArrayList<>();
        for (int i = 0; i < n; i++) runs.add(run(engine, client, text(prefix + i, prompts.get(i), GenerateOptions.greedy(10 + 7 * i))));
        for (int i = 0; i < n; i++) {
            Outcome got = await(runs.get(i));
            GenerateResult want = reference(model, prompts.get(i), GenerateOptions.greedy(10 + 7 * i));
            assertThat(got.error()).as("request %d", i).isNull();
            assertThat(got.ids()).as("ids of request %d", i).containsExactly(want.tokens());
            assertThat(got.text()).as("text of request %d", i).isEqualTo(want.text());
        }
        engine.idle().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /** The system's live threads of a quantflow.actors dispatcher (threads are named after their system and dispatcher). */
    static long threads(ActorSystem<?> system, String dispatcher) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive() && t.getName().startsWith(system.name() + "-" + dispatcher)).count();
    }

    static long computeThreads(ActorSystem<?> system) {
        return threads(system, "quantflow.actors.compute-dispatcher");
    }

    @Test
    void everyMessageSerializedAndTheOutputExact() throws Exception {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "serialized",
                ConfigFactory.parseString("pekko.actor.serialize-messages = on").withFallback(ConfigFactory.load()));
        try {
            try (PipelineEngine engine = PipelineEngine.start(EngineConfig.builder(MODEL).stages(2).maxSequences(4).build(), system,
                    Progress.NONE)) {
                generateAndCompare(engine, "s", 6);
                assertThat(engine.cancel("nobody").toCompletableFuture().get(10, TimeUnit.SECONDS)).isFalse();
                EngineSnapshot s = engine.snapshot().toCompletableFuture().get(10, TimeUnit.SECONDS);
                assertThat(s.stages()).hasSize(2);
                assertThat(s.kvBlocksUsed()).isZero();
            }
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void closingAnEngineInASharedSystemStopsOnlyItsActors() throws Exception {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "shared");
        try {
            EngineConfig config = EngineConfig.builder(MODEL).stages(2).build();
            try (PipelineEngine first = PipelineEngine.start(config, system, Progress.NONE)) {
                assertThat(first.actorSystem()).isSameAs(system);
                assertThat(computeThreads(system)).as("one compute thread a stage").isEqualTo(2);
                generateAndCompare(first, "a", 2);
            }
            assertThat(system.whenTerminated().isCompleted()).as("the system outlives the engine").isFalse();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (threads(system, "quantflow.actors.") > 0 && System.nanoTime() < deadline) Thread.sleep(100);
            assertThat(computeThreads(system)).as("the stages' compute threads end with them").isZero();
            assertThat(threads(system, "quantflow.actors.")).as("so do the sampler's and the tokenizers'").isZero();
            // a second engine in the same system: its actors' names do not clash with the first's
            try (PipelineEngine second = PipelineEngine.start(config, system, Progress.NONE)) {
                generateAndCompare(second, "b", 2);
            }
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }
}
