package dev.quantflow.actors.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigResolveOptions;
import dev.quantflow.actors.protocol.Activations;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.model.LlamaConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Stage plans and the checks on engine flags. */
class EngineConfigTest {
    static LlamaConfig shape(int hidden, int layers, int intermediate, int vocab) throws Exception {
        String json = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":" + hidden + ",\"intermediate_size\":" + intermediate
                + ",\"num_hidden_layers\":" + layers + ",\"num_attention_heads\":8,\"num_key_value_heads\":8,\"vocab_size\":" + vocab + "}";
        return LlamaConfig.parse(new ObjectMapper().readTree(json), Path.of("config.json"));
    }

    static EngineConfig.Builder config() {
        return EngineConfig.builder(Path.of("model"));
    }

    @Test
    void anEvenSplitBalancesWeightsCountingTheLmHeadOnTheLastStage() throws Exception {
        LlamaConfig synth = shape(512, 8, 1408, 32000);   // lm_head = 5 layers' worth of weights
        assertThat(config().stages(2).build().stagePlan(synth)).extracting(LayerRange::layers).containsExactly(7, 1);
        LlamaConfig noHead = shape(512, 8, 1408, 8);
        assertThat(config().stages(2).build().stagePlan(noHead)).extracting(LayerRange::layers).containsExactly(4, 4);
        assertThat(config().stages(3).build().stagePlan(noHead)).extracting(LayerRange::layers).containsExactly(3, 3, 2);
        List<LayerRange> plan = config().stages(8).build().stagePlan(synth);
        assertThat(plan).extracting(LayerRange::first).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
    }

    @Test
    void aGivenSplitAndDevicesAreUsedAsGiven() throws Exception {
        List<LayerRange> plan = config().layerSplit(List.of(3, 5)).devices(List.of("cpu", "cpu")).build().stagePlan(shape(64, 8, 128, 32));
        assertThat(plan).containsExactly(new LayerRange(0, 0, 3, "cpu"), new LayerRange(1, 3, 8, "cpu"));
    }

    @Test
    void badFlagsFailWithAClearMessage() throws Exception {
        assertThatThrownBy(() -> config().layerSplit(List.of(3, 4)).build().stagePlan(shape(64, 8, 128, 32))).hasMessageContaining("covers 7 layers");
        assertThatThrownBy(() -> config().stages(9).build().stagePlan(shape(64, 8, 128, 32))).hasMessageContaining("9 stages for a model of 8 layers");
        assertThatThrownBy(() -> config().devices(List.of("cuda:0")).build()).hasMessageContaining("GPU backend");
        assertThatThrownBy(() -> config().devices(List.of("tpu")).build()).hasMessageContaining("unknown device 'tpu'");
        assertThatThrownBy(() -> config().stages(3).devices(List.of("cpu", "cpu")).build()).hasMessageContaining("2 devices for 3 stages");
        assertThatThrownBy(() -> config().maxBatchTokens(0).build()).hasMessageContaining("max batch tokens");
    }

    /** The Builder's defaults are reference.conf's quantflow.engine, the values the engine always had. */
    @Test
    void theDefaultsAreReferenceConfs() {
        EngineConfig c = config().build();
        Config ref = EngineConfig.defaults();
        assertThat(c.stages()).isEqualTo(ref.getInt("stages")).isEqualTo(1);
        assertThat(c.layerSplit()).isEmpty();
        assertThat(c.devices()).containsExactly("cpu");
        assertThat(c.quant()).isEqualTo(ref.getString("quant")).isEqualTo("fp32");
        assertThat(c.kvFormat()).isEqualTo(KvFormat.F32);
        assertThat(c.maxBatchTokens()).isEqualTo(ref.getInt("max-batch-tokens")).isEqualTo(512);
        assertThat(c.maxSequences()).isEqualTo(ref.getInt("max-seqs")).isEqualTo(32);
        assertThat(c.kvBlocks()).isZero();
        assertThat(c.kvBlockSize()).isEqualTo(16);
        assertThat(c.kvMemoryBytes()).isEqualTo(ref.getBytes("kv-memory")).isEqualTo(512L << 20);
        assertThat(c.maxWaiting()).isEqualTo(256);
        assertThat(c.tokenizerWorkers()).isEqualTo(2);
        assertThat(c.stageThreads()).isZero();
        assertThat(c.warmup()).isTrue();
        assertThat(c.prefixCaching()).isEqualTo(ref.getBoolean("prefix-caching")).isTrue();
        assertThat(c.wireActivations()).isEqualTo(Activations.Format.parse(ref.getString("wire-activations"))).isEqualTo(Activations.Format.FP32);
        assertThat(c.servedModelName()).isEmpty();
    }

