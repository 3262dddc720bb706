package dev.quantflow.engine.gguf;

import static dev.quantflow.engine.llama.StageSteps.forward;
import static dev.quantflow.engine.llama.StageSteps.ints;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LayerWeights;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.quant.QuantizedModels;
import dev.quantflow.engine.sample.Sampler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * sotu6M's GGUF files (made by llama.cpp's converter and llama-quantize) run on their own blocks
 * against llama.cpp's greedy ids (../shared/reference/sotu6M-llamacpp.json): every file, the
 * K-quant ones included (the Q4_0 file's tied token_embd is Q6_K: llama-quantize's choice).
 */
class GgufAgainstLlamaCppTest {
    /**
     * A divergence must be a near tie: the two logits within 1e-3 of the top logit's magnitude.
     * Every kernel rounds activations as ggml's vec_dot does (q8_0, and Q8_K for the K-quants), so
     * the K-quant files are held to the same margin. The quantized files run with --kv f16, as
     * llama.cpp keeps K/V (its default f16 cache), and with --kv f32.
     */
    static final double MARGIN = 1e-3;
    /**
     * --kv f32: the Q4_0 file (Q4_0 blocks, tied output Q6_K) diverges on three prompts, at margins
     * 3.5e-3 ("The President", step 33), 1.03e-3 ("The whale", 22) and 2.0e-3 ("In the year 1850",
     * 30). The first is a tie that llama.cpp itself barely breaks: its logprobs there (llama-server
     * n_probs, c392e50, AMD EPYC) put 1044 above 1079 by 0.0064; ours put 1079 above 1044 by 0.0138.
     * With --kv f16 the same three steps diverge at 7.2e-4, 1.8e-4 and 2.0e-6: llama.cpp's f16 K/V
     * was the difference (rounding q and the attention weights to f16 as well, as ggml's f16
     * mul_mat does, measured worse: 3.0e-3, 7.9e-4, 9.3e-4).
     */
    static final double Q4_0_F32_KV_MARGIN = 6e-3;
    /**
     * Since Q4_0 runs on the int4 x int8 panel kernel (h-q4i: each block's integer dot exact, then
     * one fp32 FMA with d_w * d_x, as ggml's repacked q4_0 GEMV; before, the block was summed in
     * fp32 from d_x * q_x), the same tie at step 33 of 'The President' breaks by 5.06e-3 with
     * --kv f32 (was ~3.5e-3) and 1.59e-3 with --kv f16 (was 7.2e-4); the other prompts stay within
     * 1.5e-3. Q4_0LinearTest checks the kernel itself against float64 of ggml's integer dot.
     */
    static final double Q4_0_F16_KV_MARGIN = 2e-3;
    /**
     * --kv f16: the Q8_0 file's "The whale" diverges at step 7 by 1.08e-3 (with --kv f32 it runs to
     * step 13, 6.2e-4): the one quantized case that f16 K/V takes over 1e-3.
     */
    static final double Q8_0_F16_KV_MARGIN = 1.1e-3;

    /** The largest relative top-2 margin a divergence of file run with kv may have; 0: ids must equal llama.cpp's. */
    static double margin(String file, KvFormat kv) {
        if (file.contains("F32") || file.contains("F16")) return 0;
        if (file.equals("sotu6M-Q4_0.gguf") && kv == KvFormat.F32) return Q4_0_F32_KV_MARGIN;
        if (file.equals("sotu6M-Q4_0.gguf") && kv == KvFormat.F16) return Q4_0_F16_KV_MARGIN;
        if (file.equals("sotu6M-Q8_0.gguf") && kv == KvFormat.F16) return Q8_0_F16_KV_MARGIN;
        return MARGIN;
    }

    static JsonNode reference() throws IOException {
        Path ref = SharedData.path("reference/sotu6M-llamacpp.json");
        assumeTrue(Files.isRegularFile(ref), "no " + ref);
        return new ObjectMapper().readTree(ref.toFile());
    }

    static Path model(String file) {
        Path p = SharedData.path("models/sotu6M-gguf/" + file);
        assumeTrue(Files.isRegularFile(p), "no " + p);
        return p;
    }

