package dev.quantflow.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One .safetensors file, memory-mapped: 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and [begin, end) byte offsets, then the raw data. Tensors are views
 * into the mapping (no copy onto the heap), so files of any size work.
 */
public final class SafetensorsFile {
    private final Path path;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    private SafetensorsFile(Path path) {
        this.path = path;
    }

    /** Maps the file into {@code arena}; the tensors live as long as the arena. */
    public static SafetensorsFile open(Path path, Arena arena) {
        SafetensorsFile f = new SafetensorsFile(path);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new ModelLoadException(path, "truncated safetensors file (" + size + " bytes, no header)");
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLen <= 0 || headerLen > 100_000_000L || 8 + headerLen > size)
                throw new ModelLoadException(path, "truncated or corrupt safetensors header (header length " + headerLen + ", file " + size + " bytes)");
            byte[] hb = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            JsonNode header;
            try {
                header = new ObjectMapper().readTree(new String(hb, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new ModelLoadException(path, "safetensors header is not valid JSON");
            }
            if (!header.isObject()) throw new ModelLoadException(path, "safetensors header is not a JSON object");
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    e.getValue().fields().forEachRemaining(m -> f.metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                f.tensors.put(e.getKey(), f.parseTensor(e.getKey(), e.getValue(), all, dataStart, dataLen));
            }
        } catch (IOException e) {
            throw new ModelLoadException(path, "cannot read: " + e.getMessage());
        }
        return f;
    }

    private Tensor parseTensor(String name, JsonNode info, MemorySegment all, long dataStart, long dataLen) {
        DType dtype;
        try {
            dtype = DType.fromSafetensors(info.path("dtype").asText());
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(path, "tensor " + name + ": " + e.getMessage());
        }
        JsonNode shapeNode = info.path("shape");
        if (!shapeNode.isArray()) throw new ModelLoadException(path, "tensor " + name + " has no shape");
        long[] shape = new long[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0 || !shapeNode.get(i).isIntegralNumber()) throw new ModelLoadException(path, "tensor " + name + " has an invalid shape " + shapeNode);
            numel = multiply(name, numel, shape[i]);
        }
        long bytes = multiply(name, numel, dtype.bytes);
        long begin = info.path("data_offsets").path(0).asLong(-1);
        long end = info.path("data_offsets").path(1).asLong(-1);
        if (begin < 0 || end < begin || end - begin != bytes)
            throw new ModelLoadException(path, "tensor " + name + " has inconsistent data_offsets for its shape and dtype");
        if (end > dataLen)
            throw new ModelLoadException(path, "truncated: tensor " + name + " ends at byte " + (dataStart + end) + " but the file has " + (dataStart + dataLen));
        return new Tensor(name, dtype, shape, all.asSlice(dataStart + begin, end - begin));
    }

    private long multiply(String name, long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new ModelLoadException(path, "tensor " + name + " has an impossibly large shape");
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }
}
