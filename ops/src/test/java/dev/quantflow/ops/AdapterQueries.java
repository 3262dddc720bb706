package dev.quantflow.ops;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The autoscaling queries: prometheus-adapter's rules (series query, and the metrics query with its
 * Go templates filled the way the adapter fills them for a pod) and the KEDA trigger's query.
 */
final class AdapterQueries {
    private AdapterQueries() {}

    /** A rule: the selector that finds the series, and the query the adapter runs for one pod. */
    record AdapterRule(String publishedAs, String seriesQuery, String metricsQuery) {}

    private static final Pattern METRIC_NAME = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)");

    static List<AdapterRule> adapterRules(String namespace, String pod) throws IOException {
        JsonNode config = RuleGroups.YAML.readTree(OpsPaths.k8s().resolve("prometheus-adapter/config.yaml").toFile());
        List<AdapterRule> rules = new ArrayList<>();
        for (JsonNode rule : config.path("rules")) {
            String seriesQuery = rule.path("seriesQuery").asText();
            Matcher name = METRIC_NAME.matcher(seriesQuery);
            if (!name.find()) throw new IllegalArgumentException("no metric name in seriesQuery " + seriesQuery);
            String metricsQuery = rule.path("metricsQuery").asText()
                    .replace("<<.Series>>", name.group(1))
                    .replace("<<.LabelMatchers>>", "namespace=\"" + namespace + "\",pod=~\"" + pod + "\"")
                    .replace("<<.GroupBy>>", "pod");
            if (metricsQuery.contains("<<")) throw new IllegalArgumentException("unfilled template in " + metricsQuery);
            rules.add(new AdapterRule(rule.path("name").path("as").asText(), seriesQuery, metricsQuery));
        }
        return rules;
    }

    static String kedaQuery() throws IOException {
        Path scaledObject = OpsPaths.k8s().resolve("overlays/gpu-keda/scaledobject.yaml");
        return RuleGroups.YAML.readTree(scaledObject.toFile()).path("spec").path("triggers").path(0).path("metadata").path("query").asText();
    }
}
