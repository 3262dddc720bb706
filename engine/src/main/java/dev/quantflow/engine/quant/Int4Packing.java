package dev.quantflow.engine.quant;

/**
 * Two 4-bit codes per byte, row by row: element 2i of a row in the low nibble of byte i, element
 * 2i+1 in the high nibble; an odd-length row ends with a half-used byte. Codes are unsigned 0..15.
 */
public final class Int4Packing {
    private Int4Packing() {}

    public static int bytesPerRow(int cols) {
        return (cols + 1) / 2;
    }

    public static byte[] pack(byte[] codes, int rows, int cols) {
        int bpr = bytesPerRow(cols);
        byte[] out = new byte[rows * bpr];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int u = codes[r * cols + c];
                if (u < 0 || u > 15) throw new IllegalArgumentException("int4 code out of 0..15: " + u);
                int b = r * bpr + c / 2;
                out[b] |= (byte) ((c & 1) == 0 ? u : u << 4);
            }
        }
        return out;
    }

    public static byte[] unpack(byte[] packed, int rows, int cols) {
        int bpr = bytesPerRow(cols);
        if (packed.length != rows * bpr) throw new IllegalArgumentException("packed int4 has " + packed.length + " bytes, expected " + rows * bpr);
        byte[] codes = new byte[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int b = packed[r * bpr + c / 2] & 0xFF;
                codes[r * cols + c] = (byte) ((c & 1) == 0 ? b & 0xF : b >>> 4);
            }
        return codes;
    }

    /** The matrix's codes and zero points as unsigned 0..15 (symmetric int4 moves by +8: zero 8). */
    public static QuantizedMatrix toUnsigned(QuantizedMatrix m) {
        if (m.range().bits() != 4) throw new IllegalArgumentException("not an int4 matrix");
        if (!m.range().symmetric()) return m;
        byte[] q = m.q().clone(), z = m.zeros().clone();
        for (int i = 0; i < q.length; i++) q[i] += 8;
        for (int i = 0; i < z.length; i++) z[i] += 8;
        return new QuantizedMatrix(IntRange.INT4_ASYM, m.rows(), m.cols(), m.layout(), q, m.scales(), z);
    }
}
