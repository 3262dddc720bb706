package dev.quantflow.engine.generate;

import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.BatchRows;
import dev.quantflow.engine.llama.CpuStage;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The single-sequence generation loop (the CLI's generate, tests, eval): prefill the prompt in
 * chunks, then decode one token per step until EOS, a stop string, max tokens or the context end.
 * The server's batched loop lives in the scheduler; this one is the plain reference.
 */
public final class Generator {
    public static final int PREFILL_CHUNK = 512;   // prompt tokens per step

    private final LlamaConfig c;
    private final Tokenizer tokenizer;
    private final IntFunction<List<StageCompute>> pipeline;   // KV blocks a generation needs -> the stages, embedding to lm_head

    /** model must cover all layers (embedding to lm_head). */
    public Generator(LlamaStage model, Tokenizer tokenizer) {
        this(model, tokenizer, blocks -> {
            LlamaConfig c = model.config();
            return new F32KvCache(c.numLayers(), blocks, KvCache.BLOCK_SIZE, c.numHeads(), c.numKvHeads(), c.headDim());
        });
    }

    public Generator(LlamaStage model, Tokenizer tokenizer, IntFunction<KvCache> cacheFactory) {
        if (!model.hasEmbedding() || !model.hasHead()) throw new IllegalArgumentException("Generator needs a stage over all layers");
        this(model.config(), tokenizer, blocks -> List.of(new CpuStage(model, cacheFactory.apply(blocks))));
    }

    private Generator(LlamaConfig c, Tokenizer tokenizer, IntFunction<List<StageCompute>> pipeline) {
        this.c = c;
        this.tokenizer = tokenizer;
        this.pipeline = pipeline;
    }

    /**
     * Over a pipeline of stages (stage 0 embeds, the last has lm_head) that hold their own KV
     * caches of kvBlocks blocks of KvCache.BLOCK_SIZE tokens each, e.g. stages on cards. Each generation
     * reuses those caches from block 0.
     */
    public static Generator overStages(LlamaConfig c, List<StageCompute> stages, int kvBlocks, Tokenizer tokenizer) {
        if (stages.isEmpty() || !stages.getFirst().hasEmbedding() || !stages.getLast().hasHead())
            throw new IllegalArgumentException("Generator needs stages from the embedding to lm_head");
        for (int i = 1; i < stages.size(); i++)
            if (stages.get(i).firstLayer() != stages.get(i - 1).lastLayer()) throw new IllegalArgumentException("stages must cover consecutive layers");
        List<StageCompute> fixed = List.copyOf(stages);
        return new Generator(c, tokenizer, blocks -> {
            if (blocks > kvBlocks)
                throw new IllegalArgumentException("this generation needs " + blocks * KvCache.BLOCK_SIZE + " KV tokens; the stages hold " + kvBlocks * KvCache.BLOCK_SIZE);
            return fixed;
        });
    }

    /** KV blocks of KvCache.BLOCK_SIZE tokens a generation of maxTokens after promptTokens needs (capped by the context). */
    public static int blocksNeeded(LlamaConfig c, int promptTokens, int maxTokens) {
        return Math.max(1, (tokenBudget(c, promptTokens, maxTokens) + KvCache.BLOCK_SIZE - 1) / KvCache.BLOCK_SIZE);
    }

    /** Positions a generation can reach: the prompt plus maxTokens, capped by the context. */
    private static int tokenBudget(LlamaConfig c, int promptTokens, int maxTokens) {
        return (int) Math.min(c.maxPositions(), (long) promptTokens + maxTokens);
    }

    /** Called with each token as it is chosen and the text that became final with it (may be empty). */
    @FunctionalInterface
    public interface Listener {
        void onToken(int id, String textDelta);
    }

    public GenerateResult generate(int[] prompt, GenerateOptions opt, Listener listener) {
        if (prompt.length == 0) throw new IllegalArgumentException("empty prompt (no tokens)");
        if (prompt.length >= c.maxPositions())
            throw new IllegalArgumentException("prompt has " + prompt.length + " tokens; the context is " + c.maxPositions());
        int budget = tokenBudget(c, prompt.length, opt.maxTokens());
        int numBlocks = blocksNeeded(c, prompt.length, opt.maxTokens());
        List<StageCompute> stages = pipeline.apply(numBlocks);
        int[] table = new BlockAllocator(numBlocks).ensure(new int[0], budget, KvCache.BLOCK_SIZE);
        SequenceDecoder decoder = new SequenceDecoder(tokenizer, prompt, opt, c.maxPositions());
        StringBuilder text = new StringBuilder();
        int[] out = new int[opt.maxTokens()];
        int n = 0;

        long t0 = System.nanoTime();
        float[] logits = null;
        for (int s = 0; s < prompt.length; s += PREFILL_CHUNK) {
            int e = Math.min(prompt.length, s + PREFILL_CHUNK);
            logits = step(Arrays.copyOfRange(prompt, s, e), s, table, stages);
        }
        long t1 = System.nanoTime();
        int pos = prompt.length;
        String finish = "length", tail;
        if (opt.maxTokens() == 0) {
            tail = decoder.finish();
        } else {
            SequenceDecoder.Emitted emitted;
            while (true) {
                int next = decoder.sample(logits, 0, c.vocabSize());
                emitted = decoder.accept(next);
                if (!emitted.eos()) {
                    out[n++] = next;
                    text.append(emitted.text());
                    listener.onToken(next, emitted.text());
                }
                if (emitted.finished()) break;
                logits = step(new int[] {next}, pos++, table, stages);
            }
            finish = emitted.finishReason().orElseThrow();
            tail = emitted.tail();
        }
        text.append(tail);
        if (!tail.isEmpty()) listener.onToken(-1, tail);
        long t2 = System.nanoTime();
        return new GenerateResult(Arrays.copyOf(out, n), text.toString(), finish, prompt.length, t1 - t0, t2 - t1);
    }

    /** Runs tokens at positions start.. through the stages; returns the last row's logits. */
    private static float[] step(int[] tokens, int start, int[] table, List<StageCompute> stages) {
        int[] pos = new int[tokens.length];
        int[][] tables = new int[tokens.length][];
        for (int i = 0; i < tokens.length; i++) { pos[i] = start + i; tables[i] = table; }
        BatchRows rows = new BatchRows(tokens, pos, tables);
        int[] last = {tokens.length - 1};
        float[] x = new float[0];
        for (StageCompute s : stages) x = s.forward(x, rows, last);
        return x;
    }
}