    /** The paged caches' block size and the single-sequence caches' (KvCache.BLOCK_SIZE) are one number. */
    @Test
    void theKvBlockSizeDefaultIsKvCachesBlockSize() {
        assertThat(EngineConfig.defaults().getInt("kv-block-size")).isEqualTo(KvCache.BLOCK_SIZE);
        assertThat(ConfigFactory.load().getInt("quantflow.engine.kv-block-size")).isEqualTo(KvCache.BLOCK_SIZE);
    }

    @Test
    void aQuantflowEngineBlockOverridesTheDefaults() {
        Config block = ConfigFactory.parseString("""
                stages = 2, devices = "cpu, cpu", layer-split = [1, 1], quant = "w8a16", kv = int8, kv-blocks = 9, kv-block-size = 8
                kv-memory = 64 MiB, max-batch-tokens = 64, max-seqs = 4, max-waiting = 5, tokenizer-workers = 3, stage-threads = 1, warmup = off
                prefix-caching = off, wire-activations = bf16
                """);
        EngineConfig c = EngineConfig.from(block, Path.of("model"));
        assertThat(c.stages()).isEqualTo(2);
        assertThat(c.devices()).containsExactly("cpu", "cpu");
        assertThat(c.layerSplit()).containsExactly(1, 1);
        assertThat(c.quant()).isEqualTo("w8a16");
        assertThat(c.kvFormat()).isEqualTo(KvFormat.INT8);
        assertThat(c.kvBlocks()).isEqualTo(9);
        assertThat(c.kvBlockSize()).isEqualTo(8);
        assertThat(c.kvMemoryBytes()).isEqualTo(64L << 20);
        assertThat(c.maxBatchTokens()).isEqualTo(64);
        assertThat(c.maxSequences()).isEqualTo(4);
        assertThat(c.maxWaiting()).isEqualTo(5);
        assertThat(c.tokenizerWorkers()).isEqualTo(3);
        assertThat(c.stageThreads()).isEqualTo(1);
        assertThat(c.warmup()).isFalse();
        assertThat(c.wireActivations()).isEqualTo(Activations.Format.BF16);
        assertThatThrownBy(() -> EngineConfig.from(ConfigFactory.parseString("wire-activations = fp8"), Path.of("model")))
                .hasMessageContaining("wire activations 'fp8': expected fp32 or bf16");
        assertThat(c.prefixCaching()).isFalse();
        // a partial block keeps the other defaults; an environment string "3,5" is a split too
        EngineConfig partial = EngineConfig.from(ConfigFactory.parseMap(Map.of("max-seqs", 7, "layer-split", "3, 5")), Path.of("model"));
        assertThat(partial.maxSequences()).isEqualTo(7);
        assertThat(partial.layerSplit()).containsExactly(3, 5);
        assertThat(partial.maxBatchTokens()).isEqualTo(512);
        assertThatThrownBy(() -> EngineConfig.from(ConfigFactory.parseMap(Map.of("layer-split", "3;5")), Path.of("model")))
                .hasMessageContaining("quantflow.engine.layer-split");
    }

    /** Every key of quantflow.engine has its environment variable: QUANTFLOW_ and the key in upper case, dashes as underscores. */
    @Test
    void everyEngineKeyHasItsEnvironmentVariable() {
        Config unresolved = ConfigFactory.defaultReferenceUnresolved().withOnlyPath("quantflow.engine");
        for (String key : EngineConfig.defaults().root().keySet()) {
            String env = "QUANTFLOW_" + key.toUpperCase(Locale.ROOT).replace('-', '_');
            String value = key.equals("warmup") ? "off" : key.equals("kv-memory") ? "1 MiB" : key.equals("devices") ? "cuda:7" : "77";
            // an environment variable is, to a substitution, a root key: give it as one
            Config resolved = ConfigFactory.parseMap(Map.of(env, value)).withFallback(unresolved).resolve(ConfigResolveOptions.noSystem())
                    .getConfig("quantflow.engine");
            assertThat(String.valueOf(resolved.getValue(key).unwrapped())).as(key + " from " + env).isEqualTo(value);
        }
    }
}
