package dev.quantflow.gpu.verify;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.CudaKernels.Path;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.MemoryCategory;
import dev.quantflow.gpu.WeightPacking.Int4Groups;
import dev.quantflow.gpu.WeightPacking.Int8Channel;
import dev.quantflow.gpu.WeightPacking.Int8Groups;
import dev.quantflow.gpu.linear.CudaDenseLinear;
import dev.quantflow.gpu.linear.CudaLinear;
import dev.quantflow.gpu.linear.CudaLlmInt8Linear;
import dev.quantflow.gpu.linear.CudaW4A16Linear;
import dev.quantflow.gpu.linear.CudaW8A8Linear;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs the real kernels (through CudaKernels and the CudaLinear classes the engine uses) on one
 * card. Every output buffer is poisoned before the launch (a NaN bit pattern for floats, -128 for
 * int8, which no quantizer emits) and checked after it, so an unwritten element cannot pass.
 */
public final class CudaKernelOps implements KernelOps {
    static final int POISON = 0x7fbadbad;
    private final CudaContext ctx;
    private final CudaKernels k;
    private final List<DeviceBuffer> live = new ArrayList<>();

    public CudaKernelOps(int device) {
        this.ctx = CudaContext.open(device);
        this.k = new CudaKernels(ctx);
    }

    @Override
    public String name() {
        return "cuda:" + ctx.device().ordinal() + " (" + ctx.device().name() + ")";
    }

    private DeviceBuffer buf(long bytes) {
        DeviceBuffer b = ctx.allocate(Math.max(bytes, 4), MemoryCategory.WORKSPACE);
        live.add(b);
        return b;
    }

    private DeviceBuffer in(float[] a) {
        DeviceBuffer b = buf(4L * a.length);
        if (a.length > 0) b.upload(a, a.length);
        return b;
    }

    private DeviceBuffer in(int[] a) {
        DeviceBuffer b = buf(4L * a.length);
        if (a.length > 0) b.upload(a, a.length);
        return b;
    }

    private DeviceBuffer outF(long n) {
        DeviceBuffer b = buf(4 * n);
        b.fill32(POISON);
        return b;
    }

    private DeviceBuffer outB(long n) {
        DeviceBuffer b = buf(n);
        b.fill8((byte) 0x80);
        return b;
    }

    private float[] getF(DeviceBuffer b, int n, String what) {
        ctx.synchronize();
        float[] a = new float[n];
        b.download(a, n);
        int unwritten = 0;
        for (float v : a) if (Float.floatToRawIntBits(v) == POISON) unwritten++;
        if (unwritten > 0) throw new IllegalStateException(what + ": " + unwritten + " of " + n + " outputs never written");
        return a;
    }

    private byte[] getB(DeviceBuffer b, int n, String what) {
        ctx.synchronize();
        byte[] a = new byte[n];
        b.download(a, n);
        int unwritten = 0;
        for (byte v : a) if (v == (byte) 0x80) unwritten++;
        if (unwritten > 0) throw new IllegalStateException(what + ": " + unwritten + " of " + n + " int8 outputs never written (or -128)");
        return a;
    }

    private void release() {
        live.forEach(DeviceBuffer::close);
        live.clear();
    }

    @Override
    public Int8Rows quantizeRows(float[] x, int M, int K) {
        try {
            DeviceBuffer q = outB((long) M * K), s = outF(M);
            k.quantizeRows(in(x), q, s, M, K);
            return new Int8Rows(getB(q, M * K, "qf_quantize_rows q"), getF(s, M, "qf_quantize_rows scales"));
        } finally {
            release();
        }
    }

    @Override
    public Int8Rows quantizeGroups(float[] x, int M, int K, int G) {
        try {
            DeviceBuffer q = outB((long) M * K), s = outF((long) M * (K / G));
            k.quantizeGroups(in(x), q, s, M, K, G);
            return new Int8Rows(getB(q, M * K, "qf_quantize_groups q"), getF(s, M * (K / G), "qf_quantize_groups scales"));
        } finally {
            release();
        }
    }

    @Override
    public int[] outlierColumns(float[] x, int M, int K, float threshold) {
        try {
            DeviceBuffer flags = buf(4L * ((K + 31) / 32)), cols = buf(4L * K), count = buf(4);
            flags.fill32(0);
            count.fill32(-1);
            k.outlierFlags(in(x), M, K, threshold, flags);
            k.outlierCompact(flags, K, cols, count);
            ctx.synchronize();
            int[] n = new int[1];
            count.download(n, 1);
            if (n[0] < 0 || n[0] > K) throw new IllegalStateException("qf_outlier_compact wrote count " + n[0]);
            int[] c = new int[n[0]];
            if (n[0] > 0) cols.download(c, n[0]);
            int[] left = new int[(K + 31) / 32];
            flags.download(left, left.length);
            for (int w : left) if (w != 0) throw new IllegalStateException("qf_outlier_compact left flags set");
            return c;
        } finally {
            release();
        }
    }

