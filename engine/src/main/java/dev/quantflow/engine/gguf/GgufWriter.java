package dev.quantflow.engine.gguf;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Writes a GGUF v3 file: header, metadata key/values, tensor directory, then the tensor data, each
 * tensor at an offset aligned to general.alignment (32). Tensor bytes are produced one tensor at a
 * time while writing (a supplier per tensor), so a model need not be held twice in memory.
 *
 * <p>Metadata types follow llama.cpp's converter: counts and ids as UINT32, floats as FLOAT32,
 * token types as an INT32 array.
 */
public final class GgufWriter {
    private static final int ALIGNMENT = 32;

    private record Value(GgufValueType type, GgufValueType elementType, Object value) {}

    private record Tensor(String name, GgmlType type, long[] dims, Supplier<byte[]> data) {
        long byteSize() {
            long n = 1;
            for (long d : dims) n = Math.multiplyExact(n, d);
            return type.byteSize(n);
        }
    }

    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();

    public GgufWriter putString(String key, String v) {
        return put(key, new Value(GgufValueType.STRING, null, v));
    }

    /** A non-negative count or id, stored as UINT32 as llama.cpp does. */
    public GgufWriter putUint32(String key, long v) {
        if (v < 0 || v > 0xFFFFFFFFL) throw new IllegalArgumentException(key + " = " + v + " does not fit a uint32");
        return put(key, new Value(GgufValueType.UINT32, null, v));
    }

    public GgufWriter putFloat(String key, float v) {
        return put(key, new Value(GgufValueType.FLOAT32, null, v));
    }

    public GgufWriter putBool(String key, boolean v) {
        return put(key, new Value(GgufValueType.BOOL, null, v));
    }

    public GgufWriter putStrings(String key, List<String> v) {
        return put(key, new Value(GgufValueType.ARRAY, GgufValueType.STRING, List.copyOf(v)));
    }

    public GgufWriter putFloats(String key, float[] v) {
        return put(key, new Value(GgufValueType.ARRAY, GgufValueType.FLOAT32, v.clone()));
    }

    public GgufWriter putInts(String key, int[] v) {
        return put(key, new Value(GgufValueType.ARRAY, GgufValueType.INT32, v.clone()));
    }

    private GgufWriter put(String key, Value v) {
        if (metadata.put(key, v) != null) throw new IllegalArgumentException("metadata " + key + " set twice");
        return this;
    }

    /**
     * A tensor: dims in ggml order (dims[0] is the row length), data its little-endian bytes in
     * the type's block layout, asked for when the file is written.
     */
    public GgufWriter tensor(String name, GgmlType type, long[] dims, Supplier<byte[]> data) {
        if (dims.length < 1 || dims[0] % type.blockSize != 0)
            throw new IllegalArgumentException("tensor " + name + ": row length " + (dims.length == 0 ? "missing" : dims[0]) + " is not whole " + type + " blocks of " + type.blockSize);
        for (Tensor t : tensors) if (t.name.equals(name)) throw new IllegalArgumentException("tensor " + name + " added twice");
        tensors.add(new Tensor(name, type, dims.clone(), data));
        return this;
    }

    public void write(Path file) {
        try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
            Out out = new Out(os);
            out.i32(0x46554747).i32(3).i64(tensors.size()).i64(metadata.size());
            for (Map.Entry<String, Value> e : metadata.entrySet()) {
                out.str(e.getKey());
                Value v = e.getValue();
                out.i32(v.type.ordinal());
                if (v.type == GgufValueType.ARRAY) array(out, v);
                else scalar(out, v.type, v.value);
            }
            long offset = 0;
            for (Tensor t : tensors) {
                out.str(t.name).i32(t.dims.length);
                for (long d : t.dims) out.i64(d);
                out.i32(t.type.code).i64(offset);
                offset = align(offset + t.byteSize());
            }
            out.pad(align(out.written));
            long dataStart = out.written;
            offset = 0;
            for (Tensor t : tensors) {
                out.pad(dataStart + offset);
                byte[] bytes = t.data.get();
                if (bytes.length != t.byteSize()) throw new IllegalStateException("tensor " + t.name + " has " + bytes.length + " bytes, its type and dims need " + t.byteSize());
                out.bytes(bytes);
                offset = align(offset + t.byteSize());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static long align(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    private static void array(Out out, Value v) throws IOException {
        out.i32(v.elementType.ordinal());
        switch (v.value) {
            case List<?> list -> {
                out.i64(list.size());
                for (Object o : list) out.str((String) o);
            }
            case float[] f -> {
                out.i64(f.length);
                for (float x : f) out.f32(x);
            }
            case int[] a -> {
                out.i64(a.length);
                for (int x : a) out.i32(x);
            }
            default -> throw new IllegalStateException(v.value.getClass().toString());
        }
    }

    private static void scalar(Out out, GgufValueType type, Object v) throws IOException {
        switch (type) {
            case STRING -> out.str((String) v);
            case UINT32 -> out.i32((int) (long) (Long) v);
            case FLOAT32 -> out.f32((Float) v);
            case BOOL -> out.bytes(new byte[] {(byte) ((Boolean) v ? 1 : 0)});
            default -> throw new IllegalStateException(type.toString());
        }
    }

    /** Little-endian output that counts what it has written. */
    private static final class Out {
        private final OutputStream os;
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        long written;

        Out(OutputStream os) {
            this.os = os;
        }

        private Out flushScratch(int n) throws IOException {
            os.write(scratch.array(), 0, n);
            scratch.clear();
            written += n;
            return this;
        }

        Out i32(int v) throws IOException {
            scratch.putInt(v);
            return flushScratch(4);
        }

        Out i64(long v) throws IOException {
            scratch.putLong(v);
            return flushScratch(8);
        }

        Out f32(float v) throws IOException {
            scratch.putFloat(v);
            return flushScratch(4);
        }

        Out bytes(byte[] b) throws IOException {
            os.write(b);
            written += b.length;
            return this;
        }

        Out str(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return i64(b.length).bytes(b);
        }

        void pad(long to) throws IOException {
            while (written < to) {
                os.write(0);
                written++;
            }
        }
    }
}
