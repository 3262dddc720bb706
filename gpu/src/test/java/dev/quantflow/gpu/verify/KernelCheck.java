package dev.quantflow.gpu.verify;

import dev.quantflow.gpu.CudaKernels.DenseType;
import dev.quantflow.gpu.CudaKernels.Path;
import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.EngineCodes;
import dev.quantflow.gpu.WeightPacking.Int8Channel;
import dev.quantflow.gpu.WeightPacking;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Holds every kernel against the float64 Reference on fresh random inputs, over several shapes
 * including ones that are not multiples of any tile, and both matrix-product paths (GEMV and
 * tensor-core GEMM) where both apply. Bounds are relative Frobenius errors per kind of arithmetic:
 * fp32 accumulation 1e-4; int8 pipelines 2e-3 against the reference doing the same quantization
 * (a code may differ by one at a rounding tie); exact copies 1e-7. NaN never passes.
 *
 * <pre>java ... dev.quantflow.gpu.verify.KernelCheck [--ops cuda|java] [--device N] [--quick] [--seed S]</pre>
 * Exits 1 when any check fails.
 */
public final class KernelCheck {
    public record Result(String check, String shape, double error, double bound, String note) {
        public boolean ok() {
            return error <= bound;   // false for NaN
        }
    }

    private final KernelOps ops;
    private final boolean quick;
    private final Random rnd;
    private final List<Result> results = new ArrayList<>();
    private final PrintStream log;

    public KernelCheck(KernelOps ops, boolean quick, long seed, PrintStream log) {
        this.ops = ops;
        this.quick = quick;
        this.rnd = new Random(seed);
        this.log = log;
    }

