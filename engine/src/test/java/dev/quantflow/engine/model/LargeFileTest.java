package dev.quantflow.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.compute.DenseLinear;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A safetensors file over 2 GiB whose tensor data starts beyond the int range: offsets must be
 * long all the way. The file is sparse (a hole of zeros), so it costs no disk and reads fast.
 */
class LargeFileTest {
    static final long PAD = 2_600_000_000L;   // > 2^31

    @TempDir
    Path tmp;

    @Test
    void tensorsBeyondTwoGigabytesAreReadAndMultiplied() throws Exception {
        Path file = tmp.resolve("model.safetensors");
        String header = """
                {"pad":{"dtype":"I8","shape":[%d],"data_offsets":[0,%d]},"w":{"dtype":"F32","shape":[4,8],"data_offsets":[%d,%d]}}"""
                .formatted(PAD, PAD, PAD, PAD + 128);
        byte[] json = (header + " ".repeat((8 - header.length() % 8) % 8)).getBytes(StandardCharsets.UTF_8);
        float[] w = new float[32];
        for (int i = 0; i < 32; i++) w[i] = i - 15.5f;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.SPARSE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, json.length), 0);
            ch.write(ByteBuffer.wrap(json), 8);
            ByteBuffer data = ByteBuffer.allocate(128).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : w) data.putFloat(f);
            ch.write(data.flip(), 8 + json.length + PAD);
        }
        assertThat(Files.size(file)).isGreaterThan(1L << 31);
        try (Arena arena = Arena.ofShared()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            Tensor pad = f.tensors().get("pad"), t = f.tensors().get("w");
            assertThat(pad.numel()).isEqualTo(PAD);
            assertThat(pad.getFloat(PAD - 1)).isZero();
            assertThat(t.toFloatArray()).containsExactly(w);
            float[] y = new float[4];
            new DenseLinear(t, null).forward(new float[] {1, 1, 1, 1, 1, 1, 1, 1}, 1, y);
            for (int o = 0; o < 4; o++) assertThat(y[o]).isEqualTo(8 * o * 8 + 28 - 15.5f * 8);
        }
    }
}
