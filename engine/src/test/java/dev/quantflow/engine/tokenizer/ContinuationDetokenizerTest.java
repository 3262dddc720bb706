package dev.quantflow.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A completion's text is decode(prompt + completion) minus decode(prompt), on every tokenizer in
 * shared (tokenizer.json and GGUF, SentencePiece-style and byte-level), cut at every token: the
 * detokenizer seeded with the prompt streams exactly that, and each token's peeked text and bytes
 * (what logprobs report) are what its push adds, so they concatenate to the completion.
 */
class ContinuationDetokenizerTest {
    private static final String TEXT = "Once upon a time, there was a  little dog.\n  It said: \"日本語 😶‍🌫️ café\" \t— done\n\nEnd ";

    /** Every tokenizer.json in shared and every GGUF vocabulary (but bert-bge: WordPiece is not supported, docs/TOKENIZERS.md). */
    private static List<Tokenizer> allTokenizers() throws IOException {
        List<Tokenizer> all = new ArrayList<>();
        try (Stream<Path> files = Files.walk(SharedData.root().toRealPath())) {
            for (Path p : files.sorted().toList()) {
                String name = p.getFileName().toString();
                if (name.equals("tokenizer.json")) all.add(Tokenizer.fromModelDir(p.getParent()));
                else if (name.endsWith(".gguf") && name.startsWith("ggml-vocab-") && !name.equals("ggml-vocab-bert-bge.gguf")) all.add(Tokenizer.fromGguf(p));
                else if (name.equals("sotu6M-F32.gguf")) all.add(Tokenizer.fromGguf(p));
            }
        }
        return all;
    }

    @Test
    void completionTextContinuesThePromptOnEveryTokenizer() throws IOException {
        List<Tokenizer> tokenizers = allTokenizers();
        assertThat(tokenizers).hasSizeGreaterThanOrEqualTo(18);   // 6 tokenizer.json, 11 llama.cpp vocabularies, sotu6M's GGUF
        for (Tokenizer t : tokenizers) {
            int[] ids = t.encode(TEXT);
            String whole = t.decode(ids);
            int compared = 0;
            for (int k = 1; k < ids.length; k++) {
                int[] prompt = Arrays.copyOf(ids, k);
                String promptText = t.decode(prompt);
                if (!whole.startsWith(promptText)) continue;   // the prompt ends inside a character (its decode ends in U+FFFD)
                String expected = whole.substring(promptText.length());
                IncrementalDetokenizer d = t.newDetokenizer();
                d.seed(prompt);
                StringBuilder streamed = new StringBuilder();
                StringBuilder peeked = new StringBuilder();
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                for (int i = k; i < ids.length; i++) {
                    String peek = d.peek(ids[i]);
                    bytes.writeBytes(d.peekBytes(ids[i]));
                    String pushed = d.push(ids[i]);
                    assertThat(peek).as("%s at %d: peek == push", t, i).isEqualTo(pushed);
                    streamed.append(pushed);
                    peeked.append(peek);
                }
                streamed.append(d.flush());
                assertThat(streamed.toString()).as("%s, prompt of %d tokens", t, k).isEqualTo(expected);
                assertThat(peeked.toString()).as("%s, prompt of %d tokens", t, k).isEqualTo(expected);
                assertThat(new String(bytes.toByteArray(), StandardCharsets.UTF_8)).as("%s, bytes after %d tokens", t, k).isEqualTo(expected);
                compared++;
            }
            assertThat(compared).as("%s: cuts compared", t).isGreaterThan(ids.length / 2);
        }
    }

    @Test
    void firstGeneratedWordKeepsItsSpace() {
        for (Tokenizer t : List.of(TestTokenizers.stories260K(), TestTokenizers.llama2(), TestTokenizers.llama3(), TestTokenizers.phi2())) {
            int[] prompt = t.encode("Once upon a");
            int[] time = t.encode(" time", false);
            if (t == TestTokenizers.stories260K() || t == TestTokenizers.llama2()) time = Arrays.copyOfRange(t.encode("Once upon a time"), prompt.length, prompt.length + 1);
            IncrementalDetokenizer d = t.newDetokenizer();
            d.seed(prompt);
            assertThat(d.push(time[0]) + d.flush()).as("%s", t).isEqualTo(" time");
        }
    }

    @Test
    void aPromptOfOnlyBosLeavesTheStripToTheCompletion() {
        Tokenizer t = TestTokenizers.llama2();
        int[] ids = t.encode("Hello world");
        IncrementalDetokenizer d = t.newDetokenizer();
        d.seed(new int[] {ids[0]});
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i < ids.length; i++) sb.append(d.push(ids[i]));
        assertThat(sb.append(d.flush()).toString()).isEqualTo("Hello world").isEqualTo(t.decode(ids));
    }

    @Test
    void aPromptEndingInsideACharacterIsCompletedByTheFirstToken() {
        Tokenizer t = TestTokenizers.llama2();
        int[] ids = t.encode("a🦙b");   // BOS, ▁a, four byte tokens, b
        IncrementalDetokenizer d = t.newDetokenizer();
        d.seed(Arrays.copyOf(ids, 4));
        assertThat(d.peek(ids[4])).isEmpty();
        assertThat(d.push(ids[4])).isEmpty();
        assertThat(d.peek(ids[5])).isEqualTo("🦙");
        assertThat(d.peekBytes(ids[5])).hasSize(1);
        assertThat(d.push(ids[5]) + d.push(ids[6]) + d.flush()).isEqualTo("🦙b");
    }
}
