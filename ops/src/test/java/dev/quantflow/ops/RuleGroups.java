package dev.quantflow.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The rule groups of k8s/base/prometheusrule.yaml: the PrometheusRule's spec is a plain Prometheus
 * rule file, written out for promtool and for the test Prometheus.
 */
record RuleGroups(JsonNode spec) {

    /** One recording or alerting rule. */
    record Rule(String group, String name, boolean alert, String expr) {}

    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    static RuleGroups load(Path prometheusRule) throws IOException {
        JsonNode object = YAML.readTree(prometheusRule.toFile());
        if (!"PrometheusRule".equals(object.path("kind").asText())) {
            throw new IllegalArgumentException(prometheusRule + " is not a PrometheusRule");
        }
        return new RuleGroups(object.path("spec"));
    }

    /** Writes the groups as a Prometheus rule file (what the operator hands to Prometheus). */
    Path writeRuleFile(Path file) throws IOException {
        YAML.writeValue(file.toFile(), spec);
        return file;
    }

    List<Rule> rules() {
        List<Rule> rules = new ArrayList<>();
        for (JsonNode group : spec.path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                boolean alert = rule.has("alert");
                rules.add(new Rule(group.path("name").asText(), rule.path(alert ? "alert" : "record").asText(),
                        alert, rule.path("expr").asText().strip()));
            }
        }
        return rules;
    }
}
