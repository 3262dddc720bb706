package dev.quantflow.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** config.json of the Llama-family models users point the server at (contents as their hubs publish them). */
class LlamaConfigTest {
    private static final Path FILE = Path.of("some-model/config.json");

    static LlamaConfig parse(String json) throws Exception {
        return LlamaConfig.parse(new ObjectMapper().readTree(json), FILE);
    }

    @Test
    void llama2_7b() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["LlamaForCausalLM"],"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu","hidden_size":4096,
                 "initializer_range":0.02,"intermediate_size":11008,"max_position_embeddings":4096,"model_type":"llama",
                 "num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":32,"pretraining_tp":1,"rms_norm_eps":1e-05,
                 "rope_scaling":null,"tie_word_embeddings":false,"torch_dtype":"float16","transformers_version":"4.31.0.dev0",
                 "use_cache":true,"vocab_size":32000}""");
        assertThat(c.hiddenSize()).isEqualTo(4096);
        assertThat(c.intermediateSize()).isEqualTo(11008);
        assertThat(c.numKvHeads()).isEqualTo(32);
        assertThat(c.headDim()).isEqualTo(128);
        assertThat(c.maxPositions()).isEqualTo(4096);
        assertThat(c.rmsNormEps()).isEqualTo(1e-5f);
        assertThat(c.ropeTheta()).isEqualTo(10000.0);
        assertThat(c.ropeScaling()).isEqualTo(LlamaConfig.RopeScaling.NONE);
        assertThat(c.tieWordEmbeddings()).isFalse();
        assertThat(c.attentionBias()).isFalse();
        assertThat(c.bosTokenId()).isEqualTo(1);
        assertThat(c.eosTokenIds()).containsExactly(2);
    }

    @Test
    void llama2WithoutKvHeadsMeansMultiHeadAttention() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["LlamaForCausalLM"],"hidden_size":5120,"intermediate_size":13824,"num_attention_heads":40,
                 "num_hidden_layers":40,"vocab_size":32000,"max_position_embeddings":4096}""");
        assertThat(c.numKvHeads()).isEqualTo(40);
        assertThat(c.kvDim()).isEqualTo(c.qDim()).isEqualTo(5120);
        assertThat(c.rmsNormEps()).isEqualTo(1e-6f);   // HF's LlamaConfig default
    }

    @Test
    void llama3_8bHasRopeTheta500000AndGqa() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
                 "eos_token_id":128001,"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,"intermediate_size":14336,
                 "max_position_embeddings":8192,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":32,
                 "num_key_value_heads":8,"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":null,"rope_theta":500000.0,
                 "tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.40.0.dev0","use_cache":true,
                 "vocab_size":128256}""");
        assertThat(c.ropeTheta()).isEqualTo(500000.0);
        assertThat(c.numKvHeads()).isEqualTo(8);
        assertThat(c.kvDim()).isEqualTo(1024);
        assertThat(c.vocabSize()).isEqualTo(128256);
        assertThat(c.bosTokenId()).isEqualTo(128000);
        assertThat(c.eosTokenIds()).containsExactly(128001);
    }

    @Test
    void llama31_8bHasLlama3RopeScalingAndSeveralEos() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
                 "eos_token_id":[128001,128008,128009],"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,
                 "intermediate_size":14336,"max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama",
                 "num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,"pretraining_tp":1,"rms_norm_eps":1e-05,
                 "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,
                 "rope_type":"llama3"},"rope_theta":500000.0,"tie_word_embeddings":false,"torch_dtype":"bfloat16",
                 "transformers_version":"4.43.0.dev0","use_cache":true,"vocab_size":128256}""");
        assertThat(c.ropeScaling()).isEqualTo(new LlamaConfig.RopeScaling("llama3", 8.0, 1.0, 4.0, 8192));
        assertThat(c.maxPositions()).isEqualTo(131072);
        assertThat(c.eosTokenIds()).containsExactly(128001, 128008, 128009);
    }

    @Test
    void llama32_1bTiesEmbeddingsAndGivesHeadDim() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["LlamaForCausalLM"],"attention_bias":false,"bos_token_id":128000,"eos_token_id":128001,
                 "head_dim":64,"hidden_act":"silu","hidden_size":2048,"intermediate_size":8192,"max_position_embeddings":131072,
                 "model_type":"llama","num_attention_heads":32,"num_hidden_layers":16,"num_key_value_heads":8,"rms_norm_eps":1e-05,
                 "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,
                 "rope_type":"llama3"},"rope_theta":500000.0,"tie_word_embeddings":true,"torch_dtype":"bfloat16","vocab_size":128256}""");
        assertThat(c.tieWordEmbeddings()).isTrue();
        assertThat(c.headDim()).isEqualTo(64);
        assertThat(c.ropeScaling().factor()).isEqualTo(32.0);
    }

    @Test
    void tinyLlama() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["LlamaForCausalLM"],"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu","hidden_size":2048,
                 "initializer_range":0.02,"intermediate_size":5632,"max_position_embeddings":2048,"model_type":"llama",
                 "num_attention_heads":32,"num_hidden_layers":22,"num_key_value_heads":4,"pretraining_tp":1,"rms_norm_eps":1e-05,
                 "rope_scaling":null,"rope_theta":10000.0,"tie_word_embeddings":false,"torch_dtype":"bfloat16",
                 "transformers_version":"4.35.0","use_cache":true,"vocab_size":32000}""");
        assertThat(c.numLayers()).isEqualTo(22);
        assertThat(c.headDim()).isEqualTo(64);
        assertThat(c.kvDim()).isEqualTo(256);
        assertThat(c.qDim()).isEqualTo(2048);
        assertThat(c.intermediateSize()).isEqualTo(5632);
        // the synthetic benchmark model copies this shape
        assertThat(SyntheticModel.shapeOf(c)).isEqualTo(new SyntheticModel.Shape(2048, 22, 32, 4, 5632, 32000, 2048));
    }

    @Test
    void smolLm135mHasNineHeadsAndTiedEmbeddings() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":0,
                 "eos_token_id":0,"hidden_act":"silu","hidden_size":576,"initializer_range":0.02,"intermediate_size":1536,
                 "max_position_embeddings":2048,"model_type":"llama","num_attention_heads":9,"num_hidden_layers":30,
                 "num_key_value_heads":3,"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":null,"rope_theta":10000.0,
                 "tie_word_embeddings":true,"torch_dtype":"float32","transformers_version":"4.40.1","use_cache":true,
                 "vocab_size":49152}""");
        assertThat(c.headDim()).isEqualTo(64);
        assertThat(c.numKvHeads()).isEqualTo(3);
        assertThat(c.tieWordEmbeddings()).isTrue();
        assertThat(c.bosTokenId()).isEqualTo(0);
        assertThat(c.eosTokenIds()).containsExactly(0);
    }

    @Test
    void mistral7bIsGqaLlama() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["MistralForCausalLM"],"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu","hidden_size":4096,
                 "initializer_range":0.02,"intermediate_size":14336,"max_position_embeddings":32768,"model_type":"mistral",
                 "num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,"rms_norm_eps":1e-05,
                 "rope_theta":10000.0,"sliding_window":4096,"tie_word_embeddings":false,"torch_dtype":"bfloat16",
                 "transformers_version":"4.34.0.dev0","use_cache":true,"vocab_size":32000}""");
        assertThat(c.architecture()).isEqualTo("MistralForCausalLM");
        assertThat(c.numHeads() / c.numKvHeads()).isEqualTo(4);
        assertThat(c.attentionBias()).isFalse();
    }

    @Test
    void qwen2HasAttentionBiasWithoutSayingSo() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151643,
                 "hidden_act":"silu","hidden_size":896,"initializer_range":0.02,"intermediate_size":4864,
                 "max_position_embeddings":131072,"max_window_layers":24,"model_type":"qwen2","num_attention_heads":14,
                 "num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_theta":1000000.0,
                 "sliding_window":131072,"tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.40.1",
                 "use_cache":true,"use_sliding_window":false,"vocab_size":151936}""");
        assertThat(c.attentionBias()).isTrue();
        assertThat(c.headDim()).isEqualTo(64);
        assertThat(c.ropeTheta()).isEqualTo(1_000_000.0);
        assertThat(c.rmsNormEps()).isEqualTo(1e-6f);
        assertThat(c.tieWordEmbeddings()).isTrue();
    }

    @Test
    void modelTypeAloneIsEnough() throws Exception {
        LlamaConfig c = parse("""
                {"model_type":"llama","hidden_size":64,"intermediate_size":172,"num_attention_heads":8,"num_key_value_heads":4,
                 "num_hidden_layers":5,"vocab_size":512,"bos_token_id":null}""");
        assertThat(c.architecture()).isEqualTo("llama");
        assertThat(c.bosTokenId()).isEqualTo(-1);
        assertThat(c.eosTokenIds()).isEmpty();
    }

    @Test
    void linearRopeScalingIsAccepted() throws Exception {
        LlamaConfig c = parse("""
                {"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":11008,"num_attention_heads":32,
                 "num_hidden_layers":32,"vocab_size":32000,"rope_scaling":{"type":"linear","factor":4.0}}""");
        assertThat(c.ropeScaling().type()).isEqualTo("linear");
        assertThat(c.ropeScaling().factor()).isEqualTo(4.0);
    }

    @Test
    void badConfigsNameTheFileAndTheProblem() {
        assertThatThrownBy(() -> parse("""
                {"architectures":["GPT2LMHeadModel"],"n_embd":768,"n_layer":12}"""))
                .isInstanceOf(ModelLoadException.class)
                .hasMessage(FILE + ": unsupported architecture 'GPT2LMHeadModel' (supported: " + String.join(", ", LlamaConfig.SUPPORTED) + ")");
        assertThatThrownBy(() -> parse("""
                {"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":11008,"num_attention_heads":32,
                 "num_key_value_heads":5,"num_hidden_layers":32,"vocab_size":32000}"""))
                .hasMessageStartingWith(FILE + ": num_attention_heads 32 is not a multiple of num_key_value_heads 5");
        assertThatThrownBy(() -> parse("""
                {"architectures":["LlamaForCausalLM"],"intermediate_size":11008,"num_attention_heads":32,"num_hidden_layers":32,
                 "vocab_size":32000}"""))
                .hasMessage(FILE + ": missing or invalid 'hidden_size'");
        assertThatThrownBy(() -> parse(LLAMA.formatted("\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4.0}")))
                .hasMessage(FILE + ": rope_scaling type 'yarn' is not supported (supported: default, linear, dynamic, llama3)");
    }

    /** A small Llama config with one more key. */
    private static final String LLAMA = """
            {"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":96,"num_attention_heads":4,
             "num_hidden_layers":2,"vocab_size":512,"max_position_embeddings":128,%s}""";

    @Test
    void keysThatWouldChangeTheMathAreRefusedByName() {
        assertThatThrownBy(() -> parse(LLAMA.formatted("\"hidden_act\":\"gelu\"")))
                .hasMessage(FILE + ": hidden_act 'gelu' is not supported (the MLP is SwiGLU with silu)");
        assertThatThrownBy(() -> parse(LLAMA.formatted("\"partial_rotary_factor\":0.5")))
                .hasMessage(FILE + ": partial_rotary_factor 0.5 is not supported (RoPE rotates the whole head)");
        assertThatThrownBy(() -> parse(LLAMA.formatted("\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":2.0,\"attention_factor\":1.2}")))
                .hasMessage(FILE + ": rope_scaling.attention_factor is not supported with type 'linear'");
        assertThatThrownBy(() -> parse(LLAMA.formatted("\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0}")))
                .hasMessage(FILE + ": rope_scaling.original_max_position_embeddings is missing or not a positive number");
        assertThatThrownBy(() -> parse(LLAMA.formatted("\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2.0,\"original_max_position_embeddings\":64}")))
                .hasMessageStartingWith(FILE + ": rope_scaling.original_max_position_embeddings 64 differs from max_position_embeddings 128");
        assertThatThrownBy(() -> parse(LLAMA.formatted("\"rope_parameters\":{\"rope_type\":\"longrope\",\"rope_theta\":10000.0}")))
                .hasMessageStartingWith(FILE + ": rope_parameters type 'longrope' is not supported");
        assertThatThrownBy(() -> parse(LLAMA.formatted("\"model_type\":\"mistral\",\"architectures\":[\"MistralForCausalLM\"],\"sliding_window\":-3")))
                .hasMessage(FILE + ": sliding_window -3 must be a positive integer or null");
    }

    @Test
    void dynamicRopeScalingExtendsTheContextByItsFactor() throws Exception {
        LlamaConfig c = parse(LLAMA.formatted("\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2.0}"));
        assertThat(c.ropeScaling()).isEqualTo(new LlamaConfig.RopeScaling("dynamic", 2.0, 1, 4, 128));
        assertThat(c.maxPositions()).isEqualTo(256);
    }

    @Test
    void transformers5RopeParametersCarryThetaAndScaling() throws Exception {
        LlamaConfig c = parse(LLAMA.formatted("""
                "rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                 "original_max_position_embeddings":64}"""));
        assertThat(c.ropeTheta()).isEqualTo(500000.0);
        assertThat(c.ropeScaling()).isEqualTo(new LlamaConfig.RopeScaling("llama3", 8.0, 1.0, 4.0, 64));
    }

    @Test
    void slidingWindowsPerLayer() throws Exception {
        LlamaConfig mistral = parse(LLAMA.formatted("\"architectures\":[\"MistralForCausalLM\"],\"sliding_window\":4096"));
        assertThat(mistral.attentionWindows()).containsExactly(4096, 4096);
        assertThat(mistral.smallestWindow()).isEqualTo(4096);
        LlamaConfig mistralNone = parse(LLAMA.formatted("\"architectures\":[\"MistralForCausalLM\"],\"sliding_window\":null"));
        assertThat(mistralNone.smallestWindow()).isZero();
        LlamaConfig qwenOff = parse(LLAMA.formatted("\"architectures\":[\"Qwen2ForCausalLM\"],\"sliding_window\":32,\"use_sliding_window\":false"));
        assertThat(qwenOff.attentionWindows()).containsExactly(0, 0);
        LlamaConfig qwenOn = parse(LLAMA.formatted("\"architectures\":[\"Qwen2ForCausalLM\"],\"sliding_window\":32,\"use_sliding_window\":true,\"max_window_layers\":1"));
        assertThat(qwenOn.attentionWindows()).containsExactly(0, 32);
        LlamaConfig typed = parse(LLAMA.formatted("\"architectures\":[\"Qwen2ForCausalLM\"],\"sliding_window\":32,\"layer_types\":[\"sliding_attention\",\"full_attention\"]"));
        assertThat(typed.attentionWindows()).containsExactly(32, 0);
        // modeling_llama has no sliding window: the key is not read there
        assertThat(parse(LLAMA.formatted("\"sliding_window\":16")).smallestWindow()).isZero();
    }

    @Test
    void biasesByArchitecture() throws Exception {
        LlamaConfig llama = parse(LLAMA.formatted("\"attention_bias\":true,\"mlp_bias\":true"));
        assertThat(List.of(llama.attentionBias(), llama.outputBias(), llama.mlpBias())).containsExactly(true, true, true);
        LlamaConfig qwen = parse(LLAMA.formatted("\"architectures\":[\"Qwen2ForCausalLM\"]"));
        assertThat(List.of(qwen.attentionBias(), qwen.outputBias(), qwen.mlpBias())).containsExactly(true, false, false);
        LlamaConfig mistral = parse(LLAMA.formatted("\"architectures\":[\"MistralForCausalLM\"]"));
        assertThat(List.of(mistral.attentionBias(), mistral.outputBias(), mistral.mlpBias())).containsExactly(false, false, false);
    }
}
