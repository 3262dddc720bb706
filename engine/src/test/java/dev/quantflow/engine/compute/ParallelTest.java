package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelTest {
    @Test
    void everyItemRunsExactlyOnce() {
        for (int n : new int[] {1, 2, 3, 7, 8, 9, 100, 1001}) {
            AtomicIntegerArray hits = new AtomicIntegerArray(n);
            Parallel.range(n, Parallel.MIN_PARALLEL_WORK, (s, e) -> {
                for (int i = s; i < e; i++) hits.incrementAndGet(i);
            });
            for (int i = 0; i < n; i++) assertThat(hits.get(i)).as("n %d item %d", n, i).isEqualTo(1);
        }
    }

    @Test
    void smallWorkAndOneThreadStayOnTheCaller() {
        Set<Thread> seen = ConcurrentHashMap.newKeySet();
        Parallel.range(1000, 1, (s, e) -> seen.add(Thread.currentThread()));
        Parallel.withThreads(1, () -> Parallel.range(1000, Parallel.MIN_PARALLEL_WORK, (s, e) -> seen.add(Thread.currentThread())));
        assertThat(seen).containsExactly(Thread.currentThread());
        assertThat(Parallel.threads()).isGreaterThanOrEqualTo(1);
        Parallel.withThreads(1, () -> assertThat(Parallel.threads()).isEqualTo(1));
    }

    @Test
    void aFailingChunkFailsTheLoopAfterAllChunksEnded() {
        AtomicIntegerArray hits = new AtomicIntegerArray(64);
        assertThatThrownBy(() -> Parallel.range(64, Parallel.MIN_PARALLEL_WORK, (s, e) -> {
            for (int i = s; i < e; i++) hits.incrementAndGet(i);
            if (s == 0) throw new IllegalStateException("boom");
        })).isInstanceOf(IllegalStateException.class).hasMessage("boom");
        for (int i = 0; i < 64; i++) assertThat(hits.get(i)).isEqualTo(1);
    }

    @Test
    void nestedLoopsFinish() {
        AtomicIntegerArray hits = new AtomicIntegerArray(64 * 64);
        Parallel.range(64, Parallel.MIN_PARALLEL_WORK, (s, e) -> {
            for (int i = s; i < e; i++) {
                int row = i;
                Parallel.range(64, Parallel.MIN_PARALLEL_WORK, (a, b) -> {
                    for (int j = a; j < b; j++) hits.incrementAndGet(row * 64 + j);
                });
            }
        });
        for (int i = 0; i < 64 * 64; i++) assertThat(hits.get(i)).isEqualTo(1);
    }
}
