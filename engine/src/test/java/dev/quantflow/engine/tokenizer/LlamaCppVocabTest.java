package dev.quantflow.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.model.GgufHfFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * llama.cpp's tokenizer test vectors (encoded without BOS). The required vocabularies must pass
 * every case; all others are reported in a table, which is also written to docs/TOKENIZERS.md when
 * -Dquantflow.tokenizerDocs=PATH is given.
 */
class LlamaCppVocabTest {
    private static final Path DIR = SharedData.path("tokenizers/llamacpp-vocab");
    /** Vocabularies whose .gguf is too large for shared, tested through a matching tokenizer.json. */
    private static final Map<String, String> TOKENIZER_JSON = Map.of(
            "llama-spm", "tokenizers/llama2",
            "llama-bpe", "tokenizers/llama3");

    private static void assertAllPass(Tokenizer tokenizer, String name) {
        LlamaCppVocabCases cases = LlamaCppVocabCases.read(DIR, name);
        assertThat(cases.texts()).hasSizeGreaterThan(40);
        for (int i = 0; i < cases.texts().size(); i++) {
            assertThat(tokenizer.encode(cases.texts().get(i), false))
                    .as("%s case %d: \"%s\"", name, i, cases.texts().get(i))
                    .containsExactly(cases.expected().get(i));
        }
    }

    @Test
    void llamaSpmFromGguf() {
        assertAllPass(TestTokenizers.llamaSpmGguf(), "llama-spm");
    }

    /** What quantize writes beside a model quantized from a GGUF file: tokenizer.json from the file's SentencePiece vocabulary. */
    @Test
    void llamaSpmThroughTheTokenizerJsonWrittenFromItsGguf(@TempDir Path tmp) {
        try (GgufFile g = GgufFile.open(DIR.resolve("ggml-vocab-llama-spm.gguf"))) {
            GgufHfFiles.writeTokenizer(g, tmp);
        }
        assertAllPass(Tokenizer.fromModelDir(tmp), "llama-spm");
    }

    /** The same for the byte-level ("gpt2") vocabularies, one per pre-tokenizer family that has a .gguf here. */
    @ParameterizedTest
    @ValueSource(strings = {"gpt-2", "mpt", "starcoder", "refact", "deepseek-coder", "deepseek-llm", "falcon"})
    void byteLevelThroughTheTokenizerJsonWrittenFromItsGguf(String name, @TempDir Path tmp) throws IOException {
        Path file = DIR.resolve("ggml-vocab-" + name + ".gguf");
        Assumptions.assumeTrue(Files.isRegularFile(file), "no " + file);
        try (GgufFile g = GgufFile.open(file)) {
            GgufHfFiles.writeTokenizer(g, tmp);
        }
        Tokenizer written = Tokenizer.fromModelDir(tmp), gguf = Tokenizer.fromGguf(file);
        assertAllPass(written, name);
        assertThat(written.vocabSize()).isEqualTo(gguf.vocabSize());
        for (String text : LlamaCppVocabCases.read(DIR, name).texts()) {
            int[] ids = gguf.encode(text);
            assertThat(written.encode(text)).as(text).containsExactly(ids);
            assertThat(written.decode(ids)).as(text).isEqualTo(gguf.decode(ids));
        }
    }

    @Test
    void phi3FromGguf() {
        assertAllPass(TestTokenizers.gguf("phi-3"), "phi-3");
    }

    @Test
    void gpt2FromGguf() {
        assertAllPass(TestTokenizers.gpt2Gguf(), "gpt-2");
    }

    @Test
    void llamaSpmFromLlama2TokenizerJson() {
        assertAllPass(TestTokenizers.llama2(), "llama-spm");
    }

    @Test
    void llamaBpeFromLlama3TokenizerJson() {
        assertAllPass(TestTokenizers.llama3(), "llama-bpe");
    }

    record Row(String vocabulary, String source, String result) {}

    /** Every vocabulary with test vectors, from every source we have for it. */
    @Test
    void reportAllVocabularies() throws IOException {
        List<String> names;
        try (Stream<Path> files = Files.list(DIR)) {
            names = files.map(p -> p.getFileName().toString()).filter(f -> f.endsWith(".gguf.inp"))
                    .map(f -> f.substring("ggml-vocab-".length(), f.length() - ".gguf.inp".length())).sorted().toList();
        }
        List<Row> rows = new ArrayList<>();
        for (String name : names) {
            LlamaCppVocabCases cases = LlamaCppVocabCases.read(DIR, name);
            Path gguf = DIR.resolve("ggml-vocab-" + name + ".gguf");
            boolean any = false;
            if (Files.exists(gguf)) {
                rows.add(new Row(name, "ggml-vocab-" + name + ".gguf", result(() -> TestTokenizers.gguf(name), cases)));
                any = true;
            }
            if (TOKENIZER_JSON.containsKey(name)) {
                String dir = TOKENIZER_JSON.get(name);
                rows.add(new Row(name, dir + "/tokenizer.json", result(() -> TestTokenizers.dir(dir), cases)));
                any = true;
            }
            if (!any) rows.add(new Row(name, "-", "not tested: no vocabulary file in shared"));
        }
        String table = toMarkdown(rows);
        System.out.println(table);
        assertThat(rows).extracting(Row::vocabulary).containsAll(List.of("llama-spm", "phi-3", "gpt-2", "llama-bpe"));

        String docs = System.getProperty("quantflow.tokenizerDocs");
        if (docs != null && !docs.isBlank()) TokenizerDocs.writeTable(Path.of(docs), table);
    }

    private interface Loader {
        Tokenizer load();
    }

    private static String result(Loader loader, LlamaCppVocabCases cases) {
        Tokenizer tokenizer;
        try {
            tokenizer = loader.load();
        } catch (TokenizerException e) {
            return "unsupported: " + e.getMessage().replaceFirst("^.*?: ", "");
        }
        int failed = cases.failures(tokenizer).size();
        int total = cases.texts().size();
        return (failed == 0 ? "pass " : "FAIL ") + (total - failed) + "/" + total;
    }

    private static String toMarkdown(List<Row> rows) {
        StringBuilder sb = new StringBuilder("| vocabulary | loaded from | cases passed |\n|---|---|---|\n");
        for (Row r : rows) sb.append("| ").append(r.vocabulary).append(" | ").append(r.source).append(" | ").append(r.result).append(" |\n");
        return sb.toString();
    }

}
