package dev.quantflow.server.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import dev.quantflow.actors.cluster.ClusterNode;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.actors.stage.LinearProbe;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.hub.HubResolver;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.engine.quant.QuantizedCheckpoint;
import dev.quantflow.engine.quant.QuantizedModels;
import dev.quantflow.engine.tokenizer.Tokenizer;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ServerSettings;
import dev.quantflow.server.api.LoadingEngine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * `quantflow serve`: the engine behind the OpenAI-compatible HTTP API and gRPC. Every flag is a
 * key (quantflow.server.* of application.conf, quantflow.engine.* of the actors' reference.conf)
 * with an environment variable; precedence: flag > --config FILE > environment > defaults. The
 * flags stay null unless given; their help shows the configured default (${bundle:KEY}, see ConfigDefaults). SIGTERM (or Ctrl-C) drains: readiness
 * off, new requests 503, in-flight ones finish within the drain timeout, then exit 0.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false, resourceBundle = "dev.quantflow.server.cli.ConfigDefaults",
        description = "Serve a model over the OpenAI-compatible HTTP API (SSE streaming), gRPC, Prometheus /metrics and health probes.")
public final class ServeCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

    @Option(names = "--model", paramLabel = "DIR|ORG/NAME", description = ModelOption.HELP + " [quantflow.server.model, QUANTFLOW_MODEL] (default: ../shared/models/stories260K)")
    String model;

    @Option(names = "--quant", paramLabel = "SCHEME", description = CliHelp.QUANT_SCHEMES + " [quantflow.engine.quant, QUANTFLOW_QUANT] (default: ${bundle:quantflow.engine.quant})")
    String quant;

    @Option(names = "--devices", paramLabel = "DEV,...", description = "One device for all stages or one per stage: cpu or cuda:N (the stage's weights, activations and KV cache on that card) "
            + "[quantflow.engine.devices, QUANTFLOW_DEVICES] (default: ${bundle:quantflow.engine.devices})")
    String devices;

    @Option(names = "--stages", paramLabel = "N", description = "Pipeline stages (layer shards, balanced by weight bytes) [quantflow.engine.stages, QUANTFLOW_STAGES] (default: ${bundle:quantflow.engine.stages})")
    Integer stages;

    @Option(names = "--layer-split", paramLabel = "N,N,...", description = "Layers per stage, e.g. 3,5 (overrides --stages) [quantflow.engine.layer-split, QUANTFLOW_LAYER_SPLIT]")
    String layerSplit;

    @Option(names = "--host", description = "Address to listen on [quantflow.server.host, QUANTFLOW_HOST] (default: ${bundle:quantflow.server.host})")
    String host;

    @Option(names = "--port", description = "HTTP port, also gRPC over h2c; 0 = any free port [quantflow.server.port, QUANTFLOW_PORT] (default: ${bundle:quantflow.server.port})")
    Integer port;

    @Option(names = "--grpc-port", description = "Separate gRPC port; -1 = only on the HTTP port, 0 = any free port [quantflow.server.grpc-port, QUANTFLOW_GRPC_PORT] (default: ${bundle:quantflow.server.grpc-port})")
    Integer grpcPort;

    @Option(names = "--admin-port", description = "A listener for /health* and /metrics only, answered when the API port is saturated; -1 = off, 0 = any free port "
            + "[quantflow.server.admin-port, QUANTFLOW_ADMIN_PORT] (default: ${bundle:quantflow.server.admin-port})")
    Integer adminPort;

    @Option(names = "--max-connections", paramLabel = "N", description = "Open connections per listener; at the limit a new one closes the longest-idle "
            + "[quantflow.server.max-connections, QUANTFLOW_MAX_CONNECTIONS] (default: ${bundle:quantflow.server.max-connections})")
    Integer maxConnections;

    @Option(names = "--keep-alive-timeout", paramLabel = "DURATION", description = "Close a connection with no request in flight after this long without traffic "
            + "[quantflow.server.keep-alive-timeout, QUANTFLOW_KEEP_ALIVE_TIMEOUT] (default: ${bundle:quantflow.server.keep-alive-timeout})")
    String keepAliveTimeout;

    @Option(names = "--allowed-origins", paramLabel = "ORIGIN,...", description = "CORS: browser origins allowed to call the API (e.g. https://app.example.com), * for any "
            + "[quantflow.server.allowed-origins, QUANTFLOW_ALLOWED_ORIGINS] (default: ${bundle:quantflow.server.allowed-origins}, CORS off)")
    String allowedOrigins;

    @Option(names = "--access-log", negatable = true, description = "One log line per request (quantflow.access) [quantflow.server.access-log, QUANTFLOW_ACCESS_LOG] (default: ${bundle:quantflow.server.access-log})")
    Boolean accessLog;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Accept this API key (repeatable) [quantflow.server.api-keys]; prefer --api-key-file or QUANTFLOW_API_KEYS, flags show in process lists")
    List<String> apiKeys;

    @Option(names = "--api-key-file", paramLabel = "FILE", description = "File with one API key per line [quantflow.server.api-key-file, QUANTFLOW_API_KEY_FILE]")
    Path apiKeyFile;

    @Option(names = "--served-model-name", paramLabel = "NAME", description = "Model id clients use (default: the directory name) [quantflow.server.served-model-name, QUANTFLOW_SERVED_MODEL_NAME]")
    String servedModelName;

    @Option(names = "--max-seqs", description = "Sequences running at once [quantflow.engine.max-seqs, QUANTFLOW_MAX_SEQS] (default: ${bundle:quantflow.engine.max-seqs})")
    Integer maxSeqs;

    @Option(names = "--max-batch-tokens", description = "Token rows per step [quantflow.engine.max-batch-tokens, QUANTFLOW_MAX_BATCH_TOKENS] (default: ${bundle:quantflow.engine.max-batch-tokens})")
    Integer maxBatchTokens;

    @Option(names = "--max-waiting", description = "Queued requests before 429 [quantflow.engine.max-waiting, QUANTFLOW_MAX_WAITING] (default: ${bundle:quantflow.engine.max-waiting})")
    Integer maxWaiting;

    @Option(names = "--kv-blocks", description = "KV cache blocks, 0 = automatic (within --kv-memory) [quantflow.engine.kv-blocks, QUANTFLOW_KV_BLOCKS] (default: ${bundle:quantflow.engine.kv-blocks})")
    Integer kvBlocks;

    @Option(names = "--kv-block-size", paramLabel = "N", description = "Tokens per KV block [quantflow.engine.kv-block-size, QUANTFLOW_KV_BLOCK_SIZE] (default: ${bundle:quantflow.engine.kv-block-size})")
    Integer kvBlockSize;

    @Option(names = "--kv-memory", paramLabel = "SIZE", description = "The memory an automatic --kv-blocks stays under, e.g. 1GiB [quantflow.engine.kv-memory, QUANTFLOW_KV_MEMORY] (default: ${bundle:quantflow.engine.kv-memory})")
    String kvMemory;

    @Option(names = "--kv", paramLabel = "f32|f16|int8", description = "KV cache storage [quantflow.engine.kv, QUANTFLOW_KV] (default: ${bundle:quantflow.engine.kv})")
    String kv;

    @Option(names = "--wire-activations", paramLabel = "fp32|bf16", description = "The precision of the activations between pipeline stages: fp32 as "
            + "computed, or bf16 (half the bytes per hop; for stage nodes on other hosts) [quantflow.engine.wire-activations, QUANTFLOW_WIRE_ACTIVATIONS] "
            + "(default: ${bundle:quantflow.engine.wire-activations})")
    String wireActivations;

    @Option(names = "--stage-threads", paramLabel = "N", description = "Threads each stage's matmuls use; 0 = all cores, shared by the stages [quantflow.engine.stage-threads, QUANTFLOW_STAGE_THREADS] (default: ${bundle:quantflow.engine.stage-threads})")
    Integer stageThreads;

    @Option(names = "--tokenizer-workers", paramLabel = "N", description = "Tokenizer workers (encode, chat templates) [quantflow.engine.tokenizer-workers, QUANTFLOW_TOKENIZER_WORKERS] (default: ${bundle:quantflow.engine.tokenizer-workers})")
    Integer tokenizerWorkers;

    @Option(names = "--prefix-caching", negatable = true, description = "Reuse the KV blocks of prompt prefixes already computed (automatic prefix caching) "
            + "[quantflow.engine.prefix-caching, QUANTFLOW_PREFIX_CACHING] (default: ${bundle:quantflow.engine.prefix-caching})")
    Boolean prefixCaching;

    @Option(names = "--warmup", negatable = true, description = "Ready only after a one-token generation at start passed [quantflow.engine.warmup, QUANTFLOW_WARMUP] (default: ${bundle:quantflow.engine.warmup})")
    Boolean warmup;

    @Option(names = "--drain-timeout", paramLabel = "DURATION", description = "How long in-flight requests may run after SIGTERM, e.g. 30s [quantflow.server.drain-timeout, QUANTFLOW_DRAIN_TIMEOUT] (default: ${bundle:quantflow.server.drain-timeout})")
    String drainTimeout;

    @Option(names = "--config", paramLabel = "FILE", description = "A HOCON file with quantflow.server / quantflow.engine settings")
    Path configFile;

    @Option(names = "--role", paramLabel = "single|frontend", defaultValue = "single",
            description = "single: every stage in this JVM (the default); frontend: HTTP/gRPC, tokenizer, scheduler and sampler here, each layer range "
                    + "of the plan on a `quantflow stage` node of the cluster (see --cluster-seed; docs/OPERATIONS.md, Multi-node) (default: ${DEFAULT-VALUE})")
    String role;

    @picocli.CommandLine.Mixin
    ClusterOptions cluster;

    @Override
    public Integer call() throws Exception {
        QuantflowServer server = startServing(DrainOnSignal::install, ProgressRenderer.forCli(LOG::info));
        server.terminated().toCompletableFuture().join();
        return 0;
    }

    /**
     * What serve does before it waits for the end (tests start servers through here): binds the
     * ports first, so liveness answers while the weights load (readiness stays 503 until the
     * model is loaded and warmed up), then loads the model, reporting to progress; onBound sees
     * the server as soon as it listens. Returns once the model is loaded.
     */
    QuantflowServer startServing(Consumer<QuantflowServer> onBound, Progress progress) {
        boolean frontend = switch (role) {
            case "single" -> false;
            case "frontend" -> true;
            default -> throw new QuantflowCommand.UserError("--role " + role + ": expected single or frontend (stage nodes run `quantflow stage`)");
        };
        if (!frontend) cluster.refuseOutsideACluster(role);
        Config config = frontend ? cluster.config(ClusterNode.FRONTEND).withFallback(config()) : config();
        ServerSettings settings = ServerSettings.from(config);
        EngineConfig engineConfig = Progress.during(progress, () -> engineConfig(config, settings));   // a Hub download reports as the load does
        LlamaConfig model = LlamaConfig.load(engineConfig.modelDir());
        String id = engineConfig.servedModelName().isEmpty() ? engineConfig.modelDir().toAbsolutePath().normalize().getFileName().toString()
                : engineConfig.servedModelName();
        LoadingEngine loading = new LoadingEngine(id, model.maxPositions(), Tokenizer.fromModelDir(engineConfig.modelDir()));
        QuantflowServer server = QuantflowServer.start(loading, settings, config);
        onBound.accept(server);
        if (frontend) cluster.startBootstrap(server.system());
        LOG.info("loading {}: {} layers in {} stage(s) on {}, linears {}, KV cache {}", engineConfig.modelDir(), model.numLayers(),
                engineConfig.stageCount(), String.join(",", engineConfig.devices()), linearsInUse(model, engineConfig.quant()),
                engineConfig.kvFormat());
        long t0 = System.nanoTime();
        try {
            // the server's system: --config reaches the engine's actors; a frontend's returns once stage nodes host every range
            loading.loaded(frontend ? PipelineEngine.startFrontend(engineConfig, server.system(), progress)
                    : PipelineEngine.start(engineConfig, server.system(), progress));
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        LOG.info("model loaded in {} ms", (System.nanoTime() - t0) / 1_000_000);
        return server;
    }

    /** The scheme the linears run in, for the start-up log: --quant, or what a quantized checkpoint stores. */
    static String linearsInUse(LlamaConfig model, String quant) {
        if (!QuantizedCheckpoint.isQuantized(model)) return quant;
        var qc = model.quantizationConfig();
        String method = qc.path("quant_method").asText();
        String detail = qc.has("plan") ? qc.path("plan").asText() : qc.path("bits").asInt(4) + "-bit, group " + qc.path("group_size").asInt();
        return "as stored (" + method + " checkpoint: " + detail + ")";
    }

    /** Flags over --config FILE over the environment and application.conf. */
    Config config() {
        Map<String, Object> flags = new HashMap<>();
        String s = "quantflow.server.", e = "quantflow.engine.";
        put(flags, s + "model", model);   // a directory or a Hub id: resolved (downloaded) once the configuration is complete
        put(flags, e + "quant", quant);
        put(flags, e + "kv", kv);
        put(flags, e + "devices", devices);
        put(flags, e + "stages", stages);
        put(flags, s + "host", host);
        put(flags, s + "port", port);
        put(flags, s + "grpc-port", grpcPort);
        put(flags, s + "admin-port", adminPort);
        put(flags, s + "max-connections", maxConnections);
        put(flags, s + "keep-alive-timeout", keepAliveTimeout);
        put(flags, s + "allowed-origins", allowedOrigins);
        put(flags, s + "access-log", accessLog);
        if (apiKeys != null) flags.put(s + "api-keys", apiKeys);
        if (apiKeyFile != null) flags.put(s + "api-key-file", apiKeyFile.toString());
        put(flags, s + "served-model-name", servedModelName);
        put(flags, s + "drain-timeout", drainTimeout);
        put(flags, e + "max-seqs", maxSeqs);
        put(flags, e + "max-batch-tokens", maxBatchTokens);
        put(flags, e + "max-waiting", maxWaiting);
        put(flags, e + "kv-blocks", kvBlocks);
        put(flags, e + "layer-split", layerSplit);
        put(flags, e + "kv-block-size", kvBlockSize);
        put(flags, e + "kv-memory", kvMemory);
        put(flags, e + "stage-threads", stageThreads);
        put(flags, e + "tokenizer-workers", tokenizerWorkers);
        put(flags, e + "warmup", warmup);
        put(flags, e + "prefix-caching", prefixCaching);
        put(flags, e + "wire-activations", wireActivations);
        Config base = ConfigFactory.load();
        if (configFile != null) {
            if (!Files.isRegularFile(configFile)) throw new QuantflowCommand.UserError(configFile + ": config file does not exist");
            base = ConfigFactory.parseFile(configFile.toFile()).withFallback(base);
        }
        return ConfigFactory.parseMap(flags).withFallback(movedKeys(base)).resolve();
    }

    /** Engine settings that used to be quantflow.server's: still read there (a file or -D may set them), with a warning. */
    static final List<String> MOVED_TO_ENGINE = List.of("quant", "devices", "stages", "warmup");

    private static Config movedKeys(Config c) {
        for (String k : MOVED_TO_ENGINE) {
            if (!c.hasPathOrNull("quantflow.server." + k)) continue;
            LOG.warn("quantflow.server.{} is deprecated: it is quantflow.engine.{} now (read as that)", k, k);
            c = c.withValue("quantflow.engine." + k, c.getValue("quantflow.server." + k)).withoutPath("quantflow.server." + k);
        }
        return c;
    }

    private static void put(Map<String, Object> m, String key, Object value) {
        if (value != null) m.put(key, value);
    }

    /** The engine serve starts for these flags (tests): the configuration's quantflow.engine, the flags over it. */
    EngineConfig engineConfig() {
        Config config = config();
        return engineConfig(config, ServerSettings.from(config));
    }

    private EngineConfig engineConfig(Config config, ServerSettings settings) {
        String spec = settings.model().map(Path::toString).orElseGet(() -> new ModelOption().spec());
        Path dir = ModelOption.checked(HubResolver.resolve(spec, LOG::info));
        EngineConfig.Builder b;
        try {
            b = EngineConfig.builder(config.getConfig("quantflow.engine"), dir);
        } catch (ConfigException ex) {
            throw new QuantflowCommand.UserError(ex.getMessage());
        }
        // a Hub model is served under its id, as vLLM does (a directory under its name)
        EngineConfig engine = b.servedModelName(settings.servedModelName().orElse(HubResolver.isHubId(spec) ? spec : ""))
                // One warm-up on serve: the server's (QuantflowServer.warmUp, on quantflow.engine.warmup via ServerSettings),
                // not the engine's as well. The server's goes through the tokenizer ("Hello"), is retried with a back-off until
                // it passes or drain begins, logs its time, and is what readiness (ServingState) and /health's warmed_up wait for;
                // the engine's (a BOS token, never retried) would only run a second generation before it.
                .warmup(false)
                .build();
        checkQuant(dir, engine.quant());   // a bad scheme exits 2 before anything loads
        return engine;
    }

    /**
     * Refuses, before anything loads, a --quant the stages could not build (see
     * QuantizedModels.atLoad, through which every CPU stage builds its linears): an unknown scheme,
     * one that calibrates (smoothquant, GPTQ, AWQ, w8a8-tensor: made offline with `quantflow
     * quantize` and served from its output), or any scheme for an already quantized checkpoint.
     */
    static void checkQuant(Path dir, String quant) {
        try {
            QuantizedModels.schemeAtLoad(LlamaConfig.load(dir), quant);
        } catch (IllegalArgumentException ex) {
            throw new QuantflowCommand.UserError(dir + ": --quant " + quant + ": " + ex.getMessage());
        }
    }

    /** LLM.int8()'s mean fraction of outlier input columns, for the snapshot and /metrics. */
    static OptionalDouble outlierFraction(Linear linear) {
        return LinearProbe.OUTLIERS.outlierFraction(linear);
    }

    static KvFormat kvCaches(String kv) {
        KvFormat format;
        try {
            format = kv.isBlank() ? KvFormat.F32 : KvFormat.parse(kv.strip());
        } catch (IllegalArgumentException ex) {
            throw new QuantflowCommand.UserError(ex.getMessage());
        }
        return format;
    }

    /** SIGTERM / SIGINT start the drain; a second signal exits at once. */
    static final class DrainOnSignal {
        private DrainOnSignal() {}

        static void install(QuantflowServer server) {
            AtomicInteger signals = new AtomicInteger();
            for (String name : List.of("TERM", "INT")) {
                try {
                    sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> {
                        if (signals.incrementAndGet() == 1) {
                            System.err.println("quantflow: SIG" + name + ": draining (again to exit at once)");
                            server.drain();
                        } else {
                            System.err.println("quantflow: second signal: exiting without waiting");
                            Runtime.getRuntime().halt(1);
                        }
                    });
                } catch (IllegalArgumentException unsupported) {
                    // a JVM that reserves the signal (e.g. -Xrs): fall back to the JVM's shutdown (no drain)
                }
            }
        }
    }
}
