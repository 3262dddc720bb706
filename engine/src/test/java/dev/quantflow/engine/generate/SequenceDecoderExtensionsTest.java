package dev.quantflow.engine.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.sample.SamplingParams;
import dev.quantflow.engine.sample.StopMatcher;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** vLLM's decoding extensions in the one decode rule: min_tokens, stop_token_ids, include_stop_str_in_output, skip_special_tokens. */
class SequenceDecoderExtensionsTest {
    private static final Tokenizer T = Tokenizer.fromModelDir(SharedData.path("models/stories260K"));
    private static final int VOCAB = T.vocabSize();
    private static final int EOS = T.eosTokenIds().iterator().next();

    private static GenerateOptions options(int max, boolean ignoreEos, List<String> stop, int minTokens, List<Integer> stopIds, boolean skip, boolean include) {
        return new GenerateOptions(max, SamplingParams.GREEDY, ignoreEos, stop, minTokens, stopIds, skip, include);
    }

    /** Logits whose argmax is the first of preferred that is allowed; the rest follow in order. */
    private static float[] preferring(int... preferred) {
        float[] l = new float[VOCAB];
        for (int i = 0; i < preferred.length; i++) l[preferred[i]] = 10f - i;
        return l;
    }

    private record Run(List<Integer> tokens, String text, String finish) {}

    private static Run run(SequenceDecoder d, float[] logits) {
        List<Integer> tokens = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        while (true) {
            int t = d.sample(logits, 0, VOCAB);
            SequenceDecoder.Emitted e = d.accept(t);
            if (!e.eos()) tokens.add(t);
            text.append(e.text());
            if (e.finished()) return new Run(tokens, text.append(e.tail()).toString(), e.finishReason().orElseThrow());
        }
    }

    @Test
    void minTokensBansEosUntilReached() {
        int word = T.encode("cat", false)[0];
        Run r = run(new SequenceDecoder(T, T.encode("Once"), options(10, false, List.of(), 3, List.of(), true, false), 512), preferring(EOS, word));
        assertThat(r.tokens()).containsExactly(word, word, word);
        assertThat(r.finish()).isEqualTo("stop");
        Run none = run(new SequenceDecoder(T, T.encode("Once"), options(10, false, List.of(), 0, List.of(), true, false), 512), preferring(EOS, word));
        assertThat(none.tokens()).isEmpty();
    }

    @Test
    void aStopTokenIdEndsTheSequenceAndCountsItsTextOnlyWhenIncluded() {
        int a = T.encode("dog", false)[0], b = T.encode("cat", false)[0];
        float[] logits = preferring(a);
        Run excluded = run(new SequenceDecoder(T, T.encode("Once"), options(10, true, List.of(), 0, List.of(a), true, false), 512), logits);
        assertThat(excluded.tokens()).containsExactly(a);
        assertThat(excluded.text()).isEmpty();
        assertThat(excluded.finish()).isEqualTo("stop");
        Run included = run(new SequenceDecoder(T, T.encode("Once"), options(10, true, List.of(), 0, List.of(a), true, true), 512), logits);
        String aText = new SequenceDecoder(T, T.encode("Once"), GenerateOptions.greedy(1), 512).detokenizer().peek(a);
        assertThat(aText).isNotEmpty();
        assertThat(included.text()).isEqualTo(aText);
        // min_tokens holds a stop token back too
        Run held = run(new SequenceDecoder(T, T.encode("Once"), options(10, true, List.of(), 2, List.of(a), true, false), 512), preferring(a, b));
        assertThat(held.tokens()).containsExactly(b, b, a);
        assertThat(b).isNotEqualTo(a);
    }

    @Test
    void skipSpecialTokensFalseWritesEosAsText() {
        float[] logits = preferring(EOS);
        Run hidden = run(new SequenceDecoder(T, T.encode("Once"), options(2, true, List.of(), 0, List.of(), true, false), 512), logits);
        assertThat(hidden.text()).isEmpty();
        Run shown = run(new SequenceDecoder(T, T.encode("Once"), options(2, true, List.of(), 0, List.of(), false, false), 512), logits);
        assertThat(shown.text()).isEqualTo(T.tokenText(EOS).repeat(2));
        assertThat(shown.tokens()).containsExactly(EOS, EOS);
    }

    @Test
    void includeStopStrKeepsTheStopStringAndMinTokensDisarmsIt() {
        StopMatcher excluded = new StopMatcher(List.of("ab"));
        assertThat(excluded.push("xxa") + excluded.push("bzz")).isEqualTo("xx");
        StopMatcher included = new StopMatcher(List.of("ab"), true);
        assertThat(included.push("xxa") + included.push("bzz")).isEqualTo("xxab");
        assertThat(included.stopped()).isTrue();
        StopMatcher unarmed = new StopMatcher(List.of("ab"));
        assertThat(unarmed.push("xab", false)).isEqualTo("xab");
        assertThat(unarmed.stopped()).isFalse();
        assertThat(unarmed.push("yab", true)).isEqualTo("y");
    }

    @Test
    void tokenIdsOutsideTheVocabularyNameTheirField() {
        assertThatThrownBy(() -> options(4, false, List.of(), 0, List.of(VOCAB), true, false).checkVocabulary(VOCAB))
                .isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("stop_token_ids"));
        GenerateOptions biased = new GenerateOptions(4, SamplingParams.GREEDY.withAdjustments(0, 0, 1, java.util.Map.of(VOCAB + 5, 1.0)), false, List.of());
        assertThatThrownBy(() -> biased.checkVocabulary(VOCAB)).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("logit_bias"));
        assertThatThrownBy(() -> options(4, false, List.of(), -1, List.of(), true, false))
                .isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("min_tokens"));
    }
}
