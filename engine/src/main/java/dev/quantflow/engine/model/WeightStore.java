package dev.quantflow.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.BiFunction;
import java.util.stream.Stream;

/**
 * All tensors of a model: a Hugging Face checkpoint directory (model.safetensors, or shards listed
 * by model.safetensors.index.json, or any *.safetensors) or a GGUF file (its tensors under Hugging
 * Face names, see {@link GgufSource}). Memory-mapped; close() unmaps.
 */
public final class WeightStore implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private GgufFile gguf;   // the mapped GGUF file this store owns, or null
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final Path source;
    // Tensors made from the mapping rather than viewed in it (a GGUF file's q/k rows in Hugging Face
    // order), made when first read, each in an arena of its own so that release() frees it once its
    // reader has packed a copy: kept for the store's life they were 105 MiB of a 1.1B Q8_0 model's RSS.
    // Until made (and after a release) the tensors map holds the mapped source in their place.
    private final Map<String, Derived> derived = new LinkedHashMap<>();
    private final Map<String, Arena> made = new LinkedHashMap<>();

    private record Derived(Tensor source, BiFunction<Tensor, Arena, Tensor> make) {}

    private WeightStore(Path source) {
        this.source = source;
    }

    /** The weights of a Hugging Face model directory or a GGUF file. */
    public static WeightStore open(Path dir) {
        if (GgufFile.isGguf(dir)) return openGguf(dir);
        WeightStore store = new WeightStore(dir);
        try {
            Map<String, Path> fileOf = new LinkedHashMap<>();
            for (Path file : shardFiles(dir)) {
                SafetensorsFile f = SafetensorsFile.open(file, store.arena);
                for (String name : f.tensors().keySet()) {
                    Path before = fileOf.put(name, file);
                    if (before != null) throw new ModelLoadException(file, "tensor " + name + " is also in " + before.getFileName());
                }
                store.tensors.putAll(f.tensors());
                store.metadata.putAll(f.metadata());
            }
            checkIndex(dir, fileOf);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
        return store;
    }

    private static WeightStore openGguf(Path file) {
        WeightStore store = new WeightStore(file);
        try {
            store.gguf = GgufFile.open(file);
            LlamaConfig c = GgufSource.config(store.gguf);
            store.tensors.putAll(GgufSource.tensors(store.gguf));
            store.tensors.forEach((name, t) -> {
                if (GgufSource.permuted(c, name)) store.derived.put(name, new Derived(t, (mapped, arena) -> GgufSource.huggingFaceRows(mapped, c, arena)));
            });
            store.metadata.put("format", "gguf");
        } catch (GgufFormatException e) {
            store.close();
            throw new ModelLoadException(file, e.getMessage(), e);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
        return store;
    }

    /** Whether the tensors come from a GGUF file (block types run as they are stored). */
    public boolean isGguf() {
        return "gguf".equals(metadata.get("format"));
    }

    /** Bytes of the stored tensors this store maps (a GGUF file: every tensor's data, as the file holds it). */
    public long fileTensorBytes() {
        if (gguf != null) return gguf.tensors().values().stream().mapToLong(t -> t.byteSize()).sum();
        return tensors.values().stream().mapToLong(t -> t.data().byteSize()).sum();
    }

    /** With shards, every tensor the index names must be in the shard it names. */
    private static void checkIndex(Path dir, Map<String, Path> fileOf) {
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(dir.resolve("model.safetensors")) || !Files.isRegularFile(index)) return;
        for (Map.Entry<String, JsonNode> e : readWeightMap(index).properties()) {
            Path actual = fileOf.get(e.getKey());
            if (actual == null || !actual.getFileName().toString().equals(e.getValue().asText()))
                throw new ModelLoadException(index, "names tensor " + e.getKey() + " in " + e.getValue().asText()
                        + (actual == null ? ", but no shard has it" : ", but it is in " + actual.getFileName()));
        }
    }

    private static JsonNode readWeightMap(Path index) {
        JsonNode map;
        try {
            map = new ObjectMapper().readTree(index.toFile()).path("weight_map");
        } catch (IOException e) {
            throw new ModelLoadException(index, "not valid JSON: " + firstLine(e.getMessage()));
        }
        if (!map.isObject() || map.isEmpty()) throw new ModelLoadException(index, "has no weight_map");
        return map;
    }

    static Iterable<Path> shardFiles(Path dir) {
        Path single = dir.resolve("model.safetensors");
        if (Files.isRegularFile(single)) return List.of(single);
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) {
            JsonNode map = readWeightMap(index);
            TreeSet<String> names = new TreeSet<>();
            map.fields().forEachRemaining(e -> names.add(e.getValue().asText()));
            List<Path> files = new ArrayList<>();
            for (String n : names) {
                Path p = dir.resolve(n);
                if (!p.normalize().startsWith(dir.normalize())) throw new ModelLoadException(index, "names shard " + n + " outside the model directory");
                if (!Files.isRegularFile(p)) throw new ModelLoadException(index, "names shard " + n + " which does not exist");
                files.add(p);
            }
            return files;
        }
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
            if (files.isEmpty()) throw new ModelLoadException(dir, "no model.safetensors (or shards with an index) in this directory");
            return files;
        } catch (IOException e) {
            throw new ModelLoadException(dir, "cannot list: " + e.getMessage());
        }
    }

    static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** The checkpoint directory the tensors come from (for messages). */
    public Path source() {
        return source;
    }

    public synchronized Optional<Tensor> find(String name) {
        return Optional.ofNullable(live(name));
    }

    public Tensor get(String name) {
        return find(name).orElseThrow(() -> new IllegalArgumentException("missing tensor " + name));
    }

    /** All tensors (derived ones made now, see {@link #release}). */
    public synchronized Map<String, Tensor> tensors() {
        for (String name : derived.keySet()) live(name);
        return tensors;
    }

    /** Tensor name as it is read: a derived tensor is made if it is not in memory. */
    private Tensor live(String name) {
        Derived d = derived.get(name);
        if (d == null || made.containsKey(name)) return tensors.get(name);
        Arena a = Arena.ofShared();
        Tensor t = d.make().apply(d.source(), a);
        made.put(name, a);
        tensors.put(name, t);
        return t;
    }

    /**
     * The caller has copied tensor name into memory of its own and reads it no more: memory this
     * store made for it (a GGUF file's q/k rows put in Hugging Face order) is freed; a later read
     * makes it again. Mapped tensors are left as they are (their readers unload the pages).
     */
    public synchronized void release(String name) {
        Arena a = made.remove(name);
        if (a == null) return;
        tensors.put(name, derived.get(name).source());
        a.close();
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * A view of this store with some tensors replaced or added (heap tensors after a
     * function-preserving transform); the view shares the mapping, so close the original last.
     */
    public WeightStore withReplaced(Map<String, Tensor> replaced) {
        WeightStore view = new WeightStore(source);
        view.tensors.putAll(tensors);
        view.tensors.putAll(replaced);
        derived.forEach((name, d) -> {   // the view makes its own when read (this store may release its copies)
            if (!replaced.containsKey(name)) {
                view.derived.put(name, d);
                view.tensors.put(name, d.source());
            }
        });
        view.metadata.putAll(metadata);
        return view;
    }

    /**
     * A view with every tensor as F32: block types (Q8_0, Q4_K, ...) decoded once through
     * TensorDecoder, F16/BF16 widened, F32 shared. The view is an fp32 source (isGguf() false), as
     * quantize takes a GGUF file; close this store after the view.
     */
    public WeightStore decodedToF32() {
        Map<String, Tensor> decoded = new LinkedHashMap<>();
        for (Tensor t : tensors().values())
            if (t.dtype() != DType.F32) decoded.put(t.name(), new Tensor(t.name(), DType.F32, t.shape(), MemorySegment.ofArray(t.toFloatArray())));
        WeightStore view = withReplaced(decoded);
        view.metadata.put("format", "gguf decoded to f32");
        return view;
    }

    @Override
    public synchronized void close() {
        try {
            made.values().forEach(Arena::close);
            made.clear();
            arena.close();
        } finally {
            if (gguf != null) gguf.close();
        }
    }
}
