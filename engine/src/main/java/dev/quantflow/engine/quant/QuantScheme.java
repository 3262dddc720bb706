package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.Fp8Format;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A quantization scheme for a linear layer, by name with optional parameters, e.g.
 * {@code llm-int8:threshold=6.0}, {@code w8a8-dynamic:group=128}, {@code w4a16-gptq:group=128,act-order=true}.
 * The names are the CLI's --quant values; {@link #toString()} gives the canonical form back.
 */
public sealed interface QuantScheme {
    /** Default group size of the int4 schemes (as AutoGPTQ/AutoAWQ); a group wider than a row means one per row. */
    int DEFAULT_INT4_GROUP = 128;

    String name();

    /** Whether building this layer needs statistics from calibration text. */
    default boolean needsCalibration() {
        return false;
    }

    /** Whether this layer uses calibration statistics when they are there. */
    default boolean usesCalibration() {
        return needsCalibration();
    }

    /** The layer-wise distillation this layer's weights get (lkd=true), or null. */
    default Lkd.Settings lkdSettings() {
        return null;
    }

    /** Whether this layer is trained by ZeroQuant's layer-wise distillation (it then needs calibration text). */
    default boolean lkd() {
        return lkdSettings() != null;
    }

    record Fp32() implements QuantScheme {
        public String name() { return "fp32"; }
        @Override public String toString() { return name(); }
    }

    record Bf16() implements QuantScheme {
        public String name() { return "bf16"; }
        @Override public String toString() { return name(); }
    }

    /** Static per-tensor activation scale from calibration, per-tensor weights. */
    record W8A8Tensor() implements QuantScheme {
        public String name() { return "w8a8-tensor"; }
        @Override public boolean needsCalibration() { return true; }
        @Override public String toString() { return name(); }
    }

    /** Weight-only int8 per output channel; lkdSettings non-null: trained by layer-wise distillation first. */
    record W8A16(Lkd.Settings lkdSettings) implements QuantScheme {
        public W8A16() {
            this(null);
        }
        public String name() { return "w8a16"; }
        @Override public boolean needsCalibration() { return lkd(); }
        @Override public String toString() { return withParams(name(), lkdString(lkdSettings)); }
    }

    /**
     * Per-token dynamic int8 activations; weights per output channel (group 0) or per group;
     * lkdSettings non-null: trained by layer-wise distillation first (ZeroQuant's W8A8 with LKD).
     */
    record W8A8Dynamic(int group, Lkd.Settings lkdSettings) implements QuantScheme {
        public W8A8Dynamic(int group) {
            this(group, null);
        }
        public String name() { return "w8a8-dynamic"; }
        @Override public boolean needsCalibration() { return lkd(); }
        @Override public String toString() { return withParams(name(), (group > 0 ? ",group=" + group : "") + lkdString(lkdSettings)); }
    }

    /**
     * ZeroQuant's W4A8: int4 weights, asymmetric, a scale and zero point per group of G input
     * columns (as w4a16), rounded to nearest (weights=rtn) or by GPTQ (weights=gptq, in input
     * order: W4A8Linear takes no act-order permutation), and per-token dynamic int8 activations;
     * optionally LKD (from the RTN or the GPTQ codes).
     */
    record W4A8(int group, Lkd.Settings lkdSettings, Int4Method weights) implements QuantScheme {
        public W4A8 {
            if (weights == Int4Method.AWQ) throw new IllegalArgumentException("w4a8 takes weights=rtn or gptq, not awq");
        }
        public W4A8(int group, Lkd.Settings lkdSettings) {
            this(group, lkdSettings, Int4Method.RTN);
        }
        public String name() { return "w4a8"; }
        @Override public boolean needsCalibration() { return lkd() || weights == Int4Method.GPTQ; }
        @Override public String toString() {
            return name() + ":group=" + group + (weights == Int4Method.RTN ? "" : ",weights=" + weights.name().toLowerCase(Locale.ROOT)) + lkdString(lkdSettings);
        }
    }

    /** name, or name:params when params (",k=v,...") is not empty. */
    private static String withParams(String name, String params) {
        return params.isEmpty() ? name : name + ":" + params.substring(1);
    }

