package dev.quantflow.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Hugging Face files written for a model quantized from a GGUF file, checked against sotu6M's
 * own HF files (from which llama.cpp's converter made sotu6M-F32.gguf): the same merges in the same
 * order, the same vocabulary, the same encodings, the same config.
 */
class GgufHfFilesTest {
    @TempDir
    Path tmp;

    static Path shared(String p) {
        Path path = SharedData.path(p);
        Assumptions.assumeTrue(Files.exists(path), "no " + path);
        return path;
    }

    @Test
    void tokenizerJsonFromTheGgufVocabularyIsSotu6MsOwn() throws Exception {
        Path file = shared("models/sotu6M-gguf/sotu6M-Q8_0.gguf"), hf = shared("models/sotu6M");
        try (GgufFile g = GgufFile.open(file)) {
            GgufHfFiles.writeTokenizer(g, tmp);
        }
        ObjectMapper om = new ObjectMapper();
        JsonNode ours = om.readTree(tmp.resolve("tokenizer.json").toFile()).path("model"), theirs = om.readTree(hf.resolve("tokenizer.json").toFile()).path("model");
        assertThat(ours.path("vocab")).isEqualTo(theirs.path("vocab"));
        List<String> a = new ArrayList<>(), b = new ArrayList<>();
        ours.path("merges").forEach(m -> a.add(m.get(0).asText() + " " + m.get(1).asText()));
        theirs.path("merges").forEach(m -> b.add(m.asText()));
        assertThat(a).hasSize(5586).isEqualTo(b);   // transformers' SentencePieceExtractor order, exactly
        assertThat(ours.path("byte_fallback").asBoolean()).isTrue();
        assertThat(ours.path("unk_token").asText()).isEqualTo("<unk>");

        Files.copy(hf.resolve("config.json"), tmp.resolve("config.json"));
        Tokenizer written = Tokenizer.fromModelDir(tmp), gguf = Tokenizer.fromModelDir(file);
        List<String> lines = Files.readAllLines(shared("data/sotu6M-eval.txt")).stream().filter(l -> !l.isBlank()).limit(300).toList();
        for (String line : lines) assertThat(written.encode(line)).as(line).isEqualTo(gguf.encode(line));
        assertThat(written.encode("The President")[0]).isEqualTo(1);   // BOS from the post-processor
        assertThat(written.decode(written.encode(lines.get(3)))).isEqualTo(lines.get(3));
    }

    @Test
    void configJsonFromTheGgufMetadataLoadsToTheSameConfig() throws Exception {
        Path file = shared("models/sotu6M-gguf/sotu6M-Q4_K_M.gguf");
        LlamaConfig fromFile;
        try (GgufFile g = GgufFile.open(file)) {
            fromFile = GgufSource.config(g);
        }
        assertThat(fromFile.quantizationConfig().path("quant_method").asText()).isEqualTo("gguf");
        LlamaConfig source = fromFile.asFp32Source();
        assertThat(source.quantizationConfig().isMissingNode()).isTrue();
        assertThat(source.architecture()).isEqualTo("LlamaForCausalLM");
        new ObjectMapper().writeValue(tmp.resolve("config.json").toFile(), GgufHfFiles.config(file, source));
        LlamaConfig back = LlamaConfig.load(tmp), hf = LlamaConfig.load(shared("models/sotu6M"));
        assertThat(back).usingRecursiveComparison().isEqualTo(hf);
        assertThat(back).usingRecursiveComparison().isEqualTo(source);
    }

    /**
     * A byte-level vocabulary in a GGUF written here (GgufWriter) from Llama 3's tokenizer.json, as
     * llama.cpp's converter stores one (tokens, token types, "left right" merges, pre llama-bpe):
     * the tokenizer.json written back has Llama 3's vocabulary and merges in order and encodes as
     * Llama 3's own tokenizer.json does.
     */
    @Test
    void byteLevelTokenizerJsonFromAGgufWrittenFromLlama3sVocabulary() throws Exception {
        Path dir = shared("tokenizers/llama3");
        ObjectMapper om = new ObjectMapper();
        JsonNode hf = om.readTree(dir.resolve("tokenizer.json").toFile());
        int n = 0;
        for (JsonNode id : (Iterable<JsonNode>) () -> hf.path("model").path("vocab").elements()) n = Math.max(n, id.asInt() + 1);
        for (JsonNode t : hf.path("added_tokens")) n = Math.max(n, t.path("id").asInt() + 1);
        String[] tokens = new String[n];
        int[] types = new int[n];
        java.util.Arrays.fill(types, 1);   // NORMAL
        hf.path("model").path("vocab").properties().forEach(e -> tokens[e.getValue().asInt()] = e.getKey());
        for (JsonNode t : hf.path("added_tokens")) {
            tokens[t.path("id").asInt()] = t.path("content").asText();
            types[t.path("id").asInt()] = t.path("special").asBoolean() ? 3 : 4;   // CONTROL : USER_DEFINED
        }
        List<String> merges = new ArrayList<>();
        hf.path("model").path("merges").forEach(m -> merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText()));
        Path file = tmp.resolve("llama3-vocab.gguf");
        new dev.quantflow.engine.gguf.GgufWriter().putString("general.architecture", "llama").putUint32("llama.context_length", 8192)
                .putString("tokenizer.ggml.model", "gpt2").putString("tokenizer.ggml.pre", "llama-bpe")
                .putStrings("tokenizer.ggml.tokens", List.of(tokens)).putInts("tokenizer.ggml.token_type", types).putStrings("tokenizer.ggml.merges", merges)
                .putUint32("tokenizer.ggml.bos_token_id", 128000).putUint32("tokenizer.ggml.eos_token_id", 128001).putBool("tokenizer.ggml.add_bos_token", true)
                .write(file);
        Path out = Files.createDirectory(tmp.resolve("hf"));
        try (GgufFile g = GgufFile.open(file)) {
            GgufHfFiles.writeTokenizer(g, out);
        }
        JsonNode ours = om.readTree(out.resolve("tokenizer.json").toFile());
        List<String> written = new ArrayList<>();
        ours.path("model").path("merges").forEach(m -> written.add(m.get(0).asText() + " " + m.get(1).asText()));
        assertThat(written).hasSize(merges.size()).isEqualTo(merges);
        hf.path("model").path("vocab").properties().forEach(e -> assertThat(ours.path("model").path("vocab").path(e.getKey()).asInt(-1)).as(e.getKey()).isEqualTo(e.getValue().asInt()));
        assertThat(ours.path("model").path("ignore_merges").asBoolean()).isTrue();
        assertThat(ours.path("decoder").path("type").asText()).isEqualTo("ByteLevel");

        Tokenizer back = Tokenizer.fromModelDir(out), llama3 = Tokenizer.fromModelDir(dir), gguf = Tokenizer.fromModelDir(file);
        List<String> texts = new ArrayList<>(Files.readAllLines(shared("data/sotu6M-eval.txt")).stream().filter(l -> !l.isBlank()).limit(100).toList());
        texts.addAll(List.of("Hello world", " It's 2026:  naïve café, 日本語!\n\n\tend", "12345 tokens <|begin_of_text|>x<|eot_id|>", ""));
        for (String text : texts) {
            int[] ids = llama3.encode(text, false);
            assertThat(back.encode(text, false)).as(text).containsExactly(ids);
            assertThat(gguf.encode(text, false)).as(text).containsExactly(ids);
            assertThat(back.decode(ids)).as(text).isEqualTo(llama3.decode(ids));
        }
        // BOS from the post-processor, as the file's add_bos_token says (shared/tokenizers/llama3 carries no post-processor BOS)
        assertThat(back.encode("Hello")).containsExactly(128000, 9906).isEqualTo(gguf.encode("Hello"));
    }

    @Test
    void otherVocabularyKindsAreRefusedByName() {
        Path file = SharedData.path("tokenizers/llamacpp-vocab/ggml-vocab-bert-bge.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(file), "no " + file);
        try (GgufFile g = GgufFile.open(file)) {
            assertThatThrownBy(() -> GgufHfFiles.writeTokenizer(g, tmp)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("tokenizer.ggml.model 'bert' is not written as tokenizer.json").hasMessageContaining("--format gguf");
        }
    }
}
