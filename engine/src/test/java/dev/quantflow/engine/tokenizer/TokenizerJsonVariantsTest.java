package dev.quantflow.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tokenizer.json spellings other than the shared files', config fallbacks, and load errors. */
class TokenizerJsonVariantsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> TEXTS = List.of("Once upon a time", " two  spaces", "café 🦙\nnew line", "x", "");

    @TempDir
    Path tmp;

    private static ObjectNode readTokenizerJson(String dir) throws IOException {
        return (ObjectNode) JSON.readTree(SharedData.path(dir + "/tokenizer.json").toFile());
    }

    private Path writeModelDir(String name, ObjectNode tokenizerJson, String... configFiles) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        JSON.writeValue(dir.resolve("tokenizer.json").toFile(), tokenizerJson);
        for (int i = 0; i + 1 < configFiles.length; i += 2) Files.writeString(dir.resolve(configFiles[i]), configFiles[i + 1]);
        return dir;
    }

    @Test
    void metaspacePreTokenizerAndPairMergesEncodeLikeTheLegacyLlamaForm() throws IOException {
        ObjectNode json = readTokenizerJson("models/stories260K");
        json.putNull("normalizer");
        ObjectNode metaspace = json.putObject("pre_tokenizer");
        metaspace.put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "first").put("split", false);
        ArrayNode pairs = JSON.createArrayNode();
        json.path("model").path("merges").forEach(m -> {
            String[] ab = m.asText().split(" ");
            pairs.addArray().add(ab[0]).add(ab[1]);
        });
        ((ObjectNode) json.path("model")).set("merges", pairs);
        Path dir = writeModelDir("metaspace", json, "tokenizer_config.json", Files.readString(SharedData.path("models/stories260K/tokenizer_config.json")));

        Tokenizer modern = Tokenizer.fromModelDir(dir), legacy = TestTokenizers.stories260K();
        for (String text : TEXTS) {
            // Metaspace prepends "▁" only when the text does not already start with one (HF's rule),
            // so a leading space is not doubled as the Prepend normalizer doubles it
            String legacyText = text.startsWith(" ") ? text.substring(1) : text;
            assertThat(modern.encode(text)).as(text).containsExactly(legacy.encode(legacyText));
            assertThat(modern.decode(modern.encode(text))).isEqualTo(legacyText);
        }
    }

    @Test
    void byteLevelPrefixSpaceAndTemplateBos() throws IOException {
        ObjectNode json = readTokenizerJson("tokenizers/phi2");
        ((ObjectNode) json.path("pre_tokenizer")).put("add_prefix_space", true);
        json.set("post_processor", JSON.readTree("""
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [], "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [50256], "tokens": ["<|endoftext|>"]}}}
                """));
        Tokenizer variant = Tokenizer.fromModelDir(writeModelDir("prefix", json));
        Tokenizer phi2 = TestTokenizers.phi2();
        assertThat(variant.encode("Hello world")).startsWith(50256).endsWith(phi2.encode(" Hello world"));
        assertThat(variant.encode("Hello world", false)).containsExactly(phi2.encode(" Hello world"));
    }

    @Test
    void eosComesFromGenerationConfigThenTokenizerConfigThenConfig() throws IOException {
        ObjectNode json = readTokenizerJson("models/stories260K");
        Path both = writeModelDir("generation", json,
                "generation_config.json", "{\"eos_token_id\": [2, 0], \"bos_token_id\": 1}",
                "tokenizer_config.json", "{\"eos_token\": \"<unk>\", \"add_bos_token\": false}");
        Tokenizer t = Tokenizer.fromModelDir(both);
        assertThat(t.eosTokenIds()).containsExactlyInAnyOrder(2, 0);
        assertThat(t.encode("Once")).doesNotContain(1); // add_bos_token false removes the template's BOS

        Path tokenizerConfigOnly = writeModelDir("tokcfg", json, "tokenizer_config.json", "{\"eos_token\": {\"content\": \"</s>\"}}");
        assertThat(Tokenizer.fromModelDir(tokenizerConfigOnly).eosTokenIds()).containsExactly(2);

        Path configOnly = writeModelDir("config", json, "config.json", "{\"eos_token_id\": 2, \"bos_token_id\": 1}");
        Tokenizer fromConfig = Tokenizer.fromModelDir(configOnly);
        assertThat(fromConfig.eosTokenIds()).containsExactly(2);
        assertThat(fromConfig.bosTokenId()).hasValue(1);
        assertThat(fromConfig.encode("Once")).startsWith(1); // post_processor template
    }

    @Test
    void errorsNameTheFileAndTheProblem() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertThatThrownBy(() -> Tokenizer.fromModelDir(empty)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining(empty.resolve("tokenizer.json").toString()).hasMessageContaining("not found");

        Path wordPiece = writeModelDir("wordpiece", (ObjectNode) JSON.readTree("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}"));
        assertThatThrownBy(() -> Tokenizer.fromModelDir(wordPiece)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining(wordPiece.resolve("tokenizer.json").toString()).hasMessageContaining("WordPiece");

        ObjectNode json = readTokenizerJson("models/stories260K");
        json.set("pre_tokenizer", JSON.readTree("{\"type\": \"BertPreTokenizer\"}"));
        Path bert = writeModelDir("bertpre", json);
        assertThatThrownBy(() -> Tokenizer.fromModelDir(bert)).hasMessageContaining("BertPreTokenizer").hasMessageContaining("tokenizer.json");

        Path broken = Files.createDirectories(tmp.resolve("broken"));
        Files.writeString(broken.resolve("tokenizer.json"), "{not json");
        assertThatThrownBy(() -> Tokenizer.fromModelDir(broken)).isInstanceOf(TokenizerException.class).hasMessageContaining("cannot parse JSON");

        Path notGguf = Files.writeString(tmp.resolve("model.gguf"), "hello");
        assertThatThrownBy(() -> Tokenizer.fromGguf(notGguf)).isInstanceOf(TokenizerException.class).hasMessageContaining("model.gguf");

        Path bertGguf = SharedData.path("tokenizers/llamacpp-vocab/ggml-vocab-bert-bge.gguf");
        assertThatThrownBy(() -> Tokenizer.fromGguf(bertGguf)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining("ggml-vocab-bert-bge.gguf").hasMessageContaining("WordPiece");
    }
}
