package dev.quantflow.bench.jmh;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Alternates each quantized kernel with its pre-issue-14 loop (QuantMatMulBenchmark's setups) in
 * one JVM, call by call in rounds, and prints the median GB/s by wall time and per CPU-second of
 * the process. Why next to JMH: on a machine shared with other builds (load average 10-25 on 2
 * cores) separate forks minutes apart see different loads; alternating in one JVM compares
 * kernels under the same load; "best" is the fastest round (the least disturbed), CPU time
 * (coarse: the process clock ticks here at 10 ms; with one thread the thread's own clock, in ns, is
 * used) discounts time the threads were not scheduled. "x pair" is the median over rounds of this
 * kernel's time per byte against the next-named kernel's in the same round (kernels given in
 * pairs new, old): a ratio both saw under the same load; "cpu pair" the same by CPU time (with
 * one thread: the thread's own clock, which leaves out the time other processes held the core).
 * Usage: java ... QuantKernelAB SHAPE ROWS THREADS ROUNDS KERNEL...   (e.g. 2048x5632 1 1 7 w8a16 w8a16Old)
 */
public final class QuantKernelAB {
    public static void main(String[] args) {
        String shape = args[0];
        int rows = Integer.parseInt(args[1]), threads = Integer.parseInt(args[2]), rounds = Integer.parseInt(args[3]);
        String[] kernels = Arrays.copyOfRange(args, 4, args.length);
        List<QuantMatMulBenchmark> b = new ArrayList<>();
        for (String k : kernels) {
            QuantMatMulBenchmark s = new QuantMatMulBenchmark();
            s.shape = shape;
            s.rows = rows;
            s.threads = threads;
            s.kernel = k;
            s.setUp();
            b.add(s);
        }
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        var thread = ManagementFactory.getThreadMXBean();
        double[][] wall = new double[kernels.length][rounds], cpu = new double[kernels.length][rounds];
        for (int round = -2; round < rounds; round++)   // two warm-up rounds
            for (int k = 0; k < kernels.length; k++) {
                QuantMatMulBenchmark s = b.get(k);
                int calls = Math.max(4, s.linears.length);
                long c0 = threads == 1 ? thread.getCurrentThreadCpuTime() : os.getProcessCpuTime(), t0 = System.nanoTime();
                for (int i = 0; i < calls; i++) s.matmul();
                long t = System.nanoTime() - t0, c = (threads == 1 ? thread.getCurrentThreadCpuTime() : os.getProcessCpuTime()) - c0;
                if (round < 0) continue;
                double bytes = (double) s.weightBytes * calls;
                wall[k][round] = bytes / t;
                cpu[k][round] = bytes / c;
            }
        System.out.printf(Locale.ROOT, "%s rows=%d threads=%d rounds=%d load=%s%n", shape, rows, threads, rounds, loadAverage());
        System.out.printf(Locale.ROOT, "%-22s %10s %10s %14s %9s %8s %8s%n", "kernel", "GB/s wall", "best", "GB/CPU-second", "GFLOP/s", "x pair", "cpu pair");
        for (int k = 0; k < kernels.length; k++) {
            double w = median(wall[k]);
            String[] d = shape.split("x");
            double flopPerByte = 2.0 * Long.parseLong(d[0]) * Long.parseLong(d[1]) * rows / b.get(k).weightBytes;
            String pair = "", cpuPair = "";
            if (k % 2 == 0 && k + 1 < kernels.length) {
                double[] r = new double[rounds], rc = new double[rounds];
                for (int i = 0; i < rounds; i++) {
                    r[i] = wall[k][i] / wall[k + 1][i];
                    rc[i] = cpu[k][i] / cpu[k + 1][i];
                }
                pair = String.format(Locale.ROOT, "%.2f", median(r));
                cpuPair = String.format(Locale.ROOT, "%.2f", median(rc));
            }
            System.out.printf(Locale.ROOT, "%-22s %10.2f %10.2f %14.2f %9.2f %8s %8s%n", kernels[k], w, Arrays.stream(wall[k]).max().orElse(0), median(cpu[k]), w * flopPerByte, pair, cpuPair);
        }
        for (QuantMatMulBenchmark s : b) s.tearDown();
        System.exit(0);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static String loadAverage() {
        try {
            return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim();
        } catch (java.io.IOException e) {
            return "?";
        }
    }
}
