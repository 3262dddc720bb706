package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.model.SafetensorsWriter;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Broken model directories: one line on stderr naming the file and the problem, exit 2, no stack trace. */
class BadInputTest {
    static final Path STORIES = SharedData.path("models/stories260K");

    @TempDir
    Path tmp;

    /** A copy of stories260K that a test may break. */
    Path copyOfStories() throws IOException {
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(STORIES)) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        return dir;
    }

    static void assertOneLineError(Cli.Result r, Path file, String problem) {
        assertThat(r.exit()).as("exit code; stderr: %s", r.err()).isEqualTo(2);
        assertThat(r.errLines()).as("stderr").hasSize(1);
        assertThat(r.err()).startsWith("quantflow: ").contains(file.toString()).contains(problem)
                .doesNotContain("\tat ").doesNotContain("Exception");
        assertThat(r.out()).as("stdout").isEmpty();
    }

    @Test
    void missingModelDirectory() {
        Path missing = tmp.resolve("no-such-model");
        assertOneLineError(Cli.run("generate", "--model", missing.toString(), "--prompt", "hi"), missing, "does not exist");
        assertOneLineError(Cli.run("tokenize", "--model", missing.toString(), "--text", "hi"), missing, "does not exist");
    }

    @Test
    void unsupportedArchitecture() throws IOException {
        Path dir = copyOfStories();
        Files.writeString(dir.resolve("config.json"), """
                {"architectures":["GPT2LMHeadModel"],"model_type":"gpt2","n_embd":64,"n_layer":5,"n_head":8,"vocab_size":512}""");
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir.resolve("config.json"), "unsupported architecture 'GPT2LMHeadModel'");
    }

    /** A config key whose math the engine does not do is refused in one line naming the key, never ignored. */
    @Test
    void unsupportedConfigKeys() throws IOException {
        Path dir = copyOfStories();
        String config = Files.readString(dir.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), config.replace("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}"));
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir.resolve("config.json"), "rope_scaling type 'yarn' is not supported");
        Files.writeString(dir.resolve("config.json"), config.replace("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu_pytorch_tanh\""));
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir.resolve("config.json"), "hidden_act 'gelu_pytorch_tanh' is not supported");
        Files.writeString(dir.resolve("config.json"), config.replace("\"mlp_bias\": false", "\"mlp_bias\": true"));
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir, "config.json gives model.layers.0.mlp.gate_proj a bias (mlp_bias true");
    }

    @Test
    void configThatIsNotJson() throws IOException {
        Path dir = copyOfStories();
        Files.writeString(dir.resolve("config.json"), "{\"hidden_size\": 64,\n \"oops\n");
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir.resolve("config.json"), "not valid JSON");
    }

    @Test
    void truncatedSafetensors() throws IOException {
        Path dir = copyOfStories();
        Path weights = dir.resolve("model.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), weights, "truncated");
    }

    @Test
    void safetensorsShorterThanItsHeaderLength() throws IOException {
        Path dir = copyOfStories();
        Path weights = dir.resolve("model.safetensors");
        Files.write(weights, new byte[] {1, 2, 3});
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), weights, "truncated safetensors file");
    }

    @Test
    void corruptSafetensorsHeader() throws IOException {
        Path dir = copyOfStories();
        Path weights = dir.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        // the header length field says more than the file holds
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40);
        Files.write(weights, bytes);
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), weights, "corrupt safetensors header");

        // the header is not JSON
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 64);
        for (int i = 8; i < 72; i++) bytes[i] = (byte) 0xFF;
        Files.write(weights, bytes);
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), weights, "header is not valid JSON");

        // JSON, but not a tensor directory
        byte[] notAnObject = "[1, 2, 3]                                                       ".getBytes();
        System.arraycopy(notAnObject, 0, bytes, 8, 64);
        Files.write(weights, bytes);
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), weights, "header is not a JSON object");
    }

    @Test
    void missingTensor() throws IOException {
        Path dir = copyOfStories();
        // a valid safetensors file holding only the final norm
        new SafetensorsWriter().addFloats("model.norm.weight", new long[] {64}, new float[64])
                .write(dir.resolve("model.safetensors"));
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir, "no tensor model.embed_tokens.weight");
    }

    @Test
    void tokenizerOfAnUnknownType() throws IOException {
        Path dir = copyOfStories();
        Files.writeString(dir.resolve("tokenizer.json"), """
                {"version":"1.0","added_tokens":[],"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0.0],["a",-1.0]]}}""");
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir.resolve("tokenizer.json"), "Unigram");
        assertOneLineError(Cli.run("tokenize", "--model", dir.toString(), "--text", "a"), dir.resolve("tokenizer.json"), "Unigram");
    }

    @Test
    void tokenizerThatIsNotJson() throws IOException {
        Path dir = copyOfStories();
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\",\n");
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir.resolve("tokenizer.json"), "JSON");
    }

    @Test
    void missingTokenizer() throws IOException {
        Path dir = copyOfStories();
        Files.delete(dir.resolve("tokenizer.json"));
        assertOneLineError(Cli.run("generate", "--model", dir.toString()), dir.resolve("tokenizer.json"), "not found");
    }

    @Test
    void badArgumentsAreOneLineToo() {
        Cli.Result r = Cli.run("generate", "--model", STORIES.toString(), "--max-tokens", "lots");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.errLines()).hasSize(1);
        assertThat(r.err()).contains("--max-tokens").contains("lots");
        Cli.Result neg = Cli.run("generate", "--model", STORIES.toString(), "--max-tokens", "-1");
        assertThat(neg.exit()).isEqualTo(2);
        assertThat(neg.errLines()).containsExactly("quantflow: --max-tokens: max_tokens must be at least 1, got -1");
        Cli.Result unknown = Cli.run("generate", "--frobnicate");
        assertThat(unknown.exit()).isEqualTo(2);
        assertThat(unknown.errLines()).hasSize(1);
        assertThat(unknown.err()).contains("--frobnicate");
    }

    /** A cluster seed (or bootstrap) on a single-JVM serve would join nothing: refused before anything binds, never ignored. */
    @Test
    void clusterFlagsWithoutTheFrontendRoleAreRefused() {
        for (String[] flags : new String[][] {{"--cluster-seed", "127.0.0.1:25520"}, {"--role", "single", "--cluster-seed", "127.0.0.1:25520"},
                {"--cluster-bootstrap"}}) {
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("serve", "--model", STORIES.toString(), "--port", "0", "--grpc-port", "-1"));
            args.addAll(java.util.List.of(flags));
            Cli.Result r = Cli.run(args.toArray(String[]::new));
            assertThat(r.exit()).as("exit code for %s; stderr: %s", args, r.err()).isEqualTo(2);
            assertThat(r.errLines()).as("stderr").hasSize(1);
            assertThat(r.err()).startsWith("quantflow: ").contains("needs --role frontend").contains(flags[flags.length - 1].startsWith("--") ? flags[flags.length - 1] : "--cluster-seed")
                    .doesNotContain("Exception");
            assertThat(r.out()).as("stdout (nothing served)").isEmpty();
        }
    }
}
