package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.WindowForward;
import dev.quantflow.engine.onnx.OnnxGraph;
import dev.quantflow.engine.onnx.TensorProto;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * quantize --format onnx: the exported file, run in ONNX Runtime (Java binding), against the
 * engine's logits for the same scheme on stories260K and sotu6M (three prompts of 7, 40 and 120
 * tokens from the eval text), and greedy continuations compared token for token.
 */
class OnnxExportTest {
    @TempDir
    Path tmp;

    static OrtEnvironment env;

    @BeforeAll
    static void runtime() {
        try {
            env = OrtEnvironment.getEnvironment();
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            Assumptions.abort("ONNX Runtime's native library does not load here: " + e);
        }
    }

    static QuantizedModels.Built build(LlamaModel m, String scheme, String model) {
        Optional<int[]> calib = Optional.of(TextTokens.load(SharedData.path("data/" + model + "-calib.txt"), m.tokenizer(), 512));
        return QuantizedModels.build(m.config(), m.weights(), QuantPlan.parse(scheme, List.of()), calib, QuantizedModels.Options.DEFAULT);
    }

    /** (seq, vocab) logits from ONNX Runtime. */
    static float[] run(OrtSession s, int[] tokens, int vocab) throws OrtException {
        long[] ids = Arrays.stream(tokens).asLongStream().toArray();
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length}); OrtSession.Result r = s.run(Map.of("input_ids", t))) {
            float[] out = ((OnnxTensor) r.get("logits").orElseThrow()).getFloatBuffer().array();
            assertThat(out).hasSize(tokens.length * vocab);
            return out;
        }
    }

    static float[] engine(QuantizedModels.Built b, int[] tokens) {
        return WindowForward.logits(b.stage(), tokens, KvFormat.F32.caches(b.config(), KvCache.BLOCK_SIZE));
    }

    /** max |a - b| over max |b|: the error relative to the logits' scale. */
    static double relError(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num = Math.max(num, Math.abs(a[i] - b[i]));
            den = Math.max(den, Math.abs(b[i]));
        }
        return num / den;
    }

    /** The fraction of positions where some logit differs by more than 1e-4 of max |b|. */
    static double differing(float[] a, float[] b, int vocab) {
        double den = 0;
        for (float v : b) den = Math.max(den, Math.abs(v));
        int n = a.length / vocab, diff = 0;
        for (int r = 0; r < n; r++)
            for (int i = 0; i < vocab; i++)
                if (Math.abs(a[r * vocab + i] - b[r * vocab + i]) > 1e-4 * den) {
                    diff++;
                    break;
                }
        return diff / (double) n;
    }

    /** The fraction of positions whose argmax agrees. */
    static double top1(float[] a, float[] b, int vocab) {
        int n = a.length / vocab, same = 0;
        for (int r = 0; r < n; r++) if (argmax(a, r * vocab, vocab) == argmax(b, r * vocab, vocab)) same++;
        return same / (double) n;
    }

    static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }

    /** steps greedy tokens after prompt, each step a fresh prefill of the grown sequence. */
    interface Logits { float[] of(int[] tokens) throws OrtException; }

    static int[] greedy(Logits f, int[] prompt, int steps, int vocab) throws OrtException {
        int[] seq = prompt.clone();
        for (int i = 0; i < steps; i++) {
            float[] l = f.of(seq);
            seq = Arrays.copyOf(seq, seq.length + 1);
            seq[seq.length - 1] = argmax(l, (seq.length - 2) * vocab, vocab);
        }
        return Arrays.copyOfRange(seq, prompt.length, seq.length);
    }

    static List<int[]> prompts(LlamaModel m, String model) {
        int[] t = TextTokens.load(SharedData.path("data/" + model + "-eval.txt"), m.tokenizer(), 400);
        return List.of(Arrays.copyOfRange(t, 0, 7), Arrays.copyOfRange(t, 50, 90), Arrays.copyOfRange(t, 200, 320));
    }

    /** ORT vs the engine's same scheme; and, for scale, the engine's scheme vs the engine's fp32. */
    record Measured(double relError, double top1, boolean greedySame, double schemeError, double differing, double firstPosition) {}

    /** Exports scheme in form, runs it in ORT and the engine on the prompts; prints and returns the worst figures. */
    Measured measure(String model, String scheme, OnnxExport.Form form, boolean greedy) throws Exception {
        Path dir = SharedData.path("models/" + model);
        Assumptions.assumeTrue(Files.isDirectory(dir), "needs " + dir);
        try (LlamaModel m = LlamaModel.open(dir)) {
            QuantizedModels.Built b = build(m, scheme, model), fp32 = build(m, "fp32", model);
            Path file = tmp.resolve(model + ".onnx");
            OnnxExport.Summary s = OnnxExport.write(b, file, form);
            int vocab = m.config().vocabSize();
            double err = 0, top1 = 1, schemeErr = 0, diff = 0, first = 0;
            boolean same = true;
            try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
                o.setIntraOpNumThreads(1);
                if (System.getenv("ORT_NO_OPT") != null) o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
                try (OrtSession session = env.createSession(file.toString(), o)) {
                    for (int[] p : prompts(m, model)) {
                        float[] ours = engine(b, p), theirs = run(session, p, vocab);
                        err = Math.max(err, relError(theirs, ours));
                        schemeErr = Math.max(schemeErr, relError(ours, engine(fp32, p)));
                        diff = Math.max(diff, differing(theirs, ours, vocab));
                        first = Math.max(first, relError(Arrays.copyOf(theirs, vocab), Arrays.copyOf(ours, vocab)));   // position 0: no other position reaches it
                        top1 = Math.min(top1, top1(theirs, ours, vocab));
                        if (greedy) {
                            int[] a = greedy(t -> run(session, t, vocab), p, 8, vocab), e = greedy(t -> engine(b, t), p, 8, vocab);
                            same &= Arrays.equals(a, e);
                        }
                    }
                }
            }
            System.out.printf(Locale.ROOT, "ONNX %s %s %s: max|ort - engine| / max|engine| = %.3g, at position 0 %.3g, positions off by > 1e-4 %.3f, top-1 agreement %.4f, greedy same %s (engine %s vs fp32: %.3g), %d nodes, %d bytes, %s%n",
                    model, scheme, form, err, first, diff, top1, same, scheme, schemeErr, s.nodes(), s.bytes(), s.counts());
            return new Measured(err, top1, same, schemeErr, diff, first);
        }
    }

    @ParameterizedTest
    @CsvSource({"stories260K, fp32", "sotu6M, fp32", "stories260K, bf16", "stories260K, w8a16", "sotu6M, w8a16", "stories260K, w4a16-rtn:group=32",
            "sotu6M, w4a16-rtn:group=64", "stories260K, w4a16-rtn", "stories260K, 'w4a16-gptq:group=32,act-order=true'", "sotu6M, w4a16-awq:group=64",
            "stories260K, fp8", "sotu6M, fp8", "stories260K, 'fp8:format=e5m2,scale=tensor'", "sotu6M, 'fp8:format=e5m2'", "sotu6M, 'fp8:scale=tensor'",
            "stories260K, nf4", "sotu6M, nf4", "stories260K, 'nf4:block=32,double-quant=false'", "stories260K, fp4", "sotu6M, 'fp4:double-quant=false'"})
    void fp32AndWeightOnlyExportsComputeTheEnginesLogitsAndGreedyTokens(String model, String scheme) throws Exception {
        // weight-only: the dequantized weights are exactly the engine's (FP8 DequantizeLinear, and NF4/FP4's
        // Gather of the code table times the absmax, decoded in the graph as the engine decodes it); what
        // differs is fp32 summation order
        Measured r = measure(model, scheme, OnnxExport.Form.QDQ, true);
        assertThat(r.relError()).isLessThan(1e-4);
        assertThat(r.greedySame()).isTrue();
    }

    @ParameterizedTest
    @CsvSource({"64, 64", "64, 32", "172, 32", "172, 128"})
    void oneDynamicInt8LinearInOrtEqualsAFloat64ReferenceOfTheEnginesCodes(int in, int group) throws Exception {
        // per-token (group = in) and row-group activations, a ragged last group where group does not divide in
        int rows = 5, out = 12;
        Random rnd = new Random(in * 31 + group);
        float[] x = new float[rows * in], w = new float[out * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * (i % 7 == 0 ? 4 : 1));
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        W8A8DynamicLinear lin = W8A8DynamicLinear.quantize(w, out, in, group, null, "w8a8-dynamic");
        QuantizedMatrix m = lin.weights();
        OnnxGraph g = new OnnxGraph("linear");
        g.input("x", TensorProto.DataType.FLOAT, (long) rows, (long) in);
        g.alias(OnnxExport.perTokenQdq(g, new java.util.HashMap<>(), "l", "x", m), "y");
        g.output("y", TensorProto.DataType.FLOAT, (long) rows, (long) out);
        ActivationQuant a = ActivationQuant.quantize(x, rows, m.layout());
        float[] y;
        try (OrtSession s = env.createSession(g.model("test", "", Map.of()).toByteArray(), new OrtSession.SessionOptions());
             OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {rows, in}); OrtSession.Result r = s.run(Map.of("x", t))) {
            y = ((OnnxTensor) r.get(0)).getFloatBuffer().array();
        }
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double ref = 0;
                for (int k = 0; k < m.groups(); k++) {
                    long dot = 0;
                    for (int j = m.layout().start(k); j < m.layout().end(k); j++) dot += a.q()[r * in + j] * m.q()[o * in + j];
                    ref += dot * (double) a.scales()[r * m.groups() + k] * m.scales()[o * m.groups() + k];
                }
                assertThat((double) y[r * out + o]).as("row %d out %d", r, o).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(ref))));
            }
    }

    @ParameterizedTest
    @CsvSource({"token, 64", "token, 172", "tensor, 64", "static, 172"})
    void oneFp8ActivationLinearInOrtEqualsAFloat64ReferenceOfTheEnginesCodes(String act, int in) throws Exception {
        // ORT's QuantizeLinear to FLOAT8E4M3FN rounds and saturates as Fp8Format.encode: the products of the
        // same e4m3 values; x spans 1e-3..1e2 (subnormal codes, saturation under the static scale)
        int rows = 5, out = 12;
        Random rnd = new Random(in * 7 + act.length());
        float[] x = new float[rows * in], w = new float[out * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(6) - 3));
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        Fp8W8A8Linear.Act a = Fp8W8A8Linear.Act.valueOf(act.toUpperCase(Locale.ROOT));
        Fp8W8A8Linear lin = new Fp8W8A8Linear(Fp8Matrix.quantize(w, out, in, dev.quantflow.engine.model.Fp8Format.E4M3, true), a,
                a == Fp8W8A8Linear.Act.STATIC ? 0.05f : Float.POSITIVE_INFINITY, null);
        OnnxGraph g = new OnnxGraph("linear");
        g.input("x", TensorProto.DataType.FLOAT, (long) rows, (long) in);
        g.alias(OnnxExport.fp8Activations(g, new java.util.HashMap<>(), "l", "x", lin), "y");
        g.output("y", TensorProto.DataType.FLOAT, (long) rows, (long) out);
        float[] y;
        try (OrtSession s = env.createSession(g.model("test", "", Map.of()).toByteArray(), new OrtSession.SessionOptions());
             OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {rows, in}); OrtSession.Result r = s.run(Map.of("x", t))) {
            y = ((OnnxTensor) r.get(0)).getFloatBuffer().array();
        }
        var e4m3 = dev.quantflow.engine.model.Fp8Format.E4M3;
        float tensorMax = 0;
        for (float v : x) tensorMax = Math.max(tensorMax, Math.abs(v));
        Fp8Matrix m = lin.weights();
        for (int r = 0; r < rows; r++) {
            float rowMax = 0;
            for (int j = 0; j < in; j++) rowMax = Math.max(rowMax, Math.abs(x[r * in + j]));
            float sx = switch (a) {
                case STATIC -> 0.05f;
                case TENSOR -> tensorMax / e4m3.max;
                case TOKEN -> rowMax / e4m3.max;
            };
            for (int o = 0; o < out; o++) {
                double ref = 0, size = 0;
                for (int j = 0; j < in; j++) {
                    double term = (double) e4m3.decode(e4m3.encode(x[r * in + j] / sx)) * m.format().decode(m.q()[o * in + j]);
                    ref += term;
                    size += Math.abs(term);
                }
                double scale = (double) sx * m.scales()[o];
                // fp32 sums of terms spanning 1e5: bound by the size of the terms (a flipped code of a weight-sized term is ~1e-2 of it)
                assertThat((double) y[r * out + o]).as("row %d out %d", r, o).isCloseTo(ref * scale, org.assertj.core.data.Offset.offset(2e-6 * size * scale));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"stories260K, w8a8-dynamic", "sotu6M, w8a8-dynamic", "stories260K, w8a8-dynamic:group=32", "sotu6M, smoothquant", "stories260K, w8a8-tensor",
            "stories260K, fp8-w8a8", "sotu6M, fp8-w8a8", "stories260K, 'fp8-w8a8:act=tensor'", "sotu6M, 'fp8-w8a8:act=static,scale=tensor'"})
    void qdqExportsOfInt8ActivationsComputeTheEnginesScheme(String model, String scheme) throws Exception {
        // one linear equals the engine's arithmetic (the test above). Through the model, where fp32 rounding
        // (another summation order) puts an activation on the other side of a rounding boundary it takes the
        // neighbouring code, and the step propagates to later layers and, through attention, later positions:
        // the same w8a8-tensor graph with ONNX Runtime's integer fusion off (fp32 Gemm over the same codes
        // instead of exact int32 sums) moves stories260K's logits 7.9e-3 of their range. Bound: closer to the
        // engine than the scheme is to fp32, top-1 as the engine's; exact where the scale is a constant.
        Measured r = measure(model, scheme, OnnxExport.Form.QDQ, true);
        assertThat(r.relError()).isLessThan(r.schemeError());
        assertThat(r.top1()).isGreaterThanOrEqualTo(0.97);
        if (scheme.equals("w8a8-tensor")) assertThat(r.relError()).isLessThan(1e-5);   // ORT's QGemm sums as the engine does
        // per token, position 0 sees no other position: the same codes and products there (measured 2-6e-7); an e4m3 flip elsewhere
        // is a larger step than an int8 one (1/16 of the value near the top of a binade), measured 0.42-0.62 of the scheme's error
        if (scheme.equals("fp8-w8a8") || scheme.equals("w8a8-dynamic")) assertThat(r.firstPosition()).isLessThan(1e-5);
    }

    @ParameterizedTest
    @CsvSource({"stories260K, w8a8-dynamic", "sotu6M, w8a8-dynamic", "sotu6M, smoothquant", "stories260K, w8a8-tensor"})
    void integerExportsRunMatMulInteger(String model, String scheme) throws Exception {
        Measured r = measure(model, scheme, OnnxExport.Form.INTEGER, false);
        if (scheme.equals("w8a8-tensor")) {   // static scale: the engine's codes, exact int32 sums, the same scale product
            assertThat(r.relError()).isLessThan(1e-5);
        } else {   // per-tensor uint8 activations instead of the scheme's per-token int8: an approximation, measured
            assertThat(r.relError()).isLessThan(0.15);
            assertThat(r.top1()).isGreaterThanOrEqualTo(0.9);
        }
    }

    @Test
    void schemesOnnxCannotHoldAreRefusedWithTheReason() {
        Path dir = SharedData.path("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(dir), "needs " + dir);
        try (LlamaModel m = LlamaModel.open(dir)) {
            assertThatThrownBy(() -> OnnxExport.model(build(m, "llm-int8", "stories260K"), OnnxExport.Form.QDQ))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("LLM.int8()");
            assertThatThrownBy(() -> OnnxExport.model(build(m, "w8a8-dynamic:group=32", "stories260K"), OnnxExport.Form.INTEGER))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no MatMulInteger form");
        }
        assertThatThrownBy(() -> OnnxExport.Form.parse("fp16")).hasMessageContaining("qdq or integer");
    }

    @Test
    void uint4PackingIsOnnxsLowNibbleFirst() {
        assertThat(OnnxExport.packUint4(new byte[] {1, 15, 7})).containsExactly((byte) 0xF1, (byte) 0x07);
    }
}
