package dev.quantflow.engine.llama;

import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.nio.file.Path;

/** A Hugging Face model directory opened: config, memory-mapped weights, tokenizer. */
public final class LlamaModel implements AutoCloseable {
    private final Path dir;
    private final LlamaConfig config;
    private final WeightStore weights;
    private final Tokenizer tokenizer;

    private LlamaModel(Path dir, LlamaConfig config, WeightStore weights, Tokenizer tokenizer) {
        this.dir = dir;
        this.config = config;
        this.weights = weights;
        this.tokenizer = tokenizer;
    }

    public static LlamaModel open(Path dir) {
        LlamaConfig config = LlamaConfig.load(dir);
        Tokenizer tokenizer = Tokenizer.fromModelDir(dir);
        return new LlamaModel(dir, config, WeightStore.open(dir), tokenizer);
    }

    public Path dir() {
        return dir;
    }

    public LlamaConfig config() {
        return config;
    }

    public WeightStore weights() {
        return weights;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The layers [first, last) with their linears built by factory. */
    public LlamaStage stage(int first, int last, LinearFactory factory) {
        return new LlamaStage(config, weights, first, last, factory);
    }

    public LlamaStage full(LinearFactory factory) {
        return stage(0, config.numLayers(), factory);
    }

    @Override
    public void close() {
        weights.close();
    }
}
