package dev.quantflow.gpu.stage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.llama.BatchRows;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The packed step index the stage's kernels read: what the CPU cache computes per row, and checked before it reaches a card. */
class StepIndexTest {
    static final int BLOCK = 4, BLOCKS = 8, VOCAB = 100;

    /** Sequence A: a prefill chunk at positions 4..6 (blocks 5, 2); sequence B: one decode row at position 9 (blocks 7, 0, 3). */
    static BatchRows mixed() {
        int[] a = {5, 2}, b = {7, 0, 3};
        return new BatchRows(new int[] {11, 12, 13, 14}, new int[] {4, 5, 6, 9}, new int[][] {a, a, a, b});
    }

    static int[] section(StepIndex s, int at, int n) {
        return Arrays.copyOfRange(s.packed(), at, at + n);
    }

    @Test
    void packsPositionsSlotsTablesTokensAndSelectedRows() {
        StepIndex s = StepIndex.of(mixed(), new int[] {2, 3}, BLOCK, BLOCKS, VOCAB);
        assertThat(section(s, s.positionsAt(), 4)).containsExactly(4, 5, 6, 9);
        // slot = table[pos / blockSize] * blockSize + pos % blockSize, as PagedKvCache.token
        assertThat(section(s, s.slotsAt(), 4)).containsExactly(2 * 4, 2 * 4 + 1, 2 * 4 + 2, 3 * 4 + 1);
        assertThat(section(s, s.tokensAt(), 4)).containsExactly(11, 12, 13, 14);
        assertThat(section(s, s.selectedAt(), 2)).containsExactly(2, 3);
        // each sequence's table once; every row points at its own
        assertThat(s.tableInts()).isEqualTo(5);
        int[] offsets = section(s, s.tableOffsetsAt(), 4);
        assertThat(offsets[0]).isEqualTo(offsets[1]).isEqualTo(offsets[2]);
        assertThat(section(s, s.tablesAt() + offsets[0], 2)).containsExactly(5, 2);
        assertThat(section(s, s.tablesAt() + offsets[3], 3)).containsExactly(7, 0, 3);
        assertThat(s.packed()).hasSize(4 * 4 + 2 + 5);
    }

    @Test
    void aStageWithoutEmbeddingOrHeadSkipsTokenChecksAndSelectsNothing() {
        BatchRows rows = new BatchRows(new int[] {-1}, new int[] {0}, new int[][] {{1}});
        StepIndex s = StepIndex.of(rows, new int[0], BLOCK, BLOCKS, 0);
        assertThat(s.selected()).isZero();
        assertThat(s.tableInts()).isEqualTo(1);
    }

    @Test
    void indicesAKernelWouldFollowAreCheckedFirst() {
        int[] table = {1, 9};
        assertThatThrownBy(() -> StepIndex.of(new BatchRows(new int[] {1}, new int[] {5}, new int[][] {table}), new int[0], BLOCK, BLOCKS, VOCAB))
                .hasMessageContaining("block 9 is not one of the KV cache's 8");
        assertThatThrownBy(() -> StepIndex.of(new BatchRows(new int[] {1}, new int[] {8}, new int[][] {{1, 2}}), new int[0], BLOCK, BLOCKS, VOCAB))
                .hasMessageContaining("outside its block table");
        assertThatThrownBy(() -> StepIndex.of(new BatchRows(new int[] {100}, new int[] {0}, new int[][] {{1}}), new int[0], BLOCK, BLOCKS, VOCAB))
                .hasMessageContaining("token id 100 out of range");
        assertThatThrownBy(() -> StepIndex.of(mixed(), new int[] {4}, BLOCK, BLOCKS, VOCAB)).hasMessageContaining("logit row 4");
        // blocks past the position are not read, so they need not be valid yet
        assertThat(StepIndex.of(new BatchRows(new int[] {1}, new int[] {3}, new int[][] {{1, -1}}), new int[0], BLOCK, BLOCKS, VOCAB).tableInts()).isEqualTo(2);
    }
}
