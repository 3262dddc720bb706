package dev.quantflow.engine.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * bitsandbytes 4-bit checkpoints as transformers saves them (Linear4bit._save_to_state_dict with
 * QuantState.as_dict(packed=True)): per quantized linear NAME,
 * <ul>
 * <li>NAME.weight: U8 [(n+1)/2, 1], the flattened (out, in) codes two per byte, the even element in
 * the high nibble (quantize_4bit: packed = q[::2] << 4 | q[1::2]);</li>
 * <li>NAME.weight.absmax: F32 [blocks], or with double quantization U8 [blocks], codes into
 * NAME.weight.nested_quant_map (F32 [256], the dynamic map) scaled by NAME.weight.nested_absmax (F32
 * [ceil(blocks / 256)]): absmax = nested_quant_map[code] * nested_absmax[b / 256] + nested_offset;</li>
 * <li>NAME.weight.quant_map: F32 [16], the NF4 or FP4 values;</li>
 * <li>NAME.weight.quant_state.bitsandbytes__nf4 (or __fp4): U8, the UTF-8 JSON of the non-tensor
 * fields (quant_type, blocksize, dtype, shape, and nested_blocksize, nested_dtype, nested_offset).</li>
 * </ul>
 * config.json: quantization_config {"quant_method": "bitsandbytes", "load_in_4bit": true,
 * "bnb_4bit_quant_type", "bnb_4bit_use_double_quant", ...}; modules left unquantized (lm_head,
 * llm_int8_skip_modules) keep a float NAME.weight.
 */
