package dev.quantflow.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Hard cases: byte fallback, unicode, whitespace, special tokens in text, empty input. */
class TokenizerBehaviourTest {
    private static final List<String> HARD_TEXTS = List.of(
            "", " ", "  ", "\n", "\n\n\t ", "  leading and trailing  ", "a  b   c    d",
            "emoji 🦙🚀 and 😶‍🌫️ zwj", "CJK 我想在apple工作 日本語のテキスト 한국어", "combining e\u0301 a\u0308 \u0915\u094d\u0937",
            "Khmer កាន់តែពិសេសអាច", "\u00a0non-breaking\u3000ideographic space", "tabs\tand\r\nCRLF\r\n", "x▁y", "'s 'T I'm 1234567 3.14");

    private static List<Tokenizer> allFlavours() {
        return List.of(TestTokenizers.llama2(), TestTokenizers.llama3(), TestTokenizers.phi2(), TestTokenizers.stories260K(),
                TestTokenizers.llamaSpmGguf(), TestTokenizers.gpt2Gguf());
    }

    @Test
    void hardTextsRoundTripInEveryFlavour() {
        for (Tokenizer t : allFlavours()) {
            for (String text : HARD_TEXTS) {
                String expected = text.replace('▁', ' '); // SentencePiece treats a literal "▁" as a space
                String decoded = t.decode(t.encode(text));
                if (t == TestTokenizers.llama3() || t == TestTokenizers.phi2() || t == TestTokenizers.gpt2Gguf()) expected = text;
                assertThat(decoded).as("%s: \"%s\"", t, text).isEqualTo(expected);
            }
        }
    }

    @Test
    void byteFallbackWritesMissingCharactersAsUtf8Bytes() {
        Tokenizer t = TestTokenizers.llama2();
        // 🦙 is not in the Llama 2 vocabulary: F0 9F A6 99 as <0xF0><0x9F><0xA6><0x99> (ids = byte + 3)
        assertThat(t.encode("🦙", false)).containsExactly(29871, 0xF0 + 3, 0x9F + 3, 0xA6 + 3, 0x99 + 3);
        assertThat(t.tokenText(0xF0 + 3)).isEqualTo("<0xF0>");
        assertThat(t.decode(0xF0 + 3, 0x9F + 3, 0xA6 + 3, 0x99 + 3)).isEqualTo("🦙");
        // stories260K (512 tokens) falls back to bytes even for "é"
        Tokenizer tiny = TestTokenizers.stories260K();
        assertThat(tiny.decode(tiny.encode("café"))).isEqualTo("café");
    }

    @Test
    void leadingSpacesAndNewlinesFollowSentencePiece() {
        Tokenizer t = TestTokenizers.llama2();
        assertThat(t.encode("Hello")).containsExactly(1, 15043);
        assertThat(t.encode(" Hello")).containsExactly(1, 29871, 15043);
        assertThat(t.encode("  Hello")).containsExactly(1, 259, 15043);
        assertThat(t.encode("\n")).containsExactly(1, 29871, 13);
        assertThat(t.decode(1, 15043)).isEqualTo("Hello");
        assertThat(t.decode(1, 29871, 15043)).isEqualTo(" Hello");
        assertThat(t.decode(15043, 3186)).isEqualTo("Hello world");
        assertThat(t.tokenText(15043)).isEqualTo("▁Hello");
    }

    @Test
    void emptyString() {
        assertThat(TestTokenizers.llama2().encode("")).containsExactly(1);
        assertThat(TestTokenizers.llama2().encode("", false)).isEmpty();
        assertThat(TestTokenizers.llama3().encode("")).isEmpty();
        assertThat(TestTokenizers.phi2().encode("")).isEmpty();
        assertThat(TestTokenizers.llamaSpmGguf().encode("")).containsExactly(1);
        assertThat(TestTokenizers.llama2().decode()).isEmpty();
        assertThat(TestTokenizers.llama2().decode(1)).isEmpty();
    }

