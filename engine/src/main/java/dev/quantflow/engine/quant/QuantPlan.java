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

    /** spec: a scheme; overrides: "PATTERN=SCHEME" each. */
    public static QuantPlan parse(String spec, List<String> overrides) {
        List<Override> o = new ArrayList<>();
        for (String ov : overrides) {
            int eq = ov.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("layer override '" + ov + "' must be PATTERN=SCHEME, e.g. down_proj=w8a16");
            o.add(new Override(ov.substring(0, eq).trim(), QuantScheme.parse(ov.substring(eq + 1))));
        }
        return new QuantPlan(QuantScheme.parse(spec), List.copyOf(o));
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
