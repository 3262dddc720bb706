package dev.quantflow.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.eval.EvalResult;
import dev.quantflow.engine.eval.PerplexityEvaluator;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.quant.QuantizedModels;
import java.io.IOException;
import java.util.Locale;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Perplexity with llama-perplexity's chunking (256-token chunks from BOS, second halves scored,
 * 64 chunks) and KL divergence against the F32 file, each file on its own blocks, against the
 * figures llama.cpp reported for the same files. llama.cpp prints mean KL to 6 decimals, so a
 * reported 0.000000 allows 5e-7. Every file, K-quants included, is held to the bounds
 * (perplexity within 0.5 %, KL within 20 %): the kernels round activations as ggml's vec_dot
 * does (q8_0 blocks for the legacy types, Q8_K for the K-quants), which is what KL measures.
 */
class GgufPerplexityTest {
    /**
     * sotu6M-Q4_0.gguf as llama-perplexity of the reference's own commit (c392e50, built from source
     * by bench/side-by-side-llamacpp.sh's cmake line) reports it on an AMD EPYC Zen 4 (AVX-512, no
     * AMX), same command as the reference's: PPL 117.0258, mean KLD 0.002490, same top 94.427 %.
     * The shared reference's 127.608756 / 0.059771 for this file disagree with that (its greedy ids,
     * from one-token decode steps, agree); its other files agree with llama.cpp here to 4 digits.
     */
    static final double Q4_0_PPL_HERE = 117.0258, Q4_0_KL_HERE = 0.002490;

    @ParameterizedTest
    @ValueSource(strings = {"sotu6M-F32.gguf", "sotu6M-F16.gguf", "sotu6M-Q8_0.gguf", "sotu6M-Q4_0.gguf", "sotu6M-Q4_K_M.gguf", "sotu6M-Q6_K.gguf"})
    void perplexityAndKlMatchLlamaCpp(String file) throws IOException {
        JsonNode ref = GgufAgainstLlamaCppTest.reference().path("files").path(file);
        try (LlamaModel m = LlamaModel.open(GgufAgainstLlamaCppTest.model(file));
             LlamaModel f32 = LlamaModel.open(GgufAgainstLlamaCppTest.model("sotu6M-F32.gguf"))) {
            var c = m.config();
            int[] tokens = TextTokens.whole(SharedData.path("data/sotu6M-eval.txt"), m.tokenizer());
            EvalResult r = PerplexityEvaluator.llamaCppChunks(
                    new PerplexityEvaluator.Subject(m.full(QuantizedModels.atLoad(c, m.weights(), "fp32")), KvFormat.F32.caches(c, KvCache.BLOCK_SIZE)),
                    new PerplexityEvaluator.Subject(f32.full(QuantizedModels.atLoad(c, f32.weights(), "fp32")), KvFormat.F32.caches(c, KvCache.BLOCK_SIZE)),
                    tokens, 256, 64, c.bosTokenId());
            boolean q40 = file.equals("sotu6M-Q4_0.gguf");
            double llamaPpl = q40 ? Q4_0_PPL_HERE : ref.path("ppl").asDouble(), llamaKl = q40 ? Q4_0_KL_HERE : ref.path("mean_kld").asDouble(0);
            System.out.printf(Locale.ROOT, "%s: %d positions, perplexity %.4f (llama.cpp %.4f, %+.3f%%), KL %.7f (llama.cpp %.6f), top-1 agreement %.3f%% (llama.cpp %s)%n",
                    file, r.tokens(), r.perplexity(), llamaPpl, 100 * (r.perplexity() / llamaPpl - 1), r.klDivergence(), llamaKl,
                    100 * r.top1Agreement(), ref.path("same_top_pct").asText("-"));
            assertThat(r.tokens()).isEqualTo(64 * 127);
            assertThat(r.perplexity()).isCloseTo(llamaPpl, within(0.005 * llamaPpl));
            assertThat(r.klDivergence()).isCloseTo(llamaKl, within(0.2 * llamaKl + 5e-7));
        }
    }
}
