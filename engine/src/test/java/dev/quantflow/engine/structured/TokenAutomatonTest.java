package dev.quantflow.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Per-state token masks from the trie walk equal a brute-force check of every token's bytes, on the 32000-token Llama 2 vocabulary. */
class TokenAutomatonTest {
    @Test
    void trieMasksEqualBruteForceAlongRandomPaths() {
        Tokenizer t = Tokenizer.fromModelDir(SharedData.path("tokenizers/llama2"));
        OutputConstraint c = OutputConstraint.jsonSchema("response_format", """
                {"type":"object","properties":{"name":{"type":"string","maxLength":12},"n":{"type":"number"},
                 "kind":{"enum":["cat","dog","éclair"]},"ok":{"type":"boolean"}},"required":["name","n","kind"]}""");
        TokenAutomaton a = c.over(t);
        assertThat(c.over(t)).as("cached per tokenizer and constraint").isSameAs(a);
        SplittableRandom rnd = new SplittableRandom(3);
        byte[][] bytes = new byte[t.vocabSize()][];
        var d = t.newDetokenizer();
        for (int id = 0; id < bytes.length; id++) bytes[id] = d.tokenBytes(id);
        for (int path = 0; path < 5; path++) {
            int s = a.dfa().start();
            for (int step = 0; step < 30 && a.dfa().hasExit(s); step++) {
                long[] m = a.mask(s);
                int allowed = 0;
                int[] ids = new int[t.vocabSize()];
                for (int id = 0; id < t.vocabSize(); id++) {
                    boolean expect = bytes[id].length > 0 && a.dfa().walk(s, bytes[id]) >= 0;
                    boolean got = (m[id >>> 6] & (1L << id)) != 0;
                    assertThat(got).as("token %d (%s) in state %d", id, t.tokenText(id), s).isEqualTo(expect);
                    if (got) ids[allowed++] = id;
                }
                assertThat(allowed).isPositive();
                s = a.next(s, ids[rnd.nextInt(allowed)]);
            }
        }
    }
}
