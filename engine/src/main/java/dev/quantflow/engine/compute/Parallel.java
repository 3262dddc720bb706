package dev.quantflow.engine.compute;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/**
 * Splits a loop over [0, n) across the cores. Small loops run on the caller: on 2 cores a fork
 * costs microseconds, more than a 64x64 matvec. Waiting threads park (join), never spin.
 */
public final class Parallel {
    private static final int THREADS = Integer.getInteger("quantflow.threads", Runtime.getRuntime().availableProcessors());
    private static final ForkJoinPool POOL = new ForkJoinPool(Math.max(1, THREADS));

    /** Below this much work (multiply-adds) a loop is not split. */
    public static final long MIN_PARALLEL_WORK = 1 << 16;

    private Parallel() {}

    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    /** Limits the threads range() uses while body runs on this thread (benchmarks: one core vs all). */
    private static final ScopedValue<Integer> LIMIT = ScopedValue.newInstance();

    public static int threads() {
        return LIMIT.isBound() ? Math.min(THREADS, LIMIT.get()) : THREADS;
    }

    /** Runs body with range() splitting over at most n threads (n = 1: everything on the caller). */
    public static void withThreads(int n, Runnable body) {
        ScopedValue.where(LIMIT, Math.max(1, n)).run(body);
    }

    /** Runs body over [0, n) in up to threads() contiguous chunks; workPerItem decides whether to split. */
    public static void range(int n, long workPerItem, RangeBody body) {
        int chunks = (int) Math.min(threads(), Math.max(1, n * workPerItem / MIN_PARALLEL_WORK));
        chunks = Math.min(chunks, n);
        if (chunks <= 1) {
            body.run(0, n);
            return;
        }
        @SuppressWarnings("unchecked")
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[chunks - 1];
        for (int c = 1; c < chunks; c++) {
            int s = (int) ((long) n * c / chunks), e = (int) ((long) n * (c + 1) / chunks);
            tasks[c - 1] = POOL.submit(() -> body.run(s, e));
        }
        body.run(0, (int) ((long) n / chunks));
        for (ForkJoinTask<?> t : tasks) t.join();
    }
}
