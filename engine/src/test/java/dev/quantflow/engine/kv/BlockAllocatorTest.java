package dev.quantflow.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The block manager alone: the hash chain, reference counts, LRU eviction of freed cached blocks, no leaks. */
class BlockAllocatorTest {
    private static final BlockHash ROOT = BlockHash.root("test");

    @Test
    void aBlockHashCoversEveryTokenBeforeItAndTheRoot() {
        int[] a = {1, 2, 3, 4, 5, 6, 7, 8}, b = {9, 2, 3, 4, 5, 6, 7, 8};
        BlockHash a0 = ROOT.next(a, 0, 4), a1 = a0.next(a, 4, 8);
        BlockHash b0 = ROOT.next(b, 0, 4), b1 = b0.next(b, 4, 8);
        assertThat(a0.next(a, 4, 8)).isEqualTo(a1);                          // deterministic
        assertThat(b1).isNotEqualTo(a1);                                     // same tokens in block 1, different before it
        assertThat(BlockHash.root("other").next(a, 0, 4)).isNotEqualTo(a0);  // another KV format or model: another chain
        assertThat(ROOT.next(new int[] {1, 2, 3, 5}, 0, 4)).isNotEqualTo(a0);
    }

    @Test
    void referenceCountsShareABlockAndTheLastReleaseFreesIt() {
        BlockAllocator blocks = new BlockAllocator(4);
        int b = blocks.allocate();
        BlockHash h = ROOT.next(new int[] {1, 2}, 0, 2);
        assertThat(blocks.register(b, h)).isTrue();
        assertThat(blocks.lookup(h)).isEqualTo(b);
        blocks.acquire(b);
        assertThat(blocks.refCount(b)).isEqualTo(2);
        assertThat(blocks.used()).isEqualTo(1);
        blocks.release(b);
        assertThat(blocks.used()).isEqualTo(1);
        blocks.release(b);
        assertThat(blocks.used()).isZero();
        assertThat(blocks.lookup(h)).as("freed, still cached").isEqualTo(b);
        blocks.acquire(b);   // a hit on a free cached block takes it back
        assertThat(blocks.used()).isEqualTo(1);
        assertThat(blocks.free()).isEqualTo(3);
        blocks.release(b);
        assertThatThrownBy(() -> blocks.release(b)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void contentCachedTwiceKeepsTheFirstBlock() {
        BlockAllocator blocks = new BlockAllocator(4);
        BlockHash h = ROOT.next(new int[] {5}, 0, 1);
        int first = blocks.allocate(), second = blocks.allocate();
        assertThat(blocks.register(first, h)).isTrue();
        assertThat(blocks.register(second, h)).isFalse();
        blocks.release(second);
        blocks.release(first);
        assertThat(blocks.cachedBlocks()).isEqualTo(1);
        assertThat(blocks.lookup(h)).isEqualTo(first);
    }

    @Test
    void neverHashedBlocksGoFirstThenCachedOnesLeastRecentlyFreedFirst() {
        BlockAllocator blocks = new BlockAllocator(4);
        int[] ids = new int[4];
        BlockHash[] hs = new BlockHash[3];
        for (int i = 0; i < 4; i++) ids[i] = blocks.allocate();
        for (int i = 0; i < 3; i++) blocks.register(ids[i], hs[i] = ROOT.next(new int[] {i}, 0, 1));
        blocks.release(ids[1]);   // freed order: 1, 2, 0 (LRU), then 3 (never hashed)
        blocks.release(ids[2]);
        blocks.release(ids[0]);
        blocks.release(ids[3]);
        assertThat(blocks.allocate()).as("an uncached block before evicting").isEqualTo(ids[3]);
        assertThat(blocks.allocate()).isEqualTo(ids[1]);
        assertThat(blocks.lookup(hs[1])).as("evicted").isEqualTo(-1);
        assertThat(blocks.lookup(hs[2])).isEqualTo(ids[2]);
        blocks.acquire(ids[2]);   // a hit makes it unevictable, and more recent once freed again
        blocks.release(ids[2]);
        assertThat(blocks.allocate()).isEqualTo(ids[0]);
        assertThat(blocks.allocate()).isEqualTo(ids[2]);
        assertThat(blocks.allocate()).isEqualTo(-1);
        assertThat(blocks.evictions()).isEqualTo(3);
        assertThat(blocks.cachedBlocks()).isZero();
    }

    @Test
    void aReleasedTableFreesItsDeepestBlocksFirstSoTheyAreEvictedFirst() {
        BlockAllocator blocks = new BlockAllocator(3);
        int[] table = blocks.ensure(new int[0], 3 * 4, 4);
        int[] tokens = new int[12];
        BlockHash h = ROOT;
        for (int i = 0; i < 3; i++) blocks.register(table[i], h = h.next(tokens, 4 * i, 4 * i + 4));
        blocks.releaseAll(table);
        assertThat(blocks.allocate()).isEqualTo(table[2]);
        assertThat(blocks.allocate()).isEqualTo(table[1]);
        assertThat(blocks.allocate()).isEqualTo(table[0]);
    }

    @Test
    void clearingTheCacheForgetsAllContent() {
        BlockAllocator blocks = new BlockAllocator(2);
        int a = blocks.allocate(), b = blocks.allocate();
        BlockHash ha = ROOT.next(new int[] {1}, 0, 1), hb = ROOT.next(new int[] {2}, 0, 1);
        blocks.register(a, ha);
        blocks.register(b, hb);
        blocks.release(a);
        blocks.clearCache();
        assertThat(blocks.lookup(ha)).isEqualTo(-1);
        assertThat(blocks.lookup(hb)).isEqualTo(-1);
        assertThat(blocks.free()).isEqualTo(1);
        blocks.release(b);
        assertThat(blocks.free()).isEqualTo(2);
        assertThat(blocks.cachedBlocks()).isZero();
    }

    /** Random sequences sharing random prefixes: every block is referenced exactly as often as tables hold it, and all are free at the end. */
    @Test
    void randomSharingNeverLeaksOrDoubleFreesABlock() {
        Random rnd = new Random(7);
        int n = 24, bs = 4;
        BlockAllocator blocks = new BlockAllocator(n);
        List<int[]> tables = new ArrayList<>();
        for (int round = 0; round < 2000; round++) {
            if (!tables.isEmpty() && (rnd.nextBoolean() || blocks.free() == 0)) {
                blocks.releaseAll(tables.remove(rnd.nextInt(tables.size())));
            } else {
                int[] prompt = new int[bs * (1 + rnd.nextInt(4))];
                for (int i = 0; i < prompt.length; i++) prompt[i] = i < bs ? rnd.nextInt(2) : rnd.nextInt(3);
                List<Integer> table = new ArrayList<>();
                BlockHash h = ROOT;
                boolean hitting = true;
                for (int k = 0; k < prompt.length / bs; k++) {
                    h = h.next(prompt, k * bs, k * bs + bs);
                    int b = hitting ? blocks.lookup(h) : -1;
                    if (b >= 0) blocks.acquire(b);
                    else {
                        hitting = false;
                        b = blocks.allocate();
                        if (b < 0) break;
                        blocks.register(b, h);
                    }
                    table.add(b);
                }
                tables.add(table.stream().mapToInt(Integer::intValue).toArray());
            }
            int[] expected = new int[n];
            for (int[] t : tables) for (int b : t) expected[b]++;
            Set<Integer> referenced = new HashSet<>();
            for (int b = 0; b < n; b++) {
                assertThat(blocks.refCount(b)).isEqualTo(expected[b]);
                if (expected[b] > 0) referenced.add(b);
            }
            assertThat(blocks.used()).isEqualTo(referenced.size());
        }
        tables.forEach(blocks::releaseAll);
        assertThat(blocks.used()).isZero();
        assertThat(blocks.free()).isEqualTo(n);
    }
}
