package dev.quantflow.actors;

import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.generate.Generator;
import dev.quantflow.engine.llama.LlamaModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Sink;

/** Shared helpers: the stories260K model, prompts of many lengths, the single-sequence reference and stream collection. */
final class EngineTestSupport {
    static final Path MODEL = SharedData.path("models/stories260K");

    private EngineTestSupport() {}

    /** n prompts of different lengths: growing prefixes of a real TinyStories story. */
    static List<String> prompts(int n) throws Exception {
        String[] words = Files.readString(SharedData.path("data/tinystories_sample.txt")).trim().split("\\s+");
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(String.join(" ", Arrays.copyOfRange(words, 0, 1 + (i * 5) % 40)));
        return out;
    }

    /** What the plain single-sequence Generator produces for a prompt. */
    static GenerateResult reference(LlamaModel model, String prompt, GenerateOptions options) {
        return new Generator(model.full(LinearFactory.DENSE), model.tokenizer()).generate(model.tokenizer().encode(prompt), options, (id, d) -> {});
    }

    /** A whole stream: its events, or the error it failed with. */
    record Outcome(List<TokenEvent> events, Throwable error) {
        int[] ids() {
            return events.stream().filter(e -> e instanceof TokenEvent.Delta).flatMapToInt(e -> Arrays.stream(((TokenEvent.Delta) e).tokenIds())).toArray();
        }

        String text() {
            StringBuilder s = new StringBuilder();
            for (TokenEvent e : events) if (e instanceof TokenEvent.Delta d) s.append(d.text());
            return s.toString();
        }

        TokenEvent.Finished finished() {
            return (TokenEvent.Finished) events.getLast();
        }
    }

    static CompletableFuture<Outcome> run(InferenceEngine engine, ActorSystem<?> system, GenerateRequest request) {
        return engine.submit(request).runWith(Sink.seq(), system).toCompletableFuture()
                .handle((events, error) -> new Outcome(events == null ? List.of() : events, error));
    }

    static Outcome await(CompletableFuture<Outcome> f) throws Exception {
        return f.get(60, TimeUnit.SECONDS);
    }

    static GenerateRequest text(String id, String prompt, GenerateOptions options) {
        return new GenerateRequest(id, new Prompt.Text(prompt), options);
    }

    static ActorSystem<Void> clientSystem() {
        return ActorSystem.create(Behaviors.empty(), "test-client");
    }
}
