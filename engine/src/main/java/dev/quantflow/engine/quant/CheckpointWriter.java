package dev.quantflow.engine.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.GgufHfFiles;
import dev.quantflow.engine.model.GgufSource;
import dev.quantflow.engine.model.SafetensorsWriter;
import dev.quantflow.engine.model.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;

/**
 * Writes a model directory: the source's tokenizer and config files copied, config.json with an
 * optional quantization_config, and one model.safetensors with the given tensors.
 */
public final class CheckpointWriter {
    private final SafetensorsWriter st = new SafetensorsWriter();

    public CheckpointWriter add(Tensor t) {
        MemorySegment data = t.data();
        st.add(t.name(), t.dtype(), t.shape(), (buf, off) -> {
            int n = (int) Math.min(buf.remaining(), data.byteSize() - off);
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, off, MemorySegment.ofBuffer(buf).asSlice(buf.position()), ValueLayout.JAVA_BYTE, 0, n);
            buf.position(buf.position() + n);
        });
        return this;
    }

    public CheckpointWriter addFloats(String name, long[] shape, float[] v) {
        st.addFloats(name, shape, v);
        return this;
    }

    public CheckpointWriter addBytes(String name, DType dtype, long[] shape, byte[] v) {
        st.addBytes(name, dtype, shape, v);
        return this;
    }

    public CheckpointWriter addInts(String name, long[] shape, int[] v) {
        byte[] b = new byte[v.length * 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().put(v);
        return addBytes(name, DType.I32, shape, b);
    }

    public CheckpointWriter addHalfs(String name, long[] shape, float[] v) {
        byte[] b = new byte[v.length * 2];
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) bb.putShort(Float.floatToFloat16(f));
        return addBytes(name, DType.F16, shape, b);
    }

    /** Writes out/ (created); quantizationConfig may be null (then none is written, and any old one dropped). */
    public void write(Path source, Path out, JsonNode quantizationConfig) {
        try {
            Files.createDirectories(out);
            if (Files.isSameFile(source, out)) throw new IllegalArgumentException("--out must differ from the source model directory");
            ObjectMapper om = new ObjectMapper();
            ObjectNode config;
            if (GgufFile.isGguf(source)) {   // a GGUF source has no HF files to copy: written from its metadata
                try (GgufFile g = GgufFile.open(source)) {
                    config = GgufHfFiles.config(source, GgufSource.config(g).asFp32Source());
                    GgufHfFiles.writeTokenizer(g, out);
                }
            } else {
                try (Stream<Path> files = Files.list(source)) {
                    for (Path f : files.toList()) {
                        String n = f.getFileName().toString();
                        if (n.endsWith(".safetensors") || n.equals("model.safetensors.index.json") || n.equals("config.json") || !Files.isRegularFile(f)) continue;
                        Files.copy(f, out.resolve(n), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
                config = (ObjectNode) om.readTree(source.resolve("config.json").toFile());
            }
            config.remove("quantization_config");
            if (quantizationConfig != null) config.set("quantization_config", quantizationConfig);
            om.writerWithDefaultPrettyPrinter().writeValue(out.resolve("config.json").toFile(), config);
            st.write(out.resolve("model.safetensors"));
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot write the model: " + e.getMessage(), e);
        }
    }
}
