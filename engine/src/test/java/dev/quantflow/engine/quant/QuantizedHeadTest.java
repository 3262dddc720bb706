package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.compute.RowDecodable;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.WindowForward;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A quantized lm_head, and for a tied model the embedding served from the same quantized rows:
 * the rows decode to the codes' float64 values, the tied model computes exactly the fp32 model
 * whose table is those values, and the quantize -> load path keeps it without the float table.
 */
class QuantizedHeadTest {
    @TempDir
    Path tmp;

    /** A random (out, in) matrix with a few large entries, so groups get different ranges. */
    static float[] random(int out, int in, long seed) {
        Random r = new Random(seed);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * (r.nextInt(50) == 0 ? 4 : 1));
        return w;
    }

    @ParameterizedTest
    @ValueSource(strings = {"w8a16", "w4a16-rtn:group=32", "w4a16-rtn:group=64", "w4a16-rtn:group=128", "w4a16-gptq-permuted"})
    void decodedRowsEqualTheCodesInFloat64(String format) {
        int out = 77, in = 200;   // neither a multiple of the kernels' 8/4 interleaved rows nor of 32 columns
        float[] w = random(out, in, format.hashCode());
        QuantizedMatrix m;
        RowDecodable l;
        int[] perm = null;
        if (format.equals("w8a16")) {
            m = QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX);
            l = new Int8Linear(m, null);
        } else {
            int g = format.startsWith("w4a16-gptq") ? 32 : Integer.parseInt(format.substring(format.indexOf('=') + 1));
            if (format.endsWith("permuted")) {   // act-order: codes stored in a permuted column order
                perm = new int[in];
                for (int i = 0; i < in; i++) perm[i] = (i * 37 + 11) % in;
                float[] stored = new float[out * in];
                for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) stored[o * in + i] = w[o * in + perm[i]];
                m = QuantizedMatrix.quantize(stored, out, in, IntRange.INT4_ASYM, g, RangeMethod.MIN_MAX);
            } else {
                m = QuantizedMatrix.quantize(w, out, in, IntRange.INT4_ASYM, g, RangeMethod.MIN_MAX);
            }
            l = new Int4GroupLinear(m, perm, null, format);
        }
        float[] row = new float[in + 3];
        for (int o = 0; o < out; o++) {
            l.decodeRow(o, row, 3);
            for (int i = 0; i < in; i++) {
                int stored = perm == null ? i : inverse(perm)[i];
                int g = stored / m.layout().groupSize();
                double want = ((double) m.code(o, stored) - m.zero(o, g)) * m.scale(o, g);
                assertThat((double) row[3 + i]).as("row %d col %d", o, i).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-6 * Math.abs(want) + 1e-7));
                // and it is the weight within half a quantization step
                assertThat((double) row[3 + i]).isCloseTo(w[o * in + i], org.assertj.core.data.Offset.offset(0.5 * m.scale(o, g) + 1e-5));
            }
        }
        // the rows are the matrix the forward multiplies by: y = x . row in float64
        float[] x = random(1, in, 7);
        float[] y = new float[out];
        l.forward(x, 1, y);
        for (int o = 0; o < out; o++) {
            l.decodeRow(o, row, 0);
            double dot = 0, mag = 0;
            for (int i = 0; i < in; i++) {
                dot += (double) x[i] * row[i];
                mag += Math.abs((double) x[i] * row[i]);
            }
            assertThat((double) y[o]).isCloseTo(dot, org.assertj.core.data.Offset.offset(1e-5 * mag));
        }
    }

    private static int[] inverse(int[] perm) {
        int[] inv = new int[perm.length];
        for (int i = 0; i < perm.length; i++) inv[perm[i]] = i;
        return inv;
    }

    static float[] logits(LlamaStage s, LlamaModel m, int[] tokens) {
        return WindowForward.logits(s, tokens, KvFormat.F32.caches(m.config(), KvCache.BLOCK_SIZE));
    }

    /**
     * Tied model, head quantized: the embedding lookups read the head's rows (no float table in the
     * stage), so the model equals the fp32 model whose tied table is replaced by the decoded rows
     * and whose head is the same quantized head (to fp32 summation order: 1e-4 of the logits' range), and stays near the fp32 model itself:
     * relative RMS logit error below 1% for int8 (measured 0.35%) and 10% for int4 g32 (4.6%),
     * argmax equal at >= 95% / 85% of 96 positions (measured 95/96, 88-90/96). q6_k (GGUF Q6_K
     * blocks, rows of 256: sotu6M, whose dim is 256) below 2% (measured 0.56%, argmax 94/96).
     */
    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {"stories260K;w8a16;0.01;0.95", "stories260K;w4a16-rtn:group=32;0.1;0.85", "stories260K;w4a16-gptq:group=32;0.1;0.85",
            "sotu6M;q6_k;0.02;0.95"})
    void tiedHeadServesTheEmbeddingFromItsQuantizedRows(String model, String head, double relRms, double minAgree) {
        Path src = SharedData.path("models/" + model);
        try (LlamaModel m = LlamaModel.open(src)) {
            assertThat(m.config().tieWordEmbeddings()).isTrue();
            int[] calib = TextTokens.load(SharedData.path("data/" + model + "-calib.txt"), m.tokenizer(), 512);
            int[] text = TextTokens.load(SharedData.path("data/" + model + "-eval.txt"), m.tokenizer(), 96);
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse("fp32", List.of("lm_head=" + head)), Optional.of(calib),
                    QuantizedModels.Options.DEFAULT);
            LlamaStage s = b.stage();
            assertThat(s.embeddingTable()).isEmpty();
            assertThat(s.embeddingRows()).containsSame((RowDecodable) b.format("lm_head"));
            float[] got = logits(s, m, text);

            int vocab = m.config().vocabSize(), d = m.config().hiddenSize();
            float[] table = new float[vocab * d];
            for (int t = 0; t < vocab; t++) s.embeddingRows().orElseThrow().decodeRow(t, table, t * d);
            WeightStore decoded = m.weights().withReplaced(Map.of("model.embed_tokens.weight",
                    new Tensor("model.embed_tokens.weight", DType.F32, new long[] {vocab, d}, MemorySegment.ofArray(table))));
            // the reference: dense layers, the table replaced by the decoded rows, and the same quantized head for the
            // logits (q6_k's kernel rounds its input to Q8_K as ggml does), hidden behind a plain Linear so the table is read
            dev.quantflow.engine.compute.Linear built = b.format("lm_head");
            dev.quantflow.engine.compute.Linear plainHead = new dev.quantflow.engine.compute.Linear() {
                public int inFeatures() { return built.inFeatures(); }
                public int outFeatures() { return built.outFeatures(); }
                public void forward(float[] x, int n, float[] y) { built.forward(x, n, y); }
                public long weightBytes() { return built.weightBytes(); }
                public String scheme() { return built.scheme(); }
            };
            LlamaStage reference = new LlamaStage(m.config(), decoded, 0, m.config().numLayers(),
                    (name, weight, bias) -> name.equals("lm_head") ? plainHead : LinearFactory.DENSE.create(name, weight, bias));
            assertThat(reference.embeddingTable()).isPresent();
            float[] want = logits(reference, m, text);
            float[] fp32 = logits(m.full(LinearFactory.DENSE), m, text);
            double range = 0, err = 0, norm = 0;
            for (float v : fp32) range = Math.max(range, Math.abs(v));
            int sameArgmax = 0, rows = text.length;
            for (int i = 0; i < got.length; i++) {
                assertThat((double) got[i]).isCloseTo(want[i], org.assertj.core.data.Offset.offset(1e-4 * range));
                err += ((double) got[i] - fp32[i]) * ((double) got[i] - fp32[i]);
                norm += (double) fp32[i] * fp32[i];
            }
            for (int r = 0; r < rows; r++) if (argmax(got, r * vocab, vocab) == argmax(fp32, r * vocab, vocab)) sameArgmax++;
            System.out.printf("%s: relative RMS logit error %.4f, argmax agreement %d/%d%n", head, Math.sqrt(err / norm), sameArgmax, rows);
            assertThat(Math.sqrt(err / norm)).isLessThan(relRms);
            assertThat(sameArgmax).isGreaterThanOrEqualTo((int) Math.ceil(minAgree * rows));
            // eval's build (layer-error probes around the linears) serves the lookups from the same rows
            QuantizedModels.Built probed = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse("fp32", List.of("lm_head=" + head)), Optional.of(calib),
                    QuantizedModels.Options.DEFAULT.withLayerError(true));
            assertThat(probed.stage().embeddingTable()).isEmpty();
            float[] probedLogits = logits(probed.stage(), m, text);
            for (int i = 0; i < got.length; i++) assertThat((double) probedLogits[i]).isCloseTo(want[i], org.assertj.core.data.Offset.offset(1e-4 * range));
        }
    }

    private static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }

    /**
     * quantize -> load: the tied quantized head is written once (lm_head's codes, no
     * model.embed_tokens.weight), loads back as the same format serving the lookups, to the same
     * logits.
     */
    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {"stories260K;w8a16", "stories260K;w4a16-rtn:group=32", "stories260K;w4a16-gptq:group=32,act-order=true", "sotu6M;q6_k"})
    void quantizedHeadIsStoredOnceAndLoadsBack(String model, String head) {
        Path src = SharedData.path("models/" + model);
        try (LlamaModel m = LlamaModel.open(src)) {
            int[] calib = TextTokens.load(SharedData.path("data/" + model + "-calib.txt"), m.tokenizer(), 256);
            int[] text = TextTokens.load(SharedData.path("data/" + model + "-eval.txt"), m.tokenizer(), 48);
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse("w4a16-rtn:group=32", List.of("lm_head=" + head)), Optional.of(calib),
                    QuantizedModels.Options.DEFAULT);
            float[] before = logits(b.stage(), m, text);
            QuantizedCheckpoint.save(b, src, tmp.resolve("q"), QuantizedCheckpoint.Format.QUANTFLOW);
            try (LlamaModel q = LlamaModel.open(tmp.resolve("q"))) {
                assertThat(q.weights().find("model.embed_tokens.weight")).isEmpty();
                assertThat(q.weights().find("lm_head.qweight").or(() -> q.weights().find("lm_head.qweight4"))).isPresent();
                QuantizedModels.Built loaded = QuantizedModels.loadStored(q);
                assertThat(loaded.format("lm_head")).isNotInstanceOf(DenseLinear.class);
                assertThat(loaded.format("lm_head").scheme()).isEqualTo(b.format("lm_head").scheme());
                assertThat(loaded.stage().embeddingRows()).containsSame((RowDecodable) loaded.format("lm_head"));
                assertThat(loaded.weightBytes()).isEqualTo(b.weightBytes());
                float[] after = logits(loaded.stage(), q, text);
                for (int i = 0; i < before.length; i++) assertThat(after[i]).isCloseTo(before[i], org.assertj.core.data.Offset.offset(1e-4f));
                // a first pipeline stage (no head) of the stored model reads its lookups from the stored head too
                LlamaStage first = new LlamaStage(q.config(), q.weights(), 0, 1, QuantizedCheckpoint.loader(q.config(), q.weights()));
                assertThat(first.embeddingRows()).isPresent();
                assertThat(first.hasHead()).isFalse();
            }
        }
    }

    /** Untied (bf16 synthetic model): lm_head quantized and stored, the embedding kept as its own table. */
    @org.junit.jupiter.api.Test
    void untiedHeadIsQuantizedAndTheEmbeddingStays() {
        Path dir = tmp.resolve("synth");
        dev.quantflow.engine.model.SyntheticModel.write(new dev.quantflow.engine.model.SyntheticModel.Shape(64, 2, 4, 2, 96, 512, 128), DType.BF16,
                SharedData.path("models/stories260K"), 3, dir);
        try (LlamaModel m = LlamaModel.open(dir)) {
            assertThat(m.config().tieWordEmbeddings()).isFalse();
            int[] text = new int[40];
            for (int i = 0; i < text.length; i++) text[i] = (i * 97 + 5) % 512;
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse("w8a16", List.of("lm_head=w8a16")), Optional.empty(),
                    QuantizedModels.Options.DEFAULT);
            assertThat(b.format("lm_head")).isInstanceOf(Int8Linear.class);
            assertThat(b.stage().embeddingTable()).isPresent();
            assertThat(b.stage().embeddingRows()).isEmpty();
            float[] before = logits(b.stage(), m, text);
            QuantizedCheckpoint.save(b, dir, tmp.resolve("q"), QuantizedCheckpoint.Format.QUANTFLOW);
            try (LlamaModel q = LlamaModel.open(tmp.resolve("q"))) {
                assertThat(q.weights().find("model.embed_tokens.weight")).isPresent();
                assertThat(q.weights().find("lm_head.weight")).isEmpty();
                QuantizedModels.Built loaded = QuantizedModels.loadStored(q);
                assertThat(loaded.format("lm_head")).isInstanceOf(Int8Linear.class);
                float[] after = logits(loaded.stage(), q, text);
                for (int i = 0; i < before.length; i++) assertThat(after[i]).isCloseTo(before[i], org.assertj.core.data.Offset.offset(1e-4f));
            }
        }
    }
}
