package dev.quantflow.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every PromQL expression of a Grafana dashboard: panel targets (also inside collapsed rows) and
 * the template variables' label_values() queries, with Grafana's variables replaced the way
 * Grafana would for "All" and a given rate interval.
 */
public record DashboardQueries(JsonNode dashboard) {

    /** One expression; {@code where} names the panel and target (or variable) it came from. */
    public record Query(String where, String expr) {}

    private static final Pattern LABEL_VALUES = Pattern.compile("^label_values\\((.*),\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\)$", Pattern.DOTALL);

    public static DashboardQueries load(Path file) throws IOException {
        return new DashboardQueries(new ObjectMapper().readTree(file.toFile()));
    }

    /** Panel targets, as Grafana sends them with every variable at "All". */
    public List<Query> panelQueries(String rateInterval) {
        List<Query> queries = new ArrayList<>();
        collect(dashboard.path("panels"), rateInterval, queries);
        return queries;
    }

    private void collect(JsonNode panels, String rateInterval, List<Query> into) {
        for (JsonNode panel : panels) {
            for (JsonNode target : panel.path("targets")) {
                String where = "panel '" + panel.path("title").asText() + "' target " + target.path("refId").asText();
                into.add(new Query(where, substitute(target.path("expr").asText(), rateInterval)));
            }
            collect(panel.path("panels"), rateInterval, into);
        }
    }

    /**
     * The series selectors behind the query variables: label_values(selector, label) lists the
     * label's values over the series the selector matches.
     */
    public List<Query> variableSelectors() {
        List<Query> selectors = new ArrayList<>();
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if (!"query".equals(variable.path("type").asText())) continue;
            String definition = variable.path("query").path("query").asText(variable.path("definition").asText());
            Matcher m = LABEL_VALUES.matcher(definition.strip());
            if (!m.matches()) {
                throw new IllegalArgumentException("variable " + variable.path("name").asText()
                        + " is not a label_values(selector, label) query: " + definition);
            }
            selectors.add(new Query("variable $" + variable.path("name").asText() + " (label " + m.group(2) + ")",
                    substitute(m.group(1), "1m")));
        }
        return selectors;
    }

    /** "All" of a multi-value variable is its allValue (.*), as the dashboard defines it. */
    String substitute(String expr, String rateInterval) {
        String out = expr.replace("$__rate_interval", rateInterval).replace("$__interval", rateInterval);
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if (!"query".equals(variable.path("type").asText())) continue;
            String all = variable.path("allValue").asText(".*");
            out = out.replace("${" + variable.path("name").asText() + "}", all)
                     .replace("$" + variable.path("name").asText(), all);
        }
        if (out.contains("$")) {
            throw new IllegalArgumentException("unknown Grafana variable left in: " + out);
        }
        return out;
    }
}
