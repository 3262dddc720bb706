package dev.quantflow.gpu.stage;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.compute.RowDecodable;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.BatchRows;
import dev.quantflow.engine.llama.DecoderForward;
import dev.quantflow.engine.llama.LayerWeights;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.CudaKernels.DenseType;
import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.MemoryCategory;
import dev.quantflow.gpu.linear.CudaLinear;
import dev.quantflow.gpu.linear.CudaLinearFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Layers [first, last) of a Llama model resident on one card: the weights (linears in the
 * scheme's format, norms, the embedding table on stage 0, final norm and lm_head on the last), the
 * paged KV cache of these layers (f32, in the CPU cache's geometry and layout) and the hidden
 * state, which stays on the card from the stage's entry to its exit. A step copies in one packed
 * index array and the hidden state (stage 0 embeds the tokens on the card instead), launches every
 * layer's kernels on the default stream, and copies out the hidden state or the selected rows'
 * logits. The steps are DecoderForward's, over {@link CudaDecoderOps}: no layer loop here.
 *
 * <p>Stages on one card share its context's scratch buffers (the int8 linears'), so a step holds
 * the context's lock; the stage's own activations live in its StageWorkspace.
 */
public final class CudaStage implements StageCompute {
    private final CudaContext ctx;
    private final CudaKernels k;
    private final LlamaConfig c;
    private final StageLayout layout;
    private final List<CudaLinear> linears = new ArrayList<>();   // every linear of the stage, lm_head included
    private final List<DeviceBuffer> owned = new ArrayList<>();   // norms, embedding, frequencies, KV cache
    private final StageWorkspace ws;
    private final List<LayerWeights<DeviceBuffer, CudaLinear>> layers = new ArrayList<>();
    private final DeviceBuffer[] keys, values;   // per layer: (blocks * blockSize, kvDim) each
    private DeviceBuffer invFreq;     // (headDim / 2) RoPE frequencies
    private DeviceBuffer embedding;   // (vocab, dim) as stored; stage 0 only
    private DenseType embeddingType;
    private DeviceBuffer finalNorm;   // (dim); last stage only
    private CudaLinear lmHead;        // (vocab, dim); last stage only
    private long kvBytes;
    private boolean closed;

    /** Loads the stage onto ctx's card; on failure frees what it had allocated there and rethrows. */
    public static CudaStage load(CudaContext ctx, CudaLinearFactory onCard, LlamaConfig c, WeightStore w, StageLayout layout) {
        if (layout.kv() != KvFormat.F32)
            throw new IllegalArgumentException(ctx.device().id() + " keeps a stage's KV cache in f32; --kv " + layout.kv() + " is for CPU stages");
        checkComputable(c, layout);
        return new CudaStage(ctx, onCard, c, w, layout);
    }

    /** Refuses a model whose math the CUDA kernels do not do: they attend to every position and rotate with one set of frequencies. */
    static void checkComputable(LlamaConfig c, StageLayout layout) {
        if (c.headDim() > 256) throw new IllegalArgumentException("the CUDA attention kernel takes head dimensions up to 256, not " + c.headDim());
        long reach = Math.min(c.maxPositions(), (long) layout.kvBlocks() * layout.kvBlockSize());
        int window = c.smallestWindow();
        if (window > 0 && window < reach)
            throw new IllegalArgumentException("config.json's sliding_window " + window + " is smaller than the " + reach
                    + " positions a sequence can reach, and the CUDA attention kernel has no sliding window: run this model's stages on the CPU");
        if (c.ropeScaling().dynamic() && reach > c.ropeScaling().originalMaxPositions())
            throw new IllegalArgumentException("config.json's rope_scaling type 'dynamic' changes the RoPE frequencies past " + c.ropeScaling().originalMaxPositions()
                    + " positions, which the CUDA RoPE kernel does not: run this model's stages on the CPU");
    }

    private CudaStage(CudaContext ctx, CudaLinearFactory onCard, LlamaConfig c, WeightStore w, StageLayout layout) {
        this.ctx = ctx;
        this.k = new CudaKernels(ctx);
        this.c = c;
        this.layout = layout;
        this.ws = new StageWorkspace(ctx);
        this.keys = new DeviceBuffer[layout.layers()];
        this.values = new DeviceBuffer[layout.layers()];
        try {
            // LlamaStage reads the tensors and checks their shapes; the factory puts each linear on the card
            LlamaStage host = new LlamaStage(c, w, layout.first(), layout.last(), new LinearFactory() {
                @Override
                public Linear create(String name, Tensor weight, float[] bias) {
                    return keep(onCard.create(name, weight, bias));
                }

                @Override
                public Optional<Linear> fromStore(String name, int out, int in, float[] bias) {   // a quantized checkpoint's layers
                    return onCard.fromStore(name, out, in, bias).map(l -> keep((CudaLinear) l));
                }
            });
            invFreq = upload(host.ropeInvFreq());
            for (int l = layout.first(); l < layout.last(); l++) {
                layers.add(host.layer(l).map(this::upload, CudaStage::cuda));
                keys[l - layout.first()] = kvBuffer();
                values[l - layout.first()] = kvBuffer();
            }
            if (host.hasEmbedding()) {
                Tensor table = host.embeddingTable().orElseGet(() -> decodedTable(host));
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

    private CudaLinear keep(CudaLinear l) {
        linears.add(l);
        return l;
    }

    private static CudaLinear cuda(Linear l) {
        return (CudaLinear) l;   // built by the CudaLinearFactory above
    }

    /**
     * A tied model whose quantized lm_head serves the lookups stores no float table: the card's
     * gather kernel takes F32, so the head's rows are decoded into one for the upload.
     */
    private static Tensor decodedTable(LlamaStage host) {
        RowDecodable rows = host.embeddingRows().orElseThrow();
        int vocab = rows.outFeatures(), d = rows.inFeatures();
        float[] t = new float[vocab * d];
        for (int r = 0; r < vocab; r++) rows.decodeRow(r, t, r * d);
        return new Tensor("model.embed_tokens.weight", dev.quantflow.engine.model.DType.F32, new long[] {vocab, d}, java.lang.foreign.MemorySegment.ofArray(t));
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
        int m = rows.rows();
        int[] selected = hasHead() ? logitRows : new int[0];
        StepIndex index = StepIndex.of(rows, selected, layout.kvBlockSize(), layout.kvBlocks(), hasEmbedding() ? c.vocabSize() : 0);
        if (m == 0) return hasEmbedding() ? new float[0] : hidden;
        synchronized (ctx) {
            DeviceBuffer meta = ws.get("index", 4L * index.packed().length);
            meta.upload(index.packed(), index.packed().length);
            var step = new CudaDecoderOps.StepBuffers(ints(meta, index.tokensAt(), m), ints(meta, index.positionsAt(), m), ints(meta, index.slotsAt(), m),
                    ints(meta, index.tablesAt(), index.tableInts()), ints(meta, index.tableOffsetsAt(), m), selected.length == 0 ? Optional.empty() : Optional.of(ints(meta, index.selectedAt(), selected.length)));
            var stage = new CudaDecoderOps.StageBuffers(invFreq, embedding, embeddingType, keys, values, layout.kvBlockSize());
            CudaDecoderOps ops = new CudaDecoderOps(ctx, k, ws, c, stage, step, m, selected.length);
            return DecoderForward.step(ops, c, layers, hasEmbedding(), finalNorm, lmHead, hidden);
        }
    }

    private static DeviceBuffer ints(DeviceBuffer meta, int at, int count) {
        return meta.slice(4L * at, 4L * count);
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
