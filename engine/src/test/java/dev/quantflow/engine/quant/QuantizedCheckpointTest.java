package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.WindowForward;
import dev.quantflow.engine.model.DType;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Quantized models written to disk load back to the same function; AutoGPTQ/AutoAWQ packings round-trip. */
class QuantizedCheckpointTest {
    @TempDir
    Path tmp;

    static float[] logits(LlamaStage s, LlamaModel m, int[] tokens) {
        return WindowForward.logits(s, tokens, KvFormat.F32.caches(m.config(), KvCache.BLOCK_SIZE));
    }

    @ParameterizedTest
    @ValueSource(strings = {"w8a16", "llm-int8", "w8a8-tensor", "smoothquant:weights=tensor", "w8a8-dynamic:group=32", "w4a16-gptq:group=32,act-order=true", "bf16",
            "fp8", "fp8:format=e5m2,scale=tensor", "fp8-w8a8", "fp8-w8a8:act=static,scale=tensor", "nf4", "nf4:block=32,double-quant=false", "fp4", "fp4:double-quant=false", "w4a8:group=32", "w4a8-lkd:lkd-steps=3",
            "fp8-w8a8:weights=gptq", "fp8-w8a8:weights=mse,smooth=0.5", "fp8-w8a8:act=static,weights=gptq,smooth=0.5", "w4a8:group=32,weights=gptq",
            "nf4:scale=mse", "nf4:scale=mse,weights=gptq", "fp4:double-quant=false,scale=mse", "fp8-w8a8:weights=gptq-mse", "fp8-w8a8:weights=gptq-mse,lkd=true,lkd-steps=3",
            "fp8-w8a8:smooth=search", "fp8-w8a8:weights=gptq,smooth=search-model", "fp8-w8a8:weights=gptq-mse,act-order=true,smooth=search"})
    void ourFormatReloadsToTheSameOutputs(String scheme) {
        Path src = SharedData.path("models/stories260K");
        try (LlamaModel m = LlamaModel.open(src)) {
            int[] calib = TextTokens.load(SharedData.path("data/stories260K-calib.txt"), m.tokenizer(), 256);
            int[] text = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), m.tokenizer(), 48);
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse(scheme, List.of()), Optional.of(calib), QuantizedModels.Options.DEFAULT);
            float[] before = logits(b.stage(), m, text);
            QuantizedCheckpoint.save(b, src, tmp.resolve("q"), QuantizedCheckpoint.Format.QUANTFLOW);
            try (LlamaModel q = LlamaModel.open(tmp.resolve("q"))) {
                assertThat(QuantizedCheckpoint.isQuantized(q.config())).isTrue();
                QuantizedModels.Built loaded = QuantizedModels.loadStored(q);
                // same codes and scales; only the summation order of the JIT's vector reductions may differ
                float[] after = logits(loaded.stage(), q, text);
                for (int i = 0; i < before.length; i++) assertThat(after[i]).isCloseTo(before[i], Offset.offset(1e-4f));
                assertThat(loaded.weightBytes()).isEqualTo(b.weightBytes());
                assertThat(loaded.format("model.layers.1.mlp.down_proj").scheme()).isEqualTo(b.format("model.layers.1.mlp.down_proj").scheme());
            }
        }
    }

    @Test
    void gptqPackingRoundTripsIncludingTheZeroMinusOneConvention() {
        QuantizedMatrix m = randomInt4(24, 64, 16, 1);
        AutoGptqFormat.Packed p = AutoGptqFormat.packGptq(m);
        assertThat(p.qweight()).hasSize(64 / 8 * 24);
        assertThat(p.qzeros()).hasSize(4 * 24 / 8);
        AutoGptqFormat.Unpacked u = AutoGptqFormat.unpackGptq(p, 16);
        assertThat(u.permutation()).isNull();
        assertThat(u.weights().q()).isEqualTo(m.q());
        assertThat(u.weights().zeros()).isEqualTo(m.zeros());
        assertThat(u.weights().scales()).isEqualTo(m.scales());
        // first int32 of qweight holds input rows 0..7 of output channel 0, row i at bits 4i
        int word = p.qweight()[0];
        for (int i = 0; i < 8; i++) assertThat((word >>> (4 * i)) & 0xF).isEqualTo(m.code(0, i));
        assertThat(p.qzeros()[0] & 0xF).isEqualTo((m.zero(0, 0) - 1) & 0xF);
    }

    @Test
    void actOrderGIdxBecomesAnInputPermutation() {
        int out = 8, in = 32, g = 8;
        QuantizedMatrix m = randomInt4(out, in, g, 2);
        AutoGptqFormat.Packed p = AutoGptqFormat.packGptq(m);
        int[] gIdx = new int[in];
        for (int i = 0; i < in; i++) gIdx[i] = (i * 5 + 3) % in / g;   // each group still holds g columns, scattered
        AutoGptqFormat.Unpacked u = AutoGptqFormat.unpackGptq(new AutoGptqFormat.Packed(p.qweight(), p.qzeros(), p.scales(), gIdx, in, out, in / g), g);
        assertThat(u.permutation()).isNotNull();
        for (int k = 0; k < in; k++) {
            int col = u.permutation()[k];
            assertThat(gIdx[col]).isEqualTo(k / g);
            for (int o = 0; o < out; o++) assertThat(u.weights().code(o, k)).isEqualTo(m.code(o, col));
        }
    }

    @Test
    void awqPackingRoundTripsWithItsInterleavedOrder() {
        QuantizedMatrix m = randomInt4(16, 32, 16, 3);
        AutoGptqFormat.Packed p = AutoGptqFormat.packAwq(m);
        assertThat(p.qweight()).hasSize(32 * 16 / 8);
        QuantizedMatrix u = AutoGptqFormat.unpackAwq(p, 16);
        assertThat(u.q()).isEqualTo(m.q());
        assertThat(u.zeros()).isEqualTo(m.zeros());
        int word = p.qweight()[0];   // input row 0, output channels 0..7 in the order 0,2,4,6,1,3,5,7
        assertThat((word >>> 4) & 0xF).isEqualTo(m.code(2, 0));
        assertThat((word >>> 16) & 0xF).isEqualTo(m.code(1, 0));
    }

    static QuantizedMatrix randomInt4(int out, int in, int g, long seed) {
        Random r = new Random(seed);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        QuantizedMatrix m = QuantizedMatrix.quantize(w, out, in, IntRange.INT4_ASYM, g, RangeMethod.MIN_MAX);
        float[] s = m.scales().clone();   // fp16-exact scales, as the files store them
        for (int i = 0; i < s.length; i++) s[i] = Float.float16ToFloat(Float.floatToFloat16(s[i]));
        return new QuantizedMatrix(m.range(), out, in, m.layout(), m.q(), s, m.zeros());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gptq", "awq"})
    void sotu6MWrittenAsAutoGptqOrAutoAwqLoadsBack(String format) {
        Path src = SharedData.path("models/sotu6M");
        try (LlamaModel m = LlamaModel.open(src)) {
            int[] text = TextTokens.load(SharedData.path("data/sotu6M-eval.txt"), m.tokenizer(), 24);
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse("w4a16-rtn:group=128", List.of()), Optional.empty(), QuantizedModels.Options.DEFAULT);
            float[] before = logits(b.stage(), m, text);
            QuantizedCheckpoint.save(b, src, tmp.resolve(format), QuantizedCheckpoint.Format.parse(format));
            try (LlamaModel q = LlamaModel.open(tmp.resolve(format))) {
                assertThat(q.config().quantizationConfig().path("quant_method").asText()).isEqualTo(format);
                assertThat(q.weights().get("model.layers.0.mlp.down_proj.qweight").dtype()).isEqualTo(DType.I32);
                float[] after = logits(q.full(QuantizedModels.atLoad(q.config(), q.weights(), "fp32")), q, text);
                float max = 0;
                for (float v : before) max = Math.max(max, Math.abs(v));
                for (int i = 0; i < before.length; i++) assertThat(Math.abs(after[i] - before[i])).isLessThan(0.02f * max);   // fp16 scales
            }
        }
    }
}
