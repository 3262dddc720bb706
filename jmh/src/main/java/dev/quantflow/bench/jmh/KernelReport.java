package dev.quantflow.bench.jmh;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

/**
 * Runs the kernel benchmarks (any JMH command-line arguments pass through, e.g. a regex or
 * "-p shape=4096x4096 -wi 1 -i 3") and prints what the raw JMH table does not: GFLOP/s, GB/s
 * of weights read, and each kernel's speed-up over the scalar loop measured in the same run.
 */
public final class KernelReport {
    private KernelReport() {}

    public static void main(String[] args) throws Exception {
        CommandLineOptions options = new CommandLineOptions(args);
        if (answeredWithoutRunning(options)) return;
        Collection<RunResult> results = new Runner(options).run();
        System.out.println();
        System.out.println(String.join(System.lineSeparator(), report(results)));
    }

    /**
     * JMH's informational options (-h, -l, -lp, -lrf), answered as JMH's own Main does: Runner.run
     * ignores them and would run every benchmark.
     */
    static boolean answeredWithoutRunning(CommandLineOptions options) throws Exception {
        if (options.shouldHelp()) {
            options.showHelp();
        } else if (options.shouldListProfilers()) {
            options.listProfilers();
        } else if (options.shouldListResultFormats()) {
            options.listResultFormats();
        } else if (options.shouldList()) {
            new Runner(options).list();
        } else if (options.shouldListWithParams()) {
            new Runner(options).listWithParams(options);
        } else {
            return false;
        }
        return true;
    }

    static List<String> report(Collection<RunResult> results) {
        Map<String, Double> micros = new TreeMap<>();   // "method|shape" or "read|threads" -> us/op
        Map<String, Double> batched = new TreeMap<>();  // "shape|rows|method" -> us/op
        Map<String, Double> quant = new TreeMap<>();    // "shape|rows|threads|kernel" -> us/op
        for (RunResult r : results) {
            String method = r.getParams().getBenchmark().substring(r.getParams().getBenchmark().lastIndexOf('.') + 1);
            if (r.getParams().getParam("kernel") != null) {
                quant.put(r.getParams().getParam("shape") + "|" + r.getParams().getParam("rows") + "|" + r.getParams().getParam("threads")
                        + "|" + r.getParams().getParam("kernel"), r.getPrimaryResult().getScore());
                continue;
            }
            if (r.getParams().getParam("rows") != null) {
                batched.put(r.getParams().getParam("shape") + "|" + r.getParams().getParam("rows") + "|" + method, r.getPrimaryResult().getScore());
                continue;
            }
            String key = r.getParams().getParam("shape") != null ? r.getParams().getParam("shape") : r.getParams().getParam("threads");
            if (key == null) continue;   // no shape: JMH's own table reports it (Int16DotAutoVecBenchmark, in multiply-adds/ns)
            micros.put(method + "|" + key, r.getPrimaryResult().getScore());
        }
        List<String> lines = new ArrayList<>();
        lines.add("matrix-vector (one decode-step linear), ratios against the scalar loop of the same run:");
        lines.add(String.format(Locale.ROOT, "%-22s %-10s %10s %9s %9s %8s", "kernel", "out x in", "us/call", "GFLOP/s", "GB/s", "x scalar"));
        micros.forEach((k, us) -> {
            String[] p = k.split("\\|");
            if (p[0].equals("read")) return;
            String[] d = p[1].split("x");
            long out = Long.parseLong(d[0]), in = Long.parseLong(d[1]);
            int bytes = p[0].startsWith("bf16") ? 2 : 4;
            Double scalar = micros.get((bytes == 2 ? "bf16Scalar|" : "f32Scalar|") + p[1]);
            lines.add(String.format(Locale.ROOT, "%-22s %-10s %10.1f %9.2f %9.2f %8s", p[0], p[1], us,
                    2.0 * out * in / us / 1e3, (double) bytes * out * in / us / 1e3,
                    scalar == null ? "-" : String.format(Locale.ROOT, "%.1f", scalar / us)));
        });
        micros.forEach((k, us) -> {
            String[] p = k.split("\\|");
            if (p[0].equals("read"))
                lines.add(String.format(Locale.ROOT, "memory read bandwidth, %s thread(s): %.1f GB/s (%d MiB off-heap, Vector loads)",
                        p[1], MemoryBandwidthBenchmark.BYTES / us / 1e3, MemoryBandwidthBenchmark.BYTES >> 20));
        });
        if (!batched.isEmpty()) lines.addAll(batchedReport(batched));
        if (!quant.isEmpty()) lines.addAll(quantReport(quant, micros));
        return lines;
    }

