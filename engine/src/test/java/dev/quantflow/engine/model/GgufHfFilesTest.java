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

    @Test
    void aByteLevelVocabularyIsRefusedByName() {
        Path file = SharedData.path("tokenizers/llamacpp-vocab/ggml-vocab-gpt-2.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(file), "no " + file);
        try (GgufFile g = GgufFile.open(file)) {
            assertThatThrownBy(() -> GgufHfFiles.writeTokenizer(g, tmp)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("tokenizer.ggml.model 'gpt2' is not written as tokenizer.json").hasMessageContaining("--format gguf");
        }
    }
}
