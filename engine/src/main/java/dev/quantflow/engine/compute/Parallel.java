package dev.quantflow.engine.compute;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Splits a loop over [0, n) across the cores. Small loops run on the caller: on 2 cores a fork
 * costs microseconds, more than a 64x64 matvec.
 *
 * <p>The range is cut into a few chunks per thread that the caller and the helpers claim from a
 * shared counter, so when the machine is busy and a helper is not scheduled in time, the caller
 * does its share instead of waiting for it; a helper that starts late finds nothing left. The
 * caller parks (never spins) only for chunks another thread has already begun.
 */
public final class Parallel {
    private static final int THREADS = Integer.getInteger("quantflow.threads", Runtime.getRuntime().availableProcessors());
    private static final ForkJoinPool POOL = new ForkJoinPool(Math.max(1, THREADS));
    private static final int CHUNKS_PER_THREAD = 4;

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

    /** Runs body over [0, n) on up to threads() threads, in contiguous chunks; workPerItem decides whether to split. */
    public static void range(int n, long workPerItem, RangeBody body) {
        int threads = (int) Math.min(threads(), Math.max(1, n * workPerItem / MIN_PARALLEL_WORK));
        threads = Math.min(threads, n);
        if (threads <= 1) {
            body.run(0, n);
            return;
        }
        new Split(n, Math.min(n, threads * CHUNKS_PER_THREAD), body).run(threads - 1);
    }

    /** One parallel loop: chunks claimed in order from a counter, completion counted down. */
    private static final class Split implements Runnable {
        private final int n, chunks;
        private final RangeBody body;
        private final AtomicInteger next = new AtomicInteger();
        private final CountDownLatch done;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();

        Split(int n, int chunks, RangeBody body) {
            this.n = n;
            this.chunks = chunks;
            this.body = body;
            this.done = new CountDownLatch(chunks);
        }

        void run(int helpers) {
            for (int h = 0; h < helpers; h++) POOL.execute(this);
            run();
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for a parallel loop", e);
            }
            Throwable t = failure.get();
            if (t instanceof RuntimeException re) throw re;
            if (t instanceof Error err) throw err;
            if (t != null) throw new IllegalStateException(t);
        }

        @Override
        public void run() {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                try {
                    body.run((int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    done.countDown();
                }
            }
        }
    }
}