    /** LLM.int8(): outlier columns (|x| >= threshold) in floating point, the rest int8. */
    record LlmInt8(float threshold, LlmInt8Linear.FpSource fp) implements QuantScheme {
        public String name() { return "llm-int8"; }
        /** Calibration is optional: without it every outlier column is dequantized from int8 (fp=dequant). */
        @Override public boolean usesCalibration() { return fp == LlmInt8Linear.FpSource.CALIBRATED; }
        @Override public String toString() {
            return name() + ":threshold=" + fmt(threshold) + (fp == LlmInt8Linear.FpSource.CALIBRATED ? "" : ",fp=" + fp.name().toLowerCase(Locale.ROOT));
        }
    }

    /** How SmoothQuant's alpha is chosen: given, or searched on calibration loss once for the model or per fold (per layer). */
    enum AlphaSearch {
        FIXED, MODEL, LAYER;

        /** The parameter's value: the alpha, search-model or search. */
        String text(float alpha) {
            return switch (this) {
                case FIXED -> fmt(alpha);
                case MODEL -> "search-model";
                case LAYER -> "search";
            };
        }
    }

    /** SmoothQuant: migrate activation outliers into the weights with s = max|X|^alpha / max|W|^(1-alpha), then W8A8. */
    record SmoothQuant(float alpha, boolean perChannelWeights, AlphaSearch search) implements QuantScheme {
        public SmoothQuant(float alpha, boolean perChannelWeights) {
            this(alpha, perChannelWeights, AlphaSearch.FIXED);
        }
        public String name() { return "smoothquant"; }
        @Override public boolean needsCalibration() { return true; }
        @Override public String toString() {
            return name() + ":alpha=" + search.text(alpha) + (perChannelWeights ? "" : ",weights=tensor");
        }
    }

    enum Int4Method { RTN, GPTQ, AWQ }

    /**
     * Weight-only int4, groups of G input columns: asymmetric (a scale and a zero point per
     * group), or for RTN symmetric (sym=true: codes -7..7, zero point 0, as GGUF Q4_0 holds them).
     */
    record W4A16(Int4Method method, int group, boolean actOrder, boolean symmetric, Lkd.Settings lkdSettings) implements QuantScheme {
        public W4A16(Int4Method method, int group, boolean actOrder) {
            this(method, group, actOrder, false);
        }
        public W4A16(Int4Method method, int group, boolean actOrder, boolean symmetric) {
            this(method, group, actOrder, symmetric, null);
        }
        public String name() { return "w4a16-" + method.name().toLowerCase(Locale.ROOT); }
        @Override public boolean needsCalibration() { return method != Int4Method.RTN || lkd(); }
        @Override public String toString() {
            return name() + ":group=" + group + (actOrder ? ",act-order=true" : "") + (symmetric ? ",sym=true" : "") + lkdString(lkdSettings);
        }
    }

    /** ",lkd=true" and the settings that differ from the defaults, or "" without distillation. */
    private static String lkdString(Lkd.Settings s) {
        if (s == null) return "";
        Lkd.Settings d = Lkd.Settings.DEFAULT;
        return ",lkd=true" + (s.steps() != d.steps() ? ",lkd-steps=" + s.steps() : "") + (s.lr() != d.lr() ? ",lkd-lr=" + s.lr() : "")
                + (s.fixedScales() != d.fixedScales() ? ",lkd-scales=" + (s.fixedScales() ? "fixed" : "latent") : "");
    }

    /** FP8 weight-only: e4m3 or e5m2 codes with per-channel or per-tensor scales, fp32 activations. */
    record Fp8(Fp8Format format, boolean perChannel) implements QuantScheme {
        public String name() { return "fp8"; }
        @Override public String toString() {
            return name() + ":format=" + format.name().toLowerCase(Locale.ROOT) + ",scale=" + (perChannel ? "channel" : "tensor");
        }
    }

    /** How FP8 W8A8's weight codes are chosen: round to nearest with absmax scales, with MSE-searched scales, or by GPTQ onto the e4m3 grid. */
    enum Fp8Weights {
        RTN, MSE, GPTQ, /** GPTQ on the scales of the mse observer (instead of absmax). */ GPTQ_MSE;

