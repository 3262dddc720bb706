package dev.quantflow.actors.api;

import java.util.List;
import java.util.Map;

/** Scheduler and stage state for metrics and tests; a consistent copy taken by the scheduler. */
public record EngineSnapshot(
        int waiting,                 // requests queued, not yet admitted
        int running,                 // sequences holding KV blocks
        int kvBlocksUsed,
        int kvBlocksTotal,
        int lastBatchTokens,         // token rows in the last step
        int lastBatchSequences,
        long stepsTotal,
        long preemptionsTotal,
        List<StageStats> stages,
        Map<String, Double> outlierColumnFraction,   // LLM.int8: per layer name, mean fraction of outlier input columns
        long prefixCacheQueriesTotal,                // prompt tokens looked up in the prefix cache at admission (vLLM's prefix_cache_queries)
        long prefixCacheHitsTotal,                   // of those, tokens whose KV blocks were cached (prefix_cache_hits)
        int kvBlocksCached,                          // blocks whose content the prefix cache knows (referenced or free)
        double lastHopSeconds) {                     // the last step's time outside stage compute, per hop (wire, serialization, mailboxes, sampling)

    public EngineSnapshot(int waiting, int running, int kvBlocksUsed, int kvBlocksTotal, int lastBatchTokens, int lastBatchSequences, long stepsTotal,
                          long preemptionsTotal, List<StageStats> stages, Map<String, Double> outlierColumnFraction) {
        this(waiting, running, kvBlocksUsed, kvBlocksTotal, lastBatchTokens, lastBatchSequences, stepsTotal, preemptionsTotal, stages,
                outlierColumnFraction, 0, 0, 0, 0);
    }

    /**
     * busyFraction = busyNanosTotal / activeNanosTotal: the share of the time with any step in
     * flight that this stage computed (1 - the pipeline bubble). The totals let a benchmark
     * take the fraction over its own interval from two snapshots.
     */
    /** inputBytesTotal: the bytes of activations this stage received (0 for stage 0, which gets token ids); outputBytesTotal: what it sent on (the last stage: logits). */
    public record StageStats(int stage, String device, int firstLayer, int lastLayer, double lastStepSeconds,
                             double busyFraction, long deviceMemoryBytes, long busyNanosTotal, long activeNanosTotal,
                             long inputBytesTotal, long outputBytesTotal) {
        public StageStats(int stage, String device, int firstLayer, int lastLayer, double lastStepSeconds,
                          double busyFraction, long deviceMemoryBytes) {
            this(stage, device, firstLayer, lastLayer, lastStepSeconds, busyFraction, deviceMemoryBytes, 0, 0, 0, 0);
        }
    }

    public double kvCacheUsage() {
        return kvBlocksTotal == 0 ? 0 : (double) kvBlocksUsed / kvBlocksTotal;
    }
}
