package dev.quantflow.engine.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.compute.RowDecodable;
import dev.quantflow.engine.gguf.block.GgufLinears;
import dev.quantflow.engine.gguf.block.Q6KQuantizer;
import dev.quantflow.engine.gguf.block.Q6_KLinear;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.IntStream;

/**
 * Quantized models on disk. Our format ("quant_method": "quantflow"): per linear NAME, by scheme,
 * NAME.qweight (I8, out x in) + NAME.scales (F32, out x groups) [+ NAME.input_scale, or
 * NAME.fp_columns (I32) + NAME.fp_weight (F32, k x out) for LLM.int8()], or for int4 NAME.qweight4
 * (U8, two codes per byte, see {@link Int4Packing}) + NAME.scales + NAME.qzeros (U8) [+ NAME.perm], or for
 * q6_k NAME.qweight (U8, out x in/256*210: GGUF Q6_K blocks as ggml stores them);
 * unquantized layers keep NAME.weight (a tied model whose lm_head is stored in a row-decoding
 * format keeps no model.embed_tokens.weight: the head's rows are the embedding); folded SmoothQuant/AWQ factors are already in the norms and
 * weights and are also written as PRODUCER.smooth_factors for inspection. config.json's
 * quantization_config names each layer's scheme. AutoGPTQ ("gptq") and AutoAWQ ("awq") 4-bit
 * checkpoints are read and written too ({@link AutoGptqFormat}), and bitsandbytes 4-bit ones
 * ({@link BitsandbytesCheckpoint}).
 *
 * <p>Format version 2 stores the w8a16 and int4 codes in the byte order their kernels hold them in
 * memory, named by quantization_config.layouts ({@link #INT8_LAYOUT}, {@link #INT4_LAYOUT}), so a
 * load is a read into the final arrays: w8a16's qweight in Int8Kernels.interleave8's order (out x in
 * bytes), int4's qweight4 as Int4GroupLinear's 32-column blocks with rows interleaved by four (out x
 * padded/2). Version 1 (no layouts: row-major codes, Int4Packing nibbles) and a w8a16 layout of
 * another vector width still load, converted once.
 */
