package dev.quantflow.server.metrics;

import dev.quantflow.actors.stage.StepObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;

/**
 * A stage node's own Prometheus endpoint (quantflow stage --metrics-port): what its stage workers
 * measure of each step in this JVM (compute time, the hop the activations took to get here, bytes
 * received and sent), as the frontend's /metrics cannot see them; plus the JVM's memory, GC, CPU.
 */
public final class StageNodeMetrics implements StepObserver {
    private static final ContentType PROMETHEUS_TEXT = ContentTypes.parse("text/plain; version=0.0.4; charset=utf-8");
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final String layers;
    private final Map<Integer, Meters> byStage = new ConcurrentHashMap<>();

    private record Meters(Timer step, Timer hop, Counter received, Counter sent) {}

    public StageNodeMetrics(String layers) {
        this.layers = layers;
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
    }

    @Override
    public void stepRan(int stage, long computeNanos, long hopNanos, long bytesReceived, long bytesSent) {
        Meters m = byStage.computeIfAbsent(stage, this::meters);
        m.step().record(computeNanos, TimeUnit.NANOSECONDS);
        m.hop().record(hopNanos, TimeUnit.NANOSECONDS);
        m.received().increment(bytesReceived);
        m.sent().increment(bytesSent);
    }

    private Meters meters(int stage) {
        String[] tags = {"stage", Integer.toString(stage), "layers", layers};
        return new Meters(
                Timer.builder("quantflow.stage.node.step").description("Compute time of each step this node's stage ran").tags(tags)
                        .publishPercentileHistogram().maximumExpectedValue(Duration.ofSeconds(30)).register(registry),
                Timer.builder("quantflow.stage.node.hop").description("From the upstream's send to this stage taking the step up: serialization, "
                                + "transfer, deserialization, queueing behind earlier steps (across hosts also the clocks' offset)").tags(tags)
                        .publishPercentileHistogram().maximumExpectedValue(Duration.ofSeconds(30)).register(registry),
                Counter.builder("quantflow.stage.node.received").baseUnit("bytes").description("Activation bytes this node's stage received").tags(tags)
                        .register(registry),
                Counter.builder("quantflow.stage.node.sent").baseUnit("bytes")
                        .description("Activation bytes (the last stage: logits) this node's stage sent on").tags(tags).register(registry));
    }

    public String scrape() {
        return registry.scrape();
    }

    /** GET /metrics on host:port (0: any free port); the binding says which. */
    public ServerBinding serve(ActorSystem<?> system, String host, int port) {
        try {
            return Http.get(system).newServerAt(host, port).bindSync(this::answer).toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            throw new IllegalStateException("cannot listen on " + host + ":" + port + " for metrics: " + c.getMessage(), e);
        }
    }

    private HttpResponse answer(HttpRequest request) {
        if (!request.getUri().path().equals("/metrics"))
            return HttpResponse.create().withStatus(StatusCodes.NOT_FOUND).withEntity("a stage node serves /metrics only\n");
        return HttpResponse.create().withEntity(PROMETHEUS_TEXT, scrape().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
