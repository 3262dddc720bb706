package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.BiasedLinear;
import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.gguf.block.GgufLinears;
import dev.quantflow.engine.gguf.block.Q6_KLinear;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.progress.Progress;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Turns (model, plan, calibration tokens) into a runnable quantized model: calibrate if a scheme
 * needs it, fold SmoothQuant/AWQ scales into the weights, then build every linear in its format.
 * The CLI, the actors and the evaluator all come through here.
 */
public final class QuantizedModels {
    private QuantizedModels() {}

    public record Options(int calibWindow, int sampleRows, boolean trackLayerError) {
        public static final Options DEFAULT = new Options(512, Calibration.DEFAULT_SAMPLE_ROWS, false);

        public Options withLayerError(boolean on) {
            return new Options(calibWindow, sampleRows, on);
        }
    }

    /** A model whose linears are built: the stage to run, each linear by name, the folded scales by producer. */
    public record Built(LlamaStage stage, LlamaConfig config, QuantPlan plan, WeightStore weights,
                        Map<String, Linear> linears, Map<String, float[]> foldFactors, Map<String, String> foldKinds,
                        List<Lkd.LayerLoss> lkdLosses) {
        /** Resident bytes of all linear weights (incl. lm_head, scales, zero points, fp copies). */
        public long weightBytes() {
            return linears.values().stream().mapToLong(Linear::weightBytes).sum();
        }

        /** Resident bytes of the decoder layers' linears (without lm_head, which stays fp32 unless overridden). */
        public long decoderWeightBytes() {
            return linears.entrySet().stream().filter(e -> !e.getKey().equals("lm_head")).mapToLong(e -> e.getValue().weightBytes()).sum();
        }

        /** The format that actually runs (under any error probe). */
        public Linear format(String name) {
            Linear l = linears.get(name);
            return l instanceof LayerErrorProbe p ? p.quantized() : l;
        }

        /** The same layers without error probes (for timing), sharing the built linears. */
        public LlamaStage unprobedStage() {
            return new LlamaStage(config, weights, 0, config.numLayers(), new LinearFactory() {
                public Linear create(String name, Tensor w, float[] b) {
                    return format(name);
                }

                public Optional<Linear> fromStore(String name, int out, int in, float[] b) {
                    return Optional.ofNullable(format(name));
                }
            });
        }

        /** LLM.int8() outlier columns summed over all layers. */
        public OutlierStats outlierStats() {
            OutlierStats s = OutlierStats.NONE;
            for (String n : linears.keySet()) if (format(n) instanceof LlmInt8Linear l) s = s.plus(l.outlierStats());
            return s;
        }

        public Map<String, OutlierStats> outlierStatsByLayer() {
            Map<String, OutlierStats> m = new LinkedHashMap<>();
            for (String n : linears.keySet()) if (format(n) instanceof LlmInt8Linear l) m.put(n, l.outlierStats());
            return m;
        }

        public Map<String, Double> layerErrors() {
            Map<String, Double> m = new LinkedHashMap<>();
            linears.forEach((n, l) -> {
                if (l instanceof LayerErrorProbe p) m.put(n, p.relativeError());
            });
            return m;
        }
    }

    /**
     * The factory of a scheme that needs no calibration (what a backend can build from the weights
     * alone); schemes that calibrate are quantized offline with `quantflow quantize` and loaded.
     */
    public static LinearFactory calibrationFree(String spec) {
        return calibrationFree(QuantScheme.parse(spec));
    }

    private static LinearFactory calibrationFree(QuantScheme s) {
        if (s.needsCalibration())
            throw new IllegalArgumentException("scheme " + s + " needs calibration text: quantize the model first (quantflow quantize --calib FILE) and load the result");
        QuantPlan plan = QuantPlan.of(s);
        return (name, weight, bias) -> create(name, plan.schemeFor(name), weight, bias, null, null, Map.of());
    }

