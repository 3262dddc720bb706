package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.model.Tensor;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * FP8 checkpoints in the layout vLLM loads (compressed-tensors "float-quantized" from llm-compressor,
 * and transformers' fbgemm_fp8), written here by an independent writer: its own safetensors bytes,
 * its own e4m3 encoder (nearest of the 254 finite values, ties to even, from the OCP definition),
 * NAME.weight as F8_E4M3 (out, in), NAME.weight_scale F32 [out, 1] per channel or [1] per tensor,
 * NAME.input_scale [1] when static, NAME.input_scale_ub [1] for fbgemm; lm_head left dense ("ignore").
 */
class Fp8CheckpointTest {
    @TempDir
    Path tmp;

    private static final ObjectMapper OM = new ObjectMapper();

    @ParameterizedTest
    @CsvSource({"compressed-tensors,channel,token", "compressed-tensors,tensor,static", "compressed-tensors,channel,none",
            "compressed-tensors,tensor,tensor", "fbgemm_fp8,channel,token"})
    void vllmFp8CheckpointLoadsWithItsCodesAndScalesAndRunsCloseToFp32(String method, String weights, String acts) throws IOException {
        Path src = SharedData.path("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(src), "stories260K absent");
        Path dir = tmp.resolve("fp8");
        Map<String, byte[]> codes = new LinkedHashMap<>();
        Map<String, float[]> scales = new LinkedHashMap<>();
        Map<String, Float> inputScales = new LinkedHashMap<>();
        try (LlamaModel m = LlamaModel.open(src)) {
            Set<String> linears = Set.copyOf(LinearNames.all(m.config()).stream().filter(n -> !n.equals("lm_head")).toList());
            Writer w = new Writer();
            for (Tensor t : m.weights().tensors().values()) {
                String base = t.name().endsWith(".weight") ? t.name().substring(0, t.name().length() - 7) : "";
                if (!linears.contains(base)) {
                    w.add(t.name(), "F32", t.shape(), f32(t.toFloatArray()));
                    continue;
                }
                float[] v = t.toFloatArray();
                int out = t.rows(), in = t.cols();
                float[] s = new float[weights.equals("channel") ? out : 1];
                for (int o = 0; o < out; o++)
                    for (int i = 0; i < in; i++) {
                        int k = weights.equals("channel") ? o : 0;
                        s[k] = Math.max(s[k], Math.abs(v[o * in + i]));
                    }
                for (int k = 0; k < s.length; k++) s[k] = (float) (s[k] / 448.0);
                byte[] q = new byte[v.length];
                for (int o = 0; o < out; o++)
                    for (int i = 0; i < in; i++) q[o * in + i] = (byte) Fp8FormatTestRef.encodeE4m3((double) v[o * in + i] / s[s.length == 1 ? 0 : o]);
                codes.put(base, q);
                scales.put(base, s);
                w.add(t.name(), "F8_E4M3", t.shape(), q);
                w.add(base + ".weight_scale", "F32", s.length == 1 ? new long[] {1} : new long[] {out, 1}, f32(s));
                if (acts.equals("static")) {
                    float is = 3.5f / 448f + base.length() * 1e-5f;   // per layer, as calibration would give
                    inputScales.put(base, is);
                    w.add(base + ".input_scale", "F32", new long[] {1}, f32(new float[] {is}));
                }
                if (method.equals("fbgemm_fp8")) {
                    inputScales.put(base, 1200f);
                    w.add(base + ".input_scale_ub", "F32", new long[] {1}, f32(new float[] {1200f}));
                }
            }
            Files.createDirectories(dir);
            for (String f : List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"))
                if (Files.exists(src.resolve(f))) Files.copy(src.resolve(f), dir.resolve(f));
            ObjectNode config = (ObjectNode) OM.readTree(src.resolve("config.json").toFile());
            config.set("quantization_config", quantizationConfig(method, weights, acts));
            OM.writeValue(dir.resolve("config.json").toFile(), config);
            w.write(dir.resolve("model.safetensors"));

            int[] text = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), m.tokenizer(), 64);
            float[] ref = QuantizedCheckpointTest.logits(QuantizedModels.loadStored(m).stage(), m, text);
            try (LlamaModel q = LlamaModel.open(dir)) {
                QuantizedModels.Built b = QuantizedModels.loadStored(q);
                for (String n : codes.keySet()) {
                    Fp8Matrix fm = switch (b.format(n)) {
                        case Fp8Linear l -> {
                            assertThat(acts).isEqualTo("none");
                            yield l.weights();
                        }
                        case Fp8W8A8Linear l -> {
                            assertThat(l.act().name().toLowerCase()).isEqualTo(acts);
                            if (inputScales.containsKey(n)) assertThat(l.inputScale()).isEqualTo(inputScales.get(n));
                            yield l.weights();
                        }
                        default -> throw new AssertionError(n + " loaded as " + b.format(n).getClass());
                    };
                    assertThat(fm.q()).isEqualTo(codes.get(n));
                    assertThat(fm.storedScales()).isEqualTo(scales.get(n));
                    assertThat(fm.perChannel()).isEqualTo(weights.equals("channel"));
                }
                assertThat(b.format("lm_head").scheme()).isEqualTo("fp32");
                float[] got = QuantizedCheckpointTest.logits(b.stage(), q, text);
                int vocab = q.config().vocabSize(), agree = 0, positions = got.length / vocab;
                for (int p = 0; p < positions; p++) if (argmax(got, p * vocab, vocab) == argmax(ref, p * vocab, vocab)) agree++;
                assertThat((double) agree / positions).as("top-1 agreement with fp32").isGreaterThan(acts.equals("static") ? 0.5 : 0.85);
            }
        }
    }

    @Test
    void aCompressedTensorsIntCheckpointIsRefusedByName() throws IOException {
        Path src = SharedData.path("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(src), "stories260K absent");
        Path dir = tmp.resolve("int");
        Files.createDirectories(dir);
        for (String f : List.of("tokenizer.json", "model.safetensors")) Files.copy(src.resolve(f), dir.resolve(f));
        ObjectNode config = (ObjectNode) OM.readTree(src.resolve("config.json").toFile());
        ObjectNode qc = quantizationConfig("compressed-tensors", "channel", "token");
        ((ObjectNode) qc.path("config_groups").path("group_0").path("weights")).put("type", "int");
        config.set("quantization_config", qc);
        OM.writeValue(dir.resolve("config.json").toFile(), config);
        try (LlamaModel q = LlamaModel.open(dir)) {
            assertThatThrownBy(() -> QuantizedModels.loadStored(q)).hasMessageContaining("only FP8 weights");
        }
    }

    private static ObjectNode quantizationConfig(String method, String weights, String acts) {
        ObjectNode qc = OM.createObjectNode().put("quant_method", method);
        if (method.equals("fbgemm_fp8")) {
            qc.put("activation_scale_ub", 1200.0).putArray("modules_to_not_convert").add("lm_head");
            return qc;
        }
        qc.put("format", "float-quantized").put("quantization_status", "compressed").putArray("ignore").add("lm_head");
        ObjectNode g = qc.putObject("config_groups").putObject("group_0");
        g.putArray("targets").add("Linear");
        g.putObject("weights").put("num_bits", 8).put("type", "float").put("strategy", weights).put("dynamic", false).put("symmetric", true);
        if (acts.equals("none")) g.putNull("input_activations");
        else g.putObject("input_activations").put("num_bits", 8).put("type", "float").put("strategy", acts.equals("static") ? "tensor" : acts)
                .put("dynamic", !acts.equals("static")).put("symmetric", true);
        return qc;
    }

    private static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
        return best;
    }

    private static byte[] f32(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    /** A minimal safetensors writer: 8-byte LE header length, JSON header with data_offsets, raw bytes. */
    private static final class Writer {
        private final Map<String, Object[]> entries = new LinkedHashMap<>();

        void add(String name, String dtype, long[] shape, byte[] data) {
            entries.put(name, new Object[] {dtype, shape, data});
        }

        void write(Path file) throws IOException {
            StringBuilder h = new StringBuilder("{");
            long off = 0;
            for (Map.Entry<String, Object[]> e : entries.entrySet()) {
                byte[] d = (byte[]) e.getValue()[2];
                StringBuilder shape = new StringBuilder();
                for (long s : (long[]) e.getValue()[1]) shape.append(shape.isEmpty() ? "" : ",").append(s);
                if (h.length() > 1) h.append(',');
                h.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(e.getValue()[0]).append("\",\"shape\":[").append(shape)
                        .append("],\"data_offsets\":[").append(off).append(',').append(off + d.length).append("]}");
                off += d.length;
            }
            h.append('}');
            while (h.length() % 8 != 0) h.append(' ');
            byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
            try (OutputStream o = Files.newOutputStream(file)) {
                o.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
                o.write(header);
                for (Object[] v : entries.values()) o.write((byte[]) v[2]);
            }
        }
    }

    /** The test's own e4m3 encoder (OCP e4m3fn, by search over the finite values; ties to the even code; saturating). */
    static final class Fp8FormatTestRef {
        private static final double[] VALUES = new double[127];

        static {
            for (int c = 0; c < 127; c++) {
                int e = c >> 3, m = c & 7;
                VALUES[c] = e == 0 ? m / 8.0 * Math.pow(2, -6) : (1 + m / 8.0) * Math.pow(2, e - 7);
            }
        }

        static int encodeE4m3(double x) {
            int sign = x < 0 || (x == 0 && 1 / x < 0) ? 0x80 : 0;
            double a = Math.abs(x);
            int best = 0;
            for (int c = 1; c < 127; c++) {
                double d = Math.abs(VALUES[c] - a), bd = Math.abs(VALUES[best] - a);
                if (d < bd || d == bd && (c & 1) == 0) best = c;
            }
            return sign | best;
        }
    }
}
