package dev.quantflow.server.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.eval.DecodeSpeed;
import dev.quantflow.engine.eval.EvalResult;
import dev.quantflow.engine.eval.PerplexityEvaluator;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufFileType;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.engine.quant.OutlierStats;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedCheckpoint;
import dev.quantflow.engine.quant.QuantizedModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Perplexity, KL divergence and top-1 agreement of a quantization scheme against fp32 on a text. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a quantization scheme against fp32: perplexity, KL divergence, top-1 agreement, per-layer error, speed.")
public final class EvalCommand implements Callable<Integer> {
    @Mixin
    ModelOption model;

    @Mixin
    QuantOptions quant;

    @Option(names = "--text", required = true, paramLabel = "FILE", description = "Evaluation text (documents separated by blank lines)")
    Path text;

    @Option(names = "--max-tokens", defaultValue = "0", description = "Score at most this many tokens; 0 = the whole text (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--ctx", defaultValue = "0", description = "Window length; 0 = the model's context, at most 512 (default: ${DEFAULT-VALUE})")
    int ctx;

    @Option(names = "--chunks", defaultValue = "0", description = "llama-perplexity's chunking: the text tokenized whole (BOS first), cut into chunks of --ctx tokens, each from BOS, "
            + "the second half of each scored; the first N chunks (-1 = all); 0 = sliding windows over the documents (default: ${DEFAULT-VALUE})")
    int chunks;

    @Option(names = "--speed-tokens", defaultValue = "32", description = "Decode this many tokens to measure tokens/s; 0 = skip (default: ${DEFAULT-VALUE})")
    int speedTokens;

    @Option(names = "--layers", description = "Print the relative output error of every linear layer")
    boolean layers;

    @Option(names = "--reference", paramLabel = "DIR|FILE.gguf|ORG/NAME", description = "The fp32 model to compare with, a directory, GGUF file or Hub id as --model takes (needed when --model is a quantized checkpoint or a block-quantized GGUF file)")
    String referenceDir;

