package dev.quantflow.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The perplexity-vs-weight-bytes PNG (XChart), one panel per model; kept apart so only plotting needs AWT. */
final class QuantPlot {
    private QuantPlot() {}

    private static final Marker[] MARKERS = {SeriesMarkers.CIRCLE, SeriesMarkers.DIAMOND,
            SeriesMarkers.TRIANGLE_UP, SeriesMarkers.TRIANGLE_DOWN, SeriesMarkers.CROSS};
    /** GGUF files' rows: squares, ours never are. */
    private static final Marker GGUF_MARKER = SeriesMarkers.SQUARE;

    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
            new Color(0xd62728), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2),
            new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf), new Color(0x000000),
            new Color(0xaec7e8), new Color(0xff9896), new Color(0x98df8a), new Color(0xc5b0d5)};

    /** Per model two panels: perplexity and KL divergence (log scale; fp32's 0 is left out) against decoder bits per weight (KiB for old results without weight counts). */
    static void write(Map<String, List<JsonNode>> byModel, Path plot) {
        System.setProperty("java.awt.headless", "true");
        List<XYChart> charts = new ArrayList<>();
        for (var e : byModel.entrySet()) {
            boolean bits = e.getValue().stream().allMatch(n -> n.has("decoder_weights"));
            String xTitle = bits ? "decoder linear bits per weight (all bytes: codes, scales, zero points)" : "decoder linear weight bytes (KiB)";
            charts.add(chart(e.getKey() + ": perplexity", xTitle, "perplexity", e.getValue(), bits, false));
            charts.add(chart(e.getKey() + ": KL divergence vs fp32", xTitle, "KL divergence (nats, log)", e.getValue(), bits, true));
        }
        int cols = Math.min(2, charts.size()), rows = (charts.size() + cols - 1) / cols;
        try {
            String file = plot.toString().replaceAll("\\.png$", "");
            BitmapEncoder.saveBitmap(new ArrayList<>(charts), rows, cols, file, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException ex) {
            throw new UncheckedIOException(plot + ": cannot write the plot: " + ex.getMessage(), ex);
        }
        System.err.println("wrote " + plot);
    }

    private static XYChart chart(String title, String xTitle, String yTitle, List<JsonNode> rows, boolean bits, boolean kl) {
        // tall enough for the legend, about 17 px of 9-pt legend per row (60+ rows per model since the issue-18 recipes)
        XYChart c = new XYChartBuilder().width(760).height(Math.max(560, 17 * rows.size() + 150)).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        c.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        c.getStyler().setMarkerSize(9);
        c.getStyler().setLegendFont(c.getStyler().getLegendFont().deriveFont(9f));
        double fp32 = rows.getFirst().path("fp32_perplexity").asDouble();
        double yMax = kl ? Double.POSITIVE_INFINITY : fp32 * 1.6;   // a perplexity beyond 1.6x fp32 (w8a8-tensor with outliers) is pinned to the top
        if (kl) {
            c.getStyler().setYAxisLogarithmic(true);
        } else {
            double seenMax = fp32, seenMin = fp32;
            for (JsonNode n : rows) {
                seenMax = Math.max(seenMax, Math.min(yMax, n.path("perplexity").asDouble()));
                seenMin = Math.min(seenMin, n.path("perplexity").asDouble());
            }
            yMax = Math.min(yMax, seenMax + 0.05 * (seenMax - seenMin) + 1e-3);
            c.getStyler().setYAxisMin(seenMin - 0.05 * (seenMax - seenMin) - 1e-3);
            c.getStyler().setYAxisMax(yMax);
        }
        int i = 0;
        for (JsonNode n : rows) {
            String kv = n.path("kv").asText("f32");
            String name = QuantReportCommand.label(n) + (kv.isEmpty() || kv.equals("f32") ? "" : " +kv " + kv);
            double v = kl ? n.path("kl_divergence").asDouble() : n.path("perplexity").asDouble();
            if (kl && v < 1e-9) continue;   // fp32 (and its twins): nothing to draw on a log axis
            double y = Math.min(v, yMax);
            double x = bits ? QuantReportCommand.bitsPerWeight(n, "decoder_weight_bytes", "decoder_weights") : n.path("decoder_weight_bytes").asDouble() / 1024;
            XYSeries s = c.addSeries(name + (v > yMax ? String.format(Locale.ROOT, " (ppl %.0f, off the chart)", v) : ""), new double[] {x}, new double[] {y});
            boolean gguf = QuantReportCommand.isGguf(n);
            s.setMarker(gguf ? GGUF_MARKER : MARKERS[i % MARKERS.length]);
            s.setMarkerColor(COLORS[i % COLORS.length]);
            i++;
        }
        return c;
    }
}
