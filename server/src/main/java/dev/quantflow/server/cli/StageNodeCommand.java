package dev.quantflow.server.cli;

import com.typesafe.config.ConfigFactory;
import dev.quantflow.actors.cluster.ClusterNode;
import dev.quantflow.actors.cluster.StageHost;
import dev.quantflow.actors.cluster.StageKeys;
import dev.quantflow.actors.stage.StageHooks;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.server.metrics.StageNodeMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.typed.ActorSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * `quantflow stage`: a stage node of a cluster. Joins through the seed nodes (or Cluster
 * Bootstrap), registers with the Receptionist for its layer range and loads those layers when the
 * frontend asks (weights, KV cache, on --devices). SIGTERM leaves the cluster after the steps
 * already queued have run; a node the cluster downs (a partition it lost) exits with status 0 on its own.
 */
@Command(name = "stage", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run a pipeline stage node of a Quantflow cluster: hosts one layer range for the frontend (serve --role frontend).")
public final class StageNodeCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(StageNodeCommand.class);

    @Option(names = "--layers", paramLabel = "FIRST-LAST[,...]", defaultValue = "${env:QUANTFLOW_STAGE_LAYERS}",
            description = "The layers this node hosts, inclusive (e.g. 0-2): one of the frontend's stage ranges, as its log names them. A list "
                    + "(0-2,3-5) picks entry N mod its length, N the ordinal ending this host's name (a StatefulSet pod's) [QUANTFLOW_STAGE_LAYERS]")
    String layers;

    @Option(names = "--devices", paramLabel = "DEV", description = "The device the layers run on: cpu or cuda:N [quantflow.engine.devices, QUANTFLOW_DEVICES] "
            + "(default: ${DEFAULT-VALUE})")
    String devices = ConfigDefaults.engineString("devices");

    @Option(names = "--model", paramLabel = "DIR", description = "Where this node finds the model (default: the frontend's --model path)")
    Path model;

    @Option(names = "--metrics-port", paramLabel = "PORT", defaultValue = "${env:QUANTFLOW_STAGE_METRICS_PORT:--1}",
            description = "Serve this node's Prometheus /metrics (step time, hop time, bytes received and sent) on --cluster-host:PORT; 0 = any free port, "
                    + "-1 = off [QUANTFLOW_STAGE_METRICS_PORT] (default: ${DEFAULT-VALUE})")
    int metricsPort;

    @Mixin
    ClusterOptions cluster;

    @Override
    public Integer call() {
        if (layers == null || layers.isBlank()) throw new QuantflowCommand.UserError("--layers FIRST-LAST is required (or QUANTFLOW_STAGE_LAYERS)");
        layers = pickByOrdinal(layers, System.getenv().getOrDefault("HOSTNAME", ""));
        int[] range;
        try {
            range = StageKeys.parseLayers(layers);
        } catch (IllegalArgumentException e) {
            throw new QuantflowCommand.UserError(e.getMessage());
        }
        if (CliHelp.devices(devices).size() != 1) throw new QuantflowCommand.UserError("--devices " + devices + ": a stage node runs its layers on one device");
        String modelDir = "";
        if (model != null) {
            if (!Files.isDirectory(model)) throw new QuantflowCommand.UserError(model + ": model directory does not exist");
            int n = LlamaConfig.load(model).numLayers();
            if (range[1] > n) throw new QuantflowCommand.UserError("--layers " + layers + ": the model has layers 0-" + (n - 1));
            modelDir = model.toAbsolutePath().toString();
        }
        if (metricsPort < -1 || metricsPort > 65535) throw new QuantflowCommand.UserError("--metrics-port " + metricsPort + ": expected -1 (off) or 0-65535");
        StageNodeMetrics metrics = new StageNodeMetrics(layers);
        StageHooks hooks = metricsPort >= 0 ? StageHooks.DEFAULT.withSteps(metrics) : StageHooks.DEFAULT;
        ActorSystem<?> system = ActorSystem.create(StageHost.create(range[0], range[1], devices.strip(), modelDir, ProgressRenderer.forCli(LOG::info), hooks),
                ClusterNode.SYSTEM_NAME, cluster.config(ClusterNode.STAGE).withFallback(ConfigFactory.load()));
        if (metricsPort >= 0) {
            try {
                var binding = metrics.serve(system, cluster.host, metricsPort);
                LOG.info("stage node metrics on http://{}:{}/metrics", cluster.host, binding.localAddress().getPort());
            } catch (IllegalStateException e) {
                system.terminate();
                throw new QuantflowCommand.UserError(e.getMessage());
            }
        }
        cluster.startBootstrap(system);
        LOG.info("stage node {} for layers {}: joining", system.address(), layers);
        system.getWhenTerminated().toCompletableFuture().join();
        return 0;
    }

    /** One range as is; of a list, entry (the host name's trailing ordinal) mod its length: pods 0, 2, ... take the first range. */
    static String pickByOrdinal(String layers, String hostname) {
        String[] ranges = layers.split(",");
        if (ranges.length == 1) return layers.strip();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("-(\\d+)$").matcher(hostname);
        if (!m.find()) throw new QuantflowCommand.UserError("--layers " + layers + ": a list needs a host name ending in -N (a StatefulSet pod), not '" + hostname + "'");
        return ranges[Integer.parseInt(m.group(1)) % ranges.length].strip();
    }
}
