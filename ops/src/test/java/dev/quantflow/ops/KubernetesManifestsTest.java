package dev.quantflow.ops;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Renders every kustomization with `kubectl kustomize` (offline) and validates every object against
 * the Kubernetes OpenAPI schemas; then checks what a schema cannot: that the objects refer to each
 * other correctly (selectors, ports, the HPA's target, the drain fitting the grace period).
 */
class KubernetesManifestsTest {

    private static final List<String> KUSTOMIZATIONS = List.of("overlays/cpu", "overlays/gpu", "overlays/gpu-keda", "overlays/multi-node",
            "prometheus-adapter");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Map<String, List<JsonNode>> rendered = new LinkedHashMap<>();
    private static final Map<String, Path> renderedFiles = new LinkedHashMap<>();
    private static Path work;

    @BeforeAll
    static void render() throws Exception {
        work = OpsPaths.workDir("kustomize");
        for (String kustomization : KUSTOMIZATIONS) {
            String yaml = Command.of(OpsPaths.k8s(), Duration.ofMinutes(1), Tools.kubectl().toString(), "kustomize", kustomization).check();
            Path file = work.resolve(kustomization.replace('/', '-') + ".yaml");
            Files.writeString(file, yaml);
            renderedFiles.put(kustomization, file);
            rendered.put(kustomization, readAll(file));
        }
    }

    private static List<JsonNode> readAll(Path file) throws IOException {
        List<JsonNode> objects = new ArrayList<>();
        try (YAMLParser parser = new YAMLFactory().createParser(file.toFile())) {
            var it = YAML.readValues(parser, JsonNode.class);
            while (it.hasNext()) {
                JsonNode node = it.next();
                if (node != null && !node.isNull() && !node.isMissingNode()) objects.add(node);
            }
        }
        return objects;
    }

    @Test
    void everyRenderedObjectValidatesAgainstItsSchema() throws Exception {
        ManifestValidator validator = ManifestValidator.install();
        List<ManifestValidator.Verdict> verdicts = validator.validate(List.copyOf(renderedFiles.values()));
        int objects = rendered.values().stream().mapToInt(List::size).sum();
        assertThat(verdicts).hasSize(objects);
        assertThat(verdicts).allSatisfy(v -> assertThat(v.ok()).as("%s %s in %s: %s", v.kind(), v.name(), v.file(), v.error()).isTrue());
    }

    @Test
    void theValidatorRejectsObjectsThatBreakTheSchema() throws Exception {
        ManifestValidator validator = ManifestValidator.install();
        Path broken = work.resolve("broken.yaml");
        String cpu = Files.readString(renderedFiles.get("overlays/cpu"));
        Files.writeString(broken, cpu.replace("replicas: 1", "replicas: one")
                .replace("averageValue: \"4\"", "averageValue: four")
                .replace("interval: 15s", "interval: [15s]")
                + "---\napiVersion: example.com/v1\nkind: Unknown\nmetadata:\n  name: x\n");
        Map<String, String> errors = validator.validate(List.of(broken)).stream().filter(v -> !v.ok())
                .collect(Collectors.toMap(v -> String.valueOf(v.kind()), v -> v.error()));
        assertThat(errors).containsOnlyKeys("Deployment", "HorizontalPodAutoscaler", "ServiceMonitor", "Unknown");
        assertThat(errors.get("Deployment")).contains("replicas");
        assertThat(errors.get("Unknown")).contains("no schema");
    }

    @Test
    void eachOverlayHasTheObjectsOfAServingDeployment() {
        assertThat(kinds("overlays/cpu")).containsExactlyInAnyOrder("Namespace", "Deployment", "Service", "PersistentVolumeClaim",
                "ServiceMonitor", "PrometheusRule", "PodDisruptionBudget", "HorizontalPodAutoscaler");
        assertThat(kinds("overlays/gpu")).isEqualTo(kinds("overlays/cpu"));
        assertThat(kinds("overlays/gpu-keda")).contains("ScaledObject").doesNotContain("HorizontalPodAutoscaler");
        assertThat(kinds("prometheus-adapter")).containsExactly("ConfigMap");
    }

    /** `kubectl apply -k` on a fresh cluster fails on objects in a namespace nobody created. */
    @Test
    void eachOverlayCreatesTheNamespaceItsObjectsLandIn() {
        for (String overlay : List.of("overlays/cpu", "overlays/gpu", "overlays/gpu-keda", "overlays/multi-node")) {
            Set<String> used = rendered.get(overlay).stream().filter(o -> !o.path("kind").asText().equals("Namespace"))
                    .map(o -> o.path("metadata").path("namespace").asText()).collect(Collectors.toSet());
            Set<String> created = rendered.get(overlay).stream().filter(o -> o.path("kind").asText().equals("Namespace"))
                    .map(o -> o.path("metadata").path("name").asText()).collect(Collectors.toSet());
            assertThat(used).as("%s: the namespaces of its objects", overlay).containsExactly("quantflow");
            assertThat(created).as("%s: the Namespace objects it creates", overlay).isEqualTo(used);
        }
    }

    @Test
    void servicePortsProbesAndMonitorsReferToTheContainerPorts() {
        for (String overlay : List.of("overlays/cpu", "overlays/gpu", "overlays/gpu-keda", "overlays/multi-node")) {
            JsonNode pod = one(overlay, "Deployment").path("spec").path("template");
            JsonNode container = pod.path("spec").path("containers").path(0);
            Set<String> portNames = new HashSet<>();
            container.path("ports").forEach(p -> portNames.add(p.path("name").asText()));
            assertThat(portNames).as(overlay).contains("http", "grpc");

            for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
                JsonNode get = container.path(probe).path("httpGet");
                assertThat(portNames).as("%s %s port", overlay, probe).contains(get.path("port").asText());
                assertThat(get.path("path").asText()).as("%s %s path", overlay, probe).startsWith("/health/");
            }
            assertThat(container.path("readinessProbe").path("httpGet").path("path").asText()).isEqualTo("/health/ready");

            JsonNode service = named(overlay, "Service", "quantflow");   // multi-node also has the stage pods' headless one
            service.path("spec").path("ports").forEach(p ->
                    assertThat(portNames).as("%s Service targetPort", overlay).contains(p.path("targetPort").asText()));
            Map<String, String> podLabels = labels(pod.path("metadata").path("labels"));
            assertThat(podLabels).as("%s Service selector", overlay).containsAllEntriesOf(labels(service.path("spec").path("selector")));
            assertThat(podLabels).as("%s PDB selector", overlay)
                    .containsAllEntriesOf(labels(one(overlay, "PodDisruptionBudget").path("spec").path("selector").path("matchLabels")));

            JsonNode monitor = one(overlay, "ServiceMonitor");
            assertThat(labels(service.path("metadata").path("labels"))).as("%s ServiceMonitor selector", overlay)
                    .containsAllEntriesOf(labels(monitor.path("spec").path("selector").path("matchLabels")));
            Set<String> servicePortNames = new HashSet<>();
            service.path("spec").path("ports").forEach(p -> servicePortNames.add(p.path("name").asText()));
            monitor.path("spec").path("endpoints").forEach(e -> {
                assertThat(servicePortNames).contains(e.path("port").asText());
                assertThat(e.path("path").asText()).isEqualTo("/metrics");
            });
        }
    }

    @Test
    void theGracePeriodCoversPreStopAndDrain() {
        for (String overlay : List.of("overlays/cpu", "overlays/gpu")) {
            JsonNode spec = one(overlay, "Deployment").path("spec").path("template").path("spec");
            JsonNode container = spec.path("containers").path(0);
            int preStop = container.path("lifecycle").path("preStop").path("sleep").path("seconds").asInt(-1);
            String drain = env(container, "QUANTFLOW_DRAIN_TIMEOUT").orElseThrow();
            int drainSeconds = Integer.parseInt(drain.replaceAll("s$", ""));
            assertThat(preStop).isPositive();
            assertThat(spec.path("terminationGracePeriodSeconds").asInt())
                    .as("grace period > preStop %ds + drain %ds", preStop, drainSeconds).isGreaterThan(preStop + drainSeconds);
        }
    }

    @Test
    void autoscalersTargetTheDeploymentOnTheWaitingQueue() throws IOException {
        JsonNode hpa = one("overlays/gpu", "HorizontalPodAutoscaler").path("spec");
        assertThat(hpa.path("scaleTargetRef").path("kind").asText()).isEqualTo("Deployment");
        assertThat(hpa.path("scaleTargetRef").path("name").asText()).isEqualTo(one("overlays/gpu", "Deployment").path("metadata").path("name").asText());
        String metric = hpa.path("metrics").path(0).path("pods").path("metric").path("name").asText();

        // the adapter must publish exactly the metric the HPA asks for
        JsonNode adapterConfig = YAML.readTree(one("prometheus-adapter", "ConfigMap").path("data").path("config.yaml").asText());
        List<String> published = new ArrayList<>();
        adapterConfig.path("rules").forEach(r -> published.add(r.path("name").path("as").asText()));
        assertThat(published).contains(metric);

        JsonNode scaled = one("overlays/gpu-keda", "ScaledObject").path("spec");
        assertThat(scaled.path("scaleTargetRef").path("name").asText()).isEqualTo("quantflow");
        assertThat(scaled.path("triggers").path(0).path("metadata").path("query").asText()).contains("quantflow_num_requests_waiting");
    }

    @Test
    void theGpuOverlayAsksForCardsAndLandsOnGpuNodes() {
        JsonNode spec = one("overlays/gpu", "Deployment").path("spec").path("template").path("spec");
        JsonNode resources = spec.path("containers").path(0).path("resources");
        String cards = resources.path("limits").path("nvidia.com/gpu").asText();
        assertThat(cards).isNotEmpty();
        assertThat(resources.path("requests").path("nvidia.com/gpu").asText()).isEqualTo(cards);
        JsonNode container = spec.path("containers").path(0);
        assertThat(env(container, "QUANTFLOW_STAGES")).as("one pipeline stage per card").contains(cards);
        assertThat(env(container, "QUANTFLOW_DEVICES").orElseThrow().split(",")).hasSize(Integer.parseInt(cards));
        assertThat(spec.path("tolerations").toString()).contains("nvidia.com/gpu");
        assertThat(spec.path("nodeSelector").size()).isPositive();
        assertThat(one("overlays/cpu", "Deployment").toString()).doesNotContain("nvidia.com/gpu");
    }

    /**
     * Multi-node: the frontend and the stage pods carry the label the Kubernetes API discovery
     * selects on, run as the service account the Role lets list pods, expose the management port the
     * bootstrap contacts, the StatefulSet's Service is headless, and one frontend is ever running.
     */
    @Test
    void theMultiNodeOverlayFormsOneClusterThroughKubernetesDiscovery() {
        String overlay = "overlays/multi-node";
        assertThat(kinds(overlay)).contains("StatefulSet", "ServiceAccount", "Role", "RoleBinding").doesNotContain("HorizontalPodAutoscaler");
        JsonNode frontend = one(overlay, "Deployment").path("spec");
        JsonNode stages = one(overlay, "StatefulSet").path("spec");
        assertThat(frontend.path("strategy").path("type").asText()).isEqualTo("Recreate");
        assertThat(frontend.path("template").path("spec").path("containers").path(0).path("args").toString()).contains("\"--role\",\"frontend\"", "--cluster-bootstrap");
        assertThat(stages.path("template").path("spec").path("containers").path(0).path("args").toString()).contains("\"stage\"", "--cluster-bootstrap");
        String account = one(overlay, "RoleBinding").path("subjects").path(0).path("name").asText();
        JsonNode rules = one(overlay, "Role").path("rules").path(0);
        assertThat(rules.path("resources").toString()).contains("pods");
        assertThat(rules.path("verbs").toString()).contains("list");
        for (JsonNode pod : List.of(frontend.path("template"), stages.path("template"))) {
            assertThat(pod.path("spec").path("serviceAccountName").asText()).isEqualTo(account);
            JsonNode container = pod.path("spec").path("containers").path(0);
            String selector = env(container, "JAVA_TOOL_OPTIONS").orElseThrow().replaceAll("(?s).*pod-label-selector=(\\S+).*", "$1");
            String[] kv = selector.split("=");
            assertThat(labels(pod.path("metadata").path("labels"))).as("the discovery selector %s", selector).containsEntry(kv[0], kv[1]);
            List<String> ports = new ArrayList<>();
            container.path("ports").forEach(p -> ports.add(p.path("name").asText()));
            assertThat(ports).contains("management", "remoting");
            assertThat(container.path("env").toString()).contains("QUANTFLOW_CLUSTER_HOST", "status.podIP");
        }
        // stage pods serve their own /metrics on the port the container names "metrics"
        JsonNode stage = stages.path("template").path("spec").path("containers").path(0);
        String metricsPort = env(stage, "QUANTFLOW_STAGE_METRICS_PORT").orElseThrow();
        List<String> stagePorts = new ArrayList<>();
        stage.path("ports").forEach(p -> { if (p.path("name").asText().equals("metrics")) stagePorts.add(p.path("containerPort").asText()); });
        assertThat(stagePorts).containsExactly(metricsPort);
        JsonNode headless = named(overlay, "Service", stages.path("serviceName").asText());
        assertThat(headless.path("spec").path("clusterIP").asText()).isEqualTo("None");
        assertThat(labels(stages.path("template").path("metadata").path("labels"))).containsAllEntriesOf(labels(headless.path("spec").path("selector")));
    }

    private static JsonNode named(String kustomization, String kind, String name) {
        return rendered.get(kustomization).stream().filter(o -> o.path("kind").asText().equals(kind) && o.path("metadata").path("name").asText().equals(name))
                .findFirst().orElseThrow(() -> new AssertionError(kustomization + " has no " + kind + " " + name));
    }

    private static Optional<String> env(JsonNode container, String name) {
        for (JsonNode e : container.path("env")) {
            if (e.path("name").asText().equals(name)) return Optional.of(e.path("value").asText());
        }
        return Optional.empty();
    }

    private static List<String> kinds(String kustomization) {
        return rendered.get(kustomization).stream().map(o -> o.path("kind").asText()).toList();
    }

    private static JsonNode one(String kustomization, String kind) {
        List<JsonNode> matches = rendered.get(kustomization).stream().filter(o -> o.path("kind").asText().equals(kind)).toList();
        assertThat(matches).as("%s objects of kind %s", kustomization, kind).hasSize(1);
        return matches.getFirst();
    }

    private static Map<String, String> labels(JsonNode node) {
        Map<String, String> labels = new LinkedHashMap<>();
        node.fields().forEachRemaining(e -> labels.put(e.getKey(), e.getValue().asText()));
        return labels;
    }
}
