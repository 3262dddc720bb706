package dev.quantflow.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * decode(encode(s)) == s and streaming detokenization == decode, on every eval text in
 * shared/data (whole files, cut into chunks of lines so that chunk starts exercise the
 * leading-space handling), for a SentencePiece-style and two byte-level tokenizer.json files.
 */
class RoundTripTest {
    private static final int LINES_PER_CHUNK = 8;

    private static List<String> chunksOfAllEvalTexts() {
        try (Stream<Path> files = Files.list(SharedData.path("data"))) {
            List<String> chunks = new ArrayList<>();
            for (Path file : files.filter(p -> p.toString().endsWith(".txt")).sorted().toList()) {
                String[] lines = Files.readString(file).split("(?<=\n)");
                for (int i = 0; i < lines.length; i += LINES_PER_CHUNK) {
                    chunks.add(String.join("", Arrays.copyOfRange(lines, i, Math.min(lines.length, i + LINES_PER_CHUNK))));
                }
            }
            assertThat(String.join("", chunks).length()).isGreaterThan(2_000_000);
            return chunks;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void roundTrip(Tokenizer tokenizer) {
        for (String chunk : chunksOfAllEvalTexts()) {
            int[] ids = tokenizer.encode(chunk);
            String decoded = tokenizer.decode(ids);
            String expected = withoutHiddenTokens(tokenizer, chunk);
            if (!decoded.equals(expected)) assertThat(decoded).as("round trip").isEqualTo(expected);

            IncrementalDetokenizer detokenizer = tokenizer.newDetokenizer();
            StringBuilder streamed = new StringBuilder();
            for (int id : ids) {
                String piece = detokenizer.push(id);
                if (piece.indexOf('\uFFFD') >= 0) assertThat(piece).as("no broken UTF-8 mid-stream").doesNotContain("\uFFFD");
                streamed.append(piece);
            }
            streamed.append(detokenizer.flush());
            if (!streamed.toString().equals(decoded)) assertThat(streamed.toString()).as("streamed == decode").isEqualTo(decoded);
        }
    }

    /** BOS/EOS written literally in a text (tinystories_sample has "<|endoftext|>") encode to BOS/EOS, which decode does not render. */
    private static String withoutHiddenTokens(Tokenizer tokenizer, String text) {
        Set<Integer> hidden = new HashSet<>(tokenizer.eosTokenIds());
        tokenizer.bosTokenId().ifPresent(hidden::add);
        for (int id : hidden) text = text.replace(tokenizer.tokenText(id), "");
        return text;
    }

    @Test
    void llama2() {
        roundTrip(TestTokenizers.llama2());
    }

    @Test
    void llama3() {
        roundTrip(TestTokenizers.llama3());
    }

    @Test
    void phi2() {
        roundTrip(TestTokenizers.phi2());
    }

    @Test
    void sotu6M() {
        roundTrip(TestTokenizers.sotu6M());
    }
}
