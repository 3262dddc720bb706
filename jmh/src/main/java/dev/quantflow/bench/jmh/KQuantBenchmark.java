package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.gguf.block.Q2_KLinear;
import dev.quantflow.engine.gguf.block.Q3_KLinear;
import dev.quantflow.engine.gguf.block.Q4_KLinear;
import dev.quantflow.engine.gguf.block.Q5_KLinear;
import dev.quantflow.engine.gguf.block.Q6_KLinear;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The GGUF k-quant kernels on a 1.1B-shaped matrix, 1 and 16 activation rows: fp32 arithmetic
 * (fp32Act, the engine's kernels: blocks widened to floats in registers, FMA; since issue 13 they
 * are fed x rounded to Q8_K first, which -Dquantflow.gguf.fp32-activations=true turns off) against
 * the alternative of quantizing each activation row once to int8 blocks of 256 as ggml's Q8_K does
 * and summing int4 x int8 products in int32 (int8Act, written here for Q4_K only, to decide
 * between the two).
 * Weights rotate over copies totalling >= 192 MiB so that each call streams from DRAM.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx2g"})
public class KQuantBenchmark {
    static final long ROTATION_BYTES = 192L << 20;

    @Param({"Q4_K"})
    public String type;

    /** out x in */
    @Param({"2048x5632", "5632x2048"})
    public String shape;

    @Param({"1", "16"})
    public int rows;

    int out, in, next;
    float[] x, y;
    Linear[] linears;
    Q4KInt8Activations[] int8;

    @Setup(Level.Trial)
    public void setUp() {
        String[] d = shape.split("x");
        out = Integer.parseInt(d[0]);
        in = Integer.parseInt(d[1]);
        int bytesPerBlock = switch (type) {
            case "Q2_K" -> 84;
            case "Q3_K" -> 110;
            case "Q4_K" -> 144;
            case "Q5_K" -> 176;
            case "Q6_K" -> 210;
            default -> throw new IllegalArgumentException(type);
        };
        long bytes = (long) out * in / 256 * bytesPerBlock;
        int copies = (int) Math.max(2, (ROTATION_BYTES + bytes - 1) / bytes);
        SplittableRandom rnd = new SplittableRandom(42);
        linears = new Linear[copies];
        int8 = type.equals("Q4_K") ? new Q4KInt8Activations[copies] : null;
        byte[] b = new byte[(int) bytes];
        for (int c = 0; c < copies; c++) {
            for (int i = 0; i < b.length; i++) b[i] = (byte) rnd.nextInt();
            for (int blk = 0; blk < bytes / bytesPerBlock; blk++) {   // small finite f16 super-block scales
                int at = blk * bytesPerBlock + (type.equals("Q2_K") ? 80 : type.equals("Q3_K") ? 108 : type.equals("Q6_K") ? 208 : 0);
                for (int h = 0; h < (type.equals("Q3_K") || type.equals("Q6_K") ? 1 : 2); h++) {
                    short f = Float.floatToFloat16((float) (rnd.nextDouble() * 1e-3));
                    b[at + 2 * h] = (byte) f;
                    b[at + 2 * h + 1] = (byte) (f >> 8);
                }
            }
            MemorySegment seg = MemorySegment.ofArray(b);
            linears[c] = switch (type) {
                case "Q2_K" -> new Q2_KLinear(seg, out, in);
                case "Q3_K" -> new Q3_KLinear(seg, out, in);
                case "Q4_K" -> new Q4_KLinear(seg, out, in);
                case "Q5_K" -> new Q5_KLinear(seg, out, in);
                default -> new Q6_KLinear(seg, out, in);
            };
            if (int8 != null) int8[c] = new Q4KInt8Activations(seg, out, in);
        }
        x = new float[rows * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        y = new float[rows * out];
        if (int8 != null) {   // the alternative must compute the same product, up to its activation rounding
            float[] ref = new float[rows * out];
            linears[0].forward(x, rows, ref);
            int8[0].forward(x, rows, y);
            double err = 0, norm = 0;
            for (int i = 0; i < ref.length; i++) {
                err += (ref[i] - y[i]) * (ref[i] - y[i]);
                norm += ref[i] * ref[i];
            }
            if (!(Math.sqrt(err / norm) < 0.02)) throw new IllegalStateException("int8-activation Q4_K differs from fp32 by " + Math.sqrt(err / norm));
        }
    }

    private int nextCopy() {
        int c = next;
        next = (c + 1) % linears.length;
        return c;
    }

    @Benchmark
    public float[] fp32Act1Thread() {
        Linear l = linears[nextCopy()];
        Parallel.withThreads(1, () -> l.forward(x, rows, y));
        return y;
    }

    @Benchmark
    public float[] fp32ActAllThreads() {
        linears[nextCopy()].forward(x, rows, y);
        return y;
    }

    @Benchmark
    public float[] int8Act1Thread() {
        if (int8 == null) throw new IllegalStateException("int8 activations are measured on Q4_K only");
        Q4KInt8Activations l = int8[nextCopy()];
        Parallel.withThreads(1, () -> l.forward(x, rows, y));
        return y;
    }

    /**
     * The measured alternative for Q4_K: each activation row quantized once to int8 per 256
     * (scale max|x|/127, sums per 32 for the mins), then per super-block
     * y += d dx sum_s sc_s (q4 . q8)_s - dmin dx sum_s m_s sum(q8)_s, the products in int32 lanes.
     */
    static final class Q4KInt8Activations {
        static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
        static final int L = F.length();
        static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
        static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));
        static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        final MemorySegment w, owner;
        final int out, in, nb;

