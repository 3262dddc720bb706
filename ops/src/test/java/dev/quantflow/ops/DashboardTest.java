package dev.quantflow.ops;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The dashboard's structure: what Grafana needs to load it and what an operator needs to find. */
class DashboardTest {

    @Test
    void panelsAreWellFormedAndUseTheDatasourceVariable() throws Exception {
        JsonNode dashboard = new ObjectMapper().readTree(OpsPaths.dashboard().toFile());
        assertThat(dashboard.path("uid").asText()).isEqualTo("quantflow-overview");
        Set<Integer> ids = new HashSet<>();
        for (JsonNode panel : dashboard.path("panels")) {
            assertThat(ids.add(panel.path("id").asInt())).as("unique panel id %s", panel.path("id")).isTrue();
            JsonNode grid = panel.path("gridPos");
            assertThat(grid.path("x").asInt() + grid.path("w").asInt()).as("panel '%s' fits 24 columns", panel.path("title")).isLessThanOrEqualTo(24);
            if (panel.path("type").asText().equals("row")) continue;
            assertThat(panel.path("datasource").path("uid").asText()).isEqualTo("${datasource}");
            assertThat(panel.path("targets")).as("panel '%s' has queries", panel.path("title")).isNotEmpty();
            assertThat(panel.path("description").asText()).as("panel '%s' says what it shows", panel.path("title")).isNotBlank();
        }
        List<String> variables = dashboard.path("templating").path("list").findValuesAsText("name");
        assertThat(variables).contains("datasource", "instance", "model");
    }

    @Test
    void itShowsWhatAnOperatorOfAnLlmServiceNeeds() throws Exception {
        List<String> exprs = DashboardQueries.load(OpsPaths.dashboard()).panelQueries("1m").stream().map(DashboardQueries.Query::expr).toList();
        String all = String.join("\n", exprs);
        for (String metric : List.of("quantflow_http_requests_total", "quantflow_time_to_first_token_seconds_bucket",
                "quantflow_inter_token_latency_seconds_bucket", "quantflow_e2e_request_latency_seconds_bucket",
                "quantflow_num_requests_waiting", "quantflow_num_requests_running", "quantflow_batch_size",
                "quantflow_prompt_tokens_total", "quantflow_generation_tokens_total", "quantflow_kv_cache_usage_perc",
                "quantflow_stage_step_time_seconds", "quantflow_stage_busy_ratio", "quantflow_llm_int8_outlier_column_fraction", "quantflow_device_memory_bytes",
                "jvm_memory_used_bytes", "jvm_gc_pause_seconds")) {
            assertThat(all).as("a panel on %s", metric).contains(metric);
        }
        for (String q : List.of("0.5", "0.9", "0.99")) {
            assertThat(all).contains("histogram_quantile(" + q + ", sum by (le) (rate(quantflow_time_to_first_token_seconds_bucket");
        }
    }
}
