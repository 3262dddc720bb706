package dev.quantflow.engine.model;

import dev.quantflow.engine.progress.Progress;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a .safetensors file without holding it in memory: declare every tensor first (the header
 * needs all offsets), then stream each tensor's bytes in declaration order.
 */
public final class SafetensorsWriter {
    /** Produces a tensor's bytes in order into the buffer handed to it (called until done). */
    @FunctionalInterface
    public interface Filler {
        void fill(ByteBuffer out, long byteOffset);
    }

    private record Entry(String name, DType dtype, long[] shape, long bytes, Filler filler) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public SafetensorsWriter add(String name, DType dtype, long[] shape, Filler filler) {
        long n = 1;
        for (long d : shape) n *= d;
        entries.add(new Entry(name, dtype, shape, n * dtype.bytes, filler));
        return this;
    }

    public SafetensorsWriter addFloats(String name, long[] shape, float[] data) {
        return add(name, DType.F32, shape, (buf, off) -> {
            int from = (int) (off / 4);
            int n = Math.min(buf.remaining() / 4, data.length - from);
            buf.asFloatBuffer().put(data, from, n);
            buf.position(buf.position() + n * 4);
        });
    }

    public SafetensorsWriter addBytes(String name, DType dtype, long[] shape, byte[] data) {
        return add(name, dtype, shape, (buf, off) -> {
            int n = (int) Math.min(buf.remaining(), data.length - off);
            buf.put(data, (int) off, n);
        });
    }

    public void write(Path file) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode header = om.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = header.putObject(e.name);
            t.put("dtype", e.dtype.name());
            var shape = t.putArray("shape");
            for (long d : e.shape) shape.add(d);
            t.putArray("data_offsets").add(offset).add(offset + e.bytes);
            offset += e.bytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - json.length % 8) % 8;   // keep tensor data 8-byte aligned
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer head = ByteBuffer.allocate(8 + json.length + pad).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(json.length + pad).put(json);
            for (int i = 0; i < pad; i++) head.put((byte) ' ');
            ch.write(head.flip());
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            Progress progress = Progress.current();
            long written = 0;
            progress.update("writing " + file.getFileName(), 0, Math.max(1, offset), "bytes");
            for (Entry e : entries) {
                long done = 0;
                while (done < e.bytes) {
                    buf.clear();
                    buf.limit((int) Math.min(buf.capacity(), e.bytes - done));
                    int before = buf.position();
                    e.filler.fill(buf, done);
                    int wrote = buf.position() - before;
                    if (wrote <= 0) throw new IllegalStateException("filler for " + e.name + " produced no bytes");
                    buf.flip();
                    while (buf.hasRemaining()) ch.write(buf);
                    done += wrote;
                    written += wrote;
                    progress.update("writing " + file.getFileName(), written, Math.max(1, offset), "bytes");
                }
            }
        } catch (IOException ex) {
            throw new ModelLoadException(file, "cannot write: " + ex.getMessage());
        }
    }
}
