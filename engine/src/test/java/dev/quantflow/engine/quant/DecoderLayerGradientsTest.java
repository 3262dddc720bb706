package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.WindowForward;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Every backward piece of the decoder layer, and the whole layer, against central finite differences in float64. */
class DecoderLayerGradientsTest {
    static final DecoderLayerGradients.Shape SHAPE = new DecoderLayerGradients.Shape(16, 4, 2, 4, 24, 1e-5, new float[] {1f, 0.1f});
    static final double EPS = 1e-6;

    static double[] rand(Random r, int n, double scale) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = r.nextGaussian() * scale;
        return a;
    }

    static double sumProduct(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    /** Central difference of loss in every element of x, compared to the analytic gradient. */
    static void assertGradient(String what, double[] x, double[] analytic, DoubleSupplier loss) {
        double worst = 0, norm = 0;
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + EPS;
            double up = loss.getAsDouble();
            x[i] = keep - EPS;
            double down = loss.getAsDouble();
            x[i] = keep;
            double fd = (up - down) / (2 * EPS);
            worst = Math.max(worst, Math.abs(fd - analytic[i]));
            norm = Math.max(norm, Math.abs(analytic[i]));
        }
        assertThat(norm).as(what + ": gradient is not all zero").isGreaterThan(1e-3);
        assertThat(worst / norm).as(what + ": max |fd - analytic| / max |analytic|").isLessThan(1e-6);
    }

    @Test
    void rmsnormBackwardMatchesFiniteDifferences() {
        Random r = new Random(1);
        int rows = 3, d = 16;
        double[] x = rand(r, rows * d, 1), g = rand(r, d, 1), dy = rand(r, rows * d, 1);
        double[] inv = new double[rows];
        DecoderLayerGradients.rmsnorm(x, g, rows, d, 1e-5, inv);
        double[] dx = DecoderLayerGradients.rmsnormBackward(x, g, inv, dy, rows, d);
        assertGradient("rmsnorm dx", x, dx, () -> sumProduct(dy, DecoderLayerGradients.rmsnorm(x, g, rows, d, 1e-5, new double[rows])));
    }

    @Test
    void linearBackwardMatchesFiniteDifferences() {
        Random r = new Random(2);
        int rows = 5, out = 7, in = 11;
        double[] x = rand(r, rows * in, 1), w = rand(r, out * in, 1), b = rand(r, out, 1), dy = rand(r, rows * out, 1);
        DoubleSupplier loss = () -> sumProduct(dy, DecoderLayerGradients.linear(x, rows, w, b, out, in));
        assertGradient("linear dx", x, DecoderLayerGradients.inputGrad(dy, w, rows, out, in), loss);
        assertGradient("linear dW", w, DecoderLayerGradients.weightGrad(dy, x, rows, out, in), loss);
    }

    @Test
    void ropeBackwardIsTheTransposedRotation() {
        Random r = new Random(3);
        DecoderLayerGradients g = new DecoderLayerGradients(SHAPE, 8);
        int seqLen = 6, rows = 12, heads = 3, w = heads * SHAPE.headDim();
        double[] x = rand(r, rows * w, 1), dy = rand(r, rows * w, 1);
        double[] dx = dy.clone();
        g.rope(dx, rows, seqLen, heads, true);
        assertGradient("rope dx", x, dx, () -> {
            double[] y = x.clone();
            g.rope(y, rows, seqLen, heads, false);
            return sumProduct(dy, y);
        });
    }

    @Test
    void attentionBackwardMatchesFiniteDifferences() {
        Random r = new Random(4);
        DecoderLayerGradients g = new DecoderLayerGradients(SHAPE, 8);
        int seqs = 2, seqLen = 5, n = seqs * seqLen, qd = 16, kvd = 8;
        double[] q = rand(r, n * qd, 1), k = rand(r, n * kvd, 1), v = rand(r, n * kvd, 1), dy = rand(r, n * qd, 1);
        double[] prob = new double[seqs * 4 * seqLen * seqLen];
        g.attention(q, k, v, seqs, seqLen, prob);
        double[] dq = new double[n * qd], dk = new double[n * kvd], dv = new double[n * kvd];
        g.attentionBackward(q, k, v, prob, dy, seqs, seqLen, dq, dk, dv);
        DoubleSupplier loss = () -> sumProduct(dy, g.attention(q, k, v, seqs, seqLen, new double[prob.length]));
        assertGradient("attention dq", q, dq, loss);
        assertGradient("attention dk", k, dk, loss);
        assertGradient("attention dv", v, dv, loss);
    }

    @Test
    void wholeLayerGradientsMatchFiniteDifferences() {
        Random r = new Random(5);
        DecoderLayerGradients g = new DecoderLayerGradients(SHAPE, 8);
        double[][] w = new double[DecoderLayerGradients.LINEARS][], b = new double[DecoderLayerGradients.LINEARS][];
        for (int i = 0; i < w.length; i++) {
            w[i] = rand(r, SHAPE.out(i) * SHAPE.in(i), 0.4);
            b[i] = i == DecoderLayerGradients.Q ? rand(r, SHAPE.out(i), 0.1) : null;   // a bias where Qwen2 has one
        }
        double[] g1 = rand(r, 16, 1), g2 = rand(r, 16, 1);
        var p = new DecoderLayerGradients.Params(g1, g2, w, b);
        int seqs = 2, seqLen = 5, n = seqs * seqLen;
        double[] x = rand(r, n * 16, 1), target = rand(r, n * 16, 1);
        DoubleSupplier mse = () -> {
            double[] out = g.forward(p, x, seqs, seqLen).out(), dOut = new double[out.length];
            return Lkd.mse(out, target, dOut);
        };
        var a = g.forward(p, x, seqs, seqLen);
        double[] dOut = new double[a.out().length];
        Lkd.mse(a.out(), target, dOut);
        var grads = g.backward(p, a, dOut, true);
        String[] names = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        for (int i = 0; i < w.length; i++) assertGradient("layer d" + names[i], w[i], grads.w()[i], mse);
        assertGradient("layer dx", x, grads.x(), mse);
    }

    @Test
    void withInt8InputsTheDownProjWeightGradientIsExact() {
        // down_proj's quantized input does not depend on its own weights: there the STE gradient is the true one
        Random r = new Random(6);
        DecoderLayerGradients g = new DecoderLayerGradients(SHAPE, 8);
        double[][] w = new double[DecoderLayerGradients.LINEARS][], b = new double[DecoderLayerGradients.LINEARS][];
        for (int i = 0; i < w.length; i++) w[i] = rand(r, SHAPE.out(i) * SHAPE.in(i), 0.4);
        var p = new DecoderLayerGradients.Params(rand(r, 16, 1), rand(r, 16, 1), w, b, new boolean[] {true, true, true, true});
        int seqs = 2, seqLen = 5;
        double[] x = rand(r, seqs * seqLen * 16, 1), target = rand(r, x.length, 1);
        var a = g.forward(p, x, seqs, seqLen);
        double[] dOut = new double[a.out().length];
        Lkd.mse(a.out(), target, dOut);
        var grads = g.backward(p, a, dOut, false);
        assertGradient("int8-input layer d down_proj", w[DecoderLayerGradients.DOWN], grads.w()[DecoderLayerGradients.DOWN],
                () -> Lkd.mse(g.forward(p, x, seqs, seqLen).out(), target, new double[dOut.length]));
        // and the quantization is there: the forward differs from the float one
        double[] plain = g.forward(new DecoderLayerGradients.Params(p.attnNorm(), p.ffnNorm(), w, b), x, seqs, seqLen).out();
        assertThat(plain).isNotEqualTo(a.out());
    }

    @Test
    void studentWithInt8InputsMatchesTheEnginesW4A8AndW8A8Layers() throws Exception {
        Path dir = SharedData.path("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(dir), "stories260K absent");
        try (LlamaModel m = LlamaModel.open(dir)) {
            var c = m.config();
            int[] tokens = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), m.tokenizer(), 48);
            QuantPlan plan = QuantPlan.parse("w4a8:group=32", List.of("self_attn=w8a8-dynamic"));
            LinearFactory factory = (name, weight, bias) -> {
                float[] wf = weight.toFloatArray();
                return plan.schemeFor(name) instanceof QuantScheme.W4A8
                        ? W4A8Linear.rtn(wf, weight.rows(), weight.cols(), 32, bias, "w4a8:group=32")
                        : W8A8DynamicLinear.quantize(wf, weight.rows(), weight.cols(), weight.cols(), bias, "w8a8-dynamic");
            };
            QuantScheme[] sch = new QuantScheme[DecoderLayerGradients.LINEARS];
            for (int i = 0; i < sch.length; i++) sch[i] = plan.schemeFor(LinearNames.layer(0, Lkd.SUFFIX[i]));
            java.util.function.IntFunction<DecoderLayerGradients.Params> student = l -> {
                var fp = Lkd.params(m.weights(), l, c);
                double[][] w = new double[sch.length][];
                for (int i = 0; i < sch.length; i++) {
                    var t = m.weights().get(LinearNames.layer(l, Lkd.SUFFIX[i]) + ".weight");
                    w[i] = Lkd.toDouble(Lkd.fakeQuantize(sch[i], t.toFloatArray(), t.rows(), t.cols()));
                }
                return new DecoderLayerGradients.Params(fp.attnNorm(), fp.ffnNorm(), w, fp.b(), Lkd.int8Inputs(sch));
            };
            LlamaStage probe = new LlamaStage(c, m.weights(), 0, 0, LinearFactory.DENSE);
            float[][] ours = Lkd.hidden(c, m.weights(), probe.ropeInvFreq(), tokens, student);
            float[][] fp32 = Lkd.teacherHidden(c, m.weights(), probe.ropeInvFreq(), tokens);
            for (int layers = 1; layers < c.numLayers(); layers++) {
                LlamaStage stage = new LlamaStage(c, m.weights(), 0, layers, factory);
                float[] engine = WindowForward.hidden(stage, tokens, blocks -> new F32KvCache(stage.lastLayer(), blocks, KvCache.BLOCK_SIZE,
                        c.numHeads(), c.numKvHeads(), c.headDim()));
                double err = 0, errFp = 0;
                for (int i = 0; i < engine.length; i++) {
                    err += (ours[layers][i] - engine[i]) * (ours[layers][i] - engine[i]);
                    errFp += (fp32[layers][i] - engine[i]) * (fp32[layers][i] - engine[i]);
                }
                // after one layer the twin is the engine (rms 2e-6 of the quantization's own effect); deeper, an int8
                // code that rounds the other way between float and float64 sums is carried on (0.002, 0.04, 0.08 measured)
                assertThat(Math.sqrt(err / errFp)).as("after " + layers + " layers: rms error vs the fp32 layer's").isLessThan(layers == 1 ? 1e-4 : 0.2);
            }
        }
    }

    @Test
    void layerForwardMatchesTheEnginesForwardOnARealModel() throws Exception {
        Path dir = SharedData.path("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(dir), "stories260K absent");
        try (LlamaModel m = LlamaModel.open(dir)) {
            var c = m.config();
            int[] tokens = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), m.tokenizer(), 48);
            for (int layers = 1; layers < c.numLayers(); layers++) {
                LlamaStage stage = new LlamaStage(c, m.weights(), 0, layers, LinearFactory.DENSE);
                float[] engine = WindowForward.hidden(stage, tokens, blocks -> new F32KvCache(stage.lastLayer(), blocks, KvCache.BLOCK_SIZE,
                        c.numHeads(), c.numKvHeads(), c.headDim()));
                float[] ours = Lkd.teacherHidden(c, m.weights(), stage.ropeInvFreq(), tokens)[layers];
                double err = 0, ref = 0;
                for (int i = 0; i < ours.length; i++) {
                    err = Math.max(err, Math.abs(ours[i] - engine[i]));
                    ref = Math.max(ref, Math.abs(engine[i]));
                }
                assertThat(err / ref).as("after " + layers + " layers").isLessThan(1e-4);
            }
        }
    }
}
