package dev.quantflow.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Turns `eval --json` lines into the markdown table and the perplexity-vs-weight-bytes plot of docs/QUANTIZATION.md. */
@Command(name = "quant-report", mixinStandardHelpOptions = true,
        description = "Markdown table and PNG plot (perplexity vs weight bytes) from eval --json results, one JSON object per line.")
public final class QuantReportCommand implements Callable<Integer> {
    @Option(names = "--results", required = true, paramLabel = "FILE", description = "JSON lines written by eval --json")
    Path results;

    @Option(names = "--plot", paramLabel = "PNG", description = "Write the plot here")
    Path plot;

    @Override
    public Integer call() throws IOException {
        Map<String, List<JsonNode>> byModel = new LinkedHashMap<>();
        ObjectMapper om = new ObjectMapper();
        for (String line : Files.readAllLines(results)) {
            if (line.isBlank()) continue;
            JsonNode n = om.readTree(line);
            byModel.computeIfAbsent(shortName(n.path("model").asText()), k -> new ArrayList<>()).add(n);
        }
        if (byModel.isEmpty()) throw new QuantflowCommand.UserError(results + ": no results");
        StringBuilder md = new StringBuilder();
        for (var e : byModel.entrySet()) {
            md.append("\n**").append(e.getKey()).append("**\n\n");
            md.append("| scheme | kv | perplexity | vs fp32 | KL div. | top-1 agr. | decoder weight bytes | x fp32 | all linears incl. lm_head | tokens/s (fp32) | outlier cols |\n");
            md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (JsonNode n : e.getValue()) {
                md.append(String.format(Locale.ROOT, "| %s | %s | %.4f | %+.2f%% | %.5f | %.4f | %,d | %.3f | %,d | %.0f (%.0f) | %.2f%% |%n",
                        n.path("scheme").asText(), n.path("kv").asText(), n.path("perplexity").asDouble(), n.path("perplexity_delta_pct").asDouble(),
                        n.path("kl_divergence").asDouble(), n.path("top1_agreement").asDouble(), n.path("decoder_weight_bytes").asLong(),
                        n.path("decoder_weight_bytes").asDouble() / n.path("fp32_decoder_weight_bytes").asDouble(), n.path("weight_bytes").asLong(),
                        n.path("tokens_per_second").asDouble(), n.path("fp32_tokens_per_second").asDouble(), 100 * n.path("outlier_fraction").asDouble()));
            }
            md.append(String.format(Locale.ROOT, "%nfp32 perplexity %.4f over %d tokens.%n", e.getValue().getFirst().path("fp32_perplexity").asDouble(),
                    e.getValue().getFirst().path("tokens").asInt()));
        }
        System.out.print(md);
        if (plot != null) QuantPlot.write(byModel, plot);   // AWT only when plotting: the server image has no java.desktop
        return 0;
    }

    private static String shortName(String modelPath) {
        Path p = Path.of(modelPath).getFileName();
        return p == null ? modelPath : p.toString();
    }

}
