package dev.quantflow.engine.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** llama.cpp's tokenizer test vectors: NAME.gguf.inp (strings) and NAME.gguf.out (expected ids). */
record LlamaCppVocabCases(String name, List<String> texts, List<int[]> expected) {
    private static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    static LlamaCppVocabCases read(Path dir, String name) {
        try {
            String inp = Files.readString(dir.resolve("ggml-vocab-" + name + ".gguf.inp"));
            List<String> outLines = Files.readAllLines(dir.resolve("ggml-vocab-" + name + ".gguf.out"));
            // every string is followed by the separator; the last one may lack its final newline
            if (inp.endsWith(SEPARATOR.stripTrailing())) inp = inp + "\n";
            List<String> texts = new ArrayList<>(Arrays.asList(inp.split(SEPARATOR, -1)));
            if (texts.getLast().isEmpty()) texts.removeLast();
            List<int[]> expected = new ArrayList<>();
            for (String line : outLines.subList(0, texts.size())) {
                String trimmed = line.strip();
                expected.add(trimmed.isEmpty() ? new int[0] : Arrays.stream(trimmed.split("\\s+")).mapToInt(Integer::parseInt).toArray());
            }
            return new LlamaCppVocabCases(name, texts, expected);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Indexes of the cases the tokenizer gets wrong (encoding without BOS, as llama.cpp's test does). */
    List<Integer> failures(Tokenizer tokenizer) {
        List<Integer> failed = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            if (!Arrays.equals(tokenizer.encode(texts.get(i), false), expected.get(i))) failed.add(i);
        }
        return failed;
    }
}
