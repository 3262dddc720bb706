package dev.quantflow.engine.llama;

import static dev.quantflow.engine.llama.StageSteps.ints;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.sample.Sampler;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every Llama-family variant the HF loader accepts, against an independent float64 implementation
 * (src/test/python/llama_family_reference.py, written from transformers' modeling code) on
 * random-weight checkpoints that the reference writes itself: greedy ids equal for 40 tokens on
 * each prompt and the top-5 logits of every step within 1e-4 relative. The variants whose
 * config keys change the math (sliding windows, RoPE scaling) are also run with the key removed,
 * to show the check would catch a loader that ignored it.
 */
class LlamaFamilyVariantsTest {
    private static final Path PYTHON = Path.of("/usr/bin/python3");
    private static final Path SCRIPT = Path.of("src/test/python/llama_family_reference.py");
    private static final double TOLERANCE = 1e-4;
    private static final List<String> VARIANTS = List.of("llama2", "llama31-rope-llama3-gqa4", "llama-rope-linear", "llama-rope-dynamic",
            "llama32-head-dim", "llama-attention-mlp-bias", "qwen2-bias-tied-gqa3", "qwen2-window-layers", "mistral-window-gqa8",
            "smollm-odd-dims", "llama3-bf16", "llama-f16", "llama-sharded");
    private static final Map<String, String> TABLE = new TreeMap<>();

    @TempDir
    static Path tmp;

    @BeforeAll
    static void needsNumpy() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(PYTHON) && run(List.of(PYTHON.toString(), "-c", "import numpy")).ok(),
                "the float64 reference needs /usr/bin/python3 with numpy (apt-get install python3-numpy)");
    }

    static Stream<String> variants() {
        return VARIANTS.stream();
    }

    /** The step-by-step comparison of the engine with one variant's expected.json. */
    record Outcome(boolean greedyExact, double maxRelError, String firstMismatch) {}

    @ParameterizedTest
    @MethodSource("variants")
    void greedyAndTop5LogitsMatchTheFloat64Reference(String variant) throws Exception {
        Path dir = generate(variant);
        Outcome o = compare(dir);
        synchronized (TABLE) {
            TABLE.put(variant, "| " + variant + " | " + (o.greedyExact() ? "yes" : "NO") + " | " + String.format(Locale.ROOT, "%.2e", o.maxRelError()) + " |");
        }
        assertThat(o.firstMismatch()).as(variant).isNull();
        assertThat(o.greedyExact()).isTrue();
        assertThat(o.maxRelError()).isLessThanOrEqualTo(TOLERANCE);
    }

    /**
     * A prompt prefilled in chunks of 4 (keys of earlier chunks come from the cache, windows reach
     * across chunk boundaries) gives the same result; not for dynamic RoPE, whose frequencies depend
     * on the length each call reaches (HF prefills in one call).
     */
    @ParameterizedTest
    @MethodSource("variants")
    void chunkedPrefillGivesTheSameResult(String variant) throws Exception {
        Assumptions.assumeFalse(variant.contains("dynamic"), "dynamic RoPE: chunked prefill rotates early chunks with a shorter length");
        Outcome o = compare(generate(variant), 4);
        assertThat(o.firstMismatch()).as(variant).isNull();
    }

    /**
     * All prompts of a variant as one batch (their prefills in one step, then one decode row each
     * per step): each sequence still gets its own window and its own dynamic RoPE length, so each
     * matches the reference run alone.
     */
    @ParameterizedTest
    @MethodSource("variants")
    void sequencesBatchedTogetherEachMatchTheReference(String variant) throws Exception {
        Path dir = generate(variant);
        JsonNode cases = new ObjectMapper().readTree(dir.resolve("expected.json").toFile()).path("cases");
        int n = cases.size();
        try (LlamaModel model = LlamaModel.open(dir)) {
            LlamaStage stage = model.full(LinearFactory.DENSE);
            LlamaConfig c = model.config();
            F32KvCache cache = new F32KvCache(c.numLayers(), 8 * n, 16, c.numHeads(), c.numKvHeads(), c.headDim());
            BlockAllocator blocks = new BlockAllocator(8 * n);
            int[][] prompts = new int[n][], greedy = new int[n][], tables = new int[n][];
            for (int s = 0; s < n; s++) {
                prompts[s] = ints(cases.get(s).path("prompt"));
                greedy[s] = ints(cases.get(s).path("greedy"));
                tables[s] = blocks.ensure(new int[0], prompts[s].length + greedy[s].length, 16);
            }
            for (int i = 0; i < greedy[0].length; i++) {
                int rows = 0;
                for (int s = 0; s < n; s++) rows += i == 0 ? prompts[s].length : 1;
                int[] tokens = new int[rows], pos = new int[rows], selected = new int[n];
                int[][] rowTables = new int[rows][];
                int r = 0;
                for (int s = 0; s < n; s++) {
                    int[] in = i == 0 ? prompts[s] : new int[] {greedy[s][i - 1]};
                    int start = i == 0 ? 0 : prompts[s].length + i - 1;
                    for (int t = 0; t < in.length; t++, r++) {
                        tokens[r] = in[t];
                        pos[r] = start + t;
                        rowTables[r] = tables[s];
                    }
                    selected[s] = r - 1;
                }
                float[] logits = stage.forward(null, new BatchRows(tokens, pos, rowTables), selected, cache);
                for (int s = 0; s < n; s++) {
                    JsonNode step = cases.get(s).path("steps").get(i);
                    for (JsonNode t : step.path("top5")) {
                        double want = t.get(1).asDouble(), got = logits[s * c.vocabSize() + t.get(0).asInt()];
                        assertThat(Math.abs(got - want) / Math.abs(want)).as("%s sequence %d step %d id %d", variant, s, i, t.get(0).asInt())
                                .isLessThanOrEqualTo(TOLERANCE);
                    }
                    assertThat(Sampler.argmax(logits, s * c.vocabSize(), c.vocabSize())).as("%s sequence %d step %d", variant, s, i)
                            .isEqualTo(greedy[s][i]);
                }
            }
        }
    }

    @Test
    void theReferenceAndThisTestListTheSameVariants() throws Exception {
        Result list = run(List.of(PYTHON.toString(), SCRIPT.toString(), "list"));
        assertThat(list.err()).isEmpty();
        assertThat(list.out().strip().lines().toList()).isEqualTo(VARIANTS);
    }

    /** With the key that changes the math taken out of config.json, the same checkpoints must fail the check. */
    @ParameterizedTest
    @MethodSource("keysThatMatter")
    void removingAKeyThatChangesTheMathBreaksTheMatch(String variant, String key) throws Exception {
        Path dir = generate(variant);
        Path edited = copyWithConfig(dir, variant + "-without-" + key, c -> {
            if (key.equals("use_sliding_window")) c.put(key, false);
            else c.putNull(key);
        });
        Outcome o = compare(edited);
        assertThat(o.firstMismatch()).as("%s without %s", variant, key).isNotNull();
        assertThat(!o.greedyExact() || o.maxRelError() > 100 * TOLERANCE).isTrue();
    }

    static Stream<Arguments> keysThatMatter() {
        return Stream.of(
                Arguments.of("mistral-window-gqa8", "sliding_window"),
                Arguments.of("qwen2-window-layers", "use_sliding_window"),
                Arguments.of("llama-rope-dynamic", "rope_scaling"),
                Arguments.of("llama31-rope-llama3-gqa4", "rope_scaling"),
                Arguments.of("llama-rope-linear", "rope_scaling"));
    }

    @Test
    void biasesThatConfigJsonDoesNotAskForAreRefused() throws Exception {
        Path qwen = copyWithConfig(generate("qwen2-bias-tied-gqa3"), "qwen2-as-llama", c -> {
            c.putArray("architectures").add("LlamaForCausalLM");
            c.put("model_type", "llama");
        });
        assertThatThrownBy(() -> LlamaModel.open(qwen).full(LinearFactory.DENSE)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("the checkpoint has model.layers.0.self_attn.q_proj.bias but config.json gives that layer none (attention_bias false");
        Path llama = copyWithConfig(generate("llama-attention-mlp-bias"), "llama-bias-off", c -> c.put("mlp_bias", false));
        assertThatThrownBy(() -> LlamaModel.open(llama).full(LinearFactory.DENSE)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("model.layers.0.mlp.gate_proj.bias but config.json gives that layer none (mlp_bias false");
        Path missing = copyWithConfig(generate("llama2"), "llama2-o-bias", c -> c.put("attention_bias", true));
        assertThatThrownBy(() -> LlamaModel.open(missing).full(LinearFactory.DENSE)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("config.json gives model.layers.0.self_attn.q_proj a bias (attention_bias true for LlamaForCausalLM) but the checkpoint has no tensor model.layers.0.self_attn.q_proj.bias");
        Path untied = copyWithConfig(generate("llama32-head-dim"), "untied-without-head", c -> c.put("tie_word_embeddings", false));
        assertThatThrownBy(() -> LlamaModel.open(untied).full(LinearFactory.DENSE)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("tie_word_embeddings false but the checkpoint has no tensor lm_head.weight");
    }

    @AfterAll
    static void writeTable() throws IOException {
        if (TABLE.isEmpty()) return;
        String table = "| variant | greedy exact | max top-5 logit rel. error |\n|---|---|---|\n" + String.join("\n", TABLE.values()) + "\n";
        System.out.println(table);
        Files.createDirectories(Path.of("target"));
        Files.writeString(Path.of("target", "llama-family-variants.md"), table);
    }

    /** Runs the engine (prefill of the prompt, then one token per step, fp32 KV cache) along the reference's greedy path. */
    static Outcome compare(Path dir) throws IOException {
        return compare(dir, Integer.MAX_VALUE);
    }

    /** As compare(dir), the prompt prefilled in steps of at most chunk tokens (as the scheduler splits a long prompt). */
    static Outcome compare(Path dir, int chunk) throws IOException {
        JsonNode expected = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
        double maxRel = 0;
        boolean exact = true;
        String mismatch = null;
        try (LlamaModel model = LlamaModel.open(dir)) {
            LlamaStage stage = model.full(LinearFactory.DENSE);
            LlamaConfig c = model.config();
            for (JsonNode cs : expected.path("cases")) {
                int[] prompt = ints(cs.path("prompt"));
                int[] greedy = ints(cs.path("greedy"));
                F32KvCache cache = new F32KvCache(c.numLayers(), 8, 16, c.numHeads(), c.numKvHeads(), c.headDim());
                int[] table = new BlockAllocator(8).ensure(new int[0], prompt.length + greedy.length, 16);
                float[] logits = null;
                for (int at = 0; at < prompt.length; at += chunk)
                    logits = StageSteps.forward(stage, cache, table, Arrays.copyOfRange(prompt, at, Math.min(prompt.length, at + chunk)), at);
                for (int i = 0; i < greedy.length; i++) {
                    JsonNode step = cs.path("steps").get(i);
                    for (JsonNode t : step.path("top5")) {
                        double want = t.get(1).asDouble(), got = logits[t.get(0).asInt()];
                        double rel = Math.abs(got - want) / Math.abs(want);
                        maxRel = Math.max(maxRel, rel);
                        if (rel > TOLERANCE && mismatch == null)
                            mismatch = "prompt of " + prompt.length + ", step " + i + ": logit of id " + t.get(0).asInt() + " is " + got + ", reference " + want;
                    }
                    int argmax = Sampler.argmax(logits, 0, c.vocabSize());
                    if (argmax != greedy[i]) {
                        exact = false;
                        if (mismatch == null) mismatch = "prompt of " + prompt.length + ", step " + i + ": greedy id " + argmax + ", reference " + greedy[i]
                                + " (reference top-1/top-2 margin " + step.path("margin").asDouble() + ")";
                    }
                    if (i + 1 < greedy.length)
                        logits = StageSteps.forward(stage, cache, table, new int[] {greedy[i]}, prompt.length + i);
                }
            }
        }
        return new Outcome(exact, maxRel, mismatch);
    }

    /** The variant's checkpoint and expected.json, written by the float64 reference (once per test class). */
    static synchronized Path generate(String variant) throws Exception {
        Path dir = tmp.resolve(variant);
        if (Files.isRegularFile(dir.resolve("expected.json"))) return dir;
        Result r = run(List.of(PYTHON.toString(), SCRIPT.toString(), variant, dir.toString(), SharedData.path("models/stories260K").toString()));
        assertThat(r.ok()).as("reference for %s: %s", variant, r.err()).isTrue();
        return dir;
    }

    private static Path copyWithConfig(Path dir, String name, Consumer<ObjectNode> edit) throws IOException {
        Path out = tmp.resolve(name);
        Files.createDirectories(out);
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) Files.createSymbolicLink(out.resolve(f.getFileName()), f.toAbsolutePath());
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(dir.resolve("config.json").toFile());
        edit.accept(config);
        Files.delete(out.resolve("config.json"));
        json.writeValue(out.resolve("config.json").toFile(), config);
        return out;
    }

    record Result(boolean ok, String out, String err) {}

    private static Result run(List<String> command) throws Exception {
        Path stdout = Files.createTempFile("reference", ".out"), stderr = Files.createTempFile("reference", ".err");
        try {
            Process p = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(false, "", "timed out: " + command);
            }
            return new Result(p.exitValue() == 0, Files.readString(stdout, StandardCharsets.UTF_8), Files.readString(stderr, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(stdout);
            Files.deleteIfExists(stderr);
        }
    }
}
