package dev.quantflow.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Tokenizers built from GGUF metadata agree with the tokenizer.json of the same model. */
class GgufTokenizerTest {
    @Test
    void llamaSpmGgufMatchesLlama2TokenizerJson() {
        Tokenizer gguf = TestTokenizers.llamaSpmGguf(), json = TestTokenizers.llama2();
        assertThat(gguf.vocabSize()).isEqualTo(32000);
        assertThat(gguf.bosTokenId()).hasValue(1);
        assertThat(gguf.eosTokenIds()).containsExactly(2);
        for (String text : new String[] {"Once upon a time", " Hello  world\n", "🦙 café 日本", ""}) {
            int[] ids = json.encode(text);
            assertThat(gguf.encode(text)).as(text).containsExactly(ids);
            assertThat(gguf.decode(ids)).isEqualTo(json.decode(ids)).isEqualTo(text);
        }
        assertThat(gguf.tokenText(15043)).isEqualTo("▁Hello");
    }

    @Test
    void gpt2GgufMatchesPhi2TokenizerJsonOnOrdinaryText() {
        // phi-2 reuses GPT-2's 50257 BPE tokens and merges (its extra added tokens are runs of spaces/tabs)
        Tokenizer gguf = TestTokenizers.gpt2Gguf(), json = TestTokenizers.phi2();
        assertThat(gguf.bosTokenId()).hasValue(50256);
        assertThat(gguf.eosTokenIds()).containsExactly(50256);
        assertThat(gguf.encode("Hello world")).containsExactly(15496, 995); // no BOS for gpt2 vocabularies
        for (String text : new String[] {"Hello world", "It's 2026: naïve café, 日本語!", "a<|endoftext|>b"}) {
            assertThat(gguf.encode(text)).as(text).containsExactly(json.encode(text));
        }
    }

    @Test
    void controlTokensInTextAreMatched() {
        Tokenizer phi3 = TestTokenizers.gguf("phi-3");
        int[] ids = phi3.encode("<|user|>\nHi<|end|>", false);
        assertThat(phi3.tokenText(ids[0])).isEqualTo("<|user|>");
        assertThat(phi3.tokenText(ids[ids.length - 1])).isEqualTo("<|end|>");
    }
}
