package dev.quantflow.ops;

import com.fasterxml.jackson.databind.JsonNode;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * Draws the Grafana dashboard as a PNG from a Prometheus's data, without Grafana: each panel at its
 * grid position, time series as lines over the chosen window, stat panels as their last value. For
 * docs and CI reports; Grafana stays the interactive view.
 *
 * <pre>java -cp ... dev.quantflow.ops.DashboardSnapshot PROMETHEUS_URL DASHBOARD_JSON OUT_PNG [MINUTES]</pre>
 */
public final class DashboardSnapshot {
    private static final int WIDTH = 1800;
    private static final int UNIT_HEIGHT = 34;
    private static final Color BACKGROUND = new Color(0x111217);
    private static final Color PANEL = new Color(0x181b1f);
    private static final Color GRID = new Color(0x2c3035);
    private static final Color TEXT = new Color(0xd8d9da);
    private static final Color DIM = new Color(0x8e9193);
    private static final Color[] PALETTE = {new Color(0x73bf69), new Color(0xf2cc0c), new Color(0x5794f2), new Color(0xff780a),
            new Color(0xf2495c), new Color(0xb877d9), new Color(0x37872d), new Color(0x8ab8ff)};

    private final PrometheusClient prometheus;
    private final DashboardQueries dashboard;
    private final Instant start;
    private final Instant end;

