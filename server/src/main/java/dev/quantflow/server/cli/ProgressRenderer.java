package dev.quantflow.server.cli;

import dev.quantflow.engine.progress.Progress;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Renders the engine's {@link Progress} for the CLI. On a terminal (bin/quantflow sets
 * -Dquantflow.progress=bar when stderr is one) a bar redrawn in place on /dev/tty, with ETA:
 * the launcher pipes stderr through a line filter, which would hold back a line redrawn with \r.
 * Elsewhere (logs, CI, containers) plain lines, as vLLM and llama.cpp log when not on a terminal:
 * none for a task done within 2 s (-Dquantflow.progress.quiet=SECONDS), else one once it has run
 * that long, at most one every 5 s, and one when it ends. -Dquantflow.progress=off silences both.
 * A small class rather than me.tongfei:progressbar (which resolves): that library draws through
 * jline (another dependency of 1 MB, and its own refresh thread) to a stream, which the launcher's
 * filter would hold back, and off a terminal hands its drawn bar to a consumer at a fixed rate
 * rather than the start, periodic and end lines that logs want.
 */
final class ProgressRenderer implements Progress {
    private static final long LOG_EVERY = 5_000_000_000L, REDRAW_EVERY = 100_000_000L;
    private static final int BAR = 24;

    private final Consumer<String> lines;   // log mode: one finished line each
    private final PrintWriter tty;          // bar mode: redrawn in place; null in log mode
    private final LongSupplier clock;
    private final long quietNanos;
    private final Map<String, Task> tasks = new TreeMap<>();

    private static final class Task {
        final long start;
        long shown;
        boolean printed;
        String text = "";

        Task(long start) {
            this.start = start;
        }
    }

    ProgressRenderer(Consumer<String> lines, PrintWriter tty, LongSupplier clock, long quietNanos) {
        this.lines = lines;
        this.tty = tty;
        this.clock = clock;
        this.quietNanos = quietNanos;
    }

    /** What -Dquantflow.progress asks for: a bar on the terminal, else plain lines to sink (nothing for off). */
    static Progress forCli(Consumer<String> sink) {
        String mode = System.getProperty("quantflow.progress", "log");
        long quiet = (long) (Double.parseDouble(System.getProperty("quantflow.progress.quiet", "2")) * 1e9);
        if (mode.equals("off")) return Progress.NONE;
        if (mode.equals("bar")) {
            try {
                PrintWriter tty = new PrintWriter(new OutputStreamWriter(new FileOutputStream("/dev/tty"), StandardCharsets.UTF_8), true);
                return new ProgressRenderer(sink, tty, System::nanoTime, quiet);
            } catch (IOException | SecurityException noTerminal) {
                // no controlling terminal after all: log lines
            }
        }
        return new ProgressRenderer(sink, null, System::nanoTime, quiet);
    }

    /** Plain lines "quantflow: ..." on the command's stderr. */
    static Progress forCli(PrintWriter err) {
        return forCli(line -> {
            err.println("quantflow: " + line);
            err.flush();
        });
    }

    @Override
    public synchronized void update(String task, long done, long total, String unit) {
        long now = clock.getAsLong();
        Task t = tasks.computeIfAbsent(task, k -> new Task(now));
        boolean end = done >= total;
        t.text = describe(task, Math.min(done, total), total, unit, now - t.start, tty != null);
        if (tty == null) {
            if (t.printed ? end || now - t.shown >= LOG_EVERY : now - t.start >= quietNanos) {
                lines.accept(t.text);
                t.shown = now;
                t.printed = true;
            }
        } else if (end) {
            tty.print("\r" + t.text + "\u001b[K\n");
            tty.flush();
        } else if (!t.printed || now - t.shown >= REDRAW_EVERY) {
            t.shown = now;
            t.printed = true;
            StringBuilder line = new StringBuilder("\r");
            tasks.values().forEach(x -> line.append(line.length() > 1 ? " | " : "").append(x.text));
            tty.print(line + "\u001b[K");
            tty.flush();
        }
        if (end) tasks.remove(task);
    }

    /** "layers 12/22 (55%), 3.1 s, ETA 2.5 s", with a bar in front on a terminal. */
    static String describe(String task, long done, long total, String unit, long elapsedNanos, boolean bar) {
        StringBuilder s = new StringBuilder(task).append(' ');
        if (bar) {
            int filled = (int) (BAR * done / total);
            s.append('[').append("#".repeat(filled)).append(".".repeat(BAR - filled)).append("] ");
        }
        boolean bytes = unit.equals("bytes");
        if (bytes && total < 10L << 10) s.append(done).append('/').append(total).append(" B");   // a config file: not 0/0 KiB
        else if (bytes) {
            boolean mib = total >= 10L << 20;   // small files in KiB, so they do not read 0/0
            double u = mib ? 1048576.0 : 1024.0;
            s.append(String.format(Locale.ROOT, "%.0f/%.0f %s", done / u, total / u, mib ? "MiB" : "KiB"));
        }
        else s.append(done).append('/').append(total).append(' ').append(unit);
        double seconds = elapsedNanos / 1e9;
        s.append(String.format(Locale.ROOT, " (%d%%), %.1f s", 100 * done / total, seconds));
        if (done > 0 && done < total) s.append(String.format(Locale.ROOT, ", ETA %.1f s", seconds * (total - done) / done));
        return s.toString();
    }
}
