package dev.quantflow.ops;

import java.util.Locale;

/** Grafana's unit names as short human labels: s, bytes, percentunit, reqps, ops, short. */
final class Units {
    private Units() {}

    static String format(double v, String unit) {
        return switch (unit) {
            case "s" -> seconds(v);
            case "bytes" -> bytes(v);
            case "percentunit" -> String.format(Locale.ROOT, "%.1f%%", v * 100);
            case "reqps" -> number(v) + " req/s";
            case "ops" -> number(v) + "/s";
            default -> number(v);
        };
    }

    private static String seconds(double v) {
        double a = Math.abs(v);
        if (a == 0) return "0 s";
        if (a < 1e-3) return String.format(Locale.ROOT, "%.0f µs", v * 1e6);
        if (a < 1) return String.format(Locale.ROOT, "%.0f ms", v * 1e3);
        return String.format(Locale.ROOT, "%.2f s", v);
    }

    private static String bytes(double v) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        int i = 0;
        while (Math.abs(v) >= 1024 && i < units.length - 1) {
            v /= 1024;
            i++;
        }
        return String.format(Locale.ROOT, i == 0 ? "%.0f %s" : "%.1f %s", v, units[i]);
    }

    private static String number(double v) {
        double a = Math.abs(v);
        if (a >= 1e6) return String.format(Locale.ROOT, "%.1fM", v / 1e6);
        if (a >= 1e3) return String.format(Locale.ROOT, "%.1fk", v / 1e3);
        if (a >= 10 || a == 0) return String.format(Locale.ROOT, "%.0f", v);
        return String.format(Locale.ROOT, "%.2f", v);
    }
}
