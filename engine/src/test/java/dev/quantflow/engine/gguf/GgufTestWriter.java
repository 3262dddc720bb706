package dev.quantflow.engine.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A minimal GGUF v3 writer for tests: string/int/float/bool/array metadata and raw tensors. */
final class GgufTestWriter {
    private record Tensor(String name, long[] dims, GgmlType type, byte[] data) {}

    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private int alignment = 32;

    GgufTestWriter put(String key, Object value) {
        metadata.put(key, value);
        if (key.equals("general.alignment")) alignment = (Integer) value;
        return this;
    }

    GgufTestWriter tensor(String name, GgmlType type, byte[] data, long... dims) {
        tensors.add(new Tensor(name, dims, type, data));
        return this;
    }

    /** The header and tensor directory, padded to the start of the data section. */
    private Out header(List<Long> offsets) {
        Out out = new Out();
        out.i32(0x46554747).i32(3).i64(tensors.size()).i64(metadata.size());
        metadata.forEach((k, v) -> {
            out.str(k);
            value(out, v, true);
        });
        long offset = 0;
        for (Tensor t : tensors) {
            out.str(t.name).i32(t.dims.length);
            for (long d : t.dims) out.i64(d);
            out.i32(t.type.code).i64(offset);
            offsets.add(offset);
            offset = align(offset + declaredSize(t));
        }
        out.padTo(align(out.size()));
        return out;
    }

    private static long declaredSize(Tensor t) {
        long n = 1;
        for (long d : t.dims) n *= d;
        return t.type.byteSize(n);
    }

    byte[] toBytes() {
        List<Long> offsets = new ArrayList<>();
        Out out = header(offsets);
        long dataStart = out.size();
        for (int i = 0; i < tensors.size(); i++) {
            out.padTo(dataStart + offsets.get(i));
            out.bytes(tensors.get(i).data);
            out.padTo(dataStart + offsets.get(i) + declaredSize(tensors.get(i)));
        }
        return out.toByteArray();
    }

    Path write(Path file) throws IOException {
        Files.write(file, toBytes());
        return file;
    }

    /** Writes only the given bytes of each tensor at its offset; the rest of the file stays a hole. */
    Path writeSparse(Path file) throws IOException {
        List<Long> offsets = new ArrayList<>();
        byte[] header = header(offsets).toByteArray();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(ByteBuffer.wrap(header), 0);
            long end = header.length;
            for (int i = 0; i < tensors.size(); i++) {
                long at = header.length + offsets.get(i);
                ch.write(ByteBuffer.wrap(tensors.get(i).data), at);
                end = at + declaredSize(tensors.get(i));
            }
            if (ch.size() < end) ch.write(ByteBuffer.wrap(new byte[1]), end - 1);
        }
        return file;
    }

    private long align(long n) {
        return (n + alignment - 1) / alignment * alignment;
    }

    private static void value(Out out, Object v, boolean withType) {
        switch (v) {
            case String s -> { if (withType) out.i32(8); out.str(s); }
            case Integer i -> { if (withType) out.i32(5); out.i32(i); }
            case Long l -> { if (withType) out.i32(11); out.i64(l); }
            case Float f -> { if (withType) out.i32(6); out.f32(f); }
            case Double d -> { if (withType) out.i32(12); out.f64(d); }
            case Boolean b -> { if (withType) out.i32(7); out.bytes(new byte[] {(byte) (b ? 1 : 0)}); }
            case Short s -> { if (withType) out.i32(3); out.i16(s); }
            case Byte b -> { if (withType) out.i32(1); out.bytes(new byte[] {b}); }
            case List<?> list -> {
                out.i32(9);
                Object first = list.isEmpty() ? "" : list.getFirst();
                out.i32(switch (first) {
                    case String s -> 8;
                    case Integer i -> 5;
                    case Long l -> 11;
                    case Float f -> 6;
                    case Double d -> 12;
                    case Boolean b -> 7;
                    case Short s -> 3;
                    case Byte b -> 1;
                    default -> throw new IllegalArgumentException(first.getClass().toString());
                });
                out.i64(list.size());
                for (Object o : list) value(out, o, false);
            }
            default -> throw new IllegalArgumentException(v.getClass().toString());
        }
    }

    private static final class Out extends ByteArrayOutputStream {
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        private Out put(int n) {
            write(scratch.array(), 0, n);
            scratch.clear();
            return this;
        }

        Out i16(short v) { scratch.putShort(v); return put(2); }
        Out i32(int v) { scratch.putInt(v); return put(4); }
        Out i64(long v) { scratch.putLong(v); return put(8); }
        Out f32(float v) { scratch.putFloat(v); return put(4); }
        Out f64(double v) { scratch.putDouble(v); return put(8); }
        Out bytes(byte[] b) { write(b, 0, b.length); return this; }

        Out str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return i64(b.length).bytes(b);
        }

        Out padTo(long n) {
            while (size() < n) write(0);
            return this;
        }
    }
}