        boolean gptq() { return this == GPTQ || this == GPTQ_MSE; }
        boolean mseScales() { return this == MSE || this == GPTQ_MSE; }
        String param() { return name().toLowerCase(Locale.ROOT).replace('_', '-'); }
    }

    /**
     * FP8 W8A8: e4m3 weights and e4m3 activations, scaled per token (dynamic), per tensor (dynamic)
     * or static from calibration. The weights' codes come from weights (rtn: absmax / 448; mse:
     * llm-compressor's "mse" observer; gptq: GPTQ on the e4m3 grid with absmax scales), optionally
     * after SmoothQuant's migration with smooth = alpha (NaN: none), or with alpha searched
     * (smoothSearch MODEL / LAYER, smooth then NaN) on the calibration loss of this FP8 W8A8 as it
     * runs. actOrder: GPTQ visits the columns by decreasing Hessian diagonal (AutoGPTQ's desc_act;
     * free here, the per-row scales are fixed up front). The loaded layer is the same format
     * whatever chose its codes.
     */
    record Fp8W8A8(boolean perChannelWeights, Fp8W8A8Linear.Act act, Fp8Weights weights, float smooth, AlphaSearch smoothSearch, boolean actOrder,
                   Lkd.Settings lkdSettings) implements QuantScheme {
        public Fp8W8A8 {
            if (smoothSearch != AlphaSearch.FIXED) smooth = Float.NaN;
            if (actOrder && !weights.gptq()) throw new IllegalArgumentException("fp8-w8a8: act-order applies to weights=gptq or gptq-mse");
            if (lkdSettings != null && act != Fp8W8A8Linear.Act.TOKEN)
                throw new IllegalArgumentException("fp8-w8a8 with lkd=true needs per-token activations (act=token), the ones the student sees");
        }
        public Fp8W8A8(boolean perChannelWeights, Fp8W8A8Linear.Act act) {
            this(perChannelWeights, act, Fp8Weights.RTN, Float.NaN);
        }
        public Fp8W8A8(boolean perChannelWeights, Fp8W8A8Linear.Act act, Fp8Weights weights, float smooth) {
            this(perChannelWeights, act, weights, smooth, AlphaSearch.FIXED, false, null);
        }
        public Fp8W8A8(boolean perChannelWeights, Fp8W8A8Linear.Act act, Fp8Weights weights, float smooth, Lkd.Settings lkdSettings) {
            this(perChannelWeights, act, weights, smooth, AlphaSearch.FIXED, false, lkdSettings);
        }
        public String name() { return "fp8-w8a8"; }
        public boolean smoothed() { return smoothSearch != AlphaSearch.FIXED || !Float.isNaN(smooth); }
        @Override public boolean needsCalibration() { return act == Fp8W8A8Linear.Act.STATIC || weights.gptq() || smoothed() || lkd(); }
        @Override public String toString() {
            String p = (act == Fp8W8A8Linear.Act.TOKEN ? "" : ",act=" + act.name().toLowerCase(Locale.ROOT)) + (perChannelWeights ? "" : ",scale=tensor")
                    + (weights == Fp8Weights.RTN ? "" : ",weights=" + weights.param()) + (actOrder ? ",act-order=true" : "") + (smoothed() ? ",smooth=" + smoothSearch.text(smooth) : "") + lkdString(lkdSettings);
            return p.isEmpty() ? name() : name() + ":" + p.substring(1);
        }
    }

    /** bitsandbytes 4-bit weight-only, NF4 or FP4 codes: absmax blocks of B weights; double quantization stores the absmax in 8 bits. */
    record FourBit(FourBitCode code, int block, boolean doubleQuant, boolean mseScale, boolean gptq) implements QuantScheme {
        public FourBit(FourBitCode code, int block, boolean doubleQuant) {
            this(code, block, doubleQuant, false, false);
        }
        public String name() { return code.schemeName(); }
        @Override public boolean needsCalibration() { return gptq; }
        @Override public String toString() {
            return name() + ":block=" + block + (doubleQuant ? "" : ",double-quant=false") + (mseScale ? ",scale=mse" : "") + (gptq ? ",weights=gptq" : "");
        }
    }

