package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.eval.DecodeSpeed;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LayerWeights;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedModels;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Where a decode token's time goes, after JIT warm-up: alternates rounds of (a) whole decode
 * steps (DecodeSpeed, greedy) and (b) the same token's matmuls alone, every linear of the stage
 * in the forward's order on one activation row, timed by kind (q, k, v, o, gate, up, down,
 * lm_head). (a) - (b) is the rest of a token: norms, RoPE, attention, the KV store, sampling.
 * GB/s counts the linears' weightBytes() once per token. Prints per round, then medians.
 * Usage: java ... DecodeStepProfile MODEL_DIR SCHEME [TOKENS_PER_ROUND] [ROUNDS]
 */
public final class DecodeStepProfile {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        String scheme = args[1];
        int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 48, rounds = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        try (LlamaModel m = LlamaModel.open(dir)) {
            LlamaStage stage = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse(scheme, List.of()), Optional.empty(),
                    QuantizedModels.Options.DEFAULT).stage();
            var caches = KvFormat.F32.caches(m.config(), KvCache.BLOCK_SIZE);
            int[] prompt = {1};
            Map<String, List<Linear>> kinds = new LinkedHashMap<>();
            for (int l = stage.firstLayer(); l < stage.lastLayer(); l++) {
                LayerWeights<float[], Linear> w = stage.layer(l - stage.firstLayer());
                add(kinds, "q", w.wq());
                add(kinds, "k", w.wk());
                add(kinds, "v", w.wv());
                add(kinds, "o", w.wo());
                add(kinds, "gate", w.wGate());
                add(kinds, "up", w.wUp());
                add(kinds, "down", w.wDown());
            }
            if (stage.hasHead()) add(kinds, "lm_head", stage.lmHead());
            long bytes = kinds.values().stream().flatMap(List::stream).mapToLong(Linear::weightBytes).sum();
            long cpu0 = os.getProcessCpuTime();
            long[] cold = coldSteps(stage, caches, 64);
            double coldCpu = (os.getProcessCpuTime() - cpu0) / 1e9;   // the first 64 steps of the JVM, as `generate --max-tokens 64` runs them
            StringBuilder coldMs = new StringBuilder();
            long coldSum = 0;
            for (int i = 0; i < cold.length; i++) {
                coldSum += cold[i];
                if (i < 8 || i % 8 == 7) coldMs.append(String.format(Locale.ROOT, " %d:%.0f", i, cold[i] / 1e6));
            }
            System.out.printf(Locale.ROOT, "cold (load %s): first 64 steps (step 0 = the prompt) %.2f tok/s over steps 1-63, %.1f CPU-s for all 64; ms per step%s%n",
                    load(), 63e9 / (coldSum - cold[0]), coldCpu, coldMs);
            if (rounds == 0) System.exit(0);
            DecodeSpeed.tokensPerSecond(stage, caches, prompt, tokens);   // warm-up
            matmuls(kinds, new LinkedHashMap<>(), 8);
            List<double[]> rows = new ArrayList<>();
            System.out.printf(Locale.ROOT, "%s %s, %d tokens per round, weights %.3f GB per token, load %s%n", dir.getFileName(), scheme, tokens, bytes / 1e9, load());
            for (int r = 0; r < rounds; r++) {
                long c0 = os.getProcessCpuTime();
                double tps = DecodeSpeed.tokensPerSecond(stage, caches, prompt, tokens);
                double cpuPerTok = (os.getProcessCpuTime() - c0) / 1e9 / (tokens - 1);
                Map<String, Long> ns = new LinkedHashMap<>();
                long c1 = os.getProcessCpuTime();
                long t = matmuls(kinds, ns, tokens);
                double mmCpu = (os.getProcessCpuTime() - c1) / 1e9 / tokens, mmMs = t / 1e6 / tokens;
                double stepMs = 1e3 / tps;
                StringBuilder kindMs = new StringBuilder();
                for (var e : ns.entrySet()) kindMs.append(String.format(Locale.ROOT, " %s %.2f", e.getKey(), e.getValue() / 1e6 / tokens));
                System.out.printf(Locale.ROOT, "round %d: step %.2f ms (%.2f tok/s, %.2f tok per CPU-s), matmuls %.2f ms (%.1f GB/s, %.1f GB per CPU-s), rest %.2f ms |%s ms%n",
                        r, stepMs, tps, 1 / cpuPerTok, mmMs, bytes / 1e6 / mmMs, bytes / 1e9 / mmCpu, stepMs - mmMs, kindMs);
                rows.add(new double[] {stepMs, tps, mmMs, bytes / 1e6 / mmMs, stepMs - mmMs});
            }
            double[] med = new double[5];
            for (int i = 0; i < 5; i++) {
                final int k = i;
                double[] v = rows.stream().mapToDouble(a -> a[k]).sorted().toArray();
                med[i] = v[v.length / 2];
            }
            System.out.printf(Locale.ROOT, "median: step %.2f ms (%.2f tok/s), matmuls %.2f ms (%.1f GB/s), rest %.2f ms, load %s%n", med[0], med[1], med[2], med[3], med[4], load());
        }
        System.exit(0);
    }

    /** n greedy steps from BOS on a fresh cache; each step's nanoseconds. */
    private static long[] coldSteps(LlamaStage stage, java.util.function.IntFunction<KvCache> caches, int n) {
        int bs = KvCache.BLOCK_SIZE, vocab = stage.config().vocabSize();
        KvCache cache = caches.apply((n + bs) / bs + 1);
        int[] table = new int[(n + bs) / bs + 1];
        for (int i = 0; i < table.length; i++) table[i] = i;
        long[] ns = new long[n];
        int token = 1;
        for (int pos = 0; pos < n; pos++) {
            long t0 = System.nanoTime();
            float[] logits = stage.forward(null, new dev.quantflow.engine.llama.BatchRows(new int[] {token}, new int[] {pos}, new int[][] {table}), new int[] {0}, cache);
            token = dev.quantflow.engine.sample.Sampler.argmax(logits, 0, vocab);
            ns[pos] = System.nanoTime() - t0;
        }
        return ns;
    }

    private static void add(Map<String, List<Linear>> kinds, String kind, Linear l) {
        kinds.computeIfAbsent(kind, k -> new ArrayList<>()).add(l);
    }

    /** n passes over all linears in forward order; adds each kind's nanoseconds to ns; returns the total. */
    private static long matmuls(Map<String, List<Linear>> kinds, Map<String, Long> ns, int n) {
        Map<Linear, float[][]> io = new java.util.IdentityHashMap<>();
        for (List<Linear> ls : kinds.values())
            for (Linear l : ls) {
                float[] x = new float[l.inFeatures()];
                Arrays.fill(x, 0.01f);
                io.put(l, new float[][] {x, new float[l.outFeatures()]});
            }
        int layers = kinds.get("q").size();
        String[] order = {"q", "k", "v", "o", "gate", "up", "down"};
        long total = 0;
        for (int i = 0; i < n; i++) {
            for (int l = 0; l < layers; l++)
                for (String k : order) total += time(kinds.get(k).get(l), io, ns, k);
            if (kinds.containsKey("lm_head")) total += time(kinds.get("lm_head").get(0), io, ns, "lm_head");
        }
        return total;
    }

    private static long time(Linear l, Map<Linear, float[][]> io, Map<String, Long> ns, String kind) {
        float[][] b = io.get(l);
        long t0 = System.nanoTime();
        l.forward(b[0], 1, b[1]);
        long t = System.nanoTime() - t0;
        ns.merge(kind, t, Long::sum);
        return t;
    }

    private static String load() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim().split(" ")[0];
        } catch (java.io.IOException e) {
            return "?";
        }
    }
}