public final class BitsandbytesCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path WEIGHTS = Path.of("weights");

    private BitsandbytesCheckpoint() {}

    static LinearFactory loader(WeightStore store, JsonNode qc) {
        if (qc.path("load_in_8bit").asBoolean(false))
            throw new ModelLoadException(Path.of("config.json"), "bitsandbytes 8-bit (LLM.int8()) checkpoints are not supported; 4-bit (load_in_4bit) are");
        if (!qc.path("load_in_4bit").asBoolean(false))
            throw new ModelLoadException(Path.of("config.json"), "bitsandbytes quantization_config without load_in_4bit: only 4-bit checkpoints are supported");
        return new LinearFactory() {
            @Override
            public Linear create(String name, Tensor weight, float[] bias) {
                return new DenseLinear(weight, bias);
            }

            @Override
            public Optional<Linear> fromStore(String name, int out, int in, float[] bias) {
                Optional<Tensor> state = store.find(name + ".weight.quant_state.bitsandbytes__nf4").or(() -> store.find(name + ".weight.quant_state.bitsandbytes__fp4"));
                return state.map(s -> new FourBitLinear(read(store, name, s, out, in), bias));
            }
        };
    }

    /** The layer's codes and absmax exactly as stored. */
    static FourBitMatrix read(WeightStore store, String name, Tensor state, int out, int in) {
        JsonNode qs;
        try {
            qs = JSON.readTree(new String(state.data().toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new ModelLoadException(WEIGHTS, state.name() + " is not the JSON of a bitsandbytes quant state: " + e.getMessage());
        }
        String type = qs.path("quant_type").asText("");
        if (!type.equals("nf4") && !type.equals("fp4")) throw new ModelLoadException(WEIGHTS, state.name() + ": quant_type '" + type + "' (nf4 or fp4 expected)");
        FourBitCode code = FourBitCode.valueOf(type.toUpperCase(Locale.ROOT));
        int block = qs.path("blocksize").asInt(0);
        JsonNode shape = qs.path("shape");
        if (block <= 0) throw new ModelLoadException(WEIGHTS, state.name() + ": blocksize missing or not positive");
        if (shape.size() != 2 || shape.get(0).asLong() != out || shape.get(1).asLong() != in)
            throw new ModelLoadException(WEIGHTS, state.name() + ": shape " + shape + ", expected [" + out + ", " + in + "] by config.json");
        long n = (long) out * in;
        int blocks = (int) ((n + block - 1) / block);
        Tensor packed = get(store, name + ".weight");
        if (packed.dtype() != DType.U8 || packed.numel() != (n + 1) / 2)
            throw new ModelLoadException(WEIGHTS, packed + ": a bitsandbytes 4-bit weight is U8 with " + (n + 1) / 2 + " bytes (two codes per byte)");
        float[] map = get(store, name + ".weight.quant_map").toFloatArray();
        if (map.length != 16) throw new ModelLoadException(WEIGHTS, name + ".weight.quant_map has " + map.length + " values, 16 expected");
        for (int c = 0; c < 16; c++)
            if (Math.abs(map[c] - code.table()[c]) > 1e-6f)
                throw new ModelLoadException(WEIGHTS, name + ".weight.quant_map[" + c + "] = " + map[c] + " is not bitsandbytes' " + type + " value " + code.table()[c]);
        byte[] q = unpack(packed.data().toArray(ValueLayout.JAVA_BYTE), (int) n);
        Tensor absmax = get(store, name + ".weight.absmax");
        if (absmax.numel() != blocks) throw new ModelLoadException(WEIGHTS, absmax + ": " + blocks + " blocks of " + block + " expected");
        if (!qs.has("nested_offset")) {
            if (absmax.dtype() == DType.U8) throw new ModelLoadException(WEIGHTS, absmax + " is U8 but the quant state has no nested_offset (double quantization)");
            return new FourBitMatrix(code, out, in, block, q, absmax.toFloatArray(), null, null, null, 0f);
        }
        int nestedBlock = qs.path("nested_blocksize").asInt(FourBitMatrix.DQ_BLOCK);
        if (nestedBlock != FourBitMatrix.DQ_BLOCK)
            throw new ModelLoadException(WEIGHTS, state.name() + ": nested_blocksize " + nestedBlock + " (bitsandbytes writes " + FourBitMatrix.DQ_BLOCK + ", the only one supported)");
        if (absmax.dtype() != DType.U8) throw new ModelLoadException(WEIGHTS, absmax + ": with double quantization the absmax are U8 codes");
        float[] nested = get(store, name + ".weight.nested_absmax").toFloatArray();
        float[] nestedMap = get(store, name + ".weight.nested_quant_map").toFloatArray();
        if (nested.length != (blocks + nestedBlock - 1) / nestedBlock || nestedMap.length != 256)
            throw new ModelLoadException(WEIGHTS, name + ".weight.nested_absmax / nested_quant_map: " + nested.length + " / " + nestedMap.length
                    + " values, expected " + (blocks + nestedBlock - 1) / nestedBlock + " / 256");
        return new FourBitMatrix(code, out, in, block, q, null, absmax.data().toArray(ValueLayout.JAVA_BYTE), nestedMap, nested, (float) qs.path("nested_offset").asDouble());
    }

    /** n codes from bitsandbytes' packing: byte i holds element 2i in its high nibble, 2i+1 in its low. */
    static byte[] unpack(byte[] packed, int n) {
        byte[] q = new byte[n];
        for (int i = 0; i < n; i++) q[i] = (byte) (i % 2 == 0 ? (packed[i / 2] >> 4) & 15 : packed[i / 2] & 15);
        return q;
    }

    static byte[] pack(byte[] q) {
        byte[] p = new byte[(q.length + 1) / 2];
        for (int i = 0; i < q.length; i++) p[i / 2] |= (byte) (i % 2 == 0 ? q[i] << 4 : q[i]);
        return p;
    }

    /** Writes every FourBitLinear of b in the layout above; the other linears (dense) are named in llm_int8_skip_modules. */
    static ObjectNode write(CheckpointWriter w, QuantizedModels.Built b) {
        FourBitMatrix first = null;
        List<String> skipped = new ArrayList<>();
        for (Map.Entry<String, Linear> e : b.linears().entrySet()) {
            String name = e.getKey();
            Linear l = b.format(name);
            if (l instanceof DenseLinear) {
                if (!name.equals("lm_head")) skipped.add(name);
                continue;
            }
            if (name.equals("lm_head")) throw new IllegalArgumentException("lm_head is " + l.scheme() + ": transformers keeps lm_head unquantized in bitsandbytes files");
            if (!(l instanceof FourBitLinear f))
                throw new IllegalArgumentException(name + " is " + l.scheme() + ": bitsandbytes 4-bit files hold nf4/fp4 layers (and dense ones) only");
            FourBitMatrix m = f.weights();
            if (first == null) first = m;
            else if (m.code() != first.code() || m.doubleQuant() != first.doubleQuant())
                throw new IllegalArgumentException("bitsandbytes' config has one quant type and double-quant setting for the model; found " + first.scheme() + " and " + m.scheme());
            String dtype = b.weights().find(name + ".weight").map(t -> torchDtype(t.dtype())).orElse("float32");
            String p = name + ".weight";
            w.addBytes(p, DType.U8, new long[] {((long) m.rows() * m.cols() + 1) / 2, 1}, pack(m.q()));
            if (m.doubleQuant()) w.addBytes(p + ".absmax", DType.U8, new long[] {m.blocks()}, m.absmaxQ());
            else w.addFloats(p + ".absmax", new long[] {m.blocks()}, m.absmaxFp32());
            w.addFloats(p + ".quant_map", new long[] {16}, m.code().table());
            if (m.doubleQuant()) {
                w.addFloats(p + ".nested_absmax", new long[] {m.absmaxScales().length}, m.absmaxScales());
                w.addFloats(p + ".nested_quant_map", new long[] {256}, m.absmaxMap());
            }
            byte[] js = quantStateJson(m, dtype).getBytes(StandardCharsets.UTF_8);
            w.addBytes(p + ".quant_state.bitsandbytes__" + m.code().schemeName(), DType.U8, new long[] {js.length}, js);
        }
        if (first == null) throw new IllegalArgumentException("no nf4/fp4 layer to write as bitsandbytes 4-bit");
        ObjectNode qc = JSON.createObjectNode();
        qc.put("quant_method", "bitsandbytes").put("load_in_4bit", true).put("load_in_8bit", false)
                .put("bnb_4bit_quant_type", first.code().schemeName()).put("bnb_4bit_use_double_quant", first.doubleQuant())
                .put("bnb_4bit_compute_dtype", "float32").put("bnb_4bit_quant_storage", "uint8")
                .put("llm_int8_threshold", 6.0).put("llm_int8_has_fp16_weight", false).put("llm_int8_enable_fp32_cpu_offload", false);
        if (skipped.isEmpty()) qc.putNull("llm_int8_skip_modules");
        else skipped.forEach(qc.putArray("llm_int8_skip_modules")::add);
        return qc;
    }

    /** json.dumps of as_dict's non-tensor fields, in its key order and Python's number format. */
    static String quantStateJson(FourBitMatrix m, String dtype) {
        StringBuilder s = new StringBuilder("{\"quant_type\": \"").append(m.code().schemeName()).append("\", \"blocksize\": ").append(m.blockSize())
                .append(", \"dtype\": \"").append(dtype).append("\", \"shape\": [").append(m.rows()).append(", ").append(m.cols()).append(']');
        if (m.doubleQuant())
            s.append(", \"nested_blocksize\": ").append(FourBitMatrix.DQ_BLOCK).append(", \"nested_dtype\": \"float32\", \"nested_offset\": ").append(pythonRepr(m.absmaxOffset()));
        return s.append('}').toString();
    }

    /** Python's repr of the float32 value as a double (shortest round-trip digits; exponent form below 1e-4 or from 1e16). */
    static String pythonRepr(float f) {
        double d = f;
        if (d == 0) return Double.compare(d, 0.0) < 0 ? "-0.0" : "0.0";
        BigDecimal v = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = v.unscaledValue().abs().toString();
        int exp = digits.length() - 1 - v.scale();   // d = digits[0].digits[1..] x 10^exp
        String sign = d < 0 ? "-" : "";
        if (exp < -4 || exp >= 16) {
            String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return sign + mant + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
        }
        String plain = v.abs().toPlainString();
        return sign + (plain.contains(".") ? plain : plain + ".0");
    }

    private static String torchDtype(DType t) {
        return switch (t) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        };
    }

    private static Tensor get(WeightStore store, String n) {
        return store.find(n).orElseThrow(() -> new ModelLoadException(WEIGHTS, "missing tensor " + n + " (bitsandbytes 4-bit layout)"));
    }
}
