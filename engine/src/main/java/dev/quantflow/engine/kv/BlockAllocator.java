package dev.quantflow.engine.kv;

import java.util.ArrayDeque;
import java.util.Arrays;

/** The free list of KV blocks. Owned by one thread (the scheduler, or a single generate loop). */
public final class BlockAllocator {
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private final int total;

    public BlockAllocator(int numBlocks) {
        this.total = numBlocks;
        for (int i = 0; i < numBlocks; i++) free.add(i);
    }

    public int total() {
        return total;
    }

    public int free() {
        return free.size();
    }

    public int used() {
        return total - free.size();
    }

    /** A block id, or -1 when none is free. */
    public int allocate() {
        Integer b = free.poll();
        return b == null ? -1 : b;
    }

    public void release(int block) {
        free.push(block);
    }

    /** Grows table (a copy if it must) so it covers positions [0, tokens); null if blocks ran out (nothing allocated then). */
    public int[] ensure(int[] table, int tokens, int blockSize) {
        int need = (tokens + blockSize - 1) / blockSize;
        if (need <= table.length) return table;
        if (need - table.length > free.size()) return null;
        int[] grown = Arrays.copyOf(table, need);
        for (int i = table.length; i < need; i++) grown[i] = allocate();
        return grown;
    }

    public void releaseAll(int[] table) {
        for (int b : table) release(b);
    }
}
