package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.onnx.ModelProto;
import java.io.ByteArrayOutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The quantization commands end to end on stories260K: eval --json, inject-outliers, quantize, generate from the result. */
class QuantCommandsTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            CommandLine cl = QuantflowCommand.commandLine();
            cl.setErr(new PrintWriter(err, true));
            cl.setOut(new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true));
            int code = cl.execute(args);
            return new Run(code, buf.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(old);
        }
    }

    static String shared(String p) {
        return SharedData.path(p).toString();
    }

    @Test
    void evalJsonHasTheReportedFields() throws Exception {
        Run r = run("eval", "--model", shared("models/stories260K"), "--quant", "llm-int8", "--calib", shared("data/stories260K-calib.txt"),
                "--calib-tokens", "256", "--text", shared("data/stories260K-eval.txt"), "--max-tokens", "64", "--speed-tokens", "4", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        for (String k : new String[] {"scheme", "perplexity", "kl_divergence", "top1_agreement", "tokens", "weight_bytes", "tokens_per_second", "outlier_fraction", "layer_errors"})
            assertThat(j.has(k)).as(k).isTrue();
        assertThat(j.get("scheme").asText()).isEqualTo("llm-int8:threshold=6.0");
        assertThat(j.get("tokens").asInt()).isEqualTo(64);
        assertThat(j.get("perplexity").asDouble()).isGreaterThan(1);
        assertThat(j.get("weight_bytes").asLong()).isLessThan(j.get("fp32_weight_bytes").asLong() / 2);
        assertThat(j.get("layer_errors").size()).isEqualTo(5 * 7);
        // stories260K: 5 layers x (64x64 x 2 + 64x32 x 2 + 3 x 64x172) weights, + the tied 512x64 head
        assertThat(j.get("decoder_weights").asLong()).isEqualTo(226_560L);
        assertThat(j.get("weights").asLong()).isEqualTo(226_560L + 512 * 64);
        assertThat(j.get("reference").asText()).isEqualTo(shared("models/stories260K"));
    }

    @Test
    void injectThenQuantizeThenGenerateWithoutQuant() {
        Path injected = tmp.resolve("inj"), quantized = tmp.resolve("q");
        Run inj = run("inject-outliers", "--model", shared("models/stories260K"), "--out", injected.toString(), "--channels", "2", "--scale", "40", "--seed", "1");
        assertThat(inj.code()).as(inj.err()).isZero();
        Run q = run("quantize", "--model", injected.toString(), "--quant", "w8a16", "--out", quantized.toString());
        assertThat(q.code()).as(q.err()).isZero();
        assertThat(Files.exists(quantized.resolve("model.safetensors"))).isTrue();
        Run plain = run("generate", "--model", shared("models/stories260K"), "--prompt", "Once upon a time", "--max-tokens", "12", "--ids");
        Run fromQuantized = run("generate", "--model", quantized.toString(), "--prompt", "Once upon a time", "--max-tokens", "12", "--ids");
        assertThat(fromQuantized.code()).as(fromQuantized.err()).isZero();
        assertThat(fromQuantized.out().trim().split(" ")).hasSize(12);
        // int8 weights of a function-preserving transform: the greedy story starts the same
        assertThat(fromQuantized.out().trim().split(" ")[0]).isEqualTo(plain.out().trim().split(" ")[0]);
    }

    @Test
    void quantizeWritesBitsandbytesThatGeneratesAsTheSchemeDoesInMemory() {
        Path bnb = tmp.resolve("bnb");
        Run q = run("quantize", "--model", shared("models/stories260K"), "--quant", "fp4", "--format", "bitsandbytes", "--out", bnb.toString());
        assertThat(q.code()).as(q.err()).isZero();
        assertThat(Files.exists(bnb.resolve("model.safetensors"))).isTrue();
        Run inMemory = run("generate", "--model", shared("models/stories260K"), "--quant", "fp4", "--prompt", "Once upon a time", "--max-tokens", "12", "--ids");
        Run stored = run("generate", "--model", bnb.toString(), "--prompt", "Once upon a time", "--max-tokens", "12", "--ids");
        assertThat(stored.code()).as(stored.err()).isZero();
        assertThat(stored.out().trim()).isEqualTo(inMemory.out().trim());
        Run bad = run("quantize", "--model", shared("models/stories260K"), "--quant", "w8a16", "--format", "bitsandbytes", "--out", tmp.resolve("x").toString());
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("is w8a16").contains("bitsandbytes 4-bit files hold nf4/fp4 layers").doesNotContain("\tat ");
    }

    @Test
    void quantizeWritesAGgufFileOrSaysWhyTheSchemeHasNoGgufType() {
        Path file = tmp.resolve("sotu6M-q8_0.gguf");
        Run q = run("quantize", "--model", shared("models/sotu6M"), "--quant", "w8a8-dynamic:group=32", "--format", "gguf", "--out", file.toString());
        assertThat(q.code()).as(q.err()).isZero();
        assertThat(q.err()).contains("gguf").contains("Q8_0=42").contains("scales rounded to f16");
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.getString("general.architecture")).isEqualTo("llama");
            assertThat(g.tensor("blk.5.ffn_down.weight").type()).isEqualTo(GgmlType.Q8_0);
        }
        Run bad = run("quantize", "--model", shared("models/sotu6M"), "--quant", "llm-int8:fp=dequant", "--format", "gguf", "--out", tmp.resolve("x.gguf").toString());
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("is llm-int8").contains("GGUF holds exactly only").doesNotContain("\tat ");
    }

    @Test
    void quantizeWritesAnOnnxModelOrSaysWhyTheSchemeHasNoOnnxForm() throws Exception {
        Path file = tmp.resolve("stories260K-w4.onnx");
        Run q = run("quantize", "--model", shared("models/stories260K"), "--quant", "w4a16-rtn:group=32", "--format", "onnx", "--out", file.toString());
        assertThat(q.code()).as(q.err()).isZero();
        assertThat(q.err()).contains("onnx qdq form, opset 21").contains("uint4 DequantizeLinear blocked (block 32)=35");
        ModelProto m = ModelProto.parseFrom(Files.readAllBytes(file));
        assertThat(m.getOpsetImport(0).getVersion()).isEqualTo(21);
        assertThat(m.getGraph().getOutput(0).getName()).isEqualTo("logits");
        assertThat(m.getGraph().getNodeList()).filteredOn(n -> n.getOpType().equals("DequantizeLinear")).hasSize(35);
        Run integer = run("quantize", "--model", shared("models/stories260K"), "--quant", "w8a8-dynamic", "--format", "onnx", "--onnx-form", "integer",
                "--out", tmp.resolve("int.onnx").toString());
        assertThat(integer.code()).as(integer.err()).isZero();
        assertThat(integer.err()).contains("DynamicQuantizeLinear (per-tensor) + MatMulInteger=35");
        Run bad = run("quantize", "--model", shared("models/stories260K"), "--quant", "llm-int8:fp=dequant", "--format", "onnx", "--out", tmp.resolve("x.onnx").toString());
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("is llm-int8").contains("LLM.int8()").doesNotContain("\tat ");
        Run grouped = run("quantize", "--model", shared("models/stories260K"), "--quant", "w8a8-dynamic:group=32", "--format", "onnx", "--onnx-form", "integer",
                "--out", tmp.resolve("y.onnx").toString());
        assertThat(grouped.code()).isEqualTo(2);
        assertThat(grouped.err()).contains("no MatMulInteger form");
        Path kv = tmp.resolve("nf4-kv.onnx");
        Run decode = run("quantize", "--model", shared("models/stories260K"), "--quant", "nf4", "--format", "onnx", "--onnx-kv", "--out", kv.toString());
        assertThat(decode.code()).as(decode.err()).isZero();
        assertThat(decode.err()).contains("with KV cache").contains("nf4 Gather codebook (block 64, double-quant Gather)=35");
        ModelProto k = ModelProto.parseFrom(Files.readAllBytes(kv));
        assertThat(k.getGraph().getInputList()).extracting(i -> i.getName()).startsWith("input_ids", "attention_mask", "position_ids", "past_key_values.0.key")
                .hasSize(3 + 2 * 5);
        assertThat(k.getGraph().getOutputList()).extracting(o -> o.getName()).startsWith("logits", "present.0.key", "present.0.value").hasSize(1 + 2 * 5);
    }

    @Test
    void badSchemesAndMissingCalibrationAreOneLineErrors() {
        Run bad = run("eval", "--model", shared("models/stories260K"), "--quant", "w3a3", "--text", shared("data/stories260K-eval.txt"));
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("unknown quantization scheme 'w3a3'").doesNotContain("\tat ");
        Run noCalib = run("generate", "--model", shared("models/stories260K"), "--quant", "smoothquant", "--prompt", "x", "--max-tokens", "2");
        assertThat(noCalib.code()).isEqualTo(2);
        assertThat(noCalib.err()).contains("needs calibration text (--calib FILE)");
    }
}
