package dev.quantflow.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufFileTest {
    @TempDir
    Path tmp;

    @Test
    void parsesEveryVocabularyFileInShared() throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(SharedData.path("tokenizers/llamacpp-vocab"))) {
            files = s.filter(p -> p.toString().endsWith(".gguf")).sorted().toList();
        }
        assertThat(files).hasSizeGreaterThanOrEqualTo(10);
        for (Path p : files) {
            try (GgufFile g = GgufFile.open(p)) {
                assertThat(g.version()).isIn(2, 3);
                String model = g.getString("tokenizer.ggml.model");
                assertThat(model).isIn("llama", "gpt2", "bert");
                List<String> tokens = g.getStringArray("tokenizer.ggml.tokens");
                assertThat(tokens).isNotEmpty();
                if (g.has("tokenizer.ggml.token_type")) assertThat(g.getIntArray("tokenizer.ggml.token_type")).hasSize(tokens.size());
                if (model.equals("llama")) assertThat(g.getFloatArray("tokenizer.ggml.scores")).hasSize(tokens.size());
                if (model.equals("gpt2")) assertThat(g.getStringArray("tokenizer.ggml.merges")).isNotEmpty().allMatch(m -> m.indexOf(' ') > 0);
            }
        }
    }

    @Test
    void llamaSpmVocabularyHasExpectedMetadata() {
        try (GgufFile g = GgufFile.open(SharedData.path("tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf"))) {
            assertThat(g.getStringArray("tokenizer.ggml.tokens")).hasSize(32000).startsWith("<unk>", "<s>", "</s>", "<0x00>");
            assertThat(g.getInt("tokenizer.ggml.bos_token_id")).isEqualTo(1);
            assertThat(g.getInt("tokenizer.ggml.eos_token_id")).isEqualTo(2);
            assertThat(g.tensors()).isEmpty();
        }
    }

    @Test
    void decodesF32F16AndQ8_0Tensors() throws IOException {
        float[] f32 = {1.5f, -2.25f, 0f, 3.0e-3f, 1e6f, -7f};
        float[] q8 = new float[64];
        for (int i = 0; i < q8.length; i++) q8[i] = (float) Math.sin(i * 0.37) * (i < 32 ? 1f : 40f);

        byte[] q8Bytes = quantizeQ8_0(q8);
        Path file = new GgufTestWriter()
                .put("general.architecture", "test")
                .put("general.alignment", 64)
                .put("test.count", 7)
                .put("test.big", 1L << 40)
                .put("test.flag", true)
                .put("test.eps", 1e-5f)
                .put("test.names", List.of("a", "bé", "🦙"))
                .put("test.scores", List.of(0.5f, -1f))
                .tensor("f32", GgmlType.F32, f32Bytes(f32), 3, 2)
                .tensor("f16", GgmlType.F16, f16Bytes(f32), 6)
                .tensor("q8", GgmlType.Q8_0, q8Bytes, 32, 2)
                .write(tmp.resolve("tiny.gguf"));

        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.alignment()).isEqualTo(64);
            assertThat(g.getInt("test.count")).isEqualTo(7);
            assertThat(g.getLong("test.big")).isEqualTo(1L << 40);
            assertThat(g.getBoolean("test.flag")).isTrue();
            assertThat(g.getFloat("test.eps")).isEqualTo(1e-5f);
            assertThat(g.getStringArray("test.names")).containsExactly("a", "bé", "🦙");
            assertThat(g.getFloatArray("test.scores")).containsExactly(0.5f, -1f);
            assertThat(g.tensor("f32").dims()).containsExactly(3, 2);
            assertThat(g.tensorData("q8").byteSize()).isEqualTo(68);

            assertThat(g.toFloatArray("f32")).containsExactly(f32);
            float[] f16 = g.toFloatArray("f16");
            for (int i = 0; i < f32.length; i++) assertThat(f16[i]).isEqualTo(Float.float16ToFloat(Float.floatToFloat16(f32[i])));
            float[] q8Decoded = g.toFloatArray("q8");
            for (int b = 0; b < 2; b++) {
                float absMax = 0;
                for (int j = 0; j < 32; j++) absMax = Math.max(absMax, Math.abs(q8[b * 32 + j]));
                for (int j = 0; j < 32; j++) assertThat(q8Decoded[b * 32 + j]).isCloseTo(q8[b * 32 + j], Offset.offset(absMax / 127f * 0.51f + 1e-3f));
            }
            assertThatThrownBy(() -> g.getString("test.count")).hasMessageContaining("tiny.gguf").hasMessageContaining("test.count");
            assertThatThrownBy(() -> g.tensor("missing")).hasMessageContaining("missing");
        }
    }

    @Test
    void mapsFilesLargerThan2GiB() throws IOException {
        long padBytes = (1L << 31) + 4096; // an I8 tensor past the 2 GiB mark, left as a sparse hole
        float[] tail = {3.5f, -1f, 0.25f, 42f};
        Path file = new GgufTestWriter()
                .put("general.architecture", "big")
                .tensor("pad", GgmlType.I8, new byte[0], padBytes)
                .tensor("tail", GgmlType.F32, f32Bytes(tail), 4)
                .writeSparse(tmp.resolve("big.gguf"));
        assertThat(Files.size(file)).isGreaterThan(1L << 31);
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.tensorData("pad").byteSize()).isEqualTo(padBytes);
            assertThat(g.tensor("tail").offset()).isGreaterThan(1L << 31);
            assertThat(g.toFloatArray("tail")).containsExactly(tail);
        }
    }

    @Test
    void rejectsTruncatedAndInvalidFilesNamingThem() throws IOException {
        byte[] good = new GgufTestWriter().put("general.name", "x")
                .tensor("t", GgmlType.F32, f32Bytes(new float[] {1, 2, 3, 4}), 4).toBytes();

        Path truncatedHeader = Files.write(tmp.resolve("header.gguf"), Arrays.copyOf(good, 20));
        assertThatThrownBy(() -> GgufFile.open(truncatedHeader)).isInstanceOf(GgufFormatException.class)
                .hasMessageContaining("header.gguf").hasMessageContaining("truncated");

        Path truncatedData = Files.write(tmp.resolve("data.gguf"), Arrays.copyOf(good, good.length - 4));
        assertThatThrownBy(() -> GgufFile.open(truncatedData)).hasMessageContaining("data.gguf").hasMessageContaining("tensor t");

        byte[] badMagic = good.clone();
        badMagic[0] = 'X';
        Path notGguf = Files.write(tmp.resolve("magic.gguf"), badMagic);
        assertThatThrownBy(() -> GgufFile.open(notGguf)).hasMessageContaining("magic.gguf").hasMessageContaining("not a GGUF file");

        byte[] badVersion = good.clone();
        badVersion[4] = 9;
        Path v9 = Files.write(tmp.resolve("v9.gguf"), badVersion);
        assertThatThrownBy(() -> GgufFile.open(v9)).hasMessageContaining("version 9");

        assertThatThrownBy(() -> GgufFile.open(tmp.resolve("absent.gguf"))).hasMessageContaining("absent.gguf");
    }

    private static byte[] f32Bytes(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    private static byte[] f16Bytes(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putShort(Float.floatToFloat16(f));
        return b.array();
    }

    /** Reference Q8_0 quantizer: per block of 32, d = max|x| / 127, q = round(x / d). */
    private static byte[] quantizeQ8_0(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length / 32 * 34).order(ByteOrder.LITTLE_ENDIAN);
        for (int block = 0; block < v.length / 32; block++) {
            float absMax = 0;
            for (int j = 0; j < 32; j++) absMax = Math.max(absMax, Math.abs(v[block * 32 + j]));
            float d = absMax / 127f;
            b.putShort(Float.floatToFloat16(d));
            float dStored = Float.float16ToFloat(Float.floatToFloat16(d));
            for (int j = 0; j < 32; j++) b.put((byte) Math.round(dStored == 0 ? 0 : v[block * 32 + j] / dStored));
        }
        return b.array();
    }
}