    /**
     * The linears a model runs with when they are built as it loads, over the weights w (the
     * caller's own mapping of the model's directory): a quantized checkpoint (quantization_config
     * in config.json) as stored, which takes no scheme but fp32; otherwise scheme built from the
     * weights. The one load path of generate, eval and every serving stage.
     *
     * @throws IllegalArgumentException for an unknown scheme, one that needs calibration, or a scheme given for a stored checkpoint
     */
    public static LinearFactory atLoad(LlamaConfig c, WeightStore w, String scheme) {
        QuantScheme s = schemeAtLoad(c, scheme);
        // a GGUF file's tensors are computed on as stored (mapped, never copied), F32/F16/BF16 included
        if (w.isGguf() && s instanceof QuantScheme.Fp32) return GgufLinears.factory(w);
        if (QuantizedCheckpoint.isQuantized(c)) return QuantizedCheckpoint.loader(c, w);
        LinearFactory f = calibrationFree(s);
        if (!w.isGguf()) return f;
        return (name, weight, bias) -> {   // every scheme packs its own copy: the store's q/k copies in Hugging Face row order go
            Linear l = f.create(name, weight, bias);
            w.release(weight.name());
            return l;
        };
    }

    /** The scheme {@link #atLoad} builds, checked without weights (to fail before anything loads). */
    public static QuantScheme schemeAtLoad(LlamaConfig c, String scheme) {
        QuantScheme s = QuantScheme.parse(scheme);
        if (QuantizedCheckpoint.isQuantized(c)) {
            if (!(s instanceof QuantScheme.Fp32) && c.quantizationConfig().path("quant_method").asText().equals("gguf"))
                throw new IllegalArgumentException("the GGUF file stores its linears as " + c.quantizationConfig().path("types").asText()
                        + " blocks, which run as they are: drop --quant (a scheme re-quantizes F32, F16 or BF16 files only)");
            if (!(s instanceof QuantScheme.Fp32))
                throw new IllegalArgumentException("the model is already quantized (config.json has a quantization_config): load it without a scheme, as stored");
        } else {
            calibrationFree(s);
        }
        return s;
    }

    /** A quantized checkpoint's linears as stored (see {@link QuantizedCheckpoint}). */
    public static Built loadStored(LlamaModel m) {
        Map<String, Linear> linears = new LinkedHashMap<>();
        LlamaConfig c = m.config();
        LlamaStage stage = new LlamaStage(c, m.weights(), 0, c.numLayers(), atLoad(c, m.weights(), "fp32").observed(linears::put));
        return new Built(stage, c, QuantPlan.of(new QuantScheme.Fp32()), m.weights(), linears, Map.of(), Map.of(), List.of());
    }

