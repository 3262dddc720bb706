package dev.quantflow.engine.llama;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.SafetensorsWriter;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The same trained model stored other ways Hugging Face checkpoints come: sharded with an index, F16. */
class CheckpointFormatsTest {
    static final Path STORIES = SharedData.path("models/stories260K");

    @TempDir
    Path tmp;

    /** stories260K's tensors rewritten as dtype into shards files (named as transformers names them), plus its config. */
    static void rewrite(Path dst, DType dtype, int shards) throws Exception {
        Files.createDirectories(dst);
        Files.copy(STORIES.resolve("config.json"), dst.resolve("config.json"));
        try (WeightStore w = WeightStore.open(STORIES)) {
            List<Tensor> all = new ArrayList<>(w.tensors().values());
            ObjectNode index = new ObjectMapper().createObjectNode();
            index.putObject("metadata").put("total_size", all.stream().mapToLong(t -> t.numel() * dtype.bytes).sum());
            ObjectNode map = index.putObject("weight_map");
            for (int s = 0; s < shards; s++) {
                String name = shards == 1 ? "model.safetensors" : "model-%05d-of-%05d.safetensors".formatted(s + 1, shards);
                SafetensorsWriter out = new SafetensorsWriter().metadata("format", "pt");
                for (Tensor t : all.subList(all.size() * s / shards, all.size() * (s + 1) / shards)) {
                    out.addBytes(t.name(), dtype, t.shape(), encode(t.toFloatArray(), dtype));
                    map.put(t.name(), name);
                }
                out.write(dst.resolve(name));
            }
            if (shards > 1) Files.writeString(dst.resolve("model.safetensors.index.json"), index.toPrettyString());
        }
    }

    static byte[] encode(float[] v, DType dtype) {
        ByteBuffer b = ByteBuffer.allocate(v.length * dtype.bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            switch (dtype) {
                case F32 -> b.putFloat(f);
                case F16 -> b.putShort(Float.floatToFloat16(f));
                default -> throw new IllegalArgumentException(dtype.name());
            }
        }
        return b.array();
    }

    /** Logits of every position of a prompt, prefilled in one batch. */
    static float[] allLogits(Path dir, int[] prompt) {
        LlamaConfig c = LlamaConfig.load(dir);
        try (WeightStore w = WeightStore.open(dir)) {
            LlamaStage m = new LlamaStage(c, w, 0, c.numLayers(), LinearFactory.DENSE);
            F32KvCache cache = new F32KvCache(c.numLayers(), 4, 16, c.numHeads(), c.numKvHeads(), c.headDim());
            int[] table = new BlockAllocator(4).ensure(new int[0], prompt.length, 16);
            int[] pos = new int[prompt.length];
            int[][] tables = new int[prompt.length][];
            for (int i = 0; i < prompt.length; i++) { pos[i] = i; tables[i] = table; }
            int[] every = new int[prompt.length];
            for (int i = 0; i < every.length; i++) every[i] = i;
            return m.forward(null, new BatchRows(prompt, pos, tables), every, cache);
        }
    }

    static List<JsonNode> referenceCases(int maxGenerated) throws Exception {
        List<JsonNode> cases = new ArrayList<>();
        for (JsonNode c : new ObjectMapper().readTree(SharedData.path("reference/stories260K-greedy.json").toFile()).path("cases"))
            if (c.path("generated_tokens").size() <= maxGenerated) cases.add(c);
        return cases;
    }

    @Test
    void threeShardsWithAnIndexGiveIdenticalLogits() throws Exception {
        Path sharded = tmp.resolve("sharded");
        rewrite(sharded, DType.F32, 3);
        assertThat(Files.exists(sharded.resolve("model-00003-of-00003.safetensors"))).isTrue();
        assertThat(Files.exists(sharded.resolve("model.safetensors"))).isFalse();
        try (WeightStore w = WeightStore.open(sharded); WeightStore original = WeightStore.open(STORIES)) {
            assertThat(w.tensors().keySet()).containsExactlyInAnyOrderElementsOf(original.tensors().keySet());
        }
        int[] prompt = {1, 403, 407, 261, 378, 432, 383, 286};
        assertThat(allLogits(sharded, prompt)).containsExactly(allLogits(STORIES, prompt));
        JsonNode c = referenceCases(64).get(1);
        assertThat(ReferenceOutputsTest.greedy(sharded, StageSteps.ints(c.path("prompt_tokens")), 60))
                .containsExactly(StageSteps.ints(c.path("generated_tokens")));
    }

    @Test
    void f16WeightsGiveTheReferenceGreedyTokens() throws Exception {
        Path f16 = tmp.resolve("f16");
        rewrite(f16, DType.F16, 1);
        try (WeightStore w = WeightStore.open(f16)) {
            assertThat(w.get("model.layers.0.mlp.down_proj.weight").dtype()).isEqualTo(DType.F16);
        }
        for (JsonNode c : referenceCases(64)) {
            int[] expected = StageSteps.ints(c.path("generated_tokens"));
            assertThat(ReferenceOutputsTest.greedy(f16, StageSteps.ints(c.path("prompt_tokens")), expected.length))
                    .as("f16 '%s'", c.path("prompt").asText()).containsExactly(expected);
        }
    }

    @Test
    void anIndexThatDisagreesWithTheShardsIsRejected() throws Exception {
        Path dir = tmp.resolve("bad-index");
        rewrite(dir, DType.F32, 2);
        Path index = dir.resolve("model.safetensors.index.json");
        ObjectNode json = (ObjectNode) new ObjectMapper().readTree(index.toFile());
        ((ObjectNode) json.path("weight_map")).put("model.norm.weight", "model-00001-of-00002.safetensors");
        Files.writeString(index, json.toString());
        assertThatThrownBy(() -> WeightStore.open(dir)).isInstanceOf(ModelLoadException.class)
                .hasMessage(index + ": names tensor model.norm.weight in model-00001-of-00002.safetensors, but it is in model-00002-of-00002.safetensors");

        ((ObjectNode) json.path("weight_map")).put("model.norm.weight", "model-00003-of-00003.safetensors");
        Files.writeString(index, json.toString());
        assertThatThrownBy(() -> WeightStore.open(dir)).isInstanceOf(ModelLoadException.class)
                .hasMessage(index + ": names shard model-00003-of-00003.safetensors which does not exist");

        Files.writeString(index, "{\"weight_map\": ");
        assertThatThrownBy(() -> WeightStore.open(dir)).isInstanceOf(ModelLoadException.class)
                .hasMessageStartingWith(index + ": not valid JSON").hasMessageNotContaining("\n");
    }

    @Test
    void aTensorInTwoShardsIsRejected() throws Exception {
        Path dir = tmp.resolve("dup");
        rewrite(dir, DType.F32, 2);
        Files.delete(dir.resolve("model.safetensors.index.json"));
        Map<String, float[]> extra = new LinkedHashMap<>();
        extra.put("model.norm.weight", new float[64]);
        SafetensorsWriter w = new SafetensorsWriter();
        extra.forEach((n, v) -> w.addFloats(n, new long[] {v.length}, v));
        w.write(dir.resolve("model-extra.safetensors"));
        assertThatThrownBy(() -> WeightStore.open(dir)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("tensor model.norm.weight is also in");
    }
}
