package dev.quantflow.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A random-weight Hugging Face Llama checkpoint of any shape, for benchmarks where speed, not
 * text, matters. Weights ~ uniform with std 0.02 (as HF's initializer_range), norms 1; streamed
 * to disk so a 1.1B or 7B shape never sits on the heap.
 */
public final class SyntheticModel {
    public record Shape(int hidden, int layers, int heads, int kvHeads, int intermediate, int vocab, int maxPositions) {}

    private SyntheticModel() {}

    public static Shape shapeOf(LlamaConfig c) {
        return new Shape(c.hiddenSize(), c.numLayers(), c.numHeads(), c.numKvHeads(), c.intermediateSize(), c.vocabSize(), c.maxPositions());
    }

    public static void write(Shape s, DType dtype, Path tokenizerDir, long seed, Path out) {
        if (dtype != DType.F32 && dtype != DType.BF16) throw new IllegalArgumentException("synthetic weights are f32 or bf16");
        if (s.hidden % s.heads != 0 || s.heads % s.kvHeads != 0) throw new IllegalArgumentException("hidden must divide by heads and heads by kv-heads");
        try {
            Files.createDirectories(out);
            for (String f : List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "tokenizer.model")) {
                Path src = tokenizerDir.resolve(f);
                if (Files.isRegularFile(src)) Files.copy(src, out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
            if (!Files.isRegularFile(out.resolve("tokenizer.json")))
                throw new ModelLoadException(tokenizerDir.resolve("tokenizer.json"), "missing (--tokenizer must name a directory with a tokenizer.json)");
            writeConfig(s, dtype, out.resolve("config.json"));
        } catch (IOException e) {
            throw new ModelLoadException(out, "cannot write: " + e.getMessage());
        }
        int hd = s.hidden / s.heads;
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt").metadata("quantflow", "synthetic seed=" + seed);
        SplittableRandom root = new SplittableRandom(seed);
        w.add("model.embed_tokens.weight", dtype, new long[] {s.vocab, s.hidden}, random(dtype, root.split()));
        for (int l = 0; l < s.layers; l++) {
            String p = "model.layers." + l + ".";
            w.add(p + "input_layernorm.weight", dtype, new long[] {s.hidden}, ones(dtype));
            w.add(p + "self_attn.q_proj.weight", dtype, new long[] {s.heads * hd, s.hidden}, random(dtype, root.split()));
            w.add(p + "self_attn.k_proj.weight", dtype, new long[] {s.kvHeads * hd, s.hidden}, random(dtype, root.split()));
            w.add(p + "self_attn.v_proj.weight", dtype, new long[] {s.kvHeads * hd, s.hidden}, random(dtype, root.split()));
            w.add(p + "self_attn.o_proj.weight", dtype, new long[] {s.hidden, s.heads * hd}, random(dtype, root.split()));
            w.add(p + "post_attention_layernorm.weight", dtype, new long[] {s.hidden}, ones(dtype));
            w.add(p + "mlp.gate_proj.weight", dtype, new long[] {s.intermediate, s.hidden}, random(dtype, root.split()));
            w.add(p + "mlp.up_proj.weight", dtype, new long[] {s.intermediate, s.hidden}, random(dtype, root.split()));
            w.add(p + "mlp.down_proj.weight", dtype, new long[] {s.hidden, s.intermediate}, random(dtype, root.split()));
        }
        w.add("model.norm.weight", dtype, new long[] {s.hidden}, ones(dtype));
        w.add("lm_head.weight", dtype, new long[] {s.vocab, s.hidden}, random(dtype, root.split()));
        w.write(out.resolve("model.safetensors"));
    }

    private static void writeConfig(Shape s, DType dtype, Path file) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode c = om.createObjectNode();
        c.putArray("architectures").add("LlamaForCausalLM");
        c.put("model_type", "llama");
        c.put("hidden_size", s.hidden);
        c.put("intermediate_size", s.intermediate);
        c.put("num_attention_heads", s.heads);
        c.put("num_key_value_heads", s.kvHeads);
        c.put("num_hidden_layers", s.layers);
        c.put("head_dim", s.hidden / s.heads);
        c.put("hidden_act", "silu");
        c.put("rms_norm_eps", 1e-5);
        c.put("vocab_size", s.vocab);
        c.put("max_position_embeddings", s.maxPositions);
        c.put("rope_theta", 10000.0);
        c.put("tie_word_embeddings", false);
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        c.put("torch_dtype", dtype == DType.BF16 ? "bfloat16" : "float32");
        om.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), c);
    }

    /** Uniform in [-a, a] with a = 0.02 * sqrt(3): std 0.02. */
    private static SafetensorsWriter.Filler random(DType dtype, SplittableRandom rnd) {
        float a = (float) (0.02 * Math.sqrt(3));
        return (ByteBuffer buf, long off) -> {
            if (dtype == DType.F32) {
                while (buf.remaining() >= 4) buf.putFloat((float) (rnd.nextDouble() * 2 - 1) * a);
            } else {
                while (buf.remaining() >= 2) buf.putShort((short) (Float.floatToRawIntBits((float) (rnd.nextDouble() * 2 - 1) * a) >>> 16));
            }
        };
    }

    private static SafetensorsWriter.Filler ones(DType dtype) {
        return (ByteBuffer buf, long off) -> {
            if (dtype == DType.F32) {
                while (buf.remaining() >= 4) buf.putFloat(1f);
            } else {
                while (buf.remaining() >= 2) buf.putShort((short) (Float.floatToRawIntBits(1f) >>> 16));
            }
        };
    }
}
