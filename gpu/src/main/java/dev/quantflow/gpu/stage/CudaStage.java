package dev.quantflow.gpu.stage;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.BatchRows;
import dev.quantflow.engine.llama.LayerWeights;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.CudaKernels.DenseType;
import dev.quantflow.gpu.CudaLinearFactory;
import dev.quantflow.gpu.CudaScheme;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.MemoryCategory;
import dev.quantflow.gpu.linear.CudaLinear;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Layers [first, last) of a Llama model resident on one card: the weights (linears in the
 * scheme's format, norms, the embedding table on stage 0, final norm and lm_head on the last), the
 * paged KV cache of these layers (f32, in the CPU cache's geometry and layout) and the hidden
 * state, which stays on the card from the stage's entry to its exit. A step copies in one packed
 * index array and the hidden state (stage 0 embeds the tokens on the card instead), launches every
 * layer's kernels on the default stream, and copies out the hidden state or the selected rows'
 * logits. The math is LlamaStage.forwardLayers', step for step.
 *
 * <p>Stages on one card share its context's scratch buffers (the int8 linears'), so a step holds
 * the context's lock; the stage's own activations live in its StageWorkspace.
 */
public final class CudaStage implements StageCompute {
    private static final CudaKernels.Path AUTO = CudaKernels.Path.AUTO;

    /** One decoder layer on the card, with its KV cache: keys and values (blocks * blockSize, kvDim) each. */
    private record Layer(DeviceBuffer attnNorm, CudaLinear wq, CudaLinear wk, CudaLinear wv, CudaLinear wo, DeviceBuffer ffnNorm,
                         CudaLinear wGate, CudaLinear wUp, CudaLinear wDown, DeviceBuffer keys, DeviceBuffer values) {}

    private final CudaContext ctx;
    private final CudaKernels k;
    private final LlamaConfig c;
    private final StageLayout layout;
    private final List<CudaLinear> linears = new ArrayList<>();   // every linear of the stage, lm_head included
    private final List<DeviceBuffer> owned = new ArrayList<>();   // norms, embedding, frequencies, KV cache
    private final StageWorkspace ws;
    private final Layer[] layers;
    private DeviceBuffer invFreq;     // (headDim / 2) RoPE frequencies
    private DeviceBuffer embedding;   // (vocab, dim) as stored; stage 0 only
    private DenseType embeddingType;
    private DeviceBuffer finalNorm;   // (dim); last stage only
    private CudaLinear lmHead;        // (vocab, dim); last stage only
    private long kvBytes;
    private boolean closed;

    /** Loads the stage onto ctx's card; on failure frees what it had allocated there and rethrows. */
    public static CudaStage load(CudaContext ctx, CudaScheme scheme, LlamaConfig c, WeightStore w, StageLayout layout) {
        if (layout.kv() != KvFormat.F32)
            throw new IllegalArgumentException(ctx.device().id() + " keeps a stage's KV cache in f32; --kv " + layout.kv() + " is for CPU stages");
        if (c.headDim() > 256) throw new IllegalArgumentException("the CUDA attention kernel takes head dimensions up to 256, not " + c.headDim());
        return new CudaStage(ctx, scheme, c, w, layout);
    }

    private CudaStage(CudaContext ctx, CudaScheme scheme, LlamaConfig c, WeightStore w, StageLayout layout) {
        this.ctx = ctx;
        this.k = new CudaKernels(ctx);
        this.c = c;
        this.layout = layout;
        this.ws = new StageWorkspace(ctx);
        this.layers = new Layer[layout.layers()];
        try {
            // LlamaStage reads the tensors and checks their shapes; the factory puts each linear on the card
            CudaLinearFactory onCard = new CudaLinearFactory(ctx, scheme);
            LlamaStage host = new LlamaStage(c, w, layout.first(), layout.last(), (name, weight, bias) -> {
                CudaLinear l = onCard.create(name, weight, bias);
                linears.add(l);
                return l;
            });
            invFreq = upload(host.ropeInvFreq());
            for (int l = layout.first(); l < layout.last(); l++) {
                LayerWeights lw = host.layer(l);
                layers[l - layout.first()] = new Layer(upload(lw.attnNorm()), cuda(lw.wq()), cuda(lw.wk()), cuda(lw.wv()), cuda(lw.wo()),
                        upload(lw.ffnNorm()), cuda(lw.wGate()), cuda(lw.wUp()), cuda(lw.wDown()), kvBuffer(), kvBuffer());
            }
            if (host.hasEmbedding()) {
                Tensor table = host.embeddingTable().orElseThrow();
                embeddingType = denseType(table);
                embedding = own(ctx.allocate(table.data().byteSize(), MemoryCategory.WEIGHTS));
                embedding.upload(table.data());
            }
            if (host.hasHead()) {
                finalNorm = upload(host.finalNorm().orElseThrow());
                lmHead = cuda(host.lmHead());
            }
            reserve(layout.maxBatchRows());
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private static CudaLinear cuda(Linear l) {
        return (CudaLinear) l;   // built by the CudaLinearFactory above
    }

    private static DenseType denseType(Tensor t) {
        return switch (t.dtype()) {
            case F32 -> DenseType.F32;
            case BF16 -> DenseType.BF16;
            case F16 -> DenseType.F16;
            default -> throw new IllegalArgumentException(t + ": the embedding must be F32, BF16 or F16 on a card");
        };
    }

    private DeviceBuffer own(DeviceBuffer b) {
        owned.add(b);
        return b;
    }

    private DeviceBuffer upload(float[] host) {
        DeviceBuffer b = own(ctx.allocate(4L * host.length, MemoryCategory.WEIGHTS));
        b.upload(host, host.length);
        return b;
    }

    /** One layer's keys (or values): every token slot of every block, kvDim floats each. */
    private DeviceBuffer kvBuffer() {
        long bytes = 4L * layout.kvBlocks() * layout.kvBlockSize() * c.kvDim();
        DeviceBuffer b;
        try {
            b = ctx.allocate(bytes, MemoryCategory.KV_CACHE);
        } catch (RuntimeException e) {
            throw new IllegalStateException(String.format(Locale.ROOT, "%s: no room for the KV cache of layers %d-%d (%d blocks of %d tokens, %.1f MiB): %s",
                    ctx.device().id(), layout.first(), layout.last() - 1, layout.kvBlocks(), layout.kvBlockSize(),
                    2.0 * bytes * layout.layers() / (1 << 20), e.getMessage()), e);
        }
        kvBytes += bytes;
        return own(b);
    }

    /**
     * The activations of a step of rows token rows. The head's buffers (logits: rows x vocab) grow
     * with the rows a step selects, usually one per sequence, far fewer than its token rows.
     */
    private void reserve(int rows) {
        int d = c.hiddenSize(), qd = c.qDim(), kvd = c.kvDim(), hid = c.intermediateSize();
        ws.get("x", 4L * rows * d);
        ws.get("xb", 4L * rows * d);
        ws.get("q", 4L * rows * qd);
        ws.get("k", 4L * rows * kvd);
        ws.get("v", 4L * rows * kvd);
        ws.get("att", 4L * rows * qd);
        ws.get("gate", 4L * rows * hid);
        ws.get("up", 4L * rows * hid);
    }

    @Override
    public int firstLayer() {
        return layout.first();
    }

    @Override
    public int lastLayer() {
        return layout.last();
    }

    @Override
    public boolean hasEmbedding() {
        return embedding != null;
    }

    @Override
    public boolean hasHead() {
        return lmHead != null;
    }

    @Override
    public float[] forward(float[] hidden, BatchRows rows, int[] logitRows) {
        if (closed) throw new IllegalStateException("CUDA stage used after close");
        int m = rows.rows(), d = c.hiddenSize();
        int[] selected = hasHead() ? logitRows : new int[0];
        StepIndex index = StepIndex.of(rows, selected, layout.kvBlockSize(), layout.kvBlocks(), hasEmbedding() ? c.vocabSize() : 0);
        if (!hasEmbedding() && hidden.length < m * d) throw new IllegalArgumentException("hidden has " + hidden.length + " values for " + m + " rows of " + d);
        if (m == 0) return hasEmbedding() ? new float[0] : hidden;
        synchronized (ctx) {
            DeviceBuffer meta = ws.get("index", 4L * index.packed().length);
            meta.upload(index.packed(), index.packed().length);
            DeviceBuffer positions = ints(meta, index.positionsAt(), m), slots = ints(meta, index.slotsAt(), m);
            DeviceBuffer tableOffsets = ints(meta, index.tableOffsetsAt(), m), tables = ints(meta, index.tablesAt(), index.tableInts());
            DeviceBuffer x = ws.get("x", 4L * m * d);
            if (hasEmbedding()) k.embed(embeddingType, embedding, ints(meta, index.tokensAt(), m), x, m, d);
            else x.upload(hidden, m * d);
            for (Layer w : layers) layer(w, m, x, positions, slots, tables, tableOffsets);
            if (!hasHead()) {
                float[] out = hasEmbedding() ? new float[m * d] : hidden;
                x.download(out, m * d);   // synchronous: waits for the layers
                return out;
            }
            if (selected.length == 0) {
                ctx.synchronize();   // the step still updated the KV cache
                return new float[0];
            }
            return logits(x, selected.length, ints(meta, index.selectedAt(), selected.length));
        }
    }

    private static DeviceBuffer ints(DeviceBuffer meta, int at, int count) {
        return meta.slice(4L * at, 4L * count);
    }

    /** x (m, dim) through one decoder layer, in place, as LlamaStage.forwardLayers does it. */
    private void layer(Layer w, int m, DeviceBuffer x, DeviceBuffer positions, DeviceBuffer slots, DeviceBuffer tables, DeviceBuffer tableOffsets) {
        int d = c.hiddenSize(), qd = c.qDim(), kvd = c.kvDim(), hid = c.intermediateSize(), hd = c.headDim();
        float eps = c.rmsNormEps();
        DeviceBuffer xb = ws.get("xb", 4L * m * d), q = ws.get("q", 4L * m * qd), kk = ws.get("k", 4L * m * kvd), v = ws.get("v", 4L * m * kvd);
        DeviceBuffer att = ws.get("att", 4L * m * qd), gate = ws.get("gate", 4L * m * hid), up = ws.get("up", 4L * m * hid);
        // attention: x += Wo · attn(rope(Wq·xb), rope(Wk·xb), Wv·xb), xb = rmsnorm(x)
        k.rmsnorm(x, w.attnNorm(), xb, m, d, eps);
        w.wq().run(xb, m, q, AUTO);
        w.wk().run(xb, m, kk, AUTO);
        w.wv().run(xb, m, v, AUTO);
        k.rope(q, positions, invFreq, m, c.numHeads(), hd);
        k.rope(kk, positions, invFreq, m, c.numKvHeads(), hd);
        k.kvStore(kk, v, slots, w.keys(), w.values(), m, kvd);   // every row's key first: a prefill chunk's rows attend to each other
        k.attention(q, w.keys(), w.values(), tables, tableOffsets, positions, att, m, c.numHeads(), c.numKvHeads(), hd, layout.kvBlockSize());
        w.wo().run(att, m, xb, AUTO);
        k.add(x, xb, m * d);
        // MLP: x += Wdown · (silu(Wgate·xb) * Wup·xb), xb = rmsnorm(x)
        k.rmsnorm(x, w.ffnNorm(), xb, m, d, eps);
        w.wGate().run(xb, m, gate, AUTO);
        w.wUp().run(xb, m, up, AUTO);
        k.siluGate(gate, up, m * hid);
        w.wDown().run(gate, m, xb, AUTO);
        k.add(x, xb, m * d);
    }

    /** Logits (s, vocab) of the rows selected of x: gather them, final norm, lm_head. */
    private float[] logits(DeviceBuffer x, int s, DeviceBuffer selected) {
        int d = c.hiddenSize(), vocab = c.vocabSize();
        float[] out = new float[s * vocab];
        DeviceBuffer xs = ws.get("head.x", 4L * s * d), xn = ws.get("head.xn", 4L * s * d), logits = ws.get("head.logits", 4L * s * vocab);
        k.embed(DenseType.F32, x, selected, xs, s, d);   // the fp32 gather picks rows of x
        k.rmsnorm(xs, finalNorm, xn, s, d, c.rmsNormEps());
        lmHead.run(xn, s, logits, AUTO);
        logits.download(out, s * vocab);
        return out;
    }

    @Override
    public long weightBytes() {
        return linears.stream().mapToLong(CudaLinear::weightBytes).sum();
    }

    @Override
    public long kvCacheBytes() {
        return kvBytes;
    }

    /** Frees every buffer of the stage on the card (idempotent). */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        linears.forEach(CudaLinear::close);
        owned.forEach(DeviceBuffer::close);
        ws.close();
    }
}
