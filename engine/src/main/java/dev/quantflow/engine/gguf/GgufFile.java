package dev.quantflow.engine.gguf;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A memory-mapped GGUF file (versions 2 and 3): header, metadata key/values, tensor directory, and
 * tensor data as zero-copy {@link MemorySegment} slices of the mapping. Close it to unmap.
 *
 * <p>Metadata values are kept as Java objects: unsigned and signed integers up to 32 bits as
 * {@link Integer} (UINT32 as {@link Long} so it cannot wrap), 64-bit as {@link Long}, floats as
 * {@link Float}/{@link Double}, {@link Boolean}, {@link String}, and arrays as {@link List}.
 */
public final class GgufFile implements AutoCloseable {
    private static final int MAGIC = 0x46554747; // "GGUF" read little-endian
    private static final long DEFAULT_ALIGNMENT = 32;
    private static final long MAX_COUNT = 1L << 31;

    private final Path file;
    private final Arena arena;
    private final MemorySegment mapping;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, GgufTensorInfo> tensors;
    private final long alignment;
    private final long dataStart;

    private GgufFile(Path file, Arena arena, MemorySegment mapping) {
        this.file = file;
        this.arena = arena;
        this.mapping = mapping;
        GgufCursor in = new GgufCursor(mapping, file);
        int magic = in.i32("magic");
        if (magic != MAGIC) throw new GgufFormatException(file, String.format("not a GGUF file (magic 0x%08x)", magic));
        version = in.i32("version");
        if (version != 2 && version != 3) throw new GgufFormatException(file, "unsupported GGUF version " + version + " (supported: 2, 3)");
        long tensorCount = in.count("tensor count", MAX_COUNT);
        long kvCount = in.count("metadata count", MAX_COUNT);

        Map<String, Object> kv = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = in.string("metadata key #" + i);
            GgufValueType type = valueType(in.i32("type of " + key), key);
            kv.put(key, readValue(in, type, key));
        }
        metadata = Collections.unmodifiableMap(kv);

