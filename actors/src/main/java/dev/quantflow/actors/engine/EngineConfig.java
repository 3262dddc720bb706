package dev.quantflow.actors.engine;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigResolveOptions;
import com.typesafe.config.ConfigValueType;
import dev.quantflow.actors.protocol.Activations;
import dev.quantflow.engine.backend.ComputeBackend;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.llama.StagePlacement;
import dev.quantflow.engine.model.LlamaConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Everything the actor pipeline needs to start: the model, how its layers split into stages and
 * onto which devices, the scheduler's budgets and the linear and KV-cache formats by name. Plain
 * data: the stages choose their code from it (test hooks are PipelineEngine.start's StageHooks).
 * Build one with {@link #builder(Path)} (the defaults of reference.conf's quantflow.engine) or
 * {@link #from(Config, Path)} (a configuration's quantflow.engine block: serve's, with its
 * environment, --config file and flags); every value is checked here so a bad flag fails fast.
 * No default is written in Java: each is a key of quantflow.engine in reference.conf.
 */
public record EngineConfig(
        Path modelDir,
        String servedModelName,       // "" -> the model directory's name
        int stages,                   // pipeline stages; ignored when layerSplit is given
        List<Integer> layerSplit,     // layers per stage, e.g. [3, 5]; empty -> an even split
        List<String> devices,         // one for all stages, or one per stage: cpu, or cuda:N (with the GPU backend) for a stage resident on that card
        int maxBatchTokens,           // token rows per step (prefill chunks + decode tokens)
        int maxSequences,             // sequences holding KV blocks at once
        int kvBlocks,                 // 0 -> derived from kvMemoryBytes and maxSequences
        int kvBlockSize,              // tokens per KV block
        long kvMemoryBytes,           // the budget an automatic kvBlocks stays under (all stages together)
        int maxWaiting,               // requests queued (or tokenizing) before new ones are refused OVERLOADED
        int tokenizerWorkers,
        int stageThreads,             // threads a stage's matmuls split over; 0 -> all cores (stages share them)
        boolean warmup,               // run one 1-token generation at start; health().ready waits for it
        String quant,                 // the scheme by name: CPU stages build it (QuantizedModels.atLoad; a quantized checkpoint as stored), a device stage (cuda:N) its own
        KvFormat kvFormat,
        boolean prefixCaching,        // reuse the KV blocks of prompt prefixes already computed (vLLM's automatic prefix caching)
        Activations.Format wireActivations) {   // the precision of the activations between stages: fp32, or bf16 (half the bytes per hop)

    public EngineConfig {
        layerSplit = List.copyOf(layerSplit);
        devices = List.copyOf(devices);
        require(stages >= 1, "stages must be >= 1, got " + stages);
        for (int n : layerSplit) require(n >= 1, "every stage needs at least one layer, got split " + layerSplit);
        require(!devices.isEmpty(), "devices must name at least one device");
        int s = layerSplit.isEmpty() ? stages : layerSplit.size();
        require(devices.size() == 1 || devices.size() == s, devices.size() + " devices for " + s + " stages: give one device, or one per stage");
        for (String d : devices) checkDevice(d);
        require(maxBatchTokens >= 1, "max batch tokens must be >= 1, got " + maxBatchTokens);
        require(maxSequences >= 1, "max sequences must be >= 1, got " + maxSequences);
        require(kvBlocks >= 0, "kv blocks must be >= 0 (0 = automatic), got " + kvBlocks);
        require(kvBlockSize >= 1, "kv block size must be >= 1, got " + kvBlockSize);
        require(kvMemoryBytes > 0, "kv memory must be > 0");
        require(maxWaiting >= 0, "max waiting must be >= 0, got " + maxWaiting);
        require(tokenizerWorkers >= 1, "tokenizer workers must be >= 1, got " + tokenizerWorkers);
        require(stageThreads >= 0, "stage threads must be >= 0 (0 = all cores), got " + stageThreads);
        require(!quant.isBlank(), "quant must name a scheme (fp32 for the weights as stored)");
        require(kvFormat != null, "kv format must be given");
        require(wireActivations != null, "wire activations must be given");
    }

    /** A builder with the defaults of reference.conf's quantflow.engine (without the environment's overrides). */
    public static Builder builder(Path modelDir) {
        return builder(DEFAULTS, modelDir);
    }

    /** A builder starting from a quantflow.engine block (e.g. {@code config.getConfig("quantflow.engine")}). */
    public static Builder builder(Config quantflowEngine, Path modelDir) {
        return new Builder(modelDir, quantflowEngine.withFallback(DEFAULTS));
    }

    /** The engine a quantflow.engine block describes. */
    public static EngineConfig from(Config quantflowEngine, Path modelDir) {
        return builder(quantflowEngine, modelDir).build();
    }

    /** reference.conf's quantflow.engine as written: its ${?QUANTFLOW_...} overrides left out, so a library default never depends on the environment. */
    public static Config defaults() {
        return DEFAULTS;
    }

    private static final Config DEFAULTS = ConfigFactory.defaultReferenceUnresolved().withOnlyPath("quantflow.engine")
            .resolve(ConfigResolveOptions.noSystem()).getConfig("quantflow.engine");

    /** A HOCON list or a comma-separated string (as environment variables give it); blanks dropped. */
    private static List<String> list(Config c, String key) {
        List<String> raw = c.getValue(key).valueType() == ConfigValueType.LIST ? c.getList(key).stream().map(v -> String.valueOf(v.unwrapped())).toList()
                : List.of(c.getString(key));
        List<String> out = new ArrayList<>();
        for (String s : raw) Arrays.stream(s.split(",")).map(String::strip).filter(x -> !x.isEmpty()).forEach(out::add);
        return List.copyOf(out);
    }

    private static List<Integer> layers(Config c, String key) {
        try {
            return list(c, key).stream().map(Integer::parseInt).toList();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("quantflow.engine." + key + " must be layer counts like 3,5, got '" + c.getValue(key).unwrapped() + "'");
        }
    }

    public int stageCount() {
        return layerSplit.isEmpty() ? stages : layerSplit.size();
    }

    /** The layer range and device of every stage: see {@link StagePlacement}. */
    public List<LayerRange> stagePlan(LlamaConfig model) {
        return StagePlacement.plan(model, stages, layerSplit, devices);
    }

    /** Whether the card is usable is the stage's to find out when it loads; here only that the device can be. */
    private static void checkDevice(String d) {
        if (d.equals("cpu")) return;
        if (d.matches("cuda:\\d+")) {
            if (ComputeBackend.installed().stream().noneMatch(b -> b.name().equals("cuda")))
                throw new IllegalArgumentException("device " + d + ": CUDA stages come with the GPU backend, which this build does not have; use cpu");
            return;
        }
        throw new IllegalArgumentException("unknown device '" + d + "' (expected cpu or cuda:N)");
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    /**
     * Starts from a quantflow.engine block (reference.conf's defaults, sized for a CPU server,
     * under whatever overrides it); tests shrink the budgets to force waiting and preemption.
     */
    public static final class Builder {
        private final Path modelDir;
        private String servedModelName = "";
        private int stages;
        private List<Integer> layerSplit;
        private List<String> devices;
        private int maxBatchTokens;
        private int maxSequences;
        private int kvBlocks;
        private int kvBlockSize;
        private long kvMemoryBytes;
        private int maxWaiting;
        private int tokenizerWorkers;
        private int stageThreads;
        private boolean warmup;
        private String quant;
        private KvFormat kvFormat;
        private boolean prefixCaching;
        private Activations.Format wireActivations;

        private Builder(Path modelDir, Config c) {
            this.modelDir = modelDir;
            stages = c.getInt("stages");
            layerSplit = layers(c, "layer-split");
            devices = list(c, "devices");
            quant = c.getString("quant").strip();
            String kv = c.getString("kv").strip();
            kvFormat = KvFormat.parse(kv.isEmpty() ? DEFAULTS.getString("kv") : kv);   // blank: the default
            kvBlocks = c.getInt("kv-blocks");
            kvBlockSize = c.getInt("kv-block-size");
            kvMemoryBytes = c.getBytes("kv-memory");
            maxBatchTokens = c.getInt("max-batch-tokens");
            maxSequences = c.getInt("max-seqs");
            maxWaiting = c.getInt("max-waiting");
            tokenizerWorkers = c.getInt("tokenizer-workers");
            stageThreads = c.getInt("stage-threads");
            warmup = c.getBoolean("warmup");
            prefixCaching = c.getBoolean("prefix-caching");
            wireActivations = Activations.Format.parse(c.getString("wire-activations"));
        }

        public Builder servedModelName(String v) { servedModelName = v; return this; }
        public Builder stages(int v) { stages = v; return this; }
        public Builder layerSplit(List<Integer> v) { layerSplit = v; return this; }
        public Builder devices(List<String> v) { devices = v; return this; }
        public Builder maxBatchTokens(int v) { maxBatchTokens = v; return this; }
        public Builder maxSequences(int v) { maxSequences = v; return this; }
        public Builder kvBlocks(int v) { kvBlocks = v; return this; }
        public Builder kvBlockSize(int v) { kvBlockSize = v; return this; }
        public Builder kvMemoryBytes(long v) { kvMemoryBytes = v; return this; }
        public Builder maxWaiting(int v) { maxWaiting = v; return this; }
        public Builder tokenizerWorkers(int v) { tokenizerWorkers = v; return this; }
        public Builder stageThreads(int v) { stageThreads = v; return this; }
        public Builder warmup(boolean v) { warmup = v; return this; }
        public Builder quant(String v) { quant = v; return this; }
        public Builder kvFormat(KvFormat v) { kvFormat = v; return this; }
        public Builder prefixCaching(boolean v) { prefixCaching = v; return this; }
        public Builder wireActivations(Activations.Format v) { wireActivations = v; return this; }

        public EngineConfig build() {
            return new EngineConfig(modelDir, servedModelName, stages, layerSplit, devices, maxBatchTokens, maxSequences, kvBlocks,
                    kvBlockSize, kvMemoryBytes, maxWaiting, tokenizerWorkers, stageThreads, warmup, quant, kvFormat, prefixCaching, wireActivations);
        }
    }
}
