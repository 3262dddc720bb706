package dev.quantflow.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * promtool on the rules of k8s/base/prometheusrule.yaml: they parse and lint clean, the alerts fire
 * on the synthetic incidents of ops/src/test/promtool/quantflow-rules.test.yaml and stay quiet
 * otherwise, and the Prometheus configuration the end-to-end test runs is valid.
 */
class PrometheusRulesTest {

    @Test
    void rulesPassPromtoolCheck() throws Exception {
        Path work = OpsPaths.workDir("promtool-check");
        Path rules = RuleGroups.load(OpsPaths.prometheusRule()).writeRuleFile(work.resolve("rules.yaml"));
        String out = Command.of(work, Duration.ofMinutes(1), Tools.promtool().toString(), "check", "rules", rules.toString()).check();
        int count = RuleGroups.load(OpsPaths.prometheusRule()).rules().size();
        assertThat(out).contains("SUCCESS: " + count + " rules found");
    }

    @Test
    void alertsFireOnIncidentsAndStayQuietOtherwise() throws Exception {
        Path work = OpsPaths.workDir("promtool-test");
        RuleGroups.load(OpsPaths.prometheusRule()).writeRuleFile(work.resolve("rules.yaml"));
        Path tests = Files.copy(OpsPaths.root().resolve("ops/src/test/promtool/quantflow-rules.test.yaml"),
                work.resolve("quantflow-rules.test.yaml"));
        String out = Command.of(work, Duration.ofMinutes(1), Tools.promtool().toString(), "test", "rules", tests.toString()).check();
        assertThat(out).contains("SUCCESS");
    }

    @Test
    void everyAlertHasATestAndASeverity() throws Exception {
        String tests = Files.readString(OpsPaths.root().resolve("ops/src/test/promtool/quantflow-rules.test.yaml"));
        List<RuleGroups.Rule> alerts = RuleGroups.load(OpsPaths.prometheusRule()).rules().stream().filter(RuleGroups.Rule::alert).toList();
        assertThat(alerts).isNotEmpty();
        for (RuleGroups.Rule alert : alerts) {
            assertThat(tests).as("promtool test for %s", alert.name()).contains("alertname: " + alert.name() + "\n");
        }
        assertThat(Files.readString(OpsPaths.prometheusRule()).split("severity: ", -1)).hasSize(alerts.size() + 1);
    }

    @Test
    void theEndToEndPrometheusConfigurationPassesPromtoolCheck() throws Exception {
        Path work = OpsPaths.workDir("promtool-config");
        Path rules = RuleGroups.load(OpsPaths.prometheusRule()).writeRuleFile(work.resolve("rules.yaml"));
        Path config = Files.writeString(work.resolve("prometheus.yml"), PrometheusProcess.config(8080, rules, "quantflow", "quantflow-0"));
        String out = Command.of(work, Duration.ofMinutes(1), Tools.promtool().toString(), "check", "config", config.toString()).check();
        assertThat(out).contains("SUCCESS");
    }

    @Test
    void promtoolCatchesABrokenRule() throws Exception {
        Path work = OpsPaths.workDir("promtool-broken");
        Path rules = Files.writeString(work.resolve("rules.yaml"), """
                groups:
                  - name: broken
                    rules:
                      - record: quantflow:broken
                        expr: sum by (job (rate(quantflow_http_requests_total[5m]))
                """);
        Command.Result result = Command.of(work, Duration.ofMinutes(1), Tools.promtool().toString(), "check", "rules", rules.toString()).run();
        assertThat(result.ok()).isFalse();
        assertThat(result.output()).contains("parse error");
    }
}
