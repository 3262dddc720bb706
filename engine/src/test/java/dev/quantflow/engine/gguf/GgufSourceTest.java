package dev.quantflow.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.chat.ChatTemplate;
import dev.quantflow.engine.chat.Message;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.gguf.block.GgufLinears;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.QuantizedModels;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A GGUF file as a model source: config from metadata, HF tensor names, q/k rows back to rotate-half, refusals. */
class GgufSourceTest {
    static final int HIDDEN = 8, HEADS = 2, KV_HEADS = 1, HEAD_DIM = 4, FFN = 16, VOCAB = 8;

    @TempDir
    Path tmp;

    /** Rows filled with their own index, so a permutation of rows shows in the values. */
    static byte[] rowsOfIndex(int rows, int cols) {
        ByteBuffer b = ByteBuffer.allocate(4 * rows * cols).order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) b.putFloat(r);
        return b.array();
    }

    static GgufTestWriter tinyModel(String arch, boolean bias) {
        String p = arch + ".";
        GgufTestWriter w = new GgufTestWriter().put("general.architecture", arch)
                .put(p + "embedding_length", HIDDEN).put(p + "block_count", 1).put(p + "feed_forward_length", FFN)
                .put(p + "attention.head_count", HEADS).put(p + "attention.head_count_kv", KV_HEADS).put(p + "context_length", 64)
                .put(p + "attention.layer_norm_rms_epsilon", 1e-6f).put(p + "rope.freq_base", 5e5f).put(p + "vocab_size", VOCAB)
                .put("tokenizer.ggml.bos_token_id", 1).put("tokenizer.ggml.eos_token_id", 2)
                .tensor("token_embd.weight", GgmlType.F32, rowsOfIndex(VOCAB, HIDDEN), HIDDEN, VOCAB)
                .tensor("output_norm.weight", GgmlType.F32, rowsOfIndex(1, HIDDEN), HIDDEN)
                .tensor("blk.0.attn_norm.weight", GgmlType.F32, rowsOfIndex(1, HIDDEN), HIDDEN)
                .tensor("blk.0.attn_q.weight", GgmlType.F32, rowsOfIndex(HEADS * HEAD_DIM, HIDDEN), HIDDEN, HEADS * HEAD_DIM)
                .tensor("blk.0.attn_k.weight", GgmlType.F32, rowsOfIndex(KV_HEADS * HEAD_DIM, HIDDEN), HIDDEN, KV_HEADS * HEAD_DIM)
                .tensor("blk.0.attn_v.weight", GgmlType.F32, rowsOfIndex(KV_HEADS * HEAD_DIM, HIDDEN), HIDDEN, KV_HEADS * HEAD_DIM)
                .tensor("blk.0.attn_output.weight", GgmlType.F32, rowsOfIndex(HIDDEN, HEADS * HEAD_DIM), HEADS * HEAD_DIM, HIDDEN)
                .tensor("blk.0.ffn_norm.weight", GgmlType.F32, rowsOfIndex(1, HIDDEN), HIDDEN)
                .tensor("blk.0.ffn_gate.weight", GgmlType.F32, rowsOfIndex(FFN, HIDDEN), HIDDEN, FFN)
                .tensor("blk.0.ffn_up.weight", GgmlType.F32, rowsOfIndex(FFN, HIDDEN), HIDDEN, FFN)
                .tensor("blk.0.ffn_down.weight", GgmlType.F32, rowsOfIndex(HIDDEN, FFN), FFN, HIDDEN);
        if (bias) {
            w.tensor("blk.0.attn_q.bias", GgmlType.F32, rowsOfIndex(HEADS * HEAD_DIM, 1), HEADS * HEAD_DIM)
                    .tensor("blk.0.attn_k.bias", GgmlType.F32, rowsOfIndex(KV_HEADS * HEAD_DIM, 1), KV_HEADS * HEAD_DIM)
                    .tensor("blk.0.attn_v.bias", GgmlType.F32, rowsOfIndex(KV_HEADS * HEAD_DIM, 1), KV_HEADS * HEAD_DIM);
        }
        return w;
    }

    @Test
    void llamaMetadataBecomesTheConfig() throws IOException {
        Path f = tinyModel("llama", false).write(tmp.resolve("tiny.gguf"));
        LlamaConfig c = LlamaConfig.load(f);
        assertThat(c.architecture()).isEqualTo("llama");
        assertThat(List.of(c.hiddenSize(), c.numLayers(), c.numHeads(), c.numKvHeads(), c.headDim(), c.intermediateSize(), c.vocabSize(), c.maxPositions()))
                .containsExactly(HIDDEN, 1, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB, 64);
        assertThat(c.ropeTheta()).isEqualTo(5e5);
        assertThat(c.rmsNormEps()).isEqualTo(1e-6f);
        assertThat(c.tieWordEmbeddings()).as("no output.weight").isTrue();
        assertThat(c.attentionBias()).isFalse();
        assertThat(c.bosTokenId()).isEqualTo(1);
        assertThat(c.eosTokenIds()).containsExactly(2);
        assertThat(c.quantizationConfig().isMissingNode()).as("F32 tensors only: not a quantized checkpoint").isTrue();
    }

    @Test
    void llamaQkRowsGoBackToRotateHalfAndNamesToHuggingFace() throws IOException {
        Path f = tinyModel("llama", false).write(tmp.resolve("tiny.gguf"));
        try (WeightStore w = WeightStore.open(f)) {
            assertThat(w.isGguf()).isTrue();
            assertThat(w.tensors().keySet()).contains("model.embed_tokens.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight",
                    "model.layers.0.self_attn.o_proj.weight", "model.layers.0.post_attention_layernorm.weight", "model.layers.0.mlp.gate_proj.weight",
                    "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight").doesNotContain("lm_head.weight");
            assertThat(w.get("model.layers.0.mlp.gate_proj.weight").shape()).containsExactly(FFN, HIDDEN);
            for (String proj : List.of("q_proj", "k_proj")) {
                Tensor t = w.get("model.layers.0.self_attn." + proj + ".weight");
                for (int r = 0; r < t.rows(); r++) {
                    // HF row r = (head h, half s, index j) is GGUF row h*headDim + 2j + s (llama.cpp's permute)
                    int h = r / HEAD_DIM, s = r % HEAD_DIM / (HEAD_DIM / 2), j = r % (HEAD_DIM / 2);
                    assertThat(t.getFloat((long) r * HIDDEN)).as("%s row %d", proj, r).isEqualTo(h * HEAD_DIM + 2 * j + s);
                }
            }
            Tensor v = w.get("model.layers.0.self_attn.v_proj.weight");
            for (int r = 0; r < v.rows(); r++) assertThat(v.getFloat((long) r * HIDDEN)).as("v is not permuted").isEqualTo(r);
        }
    }

    @Test
    void releasedQkCopiesAreFreedAndMadeAgainWhenRead() throws IOException {
        Path f = tinyModel("llama", false).write(tmp.resolve("tiny.gguf"));
        String q = "model.layers.0.self_attn.q_proj.weight", v = "model.layers.0.self_attn.v_proj.weight";
        try (WeightStore w = WeightStore.open(f)) {
            Tensor first = w.get(q);
            assertThat(w.get(q)).as("made once until released").isSameAs(first);
            w.release(q);
            assertThatThrownBy(() -> first.getFloat(0)).as("its memory is freed").isInstanceOf(IllegalStateException.class);
            Tensor again = w.get(q);
            for (int r = 0; r < again.rows(); r++) {
                int h = r / HEAD_DIM, s = r % HEAD_DIM / (HEAD_DIM / 2), j = r % (HEAD_DIM / 2);
                assertThat(again.getFloat((long) r * HIDDEN)).as("row %d made again", r).isEqualTo(h * HEAD_DIM + 2 * j + s);
            }
            w.release(v);   // a view of the mapping: nothing to free
            assertThat(w.get(v).getFloat((long) 3 * HIDDEN)).isEqualTo(3);
        }
    }

    @Test
    void qwen2KeepsRotateHalfAndHasBiases() throws IOException {
        Path f = tinyModel("qwen2", true).write(tmp.resolve("qwen.gguf"));
        assertThat(LlamaConfig.load(f).attentionBias()).isTrue();
        try (WeightStore w = WeightStore.open(f)) {
            Tensor q = w.get("model.layers.0.self_attn.q_proj.weight");
            for (int r = 0; r < q.rows(); r++) assertThat(q.getFloat((long) r * HIDDEN)).isEqualTo(r);
            assertThat(w.get("model.layers.0.self_attn.q_proj.bias").toFloatArray()).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
            // the linear adds the bias after the block dot: row r is all r, x all 1 -> y[r] = HIDDEN * r + r
            Linear l = GgufLinears.factory(w).create("model.layers.0.self_attn.q_proj", q, w.get("model.layers.0.self_attn.q_proj.bias").toFloatArray());
            float[] x = new float[HIDDEN], y = new float[q.rows()];
            java.util.Arrays.fill(x, 1f);
            l.forward(x, 1, y);
            for (int r = 0; r < q.rows(); r++) assertThat(y[r]).isEqualTo(HIDDEN * r + r);
        }
    }

    @Test
    void ropeFreqsDivideEachFrequency() throws IOException {
        ByteBuffer f = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f).putFloat(8f);   // llama.cpp's Llama 3.1 factors: high frequency 1, low 8
        Path file = tinyModel("llama", false).tensor("rope_freqs.weight", GgmlType.F32, f.array(), HEAD_DIM / 2).write(tmp.resolve("rope.gguf"));
        LlamaConfig c = LlamaConfig.load(file);
        assertThat(c.ropeScaling().type()).isEqualTo("factors");
        try (WeightStore w = WeightStore.open(file)) {
            float[] inv = new LlamaStage(c, w, 0, 1, GgufLinears.factory(w)).ropeInvFreq();
            assertThat(inv[0]).isEqualTo(1f);
            assertThat((double) inv[1]).isCloseTo(Math.pow(5e5, -2.0 / HEAD_DIM) / 8, org.assertj.core.data.Offset.offset(1e-9));
        }
    }

    @Test
    void otherArchitecturesAreRefusedByName() throws IOException {
        Path f = tinyModel("phi3", false).write(tmp.resolve("phi.gguf"));
        assertThatThrownBy(() -> LlamaConfig.load(f)).isInstanceOf(ModelLoadException.class)
                .hasMessage(f + ": GGUF architecture 'phi3' is not supported (supported: llama, qwen2)");
        assertThatThrownBy(() -> WeightStore.open(f)).isInstanceOf(ModelLoadException.class).hasMessageContaining("'phi3'");
    }

    @Test
    void chatTemplateComesFromTheMetadata() throws IOException {
        Path f = tinyModel("llama", false).put("tokenizer.ggml.tokens", List.of("<unk>", "<s>", "</s>", "a", "b", "c", "d", "e"))
                .put("tokenizer.chat_template", "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}")
                .write(tmp.resolve("chat.gguf"));
        assertThat(ChatTemplate.fromModelDir(f).render(List.of(new Message("user", "hi")), false)).isEqualTo("<s>[user] hi</s>");
        Path plain = tinyModel("llama", false).write(tmp.resolve("plain.gguf"));
        assertThat(ChatTemplate.fromModelDir(plain).isPlain()).isTrue();
    }

    @Test
    void aSchemeIsRefusedForBlocksAndAllowedForFloats() {
        Path q8 = SharedData.path("models/sotu6M-gguf/sotu6M-Q8_0.gguf"), f32 = SharedData.path("models/sotu6M-gguf/sotu6M-F32.gguf");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(q8) && Files.isRegularFile(f32));
        assertThatThrownBy(() -> QuantizedModels.schemeAtLoad(LlamaConfig.load(q8), "w8a16"))
                .hasMessage("the GGUF file stores its linears as Q8_0 blocks, which run as they are: drop --quant (a scheme re-quantizes F32, F16 or BF16 files only)");
        assertThat(QuantizedModels.schemeAtLoad(LlamaConfig.load(f32), "w8a16").toString()).isEqualTo("w8a16");
    }
}