        Map<String, GgufTensorInfo> infos = new LinkedHashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            String name = in.string("tensor name #" + i);
            int nDims = in.i32("dimension count of " + name);
            if (nDims < 1 || nDims > 8) throw new GgufFormatException(file, "tensor " + name + " has " + nDims + " dimensions");
            long[] dims = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                dims[d] = in.i64("dimension of " + name);
                if (dims[d] < 0) throw new GgufFormatException(file, "tensor " + name + " has negative dimension");
            }
            int code = in.i32("type of " + name);
            GgmlType type = GgmlType.fromCode(code);
            if (type == null) throw new GgufFormatException(file, "tensor " + name + " has unknown ggml type " + code);
            long offset = in.i64("offset of " + name);
            GgufTensorInfo info = new GgufTensorInfo(name, dims, type, offset);
            if (dims[0] % type.blockSize != 0) {
                throw new GgufFormatException(file, "tensor " + name + " row length " + dims[0] + " is not a multiple of the " + type + " block size " + type.blockSize);
            }
            if (infos.put(name, info) != null) throw new GgufFormatException(file, "duplicate tensor " + name);
        }
        tensors = Collections.unmodifiableMap(infos);

        alignment = kv.get("general.alignment") instanceof Number n ? n.longValue() : DEFAULT_ALIGNMENT;
        if (alignment <= 0 || Long.bitCount(alignment) != 1) throw new GgufFormatException(file, "general.alignment " + alignment + " is not a power of two");
        dataStart = (in.position() + alignment - 1) / alignment * alignment;
        for (GgufTensorInfo t : tensors.values()) {
            if (t.offset() % alignment != 0) throw new GgufFormatException(file, "tensor " + t.name() + " offset " + t.offset() + " is not aligned to " + alignment);
            long end = dataStart + t.offset() + t.byteSize();
            if (t.offset() < 0 || end > mapping.byteSize()) {
                throw new GgufFormatException(file, "truncated: tensor " + t.name() + " needs bytes up to " + end + " but the file has " + mapping.byteSize());
            }
        }
    }

    /** Whether path is a GGUF file (by its magic, so a .gguf name is not required). */
    public static boolean isGguf(Path path) {
        if (!Files.isRegularFile(path)) return false;
        try (InputStream in = Files.newInputStream(path)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
        } catch (IOException e) {
            return false;
        }
    }

    /** Maps and parses the file. The mapping lives until {@link #close()}. */
    public static GgufFile open(Path file) {
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            return new GgufFile(file, arena, mapping);
        } catch (IOException e) {
            arena.close();
            throw new GgufFormatException(file, "cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private GgufValueType valueType(int code, String key) {
        GgufValueType type = GgufValueType.fromCode(code);
        if (type == null) throw new GgufFormatException(file, "metadata " + key + " has unknown value type " + code);
        return type;
    }

    private Object readValue(GgufCursor in, GgufValueType type, String key) {
        return switch (type) {
            case UINT8 -> Byte.toUnsignedInt(in.i8(key));
            case INT8 -> (int) in.i8(key);
            case UINT16 -> Short.toUnsignedInt(in.i16(key));
            case INT16 -> (int) in.i16(key);
            case UINT32 -> Integer.toUnsignedLong(in.i32(key));
            case INT32 -> in.i32(key);
            case UINT64, INT64 -> in.i64(key);
            case FLOAT32 -> in.f32(key);
            case FLOAT64 -> in.f64(key);
            case BOOL -> {
                byte b = in.i8(key);
                if (b != 0 && b != 1) throw new GgufFormatException(file, "metadata " + key + " has invalid bool " + b);
                yield b == 1;
            }
            case STRING -> in.string(key);
            case ARRAY -> {
                GgufValueType elementType = valueType(in.i32("element type of " + key), key);
                long n = in.count("array length of " + key, MAX_COUNT);
                List<Object> values = new ArrayList<>((int) Math.min(n, 1 << 20));
                for (long i = 0; i < n; i++) values.add(readValue(in, elementType, key));
                yield Collections.unmodifiableList(values);
            }
        };
    }

    public Path path() {
        return file;
    }

    public int version() {
        return version;
    }

    public long alignment() {
        return alignment;
    }

    /** All metadata in file order. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    private <T> T typed(String key, Class<T> type, String typeName) {
        Object v = metadata.get(key);
        if (v == null) throw new GgufFormatException(file, "missing metadata " + key);
        if (!type.isInstance(v)) throw new GgufFormatException(file, "metadata " + key + " is " + v.getClass().getSimpleName() + ", expected " + typeName);
        return type.cast(v);
    }

    public String getString(String key) {
        return typed(key, String.class, "string");
    }

    public Optional<String> findString(String key) {
        return metadata.get(key) instanceof String s ? Optional.of(s) : Optional.empty();
    }

    /** Any integer type that fits an int. */
    public int getInt(String key) {
        long v = getLong(key);
        if (v != (int) v) throw new GgufFormatException(file, "metadata " + key + " = " + v + " does not fit an int");
        return (int) v;
    }

    public long getLong(String key) {
        Number n = typed(key, Number.class, "integer");
        if (n instanceof Float || n instanceof Double) throw new GgufFormatException(file, "metadata " + key + " is a float, expected an integer");
        return n.longValue();
    }

    public Optional<Integer> findInt(String key) {
        return has(key) ? Optional.of(getInt(key)) : Optional.empty();
    }

    public float getFloat(String key) {
        return typed(key, Number.class, "number").floatValue();
    }

    public boolean getBoolean(String key) {
        return typed(key, Boolean.class, "bool");
    }

    public Optional<Boolean> findBoolean(String key) {
        return metadata.get(key) instanceof Boolean b ? Optional.of(b) : Optional.empty();
    }

    public List<?> getArray(String key) {
        return typed(key, List.class, "array");
    }

    public List<String> getStringArray(String key) {
        List<?> list = getArray(key);
        List<String> out = new ArrayList<>(list.size());
        for (Object o : list) {
            if (!(o instanceof String s)) throw new GgufFormatException(file, "metadata " + key + " is not an array of strings");
            out.add(s);
        }
        return out;
    }

    public float[] getFloatArray(String key) {
        List<?> list = getArray(key);
        float[] out = new float[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Number n)) throw new GgufFormatException(file, "metadata " + key + " is not an array of numbers");
            out[i] = n.floatValue();
        }
        return out;
    }

    public int[] getIntArray(String key) {
        List<?> list = getArray(key);
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Number n) || n instanceof Float || n instanceof Double) {
                throw new GgufFormatException(file, "metadata " + key + " is not an array of integers");
            }
            out[i] = Math.toIntExact(n.longValue());
        }
        return out;
    }

    /** Tensor directory in file order. */
    public Map<String, GgufTensorInfo> tensors() {
        return tensors;
    }

    public GgufTensorInfo tensor(String name) {
        GgufTensorInfo t = tensors.get(name);
        if (t == null) throw new GgufFormatException(file, "no tensor named " + name);
        return t;
    }

    /** The tensor's raw bytes, a slice of the mapping (valid until close). */
    public MemorySegment tensorData(String name) {
        GgufTensorInfo t = tensor(name);
        return mapping.asSlice(dataStart + t.offset(), t.byteSize());
    }

    /** Decodes a tensor (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K) into a new float array (row-major, dims[0] fastest). */
    public float[] toFloatArray(String name) {
        GgufTensorInfo t = tensor(name);
        long n = t.elementCount();
        if (n > Integer.MAX_VALUE - 8) throw new GgufFormatException(file, "tensor " + name + " has too many elements for a float[]: " + n);
        try {
            return TensorDecoder.decode(t.type(), tensorData(name), (int) n);
        } catch (UnsupportedOperationException e) {
            throw new GgufFormatException(file, "tensor " + name + ": " + e.getMessage());
        }
    }

    @Override
    public void close() {
        arena.close();
    }

    @Override
    public String toString() {
        return "GgufFile[" + file + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }
}
