package dev.quantflow.engine.llama;

import dev.quantflow.engine.model.LlamaConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Which layers each pipeline stage holds and on which device, for every command (generate, serve,
 * eval, bench): contiguous ranges balanced by weight bytes (decode reads every weight once per
 * step, so bytes decide a stage's time), lm_head counted on the last stage, or an explicit split.
 * One device runs every stage; otherwise there is one device per stage.
 */
public final class StagePlacement {
    private StagePlacement() {}

    /** The stages of model: layerSplit (layers per stage) when given, else stages balanced ranges. */
    public static List<LayerRange> plan(LlamaConfig model, int stages, List<Integer> layerSplit, List<String> devices) {
        int s = layerSplit.isEmpty() ? stages : layerSplit.size(), numLayers = model.numLayers();
        require(s >= 1, "stages must be >= 1, got " + s);
        require(!devices.isEmpty(), "devices must name at least one device");
        require(devices.size() == 1 || devices.size() == s, devices.size() + " devices for " + s + " stages: give one device, or one per stage");
        List<Integer> counts = layerSplit.isEmpty() ? balancedSplit(model, s) : layerSplit;
        int total = counts.stream().mapToInt(Integer::intValue).sum();
        require(total == numLayers, "layer split " + counts + " covers " + total + " layers; the model has " + numLayers);
        List<LayerRange> plan = new ArrayList<>();
        int first = 0;
        for (int i = 0; i < s; i++) {
            require(counts.get(i) >= 1, "every stage needs at least one layer, got split " + counts);
            plan.add(new LayerRange(i, first, first + counts.get(i), devices.size() == 1 ? devices.get(0) : devices.get(i)));
            first += counts.get(i);
        }
        return plan;
    }

    /** Layers per stage minimizing the largest stage's weight count (a contiguous partition, by dynamic programming). */
    static List<Integer> balancedSplit(LlamaConfig m, int stages) {
        int n = m.numLayers();
        require(stages <= n, stages + " stages for a model of " + n + " layers: each stage needs at least one layer");
        long d = m.hiddenSize();
        long layer = d * m.qDim() * 2 + d * m.kvDim() * 2 + 3 * d * m.intermediateSize();
        long head = (long) m.vocabSize() * d;
        // best[k][i]: the smallest possible largest cost when the first i layers form k stages
        long[][] best = new long[stages + 1][n + 1];
        int[][] cut = new int[stages + 1][n + 1];
        for (long[] row : best) Arrays.fill(row, Long.MAX_VALUE);
        best[0][0] = 0;
        for (int k = 1; k <= stages; k++)
            for (int i = k; i <= n; i++)
                for (int j = k - 1; j < i; j++) {
                    if (best[k - 1][j] == Long.MAX_VALUE) continue;
                    long cost = (i - j) * layer + (k == stages && i == n ? head : 0);
                    long worst = Math.max(best[k - 1][j], cost);
                    if (worst < best[k][i]) {
                        best[k][i] = worst;
                        cut[k][i] = j;
                    }
                }
        Integer[] counts = new Integer[stages];
        for (int k = stages, i = n; k >= 1; i = cut[k][i], k--) counts[k - 1] = i - cut[k][i];
        return List.of(counts);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
