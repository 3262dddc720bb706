package dev.quantflow.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.model.LlamaConfig;
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

    @Option(names = "--only", paramLabel = "MODEL", description = "Only this model's table and plot (the directory name, e.g. sotu6M; GGUF files evaluated with --reference DIR count as DIR's)")
    String only;

    @Override
    public Integer call() throws IOException {
        Map<String, List<JsonNode>> byModel = new LinkedHashMap<>();
        ObjectMapper om = new ObjectMapper();
        for (String line : Files.readAllLines(results)) {
            if (line.isBlank()) continue;
            JsonNode n = om.readTree(line);
            if (!n.has("decoder_weights")) withWeightCounts((ObjectNode) n);
            String group = shortName(n.path("reference").asText(n.path("model").asText()));
            if (only == null || only.equals(group)) byModel.computeIfAbsent(group, k -> new ArrayList<>()).add(n);
        }
        if (byModel.isEmpty()) throw new QuantflowCommand.UserError(results + ": no results" + (only == null ? "" : " for " + only));
        StringBuilder md = new StringBuilder();
        for (var e : byModel.entrySet()) {
            md.append("\n**").append(e.getKey()).append("**\n\n");
            md.append("| scheme | kv | perplexity | vs fp32 | KL div. | top-1 agr. | decoder weight bytes | bits/weight | all linears incl. lm_head | bits/weight | tokens/s (fp32) | outlier cols |\n");
            md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (JsonNode n : e.getValue()) {
                md.append(String.format(Locale.ROOT, "| %s | %s | %.4f | %+.2f%% | %.5f | %.4f | %,d | %s | %,d | %s | %.0f (%.0f) | %.2f%% |%n",
                        label(n), n.path("kv").asText(), n.path("perplexity").asDouble(), n.path("perplexity_delta_pct").asDouble(),
                        n.path("kl_divergence").asDouble(), n.path("top1_agreement").asDouble(), n.path("decoder_weight_bytes").asLong(),
                        bits(n, "decoder_weight_bytes", "decoder_weights"), n.path("weight_bytes").asLong(), bits(n, "weight_bytes", "weights"),
                        n.path("tokens_per_second").asDouble(), n.path("fp32_tokens_per_second").asDouble(), 100 * n.path("outlier_fraction").asDouble()));
            }
            md.append(String.format(Locale.ROOT, "%nfp32 perplexity %.4f over %d tokens.%n", e.getValue().getFirst().path("fp32_perplexity").asDouble(),
                    e.getValue().getFirst().path("tokens").asInt()));
        }
        System.out.print(md);
        if (plot != null) QuantPlot.write(byModel, plot);   // AWT only when plotting: the server image has no java.desktop
        return 0;
    }

    /** Results written before eval recorded the weight counts: counted from the model's config, when the model is still there. */
    private static void withWeightCounts(ObjectNode n) {
        Path model = Path.of(n.path("model").asText());
        if (!Files.exists(model.resolve("config.json")) && !GgufFile.isGguf(model)) return;
        LlamaConfig c = LlamaConfig.load(model);
        n.put("weights", c.decoderLinearWeights() + c.headWeights()).put("decoder_weights", c.decoderLinearWeights());
    }

    /** A GGUF file's row is named by its llama-quantize preset; ours by the scheme. */
    static String label(JsonNode n) {
        return isGguf(n) ? "GGUF " + n.path("gguf_file_type").asText() : n.path("scheme").asText();
    }

    static boolean isGguf(JsonNode n) {
        return n.has("gguf_file_type");
    }

    /** 8 x bytes / weights (scales, zero points, padding, outlier copies included), when eval recorded the count. */
    static double bitsPerWeight(JsonNode n, String bytes, String weights) {
        return n.has(weights) ? 8 * n.path(bytes).asDouble() / n.path(weights).asDouble() : Double.NaN;
    }

    private static String bits(JsonNode n, String bytes, String weights) {
        double b = bitsPerWeight(n, bytes, weights);
        return Double.isNaN(b) ? "" : String.format(Locale.ROOT, "%.2f", b);
    }

    private static String shortName(String modelPath) {
        Path p = Path.of(modelPath).getFileName();
        return p == null ? modelPath : p.toString();
    }

}
