package dev.quantflow.bench.jmh;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Issue 14: does C2's auto-vectorizer turn the scalar int16 pair loop
 * {@code a[2i]*b[2i] + a[2i+1]*b[2i+1]} (MulAddS2I, JDK-8214751) into vpmaddwd / vpdpwssd (VNNI),
 * and how fast is that against the Vector API forms the engine uses (int8 widened to fp32 + FMA;
 * int16 vpmullw + vpaddw as Int4x8Panels)? Arrays fit L1/L2 so this measures compute.
 * Throughput is reported per multiply-add: JMH's ops/ns = G multiply-adds/s.
 * {@link #main} checks every kernel against a long reference and warms them up (for
 * {@code -XX:CompileCommand=print} disassembly runs); with a round count it also alternates them in
 * one JVM per CPU-second, plus the matrix kernels over DRAM-sized rotating weight copies.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class Int16DotAutoVecBenchmark {
    static final int N = 4096;          // int16 elements per dot product: 8 KiB per operand, in L1
    static final int ROWS = 64;         // matrix-vector: 64 x 4096 int16 weights = 512 KiB, in L2
        static final int PEAK_ACC = 16;     // independent FMA chains (Zen: 2 FMA pipes x 4 cycles latency, doubled)
    static final int PEAK_MACS = 16384;

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED;
    /** F.length() bytes: one load widens to one full float vector */
    static final VectorSpecies<Byte> BF = VectorSpecies.of(byte.class, VectorShape.forBitSize(F.length() * 8));

    short[] a, b, w, x, wp, xp;
    byte[] wb, ab;
    float[] xf, af, bfv;
    int[] out, acc, y;
    float[] yf;

    @Setup
    public void setUp() {
        SplittableRandom rnd = new SplittableRandom(42);
        a = new short[N];
        b = new short[N];
        x = new short[N];
        ab = new byte[N];
        xf = new float[N];
        af = new float[N];
        bfv = new float[N];
        for (int i = 0; i < N; i++) {
            a[i] = (short) rnd.nextInt(-127, 128);
            b[i] = (short) rnd.nextInt(-127, 128);
            x[i] = (short) rnd.nextInt(-127, 128);
            ab[i] = (byte) x[i];
            xf[i] = x[i] * 0.01f;
            af[i] = a[i] * 0.01f;
            bfv[i] = b[i] * 0.01f;
        }
        w = new short[ROWS * N];
        wb = new byte[ROWS * N];
        for (int i = 0; i < w.length; i++) {
            w[i] = (short) rnd.nextInt(-127, 128);
            wb[i] = (byte) w[i];
        }
        wp = new short[ROWS * N];
        for (int r = 0; r < ROWS; r++) for (int k = 0; k < N; k++) wp[(k / 2) * 2 * ROWS + 2 * r + (k & 1)] = w[r * N + k];
        xp = new short[2 * ROWS];
        out = new int[N / 2];
        acc = new int[N / 2];
        y = new int[ROWS];
        yf = new float[ROWS];
    }

    // ---- scalar loops for C2's auto-vectorizer ----

    /** (a) store form: the MulAddS2I pattern of JDK-8214751 */
    static void storeForm(short[] a, short[] b, int[] out, int half) {
        for (int i = 0; i < half; i++) out[i] = a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
    }

    /** (b) accumulate form: AddVI(MulAddVS2VI, dst) is vpdpwssd's match rule on VNNI */
    static void accForm(short[] a, short[] b, int[] out, int half) {
        for (int i = 0; i < half; i++) out[i] += a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
    }

    /** (c) reduction form */
    static int reduceForm(short[] a, short[] b, int half) {
        int s = 0;
        for (int i = 0; i < half; i++) s += a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
        return s;
    }

    /** (a) with int8 weights: the same pattern but the weight loads are bytes (LoadB) */
    static void storeFormBytes(byte[] w, int wo, short[] x, int[] out, int half) {
        for (int i = 0; i < half; i++) out[i] = w[wo + 2 * i] * x[2 * i] + w[wo + 2 * i + 1] * x[2 * i + 1];
    }

    static int sum(int[] v, int n) {
        int s = 0;
        for (int i = 0; i < n; i++) s += v[i];
        return s;
    }

    /** the same sum with the Vector API: C2 leaves {@link #sum}'s int reduction scalar (unrolled adds) */
    static int sumV(int[] v, int n) {
        IntVector c0 = IntVector.zero(I), c1 = c0;
        int L = I.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            c0 = c0.add(IntVector.fromArray(I, v, i));
            c1 = c1.add(IntVector.fromArray(I, v, i + L));
        }
        int s = c0.add(c1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += v[i];
        return s;
    }

    /** (d1v, d2v) d1 and d2 with the row's reduction done by {@link #sumV}: auto-vectorized vpmaddwd/vpdpwssd + a Vector API sum */
    static void mvStoreV(short[] w, short[] x, int[] acc, int[] y, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            int o = r * n;
            for (int i = 0; i < n / 2; i++) acc[i] = w[o + 2 * i] * x[2 * i] + w[o + 2 * i + 1] * x[2 * i + 1];
            y[r] = sumV(acc, n / 2);
        }
    }

    static void mvChunkV(short[] w, short[] x, int[] acc, int[] y, int rows, int n, int chunk) {
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(acc, 0, chunk, 0);
            for (int j = 0; j < n; j += 2 * chunk) {
                int o = r * n + j;
                for (int i = 0; i < chunk; i++) acc[i] += w[o + 2 * i] * x[j + 2 * i] + w[o + 2 * i + 1] * x[j + 2 * i + 1];
            }
            y[r] = sumV(acc, chunk);
        }
    }

    /** (d1) matvec: per row, the store form over the whole row into acc[N/2], then a sum */
    static void mvStore(short[] w, short[] x, int[] acc, int[] y, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            int o = r * n;
            for (int i = 0; i < n / 2; i++) acc[i] = w[o + 2 * i] * x[2 * i] + w[o + 2 * i + 1] * x[2 * i + 1];
            y[r] = sum(acc, n / 2);
        }
    }

    /** (d2) matvec: per row, a chunk-int accumulator += over 2*chunk-element slices, then a sum */
    static void mvChunk(short[] w, short[] x, int[] acc, int[] y, int rows, int n, int chunk) {
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(acc, 0, chunk, 0);
            for (int j = 0; j < n; j += 2 * chunk) {
                int o = r * n + j;
                for (int i = 0; i < chunk; i++) acc[i] += w[o + 2 * i] * x[j + 2 * i] + w[o + 2 * i + 1] * x[j + 2 * i + 1];
            }
            y[r] = sum(acc, chunk);
        }
    }

    /**
     * (d4) matvec without a reduction: weights stored as column pairs, wp[k/2][r][2] (row r's
     * w[r][k], w[r][k+1] adjacent), the activation pair replicated over a rows-long short[], and
     * y[r] += wp[k/2][2r]*xp[2r] + wp[k/2][2r+1]*xp[2r+1]: the accumulate form with y as the array.
     */
    static void mvPairs(short[] wp, short[] x, short[] xp, int[] y, int rows, int n) {
        java.util.Arrays.fill(y, 0, rows, 0);
        for (int k = 0; k < n; k += 2) {
            short x0 = x[k], x1 = x[k + 1];
            for (int r = 0; r < rows; r++) {
                xp[2 * r] = x0;
                xp[2 * r + 1] = x1;
            }
            int o = k * rows;
            for (int r = 0; r < rows; r++) y[r] += wp[o + 2 * r] * xp[2 * r] + wp[o + 2 * r + 1] * xp[2 * r + 1];
        }
    }

    /** (d3) matvec like d1 but int8 weights on the heap (half the bytes) */
    static void mvStoreBytes(byte[] w, short[] x, int[] acc, int[] y, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            storeFormBytes(w, r * n, x, acc, n / 2);
            y[r] = sum(acc, n / 2);
        }
    }

    // ---- Vector API baselines ----

    /** int8 weights widened to fp32 (B2F) and FMA with fp32 activations, four chains */
    static float dotB2F(byte[] w, int wo, float[] x, int n) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
        int L = F.length();
        for (int i = 0; i < n; i += 4 * L) {
            c0 = b2f(w, wo + i).fma(FloatVector.fromArray(F, x, i), c0);
            c1 = b2f(w, wo + i + L).fma(FloatVector.fromArray(F, x, i + L), c1);
            c2 = b2f(w, wo + i + 2 * L).fma(FloatVector.fromArray(F, x, i + 2 * L), c2);
            c3 = b2f(w, wo + i + 3 * L).fma(FloatVector.fromArray(F, x, i + 3 * L), c3);
        }
        return c0.add(c1).add(c2.add(c3)).reduceLanes(VectorOperators.ADD);
    }

    private static FloatVector b2f(byte[] w, int off) {
        return (FloatVector) ByteVector.fromArray(BF, w, off).convertShape(VectorOperators.B2F, F, 0);
    }

    /** int8 x int8 in int32: B2I both sides + vpmulld (today's w8a8 one-row loop), four chains */
    static int dotB2I(byte[] w, int wo, byte[] x, int n) {
        IntVector c0 = IntVector.zero(I), c1 = c0, c2 = c0, c3 = c0;
        int L = I.length();
        for (int i = 0; i < n; i += 4 * L) {
            c0 = c0.add(b2i(w, wo + i).mul(b2i(x, i)));
            c1 = c1.add(b2i(w, wo + i + L).mul(b2i(x, i + L)));
            c2 = c2.add(b2i(w, wo + i + 2 * L).mul(b2i(x, i + 2 * L)));
            c3 = c3.add(b2i(w, wo + i + 3 * L).mul(b2i(x, i + 3 * L)));
        }
        return c0.add(c1).add(c2.add(c3)).reduceLanes(VectorOperators.ADD);
    }

    private static IntVector b2i(byte[] w, int off) {
        return (IntVector) ByteVector.fromArray(BF, w, off).convertShape(VectorOperators.B2I, I, 0);
    }

    /** int16 vpmullw + vpaddw accumulated in int16 (wraps: Int4x8Panels' form, exact only for bounded blocks), four chains */
    static int dotS16(short[] a, int ao, short[] b, int n) {
        ShortVector c0 = ShortVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
        int L = S.length();
        for (int i = 0; i < n; i += 4 * L) {
            c0 = c0.add(ShortVector.fromArray(S, a, ao + i).mul(ShortVector.fromArray(S, b, i)));
            c1 = c1.add(ShortVector.fromArray(S, a, ao + i + L).mul(ShortVector.fromArray(S, b, i + L)));
            c2 = c2.add(ShortVector.fromArray(S, a, ao + i + 2 * L).mul(ShortVector.fromArray(S, b, i + 2 * L)));
            c3 = c3.add(ShortVector.fromArray(S, a, ao + i + 3 * L).mul(ShortVector.fromArray(S, b, i + 3 * L)));
        }
        return c0.add(c1).add(c2.add(c3)).reduceLanes(VectorOperators.ADD);
    }

    /** int16 products, two summed in int16 (|sum| <= 2*127*128, exact), widened S2I into int32: exact for int8 inputs */
    static int dotS16Widen(short[] a, int ao, short[] b, int n) {
        IntVector c0 = IntVector.zero(I), c1 = c0;
        int L = S.length();
        for (int i = 0; i < n; i += 2 * L) {
            ShortVector p = ShortVector.fromArray(S, a, ao + i).mul(ShortVector.fromArray(S, b, i))
                    .add(ShortVector.fromArray(S, a, ao + i + L).mul(ShortVector.fromArray(S, b, i + L)));
            c0 = c0.add((IntVector) p.convertShape(VectorOperators.S2I, I, 0));
            c1 = c1.add((IntVector) p.convertShape(VectorOperators.S2I, I, 1));
        }
        return c0.add(c1).reduceLanes(VectorOperators.ADD);
    }

    /** dense fp32 dot product, four FMA chains (two loads per FMA) */
    static float dotF32(float[] a, float[] b, int n) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
        int L = F.length();
        for (int i = 0; i < n; i += 4 * L) {
            c0 = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, b, i), c0);
            c1 = FloatVector.fromArray(F, a, i + L).fma(FloatVector.fromArray(F, b, i + L), c1);
            c2 = FloatVector.fromArray(F, a, i + 2 * L).fma(FloatVector.fromArray(F, b, i + 2 * L), c2);
            c3 = FloatVector.fromArray(F, a, i + 3 * L).fma(FloatVector.fromArray(F, b, i + 3 * L), c3);
        }
        return c0.add(c1).add(c2.add(c3)).reduceLanes(VectorOperators.ADD);
    }

    /** FMA peak: PEAK_ACC independent chains in registers, no loads; PEAK_MACS multiply-adds per call */
    static float fmaPeak(float m, float s) {
        FloatVector vm = FloatVector.broadcast(F, m), vs = FloatVector.broadcast(F, s);
        FloatVector c0 = FloatVector.broadcast(F, 0.1f), c1 = c0.add(1), c2 = c0.add(2), c3 = c0.add(3), c4 = c0.add(4), c5 = c0.add(5), c6 = c0.add(6), c7 = c0.add(7);
        FloatVector c8 = c0.add(8), c9 = c0.add(9), c10 = c0.add(10), c11 = c0.add(11), c12 = c0.add(12), c13 = c0.add(13), c14 = c0.add(14), c15 = c0.add(15);
        for (int k = PEAK_MACS / (PEAK_ACC * F.length()); k > 0; k--) {
            c0 = c0.fma(vm, vs); c1 = c1.fma(vm, vs); c2 = c2.fma(vm, vs); c3 = c3.fma(vm, vs);
            c4 = c4.fma(vm, vs); c5 = c5.fma(vm, vs); c6 = c6.fma(vm, vs); c7 = c7.fma(vm, vs);
            c8 = c8.fma(vm, vs); c9 = c9.fma(vm, vs); c10 = c10.fma(vm, vs); c11 = c11.fma(vm, vs);
            c12 = c12.fma(vm, vs); c13 = c13.fma(vm, vs); c14 = c14.fma(vm, vs); c15 = c15.fma(vm, vs);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).add(c12).add(c13).add(c14).add(c15)
                .reduceLanes(VectorOperators.ADD);
    }

    // ---- benchmarks: ops = multiply-adds ----

    @Benchmark @OperationsPerInvocation(N)
    public int[] a_store() { storeForm(a, b, out, N / 2); return out; }

    @Benchmark @OperationsPerInvocation(N)
    public int[] b_acc() { accForm(a, b, out, N / 2); return out; }

    @Benchmark @OperationsPerInvocation(N)
    public int c_reduce() { return reduceForm(a, b, N / 2); }

    @Benchmark @OperationsPerInvocation(N)
    public int[] a_storeBytes() { storeFormBytes(wb, 0, x, out, N / 2); return out; }

    @Benchmark @OperationsPerInvocation(N)
    public float e_dotB2F() { return dotB2F(wb, 0, xf, N); }

    @Benchmark @OperationsPerInvocation(N)
    public int e_dotB2I() { return dotB2I(wb, 0, ab, N); }

    @Benchmark @OperationsPerInvocation(N)
    public int e_dotS16() { return dotS16(a, 0, b, N); }

    @Benchmark @OperationsPerInvocation(N)
    public int e_dotS16Widen() { return dotS16Widen(a, 0, b, N); }

    @Benchmark @OperationsPerInvocation(N)
    public float e_dotF32() { return dotF32(af, bfv, N); }

    @Benchmark @OperationsPerInvocation(PEAK_MACS)
    public float peak_fma() { return fmaPeak(0.999f, 1e-3f); }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] d_mvStore() { mvStore(w, x, acc, y, ROWS, N); return y; }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] d_mvChunk256() { mvChunk(w, x, acc, y, ROWS, N, 256); return y; }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] d_mvChunk1024() { mvChunk(w, x, acc, y, ROWS, N, 1024); return y; }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] d_mvStoreV() { mvStoreV(w, x, acc, y, ROWS, N); return y; }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] d_mvChunk256V() { mvChunkV(w, x, acc, y, ROWS, N, 256); return y; }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] d_mvChunk1024V() { mvChunkV(w, x, acc, y, ROWS, N, 1024); return y; }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] d_mvPairs() { mvPairs(wp, x, xp, y, ROWS, N); return y; }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] d_mvStoreBytes() { mvStoreBytes(wb, x, acc, y, ROWS, N); return y; }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public float[] mv_B2F() {
        for (int r = 0; r < ROWS; r++) yf[r] = dotB2F(wb, r * N, xf, N);
        return yf;
    }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] mv_B2I() {
        for (int r = 0; r < ROWS; r++) y[r] = dotB2I(wb, r * N, ab, N);
        return y;
    }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] mv_S16Widen() {
        for (int r = 0; r < ROWS; r++) y[r] = dotS16Widen(w, r * N, x, N);
        return y;
    }

    @Benchmark @OperationsPerInvocation(ROWS * N)
    public int[] mv_S16() {
        for (int r = 0; r < ROWS; r++) y[r] = dotS16(w, r * N, x, N);
        return y;
    }

    /** Checks every kernel against a long reference, then warms them up for CompileCommand=print. */
    public static void main(String[] args) {
        Int16DotAutoVecBenchmark t = new Int16DotAutoVecBenchmark();
        t.setUp();
        long ref = 0, refB = 0;
        for (int i = 0; i < N; i++) {
            ref += (long) t.a[i] * t.b[i];
            refB += (long) t.wb[i] * t.x[i];
        }
        long[] refRows = new long[ROWS];
        for (int r = 0; r < ROWS; r++) for (int i = 0; i < N; i++) refRows[r] += (long) t.w[r * N + i] * t.x[i];
        int iters = args.length > 0 ? Integer.parseInt(args[0]) : 20000;
        long sink = 0;
        for (int k = 0; k < iters; k++) {
            storeForm(t.a, t.b, t.out, N / 2);
            check("store", sum(t.out, N / 2), ref);
            java.util.Arrays.fill(t.out, 0);
            accForm(t.a, t.b, t.out, N / 2);
            check("acc", sum(t.out, N / 2), ref);
            check("reduce", reduceForm(t.a, t.b, N / 2), ref);
            storeFormBytes(t.wb, 0, t.x, t.out, N / 2);
            check("storeBytes", sum(t.out, N / 2), refB);
            check("dotB2I", dotB2I(t.wb, 0, t.ab, N), refB);
            check("dotS16Widen", dotS16Widen(t.a, 0, t.b, N), ref);
            check("dotS16", dotS16(t.a, 0, t.b, N), (short) ref);
            sink += (long) dotB2F(t.wb, 0, t.xf, N) + (long) dotF32(t.af, t.bfv, N) + (long) fmaPeak(0.999f, 1e-3f);
            if (k % 50 == 0) {
                mvStore(t.w, t.x, t.acc, t.y, ROWS, N);
                for (int r = 0; r < ROWS; r++) check("mvStore", t.y[r], refRows[r]);
                mvChunk(t.w, t.x, t.acc, t.y, ROWS, N, 256);
                for (int r = 0; r < ROWS; r++) check("mvChunk256", t.y[r], refRows[r]);
                mvChunk(t.w, t.x, t.acc, t.y, ROWS, N, 1024);
                for (int r = 0; r < ROWS; r++) check("mvChunk1024", t.y[r], refRows[r]);
                mvStoreV(t.w, t.x, t.acc, t.y, ROWS, N);
                for (int r = 0; r < ROWS; r++) check("mvStoreV", t.y[r], refRows[r]);
                mvChunkV(t.w, t.x, t.acc, t.y, ROWS, N, 256);
                for (int r = 0; r < ROWS; r++) check("mvChunk256V", t.y[r], refRows[r]);
                mvChunkV(t.w, t.x, t.acc, t.y, ROWS, N, 1024);
                for (int r = 0; r < ROWS; r++) check("mvChunk1024V", t.y[r], refRows[r]);
                mvPairs(t.wp, t.x, t.xp, t.y, ROWS, N);
                for (int r = 0; r < ROWS; r++) check("mvPairs", t.y[r], refRows[r]);
                mvStoreBytes(t.wb, t.x, t.acc, t.y, ROWS, N);
                for (int r = 0; r < ROWS; r++) check("mvStoreBytes", t.y[r], refRows[r]);
            }
        }
        System.out.println("all kernels match the long reference; species " + F + " " + S + " " + BF + "; sink " + sink);
        if (args.length > 1) alternate(t, Integer.parseInt(args[1]));
    }

    static volatile long blackhole;

    /**
     * The kernels alternated round by round in this JVM, each for ~40 ms of calls per round; prints
     * per kernel the median over rounds of G multiply-adds per second of the thread's CPU time
     * (ThreadMXBean: waiting for a core on the shared machine does not count), the wall-clock
     * median, and the CPU-time rate as a fraction of peak_fma's in the same round.
     */
    static void alternate(Int16DotAutoVecBenchmark t, int rounds) {
        java.util.Map<String, java.util.function.IntSupplier> k = new java.util.LinkedHashMap<>();
        java.util.Map<String, Integer> macs = new java.util.HashMap<>();
        k.put("peak_fma", () -> (int) fmaPeak(0.999f, 1e-3f)); macs.put("peak_fma", PEAK_MACS);
        k.put("a_store", () -> { storeForm(t.a, t.b, t.out, N / 2); return t.out[7]; });
        k.put("b_acc", () -> { accForm(t.a, t.b, t.out, N / 2); return t.out[7]; });
        k.put("c_reduce", () -> reduceForm(t.a, t.b, N / 2));
        k.put("a_storeBytes", () -> { storeFormBytes(t.wb, 0, t.x, t.out, N / 2); return t.out[7]; });
        k.put("e_dotB2F", () -> (int) dotB2F(t.wb, 0, t.xf, N));
        k.put("e_dotB2I", () -> dotB2I(t.wb, 0, t.ab, N));
        k.put("e_dotS16", () -> dotS16(t.a, 0, t.b, N));
        k.put("e_dotS16Widen", () -> dotS16Widen(t.a, 0, t.b, N));
        k.put("e_dotF32", () -> (int) dotF32(t.af, t.bfv, N));
        for (String n : k.keySet()) macs.putIfAbsent(n, N);
        k.put("d_mvStore", () -> { mvStore(t.w, t.x, t.acc, t.y, ROWS, N); return t.y[3]; });
        k.put("d_mvChunk256", () -> { mvChunk(t.w, t.x, t.acc, t.y, ROWS, N, 256); return t.y[3]; });
        k.put("d_mvChunk1024", () -> { mvChunk(t.w, t.x, t.acc, t.y, ROWS, N, 1024); return t.y[3]; });
        k.put("d_mvStoreV", () -> { mvStoreV(t.w, t.x, t.acc, t.y, ROWS, N); return t.y[3]; });
        k.put("d_mvChunk256V", () -> { mvChunkV(t.w, t.x, t.acc, t.y, ROWS, N, 256); return t.y[3]; });
        k.put("d_mvChunk1024V", () -> { mvChunkV(t.w, t.x, t.acc, t.y, ROWS, N, 1024); return t.y[3]; });
        k.put("d_mvPairs", () -> { mvPairs(t.wp, t.x, t.xp, t.y, ROWS, N); return t.y[3]; });
        k.put("d_mvStoreBytes", () -> { mvStoreBytes(t.wb, t.x, t.acc, t.y, ROWS, N); return t.y[3]; });
        k.put("mv_B2F", () -> { int s = 0; for (int r = 0; r < ROWS; r++) s += (int) dotB2F(t.wb, r * N, t.xf, N); return s; });
        k.put("mv_B2I", () -> { int s = 0; for (int r = 0; r < ROWS; r++) s += dotB2I(t.wb, r * N, t.ab, N); return s; });
        k.put("mv_S16", () -> { int s = 0; for (int r = 0; r < ROWS; r++) s += dotS16(t.w, r * N, t.x, N); return s; });
        k.put("mv_S16Widen", () -> { int s = 0; for (int r = 0; r < ROWS; r++) s += dotS16Widen(t.w, r * N, t.x, N); return s; });
        // DRAM: the same matrix kernels over 256 rotating copies (128 MiB int16, 64 MiB int8: 4x/2x the L3), as decode streams weights
        int copies = 256;
        short[][] ws = new short[copies][];
        byte[][] wbs = new byte[copies][];
        for (int c = 0; c < copies; c++) { ws[c] = t.w.clone(); wbs[c] = t.wb.clone(); }
        int[] next = {0};
        k.put("dram_mvStoreV", () -> { mvStoreV(ws[next[0]++ & (copies - 1)], t.x, t.acc, t.y, ROWS, N); return t.y[3]; });
        k.put("dram_mvChunk1024V", () -> { mvChunkV(ws[next[0]++ & (copies - 1)], t.x, t.acc, t.y, ROWS, N, 1024); return t.y[3]; });
        k.put("dram_mv_S16Widen", () -> { short[] w = ws[next[0]++ & (copies - 1)]; int s = 0; for (int r = 0; r < ROWS; r++) s += dotS16Widen(w, r * N, t.x, N); return s; });
        k.put("dram_mv_B2I", () -> { byte[] w = wbs[next[0]++ & (copies - 1)]; int s = 0; for (int r = 0; r < ROWS; r++) s += dotB2I(w, r * N, t.ab, N); return s; });
        k.put("dram_mv_B2F", () -> { byte[] w = wbs[next[0]++ & (copies - 1)]; int s = 0; for (int r = 0; r < ROWS; r++) s += (int) dotB2F(w, r * N, t.xf, N); return s; });
        for (String n : k.keySet()) macs.putIfAbsent(n, ROWS * N);
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        java.util.Map<String, double[]> cpu = new java.util.LinkedHashMap<>(), wall = new java.util.HashMap<>(), frac = new java.util.HashMap<>();
        for (String n : k.keySet()) { cpu.put(n, new double[rounds]); wall.put(n, new double[rounds]); frac.put(n, new double[rounds]); }
        for (int r = 0; r < rounds; r++) {
            for (var e : k.entrySet()) {
                java.util.function.IntSupplier f = e.getValue();
                long calls = 0, acc = 0, c0 = mx.getCurrentThreadCpuTime(), w0 = System.nanoTime(), w1;
                do {
                    for (int j = 0; j < 16; j++) acc += f.getAsInt();
                    calls += 16;
                } while ((w1 = System.nanoTime()) - w0 < 40_000_000L);
                long c1 = mx.getCurrentThreadCpuTime();
                blackhole += acc;
                cpu.get(e.getKey())[r] = (double) calls * macs.get(e.getKey()) / (c1 - c0);
                wall.get(e.getKey())[r] = (double) calls * macs.get(e.getKey()) / (w1 - w0);
            }
            for (String n : k.keySet()) frac.get(n)[r] = cpu.get(n)[r] / cpu.get("peak_fma")[r];
        }
        System.out.printf("%-16s %12s %12s %12s %10s%n", "kernel", "GMAC/CPU-s", "(min-max)", "GMAC/s wall", "x peak_fma");
        for (String n : k.keySet()) {
            double[] c = cpu.get(n).clone(), w = wall.get(n).clone(), fr = frac.get(n).clone();
            java.util.Arrays.sort(c); java.util.Arrays.sort(w); java.util.Arrays.sort(fr);
            System.out.printf("%-16s %12.1f %5.1f-%-6.1f %12.1f %10.2f%n", n, c[rounds / 2], c[0], c[rounds - 1], w[rounds / 2], fr[rounds / 2]);
        }
    }

    private static void check(String what, long got, long want) {
        if (got != want) throw new AssertionError(what + ": " + got + " != " + want);
    }
}
