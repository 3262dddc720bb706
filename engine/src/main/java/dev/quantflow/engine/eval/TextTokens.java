package dev.quantflow.engine.eval;

import dev.quantflow.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A text file as one token stream: documents are separated by blank lines and each is encoded
 * with the tokenizer's special tokens (BOS first), as a model sees a story or paragraph.
 */
public final class TextTokens {
    private TextTokens() {}

    /** The whole file as one text, tokenized once with the tokenizer's special tokens (BOS first), as llama-perplexity reads it. */
    public static int[] whole(Path file, Tokenizer tokenizer) {
        int[] ids = tokenizer.encode(read(file), true);
        if (ids.length == 0) throw new IllegalArgumentException(file + ": no text to tokenize");
        return ids;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such text file");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read text: " + e.getMessage(), e);
        }
    }

    /** At most maxTokens tokens (0 = all) of the file's documents, in order. */
    public static int[] load(Path file, Tokenizer tokenizer, int maxTokens) {
        String text = read(file);
        int[] out = new int[1024];
        int n = 0;
        for (String doc : text.split("\\n\\s*\\n")) {
            String d = doc.strip();
            if (d.isEmpty()) continue;
            int[] ids = tokenizer.encode(d, true);
            if (n + ids.length > out.length) out = Arrays.copyOf(out, Math.max(out.length * 2, n + ids.length));
            System.arraycopy(ids, 0, out, n, ids.length);
            n += ids.length;
            if (maxTokens > 0 && n >= maxTokens) break;
        }
        if (n == 0) throw new IllegalArgumentException(file + ": no text to tokenize");
        return Arrays.copyOf(out, maxTokens > 0 ? Math.min(n, maxTokens) : n);
    }
}
