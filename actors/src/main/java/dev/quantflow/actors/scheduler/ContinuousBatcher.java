package dev.quantflow.actors.scheduler;

import dev.quantflow.actors.protocol.Step;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.llama.BatchRows;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The batching policy, iteration-level as in Orca/vLLM: a waiting queue, a running set and the KV
 * block allocator. Each step of a group takes, oldest first, as many pending tokens of its running
 * sequences as the token budget allows (one for a decoding sequence, a chunk for a prefilling
 * one), then admits waiting sequences first-come-first-served while blocks, the token budget and
 * the sequence limit allow. A sequence that cannot get a block preempts the latest admitted
 * sequence that is not in flight (possibly itself): its blocks are freed and it is recomputed
 * later. Running sequences are split into groups, one step in flight per group, so that with S
 * pipeline stages S micro-batches overlap.
 *
 * <p>Plain single-threaded state: only the scheduler actor touches it.
 */
final class ContinuousBatcher {
    private final int groups, maxBatchTokens, maxSequences, blockSize;
    private final BlockAllocator blocks;
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();   // admission order
    private final int[] groupSize;
    private final StepPlan[] inFlight;
    private long admissions, preemptions;

    ContinuousBatcher(int groups, int maxBatchTokens, int maxSequences, int kvBlocks, int blockSize) {
        this.groups = groups;
        this.maxBatchTokens = maxBatchTokens;
        this.maxSequences = maxSequences;
        this.blockSize = blockSize;
        this.blocks = new BlockAllocator(kvBlocks);
        this.groupSize = new int[groups];
        this.inFlight = new StepPlan[groups];
    }

    void enqueue(Sequence s) {
        s.state = Sequence.State.WAITING;
        waiting.addLast(s);
    }

    boolean busy(int group) {
        return inFlight[group] != null;
    }

    /** Plans the next step of an idle group, or nothing when the group has no work. */
    Optional<StepPlan> plan(int group, long stepId, long epoch) {
        if (busy(group)) throw new IllegalStateException("group " + group + " already has a step in flight");
        int budget = maxBatchTokens;
        List<StepPlan.Scheduled> items = new ArrayList<>();
        boolean preempted = false;
        for (Sequence s : List.copyOf(running)) {
            if (budget == 0) break;
            if (s.group != group || s.inFlight || s.state != Sequence.State.RUNNING) continue;
            int n = Math.min(s.pending(), budget);
            if (n <= 0) continue;
            while (!grow(s, s.computed + n)) {
                Sequence victim = latestPreemptable();
                preempt(victim);
                preempted = true;
                if (victim == s) break;
            }
            if (s.state != Sequence.State.RUNNING) continue;
            items.add(new StepPlan.Scheduled(s, n));
            budget -= n;
        }
        if (!preempted) {   // as vLLM: no admissions in a step that had to preempt, or they would thrash
            int target = ceilDiv(Math.min(maxSequences, running.size() + waiting.size()), groups);
            while (!waiting.isEmpty() && budget > 0 && running.size() < maxSequences && groupSize[group] < target) {
                Sequence s = waiting.peekFirst();
                int n = Math.min(s.pending(), budget);
                if (!grow(s, s.computed + n)) break;
                waiting.pollFirst();
                s.state = Sequence.State.RUNNING;
                s.group = group;
                s.admission = ++admissions;
                running.add(s);
                groupSize[group]++;
                items.add(new StepPlan.Scheduled(s, n));
                budget -= n;
            }
        }
        if (items.isEmpty()) return Optional.empty();
        StepPlan plan = new StepPlan(build(stepId, group, epoch, items), List.copyOf(items), System.nanoTime());
        for (StepPlan.Scheduled it : items) it.sequence().inFlight = true;
        inFlight[group] = plan;
        return Optional.of(plan);
    }

