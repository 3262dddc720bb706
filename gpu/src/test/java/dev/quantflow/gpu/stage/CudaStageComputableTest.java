package dev.quantflow.gpu.stage;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.model.LlamaConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** What a CUDA stage refuses before it touches a card: math its kernels do not do (no card needed). */
class CudaStageComputableTest {
    static LlamaConfig config(String extra) throws Exception {
        return LlamaConfig.parse(new ObjectMapper().readTree("""
                {"architectures":["MistralForCausalLM"],"hidden_size":64,"intermediate_size":96,"num_attention_heads":4,
                 "num_hidden_layers":2,"vocab_size":512,"max_position_embeddings":4096,%s}""".formatted(extra)), Path.of("config.json"));
    }

    static StageLayout layout(int blocks) {
        return new StageLayout(0, 2, KvFormat.F32, blocks, 16, 64);
    }

    @Test
    void aSlidingWindowSmallerThanTheReachablePositionsIsRefused() throws Exception {
        LlamaConfig c = config("\"sliding_window\":1024");
        assertThatThrownBy(() -> CudaStage.checkComputable(c, layout(256)))
                .hasMessage("config.json's sliding_window 1024 is smaller than the 4096 positions a sequence can reach, and the CUDA attention"
                        + " kernel has no sliding window: run this model's stages on the CPU");
        // a KV cache of 1024 positions never reaches past the window: full attention is the same math
        assertThatCode(() -> CudaStage.checkComputable(c, layout(64))).doesNotThrowAnyException();
        assertThatCode(() -> CudaStage.checkComputable(config("\"sliding_window\":null"), layout(256))).doesNotThrowAnyException();
    }

    @Test
    void dynamicRopePastMaxPositionEmbeddingsIsRefused() throws Exception {
        LlamaConfig c = config("\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2.0}");
        assertThatThrownBy(() -> CudaStage.checkComputable(c, layout(512)))
                .hasMessageStartingWith("config.json's rope_scaling type 'dynamic' changes the RoPE frequencies past 4096 positions");
        assertThatCode(() -> CudaStage.checkComputable(c, layout(256))).doesNotThrowAnyException();
    }
}