    /** Builds plan over model weights; calibTokens is required when a scheme needs calibration. */
    public static Built build(LlamaConfig c, WeightStore weights, QuantPlan plan, Optional<int[]> calibTokens, Options opt) {
        Map<String, QuantScheme> schemes = new LinkedHashMap<>();
        for (String n : LinearNames.all(c)) schemes.put(n, plan.schemeFor(n));
        Map<String, InputStats> stats = Map.of();
        Optional<QuantScheme> needs = schemes.values().stream().filter(QuantScheme::needsCalibration).findFirst();
        if (needs.isPresent() && calibTokens.isEmpty())
            throw new IllegalArgumentException("scheme " + needs.get() + " needs calibration text (--calib FILE)");
        if (calibTokens.isPresent() && schemes.values().stream().anyMatch(QuantScheme::usesCalibration)) {
            int[] tokens = calibTokens.get();
            Set<String> hessian = new HashSet<>();
            schemes.forEach((n, s) -> {
                if (gptq(s)) hessian.add(LinearNames.inputKey(n));
            });
            stats = Calibration.collect(c, weights, tokens, opt.calibWindow(), hessian, opt.sampleRows(), schemes.get("lm_head").usesCalibration());
        }

        WeightEdits edits = new WeightEdits(weights);
        Map<String, float[]> factors = new LinkedHashMap<>();
        Map<String, String> kinds = new LinkedHashMap<>();
        Map<String, ChannelFold> foldOfInput = new LinkedHashMap<>();
        List<ChannelFold> folds = ChannelFold.all(c);
        Progress progress = Progress.current();
        boolean folding = schemes.values().stream().anyMatch(s -> s instanceof QuantScheme.SmoothQuant || s instanceof QuantScheme.Fp8W8A8 f && f.smoothed()
                || s instanceof QuantScheme.W4A16 w && w.method() == QuantScheme.Int4Method.AWQ);
        int foldsDone = 0;
        Map<String, Float> modelAlpha = modelSearchedAlphas(folds, schemes, stats, edits);
        for (ChannelFold fold : folds) {
            if (folding) progress.update("scale search", foldsDone++, folds.size(), "folds");
            List<QuantScheme> consumers = fold.consumers().stream().map(schemes::get).toList();
            InputStats in = stats.get(fold.inputKey());
            Optional<Smoothing> sq = smoothing(consumers);
            Optional<QuantScheme.W4A16> awq = consumers.stream().filter(s -> s instanceof QuantScheme.W4A16 w && w.method() == QuantScheme.Int4Method.AWQ)
                    .map(s -> (QuantScheme.W4A16) s).findFirst();
            if (sq.isPresent()) {   // SmoothQuant's migration (before int8 W8A8, or before FP8 W8A8)
                Smoothing q = sq.get();
                float alpha = switch (q.search()) {
                    case FIXED -> q.alpha();
                    case MODEL -> modelAlpha.get(q.scheme().toString());
                    case LAYER -> SmoothQuant.argmin(SmoothQuant.lossCurve(fold, in, edits, q.sim()));
                };
                factors.put(fold.producer(), SmoothQuant.smooth(fold, in, edits, alpha));
                kinds.put(fold.producer(), q.scheme() instanceof QuantScheme.SmoothQuant && q.search() == QuantScheme.AlphaSearch.FIXED
                        ? "smoothquant" : "smoothquant:alpha=" + alpha);
            } else if (awq.isPresent()) {
                factors.put(fold.producer(), Awq.searchAndFold(fold, in, edits, awq.get().group()));
                kinds.put(fold.producer(), "awq");
            } else {
                continue;
            }
            foldOfInput.put(fold.inputKey(), fold);
        }
        if (folding) progress.update("scale search", folds.size(), folds.size(), "folds");
        WeightStore store = edits.isEmpty() ? weights : edits.apply();
        List<Lkd.LayerLoss> lkdLosses = new java.util.ArrayList<>();
        Lkd.Result distilled = schemes.values().stream().anyMatch(QuantScheme::lkd)
                ? distill(c, store, schemes, stats, calibTokens.get(), lkdLosses, foldOfInput, factors) : new Lkd.Result(Map.of(), Map.of(), List.of());

        Map<String, Linear> linears = new LinkedHashMap<>();
        Map<String, InputStats> st = stats;
        LinearFactory factory = (name, weight, bias) -> {
            QuantizedMatrix trained = distilled.quantized().get(name);
            Fp8Matrix trainedFp8 = distilled.fp8().get(name);
            Linear l = trained != null ? distilledLinear(schemes.get(name), trained, bias)
                    : trainedFp8 != null ? new Fp8W8A8Linear(trainedFp8, ((QuantScheme.Fp8W8A8) schemes.get(name)).act(), Float.POSITIVE_INFINITY, bias) : create(name, schemes.getOrDefault(name, new QuantScheme.Fp32()), weight, bias, st.get(LinearNames.inputKey(name)),
                    foldOfInput.get(LinearNames.inputKey(name)), factors);
            if (opt.trackLayerError() && !(l instanceof DenseLinear)) l = LayerErrorProbe.of(l, new DenseLinear(weight, bias));
            linears.put(name, l);
            return l;
        };
        LlamaStage stage = new LlamaStage(c, store, 0, c.numLayers(), factory);
        return new Built(stage, c, plan, store, linears, factors, kinds, lkdLosses);
    }

