package dev.quantflow.server.cli;

import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.GgufExport;
import dev.quantflow.engine.onnx.OnnxGraph;
import dev.quantflow.engine.quant.OnnxExport;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedCheckpoint;
import dev.quantflow.engine.quant.QuantizedModels;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import dev.quantflow.engine.progress.Progress;

/** Quantizes a model (calibrating on text if the scheme needs it) and writes it as a loadable model directory. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a model and write it (safetensors with packed weights, scales, zero points; quantization_config in config.json).")
public final class QuantizeCommand implements Callable<Integer> {
    @Mixin
    ModelOption model;

    @Mixin
    QuantOptions quant;

    @Option(names = "--out", required = true, paramLabel = "DIR|FILE", description = "Directory to write the quantized checkpoint to (the .gguf / .onnx file for --format gguf / onnx)")
    Path out;

    @Option(names = "--format", defaultValue = "quantflow", description = "quantflow (any scheme), gptq or awq (AutoGPTQ/AutoAWQ 4-bit layout), bitsandbytes (transformers/bitsandbytes 4-bit layout: nf4 or fp4 layers, lm_head and others dense), or gguf (one llama.cpp file: w8a16 and w8a8-dynamic:group=32 as Q8_0, w4a16-*:group=32 as Q4_1, w4a16-rtn:group=32,sym=true as Q4_0, q6_k as Q6_K, fp32/bf16 as F32/BF16), or onnx (one ONNX model, input_ids -> logits, with --onnx-kv a decode graph with past/present key-values: "
            + "fp32, bf16, w8a16, w4a16-*, w8a8-dynamic, smoothquant, w8a8-tensor, fp8, fp8-w8a8, nf4, fp4; see --onnx-form) (default: ${DEFAULT-VALUE})")
    String format;

    @Option(names = "--onnx-kv", description = "With --format onnx: write the KV-cache decode graph (inputs input_ids, attention_mask, position_ids, "
            + "past_key_values.N.key/value (1, kv_heads, past, head_dim); outputs logits, present.N.key/value) instead of the prefill-only graph")
    boolean onnxKv;

    @Option(names = "--onnx-form", defaultValue = "qdq", description = "With --format onnx: qdq (QuantizeLinear/DequantizeLinear around the MatMuls; "
            + "per-token activation scales computed in the graph) or integer (DynamicQuantizeLinear + MatMulInteger: per-tensor dynamic activations, "
            + "an approximation of per-token schemes; per-group int8 weights refused) (default: ${DEFAULT-VALUE})")
    String onnxForm;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        return Progress.during(ProgressRenderer.forCli(spec.commandLine().getErr()), this::quantize);
    }

    private Integer quantize() {
        QuantizedCheckpoint.Format f = QuantizedCheckpoint.Format.parse(format);
        OnnxExport.Form form = OnnxExport.Form.parse(onnxForm);
        QuantPlan plan = quant.plan();
        long t0 = System.nanoTime();
        try (LlamaModel m = LlamaModel.open(model.dir())) {
            // a GGUF file (any of its types) is decoded to fp32 once and quantized as an fp32 model is
            boolean gguf = m.weights().isGguf();
            if (!gguf && QuantizedCheckpoint.isQuantized(m.config())) throw new QuantflowCommand.UserError(model.dir() + " is already quantized; quantize the original model");
            LlamaConfig c = gguf ? m.config().asFp32Source() : m.config();
            QuantizedModels.Built b;
            try {
                b = build(m, c, gguf ? m.weights().decodedToF32() : m.weights(), plan);
            } catch (IllegalArgumentException e) {
                if (gguf) throw new QuantflowCommand.UserError(e.getMessage());
                throw e;
            }
            if (f == QuantizedCheckpoint.Format.GGUF) {
                GgufExport.Summary s;
                try {
                    s = GgufExport.write(b, model.dir(), out);
                } catch (IllegalArgumentException e) {
                    throw new QuantflowCommand.UserError(e.getMessage());
                }
                spec.commandLine().getErr().printf(Locale.ROOT, "wrote %s (%s, gguf): tensors %s, %d bytes; scales rounded to f16 (largest relative change %.2g), in %.1f s%n",
                        out, plan, s.counts(), s.tensorBytes(), s.maxScaleChange(), (System.nanoTime() - t0) / 1e9);
                return 0;
            }
            if (f == QuantizedCheckpoint.Format.ONNX) {
                OnnxExport.Summary s;
                try {
                    s = OnnxExport.write(b, out, form, onnxKv);
                } catch (IllegalArgumentException e) {
                    throw new QuantflowCommand.UserError(e.getMessage());
                }
                spec.commandLine().getErr().printf(Locale.ROOT, "wrote %s (%s, onnx %s form%s, opset %d): %d nodes, linears %s, %d bytes, in %.1f s%n",
                        out, plan, form.name().toLowerCase(Locale.ROOT), onnxKv ? " with KV cache" : "", OnnxGraph.OPSET, s.nodes(), s.counts(), s.bytes(), (System.nanoTime() - t0) / 1e9);
                return 0;
            }
            try {
                QuantizedCheckpoint.save(b, model.dir(), out, f);
            } catch (IllegalArgumentException e) {
                if (gguf) throw new QuantflowCommand.UserError(e.getMessage());   // e.g. a vocabulary with no tokenizer.json form
                throw e;
            }
            spec.commandLine().getErr().printf(Locale.ROOT, "wrote %s (%s, %s format): linear weights %d bytes, in %.1f s%n",
                    out, plan, f.name().toLowerCase(Locale.ROOT), b.weightBytes(), (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }

    private QuantizedModels.Built build(LlamaModel m, LlamaConfig c, WeightStore weights, QuantPlan plan) {
        return QuantizedModels.build(c, weights, plan, quant.calibTokens(m.tokenizer()), QuantizedModels.Options.DEFAULT);
    }
}