    @Override
    public Masked quantizeMasked(float[] x, int M, int K, int[] cols) {
        try {
            DeviceBuffer q = outB((long) M * K), s = outF(M), xo = outF((long) M * K);
            k.quantizeMasked(in(x), M, K, in(cols), in(new int[] {cols.length}), q, s, xo);
            float[] full = new float[M * K];
            ctx.synchronize();
            xo.download(full, M * K);
            float[] values = new float[M * cols.length];
            for (int m = 0; m < M; m++)
                for (int j = 0; j < cols.length; j++) {
                    values[m * cols.length + j] = full[m * K + j];
                    if (Float.floatToRawIntBits(full[m * K + j]) == POISON) throw new IllegalStateException("qf_quantize_masked: outlier value unwritten");
                }
            return new Masked(getB(q, M * K, "qf_quantize_masked q"), getF(s, M, "qf_quantize_masked scales"), values);
        } finally {
            release();
        }
    }

    private float[] linear(CudaLinear layer, float[] x, int M, Path path, String what) {
        try (layer) {
            DeviceBuffer y = outF((long) M * layer.outFeatures());
            layer.run(in(x), M, y, path);
            return getF(y, M * layer.outFeatures(), what + " " + path);
        } finally {
            release();
        }
    }

    @Override
    public float[] llmInt8(float[] x, int M, Int8Channel w, float[] bias, float threshold, Path path) {
        return linear(new CudaLlmInt8Linear(k, w, bias, threshold), x, M, path, "llm-int8");
    }

    @Override
    public float[] w8a8(float[] x, int M, Int8Groups w, float[] bias, Path path) {
        return linear(new CudaW8A8Linear(k, w, bias), x, M, path, "w8a8");
    }

    @Override
    public float[] dense(float[] x, int M, DenseWeights w, float[] bias, Path path) {
        return linear(new CudaDenseLinear(k, tensor(w), bias), x, M, path, "dense " + w.type());
    }

    private static Tensor tensor(DenseWeights w) {
        DType t = switch (w.type()) {
            case F32 -> DType.F32;
            case BF16 -> DType.BF16;
            case F16 -> DType.F16;
        };
        return new Tensor("check", t, new long[] {w.out(), w.in()}, MemorySegment.ofArray(w.raw()));
    }

    @Override
    public float[] w4a16(float[] x, int M, Int4Groups w, float[] bias, Path path) {
        return linear(new CudaW4A16Linear(k, w, bias), x, M, path, "w4a16");
    }

    @Override
    public float[] embed(DenseWeights table, int[] ids) {
        try {
            DeviceBuffer t = buf(table.raw().length);
            t.upload(table.raw(), table.raw().length);
            DeviceBuffer out = outF((long) ids.length * table.in());
            k.embed(table.type(), t, in(ids), out, ids.length, table.in());
            return getF(out, ids.length * table.in(), "embed " + table.type());
        } finally {
            release();
        }
    }

    @Override
    public float[] rmsnorm(float[] x, float[] weight, int M, int D, float eps) {
        try {
            DeviceBuffer out = outF((long) M * D);
            k.rmsnorm(in(x), in(weight), out, M, D, eps);
            return getF(out, M * D, "qf_rmsnorm");
        } finally {
            release();
        }
    }

    @Override
    public float[] rope(float[] x, int[] positions, float[] invFreq, int M, int heads, int headDim) {
        try {
            DeviceBuffer dx = in(x);
            k.rope(dx, in(positions), in(invFreq), M, heads, headDim);
            return getF(dx, x.length, "qf_rope");
        } finally {
            release();
        }
    }

    @Override
    public float[] attention(AttentionCase c) {
        try {
            int M = c.rows();
            int[] slots = new int[M], offsets = new int[M];
            Map<int[], Integer> at = new IdentityHashMap<>();
            List<Integer> flat = new ArrayList<>();
            for (int r = 0; r < M; r++) {
                slots[r] = c.slot(r, c.positions()[r]);
                int[] table = c.tables()[r];
                offsets[r] = at.computeIfAbsent(table, t -> {
                    int start = flat.size();
                    for (int b : t) flat.add(b);
                    return start;
                });
            }
            DeviceBuffer kc = in(c.kCache()), vc = in(c.vCache());
            k.kvStore(in(c.k()), in(c.v()), in(slots), kc, vc, M, c.kvDim());
            DeviceBuffer out = outF((long) M * c.numHeads() * c.headDim());
            k.attention(in(c.q()), kc, vc, in(flat.stream().mapToInt(Integer::intValue).toArray()), in(offsets), in(c.positions()), out,
                    M, c.numHeads(), c.numKvHeads(), c.headDim(), c.blockSize());
            return getF(out, M * c.numHeads() * c.headDim(), "qf_attention");
        } finally {
            release();
        }
    }

    @Override
    public float[] siluGate(float[] gate, float[] up) {
        try {
            DeviceBuffer g = in(gate);
            k.siluGate(g, in(up), gate.length);
            return getF(g, gate.length, "qf_silu_gate");
        } finally {
            release();
        }
    }

    @Override
    public float[] add(float[] x, float[] y) {
        try {
            DeviceBuffer dx = in(x);
            k.add(dx, in(y), x.length);
            return getF(dx, x.length, "qf_add");
        } finally {
            release();
        }
    }
}