    private static Step build(long stepId, int group, long epoch, List<StepPlan.Scheduled> items) {
        int rows = items.stream().mapToInt(StepPlan.Scheduled::tokens).sum();
        int[] tokens = new int[rows], positions = new int[rows];
        int[][] tables = new int[rows][];
        List<Integer> logitRows = new ArrayList<>();
        List<Long> logitSeqs = new ArrayList<>();
        int r = 0;
        for (StepPlan.Scheduled it : items) {
            Sequence s = it.sequence();
            for (int i = 0; i < it.tokens(); i++, r++) {
                tokens[r] = s.token(s.computed + i);
                positions[r] = s.computed + i;
                tables[r] = s.blockTable;
                // prompt logprobs: row p's logits score prompt token p + 1 (the sampler reads the row's position)
                if (s.promptLogprobs && positions[r] < s.promptTokens - 1) {
                    logitRows.add(r);
                    logitSeqs.add(s.id);
                }
            }
            if (s.computed + it.tokens() == s.length()) {   // caught up: the last row's logits give the next token
                logitRows.add(r - 1);
                logitSeqs.add(s.id);
            }
        }
        return new Step(stepId, group, epoch, new BatchRows(tokens, positions, tables),
                logitRows.stream().mapToInt(Integer::intValue).toArray(), logitSeqs.stream().mapToLong(Long::longValue).toArray());
    }

    /** The step of this id came back computed: its sequences advance. */
    StepPlan complete(long stepId) {
        StepPlan p = take(stepId);
        for (StepPlan.Scheduled it : p.items()) it.sequence().computed += it.tokens();
        return p;
    }

    /** The step of this id came back without results (dropped or failed): nothing advanced. */
    StepPlan abandon(long stepId) {
        return take(stepId);
    }

    private StepPlan take(long stepId) {
        for (int g = 0; g < groups; g++) {
            StepPlan p = inFlight[g];
            if (p != null && p.step().id() == stepId) {
                inFlight[g] = null;
                for (StepPlan.Scheduled it : p.items()) it.sequence().inFlight = false;
                return p;
            }
        }
        throw new IllegalStateException("no step " + stepId + " in flight");
    }

    boolean hasStep(long stepId) {
        for (StepPlan p : inFlight) if (p != null && p.step().id() == stepId) return true;
        return false;
    }

    /** The sequence ended (finished, cancelled, failed): it leaves now and its blocks are free at once. */
    void release(Sequence s) {
        if (s.inFlight) throw new IllegalStateException("sequence " + s.id + " is in flight");
        if (s.state == Sequence.State.RUNNING) {
            running.remove(s);
            groupSize[s.group]--;
        } else if (s.state == Sequence.State.WAITING) {
            waiting.remove(s);
        }
        freeBlocks(s);
        s.state = Sequence.State.ENDED;
    }

    /** Frees the blocks of a running sequence and puts it at the front of the queue; it is recomputed from its tokens later. */
    void preempt(Sequence s) {
        if (s.inFlight || s.state != Sequence.State.RUNNING) throw new IllegalStateException("cannot preempt sequence " + s.id);
        running.remove(s);
        groupSize[s.group]--;
        freeBlocks(s);
        s.computed = 0;
        s.group = -1;
        s.preemptions++;
        s.state = Sequence.State.WAITING;
        waiting.addFirst(s);
        preemptions++;
    }

    /** After a stage lost its KV cache: every running sequence not in flight goes back to recompute (latest first, so the oldest ends up first in line). */
    List<Sequence> preemptAllIdle() {
        List<Sequence> out = new ArrayList<>();
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence s = running.get(i);
            if (!s.inFlight) {
                preempt(s);
                out.add(s);
            }
        }
        return out;
    }

    private Sequence latestPreemptable() {
        for (int i = running.size() - 1; i >= 0; i--) if (!running.get(i).inFlight) return running.get(i);
        throw new IllegalStateException("no sequence to preempt");
    }

    private boolean grow(Sequence s, int tokens) {
        int[] table = blocks.ensure(s.blockTable, tokens, blockSize);
        if (table == null) return false;
        s.blockTable = table;
        return true;
    }

    private void freeBlocks(Sequence s) {
        blocks.releaseAll(s.blockTable);
        s.blockTable = new int[0];
    }

    int waiting() {
        return waiting.size();
    }

    int running() {
        return running.size();
    }

    int inFlightSteps() {
        int n = 0;
        for (StepPlan p : inFlight) if (p != null) n++;
        return n;
    }

    int blocksUsed() {
        return blocks.used();
    }

    int blocksTotal() {
        return blocks.total();
    }

    long preemptions() {
        return preemptions;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