    /**
     * ZeroQuant's layer-wise distillation of the linears with lkd=true (see {@link Lkd}): GPTQ ones
     * start from GPTQ's error-compensated weights on GPTQ's grid, the others from their own on
     * their min-max grid; returns the trained linears' codes, which become the scheme's usual
     * packed linears. The settings are those of the first distilled linear's scheme.
     */
    private static Lkd.Result distill(LlamaConfig c, WeightStore store, Map<String, QuantScheme> schemes, Map<String, InputStats> stats, int[] tokens,
                                       List<Lkd.LayerLoss> losses, Map<String, ChannelFold> foldOfInput, Map<String, float[]> factors) {
        Map<String, Lkd.Start> init = new LinkedHashMap<>();
        schemes.forEach((n, s) -> {
            if (s.lkd() && s instanceof QuantScheme.Fp8W8A8 f && f.weights().gptq()) {
                // GPTQ onto the e4m3 grid first, the weights as it rounded them the start (as for int4 below)
                Tensor t = store.get(n + ".weight");
                float[] start = new float[t.rows() * t.cols()];
                String key = LinearNames.inputKey(n);
                Fp8Matrix grid = Gptq.quantizeFp8(t.toFloatArray(), t.rows(), t.cols(), actualHessian(required(stats.get(key), n, s), foldOfInput.get(key), factors),
                        Fp8Format.E4M3, f.perChannelWeights(), f.weights().mseScales(), f.actOrder(), Gptq.DEFAULT_DAMP, start);
                init.put(n, new Lkd.Start(start, null, grid));
            } else if (s.lkd() && gptq(s)) {
                // the weights as GPTQ rounded them, error feedback included: they round to GPTQ's codes but sit
                // inside their grid cells rather than on the grid points, where training could not move them
                Tensor t = store.get(n + ".weight");
                float[] start = new float[t.rows() * t.cols()];
                boolean sym = s instanceof QuantScheme.W4A16 w && w.symmetric(), actOrder = s instanceof QuantScheme.W4A16 w && w.actOrder();
                int group = s instanceof QuantScheme.W4A16 w ? w.group() : ((QuantScheme.W4A8) s).group();
                QuantizedMatrix grid = Gptq.quantize(t.toFloatArray(), t.rows(), t.cols(), required(stats.get(LinearNames.inputKey(n)), n, s).hessian(),
                        sym ? IntRange.INT4_SYM : IntRange.INT4_ASYM, group, actOrder, Gptq.DEFAULT_DAMP, start);
                init.put(n, new Lkd.Start(start, grid));
            }
        });
        Lkd.Settings settings = schemes.values().stream().filter(QuantScheme::lkd).findFirst().orElseThrow().lkdSettings();
        // the frequencies as the forward has them, from a stage of no layers (silent: it has no work to report)
        float[] invFreq = Progress.during(Progress.NONE, () -> new LlamaStage(c, store, 0, 0, LinearFactory.DENSE).ropeInvFreq());
        Lkd.Result r = Lkd.distill(c, store, invFreq, schemes, init, tokens, settings);
        losses.addAll(r.losses());
        return r;
    }

    /** A distilled linear in its scheme's format, from the trained codes. */
    private static Linear distilledLinear(QuantScheme s, QuantizedMatrix q, float[] bias) {
        return switch (s) {
            case QuantScheme.W8A16 w -> new Int8Linear(q, bias);
            case QuantScheme.W4A16 w -> new Int4GroupLinear(q, null, bias, w.toString());
            case QuantScheme.W8A8Dynamic w -> new W8A8DynamicLinear(q, bias, w.toString());
            case QuantScheme.W4A8 w -> new W4A8Linear(new Int4GroupLinear(q, null, bias, w.toString()), w.toString());
            default -> throw new IllegalStateException("lkd trained a " + s + " layer");
        };
    }

    /**
     * The SmoothQuant migration a fold's consumers ask for (the first that smooths): smoothquant's,
     * or fp8-w8a8's smooth=; its alpha or how it is searched, and the W8A8 its loss simulates.
     */
    record Smoothing(QuantScheme scheme, float alpha, QuantScheme.AlphaSearch search, SmoothQuant.Simulation sim) {}

    static Optional<Smoothing> smoothing(List<QuantScheme> consumers) {
        for (QuantScheme s : consumers) {
            if (s instanceof QuantScheme.SmoothQuant q) return Optional.of(new Smoothing(q, q.alpha(), q.search(), SmoothQuant.int8(q.perChannelWeights())));
            if (s instanceof QuantScheme.Fp8W8A8 f && f.smoothed()) return Optional.of(new Smoothing(f, f.smooth(), f.smoothSearch(), SmoothQuant.fp8(f)));
        }
        return Optional.empty();
    }

    /**
     * For each scheme whose alpha is searched for the model (search-model), the grid alpha of the
     * lowest summed calibration loss over the folds it smooths, each fold's loss taken on the unsmoothed weights.
     */
    private static Map<String, Float> modelSearchedAlphas(List<ChannelFold> folds, Map<String, QuantScheme> schemes, Map<String, InputStats> stats, WeightEdits edits) {
        Map<String, double[]> total = new LinkedHashMap<>();
        for (ChannelFold fold : folds) {
            Optional<Smoothing> sq = smoothing(fold.consumers().stream().map(schemes::get).toList()).filter(q -> q.search() == QuantScheme.AlphaSearch.MODEL);
            if (sq.isEmpty()) continue;
            double[] curve = SmoothQuant.lossCurve(fold, stats.get(fold.inputKey()), edits, sq.get().sim());
            double[] sum = total.computeIfAbsent(sq.get().scheme().toString(), k -> new double[curve.length]);
            for (int a = 0; a < curve.length; a++) sum[a] += curve[a];
        }
        Map<String, Float> best = new LinkedHashMap<>();
        total.forEach((k, v) -> best.put(k, SmoothQuant.argmin(v)));
        return best;
    }

