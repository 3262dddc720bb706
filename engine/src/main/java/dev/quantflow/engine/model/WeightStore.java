package dev.quantflow.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * All tensors of a Hugging Face checkpoint directory: model.safetensors, or shards listed by
 * model.safetensors.index.json (or any *.safetensors). Memory-mapped; close() unmaps.
 */
public final class WeightStore implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    private WeightStore() {}

    public static WeightStore open(Path dir) {
        WeightStore store = new WeightStore();
        try {
            for (Path file : shardFiles(dir)) {
                SafetensorsFile f = SafetensorsFile.open(file, store.arena);
                store.tensors.putAll(f.tensors());
                store.metadata.putAll(f.metadata());
            }
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
        return store;
    }

    static Iterable<Path> shardFiles(Path dir) {
        Path single = dir.resolve("model.safetensors");
        if (Files.isRegularFile(single)) return java.util.List.of(single);
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) {
            JsonNode map;
            try {
                map = new ObjectMapper().readTree(index.toFile()).path("weight_map");
            } catch (IOException e) {
                throw new ModelLoadException(index, "not valid JSON: " + firstLine(e.getMessage()));
            }
            if (!map.isObject() || map.isEmpty()) throw new ModelLoadException(index, "has no weight_map");
            TreeSet<String> names = new TreeSet<>();
            map.fields().forEachRemaining(e -> names.add(e.getValue().asText()));
            java.util.List<Path> files = new java.util.ArrayList<>();
            for (String n : names) {
                Path p = dir.resolve(n);
                if (!Files.isRegularFile(p)) throw new ModelLoadException(index, "names shard " + n + " which does not exist");
                files.add(p);
            }
            return files;
        }
        try (Stream<Path> s = Files.list(dir)) {
            java.util.List<Path> files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
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

    public Optional<Tensor> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("missing tensor " + name);
        return t;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * A view of this store with some tensors replaced or added (heap tensors after a
     * function-preserving transform); the view shares the mapping, so close the original last.
     */
    public WeightStore withReplaced(Map<String, Tensor> replaced) {
        WeightStore view = new WeightStore();
        view.tensors.putAll(tensors);
        view.tensors.putAll(replaced);
        view.metadata.putAll(metadata);
        return view;
    }

    @Override
    public void close() {
        arena.close();
    }
}