    @Option(names = "--json", description = "Print one JSON object on stdout")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Progress progress = ProgressRenderer.forCli(spec.commandLine().getErr());
        try {
            return Progress.during(progress, () -> {
                try {
                    return evaluate();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private Integer evaluate() throws IOException {
        if (maxTokens < 0 || ctx < 0 || speedTokens < 0) throw new QuantflowCommand.UserError("--max-tokens, --ctx and --speed-tokens must be >= 0");
        if (chunks < -1) throw new QuantflowCommand.UserError("--chunks must be >= -1");
        QuantPlan plan = quant.plan();
        KvFormat kv = quant.kvFormat();
        try (LlamaModel m = LlamaModel.open(model.dir())) {
            var c = m.config();
            int window = ctx > 0 ? Math.min(ctx, c.maxPositions()) : Math.min(512, c.maxPositions());
            Optional<int[]> calib = quant.calibTokens(m.tokenizer());
            long t0 = System.nanoTime();
            boolean stored = QuantizedCheckpoint.isQuantized(c);
            if (stored && referenceDir == null) throw new QuantflowCommand.UserError(model.dir() + " is a quantized checkpoint: give the fp32 model with --reference DIR");
            if (stored && !plan.toString().equals("fp32")) throw new QuantflowCommand.UserError(model.dir() + " is already quantized; drop --quant");
            // a GGUF file runs on its tensors as stored (F32/F16/BF16 too) unless a scheme re-quantizes it
            boolean asStored = stored || m.weights().isGguf() && plan.toString().equals("fp32");
            QuantizedModels.Built built = asStored ? QuantizedModels.loadStored(m)
                    : QuantizedModels.build(c, m.weights(), plan, calib, QuantizedModels.Options.DEFAULT.withLayerError(true));
            double buildSeconds = (System.nanoTime() - t0) / 1e9;
            LlamaModel refModel = referenceDir == null ? m : LlamaModel.open(ModelOption.resolve(referenceDir, spec.commandLine().getErr()));
            LlamaStage reference = refModel.full(LinearFactory.DENSE);
            long refBytes = linearBytes(reference), refDecoderBytes = refBytes - reference.lmHead().weightBytes();
            var subject = new PerplexityEvaluator.Subject(built.stage(), kv.caches(c, KvCache.BLOCK_SIZE));
            var fp32 = new PerplexityEvaluator.Subject(reference, KvFormat.F32.caches(c, KvCache.BLOCK_SIZE));
            int[] tokens = chunks != 0 ? TextTokens.whole(text, m.tokenizer()) : TextTokens.load(text, m.tokenizer(), maxTokens > 0 ? maxTokens * 2 + window : 0);
            EvalResult r = chunks != 0
                    ? PerplexityEvaluator.llamaCppChunks(subject, fp32, tokens, window, Math.max(0, chunks), m.tokenizer().bosTokenId().orElse(-1))
                    : PerplexityEvaluator.evaluate(subject, fp32, tokens, window, maxTokens);
            OutlierStats outliers = built.outlierStats();
            // the error probes would double the cost of a decode step: time the same linears without them
            double tps = 0, refTps = 0;
            if (speedTokens > 0) {
                int[] prompt = Arrays.copyOf(tokens, Math.min(16, tokens.length));
                refTps = DecodeSpeed.tokensPerSecond(reference, KvFormat.F32.caches(c, KvCache.BLOCK_SIZE), prompt, speedTokens);
                tps = DecodeSpeed.tokensPerSecond(built.unprobedStage(), kv.caches(c, KvCache.BLOCK_SIZE), prompt, speedTokens);
            }
            String scheme = stored ? "stored " + c.quantizationConfig().path("quant_method").asText() + (m.weights().isGguf() ? " (" + c.quantizationConfig().path("types").asText() + ")" : "")
                    : asStored ? "stored gguf" : plan.toString();
            if (json) {
                ObjectMapper om = new ObjectMapper();
                ObjectNode o = om.createObjectNode();
                o.put("scheme", scheme).put("kv", kv.toString()).put("model", model.dir().toString())
                        .put("reference", referenceDir == null ? model.dir().toString() : referenceDir);
                if (m.weights().isGguf()) ggufFileType(model.dir()).ifPresent(t -> o.put("gguf_file_type", t));
                o.put("perplexity", r.perplexity()).put("fp32_perplexity", r.referencePerplexity())
                        .put("perplexity_delta_pct", r.perplexityDeltaPercent());
                o.put("kl_divergence", r.klDivergence()).put("top1_agreement", r.top1Agreement()).put("tokens", r.tokens());
                o.put("weight_bytes", built.weightBytes()).put("fp32_weight_bytes", refBytes)
                        .put("decoder_weight_bytes", built.decoderWeightBytes()).put("fp32_decoder_weight_bytes", refDecoderBytes);
                // the weights the bytes hold: bits per weight = 8 bytes / count
                o.put("weights", c.decoderLinearWeights() + c.headWeights()).put("decoder_weights", c.decoderLinearWeights());
                o.put("tokens_per_second", tps).put("fp32_tokens_per_second", refTps);
                o.put("outlier_fraction", outliers.fraction()).put("build_seconds", buildSeconds);
                if (!built.lkdLosses().isEmpty()) {   // layer-wise distillation: each layer's calibration output MSE before / after
                    var lkd = o.putArray("lkd_layer_mse");
                    for (var l : built.lkdLosses()) lkd.addObject().put("layer", l.layer()).put("before", l.before()).put("after", l.after());
                }
                ObjectNode le = o.putObject("layer_errors");
                built.layerErrors().forEach(le::put);
                System.out.println(om.writeValueAsString(o));
            } else {
                System.out.printf(Locale.ROOT, "scheme %s  kv %s  tokens %d%n", scheme, kv, r.tokens());
                System.out.printf(Locale.ROOT, "perplexity %.4f (fp32 %.4f, %+.2f%%)  KL %.6f  top-1 agreement %.4f%n",
                        r.perplexity(), r.referencePerplexity(), r.perplexityDeltaPercent(), r.klDivergence(), r.top1Agreement());
                System.out.printf(Locale.ROOT, "weight bytes %d (fp32 %d, %.3fx; decoder layers %.3fx)  outlier columns %.4f%%  build %.1f s%n",
                        built.weightBytes(), refBytes, (double) built.weightBytes() / refBytes,
                        (double) built.decoderWeightBytes() / refDecoderBytes, 100 * outliers.fraction(), buildSeconds);
                if (speedTokens > 0) System.out.printf(Locale.ROOT, "decode %.2f tokens/s (fp32 %.2f, %.2fx)%n", tps, refTps, tps / refTps);
                if (layers) built.layerErrors().forEach((n, e) -> System.out.printf(Locale.ROOT, "  %-40s %.5f%n", n, e));
            }
        }
        return 0;
    }

    /** llama-quantize's preset name from general.file_type (Q4_K_M, ...), for reports. */
    static Optional<String> ggufFileType(Path file) {
        try (GgufFile g = GgufFile.open(file)) {
            return GgufFileType.of(g).map(Enum::name);
        }
    }

    static long linearBytes(LlamaStage s) {
        long b = s.hasHead() ? s.lmHead().weightBytes() : 0;
        for (int l = s.firstLayer(); l < s.lastLayer(); l++) for (var lin : s.layer(l).linears()) b += lin.weightBytes();
        return b;
    }
}
