package dev.quantflow.server.integration;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.generate.Generator;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.sample.SamplingParams;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;

/** What `quantflow generate` produces: the single-sequence reference loop, greedy, on stories260K. */
final class Reference implements AutoCloseable {
    static final Path MODEL = SharedData.path("models/stories260K");

    private final LlamaModel model = LlamaModel.open(MODEL);
    private final Generator generator = new Generator(model.full(LinearFactory.DENSE), model.tokenizer());

    synchronized GenerateResult greedy(String prompt, int maxTokens) {
        return greedy(prompt, maxTokens, List.of());
    }

    synchronized GenerateResult constrained(String prompt, int maxTokens, dev.quantflow.engine.structured.OutputConstraint c) {
        return generator.generate(model.tokenizer().encode(prompt), GenerateOptions.greedy(maxTokens).constrained(c), (id, d) -> {});
    }

    synchronized GenerateResult greedy(String prompt, int maxTokens, List<String> stop) {
        return generator.generate(model.tokenizer().encode(prompt), new GenerateOptions(maxTokens, SamplingParams.GREEDY, false, stop), (id, d) -> {});
    }

    /** The reference loop with any options (the vLLM extensions and penalties included). */
    synchronized GenerateResult generate(String prompt, GenerateOptions options) {
        return generator.generate(model.tokenizer().encode(prompt), options, (id, d) -> {});
    }

    Tokenizer tokenizer() {
        return model.tokenizer();
    }

    synchronized GenerateResult greedyIds(int[] prompt, int maxTokens) {
        return generator.generate(prompt, GenerateOptions.greedy(maxTokens), (id, d) -> {});
    }

    @Override
    public void close() {
        model.close();
    }
}
