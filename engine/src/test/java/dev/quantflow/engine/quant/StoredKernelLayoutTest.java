package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.Tensor;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A quantize output holds w8a16's and int4's codes in the kernels' byte order (format version 2):
 * its load adopts the file's bytes as they are and runs bit for bit what quantize-at-load runs;
 * version 1 outputs (row-major codes, Int4Packing nibbles) still load to the same model.
 */
class StoredKernelLayoutTest {
    @TempDir
    Path tmp;

    private static final Path SRC = SharedData.path("models/stories260K");
    private static final String[] PROBED = {"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj", "model.layers.2.mlp.gate_proj"};

    @ParameterizedTest
    @ValueSource(strings = {"w8a16", "w8a8-dynamic", "w8a8-dynamic:group=32", "w4a16-rtn:group=32", "w4a16-rtn:group=64,sym=true", "w4a16-gptq:group=32", "w4a8:group=32"})
    void storedLoadRunsTheSameBitsAsQuantizeAtLoad(String scheme) {
        try (LlamaModel m = LlamaModel.open(SRC)) {
            int[] text = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), m.tokenizer(), 32);
            QuantizedModels.Built b = build(m, scheme);
            float[] atLoad = QuantizedCheckpointTest.logits(b.stage(), m, text);
            QuantizedCheckpoint.save(b, SRC, tmp.resolve("q"), QuantizedCheckpoint.Format.QUANTFLOW);
            try (LlamaModel q = LlamaModel.open(tmp.resolve("q"))) {
                assertThat(q.config().quantizationConfig().path("format_version").asInt()).isEqualTo(QuantizedCheckpoint.FORMAT_VERSION);
                QuantizedModels.Built loaded = QuantizedModels.loadStored(q);
                assertThat(bits(QuantizedCheckpointTest.logits(loaded.stage(), q, text))).isEqualTo(bits(atLoad));
                assertThat(loaded.weightBytes()).isEqualTo(b.weightBytes());
            }
        }
    }

    @Test
    void aLoadedStoredModelsArraysAreTheFilesBytesInTheKernelsLayout() {
        for (String scheme : List.of("w8a16", "w4a16-rtn:group=32")) {
            try (LlamaModel m = LlamaModel.open(SRC)) {
                QuantizedModels.Built b = build(m, scheme);
                Path out = tmp.resolve(scheme.replace(':', '_').replace('=', '_'));
                QuantizedCheckpoint.save(b, SRC, out, QuantizedCheckpoint.Format.QUANTFLOW);
                try (LlamaModel q = LlamaModel.open(out)) {
                    QuantizedModels.Built loaded = QuantizedModels.loadStored(q);
                    for (String n : PROBED) {
                        Linear atLoad = b.format(n), stored = loaded.format(n);
                        if (stored instanceof Int8Linear i) {
                            byte[] file = q.weights().get(n + ".qweight").data().toArray(ValueLayout.JAVA_BYTE);
                            assertThat(i.interleavedCodes()).isEqualTo(file).isEqualTo(((Int8Linear) atLoad).interleavedCodes());
                            // the kernel's order, not row-major: what interleave8 makes of the row-major codes
                            assertThat(file).isEqualTo(Int8Kernels.interleave8(i.weights().q(), i.outFeatures(), i.inFeatures()));
                        } else {
                            Int4GroupLinear i4 = (Int4GroupLinear) stored;
                            Tensor t = q.weights().get(n + ".qweight4");
                            assertThat(t.shape()).containsExactly(i4.outFeatures(), i4.paddedCols() / 2);
                            assertThat(i4.packed()).isEqualTo(t.data().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(((Int4GroupLinear) atLoad).packed());
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"w8a16", "w4a16-rtn:group=32", "w4a8:group=32"})
    void versionOneOutputsStillLoadToTheSameModel(String scheme) throws IOException {
        try (LlamaModel m = LlamaModel.open(SRC)) {
            int[] text = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), m.tokenizer(), 32);
            QuantizedModels.Built b = build(m, scheme);
            float[] atLoad = QuantizedCheckpointTest.logits(b.stage(), m, text);
            Path v2 = tmp.resolve("v2"), v1 = tmp.resolve("v1");
            QuantizedCheckpoint.save(b, SRC, v2, QuantizedCheckpoint.Format.QUANTFLOW);
            writeVersionOne(b, v2, v1);
            try (LlamaModel q = LlamaModel.open(v1)) {
                assertThat(q.config().quantizationConfig().has("layouts")).isFalse();
                QuantizedModels.Built loaded = QuantizedModels.loadStored(q);
                assertThat(bits(QuantizedCheckpointTest.logits(loaded.stage(), q, text))).isEqualTo(bits(atLoad));
            }
        }
    }

    @Test
    void streamedQuantizersWriteTheCodesTheMatrixPathPacks() {
        Random r = new Random(3);
        for (int[] s : new int[][] {{19, 4100}, {13, 70}, {24, 2048 + 40}, {5, 32}, {9, 2048}, {7, 96}}) {
            int out = s[0], in = s[1];
            float[] w = new float[out * in];
            for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
            Tensor t = new Tensor("w", DType.F32, new long[] {out, in}, java.lang.foreign.MemorySegment.ofArray(w));
            Int8Linear i8 = Int8Linear.quantize(t, null), ref8 = Int8Linear.quantize(w, out, in, null);
            assertThat(i8.interleavedCodes()).isEqualTo(ref8.interleavedCodes());
            assertThat(i8.scales()).isEqualTo(ref8.scales());
            for (boolean sym : new boolean[] {false, true}) {
                int g = in % 32 == 0 ? 32 : in;
                Int4GroupLinear i4 = Int4GroupLinear.rtn(t, sym, g, null, "w4a16-rtn");
                Int4GroupLinear ref4 = new Int4GroupLinear(QuantizedMatrix.quantize(w, out, in, sym ? IntRange.INT4_SYM : IntRange.INT4_ASYM, g, RangeMethod.MIN_MAX), null, null, "w4a16-rtn");
                assertThat(i4.packed()).isEqualTo(ref4.packed());
                assertThat(i4.scales()).isEqualTo(ref4.scales());
                assertThat(i4.zeros()).isEqualTo(ref4.zeros());
            }
            for (LlmInt8Linear.FpSource src : LlmInt8Linear.FpSource.values()) {
                int[] kept = {in - 1, 0, in / 2};
                LlmInt8Linear l8 = LlmInt8Linear.quantize(t, 6f, src, kept, null), ref = LlmInt8Linear.quantize(w, out, in, 6f, src, kept, null);
                assertThat(l8.weights().q()).isEqualTo(ref.weights().q());
                assertThat(l8.weights().scales()).isEqualTo(ref.weights().scales());
                assertThat(l8.fpColumns()).isEqualTo(ref.fpColumns());
                for (int k = 0; k < ref.fpColumns().length; k++) assertThat(l8.fpColumn(k)).isEqualTo(ref.fpColumn(k));
            }
            for (boolean perChannel : new boolean[] {true, false}) {
                Fp8Matrix f8 = Fp8Matrix.quantize(t, Fp8Format.E4M3, perChannel), ref = Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, perChannel);
                assertThat(f8.q()).isEqualTo(ref.q());
                assertThat(f8.scales()).isEqualTo(ref.scales());
            }
            for (FourBitCode code : FourBitCode.values())
                for (boolean dq : new boolean[] {true, false}) {
                    int block = in % 64 == 0 ? 64 : 32;   // whole blocks per row stream; 70, 2088, 4100 columns take the array path
                    FourBitMatrix b4 = FourBitMatrix.quantize(code, t, block, dq, false), ref = FourBitMatrix.quantize(code, w, out, in, block, dq, false);
                    assertThat(b4.q()).isEqualTo(ref.q());
                    for (int b = 0; b < out * in / block; b++) assertThat(b4.absmax(b)).isEqualTo(ref.absmax(b));
                }
        }
    }

    @Test
    void deinterleaveUndoesTheKernelsLayoutForAnyShape() {
        Random r = new Random(7);
        for (int[] s : new int[][] {{19, 4100}, {8, 2048}, {13, 5}, {24, 2048 + 40}, {3, 64}}) {
            byte[] q = new byte[s[0] * s[1]];
            r.nextBytes(q);
            byte[] w = Int8Kernels.interleave8(q, s[0], s[1]);
            assertThat(QuantizedCheckpoint.deinterleave(w, s[0], s[1], Int8Kernels.ROWS, Int8Kernels.CHUNK, Int8Kernels.block())).isEqualTo(q);
        }
    }

    @Test
    void anUnknownLayoutOrANewerVersionIsNamed() throws IOException {
        try (LlamaModel m = LlamaModel.open(SRC)) {
            QuantizedModels.Built b = build(m, "w4a16-rtn:group=32");
            Path out = tmp.resolve("q");
            QuantizedCheckpoint.save(b, SRC, out, QuantizedCheckpoint.Format.QUANTFLOW);
            editQuantizationConfig(out, qc -> ((ObjectNode) qc.get("layouts")).put("int4", "blocks64:rows=8"));
            try (LlamaModel q = LlamaModel.open(out)) {
                assertThatThrownBy(() -> QuantizedModels.loadStored(q)).isInstanceOf(ModelLoadException.class).hasMessageContaining("blocks64:rows=8");
            }
            editQuantizationConfig(out, qc -> qc.put("format_version", QuantizedCheckpoint.FORMAT_VERSION + 1));
            assertThatThrownBy(() -> {
                try (LlamaModel q = LlamaModel.open(out)) {
                    QuantizedModels.loadStored(q);
                }
            }).isInstanceOf(ModelLoadException.class).hasMessageContaining("format_version " + (QuantizedCheckpoint.FORMAT_VERSION + 1));
        }
    }

    private static QuantizedModels.Built build(LlamaModel m, String scheme) {
        QuantPlan plan = QuantPlan.parse(scheme, List.of());
        Optional<int[]> calib = plan.toString().contains("gptq")
                ? Optional.of(TextTokens.load(SharedData.path("data/stories260K-calib.txt"), m.tokenizer(), 256)) : Optional.empty();
        return QuantizedModels.build(m.config(), m.weights(), plan, calib, QuantizedModels.Options.DEFAULT);
    }

    private static int[] bits(float[] f) {
        int[] b = new int[f.length];
        for (int i = 0; i < f.length; i++) b[i] = Float.floatToRawIntBits(f[i]);
        return b;
    }

    /** v2's directory rewritten as format version 1 wrote it: row-major int8 codes, Int4Packing nibbles, no layouts. */
    private static void writeVersionOne(QuantizedModels.Built b, Path v2, Path v1) throws IOException {
        CheckpointWriter w = new CheckpointWriter();
        try (LlamaModel q = LlamaModel.open(v2)) {
            for (Tensor t : q.weights().tensors().values()) {
                String n = t.name(), base = n.replaceAll("\\.qweight4?$", "");
                Linear l = b.format(base);
                if (n.endsWith(".qweight") && l instanceof Int8Linear i) {
                    w.addBytes(n, DType.I8, t.shape(), i.weights().q());
                } else if (n.endsWith(".qweight4") && (l instanceof Int4GroupLinear || l instanceof W4A8Linear)) {
                    QuantizedMatrix c = l instanceof Int4GroupLinear i4 ? i4.weights() : ((W4A8Linear) l).weights();
                    w.addBytes(n, DType.U8, new long[] {c.rows(), Int4Packing.bytesPerRow(c.cols())}, Int4Packing.pack(c.q(), c.rows(), c.cols()));
                } else {
                    w.add(t);
                }
            }
            ObjectNode qc = (ObjectNode) q.config().quantizationConfig().deepCopy();
            qc.remove("layouts");
            qc.put("format_version", 1);
            w.write(v2, v1, qc);
        }
    }

    private static void editQuantizationConfig(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode config = (ObjectNode) om.readTree(dir.resolve("config.json").toFile());
        edit.accept((ObjectNode) config.get("quantization_config"));
        Files.writeString(dir.resolve("config.json"), om.writeValueAsString(config));
    }
}
