package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.WindowForward;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.WeightStore;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * bitsandbytes 4-bit checkpoints (transformers' layout) against an independent numpy writer and
 * reader (src/test/python/bnb_4bit_reference.py, written from bitsandbytes' and transformers'
 * sources): files it writes load to exactly its dequantized weights and the fp32 model's greedy
 * output; files we write are, tensor for tensor, what bitsandbytes' rules give.
 */
class BitsandbytesCheckpointTest {
    private static final Path PYTHON = Path.of("/usr/bin/python3");
    private static final Path SCRIPT = Path.of("src/test/python/bnb_4bit_reference.py");

    @TempDir
    Path tmp;

    @BeforeAll
    static void needsNumpy() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(PYTHON) && python("-c", "import numpy").isEmpty(),
                "the bitsandbytes reference needs /usr/bin/python3 with numpy (apt-get install python3-numpy)");
    }

    @ParameterizedTest
    @CsvSource({"nf4,true", "nf4,false", "fp4,true", "fp4,false"})
    void anIndependentlyWrittenCheckpointLoadsToItsDequantizedWeightsAndTheFp32Greedy(String type, boolean dq) throws Exception {
        assertThat(python(SCRIPT.toString(), "write", tmp.toString(), SharedData.path("models/stories260K").toString(), type, Boolean.toString(dq))).isEmpty();
        try (LlamaModel bnb = LlamaModel.open(tmp.resolve("bnb")); LlamaModel fp32 = LlamaModel.open(tmp.resolve("fp32"))) {
            QuantizedModels.Built b = QuantizedModels.loadStored(bnb);
            int quantized = 0;
            for (String name : b.linears().keySet()) {
                Linear l = b.format(name);
                if (name.equals("lm_head")) {
                    assertThat(l).isNotInstanceOf(FourBitLinear.class);
                    continue;
                }
                assertThat(l).as(name).isInstanceOf(FourBitLinear.class);
                FourBitMatrix m = ((FourBitLinear) l).weights();
                assertThat(m.code()).isEqualTo(FourBitCode.valueOf(type.toUpperCase()));
                assertThat(m.doubleQuant()).isEqualTo(dq);
                float[] ref = fp32.weights().get(name + ".weight").toFloatArray();
                for (int r = 0; r < m.rows(); r++)
                    for (int c = 0; c < m.cols(); c++)
                        assertThat(m.dequantize(r, c)).as("%s[%d,%d]", name, r, c).isEqualTo(ref[r * m.cols() + c]);
                quantized++;
            }
            assertThat(quantized).isEqualTo(14);
            assertThat(b.format("model.layers.1.mlp.down_proj").scheme()).isEqualTo(type + ":block=64" + (dq ? "" : ",double-quant=false"));
            int[] ids = {1, 45, 300, 7, 122};
            assertThat(greedy(b.stage(), bnb, ids, 24)).isEqualTo(greedy(fp32.full(dev.quantflow.engine.compute.LinearFactory.DENSE), fp32, ids, 24));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nf4", "fp4:double-quant=false", "fp4"})
    void ourFilesAreWhatBitsandbytesRulesGiveAndLoadBack(String scheme) throws Exception {
        Path src = SharedData.path("models/stories260K");
        try (LlamaModel m = LlamaModel.open(src)) {
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse(scheme, List.of()), Optional.empty(), QuantizedModels.Options.DEFAULT);
            QuantizedCheckpoint.save(b, src, tmp.resolve("bnb"), QuantizedCheckpoint.Format.BITSANDBYTES);
            JsonNode qc = new ObjectMapper().readTree(tmp.resolve("bnb/config.json").toFile()).path("quantization_config");
            assertThat(qc.path("quant_method").asText()).isEqualTo("bitsandbytes");
            assertThat(qc.path("bnb_4bit_quant_type").asText()).isEqualTo(scheme.substring(0, 3));
            assertThat(qc.path("bnb_4bit_use_double_quant").asBoolean()).isEqualTo(!scheme.contains("false"));
            assertThat(python(SCRIPT.toString(), "check", src.toString(), tmp.resolve("bnb").toString(), tmp.resolve("numpy").toString())).isEmpty();
            JsonNode result = new ObjectMapper().readTree(tmp.resolve("numpy/result.json").toFile());
            assertThat(result.path("problems").toString()).isEqualTo("[]");
            assertThat(result.path("layers").asInt()).isEqualTo(7 * m.config().numLayers());
            numpyReadsOurWeightsAndTheFileReloads(b, m);
        }
    }

    /**
     * Scales chosen by search (scale=mse) or codes by GPTQ (weights=gptq) are the same file format:
     * the numpy reference reads our file and dequantizes it (bitsandbytes' dequantize_4bit) to our
     * layers' weights bit for bit, and it reloads. What differs from bitsandbytes' own quantizer
     * is only what was chosen: the packed codes, the stored scales and (double quantization) their
     * mean and second level; no tensor missing, no dtype or shape or quant_state differing.
     */
    @ParameterizedTest
    @ValueSource(strings = {"nf4:scale=mse", "nf4:scale=mse,weights=gptq", "nf4:double-quant=false,scale=mse"})
    void chosenScalesAndCodesAreStillBitsandbytesFiles(String scheme) throws Exception {
        Path src = SharedData.path("models/stories260K");
        try (LlamaModel m = LlamaModel.open(src)) {
            int[] calib = TextTokens.load(SharedData.path("data/stories260K-calib.txt"), m.tokenizer(), 256);
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse(scheme, List.of()), Optional.of(calib), QuantizedModels.Options.DEFAULT);
            QuantizedCheckpoint.save(b, src, tmp.resolve("bnb"), QuantizedCheckpoint.Format.BITSANDBYTES);
            assertThat(python(SCRIPT.toString(), "check", src.toString(), tmp.resolve("bnb").toString(), tmp.resolve("numpy").toString())).isEmpty();
            JsonNode result = new ObjectMapper().readTree(tmp.resolve("numpy/result.json").toFile());
            assertThat(result.path("layers").asInt()).isEqualTo(7 * m.config().numLayers());
            int chosen = 0;
            for (JsonNode p : result.path("problems")) {
                String s = p.asText();
                assertThat(s).as("a format problem").matches(".*\\.weight(\\.absmax|\\.nested_absmax)?: \\d+ entries differ.*|.*nested_offset .* is not the absmax mean.*");
                chosen++;
            }
            assertThat(chosen).as("the chosen scales differ from absmax somewhere").isPositive();
            numpyReadsOurWeightsAndTheFileReloads(b, m);
        }
    }

    /** numpy's dequantization of tmp/bnb is our layers' weights bit for bit, and the file reloads to the same logits. */
    private void numpyReadsOurWeightsAndTheFileReloads(QuantizedModels.Built b, LlamaModel m) throws Exception {
        try (WeightStore numpy = WeightStore.open(tmp.resolve("numpy"))) {
            for (String name : b.linears().keySet()) {
                if (name.equals("lm_head")) continue;
                FourBitMatrix q = ((FourBitLinear) b.format(name)).weights();
                float[] ref = numpy.get(name + ".weight").toFloatArray();
                for (int r = 0; r < q.rows(); r++)
                    for (int c = 0; c < q.cols(); c++) assertThat(q.dequantize(r, c)).as("%s[%d,%d]", name, r, c).isEqualTo(ref[r * q.cols() + c]);
            }
        }
        int[] text = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), m.tokenizer(), 48);
        float[] before = QuantizedCheckpointTest.logits(b.stage(), m, text);
        try (LlamaModel q = LlamaModel.open(tmp.resolve("bnb"))) {
            QuantizedModels.Built loaded = QuantizedModels.loadStored(q);
            float[] after = QuantizedCheckpointTest.logits(loaded.stage(), q, text);
            for (int i = 0; i < before.length; i++) assertThat(after[i]).isCloseTo(before[i], Offset.offset(1e-4f));
            assertThat(loaded.weightBytes()).isEqualTo(b.weightBytes());
        }
    }

    @Test
    void theQuantStateJsonIsPythonsJsonDumps() {
        FourBitMatrix m = FourBitMatrix.quantize(FourBitCode.NF4, new float[] {0.5f, -0.25f, 0.125f, 1e-5f}, 2, 2, 64, true);
        assertThat(BitsandbytesCheckpoint.quantStateJson(m, "bfloat16")).startsWith(
                "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [2, 2], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.5}");
        assertThat(BitsandbytesCheckpoint.pythonRepr(0.1f)).isEqualTo("0.10000000149011612");
        assertThat(BitsandbytesCheckpoint.pythonRepr(1.5e-5f)).isEqualTo("1.4999999621068127e-05");
        assertThat(BitsandbytesCheckpoint.pythonRepr(2f)).isEqualTo("2.0");
        assertThat(BitsandbytesCheckpoint.pythonRepr(0.0001f)).isEqualTo("9.999999747378752e-05");
        byte[] q = {1, 2, 3, 4, 5};
        assertThat(BitsandbytesCheckpoint.pack(q)).containsExactly((byte) 0x12, (byte) 0x34, (byte) 0x50);
        assertThat(BitsandbytesCheckpoint.unpack(BitsandbytesCheckpoint.pack(q), 5)).containsExactly(q);
    }

    @Test
    void eightBitAndUnreadableCheckpointsAreRefusedClearly() throws Exception {
        assertThat(python(SCRIPT.toString(), "write", tmp.toString(), SharedData.path("models/stories260K").toString(), "nf4", "true")).isEmpty();
        Path bnb = tmp.resolve("bnb");
        ObjectMapper om = new ObjectMapper();
        ObjectNode config = (ObjectNode) om.readTree(bnb.resolve("config.json").toFile());
        ((ObjectNode) config.path("quantization_config")).put("load_in_8bit", true).put("load_in_4bit", false);
        om.writeValue(bnb.resolve("config.json").toFile(), config);
        assertThatThrownBy(() -> {
            try (LlamaModel m = LlamaModel.open(bnb)) {
                QuantizedModels.loadStored(m);
            }
        }).isInstanceOf(ModelLoadException.class).hasMessageContaining("8-bit");
        config.remove("quantization_config");
        om.writeValue(bnb.resolve("config.json").toFile(), config);
        assertThatThrownBy(() -> {
            try (LlamaModel m = LlamaModel.open(bnb)) {
                QuantizedModels.loadStored(m);
            }
        }).isInstanceOf(ModelLoadException.class).hasMessageContaining("is U8 (packed codes)");
    }

    private static List<Integer> greedy(LlamaStage stage, LlamaModel m, int[] prompt, int steps) {
        List<Integer> ids = new ArrayList<>();
        int[] seq = prompt.clone();
        int vocab = m.config().vocabSize();
        for (int s = 0; s < steps; s++) {
            float[] logits = WindowForward.logits(stage, seq, KvFormat.F32.caches(m.config(), KvCache.BLOCK_SIZE));
            int best = 0, off = (seq.length - 1) * vocab;
            for (int v = 1; v < vocab; v++) if (logits[off + v] > logits[off + best]) best = v;
            ids.add(best);
            seq = java.util.Arrays.copyOf(seq, seq.length + 1);
            seq[seq.length - 1] = best;
        }
        return ids;
    }

    /** Runs the reference script; returns its stderr if it failed, "" if it succeeded. */
    private static String python(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(PYTHON.toString()));
        cmd.addAll(List.of(args));
        Path err = Files.createTempFile("bnb-reference", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "timed out: " + cmd;
            }
            return p.exitValue() == 0 ? "" : "exit " + p.exitValue() + ": " + Files.readString(err, StandardCharsets.UTF_8);
        } finally {
            Files.deleteIfExists(err);
        }
    }
}
