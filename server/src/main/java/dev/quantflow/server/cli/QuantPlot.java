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
            SeriesMarkers.SQUARE, SeriesMarkers.TRIANGLE_UP, SeriesMarkers.TRIANGLE_DOWN, SeriesMarkers.CROSS};

    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
            new Color(0xd62728), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2),
            new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf), new Color(0x000000),
            new Color(0xaec7e8), new Color(0xff9896), new Color(0x98df8a), new Color(0xc5b0d5)};

    static void write(Map<String, List<JsonNode>> byModel, Path plot) {
        System.setProperty("java.awt.headless", "true");
        List<XYChart> charts = new ArrayList<>();
        for (var e : byModel.entrySet()) {
            XYChart c = new XYChartBuilder().width(760).height(520).title(e.getKey() + ": perplexity vs decoder weight bytes")
                    .xAxisTitle("decoder linear weight bytes (KiB)").yAxisTitle("perplexity").build();
            c.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            c.getStyler().setMarkerSize(9);
            c.getStyler().setLegendFont(c.getStyler().getLegendFont().deriveFont(10f));
            double fp32 = e.getValue().getFirst().path("fp32_perplexity").asDouble();
            double yMax = fp32 * 1.6, seenMax = fp32, seenMin = fp32;   // a point beyond 1.6x fp32 (w8a8-tensor with outliers) is pinned to the top
            for (JsonNode n : e.getValue()) {
                seenMax = Math.max(seenMax, Math.min(yMax, n.path("perplexity").asDouble()));
                seenMin = Math.min(seenMin, n.path("perplexity").asDouble());
            }
            yMax = Math.min(yMax, seenMax + 0.05 * (seenMax - seenMin) + 1e-3);
            c.getStyler().setYAxisMin(seenMin - 0.05 * (seenMax - seenMin) - 1e-3);
            c.getStyler().setYAxisMax(yMax);
            int i = 0;
            for (JsonNode n : e.getValue()) {
                String name = n.path("scheme").asText() + (n.path("kv").asText().equals("int8") ? " +kv int8" : "");
                double ppl = n.path("perplexity").asDouble(), y = Math.min(ppl, yMax);
                XYSeries s = c.addSeries(name + (ppl > yMax ? String.format(Locale.ROOT, " (ppl %.0f, off the chart)", ppl) : ""),
                        new double[] {n.path("decoder_weight_bytes").asDouble() / 1024}, new double[] {y});
                s.setMarker(MARKERS[i % MARKERS.length]);
                s.setMarkerColor(COLORS[i % COLORS.length]);
                i++;
            }
            charts.add(c);
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
}