    @Test
    void specialTokensInsideTextAreMatched() {
        Tokenizer llama3 = TestTokenizers.llama3();
        int[] ids = llama3.encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
        assertThat(ids).startsWith(128006).contains(128007, 128009);
        assertThat(ids[ids.length - 1]).isEqualTo(128009);
        // only BOS/EOS are hidden; other special tokens are rendered
        assertThat(llama3.decode(ids)).isEqualTo("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
        assertThat(llama3.decode(128000, 9906, 128001)).isEqualTo("Hello");

        Tokenizer phi2 = TestTokenizers.phi2();
        assertThat(phi2.encode("a<|endoftext|>b")).containsExactly(64, 50256, 65);

        // Llama 2's added tokens are "normalized": matched as "▁<s>" in the normalized text
        assertThat(TestTokenizers.llama2().encode("literal <s> and </s>")).containsExactly(1, 16333, 1, 322, 2);
    }

    @Test
    void configuredIds() {
        Tokenizer llama2 = TestTokenizers.llama2(), llama3 = TestTokenizers.llama3(), phi2 = TestTokenizers.phi2();
        assertThat(llama2.vocabSize()).isEqualTo(32000);
        assertThat(llama2.bosTokenId()).hasValue(1);
        assertThat(llama2.eosTokenIds()).containsExactly(2);
        assertThat(llama3.vocabSize()).isEqualTo(128256);
        assertThat(llama3.bosTokenId()).hasValue(128000);
        assertThat(llama3.eosTokenIds()).containsExactly(128001);
        assertThat(llama3.tokenText(9906)).isEqualTo("Hello");
        assertThat(llama3.tokenText(1917)).isEqualTo("Ġworld");
        // phi-2: 50257 BPE tokens + 38 added (space runs, tab runs); BOS = EOS = <|endoftext|>, not added on encode
        assertThat(phi2.vocabSize()).isEqualTo(50295);
        assertThat(phi2.bosTokenId()).hasValue(50256);
        assertThat(phi2.eosTokenIds()).containsExactly(50256);
        assertThat(phi2.encode("Hello world")).containsExactly(15496, 995);
    }

    @Test
    void llama3TakesWholeVocabularyPiecesWithoutMerging() {
        Tokenizer t = TestTokenizers.llama3();
        assertThat(t.encode("Hello world")).containsExactly(9906, 1917);
        assertThat(t.encode("  Hello")).hasSize(2); // "\s+(?!\S)" leaves one space for " Hello"
        assertThat(t.decode(t.encode("   x\n\n\ny  "))).isEqualTo("   x\n\n\ny  ");
    }

    @Test
    void incrementalDetokenizerHoldsBackSplitCharacters() {
        Tokenizer t = TestTokenizers.llama2();
        IncrementalDetokenizer d = t.newDetokenizer();
        int[] ids = t.encode("a🦙b");
        List<String> pushed = new ArrayList<>();
        for (int id : ids) pushed.add(d.push(id));
        pushed.add(d.flush());
        // BOS, ▁a, then four byte tokens of which only the last completes the llama, then b
        assertThat(pushed).containsExactly("", "a", "", "", "", "🦙", "b", "");
        assertThat(String.join("", pushed)).isEqualTo(t.decode(ids));
    }

    @Test
    void incrementalDetokenizerOnByteLevelTokens() {
        for (Tokenizer t : List.of(TestTokenizers.llama3(), TestTokenizers.phi2(), TestTokenizers.gpt2Gguf())) {
            String text = "日本語 😶‍🌫️ ☃ done";
            int[] ids = t.encode(text);
            IncrementalDetokenizer d = t.newDetokenizer();
            StringBuilder sb = new StringBuilder();
            for (int id : ids) {
                String piece = d.push(id);
                assertThat(piece).doesNotContain("\uFFFD");
                if (!piece.isEmpty()) assertThat(Character.isLowSurrogate(piece.charAt(0))).isFalse();
                sb.append(piece);
            }
            sb.append(d.flush());
            assertThat(sb.toString()).isEqualTo(text).isEqualTo(t.decode(ids));
        }
    }

    @Test
    void incompleteCharacterAtTheEndIsFlushedAsReplacement() {
        Tokenizer t = TestTokenizers.llama2();
        IncrementalDetokenizer d = t.newDetokenizer();
        assertThat(d.push(0xE2 + 3)).isEmpty();
        assertThat(d.push(0x96 + 3)).isEmpty();
        assertThat(d.flush()).isEqualTo("\uFFFD");
        assertThat(t.decode(0xE2 + 3, 0x96 + 3)).isEqualTo("\uFFFD");
        assertThat(t.decode(0xE2 + 3, 0x96 + 3, 0x81 + 3)).isEqualTo("▁");
    }
}
