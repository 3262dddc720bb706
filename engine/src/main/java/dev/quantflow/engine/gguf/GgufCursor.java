package dev.quantflow.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Little-endian sequential reads from a mapped segment; running past the end is a format error. */
final class GgufCursor {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment segment;
    private final Path file;
    private long position;

    GgufCursor(MemorySegment segment, Path file) {
        this.segment = segment;
        this.file = file;
    }

    long position() {
        return position;
    }

    private long advance(long bytes, String what) {
        if (bytes < 0 || position + bytes > segment.byteSize()) {
            throw new GgufFormatException(file, "truncated: needs " + bytes + " bytes for " + what + " at offset "
                    + position + " but the file has " + segment.byteSize() + " bytes");
        }
        long at = position;
        position += bytes;
        return at;
    }

    byte i8(String what) {
        return segment.get(ValueLayout.JAVA_BYTE, advance(1, what));
    }

    short i16(String what) {
        return segment.get(SHORT, advance(2, what));
    }

    int i32(String what) {
        return segment.get(INT, advance(4, what));
    }

    long i64(String what) {
        return segment.get(LONG, advance(8, what));
    }

    float f32(String what) {
        return segment.get(FLOAT, advance(4, what));
    }

    double f64(String what) {
        return segment.get(DOUBLE, advance(8, what));
    }

    /** A count stored as uint64 that must also fit the limits of this reader. */
    long count(String what, long max) {
        long n = i64(what);
        if (n < 0 || n > max) throw new GgufFormatException(file, "implausible " + what + " " + Long.toUnsignedString(n) + " at offset " + (position - 8));
        return n;
    }

    String string(String what) {
        long length = count("length of " + what, Integer.MAX_VALUE - 8);
        long at = advance(length, what);
        byte[] bytes = segment.asSlice(at, length).toArray(ValueLayout.JAVA_BYTE);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
