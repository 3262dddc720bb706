package dev.quantflow.actors;

import static dev.quantflow.actors.EngineTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.kv.KvFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * With prefix caching on, every greedy output equals the output with it off, for every served
 * scheme and the int8 KV cache, on 1 and 2 stages: prompts sharing prefixes shorter than a block,
 * of exactly 2 blocks, and 2 blocks plus a few tokens (identical prompts among them, as n > 1 sends
 * them), run twice (concurrently: in-flight prefixes; then again: freed cached blocks), with a
 * roomy KV cache and with one so small that blocks are evicted and sequences preempted.
 */
class PrefixCachingEngineTest {
    private static final int BLOCK = 16;
    private static final int[] SHARED = {10, 2 * BLOCK, 2 * BLOCK + 3, 3 * BLOCK + 9};
    private static final int[] TAILS = {0, 0, 3, 7};   // two identical prompts per prefix
    static ActorSystem<Void> client;

    @BeforeAll
    static void setUp() {
        client = clientSystem();
    }

    @AfterAll
    static void tearDown() {
        client.terminate();
    }

    record Run(List<int[]> outputs, EngineSnapshot snapshot) {}

    @ParameterizedTest(name = "{0} kv={1} stages={2}")
    @CsvSource({"fp32,f32,1", "fp32,f32,2", "bf16,f32,1", "bf16,f32,2", "w8a16,f32,1", "w8a16,f32,2", "w8a8-dynamic,f32,1", "w8a8-dynamic,f32,2",
            "llm-int8,f32,1", "llm-int8,f32,2", "w4a16-rtn,f32,1", "w4a16-rtn,f32,2", "fp32,int8,1", "fp32,int8,2"})
    void outputsWithTheCacheEqualOutputsWithout(String scheme, String kv, int stages) throws Exception {
        List<int[]> prompts = prompts();
        for (int kvBlocks : new int[] {256, 14}) {
            Run off = generate(scheme, kv, stages, kvBlocks, false, prompts);
            Run on = generate(scheme, kv, stages, kvBlocks, true, prompts);
            for (int i = 0; i < off.outputs().size(); i++)
                assertThat(on.outputs().get(i)).as("%s kv=%s stages=%d kv-blocks=%d: request %d", scheme, kv, stages, kvBlocks, i)
                        .containsExactly(off.outputs().get(i));
            assertThat(on.snapshot().prefixCacheHitsTotal()).as("tokens served from the cache").isPositive();
            assertThat(on.snapshot().prefixCacheQueriesTotal()).isGreaterThan(on.snapshot().prefixCacheHitsTotal());
            assertThat(off.snapshot().prefixCacheQueriesTotal()).isZero();
            assertThat(on.snapshot().kvBlocksUsed()).as("every reference released at idle").isZero();
            if (kvBlocks == 14) assertThat(on.snapshot().preemptionsTotal()).as("the small cache preempted").isPositive();
        }
    }

    /** Random token prompts: each shared prefix with each tail, twice (the second round after the first ended). */
    private static List<int[]> prompts() {
        Random rnd = new Random(42);
        List<int[]> out = new ArrayList<>();
        for (int shared : SHARED) {
            int[] prefix = rnd.ints(shared, 3, 500).toArray();
            prefix[0] = 1;   // BOS
            for (int tail : TAILS) {
                int[] p = Arrays.copyOf(prefix, shared + tail);
                for (int j = shared; j < p.length; j++) p[j] = 3 + rnd.nextInt(497);
                out.add(p);
            }
        }
        return out;
    }

    private static Run generate(String scheme, String kv, int stages, int kvBlocks, boolean caching, List<int[]> prompts) throws Exception {
        EngineConfig config = EngineConfig.builder(MODEL).quant(scheme).kvFormat(KvFormat.parse(kv)).stages(stages).kvBlocks(kvBlocks)
                .kvBlockSize(BLOCK).maxSequences(8).maxBatchTokens(48).warmup(false).prefixCaching(caching).build();
        try (PipelineEngine engine = PipelineEngine.start(config)) {
            List<int[]> outputs = new ArrayList<>();
            for (int round = 0; round < 2; round++) {
                List<CompletableFuture<Outcome>> runs = new ArrayList<>();
                for (int i = 0; i < prompts.size(); i++) {
                    GenerateOptions options = GenerateOptions.greedy(12 + (i * 5) % 17);
                    runs.add(run(engine, client, new GenerateRequest("r" + round + "-" + i, new Prompt.Tokens(prompts.get(i)), options)));
                }
                for (int i = 0; i < runs.size(); i++) {
                    Outcome o = await(runs.get(i));
                    assertThat(o.error()).as("request %d", i).isNull();
                    outputs.add(o.ids());
                }
                engine.idle().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
            return new Run(outputs, engine.snapshot().toCompletableFuture().get(10, TimeUnit.SECONDS));
        }
    }
}