    static Linear create(String name, QuantScheme scheme, Tensor weight, float[] bias, InputStats input, ChannelFold fold, Map<String, float[]> factors) {
        Linear l = build(name, scheme, weight, bias, input, fold, factors);
        // the linear holds its own packed copy now: drop the source's mapped pages from this
        // process's resident memory (as DenseLinear does), or a model quantized at load keeps the
        // whole bf16 file resident next to its int8/int4 weights (issue 14: 4.8 GB peak for 8-bit
        // of a 1.1B model). They fault back in if the tensor is read again (a tied embedding).
        if (weight.data().isMapped()) weight.data().unload();
        return l;
    }

    private static Linear build(String name, QuantScheme scheme, Tensor weight, float[] bias, InputStats input, ChannelFold fold, Map<String, float[]> factors) {
        int out = weight.rows(), in = weight.cols();
        return switch (scheme) {
            case QuantScheme.Fp32 f -> new DenseLinear(weight, bias);
            case QuantScheme.Bf16 b -> new DenseLinear(toBf16(weight), bias);
            // the round-to-nearest schemes stream the stored rows (QuantizedMatrix.quantize(Tensor...)): no fp32 copy of the matrix
            case QuantScheme.W8A16 w -> Int8Linear.quantize(weight, bias);   // straight into the kernel's layout
            case QuantScheme.W8A8Dynamic w -> new W8A8DynamicLinear(QuantizedMatrix.quantize(weight, IntRange.INT8_SYM, w.group() > 0 ? w.group() : in, RangeMethod.MIN_MAX), bias, w.toString());
            case QuantScheme.W4A8 w -> w.weights() == QuantScheme.Int4Method.GPTQ
                    ? new W4A8Linear(new Int4GroupLinear(Gptq.quantize(weight.toFloatArray(), out, in, required(input, name, scheme).hessian(),
                            IntRange.INT4_ASYM, w.group(), false, Gptq.DEFAULT_DAMP), null, bias, w.toString()), w.toString())
                    : new W4A8Linear(Int4GroupLinear.rtn(weight, false, w.group(), bias, w.toString()), w.toString());   // streamed rows, then panels
            case QuantScheme.W8A8Tensor w -> W8A8TensorLinear.quantize(weight.toFloatArray(), out, in, required(input, name, scheme).maxAbs(), bias);
            case QuantScheme.LlmInt8 l -> LlmInt8Linear.quantize(weight, l.threshold(), l.fp(),   // streamed rows
                    input == null ? new int[0] : input.channelsAbove(l.threshold()), bias);
            case QuantScheme.SmoothQuant s -> {
                QuantizedMatrix q = s.perChannelWeights()
                        ? QuantizedMatrix.quantize(weight, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX)
                        : QuantizedMatrix.quantizePerTensor(weight.toFloatArray(), out, in, IntRange.INT8_SYM, RangeMethod.MIN_MAX);
                yield new W8A8DynamicLinear(q, bias, s.toString());
            }
            case QuantScheme.Fp8 f -> Fp8Linear.adopting(Fp8Matrix.quantize(weight, f.format(), f.perChannel()), bias);   // streamed rows
            case QuantScheme.Fp8W8A8 f -> {
                Fp8Matrix m = switch (f.weights()) {
                    case RTN -> Fp8Matrix.quantize(weight, Fp8Format.E4M3, f.perChannelWeights());   // streamed rows
                    case MSE -> Fp8Matrix.quantizeMse(weight.toFloatArray(), out, in, Fp8Format.E4M3, f.perChannelWeights());
                    case GPTQ, GPTQ_MSE -> Gptq.quantizeFp8(weight.toFloatArray(), out, in, actualHessian(required(input, name, scheme), fold, factors), Fp8Format.E4M3, f.perChannelWeights(),
                            f.weights().mseScales(), f.actOrder(), Gptq.DEFAULT_DAMP, null);
                };
                yield Fp8W8A8Linear.adopting(m, f.act(), f.act() == Fp8W8A8Linear.Act.STATIC
                        ? Fp8Matrix.scaleFor(actualMaxAbs(required(input, name, scheme), fold, factors), Fp8Format.E4M3) : Float.POSITIVE_INFINITY, bias);
            }
            case QuantScheme.Q6K q -> bias == null ? Q6_KLinear.quantize(weight) : new BiasedLinear(Q6_KLinear.quantize(weight), bias);
            case QuantScheme.FourBit f -> new FourBitLinear(f.gptq()
                    ? Gptq.quantizeFourBit(weight.toFloatArray(), out, in, required(input, name, scheme).hessian(), f.code(), f.block(), f.doubleQuant(), f.mseScale(), Gptq.DEFAULT_DAMP)
                    : FourBitMatrix.quantize(f.code(), weight, f.block(), f.doubleQuant(), f.mseScale()), bias);   // streamed rows
            case QuantScheme.W4A16 w -> switch (w.method()) {
                case RTN -> Int4GroupLinear.rtn(weight, w.symmetric(), w.group(), bias, w.toString());   // packed row by row
                case GPTQ -> new Int4GroupLinear(Gptq.quantize(weight.toFloatArray(), out, in, required(input, name, scheme).hessian(),
                        IntRange.INT4_ASYM, w.group(), w.actOrder(), Gptq.DEFAULT_DAMP), null, bias, w.toString());
                case AWQ -> {
                    boolean qk = name.endsWith("q_proj") || name.endsWith("k_proj");
                    if (qk || input == null || input.sampleRows() == 0) yield Int4GroupLinear.rtn(weight.toFloatArray(), out, in, w.group(), bias, w.toString());
                    float[] x = actualInput(input, fold, factors);
                    yield new Int4GroupLinear(Awq.clipSearch(weight.toFloatArray(), out, in, w.group(), x, input.sampleRows()), null, bias, w.toString());
                }
            };
        };
    }

