package dev.quantflow.actors.scheduler;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.kv.BlockHash;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The batching policy with prefix caching: what is reused, what is computed, who waits, what stays cached. */
class PrefixCachingBatcherTest {
    private static final BlockHash ROOT = BlockHash.root("test");
    private static final int BS = 4;

    static Sequence seq(long id, int[] prompt) {
        return new Sequence(id, "r" + id, prompt);
    }

    /** shared tokens of a common prefix, then tail tokens of the sequence's own. */
    static int[] prompt(int shared, int tail, int own) {
        return IntStream.range(0, shared + tail).map(i -> i < shared ? 3 + i : 100 * own + i).toArray();
    }

    static ContinuousBatcher batcher(int groups, int maxBatchTokens, int blocks) {
        return new ContinuousBatcher(groups, maxBatchTokens, 8, blocks, BS, ROOT);
    }

    /** Runs sequence s (alone) to the end of its prompt; returns the first step's rows. */
    static int prefill(ContinuousBatcher b, Sequence s, long stepId) {
        b.enqueue(s);
        StepPlan p = b.plan(0, stepId, 0).orElseThrow();
        b.complete(p.step().id(), 0);
        return p.rows();
    }

    @Test
    void aLaterPromptReusesEveryCachedFullBlockAndComputesTheRest() {
        ContinuousBatcher b = batcher(1, 100, 32);
        Sequence first = seq(1, prompt(10, 0, 1));
        assertThat(prefill(b, first, 1)).isEqualTo(10);
        b.release(first);
        assertThat(b.blocksUsed()).isZero();
        assertThat(b.cachedBlocks()).isEqualTo(2);   // 2 full blocks of 10 tokens

        Sequence second = seq(2, prompt(10, 5, 2));   // the same 10 tokens, then 5 of its own
        b.enqueue(second);
        StepPlan p = b.plan(0, 2, 0).orElseThrow();
        assertThat(p.rows()).isEqualTo(15 - 8);
        assertThat(p.step().rows().positions()[0]).isEqualTo(8);
        assertThat(Arrays.copyOf(second.blockTable, 2)).containsExactly(Arrays.copyOf(p.step().rows().blockTables()[0], 2));
        assertThat(b.prefixQueryTokens()).isEqualTo(10 + 15);
        assertThat(b.prefixHitTokens()).isEqualTo(8);
    }

    @Test
    void theLastPromptTokenIsAlwaysComputedEvenWhenEveryBlockIsCached() {
        ContinuousBatcher b = batcher(1, 100, 32);
        Sequence first = seq(1, prompt(8, 0, 1));
        prefill(b, first, 1);
        b.release(first);
        Sequence again = seq(2, prompt(8, 0, 1));   // exactly 2 blocks: only the first is taken, the second recomputed for the last token's logits
        b.enqueue(again);
        StepPlan p = b.plan(0, 2, 0).orElseThrow();
        assertThat(p.rows()).isEqualTo(4);
        assertThat(p.step().logitSequences()).containsExactly(2L);
        assertThat(b.prefixHitTokens()).isEqualTo(4);

        Sequence shorter = seq(3, prompt(3, 0, 1));   // less than a block: nothing to share
        b.enqueue(shorter);
        b.complete(p.step().id(), 0);
        assertThat(b.plan(0, 3, 0).orElseThrow().items()).anySatisfy(it -> {
            assertThat(it.sequence().id).isEqualTo(3L);
            assertThat(it.tokens()).isEqualTo(3);
        });
    }

    @Test
    void aSequenceWaitsForTheBlocksAnotherRunningSequenceIsComputingThenSharesThem() {
        ContinuousBatcher b = batcher(1, 100, 32);
        Sequence a = seq(1, prompt(12, 2, 1)), c = seq(2, prompt(12, 3, 2)), other = seq(3, prompt(0, 6, 3));
        b.enqueue(a);
        b.enqueue(c);
        b.enqueue(other);
        StepPlan p = b.plan(0, 1, 0).orElseThrow();
        assertThat(p.items()).extracting(it -> it.sequence().id).containsExactly(1L, 3L);   // c waits for a's blocks; other goes ahead
        assertThat(b.waiting()).isEqualTo(1);
        b.complete(p.step().id(), 0);
        a.append(50);
        other.append(51);
        StepPlan q = b.plan(0, 2, 0).orElseThrow();
        Sequence admitted = q.items().get(q.items().size() - 1).sequence();
        assertThat(admitted).isSameAs(c);
        assertThat(q.items().get(q.items().size() - 1).tokens()).isEqualTo(15 - 12);
        assertThat(Arrays.copyOf(c.blockTable, 3)).containsExactly(Arrays.copyOf(a.blockTable, 3));
        assertThat(b.blocksUsed()).isEqualTo(4 + 2 + 1);   // a: 4 (3 shared), other: 2, c: 1 of its own
    }

    @Test
    void aSequenceDoesNotWaitForAPrefixWhoseOwnerWasPreempted() {
        ContinuousBatcher b = batcher(1, 6, 32);   // a computes its 12 shared tokens in chunks of 6
        Sequence a = seq(1, prompt(12, 1, 1)), c = seq(2, prompt(12, 1, 2));
        b.enqueue(a);
        b.enqueue(c);
        StepPlan p = b.plan(0, 1, 0).orElseThrow();
        assertThat(p.items()).hasSize(1);
        b.complete(p.step().id(), 0);   // a computed block 0 (and half of block 1)
        b.preempt(a);                   // a leaves the running set: nobody computes block 1 any more
        StepPlan q = b.plan(0, 2, 0).orElseThrow();
        assertThat(q.items()).extracting(it -> it.sequence().id).containsExactly(1L);   // a, first in line again, reuses its block 0
        assertThat(q.step().rows().positions()[0]).isEqualTo(4);
    }

