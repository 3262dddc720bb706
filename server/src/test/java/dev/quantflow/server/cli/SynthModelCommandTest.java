package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** synth-model writes a checkpoint that loads and generates, the same bytes for the same seed. */
class SynthModelCommandTest {
    static final String TOKENIZER = SharedData.path("models/stories260K").toString();

    @TempDir
    Path tmp;

    Cli.Result synth(String dtype, long seed, Path out) {
        return Cli.run("synth-model", "--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--intermediate", "96",
                "--vocab", "512", "--max-positions", "128", "--dtype", dtype, "--tokenizer", TOKENIZER, "--seed", Long.toString(seed),
                "--out", out.toString());
    }

    @Test
    void writesALoadableModelThatGenerates() {
        for (String dtype : new String[] {"f32", "bf16"}) {
            Path out = tmp.resolve(dtype);
            Cli.Result w = synth(dtype, 1, out);
            assertThat(w.exit()).as(w.err()).isZero();
            LlamaConfig c = LlamaConfig.load(out);
            assertThat(c.numKvHeads()).isEqualTo(2);
            assertThat(c.maxPositions()).isEqualTo(128);
            try (WeightStore ws = WeightStore.open(out)) {
                assertThat(ws.get("model.layers.1.mlp.down_proj.weight").dtype()).isEqualTo(dtype.equals("f32") ? DType.F32 : DType.BF16);
                assertThat(ws.get("model.layers.1.mlp.down_proj.weight").shape()).containsExactly(64, 96);
            }
            Cli.Result g = Cli.run("generate", "--model", out.toString(), "--prompt", "Hello", "--max-tokens", "8", "--ignore-eos", "--ids");
            assertThat(g.exit()).as(g.err()).isZero();
            assertThat(g.out().trim().split(" ")).hasSize(8);
        }
    }

    @Test
    void sameSeedSameBytes() throws Exception {
        assertThat(synth("bf16", 5, tmp.resolve("a")).exit()).isZero();
        assertThat(synth("bf16", 5, tmp.resolve("b")).exit()).isZero();
        assertThat(synth("bf16", 6, tmp.resolve("c")).exit()).isZero();
        byte[] a = Files.readAllBytes(tmp.resolve("a/model.safetensors"));
        assertThat(Files.readAllBytes(tmp.resolve("b/model.safetensors"))).isEqualTo(a);
        assertThat(Files.readAllBytes(tmp.resolve("c/model.safetensors"))).isNotEqualTo(a);
        assertThat(Files.readString(tmp.resolve("b/config.json"))).isEqualTo(Files.readString(tmp.resolve("a/config.json")));
    }

    @Test
    void aTokenizerDirectoryWithoutTokenizerJsonIsOneLine() {
        Cli.Result r = Cli.run("synth-model", "--hidden", "64", "--layers", "1", "--heads", "4", "--intermediate", "96", "--vocab", "512",
                "--tokenizer", tmp.toString(), "--out", tmp.resolve("x").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.errLines()).hasSize(1);
        assertThat(r.err()).contains(tmp.resolve("tokenizer.json").toString());
    }
}
