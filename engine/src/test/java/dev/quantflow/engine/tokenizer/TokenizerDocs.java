package dev.quantflow.engine.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Replaces the generated table between markers in docs/TOKENIZERS.md. */
final class TokenizerDocs {
    static final String BEGIN = "<!-- llamacpp-vocab-table:begin -->";
    static final String END = "<!-- llamacpp-vocab-table:end -->";

    private TokenizerDocs() {}

    static void writeTable(Path doc, String table) {
        try {
            String text = Files.readString(doc);
            int begin = text.indexOf(BEGIN), end = text.indexOf(END);
            if (begin < 0 || end < begin) throw new IllegalStateException(doc + " has no " + BEGIN + " ... " + END + " section");
            Files.writeString(doc, text.substring(0, begin + BEGIN.length()) + "\n" + table + text.substring(end));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