    @Test
    void chunkedPrefillRegistersBlocksAsTheyAreComputedAndDecodedBlocksAreCachedToo() {
        ContinuousBatcher b = batcher(1, 5, 32);
        Sequence a = seq(1, prompt(11, 0, 1));
        b.enqueue(a);
        for (long step = 1; a.computed < 11; step++) b.complete(b.plan(0, step, 0).orElseThrow().step().id(), 0);
        assertThat(b.cachedBlocks()).isEqualTo(2);
        a.append(60);
        b.complete(b.plan(0, 10, 0).orElseThrow().step().id(), 0);   // position 11: the third block is full
        assertThat(b.cachedBlocks()).isEqualTo(3);
        b.release(a);
        int[] grown = Arrays.copyOf(prompt(11, 0, 1), 13);
        grown[11] = 60;
        grown[12] = 61;
        Sequence continued = seq(2, grown);
        b.enqueue(continued);
        assertThat(b.plan(0, 11, 0).orElseThrow().rows()).isEqualTo(1);   // 12 of 13 tokens cached
    }

    @Test
    void aPreemptedSequenceIsRecomputedFromItsOwnCachedBlocks() {
        ContinuousBatcher b = batcher(1, 100, 3);
        Sequence old = seq(1, prompt(0, 4, 1)), young = seq(2, prompt(0, 8, 2));
        b.enqueue(old);
        b.enqueue(young);
        b.complete(b.plan(0, 1, 0).orElseThrow().step().id(), 0);
        old.append(9);
        young.append(9);
        StepPlan p = b.plan(0, 2, 0).orElseThrow();   // old needs a 2nd block: young (2 blocks, both cached) is preempted
        assertThat(p.items()).extracting(it -> it.sequence().id).containsExactly(1L);
        assertThat(young.computed).isZero();
        b.complete(p.step().id(), 0);
        b.release(old);
        StepPlan again = b.plan(0, 3, 0).orElseThrow();
        // old's new block evicted young's deepest block (freed first); its first block survived
        assertThat(again.rows()).as("young's 9 tokens: the first 4 cached").isEqualTo(5);
        assertThat(again.step().rows().positions()[0]).isEqualTo(4);
    }

    @Test
    void underASmallBudgetFreedCachedBlocksAreEvictedAndEverythingIsFreeAtIdle() {
        ContinuousBatcher b = batcher(1, 100, 4);
        for (int i = 0; i < 6; i++) {
            Sequence s = seq(i, prompt(0, 9, i));   // 3 blocks each, of 4: every admission evicts
            prefill(b, s, i + 1);
            b.release(s);
            assertThat(b.blocksUsed()).isZero();
        }
        assertThat(b.cachedBlocks()).isLessThanOrEqualTo(4);
        assertThat(b.blocksTotal()).isEqualTo(4);
    }

    @Test
    void aStepPlannedBeforeAStageLostItsKvCachesNothingAndForgettingClearsTheCache() {
        ContinuousBatcher b = batcher(1, 100, 32);
        Sequence a = seq(1, prompt(8, 1, 1));
        b.enqueue(a);
        StepPlan p = b.plan(0, 1, 0).orElseThrow();
        b.complete(p.step().id(), 1);   // the scheduler is in epoch 1 now: the step's KV is gone on the restarted stage
        assertThat(b.cachedBlocks()).isZero();
        b.release(a);

        Sequence c = seq(2, prompt(8, 1, 2));
        prefill(b, c, 2);
        assertThat(b.cachedBlocks()).isEqualTo(2);
        b.forgetPrefixCache();
        assertThat(b.cachedBlocks()).isZero();
        b.release(c);
        assertThat(b.blocksUsed()).isZero();
    }

    @Test
    void endingOneOfTwoSharersKeepsTheSharedBlocksForTheOther() {
        ContinuousBatcher b = batcher(1, 100, 32);
        Sequence a = seq(1, prompt(8, 2, 1)), c = seq(2, prompt(8, 3, 2));
        prefill(b, a, 1);
        b.enqueue(c);
        StepPlan p = b.plan(0, 2, 0).orElseThrow();   // a decodes nothing yet (no token appended); c takes a's 2 blocks
        assertThat(p.items()).extracting(it -> it.sequence().id).containsExactly(2L);
        assertThat(Arrays.copyOf(c.blockTable, 2)).containsExactly(Arrays.copyOf(a.blockTable, 2));
        b.release(a);   // cancelled while c uses the shared blocks
        assertThat(b.blocksUsed()).isEqualTo(3);   // c: 2 shared + 1 of its own; a's own third block is free
        b.complete(p.step().id(), 0);
        b.release(c);
        assertThat(b.blocksUsed()).isZero();
        assertThat(b.cachedBlocks()).isEqualTo(2);
    }

    @Test
    void withCachingOffNothingIsSharedOrCounted() {
        ContinuousBatcher b = new ContinuousBatcher(1, 100, 8, 32, BS);
        Sequence first = seq(1, prompt(10, 0, 1));
        prefill(b, first, 1);
        b.release(first);
        Sequence second = seq(2, prompt(10, 0, 1));
        b.enqueue(second);
        assertThat(b.plan(0, 2, 0).orElseThrow().rows()).isEqualTo(10);
        assertThat(b.cachedBlocks()).isZero();
        assertThat(b.prefixQueryTokens()).isZero();
    }
}
