package dev.quantflow.actors.scheduler;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The batching policy alone: budgets, chunked prefill, admission, preemption, groups. */
class ContinuousBatcherTest {
    static Sequence seq(long id, int promptTokens) {
        return new Sequence(id, "r" + id, IntStream.range(0, promptTokens).map(i -> 3 + i).toArray());
    }

    @Test
    void aLongPromptIsPrefilledInChunksAndOnlyTheLastChunkAsksForLogits() {
        ContinuousBatcher b = new ContinuousBatcher(1, 8, 4, 16, 4);
        Sequence s = seq(1, 20);
        b.enqueue(s);
        int[] chunkRows = new int[3];
        for (int i = 0; i < 3; i++) {
            StepPlan p = b.plan(0, i, 0).orElseThrow();
            chunkRows[i] = p.rows();
            assertThat(p.step().rows().positions()[0]).isEqualTo(8 * i);
            assertThat(p.step().logitRows()).hasSize(i == 2 ? 1 : 0);
            b.complete(p.step().id());
        }
        assertThat(chunkRows).containsExactly(8, 8, 4);
        assertThat(s.computed).isEqualTo(20);
        assertThat(b.blocksUsed()).isEqualTo(5);
        s.append(42);
        StepPlan decode = b.plan(0, 3, 0).orElseThrow();
        assertThat(decode.step().rows().tokens()).containsExactly(42);
        assertThat(decode.step().rows().positions()).containsExactly(20);
        assertThat(decode.step().logitSequences()).containsExactly(1L);
    }

    @Test
    void decodeTokensAndAPrefillChunkShareAStepUnderTheTokenBudget() {
        ContinuousBatcher b = new ContinuousBatcher(1, 6, 4, 32, 4);
        Sequence a = seq(1, 3), c = seq(2, 10);
        b.enqueue(a);
        b.complete(b.plan(0, 1, 0).orElseThrow().step().id());
        a.append(7);
        b.enqueue(c);
        StepPlan p = b.plan(0, 2, 0).orElseThrow();
        assertThat(p.items()).extracting(StepPlan.Scheduled::tokens).containsExactly(1, 5);   // a decodes, c prefills 5 of 10
        assertThat(p.step().logitSequences()).containsExactly(1L);
        assertThat(b.running()).isEqualTo(2);
    }

    @Test
    void admissionStopsAtTheSequenceLimitAndWhenBlocksRunOut() {
        ContinuousBatcher b = new ContinuousBatcher(1, 100, 2, 100, 4);
        for (int i = 0; i < 3; i++) b.enqueue(seq(i, 4));
        assertThat(b.plan(0, 1, 0).orElseThrow().items()).hasSize(2);
        assertThat(b.waiting()).isEqualTo(1);

        ContinuousBatcher small = new ContinuousBatcher(1, 100, 8, 3, 4);
        small.enqueue(seq(1, 8));
        small.enqueue(seq(2, 8));
        StepPlan p = small.plan(0, 1, 0).orElseThrow();
        assertThat(p.items()).hasSize(1);   // the second needs 2 blocks, 1 is free: it waits
        assertThat(small.waiting()).isEqualTo(1);
        assertThat(small.blocksUsed()).isEqualTo(2);
    }

    @Test
    void aSequenceThatCannotGrowPreemptsTheLatestAdmittedOneWhichIsRecomputedLater() {
        ContinuousBatcher b = new ContinuousBatcher(1, 100, 8, 2, 4);
        Sequence old = seq(1, 4), young = seq(2, 4);
        b.enqueue(old);
        b.enqueue(young);
        b.complete(b.plan(0, 1, 0).orElseThrow().step().id());
        assertThat(b.blocksUsed()).isEqualTo(2);
        old.append(9);
        young.append(9);
        StepPlan p = b.plan(0, 2, 0).orElseThrow();   // old needs a 3rd block: young is preempted
        assertThat(p.items()).extracting(it -> it.sequence().id).containsExactly(1L);
        assertThat(young.computed).isZero();
        assertThat(young.preemptions).isEqualTo(1);
        assertThat(b.waiting()).isEqualTo(1);
        assertThat(b.preemptions()).isEqualTo(1);
        b.complete(p.step().id());
        b.release(old);
        StepPlan again = b.plan(0, 3, 0).orElseThrow();   // young is recomputed from all its 5 tokens
        assertThat(again.rows()).isEqualTo(5);
        assertThat(again.step().rows().tokens()[4]).isEqualTo(9);
        assertThat(again.step().logitSequences()).containsExactly(2L);
    }

    @Test
    void withTwoGroupsSequencesSplitAndEachGroupHasOneStepInFlight() {
        ContinuousBatcher b = new ContinuousBatcher(2, 100, 8, 64, 4);
        for (int i = 0; i < 4; i++) b.enqueue(seq(i, 3));
        StepPlan g0 = b.plan(0, 1, 0).orElseThrow();
        StepPlan g1 = b.plan(1, 2, 0).orElseThrow();
        assertThat(g0.items()).hasSize(2);
        assertThat(g1.items()).hasSize(2);
        assertThat(b.busy(0)).isTrue();
        assertThat(b.inFlightSteps()).isEqualTo(2);
        b.abandon(g0.step().id());
        assertThat(b.busy(0)).isFalse();
        assertThat(b.preemptAllIdle()).hasSize(2);   // the in-flight group keeps its blocks
        assertThat(b.running()).isEqualTo(2);
    }
}
