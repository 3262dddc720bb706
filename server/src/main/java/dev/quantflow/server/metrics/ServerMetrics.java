package dev.quantflow.server.metrics;

import dev.quantflow.actors.api.EngineSnapshot;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntSupplier;
import java.util.function.ToDoubleFunction;

/**
 * Every metric the server exports, in vLLM's vocabulary with the quantflow_ prefix (so dashboards
 * and autoscalers built for vLLM carry over), plus pipeline-stage, quantization and JVM metrics.
 * Engine gauges read the latest {@link EngineSnapshot}; request histograms are fed by
 * {@link RequestMetrics}. docs/API.md lists each with its meaning.
 */
public final class ServerMetrics implements AutoCloseable {
    private static final double[] LATENCY_BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
            1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
    private static final double[] TOKEN_LATENCY_BUCKETS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
            0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
    private static final double[] REQUEST_BUCKETS = {0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
            30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
    private static final double[] TOKEN_COUNT_BUCKETS = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final AtomicReference<EngineSnapshot> latest = new AtomicReference<>(
            new EngineSnapshot(0, 0, 0, 0, 0, 0, 0, 0, List.of(), Map.of()));
    private final Set<String> registeredStages = ConcurrentHashMap.newKeySet();
    private final Set<String> registeredLayers = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean registeredHop = new AtomicBoolean();
    private final JvmGcMetrics gcMetrics = new JvmGcMetrics();

    final Timer timeToFirstToken;
    final Timer interTokenLatency;
    final Timer e2eLatency;
    final Timer queueTime;
    final Timer prefillTime;
    final Timer decodeTime;
    final DistributionSummary promptTokensPerRequest;
    final DistributionSummary generationTokensPerRequest;
    final Counter promptTokens;
    final Counter generationTokens;

    public ServerMetrics() {
        this("");
    }

    /** modelName: the model_name label on every metric (vLLM's), so several servers behind one Prometheus stay apart; "" for none. */
    public ServerMetrics(String modelName) {
        if (!modelName.isEmpty()) registry.config().commonTags("model_name", modelName);   // before any meter: a filter applies to later meters only
        timeToFirstToken = timer("quantflow.time.to.first.token", "Time from the request's arrival to its first generated token", LATENCY_BUCKETS);
        interTokenLatency = timer("quantflow.inter.token.latency", "Time between consecutive generated tokens of a request", TOKEN_LATENCY_BUCKETS);
        e2eLatency = timer("quantflow.e2e.request.latency", "Time from the request's arrival to its last token", REQUEST_BUCKETS);
        queueTime = timer("quantflow.request.queue.time", "Time from the request's arrival until the engine accepted it (tokenized and admitted to the waiting queue)", REQUEST_BUCKETS);
        prefillTime = timer("quantflow.request.prefill.time", "Time from acceptance to the first token: waiting for a batch slot plus the prompt's forward pass", REQUEST_BUCKETS);
        decodeTime = timer("quantflow.request.decode.time", "Time from the first token to the last", REQUEST_BUCKETS);
        promptTokensPerRequest = tokens("quantflow.request.prompt.tokens", "Prompt tokens per finished request");
        generationTokensPerRequest = tokens("quantflow.request.generation.tokens", "Generated tokens per finished request");
        promptTokens = Counter.builder("quantflow.prompt.tokens").description("Prompt tokens of accepted requests").register(registry);
        generationTokens = Counter.builder("quantflow.generation.tokens").description("Tokens generated and streamed to clients").register(registry);
        gauge("quantflow.num.requests.running", "Requests holding KV cache blocks in the running batch", s -> s.running());
        gauge("quantflow.num.requests.waiting", "Requests accepted and waiting for a batch slot (queue depth; the autoscaling signal)", s -> s.waiting());
        gauge("quantflow.kv.cache.usage.perc", "Fraction of KV cache blocks in use, 0 to 1", EngineSnapshot::kvCacheUsage);
        gauge("quantflow.kv.cache.blocks.used", "KV cache blocks in use", s -> s.kvBlocksUsed());
        gauge("quantflow.kv.cache.capacity.blocks", "KV cache blocks the scheduler manages (capacity)", s -> s.kvBlocksTotal());
        gauge("quantflow.batch.size", "Sequences in the last engine step's batch", s -> s.lastBatchSequences());
        gauge("quantflow.batch.tokens", "Token rows (prefill chunks plus decode tokens) in the last engine step", s -> s.lastBatchTokens());
        FunctionCounter.builder("quantflow.num.preemptions", latest, r -> r.get().preemptionsTotal())
                .description("Sequences preempted (KV blocks reclaimed, recomputed later) since start").register(registry);
        FunctionCounter.builder("quantflow.prefix.cache.queries", latest, r -> r.get().prefixCacheQueriesTotal())
                .description("Prompt tokens looked up in the prefix cache when their sequence was admitted (vLLM's prefix_cache_queries)").register(registry);
        FunctionCounter.builder("quantflow.prefix.cache.hits", latest, r -> r.get().prefixCacheHitsTotal())
                .description("Prompt tokens whose KV blocks the prefix cache held, not computed again (vLLM's prefix_cache_hits)").register(registry);
        gauge("quantflow.kv.cache.blocks.cached", "KV cache blocks whose content the prefix cache knows, in use or free (reused when free blocks run out)",
                s -> s.kvBlocksCached());
        FunctionCounter.builder("quantflow.engine.steps", latest, r -> r.get().stepsTotal())
                .description("Scheduler steps (batches run through the pipeline) since start").register(registry);
        new JvmMemoryMetrics().bindTo(registry);
        gcMetrics.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
    }

    /** A tracker for one request's latencies and token counts, its choices each counted as a sequence; arrival is now. */
    public RequestMetrics request(int choices) {
        return new RequestMetrics(this, System.nanoTime(), choices);
    }

    public void httpRequest(String endpoint, int status) {
        Counter.builder("quantflow.http.requests").description("HTTP requests by endpoint and response status")
                .tags("endpoint", endpoint, "status", Integer.toString(status)).register(registry).increment();
    }

    public void grpcRequest(String method, String code) {
        Counter.builder("quantflow.grpc.requests").description("gRPC calls by method and final status code")
                .tags("method", method, "code", code).register(registry).increment();
    }

    void finished(String reason) {
        Counter.builder("quantflow.request.success").description("Requests finished, by reason: stop (EOS or stop string), length (max tokens or context end), abort (cancelled or client gone), error")
                .tag("finished_reason", reason).register(registry).increment();
    }

    /** Takes a new engine snapshot; registers gauges for pipeline stages and quantized layers seen for the first time. */
    public void update(EngineSnapshot s) {
        latest.set(s);
        for (EngineSnapshot.StageStats st : s.stages()) {
            String key = st.stage() + "/" + st.device();
            if (!registeredStages.add(key)) continue;
            int stage = st.stage();
            String[] tags = {"stage", Integer.toString(stage), "device", st.device()};
            Gauge.builder("quantflow.stage.step.time", latest, r -> stageValue(r.get(), stage, EngineSnapshot.StageStats::lastStepSeconds))
                    .description("Seconds the pipeline stage spent on its last step").baseUnit("seconds").tags(tags).register(registry);
            Gauge.builder("quantflow.stage.busy.ratio", latest, r -> stageValue(r.get(), stage, EngineSnapshot.StageStats::busyFraction))
                    .description("Fraction of recent wall time the pipeline stage was computing, 0 to 1").tags(tags).register(registry);
            Gauge.builder("quantflow.device.memory", latest, r -> stageValue(r.get(), stage, x -> (double) x.deviceMemoryBytes()))
                    .description("Bytes of weights and KV cache the pipeline stage holds on its device").baseUnit("bytes").tags(tags).register(registry);
            String hop = "stage" + stage + "->" + (stage == s.stages().size() - 1 ? "sampler" : "stage" + (stage + 1));
            FunctionCounter.builder("quantflow.pipeline.hop", latest, r -> stageValue(r.get(), stage, x -> (double) x.outputBytesTotal()))
                    .description("Bytes of activations (between stages) or logits (to the sampler) each pipeline hop carried").baseUnit("bytes")
                    .tag("hop", hop).register(registry);
        }
        if (registeredStages.size() > 0 && registeredHop.compareAndSet(false, true))
            gauge("quantflow.pipeline.hop.seconds", "The last step's time outside stage compute, per hop: transfer, serialization, mailboxes (and sampling)",
                    EngineSnapshot::lastHopSeconds);
        for (String layer : s.outlierColumnFraction().keySet()) {
            if (!registeredLayers.add(layer)) continue;
            Gauge.builder("quantflow.llm.int8.outlier.column.fraction", latest, r -> r.get().outlierColumnFraction().getOrDefault(layer, Double.NaN))
                    .description("LLM.int8: mean fraction of input columns handled in full precision as outliers, per layer")
                    .tag("layer", layer).register(registry);
        }
    }

    /** A cluster node's members by status (docs/OPERATIONS.md, Multi-node). */
    public void clusterMembers(IntSupplier up, IntSupplier unreachable) {
        // strong references: a gauge holds its object weakly, and nothing else holds these suppliers
        Gauge.builder("quantflow.cluster.members", up, IntSupplier::getAsInt).description("Members of the Pekko cluster this node sees, by status")
                .tag("status", "up").strongReference(true).register(registry);
        Gauge.builder("quantflow.cluster.members", unreachable, IntSupplier::getAsInt).description("Members of the Pekko cluster this node sees, by status")
                .tag("status", "unreachable").strongReference(true).register(registry);
    }

    public EngineSnapshot latest() {
        return latest.get();
    }

    /** The Prometheus text exposition of every meter. */
    public String scrape() {
        return registry.scrape();
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    @Override
    public void close() {
        gcMetrics.close();
        registry.close();
    }

    private static double stageValue(EngineSnapshot s, int stage, ToDoubleFunction<EngineSnapshot.StageStats> f) {
        for (EngineSnapshot.StageStats st : s.stages()) if (st.stage() == stage) return f.applyAsDouble(st);
        return Double.NaN;
    }

    private void gauge(String name, String help, ToDoubleFunction<EngineSnapshot> f) {
        Gauge.builder(name, latest, r -> f.applyAsDouble(r.get())).description(help).register(registry);
    }

    private Timer timer(String name, String help, double[] bucketsSeconds) {
        return Timer.builder(name).description(help)
                .serviceLevelObjectives(Arrays.stream(bucketsSeconds).mapToObj(b -> Duration.ofNanos((long) (b * 1e9))).toArray(Duration[]::new))
                .register(registry);
    }

    private DistributionSummary tokens(String name, String help) {
        return DistributionSummary.builder(name).description(help).serviceLevelObjectives(TOKEN_COUNT_BUCKETS).register(registry);
    }
}
