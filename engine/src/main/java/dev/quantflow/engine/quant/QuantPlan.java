package dev.quantflow.engine.quant;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Which scheme each linear layer gets: a model-wide default plus overrides by layer-name pattern
 * ("down_proj", "layers.0.*", "lm_head"; later overrides win). lm_head stays fp32 unless an
 * override names it, as AutoGPTQ, AutoAWQ and bitsandbytes leave it.
 */
public record QuantPlan(QuantScheme defaultScheme, List<Override> overrides) {
    public record Override(String pattern, QuantScheme scheme) {
        boolean matches(String layer) {
            if (pattern.contains("*")) return layer.matches(".*" + Pattern.quote(pattern).replace("*", "\\E.*\\Q") + ".*");
            return layer.contains(pattern);
        }
    }

    public static QuantPlan of(QuantScheme s) {
        return new QuantPlan(s, List.of());
    }

    /** ZeroQuant's mixed W4/8 with LKD: MLP w4a8 (group 64), attention w8a8-dynamic, both distilled. */
    static final String W4A8_LKD = "w4a8-lkd";

    /**
     * spec: a scheme, or the preset w4a8-lkd[:params] (the default w4a8:group=64,lkd=true with
     * params over it, and an override self_attn=w8a8-dynamic:lkd=true with the lkd params, before
     * the given ones); overrides: "PATTERN=SCHEME" each.
     */
    public static QuantPlan parse(String spec, List<String> overrides) {
        List<Override> o = new ArrayList<>();
        String s = spec.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.equals(W4A8_LKD) || s.startsWith(W4A8_LKD + ":")) {
            var p = new java.util.LinkedHashMap<String, String>();
            p.put("group", "64");
            p.put("lkd", "true");
            p.putAll(QuantScheme.params(s.substring(W4A8_LKD.length()).replaceFirst("^:", ""), spec));
            var attn = new java.util.LinkedHashMap<>(p);
            attn.remove("group");
            spec = "w4a8:" + join(p);
            o.add(new Override("self_attn", QuantScheme.parse("w8a8-dynamic:" + join(attn))));
        }
        for (String ov : overrides) {
            int eq = ov.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("layer override '" + ov + "' must be PATTERN=SCHEME, e.g. down_proj=w8a16");
            o.add(new Override(ov.substring(0, eq).trim(), QuantScheme.parse(ov.substring(eq + 1))));
        }
        return new QuantPlan(QuantScheme.parse(spec), List.copyOf(o));
    }

    private static String join(java.util.Map<String, String> p) {
        return String.join(",", p.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
    }

    public QuantScheme schemeFor(String layer) {
        QuantScheme s = layer.equals("lm_head") ? new QuantScheme.Fp32() : defaultScheme;
        for (Override o : overrides) if (o.matches(layer)) s = o.scheme();
        return s;
    }

    @java.lang.Override
    public String toString() {
        StringBuilder b = new StringBuilder(defaultScheme.toString());
        for (Override o : overrides) b.append(" ").append(o.pattern()).append('=').append(o.scheme());
        return b.toString();
    }
}