    /** Whether a layer's weights come from GPTQ (it needs its input's Hessian). */
    private static boolean gptq(QuantScheme s) {
        return s instanceof QuantScheme.W4A16 w && w.method() == QuantScheme.Int4Method.GPTQ
                || s instanceof QuantScheme.W4A8 a && a.weights() == QuantScheme.Int4Method.GPTQ
                || s instanceof QuantScheme.Fp8W8A8 f && f.weights().gptq()
                || s instanceof QuantScheme.FourBit b && b.gptq();
    }

    /** The input's Hessian as this layer sees it after folding: x_j / s_j, so H_ij / (s_i s_j). */
    private static double[] actualHessian(InputStats input, ChannelFold fold, Map<String, float[]> factors) {
        double[] h = input.hessian();
        if (fold == null) return h;
        float[] s = factors.get(fold.producer());
        int in = input.inFeatures();
        int[] param = fold.paramOf();
        for (int i = 0; i < in; i++) for (int j = 0; j < in; j++) h[i * in + j] /= (double) s[param[i]] * s[param[j]];
        return h;
    }

    /** The input's largest |x| as this layer sees it after folding: max_j max|X_j| / s_j. */
    private static float actualMaxAbs(InputStats input, ChannelFold fold, Map<String, float[]> factors) {
        if (fold == null) return input.maxAbs();
        float[] a = input.absMax(), s = factors.get(fold.producer());
        float m = 0;
        for (int j = 0; j < a.length; j++) m = Math.max(m, a[j] / s[fold.paramOf()[j]]);
        return m;
    }

    /** The calibration sample rows as this layer sees them after folding: X / s. */
    private static float[] actualInput(InputStats input, ChannelFold fold, Map<String, float[]> factors) {
        float[] x = input.sample();
        if (fold == null) return x;
        float[] s = factors.get(fold.producer());
        int in = input.inFeatures();
        for (int r = 0; r < input.sampleRows(); r++) for (int col = 0; col < in; col++) x[r * in + col] /= s[fold.paramOf()[col]];
        return x;
    }

    private static InputStats required(InputStats s, String name, QuantScheme scheme) {
        if (s == null) throw new IllegalStateException(name + ": scheme " + scheme + " has no calibration statistics for its input");
        return s;
    }

    /** A heap BF16 copy (round to nearest even) of a weight. */
    public static Tensor toBf16(Tensor t) {
        if (t.dtype() == DType.BF16) return t;
        long n = t.numel();
        MemorySegment seg = MemorySegment.ofArray(new short[(int) n]);
        for (long i = 0; i < n; i++) seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, bf16(t.getFloat(i)));
        return new Tensor(t.name(), DType.BF16, t.shape(), seg);
    }

    static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}