        Q4KInt8Activations(MemorySegment blocks, int out, int in) {
            KernelMemory.View v = KernelMemory.weights(blocks.byteSize());
            MemorySegment.copy(blocks, 0, v.view(), 0, blocks.byteSize());
            this.w = v.view();
            this.owner = v.owner();
            this.out = out;
            this.in = in;
            this.nb = in / 256;
        }

        static int scaleMin(MemorySegment w, long sc, int s, int which) {
            if (s < 4) return w.get(ValueLayout.JAVA_BYTE, sc + s + which) & 63;
            int low = w.get(ValueLayout.JAVA_BYTE, sc + s + 4) & 0xFF, high = (w.get(ValueLayout.JAVA_BYTE, sc + s - 4 + which) & 0xFF) >>> 6;
            return (which == 0 ? low & 15 : low >>> 4) | high << 4;
        }

        void forward(float[] x, int rows, float[] y) {
            byte[] q8 = new byte[rows * in];
            float[] dx = new float[rows * nb];
            int[] bsum = new int[rows * in / 32];
            for (int r = 0; r < rows; r++)
                for (int b = 0; b < nb; b++) {
                    int from = r * in + b * 256;
                    float amax = 0;
                    for (int i = 0; i < 256; i++) amax = Math.max(amax, Math.abs(x[from + i]));
                    float scale = amax == 0 ? 1 : amax / 127, inv = 1 / scale;
                    dx[r * nb + b] = scale;
                    for (int i = 0; i < 256; i++) {
                        int q = Math.round(x[from + i] * inv);
                        q8[from + i] = (byte) q;
                        bsum[(from + i) / 32] += q;
                    }
                }
            Parallel.range(out, (long) in * rows, (start, end) -> {
                for (int o = start; o < end; o++)
                    for (int r = 0; r < rows; r++) {
                        float acc = 0;
                        for (int b = 0; b < nb; b++) {
                            long at = ((long) o * nb + b) * 144, sc = at + 4, qs = at + 16;
                            int xo = r * in + b * 256;
                            IntVector sum = IntVector.zero(I);
                            int mins = 0;
                            for (int j = 0; j < 4; j++) {
                                int s0 = scaleMin(w, sc, 2 * j, 0), s1 = scaleMin(w, sc, 2 * j + 1, 0);
                                mins += scaleMin(w, sc, 2 * j, 4) * bsum[xo / 32 + 2 * j] + scaleMin(w, sc, 2 * j + 1, 4) * bsum[xo / 32 + 2 * j + 1];
                                IntVector p0 = IntVector.zero(I), p1 = p0;
                                for (int c = 0; c < 32; c += L) {
                                    IntVector v = ((IntVector) ByteVector.fromMemorySegment(B, w, qs + 32 * j + c, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
                                    IntVector a = (IntVector) ByteVector.fromArray(B, q8, xo + 64 * j + c).convertShape(VectorOperators.B2I, I, 0);
                                    IntVector h = (IntVector) ByteVector.fromArray(B, q8, xo + 64 * j + 32 + c).convertShape(VectorOperators.B2I, I, 0);
                                    p0 = p0.add(v.and(15).mul(a));
                                    p1 = p1.add(v.lanewise(VectorOperators.LSHR, 4).mul(h));
                                }
                                sum = sum.add(p0.mul(s0)).add(p1.mul(s1));
                            }
                            float d = Float.float16ToFloat(w.get(I16, at)), dmin = Float.float16ToFloat(w.get(I16, at + 2));
                            acc += dx[r * nb + b] * (d * sum.reduceLanes(VectorOperators.ADD) - dmin * mins);
                        }
                        y[r * out + o] = acc;
                    }
            });
        }
    }
}