    public DashboardSnapshot(PrometheusClient prometheus, DashboardQueries dashboard, Instant start, Instant end) {
        this.prometheus = prometheus;
        this.dashboard = dashboard;
        this.start = start;
        this.end = end;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: DashboardSnapshot PROMETHEUS_URL DASHBOARD_JSON OUT_PNG [MINUTES]");
            System.exit(2);
        }
        Instant end = Instant.now();
        Instant start = end.minus(Duration.ofMinutes(args.length > 3 ? Long.parseLong(args[3]) : 15));
        new DashboardSnapshot(new PrometheusClient(URI.create(args[0])), DashboardQueries.load(Path.of(args[1])), start, end)
                .write(Path.of(args[2]));
    }

    /** Renders every panel and writes the PNG. */
    public void write(Path png) throws IOException, InterruptedException {
        JsonNode panels = dashboard.dashboard().path("panels");
        int rows = 0;
        for (JsonNode p : panels) rows = Math.max(rows, p.path("gridPos").path("y").asInt() + p.path("gridPos").path("h").asInt());
        int header = 40;
        BufferedImage image = new BufferedImage(WIDTH, header + rows * UNIT_HEIGHT + 8, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(BACKGROUND);
        g.fillRect(0, 0, image.getWidth(), image.getHeight());
        g.setColor(TEXT);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        DateTimeFormatter hm = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);
        g.drawString(dashboard.dashboard().path("title").asText() + "   " + hm.format(start) + " to " + hm.format(end) + " UTC", 10, 26);
        double unit = (WIDTH - 8) / 24.0;
        for (JsonNode panel : panels) {
            JsonNode pos = panel.path("gridPos");
            int x = 4 + (int) (pos.path("x").asInt() * unit);
            int y = header + pos.path("y").asInt() * UNIT_HEIGHT;
            int w = (int) (pos.path("w").asInt() * unit) - 6;
            int h = pos.path("h").asInt() * UNIT_HEIGHT - 6;
            switch (panel.path("type").asText()) {
                case "row" -> drawRow(g, panel, x, y);
                case "stat" -> drawStat(g, panel, x, y, w, h);
                default -> drawTimeseries(g, panel, x, y, w, h);
            }
        }
        g.dispose();
        ImageIO.write(image, "png", png.toFile());
    }

    private void drawRow(Graphics2D g, JsonNode panel, int x, int y) {
        g.setColor(TEXT);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(panel.path("title").asText(), x + 4, y + 22);
    }

    private void drawStat(Graphics2D g, JsonNode panel, int x, int y, int w, int h) throws IOException, InterruptedException {
        frame(g, panel, x, y, w, h);
        List<Series> series = fetch(panel);
        String unit = panel.path("fieldConfig").path("defaults").path("unit").asText("short");
        double last = series.isEmpty() ? Double.NaN : series.getFirst().last();
        g.setColor(statColor(panel, last));
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 30));
        String text = Double.isNaN(last) ? "No data" : Units.format(last, unit);
        FontMetrics fm = g.getFontMetrics();
        g.drawString(text, x + (w - fm.stringWidth(text)) / 2, y + h / 2 + 20);
    }

    private static Color statColor(JsonNode panel, double value) {
        Color color = PALETTE[0];
        for (JsonNode step : panel.path("fieldConfig").path("defaults").path("thresholds").path("steps")) {
            if (!step.path("value").isNumber() || value >= step.path("value").asDouble()) {
                color = switch (step.path("color").asText()) {
                    case "red" -> PALETTE[4];
                    case "orange" -> PALETTE[3];
                    default -> PALETTE[0];
                };
            }
        }
        return color;
    }

    private void drawTimeseries(Graphics2D g, JsonNode panel, int x, int y, int w, int h) throws IOException, InterruptedException {
        frame(g, panel, x, y, w, h);
        List<Series> series = fetch(panel);
        String unit = panel.path("fieldConfig").path("defaults").path("unit").asText("short");
        int legendLines = Math.min(3, (series.size() + 2) / 3);
        int left = x + 62;
        int top = y + 30;
        int right = x + w - 10;
        int bottom = y + h - 22 - legendLines * 14;
        double max = 0;
        double min = panel.path("fieldConfig").path("defaults").path("min").isNumber() ? 0 : Double.MAX_VALUE;
        for (Series s : series) {
            for (double v : s.values) {
                if (Double.isFinite(v)) {
                    max = Math.max(max, v);
                    min = Math.min(min, v);
                }
            }
        }
        if (min == Double.MAX_VALUE) min = 0;
        if (max <= min) max = min + 1;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        for (int i = 0; i <= 4; i++) {
            int gy = bottom - (bottom - top) * i / 4;
            g.setColor(GRID);
            g.drawLine(left, gy, right, gy);
            g.setColor(DIM);
            String label = Units.format(min + (max - min) * i / 4, unit);
            g.drawString(label, left - 6 - g.getFontMetrics().stringWidth(label), gy + 4);
        }
        if (series.isEmpty()) {
            g.setColor(DIM);
            g.drawString("No data", (left + right) / 2 - 20, (top + bottom) / 2);
        }
        double span = end.getEpochSecond() - start.getEpochSecond();
        g.setStroke(new BasicStroke(1.6f));
        for (int i = 0; i < series.size(); i++) {
            Series s = series.get(i);
            g.setColor(PALETTE[i % PALETTE.length]);
            int px = -1;
            int py = -1;
            for (int k = 0; k < s.times.length; k++) {
                if (!Double.isFinite(s.values[k])) {
                    px = -1;
                    continue;
                }
                int cx = left + (int) ((right - left) * (s.times[k] - start.getEpochSecond()) / span);
                int cy = bottom - (int) ((bottom - top) * (s.values[k] - min) / (max - min));
                if (px >= 0) g.drawLine(px, py, cx, cy);
                else g.fillRect(cx - 1, cy - 1, 2, 2);
                px = cx;
                py = cy;
            }
        }
        g.setStroke(new BasicStroke(1f));
        int column = Math.max(1, (right - left) / 3);
        for (int i = 0; i < Math.min(series.size(), legendLines * 3); i++) {
            int lx = left + (i % 3) * column;
            int ly = bottom + 30 + (i / 3) * 14;
            g.setColor(PALETTE[i % PALETTE.length]);
            g.fillRect(lx, ly - 8, 10, 3);
            g.setColor(TEXT);
            String name = series.get(i).name;
            while (name.length() > 4 && g.getFontMetrics().stringWidth(name) > column - 18) name = name.substring(0, name.length() - 2);
            g.drawString(name, lx + 14, ly - 3);
        }
    }

    private static void frame(Graphics2D g, JsonNode panel, int x, int y, int w, int h) {
        g.setColor(PANEL);
        g.fillRoundRect(x, y, w, h, 6, 6);
        g.setColor(GRID);
        g.drawRoundRect(x, y, w, h, 6, 6);
        g.setColor(TEXT);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(panel.path("title").asText(), x + 8, y + 18);
    }

    /** One drawn line: its legend and samples. */
    private record Series(String name, long[] times, double[] values) {
        double last() {
            for (int i = values.length - 1; i >= 0; i--) if (Double.isFinite(values[i])) return values[i];
            return Double.NaN;
        }
    }

    private List<Series> fetch(JsonNode panel) throws IOException, InterruptedException {
        long seconds = Duration.between(start, end).toSeconds();
        Duration step = Duration.ofSeconds(Math.max(1, seconds / 240));
        String rateInterval = Math.max(30, 4 * step.toSeconds()) + "s";
        List<Series> out = new ArrayList<>();
        for (JsonNode target : panel.path("targets")) {
            PrometheusClient.Answer answer = prometheus.queryRange(dashboard.substitute(target.path("expr").asText(), rateInterval), start, end, step);
            if (!answer.ok()) throw new IOException("panel '" + panel.path("title").asText() + "': " + answer.error());
            for (JsonNode matrix : answer.result()) {
                JsonNode values = matrix.path("values");
                long[] times = new long[values.size()];
                double[] vs = new double[values.size()];
                for (int i = 0; i < values.size(); i++) {
                    times[i] = values.path(i).path(0).asLong();
                    vs[i] = parse(values.path(i).path(1).asText());
                }
                out.add(new Series(legend(target.path("legendFormat").asText(), matrix.path("metric")), times, vs));
            }
        }
        return out;
    }

    private static double parse(String v) {
        return switch (v) {
            case "NaN" -> Double.NaN;
            case "+Inf", "-Inf" -> Double.NaN;
            default -> Double.parseDouble(v);
        };
    }

    /** Grafana's {{label}} legend templates. */
    private static String legend(String format, JsonNode labels) {
        String out = format.isBlank() ? labels.toString() : format;
        var it = labels.fields();
        while (it.hasNext()) {
            var e = it.next();
            out = out.replace("{{" + e.getKey() + "}}", e.getValue().asText());
        }
        return out.replaceAll("\\{\\{[^}]*}}", "").strip();
    }
}