    /** Each file with each KV cache format (--kv): the F32 and F16 files exact with both. */
    @ParameterizedTest
    @CsvSource({"sotu6M-F32.gguf, f32", "sotu6M-F16.gguf, f32", "sotu6M-Q8_0.gguf, f32", "sotu6M-Q4_0.gguf, f32", "sotu6M-Q4_K_M.gguf, f32", "sotu6M-Q6_K.gguf, f32",
            "sotu6M-F32.gguf, f16", "sotu6M-F16.gguf, f16", "sotu6M-Q8_0.gguf, f16", "sotu6M-Q4_0.gguf, f16", "sotu6M-Q4_K_M.gguf, f16", "sotu6M-Q6_K.gguf, f16"})
    void greedyIdsMatchLlamaCpp(String file, String kv) throws IOException {
        JsonNode cases = reference().path("files").path(file).path("greedy");
        assertThat(cases.size()).isEqualTo(4);
        double allowed = margin(file, KvFormat.parse(kv));
        SoftAssertions soft = new SoftAssertions();   // every prompt's divergence in one report
        try (LlamaModel m = LlamaModel.open(model(file))) {
            LlamaConfig c = m.config();
            LlamaStage stage = m.full(QuantizedModels.atLoad(c, m.weights(), "fp32"));
            for (JsonNode k : cases) {
                int[] prompt = ints(k.path("prompt_tokens")), expected = ints(k.path("generated_tokens"));
                assertThat(m.tokenizer().encode(k.path("prompt").asText())).as("tokenization of '%s'", k.path("prompt").asText()).containsExactly(prompt);
                KvCache cache = KvFormat.parse(kv).create(c.numLayers(), 64, 16, c.numHeads(), c.numKvHeads(), c.headDim());
                int[] table = new BlockAllocator(64).ensure(new int[0], prompt.length + expected.length, 16);
                float[] logits = forward(stage, cache, table, prompt, 0);
                for (int i = 0; i < expected.length; i++) {
                    int got = Sampler.argmax(logits, 0, c.vocabSize());
                    if (got != expected[i]) {
                        float margin = logits[got] - logits[expected[i]], relative = margin / Math.abs(logits[got]);
                        String what = String.format(Locale.ROOT, "%s, --kv %s, '%s': step %d is %d, llama.cpp %d, logit margin %.6f (%.2e of the top logit %.3f)",
                                file, kv, k.path("prompt").asText(), i, got, expected[i], margin, relative, logits[got]);
                        System.out.println("divergence: " + what);
                        soft.assertThat(allowed).as(what + ": must equal llama.cpp's").isPositive();
                        soft.assertThat(relative).as(what).isLessThan((float) allowed);
                        break;   // the sequences differ from here on
                    }
                    logits = forward(stage, cache, table, new int[] {got}, prompt.length + i);
                }
            }
        }
        soft.assertAll();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sotu6M-F32.gguf", "sotu6M-F16.gguf", "sotu6M-Q8_0.gguf", "sotu6M-Q4_0.gguf", "sotu6M-Q4_K_M.gguf", "sotu6M-Q6_K.gguf"})
    void residentWeightsAreTheFilesTensorBytes(String file) throws IOException {
        long fileBytes = reference().path("files").path(file).path("bytes").asLong();
        try (LlamaModel m = LlamaModel.open(model(file))) {
            assertThat(Files.size(m.dir())).isEqualTo(fileBytes);
            LlamaConfig c = m.config();
            LlamaStage stage = m.full(QuantizedModels.atLoad(c, m.weights(), "fp32"));
            long linears = stage.weightBytes();   // lm_head is the tied token_embd
            long norms = 4L * c.hiddenSize() * (2L * c.numLayers() + 1);
            long tensors = m.weights().fileTensorBytes();
            for (int l = 0; l < c.numLayers(); l++) {
                LayerWeights<float[], Linear> w = stage.layer(l);
                assertThat(w.wq().scheme()).isEqualTo(m.weights().get("model.layers." + l + ".self_attn.q_proj.weight").dtype().name());
            }
            // what stays resident of the file's tensor data: the linears' blocks, read in place, and the norms (heap copies)
            assertThat(linears + (c.tieWordEmbeddings() ? 0 : m.weights().get("model.embed_tokens.weight").data().byteSize()) + norms).isEqualTo(tensors);
            System.out.printf(Locale.ROOT, "%s: file %d bytes, tensors %d bytes, linears resident %d bytes, norms %d bytes (heap), header+vocab %d bytes%n",
                    file, fileBytes, tensors, linears, norms, fileBytes - tensors);
        }
    }
}
