package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * fp32 heap copies of the tensors a transform changes (norm weights, linear weights), read from a
 * store on first touch; {@link #apply} gives the store with the edits in place.
 */
public final class WeightEdits {
    private final WeightStore base;
    private final Map<String, float[]> edited = new LinkedHashMap<>();
    private final Map<String, long[]> shapes = new LinkedHashMap<>();

    public WeightEdits(WeightStore base) {
        this.base = base;
    }

    /** The fp32 values of tensor name (e.g. "model.norm.weight"), editable in place. */
    public float[] get(String name) {
        return edited.computeIfAbsent(name, n -> {
            Tensor t = base.get(n);
            shapes.put(n, t.shape());
            return t.toFloatArray();
        });
    }

    public long[] shape(String name) {
        get(name);
        return shapes.get(name);
    }

    public boolean isEmpty() {
        return edited.isEmpty();
    }

    public WeightStore apply() {
        Map<String, Tensor> t = new LinkedHashMap<>();
        edited.forEach((n, v) -> t.put(n, new Tensor(n, DType.F32, shapes.get(n), MemorySegment.ofArray(v))));
        return base.withReplaced(t);
    }
}
