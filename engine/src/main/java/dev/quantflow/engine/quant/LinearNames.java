package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.LlamaConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * The linear layers of a Llama model by Hugging Face name, and which of them read the same input:
 * q/k/v read the attention norm's output, gate/up the MLP norm's; o_proj and down_proj have their
 * own. Statistics are kept per input, not per layer.
 */
public final class LinearNames {
    private LinearNames() {}

    public static final String[] ATTN = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"};
    public static final String[] MLP = {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

    public static String layer(int l, String suffix) {
        return "model.layers." + l + "." + suffix;
    }

    /** Every decoder linear (without the ".weight" suffix), then lm_head. */
    public static List<String> all(LlamaConfig c) {
        List<String> names = new ArrayList<>();
        for (int l = 0; l < c.numLayers(); l++) {
            for (String s : ATTN) names.add(layer(l, s));
            for (String s : MLP) names.add(layer(l, s));
        }
        names.add("lm_head");
        return names;
    }

    /** The key of the input a linear reads: shared by q/k/v and by gate/up. */
    public static String inputKey(String linear) {
        if (linear.endsWith("self_attn.q_proj") || linear.endsWith("self_attn.k_proj") || linear.endsWith("self_attn.v_proj"))
            return linear.substring(0, linear.lastIndexOf("self_attn.")) + "attn_in";
        if (linear.endsWith("mlp.gate_proj") || linear.endsWith("mlp.up_proj"))
            return linear.substring(0, linear.lastIndexOf("mlp.")) + "mlp_in";
        return linear;
    }

    /** Whether this linear is the first of its input group (the one that records the shared input). */
    public static boolean recordsInput(String linear) {
        return !(linear.endsWith("self_attn.k_proj") || linear.endsWith("self_attn.v_proj") || linear.endsWith("mlp.up_proj"));
    }
}