    public static void main(String[] args) {
        String which = "cuda";
        int device = 0;
        boolean quick = false;
        long seed = System.nanoTime();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--ops" -> which = args[++i];
                case "--device" -> device = Integer.parseInt(args[++i]);
                case "--quick" -> quick = true;
                case "--seed" -> seed = Long.parseLong(args[++i]);
                default -> {
                    System.err.println("usage: KernelCheck [--ops cuda|java] [--device N] [--quick] [--seed S]");
                    System.exit(2);
                }
            }
        }
        System.out.println("KernelCheck seed " + seed);
        try (KernelOps ops = which.equals("java") ? new JavaKernelOps() : new CudaKernelOps(device)) {
            List<Result> r = new KernelCheck(ops, quick, seed, System.out).run();
            long failed = r.stream().filter(x -> !x.ok()).count();
            System.out.printf(Locale.ROOT, "%s: %d checks, %d failed%n", ops.name(), r.size(), failed);
            System.exit(failed == 0 ? 0 : 1);
        }
    }

    public List<Result> run() {
        checkQuantizers();
        checkOutliers();
        checkLinears();
        checkDecoderSteps();
        return results;
    }

    // ---- helpers ----------------------------------------------------------------------------

    private float[] gauss(int n, double sd) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextGaussian() * sd);
        return a;
    }

    /** N(0,1) activations with a few columns carrying values of 1.5x to 3x the threshold. */
    private float[] withOutliers(int M, int K, float threshold, int columns) {
        float[] x = gauss(M * K, 1);
        for (int c = 0; c < columns; c++) {
            int col = rnd.nextInt(K);
            int hits = 1 + rnd.nextInt(Math.max(1, M / 2));
            for (int h = 0; h < hits; h++)
                x[rnd.nextInt(M) * K + col] = (float) ((rnd.nextBoolean() ? 1 : -1) * threshold * (1.5 + 1.5 * rnd.nextDouble()));
        }
        return x;
    }

    private void record(String check, String shape, double error, double bound, String note) {
        Result r = new Result(check, shape, error, bound, note);
        results.add(r);
        log.printf(Locale.ROOT, "%-4s %-22s %-26s err %.3e  bound %.0e  %s%n", r.ok() ? "ok" : "FAIL", check, shape, error, bound, note);
    }

    private void guarded(String check, String shape, Runnable body) {
        try {
            body.run();
        } catch (RuntimeException e) {
            record(check, shape, Double.NaN, 0, "threw " + e);
        }
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    private static double relative(float[] got, double[] ref) {
        return Reference.relativeError(got, ref);
    }

    /** Fraction of codes off by one; infinity when any is off by more. */
    private static double codeMismatch(byte[] got, int[] ref) {
        int off = 0;
        for (int i = 0; i < ref.length; i++) {
            int d = Math.abs(got[i] - ref[i]);
            if (d > 1) return Double.POSITIVE_INFINITY;
            off += d;
        }
        return ref.length == 0 ? 0 : (double) off / ref.length;
    }

    // ---- quantization ----------------------------------------------------------------------

    private void checkQuantizers() {
        int[][] rows = quick ? new int[][] {{1, 64}, {5, 100}} : new int[][] {{1, 64}, {5, 100}, {33, 4096}, {3, 20000}};
        for (int[] s : rows) {
            int M = s[0], K = s[1];
            String shape = "M=" + M + " K=" + K;
            guarded("quantize_rows", shape, () -> {
                float[] x = gauss(M * K, 1);
                KernelOps.Int8Rows got = ops.quantizeRows(x, M, K);
                double[] scales = Reference.quantScales(x, M, K, K);
                recordQuant("quantize_rows", shape, x, got, scales, M, K, K);
            });
        }
        int[][] groups = quick ? new int[][] {{3, 64, 32}} : new int[][] {{1, 64, 32}, {7, 384, 128}, {2, 2048, 1024}, {130, 4096, 128}};
        for (int[] s : groups) {
            int M = s[0], K = s[1], G = s[2];
            String shape = "M=" + M + " K=" + K + " G=" + G;
            guarded("quantize_groups", shape, () -> {
                float[] x = gauss(M * K, 1);
                recordQuant("quantize_groups", shape, x, ops.quantizeGroups(x, M, K, G), Reference.quantScales(x, M, K, G), M, K, G);
            });
        }
    }

    private void recordQuant(String check, String shape, float[] x, KernelOps.Int8Rows got, double[] scales, int M, int K, int G) {
        int[] codes = new int[M * K];
        for (int m = 0; m < M; m++)
            for (int k = 0; k < K; k++) codes[m * K + k] = Reference.code(x[m * K + k], scales[m * (K / G) + k / G]);
        double scaleErr = relative(got.scales(), scales);
        double mismatch = codeMismatch(got.q(), codes);
        record(check, shape, scaleErr > 1e-6 ? Double.POSITIVE_INFINITY : mismatch, 1e-3, String.format(Locale.ROOT, "scales err %.1e", scaleErr));
    }

    private void checkOutliers() {
        Object[][] cases = quick ? new Object[][] {{3, 100, 6f, 3}, {40, 64, 2.5f, 0}}
                : new Object[][] {{1, 64, 6f, 2}, {9, 100, 6f, 3}, {64, 1000, 6f, 5}, {77, 4096, 2.5f, 0}, {3, 70000, 6f, 40}, {16, 4096, 6f, 0}};
        for (Object[] c : cases) {
            int M = (int) c[0], K = (int) c[1], n = (int) c[3];
            float thr = (float) c[2];
            String shape = "M=" + M + " K=" + K + " t=" + thr;
            guarded("outlier_columns", shape, () -> {
                float[] x = withOutliers(M, K, thr, n);
                int[] want = Reference.outlierColumns(x, M, K, thr);
                int[] got = ops.outlierColumns(x, M, K, thr);
                record("outlier_columns", shape, Arrays.equals(want, got) ? 0 : Double.POSITIVE_INFINITY, 0, want.length + " columns");
                KernelOps.Masked mq = ops.quantizeMasked(x, M, K, want);
                double[] sx = new double[M];
                int[] codes = new int[M * K];
                float[] values = new float[M * want.length];
                boolean[] isOut = new boolean[K];
                for (int col : want) isOut[col] = true;
                for (int m = 0; m < M; m++) {
                    double amax = 0;
                    for (int k = 0; k < K; k++) if (!isOut[k]) amax = Math.max(amax, Math.abs(x[m * K + k]));
                    sx[m] = amax / 127;
                    for (int k = 0; k < K; k++) codes[m * K + k] = isOut[k] ? 0 : Reference.code(x[m * K + k], sx[m]);
                    for (int j = 0; j < want.length; j++) values[m * want.length + j] = x[m * K + want[j]];
                }
                double scaleErr = relative(mq.scales(), sx), valueErr = relative(mq.outlierValues(), toDouble(values));
                record("quantize_masked", shape, scaleErr > 1e-6 || valueErr > 0 ? Double.POSITIVE_INFINITY : codeMismatch(mq.q(), codes), 1e-3,
                        String.format(Locale.ROOT, "scales err %.1e, outlier values err %.1e", scaleErr, valueErr));
            });
        }
    }

    // ---- matrix products --------------------------------------------------------------------

    private List<Path> paths(int M) {
        return M <= CudaKernels.GEMV_MAX_ROWS ? List.of(Path.GEMV, Path.GEMM) : List.of(Path.GEMM);
    }

    private void checkLinears() {
        int[] ms = quick ? new int[] {1, 9} : new int[] {1, 5, 8, 9, 64, 77};
        int[][] kn = quick ? new int[][] {{64, 64}, {100, 37}} : new int[][] {{64, 64}, {96, 40}, {100, 37}, {256, 192}, {1024, 1000}};
        for (int M : ms)
            for (int[] s : kn) {
                int K = s[0], N = s[1];
                float[] w = gauss(N * K, 0.05), bias = rnd.nextBoolean() ? gauss(N, 0.1) : null;
                Int8Channel w8 = EngineCodes.int8PerChannel(w, N, K);
                for (Path p : paths(M)) {
                    String shape = "M=" + M + " K=" + K + " N=" + N + " " + p;
                    for (float thr : new float[] {6f, Float.POSITIVE_INFINITY}) {
                        String name = Float.isInfinite(thr) ? "w8a8_per_channel" : "llm_int8";
                        guarded(name, shape, () -> {
                            float[] x = Float.isInfinite(thr) ? gauss(M * K, 1) : withOutliers(M, K, thr, 3);
                            float[] y = ops.llmInt8(x, M, w8, bias, thr, p);
                            double quantErr = relative(y, Reference.exact(x, M, w, N, K, bias));
                            record(name, shape, relative(y, Reference.llmInt8(x, M, w8, bias, thr)), 2e-3,
                                    String.format(Locale.ROOT, "vs unquantized %.1e", quantErr));
                        });
                    }
                    for (DenseType t : DenseType.values())
                        guarded("dense_" + t, shape, () -> {
                            KernelOps.DenseWeights dw = encode(t, w, N, K);
                            float[] x = gauss(M * K, 1);
                            record("dense_" + t, shape, relative(ops.dense(x, M, dw, bias, p), Reference.dense(x, M, dw, bias)), 1e-4, "");
                        });
                }
            }
        int[][] grouped = quick ? new int[][] {{64, 40, 32}} : new int[][] {{128, 96, 32}, {384, 130, 128}, {256, 200, 64}, {1024, 1000, 128}};
        for (int M : ms)
            for (int[] s : grouped) {
                int K = s[0], N = s[1], G = s[2];
                float[] w = gauss(N * K, 0.05), bias = rnd.nextBoolean() ? gauss(N, 0.1) : null;
                var w8 = EngineCodes.int8Groups(w, N, K, G);
                var w4 = EngineCodes.int4Groups(w, N, K, G);
                for (Path p : paths(M)) {
                    String shape = "M=" + M + " K=" + K + " N=" + N + " G=" + G + " " + p;
                    guarded("w8a8_group", shape, () -> {
                        float[] x = gauss(M * K, 1);
                        float[] y = ops.w8a8(x, M, w8, bias, p);
                        record("w8a8_group", shape, relative(y, Reference.w8a8(x, M, w8, bias)), 2e-3,
                                String.format(Locale.ROOT, "vs unquantized %.1e", relative(y, Reference.exact(x, M, w, N, K, bias))));
                    });
                    guarded("w4a16", shape, () -> {
                        float[] x = gauss(M * K, 1);
                        float[] y = ops.w4a16(x, M, w4, bias, p);
                        record("w4a16", shape, relative(y, Reference.w4a16(x, M, w4, bias)), 1e-4,
                                String.format(Locale.ROOT, "vs unquantized %.1e", relative(y, Reference.exact(x, M, w, N, K, bias))));
                    });
                }
            }
    }

    static KernelOps.DenseWeights encode(DenseType t, float[] w, int out, int in) {
        ByteBuffer b = ByteBuffer.allocate(w.length * t.bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : w) {
            switch (t) {
                case F32 -> b.putFloat(v);
                case BF16 -> b.putShort((short) (Float.floatToRawIntBits(v) >>> 16));   // truncation is fine: the reference decodes the same bits
                case F16 -> b.putShort(Float.floatToFloat16(v));
            }
        }
        return new KernelOps.DenseWeights(t, b.array(), out, in);
    }

    // ---- the decoder's other steps ------------------------------------------------------------

    private void checkDecoderSteps() {
        for (DenseType t : DenseType.values())
            for (int D : quick ? new int[] {100} : new int[] {64, 100, 4096}) {
                String shape = "V=300 D=" + D;
                guarded("embed_" + t, shape, () -> {
                    KernelOps.DenseWeights table = encode(t, gauss(300 * D, 1), 300, D);
                    int[] ids = new int[13];
                    for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(300);
                    ids[0] = 299;
                    record("embed_" + t, shape, relative(ops.embed(table, ids), Reference.embed(table, ids)), 1e-7, "");
                });
            }
        for (int[] s : quick ? new int[][] {{3, 100}} : new int[][] {{1, 64}, {7, 100}, {33, 4096}, {2, 8191}}) {
            int M = s[0], D = s[1];
            String shape = "M=" + M + " D=" + D;
            guarded("rmsnorm", shape, () -> {
                float[] x = gauss(M * D, 2), w = gauss(D, 1);
                record("rmsnorm", shape, relative(ops.rmsnorm(x, w, M, D, 1e-5f), Reference.rmsnorm(x, w, M, D, 1e-5f)), 1e-5, "");
            });
        }
        for (int[] s : quick ? new int[][] {{3, 4, 16}} : new int[][] {{1, 8, 64}, {9, 4, 128}, {5, 3, 80}}) {
            int M = s[0], heads = s[1], hd = s[2];
            String shape = "M=" + M + " heads=" + heads + " hd=" + hd;
            guarded("rope", shape, () -> {
                float[] x = gauss(M * heads * hd, 1), invFreq = new float[hd / 2];
                for (int i = 0; i < hd / 2; i++) invFreq[i] = (float) (1.0 / Math.pow(10000, 2.0 * i / hd));
                int[] pos = new int[M];
                for (int i = 0; i < M; i++) pos[i] = rnd.nextInt(4096);
                record("rope", shape, relative(ops.rope(x, pos, invFreq, M, heads, hd), Reference.rope(x, pos, invFreq, M, heads, hd)), 1e-5, "");
            });
        }
        int[][] att = quick ? new int[][] {{4, 2, 16}} : new int[][] {{8, 4, 32}, {4, 4, 64}, {8, 2, 128}, {6, 2, 80}, {2, 1, 256}};
        for (int[] s : att) {
            String shape = "heads=" + s[0] + "/" + s[1] + " hd=" + s[2];
            guarded("attention", shape, () -> {
                KernelOps.AttentionCase c = attentionCase(s[0], s[1], s[2]);
                record("attention", shape + " rows=" + c.rows(), relative(ops.attention(c), Reference.attention(c)), 1e-4, "decode + prefill rows");
            });
        }
        for (int n : quick ? new int[] {1000} : new int[] {1, 1000, 100003}) {
            guarded("silu_gate", "n=" + n, () -> {
                float[] g = gauss(n, 3), u = gauss(n, 1);
                record("silu_gate", "n=" + n, relative(ops.siluGate(g, u), Reference.siluGate(g, u)), 1e-5, "");
            });
            guarded("residual_add", "n=" + n, () -> {
                float[] a = gauss(n, 1), b = gauss(n, 1);
                record("residual_add", "n=" + n, relative(ops.add(a, b), Reference.add(a, b)), 1e-7, "");
            });
        }
    }

    /**
     * Three sequences in one step: two decoding (one at position 0, one deep in its context), one
     * prefilling a chunk of rows; block tables shuffled so blocks are not contiguous.
     */
    private KernelOps.AttentionCase attentionCase(int heads, int kvHeads, int hd) {
        int blockSize = 16, kvDim = kvHeads * hd;
        int[] lengths = quick ? new int[] {1, 20, 24} : new int[] {1, 200, 43};   // positions end at length - 1
        int prefillRows = quick ? 5 : 33;
        int blocks = 0;
        for (int l : lengths) blocks += (l + blockSize - 1) / blockSize;
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < blocks + 3; i++) ids.add(i);
        Collections.shuffle(ids, rnd);
        int[][] tables = new int[lengths.length][];
        int next = 0;
        for (int sq = 0; sq < lengths.length; sq++) {
            tables[sq] = new int[(lengths[sq] + blockSize - 1) / blockSize];
            for (int b = 0; b < tables[sq].length; b++) tables[sq][b] = ids.get(next++);
        }
        List<int[]> rowTables = new ArrayList<>();
        List<Integer> positions = new ArrayList<>();
        rowTables.add(tables[0]);
        positions.add(lengths[0] - 1);
        rowTables.add(tables[1]);
        positions.add(lengths[1] - 1);
        for (int p = lengths[2] - prefillRows; p < lengths[2]; p++) {
            rowTables.add(tables[2]);
            positions.add(p);
        }
        int M = positions.size(), numBlocks = blocks + 3;
        return new KernelOps.AttentionCase(heads, kvHeads, hd, blockSize, numBlocks, gauss(numBlocks * blockSize * kvDim, 1),
                gauss(numBlocks * blockSize * kvDim, 1), rowTables.toArray(int[][]::new), positions.stream().mapToInt(Integer::intValue).toArray(),
                gauss(M * heads * hd, 1), gauss(M * kvDim, 1), gauss(M * kvDim, 1));
    }
}
