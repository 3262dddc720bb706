package dev.quantflow.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The cost the constraint adds to a decode step with the 32000-token Llama 2 vocabulary: the
 * per-token time of masking the logits and advancing the automaton for a JSON schema, first with
 * cold masks (each state's mask computed on first use), then warm. docs/BENCHMARKS.md ("Constrained decoding") has the figures; the bound checked here
 * is 10% of the 1.1B shape's fastest measured CPU decode step (68 ms, w8a16).
 */
class ConstrainedMaskCostTest {
    private static final double DECODE_STEP_MS = 68;

    @Test
    void maskCostPerTokenIsUnderATenthOfADecodeStep() {
        Tokenizer t = Tokenizer.fromModelDir(SharedData.path("tokenizers/llama2"));
        OutputConstraint c = OutputConstraint.jsonSchema("response_format", ConstrainedGenerationValidityTest.SCHEMAS_UNDER_TEST.get(1));
        int vocab = t.vocabSize();
        float[][] logits = new float[64][vocab];
        SplittableRandom rnd = new SplittableRandom(11);
        for (float[] row : logits) for (int i = 0; i < vocab; i++) row[i] = (float) (rnd.nextGaussian() * 3);
        long c0 = System.nanoTime();
        for (String schema : ConstrainedGenerationValidityTest.SCHEMAS_UNDER_TEST)
            OutputConstraint.jsonSchema("response_format", schema + " ");   // a new text: compiled, not found in the cache
        double compileMs = (System.nanoTime() - c0) / 1e6 / ConstrainedGenerationValidityTest.SCHEMAS_UNDER_TEST.size();
        System.out.printf("compiling a schema to its automaton: %.1f ms on average over %d schemas%n", compileMs, ConstrainedGenerationValidityTest.SCHEMAS_UNDER_TEST.size());
        TokenAutomaton a = c.over(t);
        double[] cold = run(t, a, logits, 10, rnd);
        int masks = a.computedMasks();
        double[] warm = run(t, a, logits, 20, rnd);
        double coldMs = cold[0] / cold[1] / 1e6, warmMs = warm[0] / warm[1] / 1e6;
        System.out.printf("constrained decoding, vocab %d, cpu %s: mask + advance cold %.3f ms/token (%d tokens, %d masks computed), warm %.3f ms/token (%d tokens);"
                        + " warm = %.2f%% of a %.0f ms decode step%n",
                vocab, cpu(), coldMs, (long) cold[1], masks, warmMs, (long) warm[1], 100 * warmMs / DECODE_STEP_MS, DECODE_STEP_MS);
        assertThat(warmMs).isLessThan(DECODE_STEP_MS / 10);
        assertThat(coldMs).as("even with every mask computed on first use").isLessThan(DECODE_STEP_MS / 10);
    }

    /**
     * Nanoseconds and tokens of ConstrainedOutput.mask + advance (what the decode rule adds per
     * token) over sequences whose next token is drawn among the allowed ones.
     */
    private static double[] run(Tokenizer t, TokenAutomaton a, float[][] logits, int sequences, SplittableRandom rnd) {
        long nanos = 0, tokens = 0;
        float[] row = new float[logits[0].length];
        IncrementalDetokenizer text = t.newDetokenizer();
        text.seed(t.encode("Answer:"));
        for (int s = 0; s < sequences; s++) {
            ConstrainedOutput out = new ConstrainedOutput(a, t.eosTokenIds());
            for (int i = 0; i < 400 && !out.complete(); i++) {
                System.arraycopy(logits[i % logits.length], 0, row, 0, row.length);
                long t0 = System.nanoTime();
                out.mask(row, 0, row.length, text, true);
                long t1 = System.nanoTime();
                int token = pick(row, rnd, t);
                if (t.eosTokenIds().contains(token)) break;
                byte[] bytes = text.tokenBytes(token);
                long t2 = System.nanoTime();
                out.advance(bytes);
                nanos += (t1 - t0) + (System.nanoTime() - t2);
                tokens++;
            }
        }
        return new double[] {nanos, tokens};
    }

    /** A random allowed token (not timed: sampling is the same with or without a constraint). */
    private static int pick(float[] row, SplittableRandom rnd, Tokenizer t) {
        int n = 0;
        int[] ok = new int[row.length];
        for (int i = 0; i < row.length; i++) if (row[i] != Float.NEGATIVE_INFINITY) ok[n++] = i;
        return ok[rnd.nextInt(n)];
    }

    private static String cpu() {
        try {
            return java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 2)).orElse("?");
        } catch (java.io.IOException e) {
            return "?";
        }
    }
}
