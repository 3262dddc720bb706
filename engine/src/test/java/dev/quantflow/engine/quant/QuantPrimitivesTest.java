package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Quantization primitives against float64: the round-trip error of every in-range value is at most scale/2. */
class QuantPrimitivesTest {
    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian() * 0.1f + (i % 7 == 0 ? 0.05f : 0f);
        return v;
    }

    /** |x - dequant(quant(x))| <= scale/2 (+ float rounding of the scale arithmetic) for every element. */
    static void assertWithinHalfStep(float[] w, QuantizedMatrix q) {
        for (int r = 0; r < q.rows(); r++)
            for (int c = 0; c < q.cols(); c++) {
                int g = c / q.layout().groupSize();
                double scale = q.scale(r, g);
                double deq = ((double) q.code(r, c) - q.zero(r, g)) * scale;
                assertThat(Math.abs(deq - w[r * q.cols() + c])).as("row %d col %d", r, c).isLessThanOrEqualTo(scale / 2 * (1 + 1e-5) + 1e-7);
                assertThat(q.code(r, c)).isBetween(q.range().qmin(), q.range().qmax());
            }
    }

    @ParameterizedTest
    @CsvSource({"8,true,64", "8,false,64", "4,true,32", "4,false,32", "4,false,128", "8,true,172", "4,false,500"})
    void perGroupRoundTripIsWithinHalfAStep(int bits, boolean sym, int group) {
        int rows = 5, cols = 172;   // stories260K's intermediate size: 128 + a ragged 44
        float[] w = gaussian(rows * cols, bits * 31L + group);
        QuantizedMatrix q = QuantizedMatrix.quantize(w, rows, cols, new IntRange(bits, sym), group, RangeMethod.MIN_MAX);
        assertThat(q.groups()).isEqualTo((cols + Math.min(group, cols) - 1) / Math.min(group, cols));
        assertWithinHalfStep(w, q);
        // the scale follows from the group's range: max|w| / qmax (symmetric) or (max - min) / (2^b - 1)
        float lo = 0, hi = 0;
        for (int c = 0; c < Math.min(group, cols); c++) {
            lo = Math.min(lo, w[c]);
            hi = Math.max(hi, w[c]);
        }
        double expected = sym ? Math.max(-lo, hi) / q.range().qmax() : (hi - lo) / ((1 << bits) - 1.0);
        assertThat((double) q.scale(0, 0)).isCloseTo(expected, Offset.offset(expected * 1e-6));
    }

    @Test
    void perTensorUsesOneScaleAndPerTokenOnePerRow() {
        float[] x = gaussian(4 * 64, 7);
        x[70] = 5f;   // one outlier stretches the per-tensor scale for everyone
        QuantizedMatrix t = QuantizedMatrix.quantizePerTensor(x, 4, 64, IntRange.INT8_SYM, RangeMethod.MIN_MAX);
        assertWithinHalfStep(x, t);
        assertThat(t.scale(0, 0)).isEqualTo(t.scale(3, 0)).isEqualTo(5f / 127);
        ActivationQuant a = ActivationQuant.quantize(x, 4, GroupLayout.perRow(64));
        assertThat(a.scales()[1]).isEqualTo(5f / 127);
        assertThat(a.scales()[0]).isLessThan(1f / 127);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 64; c++)
                assertThat(Math.abs(a.q()[r * 64 + c] * (double) a.scales()[r] - x[r * 64 + c])).isLessThanOrEqualTo(a.scales()[r] / 2 * (1 + 1e-5));
    }

    @Test
    void groupLargerThanTheRowIsOneGroupPerRow() {
        GroupLayout g = new GroupLayout(64, 128);
        assertThat(g.groups()).isEqualTo(1);
        assertThat(g.end(0)).isEqualTo(64);
        GroupLayout ragged = new GroupLayout(172, 128);
        assertThat(ragged.groups()).isEqualTo(2);
        assertThat(ragged.end(1) - ragged.start(1)).isEqualTo(44);
    }

    @Test
    void percentileClipsAndMseSearchNeverLosesToMinMax() {
        float[] v = gaussian(1000, 3);
        v[10] = 3f;
        float[] p = new RangeMethod.Percentile(99).range(v, 0, v.length, IntRange.INT8_SYM);
        assertThat(p[1]).isLessThan(3f).isGreaterThan(0.1f);
        IntRange r = IntRange.INT4_SYM;
        double mse = err(v, r, RangeMethod.MseSearch.DEFAULT.range(v, 0, v.length, r));
        double minmax = err(v, r, RangeMethod.MIN_MAX.range(v, 0, v.length, r));
        assertThat(mse).isLessThanOrEqualTo(minmax);
        assertThat(mse).isLessThan(minmax * 0.9);   // one outlier: clipping it pays
    }

    static double err(float[] v, IntRange r, float[] lohi) {
        IntRange.QParams p = r.params(lohi[0], lohi[1]);
        double e = 0;
        for (float x : v) {
            double d = r.dequantize(r.quantize(x, p), p) - x;
            e += d * d;
        }
        return e;
    }

    @Test
    void int4PackingRoundTripsOddRows() {
        Random rnd = new Random(5);
        byte[] codes = new byte[3 * 7];
        for (int i = 0; i < codes.length; i++) codes[i] = (byte) rnd.nextInt(16);
        byte[] packed = Int4Packing.pack(codes, 3, 7);
        assertThat(packed).hasSize(3 * 4);
        assertThat(packed[0] & 0xF).isEqualTo(codes[0]);
        assertThat((packed[0] & 0xFF) >>> 4).isEqualTo(codes[1]);
        assertThat(Int4Packing.unpack(packed, 3, 7)).isEqualTo(codes);
        assertThatThrownBy(() -> Int4Packing.pack(new byte[] {16}, 1, 1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void schemesParseAndPrintCanonically() {
        assertThat(QuantScheme.parse("llm-int8:threshold=6.0")).isEqualTo(new QuantScheme.LlmInt8(6f, LlmInt8Linear.FpSource.CALIBRATED));
        assertThat(QuantScheme.parse("w4a16-gptq").toString()).isEqualTo("w4a16-gptq:group=128");
        assertThat(QuantScheme.parse("w8a8-dynamic:group=64")).isEqualTo(new QuantScheme.W8A8Dynamic(64));
        assertThat(QuantScheme.parse("smoothquant:alpha=0.8,weights=tensor")).isEqualTo(new QuantScheme.SmoothQuant(0.8f, false));
        assertThat(QuantScheme.parse("Q6_K")).isEqualTo(new QuantScheme.Q6K());
        assertThat(QuantScheme.parse("q6_k").toString()).isEqualTo("q6_k");
        assertThat(QuantScheme.parse("q6_k").needsCalibration()).isFalse();
        assertThatThrownBy(() -> QuantScheme.parse("q6_k:group=32")).hasMessageContaining("unknown parameter");
        for (String s : new String[] {"fp32", "bf16", "w8a16", "w8a8-tensor", "llm-int8:threshold=6.0,fp=dequant", "w4a16-awq:group=32", "w4a16-rtn:group=32,sym=true", "q6_k"})
            assertThat(QuantScheme.parse(QuantScheme.parse(s).toString())).isEqualTo(QuantScheme.parse(s));
        assertThatThrownBy(() -> QuantScheme.parse("int3")).hasMessageContaining("unknown quantization scheme");
        assertThatThrownBy(() -> QuantScheme.parse("w4a16-gptq:sym=true")).hasMessageContaining("sym=true applies to w4a16-rtn only");
        assertThat(QuantScheme.parse("w4a16-rtn:group=32,sym=true")).isEqualTo(new QuantScheme.W4A16(QuantScheme.Int4Method.RTN, 32, false, true));
        assertThatThrownBy(() -> QuantScheme.parse("w4a16-rtn:group=0")).hasMessageContaining("group");
        assertThatThrownBy(() -> QuantScheme.parse("smoothquant:alpha=2")).hasMessageContaining("alpha");
        assertThatThrownBy(() -> QuantScheme.parse("llm-int8:bogus=1")).hasMessageContaining("bogus");
        QuantPlan plan = QuantPlan.parse("w4a16-rtn", List.of("down_proj=w8a16", "layers.0.*=fp32"));
        assertThat(plan.schemeFor("model.layers.3.mlp.down_proj")).isEqualTo(new QuantScheme.W8A16());
        assertThat(plan.schemeFor("model.layers.0.mlp.down_proj")).isEqualTo(new QuantScheme.Fp32());
        assertThat(plan.schemeFor("model.layers.2.self_attn.q_proj").name()).isEqualTo("w4a16-rtn");
        assertThat(plan.schemeFor("lm_head")).isEqualTo(new QuantScheme.Fp32());
    }

    /** The lane quantizer gives the scalar's code for every value, halfway points, NaN and values far outside the grid included. */
    @ParameterizedTest
    @CsvSource({"8,true", "8,false", "4,true", "4,false"})
    void laneQuantizeIsTheScalarOne(int bits, boolean sym) {
        IntRange r = new IntRange(bits, sym);
        IntRange.QParams p = r.params(-0.3f, 0.7f);
        Random rnd = new Random(bits * 7L + (sym ? 1 : 0));
        float[] v = new float[4099];
        for (int i = 0; i < v.length; i++) {
            v[i] = switch (i % 5) {
                case 0 -> (float) rnd.nextGaussian() * 0.4f;
                case 1 -> (rnd.nextInt(41) - 20 + 0.5f) * p.scale();             // on a halfway point (as far as float allows)
                case 2 -> Math.nextDown((rnd.nextInt(41) - 20 + 0.5f) * p.scale());
                case 3 -> (float) rnd.nextGaussian() * 1e6f;
                default -> i % 15 == 4 ? Float.NaN : (i % 10 == 4 ? Float.NEGATIVE_INFINITY : -0.0f);
            };
        }
        byte[] lanes = new byte[v.length + 3];
        r.quantize(v, 0, v.length, p, lanes, 3);
        for (int i = 0; i < v.length; i++) assertThat(lanes[3 + i]).as("v[%d] = %s", i, v[i]).isEqualTo((byte) r.quantize(v[i], p));
    }

    /** Quantizing a stored BF16 tensor row by row gives exactly the codes of quantizing its fp32 copy. */
    @ParameterizedTest
    @CsvSource({"8,true,172", "4,false,32", "4,true,128", "8,true,64"})
    void streamedTensorQuantizeIsTheArrayOne(int bits, boolean sym, int group) {
        int rows = 7, cols = 172;
        float[] w = gaussian(rows * cols, 91L + bits + group);
        short[] raw = new short[w.length];
        for (int i = 0; i < w.length; i++) raw[i] = (short) (Float.floatToRawIntBits(w[i]) >>> 16);
        dev.quantflow.engine.model.Tensor t = new dev.quantflow.engine.model.Tensor("w", dev.quantflow.engine.model.DType.BF16,
                new long[] {rows, cols}, java.lang.foreign.MemorySegment.ofArray(raw));
        float[] widened = new float[w.length];
        for (int i = 0; i < w.length; i++) widened[i] = Float.intBitsToFloat((raw[i] & 0xFFFF) << 16);
        assertThat(t.toFloatArray()).containsExactly(widened);
        IntRange r = new IntRange(bits, sym);
        QuantizedMatrix a = QuantizedMatrix.quantize(widened, rows, cols, r, group, RangeMethod.MIN_MAX);
        QuantizedMatrix b = QuantizedMatrix.quantize(t, r, group, RangeMethod.MIN_MAX);
        assertThat(b.q()).containsExactly(a.q());
        assertThat(b.scales()).containsExactly(a.scales());
        assertThat(b.zeros()).containsExactly(a.zeros());
        assertWithinHalfStep(widened, b);
    }

    /** BF16 widening reads native memory (a mapping's kind) and heap memory alike, any offset and length, and refuses closed memory. */
    @Test
    void bf16DecodeIsTheSameFromNativeAndHeapMemory() {
        float[] w = gaussian(1000, 17);
        short[] raw = new short[w.length];
        for (int i = 0; i < w.length; i++) raw[i] = (short) (Float.floatToRawIntBits(w[i]) >>> 16);
        java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined();
        java.lang.foreign.MemorySegment nat = arena.allocate(2L * raw.length), heap = java.lang.foreign.MemorySegment.ofArray(raw);
        java.lang.foreign.MemorySegment.copy(heap, 0, nat, 0, heap.byteSize());
        for (int[] c : new int[][] {{0, 1000}, {3, 17}, {1, 999}, {500, 1}, {7, 2050 / 4}}) {
            int from = c[0], n = c[1];
            float[] a = new float[n + 2], b = new float[n + 2], expect = new float[n + 2];
            for (int i = 0; i < n; i++) expect[2 + i] = Float.intBitsToFloat((raw[from + i] & 0xFFFF) << 16);
            dev.quantflow.engine.model.Tensor.decodeBf16(nat, 2L * from, a, 2, n);
            dev.quantflow.engine.model.Tensor.decodeBf16(heap, 2L * from, b, 2, n);
            assertThat(a).as("native from %d n %d", from, n).containsExactly(expect);
            assertThat(b).as("heap from %d n %d", from, n).containsExactly(expect);
        }
        assertThatThrownBy(() -> dev.quantflow.engine.model.Tensor.decodeBf16(nat, 2L * 990, new float[20], 0, 20)).isInstanceOf(IndexOutOfBoundsException.class);
        arena.close();
        assertThatThrownBy(() -> dev.quantflow.engine.model.Tensor.decodeBf16(nat, 0, new float[20], 0, 20)).isInstanceOf(IllegalStateException.class);
    }

    /** From a mapped file the streamed quantize (which drops the rows' pages as it goes) gives the heap copy's codes, and the rows read back the same after. */
    @Test
    void streamedQuantizeOfAMappedTensorIsTheHeapOne(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        int rows = 300, cols = 1100;   // several 64-row unload chunks per thread, a row not a whole number of pages
        float[] w = gaussian(rows * cols, 23);
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(2 * w.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float v : w) bytes.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
        java.nio.file.Path file = dir.resolve("w.bf16");
        java.nio.file.Files.write(file, bytes.array());
        short[] raw = new short[w.length];
        bytes.rewind();
        bytes.asShortBuffer().get(raw);
        long[] shape = {rows, cols};
        dev.quantflow.engine.model.Tensor heap = new dev.quantflow.engine.model.Tensor("w", dev.quantflow.engine.model.DType.BF16, shape, java.lang.foreign.MemorySegment.ofArray(raw));
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared();   // read by the quantize's threads, as WeightStore's
             java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
            dev.quantflow.engine.model.Tensor mapped = new dev.quantflow.engine.model.Tensor("w", dev.quantflow.engine.model.DType.BF16, shape,
                    ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, 2L * w.length, arena));
            for (IntRange r : new IntRange[] {IntRange.INT8_SYM, IntRange.INT4_ASYM}) {
                QuantizedMatrix a = QuantizedMatrix.quantize(heap, r, r.bits() == 8 ? cols : 128, RangeMethod.MIN_MAX);
                QuantizedMatrix b = QuantizedMatrix.quantize(mapped, r, r.bits() == 8 ? cols : 128, RangeMethod.MIN_MAX);
                assertThat(b.q()).containsExactly(a.q());
                assertThat(b.scales()).containsExactly(a.scales());
            }
            mapped.unloadRows(5, 100);
            assertThat(mapped.toFloatArray()).containsExactly(heap.toFloatArray());
        }
    }
}