    /** Batched fp32 linear vs the same rows one at a time, one thread. */
    static List<String> batchedReport(Map<String, Double> micros) {
        List<String> lines = new ArrayList<>();
        lines.add("batched fp32 linear, one thread, against the same rows one at a time in the same run:");
        lines.add(String.format(Locale.ROOT, "%-10s %5s %12s %9s %14s %9s %10s", "out x in", "rows", "batched us", "GFLOP/s", "row-by-row us", "GFLOP/s", "x rowwise"));
        micros.forEach((k, us) -> {
            String[] p = k.split("\\|");
            if (!p[2].equals("batched")) return;
            Double rowwise = micros.get(p[0] + "|" + p[1] + "|rowByRow");
            String[] d = p[0].split("x");
            double flop = 2.0 * Long.parseLong(d[0]) * Long.parseLong(d[1]) * Integer.parseInt(p[1]);
            lines.add(String.format(Locale.ROOT, "%-10s %5s %12.1f %9.2f %14s %9s %10s", p[0], p[1], us, flop / us / 1e3,
                    rowwise == null ? "-" : String.format(Locale.ROOT, "%.1f", rowwise),
                    rowwise == null ? "-" : String.format(Locale.ROOT, "%.2f", flop / rowwise / 1e3),
                    rowwise == null ? "-" : String.format(Locale.ROOT, "%.1f", rowwise / us)));
        });
        return lines;
    }

    /** Quantized linears: GB/s of weight bytes, GFLOP/s, fraction of the same run's read bandwidth, and each kernel against its pre-issue-14 loop. */
    static List<String> quantReport(Map<String, Double> micros, Map<String, Double> other) {
        List<String> lines = new ArrayList<>();
        lines.add("quantized linears (weights from DRAM); 'x old' = the pre-issue-14 kernel of the same run:");
        lines.add(String.format(Locale.ROOT, "%-10s %4s %3s %-13s %10s %8s %9s %7s %7s", "out x in", "rows", "thr", "kernel", "us/call", "GB/s", "GFLOP/s", "of bw", "x old"));
        micros.forEach((k, us) -> {
            String[] p = k.split("\\|");
            String[] d = p[0].split("x");
            int out = Integer.parseInt(d[0]), in = Integer.parseInt(d[1]), rows = Integer.parseInt(p[1]);
            double gbs = QuantMatMulBenchmark.bytesPerCall(p[3], out, in) / us / 1e3;
            Double bw = other.get("read|" + p[2]);
            double bwGbs = bw == null ? Double.NaN : MemoryBandwidthBenchmark.BYTES / bw / 1e3;
            Double old = p[3].endsWith("Old") ? null : micros.get(p[0] + "|" + p[1] + "|" + p[2] + "|" + p[3] + "Old");
            lines.add(String.format(Locale.ROOT, "%-10s %4d %3s %-13s %10.1f %8.2f %9.2f %7s %7s", p[0], rows, p[2], p[3], us, gbs,
                    2.0 * out * in * rows / us / 1e3, bw == null ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * gbs / bwGbs),
                    old == null ? "-" : String.format(Locale.ROOT, "%.2f", old / us)));
        });
        return lines;
    }
}
