package dev.quantflow.engine.kv;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;

/**
 * The KV blocks: reference counts, the free list and the prefix cache (vLLM's automatic prefix
 * caching). A block whose content is known by its {@link BlockHash} can be shared by every
 * sequence whose prompt starts with the same tokens; when its last reference goes it stays cached
 * (evictable) and is reused only when no never-hashed free block is left, least recently freed
 * first. Owned by one thread (the scheduler, or a single generate loop).
 */
public final class BlockAllocator {
    private final int total;
    private final int[] refs;
    private final BlockHash[] hashOf;                              // the content of a cached block, else null
    private final Map<BlockHash, Integer> cached = new HashMap<>(); // content -> its block
    private final ArrayDeque<Integer> free = new ArrayDeque<>();   // unreferenced, not cached
    private final LinkedHashSet<Integer> evictable = new LinkedHashSet<>();   // unreferenced, cached; oldest first
    private long evictions;

    public BlockAllocator(int numBlocks) {
        this.total = numBlocks;
        this.refs = new int[numBlocks];
        this.hashOf = new BlockHash[numBlocks];
        for (int i = 0; i < numBlocks; i++) free.add(i);
    }

    public int total() {
        return total;
    }

    /** Blocks no sequence references (cached ones included: they are reused when needed). */
    public int free() {
        return free.size() + evictable.size();
    }

    /** Blocks some sequence references. */
    public int used() {
        return total - free();
    }

    /** Blocks whose content is in the prefix cache (referenced or not). */
    public int cachedBlocks() {
        return cached.size();
    }

    /** Cached blocks reused for other content since start. */
    public long evictions() {
        return evictions;
    }

    public int refCount(int block) {
        return refs[block];
    }

    /** A block id with one reference, or -1 when none is free: a never-hashed one first, else the least recently freed cached one. */
    public int allocate() {
        Integer b = free.poll();
        if (b == null) {
            Iterator<Integer> oldest = evictable.iterator();
            if (!oldest.hasNext()) return -1;
            b = oldest.next();
            oldest.remove();
            cached.remove(hashOf[b]);
            hashOf[b] = null;
            evictions++;
        }
        refs[b] = 1;
        return b;
    }

    /** Drops one reference; the last one frees the block (kept in the prefix cache if it is hashed). */
    public void release(int block) {
        if (refs[block] <= 0) throw new IllegalStateException("block " + block + " released more often than referenced");
        if (--refs[block] > 0) return;
        if (hashOf[block] != null) evictable.add(block);   // the most recently freed: evicted last
        else free.push(block);
    }

    /** The cached block holding this content, or -1. Takes no reference: see {@link #acquire}. */
    public int lookup(BlockHash h) {
        return cached.getOrDefault(h, -1);
    }

    /** One more reference to a cached block (a prefix-cache hit); an unreferenced one stops being evictable. */
    public void acquire(int block) {
        if (hashOf[block] == null) throw new IllegalStateException("block " + block + " is not cached");
        if (refs[block]++ == 0) evictable.remove(block);
    }

    /**
     * The referenced block's KV now holds the content h: later lookups find it. False when the
     * content is cached already in another block (that one stays; this one frees as uncached).
     */
    public boolean register(int block, BlockHash h) {
        if (refs[block] <= 0) throw new IllegalStateException("block " + block + " is not referenced");
        if (hashOf[block] != null) return hashOf[block].equals(h);
        if (cached.putIfAbsent(h, block) != null) return false;
        hashOf[block] = h;
        return true;
    }

    /** Forgets every cached content (a stage lost its KV): unreferenced cached blocks become plain free blocks. */
    public void clearCache() {
        cached.clear();
        Arrays.fill(hashOf, null);
        free.addAll(evictable);
        evictable.clear();
    }

    /** Grows table (a copy if it must) so it covers positions [0, tokens); null if blocks ran out (nothing allocated then). */
    public int[] ensure(int[] table, int tokens, int blockSize) {
        int need = (tokens + blockSize - 1) / blockSize;
        if (need <= table.length) return table;
        if (need - table.length > free()) return null;
        int[] grown = Arrays.copyOf(table, need);
        for (int i = table.length; i < need; i++) grown[i] = allocate();
        return grown;
    }

    /** Drops the table's references, last block first: of a freed prefix, the deepest blocks are evicted first, as in vLLM. */
    public void releaseAll(int[] table) {
        for (int i = table.length - 1; i >= 0; i--) release(table[i]);
    }
}