    /**
     * GGUF Q6_K blocks (6.5625 bits per weight: 256 weights share an fp16 d, each 16 an int8 scale,
     * codes -32..31), quantized as llama.cpp's reference quantizer and computed by the GGUF Q6_K
     * kernel; rows must have a multiple of 256 columns. Q4_K_M's head/embedding format.
     */
    record Q6K() implements QuantScheme {
        public String name() { return "q6_k"; }
        @Override public String toString() { return name(); }
    }

    private static String fmt(float v) {
        return v == Math.rint(v) ? String.format(Locale.ROOT, "%.1f", v) : Float.toString(v);
    }

    static QuantScheme parse(String spec) {
        String s = spec.trim().toLowerCase(Locale.ROOT);
        int colon = s.indexOf(':');
        String name = colon < 0 ? s : s.substring(0, colon);
        Map<String, String> p = params(colon < 0 ? "" : s.substring(colon + 1), spec);
        boolean distillable = name.startsWith("w4a16") || name.equals("w8a16") || name.equals("int8") || name.equals("w4a8")
                || name.equals("w8a8-dynamic") || name.equals("w8a8") || name.equals("fp8-w8a8");
        if (!distillable && p.keySet().stream().anyMatch(k -> k.startsWith("lkd")))
            throw new IllegalArgumentException("scheme '" + spec + "': lkd applies to w4a16-rtn, w4a16-gptq, w8a16, w4a8, w8a8-dynamic and fp8-w8a8");
        Lkd.Settings lkd = distillable ? lkd(p, spec) : null;
        QuantScheme q = switch (name) {
            case "fp32", "f32", "dense", "none" -> new Fp32();   // the weights in their stored dtype
            case "bf16" -> new Bf16();
            case "w8a8-tensor" -> new W8A8Tensor();
            case "w8a16", "int8" -> new W8A16(lkd);
            case "w8a8-dynamic", "w8a8" -> new W8A8Dynamic(intParam(p, "group", 0, spec), lkd);
            case "w4a8" -> {
                Int4Method m = choice(p, "weights", Int4Method.class, Int4Method.RTN, spec);
                if (m == Int4Method.AWQ) throw new IllegalArgumentException("scheme '" + spec + "': w4a8 takes weights=rtn or gptq");
                yield new W4A8(intParam(p, "group", DEFAULT_INT4_GROUP, spec), lkd, m);
            }
            case "llm-int8" -> new LlmInt8(floatParam(p, "threshold", 6.0f, spec), fpSource(p.remove("fp"), spec));
            case "smoothquant" -> {
                AlphaSearch search = alphaSearch(p, "alpha");
                yield new SmoothQuant(search == AlphaSearch.FIXED ? alpha(p, spec) : 0.5f, !"tensor".equals(p.remove("weights")), search);
            }
            case "w4a16", "w4a16-rtn", "w4a16-gptq", "w4a16-awq" -> new W4A16(name.equals("w4a16") ? Int4Method.RTN : Int4Method.valueOf(name.substring(6).toUpperCase(Locale.ROOT)),
                    intParam(p, "group", DEFAULT_INT4_GROUP, spec), Boolean.parseBoolean(p.getOrDefault("act-order", "false")),
                    Boolean.parseBoolean(p.getOrDefault("sym", "false")), lkd);
            case "fp8", "fp8-w8a16" -> new Fp8(choice(p, "format", Fp8Format.class, Fp8Format.E4M3, spec), perChannel(p, spec));
            case "fp8-w8a8" -> {
                AlphaSearch search = alphaSearch(p, "smooth");
                yield new Fp8W8A8(perChannel(p, spec), choice(p, "act", Fp8W8A8Linear.Act.class, Fp8W8A8Linear.Act.TOKEN, spec),
                        choice(p, "weights", Fp8Weights.class, Fp8Weights.RTN, spec), p.containsKey("smooth") ? alpha(p, "smooth", spec) : Float.NaN, search,
                        Boolean.parseBoolean(p.remove("act-order")), lkd);
            }
            case "q6_k", "q6k" -> new Q6K();
            case "nf4", "fp4" -> new FourBit(FourBitCode.valueOf(name.toUpperCase(Locale.ROOT)), intParam(p, "block", 64, spec), !"false".equals(p.remove("double-quant")),
                    blockScale(p.remove("scale"), spec), fourBitGptq(p.remove("weights"), spec));
            default -> throw new IllegalArgumentException("unknown quantization scheme '" + spec + "' (known: fp32, bf16, w8a8-tensor, w8a16, "
                    + "w8a8-dynamic[:group=G], llm-int8[:threshold=6.0], smoothquant[:alpha=0.5|search|search-model], w4a16-rtn|gptq|awq[:group=128], w4a16-rtn:sym=true, "
                    + "w4a16-rtn|gptq:lkd=true, w8a16:lkd=true, w4a8[:group=128,weights=rtn|gptq,lkd=true], w8a8-dynamic:lkd=true, fp8[:format=e4m3|e5m2,scale=channel|tensor], fp8-w8a8[:act=token|tensor|static,scale=channel|tensor,weights=rtn|mse|gptq|gptq-mse,act-order=true,smooth=ALPHA|search|search-model,lkd=true], nf4|fp4[:block=64,double-quant=true,scale=absmax|mse,weights=rtn|gptq], q6_k)");
        };
        if (q instanceof W4A16) {   // read in the switch; another scheme given them is told below
            p.remove("act-order");
            p.remove("sym");
        }
        if (!p.isEmpty()) throw new IllegalArgumentException("scheme '" + spec + "': unknown parameter(s) " + p.keySet());
        if (q instanceof W4A16 w && w.actOrder() && w.method() != Int4Method.GPTQ)
            throw new IllegalArgumentException("scheme '" + spec + "': act-order applies to w4a16-gptq only");
        if (q instanceof W4A16 w && w.lkd() && w.method() == Int4Method.AWQ)
            throw new IllegalArgumentException("scheme '" + spec + "': lkd=true starts from rtn or gptq weights, not awq");
        if (q instanceof W4A16 w && w.symmetric() && w.method() != Int4Method.RTN)
            throw new IllegalArgumentException("scheme '" + spec + "': sym=true applies to w4a16-rtn only");
        return q;
    }