public final class QuantizedCheckpoint {
    /** GGUF writes one file, not a directory ({@link GgufExport}). */
    public enum Format { QUANTFLOW, GPTQ, AWQ, GGUF, ONNX, BITSANDBYTES;
        public static Format parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "quantflow" -> QUANTFLOW;
                case "gptq", "autogptq" -> GPTQ;
                case "awq", "autoawq" -> AWQ;
                case "gguf" -> GGUF;
                case "onnx" -> ONNX;
                case "bitsandbytes", "bnb" -> BITSANDBYTES;
                default -> throw new IllegalArgumentException("--format must be quantflow, gptq, awq, gguf, onnx or bitsandbytes, got '" + s + "'");
            };
        }
    }

    private QuantizedCheckpoint() {}

    /** The version written; a newer one is refused by name. */
    static final int FORMAT_VERSION = 2;

    /** Int8Linear's layout in this JVM (its block is the preferred float species' lanes). */
    static final String INT8_LAYOUT = int8Layout(Int8Kernels.ROWS, Int8Kernels.CHUNK, Int8Kernels.block());

    /** Int4GroupLinear's layout (the same on every species). */
    static final String INT4_LAYOUT = "blocks32:rows=4";

    static String int8Layout(int rows, int chunk, int block) {
        return "interleave8:rows=" + rows + ",chunk=" + chunk + ",block=" + block;
    }

    public static void save(QuantizedModels.Built b, Path source, Path out, Format format) {
        if (format == Format.GGUF) {
            GgufExport.write(b, source, out);
            return;
        }
        if (format == Format.ONNX) {
            OnnxExport.write(b, out, OnnxExport.Form.QDQ);
            return;
        }
        ObjectMapper om = new ObjectMapper();
        ObjectNode qc = om.createObjectNode();
        CheckpointWriter w = new CheckpointWriter();
        int group = format == Format.QUANTFLOW || format == Format.BITSANDBYTES ? 0 : commonInt4Group(b);
        // a tied head stored in our format as rows that decode one at a time is the embedding too
        // (LlamaStage reads the lookups from it): the float table is not written
        boolean headIsEmbedding = format == Format.QUANTFLOW && b.config().tieWordEmbeddings()
                && b.format("lm_head") instanceof RowDecodable && !(b.format("lm_head") instanceof DenseLinear);
        for (Tensor t : b.weights().tensors().values()) {
            String n = t.name();
            if (headIsEmbedding && n.equals("model.embed_tokens.weight")) continue;
            String base = n.endsWith(".weight") ? n.substring(0, n.length() - 7) : null;
            if (base != null && b.linears().containsKey(base)) {
                Linear l = b.format(base);
                if (l instanceof DenseLinear d) w.add(d.scheme().equals("bf16") ? QuantizedModels.toBf16(t) : t);
                continue;
            }
            w.add(t);
        }
        ObjectNode layers = om.createObjectNode();
        for (String name : b.linears().keySet()) {
            Linear l = b.format(name);
            layers.put(name, l instanceof DenseLinear ? l.scheme() : b.plan().schemeFor(name).toString());
            switch (format) {
                case QUANTFLOW -> writeOurs(w, name, l);
                case GPTQ, AWQ -> writeAuto(w, name, l, format);
                case BITSANDBYTES, GGUF -> { }
            }
        }
        if (format == Format.BITSANDBYTES) {
            qc = BitsandbytesCheckpoint.write(w, b);
        } else if (format == Format.QUANTFLOW) {
            qc.put("quant_method", "quantflow").put("format_version", FORMAT_VERSION).put("plan", b.plan().toString());
            qc.putObject("layouts").put("int8", INT8_LAYOUT).put("int4", INT4_LAYOUT);
            qc.set("layers", layers);
            b.foldFactors().forEach((producer, s) -> w.addFloats(producer.replaceAll("\\.weight$", "") + ".smooth_factors", new long[] {s.length}, s));
            ObjectNode folds = qc.putObject("folds");
            b.foldKinds().forEach(folds::put);
        } else {
            qc.put("quant_method", format == Format.GPTQ ? "gptq" : "awq").put("bits", 4).put("group_size", group);
            if (format == Format.GPTQ) qc.put("desc_act", false).put("sym", false).put("checkpoint_format", "gptq");
            else qc.put("zero_point", true).put("version", "gemm");
        }
        w.write(source, out, qc);
    }

    private static int commonInt4Group(QuantizedModels.Built b) {
        int g = -1;
        for (String name : b.linears().keySet()) {
            Linear l = b.format(name);
            if (l instanceof DenseLinear) continue;
            if (!(l instanceof Int4GroupLinear i4) || i4.permutation() != null)
                throw new IllegalArgumentException(name + " is " + l.scheme() + ": AutoGPTQ/AutoAWQ files hold only int4 layers (w4a16-*) without act-order");
            int gs = i4.weights().layout().groupSize();
            if (g >= 0 && gs != g) throw new IllegalArgumentException("AutoGPTQ/AutoAWQ files need one group size; found " + g + " and " + gs);
            g = gs;
        }
        return g;
    }

    private static void writeOurs(CheckpointWriter w, String name, Linear l) {
        switch (l) {
            case DenseLinear d -> { }
            case Int8Linear i -> {   // the kernel's bytes as held: loading them is a read
                w.addBytes(name + ".qweight", DType.I8, new long[] {i.outFeatures(), i.inFeatures()}, i.interleavedCodes());
                w.addFloats(name + ".scales", new long[] {i.outFeatures(), 1}, i.scales());
            }
            case W8A8DynamicLinear d -> int8(w, name, d.weights());
            case W8A8TensorLinear t -> {
                int8(w, name, t.weights());
                w.addFloats(name + ".input_scale", new long[] {1}, new float[] {t.inputScale()});
            }
            case LlmInt8Linear li -> {
                int8(w, name, li.weights());
                int[] cols = li.fpColumns();
                float[] fp = new float[cols.length * li.outFeatures()];
                for (int k = 0; k < cols.length; k++) System.arraycopy(li.fpColumn(k), 0, fp, k * li.outFeatures(), li.outFeatures());
                w.addInts(name + ".fp_columns", new long[] {cols.length}, cols);
                w.addFloats(name + ".fp_weight", new long[] {cols.length, li.outFeatures()}, fp);
            }
            case W4A8Linear w4 ->   // packed into the int4 x int8 panels, it holds no Int4GroupLinear: the file keeps the int4 layout
                    int4(w, name, w4.int4() != null ? w4.int4() : new Int4GroupLinear(w4.weights(), null, null, w4.scheme()));
            case Int4GroupLinear i4 -> {
                int4(w, name, i4);
                if (i4.permutation() != null) w.addInts(name + ".perm", new long[] {i4.inFeatures()}, i4.permutation());
            }
            case Q6_KLinear q -> w.addBytes(name + ".qweight", DType.U8, new long[] {q.outFeatures(), Q6KQuantizer.rowBytes(q.inFeatures())}, q.blocks());
            case Fp8Linear f -> fp8(w, name, f.weights());
            case Fp8W8A8Linear f -> {
                fp8(w, name, f.weights());
                if (f.act() == Fp8W8A8Linear.Act.STATIC) w.addFloats(name + ".input_scale", new long[] {1}, new float[] {f.inputScale()});
            }
            case FourBitLinear f -> {
                FourBitMatrix m = f.weights();
                w.addBytes(name + ".qweight4", DType.U8, new long[] {m.rows(), Int4Packing.bytesPerRow(m.cols())}, Int4Packing.pack(m.q(), m.rows(), m.cols()));
                if (m.doubleQuant()) {
                    w.addBytes(name + ".absmax_q", DType.U8, new long[] {m.blocks()}, m.absmaxQ());
                    w.addFloats(name + ".absmax_map", new long[] {m.absmaxMap().length}, m.absmaxMap());
                    w.addFloats(name + ".absmax_scales", new long[] {m.absmaxScales().length}, m.absmaxScales());
                    w.addFloats(name + ".absmax_offset", new long[] {1}, new float[] {m.absmaxOffset()});
                } else {
                    w.addFloats(name + ".absmax", new long[] {m.blocks()}, m.absmaxFp32());
                }
            }
            default -> throw new IllegalArgumentException(name + ": cannot save a " + l.getClass().getSimpleName());
        }
    }

    /** The packed bytes as Int4GroupLinear holds them (INT4_LAYOUT), its scales and unsigned zero points. */
    private static void int4(CheckpointWriter w, String name, Int4GroupLinear l) {
        int out = l.outFeatures(), groups = l.layout().groups();
        w.addBytes(name + ".qweight4", DType.U8, new long[] {out, l.paddedCols() / 2}, l.packed());
        w.addFloats(name + ".scales", new long[] {out, groups}, l.scales());
        w.addBytes(name + ".qzeros", DType.U8, new long[] {out, groups}, l.zeros());
    }

    private static void int8(CheckpointWriter w, String name, QuantizedMatrix m) {
        w.addBytes(name + ".qweight", DType.I8, new long[] {m.rows(), m.cols()}, m.q());
        w.addFloats(name + ".scales", new long[] {m.rows(), m.groups()}, m.scales());
    }

    private static void fp8(CheckpointWriter w, String name, Fp8Matrix m) {
        w.addBytes(name + ".qweight", m.format().dtype(), new long[] {m.rows(), m.cols()}, m.q());
        w.addFloats(name + ".scales", new long[] {m.storedScales().length}, m.storedScales());
    }

    private static void writeAuto(CheckpointWriter w, String name, Linear l, Format f) {
        if (!(l instanceof Int4GroupLinear i4)) return;   // dense layers were written as NAME.weight
        AutoGptqFormat.Packed p = f == Format.GPTQ ? AutoGptqFormat.packGptq(i4.weights()) : AutoGptqFormat.packAwq(i4.weights());
        if (f == Format.GPTQ) {
            w.addInts(name + ".qweight", new long[] {p.in() / 8, p.out()}, p.qweight());
            w.addInts(name + ".g_idx", new long[] {p.in()}, p.gIdx());
        } else {
            w.addInts(name + ".qweight", new long[] {p.in(), p.out() / 8}, p.qweight());
        }
        w.addInts(name + ".qzeros", new long[] {p.groups(), p.out() / 8}, p.qzeros());
        w.addHalfs(name + ".scales", new long[] {p.groups(), p.out()}, p.scales());
    }

    /** Row-major codes of an (out, in) matrix held in interleave8's layout with the given parameters (Int8Kernels.interleavedIndex's formula). */
    static byte[] deinterleave(byte[] w, int out, int in, int rows, int chunk, int block) {
        byte[] q = new byte[w.length];
        for (int o = 0; o < out; o++)
            for (int c0 = 0; c0 < in; c0 += chunk) {
                int n = Math.min(chunk, in - c0), full = n / block * block, base = out * c0;
                if (o >= out / rows * rows) {
                    System.arraycopy(w, base + o * n, q, o * in + c0, n);
                    continue;
                }
                int group = base + o / rows * rows * n, j = o % rows;
                for (int c = 0; c < full; c += block) System.arraycopy(w, group + (c / block * rows + j) * block, q, o * in + c0 + c, block);
                System.arraycopy(w, group + rows * full + j * (n - full), q, o * in + c0 + full, n - full);
            }
        return q;
    }

    /** The factory that builds the linears of a model directory: dense, or from its quantization_config. */
    public static LinearFactory loader(LlamaConfig c, WeightStore store) {
        JsonNode qc = c.quantizationConfig();
        if (qc == null || qc.isMissingNode() || qc.isNull()) return LinearFactory.DENSE;
        String method = qc.path("quant_method").asText("");
        return switch (method) {
            case "quantflow" -> {
                int v = qc.path("format_version").asInt(1);
                if (v > FORMAT_VERSION)
                    throw new ModelLoadException(Path.of("config.json"), "quantization_config.format_version " + v + " is newer than this quantflow reads (" + FORMAT_VERSION + ")");
                yield new Stored(store, qc, method);
            }
            case "gguf" -> GgufLinears.factory(store);
            case "gptq", "awq" -> {
                if (qc.path("bits").asInt(4) != 4) throw new ModelLoadException(Path.of("config.json"), method + " checkpoints with " + qc.path("bits").asInt() + " bits are not supported (4 only)");
                yield new Stored(store, qc, method);
            }
            case "compressed-tensors", "fbgemm_fp8" -> Fp8Checkpoint.loader(store, qc);
            case "bitsandbytes" -> BitsandbytesCheckpoint.loader(store, qc);
            default -> throw new ModelLoadException(Path.of("config.json"), "unsupported quantization_config.quant_method '" + method
                    + "' (supported: quantflow, gptq, awq, gguf, compressed-tensors (FP8), fbgemm_fp8, bitsandbytes (4-bit))");
        };
    }

    /** Whether a config's model is stored quantized. */
    public static boolean isQuantized(LlamaConfig c) {
        JsonNode qc = c.quantizationConfig();
        return qc != null && !qc.isMissingNode() && !qc.isNull();
    }

    private record Stored(WeightStore store, JsonNode qc, String method) implements LinearFactory {
        @Override
        public Linear create(String name, Tensor weight, float[] bias) {
            return new DenseLinear(weight, bias);
        }

        @Override
        public Optional<Linear> fromStore(String name, int out, int in, float[] bias) {
            if (store.find(name + ".qweight").isEmpty() && store.find(name + ".qweight4").isEmpty()) return Optional.empty();
            return Optional.of(switch (method) {
                case "quantflow" -> ours(name, out, in, bias);
                case "gptq" -> {
                    int g = groupSize(in);
                    AutoGptqFormat.Packed p = new AutoGptqFormat.Packed(ints(name + ".qweight"), ints(name + ".qzeros"), floats(name + ".scales"),
                            store.find(name + ".g_idx").map(Tensor::toIntArray).orElseGet(() -> IntStream.range(0, in).map(i -> i / g).toArray()),
                            in, out, (in + g - 1) / g);
                    AutoGptqFormat.Unpacked u = AutoGptqFormat.unpackGptq(p, g);
                    yield new Int4GroupLinear(u.weights(), u.permutation(), bias, "w4a16-gptq:group=" + g);
                }
                case "awq" -> {
                    int g = groupSize(in);
                    AutoGptqFormat.Packed p = new AutoGptqFormat.Packed(ints(name + ".qweight"), ints(name + ".qzeros"), floats(name + ".scales"), null, in, out, (in + g - 1) / g);
                    yield new Int4GroupLinear(AutoGptqFormat.unpackAwq(p, g), null, bias, "w4a16-awq:group=" + g);
                }
                default -> throw new IllegalStateException(method);
            });
        }

        private int groupSize(int in) {
            int g = qc.path("group_size").asInt(128);
            return g <= 0 ? in : g;
        }

        private Linear ours(String name, int out, int in, float[] bias) {
            String spec = qc.path("layers").path(name).asText("");
            if (spec.isEmpty()) throw new ModelLoadException(Path.of("config.json"), "quantization_config.layers has no scheme for " + name);
            QuantScheme s = QuantScheme.parse(spec);
            return switch (s) {
                case QuantScheme.W8A16 x -> int8Layout().equals(INT8_LAYOUT)
                        ? Int8Linear.ofInterleaved(out, in, bytes(name + ".qweight", out * (long) in), floats(name + ".scales"), bias)
                        : Int8Linear.adopting(rowMajorInt8(name, out, in), bias);
                case QuantScheme.W8A8Dynamic x -> new W8A8DynamicLinear(int8(name, out, in, x.group() > 0 ? x.group() : in), bias, x.toString());
                case QuantScheme.SmoothQuant x -> new W8A8DynamicLinear(int8(name, out, in, in), bias, x.toString());
                case QuantScheme.W8A8Tensor x -> new W8A8TensorLinear(int8(name, out, in, in), floats(name + ".input_scale")[0], bias);
                case QuantScheme.LlmInt8 x -> {
                    int[] cols = ints(name + ".fp_columns");
                    float[] fp = floats(name + ".fp_weight");
                    float[][] colsW = new float[cols.length][];
                    for (int k = 0; k < cols.length; k++) colsW[k] = Arrays.copyOfRange(fp, k * out, (k + 1) * out);
                    yield new LlmInt8Linear(int8(name, out, in, in), x.threshold(), cols, colsW, x.fp(), bias);
                }
                case QuantScheme.W4A16 x -> int4(name, out, in, x.group(), store.find(name + ".perm").map(Tensor::toIntArray).orElse(null), bias, x.toString());
                case QuantScheme.W4A8 x -> new W4A8Linear(int4(name, out, in, x.group(), null, bias, x.toString()), x.toString());
                case QuantScheme.Q6K x -> {
                    Tensor q = get(name + ".qweight");
                    if (q.dtype() != DType.U8 || q.numel() != out * Q6KQuantizer.rowBytes(in))
                        throw new ModelLoadException(Path.of("weights"), name + ".qweight is " + q.dtype() + " " + Arrays.toString(q.shape()) + ", q6_k needs U8 ["
                                + out + ", " + Q6KQuantizer.rowBytes(in) + "]");
                    Q6_KLinear l = new Q6_KLinear(q.data(), out, in);
                    yield bias == null ? l : new dev.quantflow.engine.compute.BiasedLinear(l, bias);
                }
                case QuantScheme.Fp8 x -> Fp8Linear.adopting(fp8(name, out, in, x.format()), bias);
                case QuantScheme.Fp8W8A8 x -> Fp8W8A8Linear.adopting(fp8(name, out, in, Fp8Format.E4M3), x.act(),
                        x.act() == Fp8W8A8Linear.Act.STATIC ? floats(name + ".input_scale")[0] : Float.POSITIVE_INFINITY, bias);
                case QuantScheme.FourBit x -> {
                    byte[] codes = Int4Packing.unpack(bytes(name + ".qweight4"), out, in);
                    yield new FourBitLinear(x.doubleQuant()
                            ? new FourBitMatrix(x.code(), out, in, x.block(), codes, null, bytes(name + ".absmax_q"), floats(name + ".absmax_map"),
                                    floats(name + ".absmax_scales"), floats(name + ".absmax_offset")[0])
                            : new FourBitMatrix(x.code(), out, in, x.block(), codes, floats(name + ".absmax"), null, null, null, 0f), bias);
                }
                case QuantScheme.Fp32 x -> throw new ModelLoadException(Path.of("weights"), "missing tensor " + name + ".weight");
                case QuantScheme.Bf16 x -> throw new ModelLoadException(Path.of("weights"), "missing tensor " + name + ".weight");
            };
        }

        private QuantizedMatrix int8(String name, int out, int in, int group) {
            GroupLayout g = new GroupLayout(in, group);
            return new QuantizedMatrix(IntRange.INT8_SYM, out, in, g, bytes(name + ".qweight"), floats(name + ".scales"), new byte[out * g.groups()]);
        }

        /** The w8a16 layout the file's codes are in: "" for version 1's row-major codes. */
        private String int8Layout() {
            return qc.path("layouts").path("int8").asText("");
        }

        /** Row-major int8 codes from a version 1 file, or from a w8a16 layout of another species (converted once). */
        private QuantizedMatrix rowMajorInt8(String name, int out, int in) {
            QuantizedMatrix m = int8(name, out, in, in);
            String layout = int8Layout();
            if (layout.isEmpty()) return m;
            java.util.regex.Matcher p = java.util.regex.Pattern.compile("interleave8:rows=(\\d+),chunk=(\\d+),block=(\\d+)").matcher(layout);
            if (!p.matches()) throw new ModelLoadException(Path.of("config.json"), "quantization_config.layouts.int8 '" + layout + "' is not a layout this quantflow reads (" + INT8_LAYOUT + ")");
            byte[] rowMajor = deinterleave(m.q(), out, in, Integer.parseInt(p.group(1)), Integer.parseInt(p.group(2)), Integer.parseInt(p.group(3)));
            return new QuantizedMatrix(m.range(), out, in, m.layout(), rowMajor, m.scales(), m.zeros());
        }

        /** Int4GroupLinear over the file's bytes as they are (INT4_LAYOUT), or re-packed from version 1's row nibbles. */
        private Int4GroupLinear int4(String name, int out, int in, int group, int[] perm, float[] bias, String scheme) {
            String layout = qc.path("layouts").path("int4").asText("");
            GroupLayout g = new GroupLayout(in, group);
            if (layout.equals(INT4_LAYOUT))
                return Int4GroupLinear.ofPacked(out, in, g, bytes(name + ".qweight4", Int4GroupLinear.packedBytes(out, in)), floats(name + ".scales"), bytes(name + ".qzeros"), perm, bias, scheme);
            if (!layout.isEmpty()) throw new ModelLoadException(Path.of("config.json"), "quantization_config.layouts.int4 '" + layout + "' is not a layout this quantflow reads (" + INT4_LAYOUT + ")");
            byte[] codes = Int4Packing.unpack(bytes(name + ".qweight4"), out, in);
            return new Int4GroupLinear(new QuantizedMatrix(IntRange.INT4_ASYM, out, in, g, codes, floats(name + ".scales"), bytes(name + ".qzeros")), perm, bias, scheme);
        }

        private Fp8Matrix fp8(String name, int out, int in, Fp8Format f) {
            Tensor q = get(name + ".qweight");
            if (q.dtype() != f.dtype()) throw new ModelLoadException(Path.of("weights"), name + ".qweight is " + q.dtype() + ", the scheme needs " + f.dtype());
            return Fp8Matrix.of(f, out, in, bytes(name + ".qweight"), floats(name + ".scales"));
        }

        private Tensor get(String n) {
            return store.find(n).orElseThrow(() -> new ModelLoadException(Path.of("weights"), "missing tensor " + n));
        }

        /** bytes(n), checked to be the size a layout needs (a tensor of another layout's size is named, not misread). */
        private byte[] bytes(String n, long expected) {
            Tensor t = get(n);
            if (t.data().byteSize() != expected)
                throw new ModelLoadException(Path.of("weights"), n + " is " + t.dtype() + " " + Arrays.toString(t.shape()) + " (" + t.data().byteSize() + " bytes), its layout needs " + expected);
            return bytes(n);
        }

        // each reader copies a tensor to the heap, then drops its mapped pages from resident memory: a
        // stored 1.1B w8a16 model was resident twice (2.29 GB peak), as codes on the heap and as file pages.
        // One copy and one drop per tensor: copying in 1 MiB pieces on both cores, each piece's pages
        // dropped once copied, measured ~100 MB more peak RSS (1.39-1.41 GB against 1.29 GB) and no less CPU.
        private byte[] bytes(String n) {
            Tensor t = get(n);
            if (t.data().byteSize() > Integer.MAX_VALUE - 8) throw new ModelLoadException(Path.of("weights"), n + " is too large for one array (" + t.data().byteSize() + " bytes)");
            byte[] b = t.data().toArray(ValueLayout.JAVA_BYTE);
            dropPages(t);
            return b;
        }

        private float[] floats(String n) {
            Tensor t = get(n);
            float[] f = t.toFloatArray();
            dropPages(t);
            return f;
        }

        private int[] ints(String n) {
            Tensor t = get(n);
            int[] i = t.toIntArray();
            dropPages(t);
            return i;
        }

        private static void dropPages(Tensor t) {
            if (t.data().isMapped()) t.data().unload();
        }

    }
}
