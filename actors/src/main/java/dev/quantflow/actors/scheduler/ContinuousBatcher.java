package dev.quantflow.actors.scheduler;

import dev.quantflow.actors.protocol.Step;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.BlockHash;
import dev.quantflow.engine.llama.BatchRows;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
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
 * <p>Prefix caching (vLLM's automatic prefix caching): a full block is registered by the hash of
 * its tokens and all before them once a step computed it (in the current epoch: a restarted
 * stage lost its KV). An admitted sequence takes every cached block of its first length-1 tokens
 * (the last token is always computed, for its logits) and computes the rest. A sequence whose
 * next block is being computed by a running sequence waits for it instead of computing it again:
 * identical prompts arriving together (n > 1, a shared system prompt) share their blocks.
 *
 * <p>Plain single-threaded state: only the scheduler actor touches it.
 */
final class ContinuousBatcher {
    private final int groups, maxBatchTokens, maxSequences, blockSize;
    private final BlockAllocator blocks;
    private final BlockHash prefixRoot;            // null: prefix caching off
    private final Map<BlockHash, Sequence> computing = new HashMap<>();   // full blocks a running sequence is computing
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();   // admission order
    private final int[] groupSize;
    private final StepPlan[] inFlight;
    private long admissions, preemptions, prefixQueryTokens, prefixHitTokens;

    ContinuousBatcher(int groups, int maxBatchTokens, int maxSequences, int kvBlocks, int blockSize) {
        this(groups, maxBatchTokens, maxSequences, kvBlocks, blockSize, null);
    }

    /** prefixRoot: the root of the block-hash chain (what besides tokens decides the KV), or null for no prefix caching. */
    ContinuousBatcher(int groups, int maxBatchTokens, int maxSequences, int kvBlocks, int blockSize, BlockHash prefixRoot) {
        this.prefixRoot = prefixRoot;
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
            Iterator<Sequence> queue = waiting.iterator();
            while (queue.hasNext() && budget > 0 && running.size() < maxSequences && groupSize[group] < target) {
                Sequence s = queue.next();
                int n = admit(s, budget);
                if (n == WAIT_FOR_PREFIX) continue;
                if (n == NO_BLOCKS) break;
                queue.remove();
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

    private static final int WAIT_FOR_PREFIX = -1, NO_BLOCKS = -2;

    /**
     * Gives a waiting sequence its blocks: the prefix cache's hits, then fresh ones for the next
     * tokens the budget allows. Returns those tokens, or WAIT_FOR_PREFIX (its next block is being
     * computed by another sequence) or NO_BLOCKS (nothing taken in either case).
     */
    private int admit(Sequence s, int budget) {
        int[] hits = new int[0];
        // prompt logprobs need the logits of every prompt row, so such a sequence computes its whole prompt
        if (prefixRoot != null && !s.promptLogprobs) {
            int shareable = (s.length() - 1) / blockSize;   // full blocks before the last token
            List<Integer> found = new ArrayList<>();
            while (found.size() < shareable) {
                int b = blocks.lookup(s.blockHash(found.size(), prefixRoot, blockSize));
                if (b < 0) break;
                found.add(b);
            }
            if (found.size() < shareable) {
                Sequence owner = computing.get(s.blockHash(found.size(), prefixRoot, blockSize));
                if (owner != null && owner != s) return WAIT_FOR_PREFIX;
            }
            hits = found.stream().mapToInt(Integer::intValue).toArray();
        }
        int cachedTokens = hits.length * blockSize;
        int n = Math.min(s.length() - cachedTokens, budget);
        int fresh = ceilDiv(cachedTokens + n, blockSize) - hits.length, unreferencedHits = 0;
        for (int b : hits) if (blocks.refCount(b) == 0) unreferencedHits++;
        if (fresh > blocks.free() - unreferencedHits) return NO_BLOCKS;
        for (int b : hits) blocks.acquire(b);
        s.blockTable = hits;
        s.computed = cachedTokens;
        if (!grow(s, cachedTokens + n)) throw new IllegalStateException("blocks counted free were not");
        if (prefixRoot != null) {
            if (!s.promptLogprobs) {
                prefixQueryTokens += s.length();
                prefixHitTokens += cachedTokens;
            }
            for (int i = hits.length; i < s.length() / blockSize; i++) computing.putIfAbsent(s.blockHash(i, prefixRoot, blockSize), s);
        }
        return n;
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
        return complete(stepId, 0);
    }

    /**
     * The same, in the scheduler's current epoch: the blocks the step filled join the prefix
     * cache unless it was planned before a stage lost its KV (then it filled nothing that lasts).
     */
    StepPlan complete(long stepId, long epoch) {
        StepPlan p = take(stepId);
        for (StepPlan.Scheduled it : p.items()) {
            Sequence s = it.sequence();
            int before = s.computed;
            s.computed += it.tokens();
            if (prefixRoot != null && p.step().epoch() == epoch)
                for (int i = before / blockSize; i < s.computed / blockSize; i++) {
                    BlockHash h = s.blockHash(i, prefixRoot, blockSize);
                    blocks.register(s.blockTable[i], h);
                    computing.remove(h, s);
                }
        }
        return p;
    }

    /** The step of this id came back without results (dropped or failed): nothing advanced. */
    StepPlan abandon(long stepId) {
        return take(stepId);
    }

    /** Every step in flight came back without results (a stage was lost with them): nothing advanced. */
    List<StepPlan> abandonAll() {
        List<StepPlan> out = new ArrayList<>();
        for (StepPlan p : inFlight) if (p != null) out.add(p);
        for (StepPlan p : out) take(p.step().id());
        return out;
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
        for (BlockHash h : s.blockHashes) computing.remove(h, s);
    }

    /** A stage lost its KV cache: no block's content is known any more. */
    void forgetPrefixCache() {
        blocks.clearCache();
        computing.clear();
    }

    /** Prompt tokens (all tokens, for a recomputed sequence) looked up in the prefix cache at admission, and those found. */
    long prefixQueryTokens() {
        return prefixQueryTokens;
    }

    long prefixHitTokens() {
        return prefixHitTokens;
    }

    int cachedBlocks() {
        return blocks.cachedBlocks();
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