    static Map<String, String> params(String s, String spec) {
        Map<String, String> m = new LinkedHashMap<>();
        if (s.isBlank()) return m;
        for (String kv : s.split(",")) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("scheme '" + spec + "': parameter '" + kv + "' is not key=value");
            m.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
        }
        return m;
    }

    /** lkd=true[,lkd-steps=N][,lkd-lr=X]: null unless lkd=true. */
    private static Lkd.Settings lkd(Map<String, String> p, String spec) {
        String on = p.remove("lkd");
        boolean tuned = p.containsKey("lkd-steps") || p.containsKey("lkd-lr") || p.containsKey("lkd-scales");
        if (on != null && !on.equals("true") && !on.equals("false"))
            throw new IllegalArgumentException("scheme '" + spec + "': lkd must be true or false, got '" + on + "'");
        if (!"true".equals(on)) {
            if (tuned) throw new IllegalArgumentException("scheme '" + spec + "': lkd-steps, lkd-lr and lkd-scales need lkd=true");
            return null;
        }
        Lkd.Settings d = Lkd.Settings.DEFAULT;
        String lr = p.remove("lkd-lr");
        double rate = d.lr();
        if (lr != null) {
            try {
                rate = Double.parseDouble(lr);
            } catch (NumberFormatException e) {
                rate = -1;
            }
            if (!(rate > 0) || Double.isInfinite(rate))
                throw new IllegalArgumentException("scheme '" + spec + "': lkd-lr must be a positive number, got '" + lr + "'");
        }
        String scales = p.remove("lkd-scales");
        if (scales != null && !scales.equals("fixed") && !scales.equals("latent"))
            throw new IllegalArgumentException("scheme '" + spec + "': lkd-scales must be fixed or latent, got '" + scales + "'");
        return new Lkd.Settings(intParam(p, "lkd-steps", d.steps(), spec), rate, d.seqLen(), d.batch(), scales == null ? d.fixedScales() : scales.equals("fixed"));
    }

    private static int intParam(Map<String, String> p, String key, int def, String spec) {
        String v = p.remove(key);
        if (v == null) return def;
        try {
            int i = Integer.parseInt(v);
            if (i <= 0) throw new NumberFormatException();
            return i;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("scheme '" + spec + "': " + key + " must be a positive integer, got '" + v + "'");
        }
    }

    private static float floatParam(Map<String, String> p, String key, float def, String spec) {
        String v = p.remove(key);
        if (v == null) return def;
        try {
            float f = Float.parseFloat(v);
            if (!(f > 0) || Float.isInfinite(f)) throw new NumberFormatException();
            return f;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("scheme '" + spec + "': " + key + " must be a positive number, got '" + v + "'");
        }
    }

    /**
     * SmoothQuant's alpha given as search (or auto: per fold) or search-model (one for the model)
     * under key: the search, with the key consumed; FIXED (key left for alpha()) otherwise.
     */
    private static AlphaSearch alphaSearch(Map<String, String> p, String key) {
        AlphaSearch search = switch (p.getOrDefault(key, "")) {
            case "search", "auto" -> AlphaSearch.LAYER;
            case "search-model", "auto-model" -> AlphaSearch.MODEL;
            default -> AlphaSearch.FIXED;
        };
        if (search != AlphaSearch.FIXED) p.remove(key);
        return search;
    }

    private static float alpha(Map<String, String> p, String spec) {
        return alpha(p, "alpha", spec);
    }

    private static float alpha(Map<String, String> p, String key, String spec) {
        String v = p.remove(key);
        if (v == null) return 0.5f;
        try {
            float a = Float.parseFloat(v);
            if (!(a >= 0 && a <= 1)) throw new NumberFormatException();
            return a;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("scheme '" + spec + "': " + key + " must be in [0, 1]" + ", search (auto) or search-model" + ", got '" + v + "'");
        }
    }

    /** nf4/fp4 scale=absmax (bitsandbytes) or mse (each block's scale searched for the least squared error): true for mse. */
    private static boolean blockScale(String v, String spec) {
        if (v == null || v.equals("absmax")) return false;
        if (v.equals("mse")) return true;
        throw new IllegalArgumentException("scheme '" + spec + "': scale must be absmax or mse, got '" + v + "'");
    }

    /** nf4/fp4 weights=rtn (nearest code, bitsandbytes) or gptq (GPTQ onto the blocks' codes): true for gptq. */
    private static boolean fourBitGptq(String v, String spec) {
        if (v == null || v.equals("rtn")) return false;
        if (v.equals("gptq")) return true;
        throw new IllegalArgumentException("scheme '" + spec + "': weights must be rtn or gptq, got '" + v + "'");
    }

    private static boolean perChannel(Map<String, String> p, String spec) {
        String v = p.remove("scale");
        if (v == null || v.equals("channel")) return true;
        if (v.equals("tensor")) return false;
        throw new IllegalArgumentException("scheme '" + spec + "': scale must be channel or tensor, got '" + v + "'");
    }

    private static <E extends Enum<E>> E choice(Map<String, String> p, String key, Class<E> type, E def, String spec) {
        String v = p.remove(key);
        if (v == null) return def;
        for (E e : type.getEnumConstants()) if (e.name().replace('_', '-').equalsIgnoreCase(v)) return e;
        throw new IllegalArgumentException("scheme '" + spec + "': " + key + " must be one of " + java.util.Arrays.stream(type.getEnumConstants())
                .map(e -> e.name().toLowerCase(Locale.ROOT).replace('_', '-')).toList() + ", got '" + v + "'");
    }

    private static LlmInt8Linear.FpSource fpSource(String v, String spec) {
        if (v == null) return LlmInt8Linear.FpSource.CALIBRATED;
        return switch (v) {
            case "dequant" -> LlmInt8Linear.FpSource.DEQUANT;
            case "calibrated" -> LlmInt8Linear.FpSource.CALIBRATED;
            case "copy" -> LlmInt8Linear.FpSource.COPY;
            default -> throw new IllegalArgumentException("scheme '" + spec + "': fp must be dequant, calibrated or copy, got '" + v + "'");
        };
    }
}
