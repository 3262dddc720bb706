package dev.quantflow.gpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.quant.Int4GroupLinear;
import dev.quantflow.engine.quant.Int4Packing;
import dev.quantflow.engine.quant.LlmInt8Linear;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantScheme;
import dev.quantflow.engine.quant.QuantizedMatrix;
import dev.quantflow.engine.quant.QuantizedModels;
import dev.quantflow.engine.quant.W8A8DynamicLinear;
import dev.quantflow.gpu.linear.CudaFormat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every scheme string through the one quantization language and both backends' factories (the
 * CUDA one up to the upload, which needs no card): the same strings parse or fail for both, and
 * what a card would upload is the engine's packed codes and scales, byte for byte. The card never
 * re-quantizes; a scheme it has no kernel for is refused in one line naming layer and scheme.
 */
class SchemeTableTest {
    private static final String NAME = "model.layers.0.mlp.up_proj";
    private static final int OUT = 48, IN = 128;

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "dense", "bf16", "w8a16", "w8a8-dynamic", "w8a8-dynamic:group=32", "w8a8-dynamic:group=128", "llm-int8",
            "llm-int8:threshold=4.5", "llm-int8:threshold=6.0,fp=dequant", "w4a16-rtn", "w4a16-rtn:group=32", "w4a16-rtn:group=64", "w4a16",
            "fp8", "fp8:format=e5m2,scale=tensor", "fp8-w8a16:format=e4m3", "fp8-w8a8", "fp8-w8a8:act=tensor,scale=tensor", "nf4", "fp4"})
    void aSchemeTheCpuBuildsIsUploadedAsTheEnginesCodesOrRefusedByName(String spec) {
        QuantScheme scheme = QuantPlan.parse(spec, List.of()).schemeFor(NAME);
        LinearFactory engine = QuantizedModels.calibrationFree(spec);
        Tensor w = tensor(OUT, IN, spec.hashCode());
        Linear cpu = engine.create(NAME, w, null);
        CudaFormat card;
        try {
            card = CudaFormat.of(NAME, scheme, w, null, engine);
        } catch (IllegalArgumentException refused) {
            assertThat(scheme).isInstanceOfAny(QuantScheme.W8A16.class, QuantScheme.W8A8Tensor.class, QuantScheme.Fp8.class, QuantScheme.Fp8W8A8.class, QuantScheme.FourBit.class);
            assertThat(refused.getMessage()).startsWith(NAME + ": " + scheme + " cannot run on a CUDA card").doesNotContain("\n");
            return;
        }
        switch (card) {
            case CudaFormat.Dense d -> {
                assertThat(cpu).isInstanceOf(DenseLinear.class);
                Tensor expected = scheme instanceof QuantScheme.Bf16 ? QuantizedModels.toBf16(w) : w;
                assertThat(d.weight().dtype()).isEqualTo(expected.dtype());
                assertThat(bytes(d.weight())).isEqualTo(bytes(expected));
            }
            case CudaFormat.Int8 q -> {
                QuantizedMatrix m = cpu instanceof LlmInt8Linear l ? l.weights() : ((W8A8DynamicLinear) cpu).weights();
                assertThat(q.weights().q()).isEqualTo(m.q());
                assertThat(q.weights().scales()).isEqualTo(m.scales());
                assertThat(q.threshold()).isEqualTo(cpu instanceof LlmInt8Linear l ? l.threshold() : Float.POSITIVE_INFINITY);
            }
            case CudaFormat.W8A8Groups q -> {
                QuantizedMatrix m = ((W8A8DynamicLinear) cpu).weights();
                assertThat(q.weights().q()).isEqualTo(m.q());
                assertThat(q.weights().scales()).isEqualTo(m.scales());
                assertThat(q.weights().group()).isEqualTo(m.layout().groupSize());
            }
            case CudaFormat.W4A16 q -> {
                QuantizedMatrix m = Int4Packing.toUnsigned(((Int4GroupLinear) cpu).weights());
                assertThat(q.weights().packed()).isEqualTo(Int4Packing.pack(m.q(), OUT, IN));   // the checkpoint's packing, not a second one
                assertThat(q.weights().scales()).isEqualTo(m.scales());
                for (int i = 0; i < m.zeros().length; i++) assertThat(q.weights().zeros()[i]).isEqualTo(m.zeros()[i]);
                for (int n = 0; n < OUT; n++)
                    for (int k = 0; k < IN; k++) assertThat(q.weights().dequant(n, k)).isEqualTo(m.dequantize(n, k));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llm-int8:6.0", "int3", "w4a16:x", "w8a8-dynamic:group=0", "bf16:group=2", "fp8:format=e3m4", "fp8-w8a8:act=row", "fp8:scale=group"})
    void aStringTheLanguageRefusesIsRefusedForEveryBackend(String spec) {
        assertThatThrownBy(() -> QuantPlan.parse(spec, List.of())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> QuantizedModels.calibrationFree(spec)).isInstanceOf(IllegalArgumentException.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"w8a8-dynamic:group=48", "w4a16-rtn:group=48"})
    void aRaggedLastGroupRunsOnTheCpuAndIsRefusedOnACard(String spec) {
        QuantScheme scheme = QuantPlan.parse(spec, List.of()).schemeFor(NAME);
        LinearFactory engine = QuantizedModels.calibrationFree(spec);
        Tensor w = tensor(OUT, IN, 7);
        assertThat(engine.create(NAME, w, null).outFeatures()).isEqualTo(OUT);
        assertThatThrownBy(() -> CudaFormat.of(NAME, scheme, w, null, engine)).hasMessageContaining("must").hasMessageContaining("divide in=128");
    }

    private static Tensor tensor(int out, int in, long seed) {
        Random r = new Random(seed);
        float[] a = new float[out * in];
        for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * 0.05);
        return new Tensor("w", DType.F32, new long[] {out, in}, MemorySegment.ofArray(a));
    }

    private static byte[] bytes(Tensor t) {
        return t.data().toArray(ValueLayout.JAVA_BYTE);
    }
}
