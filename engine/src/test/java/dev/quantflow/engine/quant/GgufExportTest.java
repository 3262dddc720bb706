package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufTensorInfo;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** quantize --format gguf: sotu6M written per GGUF type reads back bit for bit; fp32 equals llama.cpp's own conversion. */
class GgufExportTest {
    @TempDir
    Path tmp;

    static final Path SOTU = SharedData.path("models/sotu6M");

    static QuantizedModels.Built build(LlamaModel m, String scheme) {
        return QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse(scheme, List.of()), Optional.empty(), QuantizedModels.Options.DEFAULT);
    }

    static QuantizedMatrix matrix(Linear l) {
        return switch (l) {
            case Int8Linear i -> i.weights();
            case W8A8DynamicLinear d -> d.weights();
            case Int4GroupLinear i4 -> i4.weights();
            default -> throw new IllegalArgumentException(l.scheme());
        };
    }

    @ParameterizedTest
    @CsvSource({"w8a16, Q8_0, 0x1p-11", "w8a8-dynamic:group=32, Q8_0, 0x1p-11", "'w4a16-rtn:group=32,sym=true', Q4_0, 0x1p-11", "w4a16-rtn:group=32, Q4_1, 0x1p-7"})
    void eachTypeReadsBackBitForBitAsTheF16RoundedScheme(String scheme, GgmlType type, double maxScaleChange) {
        Assumptions.assumeTrue(Files.isDirectory(SOTU), "needs " + SOTU);
        Path file = tmp.resolve("sotu6M.gguf");
        try (LlamaModel m = LlamaModel.open(SOTU)) {
            QuantizedModels.Built b = build(m, scheme);
            GgufExport.Summary s = GgufExport.write(b, SOTU, file);
            assertThat(s.maxScaleChange()).isGreaterThan(0).isLessThan(0.01);
            try (GgufFile g = GgufFile.open(file)) {
                int linears = 0;
                for (String name : b.linears().keySet()) {
                    if (name.equals("lm_head")) continue;   // tied, dense: GGUF has no output.weight, llama.cpp uses token_embd
                    QuantizedMatrix ours = matrix(b.format(name)), stored = GgufExport.asStored(ours, type);
                    GgufTensorInfo t = g.tensor(GgufExport.ggufName(name + ".weight"));
                    assertThat(t.type()).isEqualTo(type);
                    assertThat(t.dims()).containsExactly(ours.cols(), ours.rows());
                    int[] order = name.endsWith("q_proj") ? GgufExport.ropeRowOrder(ours.rows(), m.config().numHeads())
                            : name.endsWith("k_proj") ? GgufExport.ropeRowOrder(ours.rows(), m.config().numKvHeads()) : null;
                    float[] back = g.toFloatArray(t.name()), want = stored.dequantize();
                    for (int r = 0; r < ours.rows(); r++)
                        for (int c = 0; c < ours.cols(); c++) {
                            int src = order == null ? r : order[r];
                            if (Float.floatToRawIntBits(back[r * ours.cols() + c]) != Float.floatToRawIntBits(want[src * ours.cols() + c]))
                                throw new AssertionError(name + " row " + r + " col " + c + ": file " + back[r * ours.cols() + c] + ", scheme " + want[src * ours.cols() + c]);
                        }
                    for (int i = 0; i < ours.scales().length; i++)
                        // relative below 2^-14 (f16 normals); subnormal f16s are 2^-24 apart
                        assertThat((double) Math.abs(stored.scales()[i] - ours.scales()[i])).isLessThanOrEqualTo(Math.max(maxScaleChange * ours.scales()[i], 0x1p-25));
                    linears++;
                }
                assertThat(linears).isEqualTo(7 * m.config().numLayers());
                assertThat(g.getInt("general.file_type")).isEqualTo(switch (type) { case Q8_0 -> 7; case Q4_0 -> 2; default -> 3; });
                assertThat(g.tensors()).doesNotContainKey("output.weight");
            }
        }
    }

    @Test
    void fp32FileEqualsLlamaCppsConversionTensorForTensorAndKeyForKey() {
        Path ref = SharedData.path("models/sotu6M-gguf/sotu6M-F32.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(ref) && Files.isDirectory(SOTU), "needs " + ref);
        Path file = tmp.resolve("f32.gguf");
        try (LlamaModel m = LlamaModel.open(SOTU)) {
            GgufExport.write(build(m, "fp32"), SOTU, file);
        }
        try (GgufFile ours = GgufFile.open(file); GgufFile theirs = GgufFile.open(ref)) {
            assertThat(ours.tensors().keySet()).containsExactlyInAnyOrderElementsOf(theirs.tensors().keySet());
            for (GgufTensorInfo t : theirs.tensors().values()) {
                GgufTensorInfo o = ours.tensor(t.name());
                assertThat(o.type()).as(t.name()).isEqualTo(t.type());
                assertThat(o.dims()).as(t.name()).containsExactly(t.dims());
                // q/k rows permuted to llama.cpp's RoPE order: byte-identical to its converter's output
                assertThat(Arrays.equals(ours.tensorData(t.name()).toArray(ValueLayout.JAVA_BYTE), theirs.tensorData(t.name()).toArray(ValueLayout.JAVA_BYTE))).as(t.name()).isTrue();
            }
            theirs.metadata().forEach((k, v) -> assertThat(ours.metadata().get(k)).as(k).isEqualTo(v));
        }
    }

    @Test
    void theWrittenVocabularyEncodesAsTheModelsTokenizer() throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(SOTU), "needs " + SOTU);
        Path file = tmp.resolve("tok.gguf");
        try (LlamaModel m = LlamaModel.open(SOTU)) {
            GgufExport.write(build(m, "w8a16"), SOTU, file);
        }
        Tokenizer hf = Tokenizer.fromModelDir(SOTU), gguf = Tokenizer.fromGguf(file);
        String text = Files.readString(SharedData.path("data/sotu6M-eval.txt"));
        for (String line : text.lines().filter(l -> !l.isBlank()).limit(40).toList())
            assertThat(gguf.encode(line)).as(line).containsExactly(hf.encode(line));
        assertThat(gguf.bosTokenId()).isEqualTo(hf.bosTokenId());
        assertThat(gguf.eosTokenIds()).isEqualTo(hf.eosTokenIds());
    }

    /**
     * q6_k everywhere (and on the tied head): every linear is written as its Q6_K blocks, and those
     * are the bytes of llama.cpp's own sotu6M-Q6_K.gguf (llama-quantize of its F32 conversion).
     */
    @Test
    void q6kLinearsAreWrittenAsLlamaCppsQ6KTensors() {
        Path theirs = SharedData.path("models/sotu6M-gguf/sotu6M-Q6_K.gguf");
        Assumptions.assumeTrue(Files.isDirectory(SOTU) && Files.isRegularFile(theirs), "needs " + SOTU + " and " + theirs);
        Path file = tmp.resolve("sotu6M-q6k.gguf");
        try (LlamaModel m = LlamaModel.open(SOTU)) {
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse("q6_k", List.of("lm_head=q6_k")), Optional.empty(),
                    QuantizedModels.Options.DEFAULT);
            GgufExport.write(b, SOTU, file);
            try (GgufFile ours = GgufFile.open(file); GgufFile ref = GgufFile.open(theirs)) {
                int linears = 0;
                for (String name : b.linears().keySet()) {
                    String gguf = GgufExport.ggufName(name.equals("lm_head") ? "lm_head.weight" : name + ".weight");
                    assertThat(ours.tensor(gguf).type()).as(gguf).isEqualTo(GgmlType.Q6_K);
                    byte[] got = ours.tensorData(gguf).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                    // llama.cpp's tied file has no output.weight: its head is token_embd, quantized from the same matrix
                    String refName = name.equals("lm_head") ? "token_embd.weight" : gguf;
                    assertThat(ref.tensor(refName).type()).isEqualTo(GgmlType.Q6_K);
                    assertThat(got).as(gguf).isEqualTo(ref.tensorData(refName).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                    linears++;
                }
                assertThat(linears).isEqualTo(7 * m.config().numLayers() + 1);
                assertThat(ours.getInt("general.file_type")).isEqualTo(18);
            }
        }
    }

    @Test
    void schemesWithoutAnExactGgufTypeAreRefusedByName() {
        Assumptions.assumeTrue(Files.isDirectory(SOTU), "needs " + SOTU);
        try (LlamaModel m = LlamaModel.open(SOTU)) {
            assertThatThrownBy(() -> GgufExport.write(build(m, "llm-int8:fp=dequant"), SOTU, tmp.resolve("x.gguf")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is llm-int8").hasMessageContaining("GGUF holds exactly only");
            assertThatThrownBy(() -> GgufExport.write(build(m, "w4a16-rtn:group=16"), SOTU, tmp.resolve("y.gguf")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiple of 32");
        }
    }

    @Test
    void ropeRowOrderInterleavesTheHalvesOfEachHead() {
        // head of 4 rows: HF (rotate-half) rows 0,1 | 2,3 pair as (0,2), (1,3); GGUF keeps pairs adjacent
        assertThat(GgufExport.ropeRowOrder(8, 2)).containsExactly(0, 2, 1, 3, 4, 6, 5, 7);
    }
}
