package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.Tensor;
import java.util.List;

/**
 * Places each decoder layer's linears by layer index: layers [bounds[i], bounds[i+1]) go to
 * stages.get(i) (e.g. one factory per card), lm_head to the last stage. Activations then pass
 * between devices as consecutive layers do.
 */
public final class StagedLinearFactory implements LinearFactory {
    private final List<LinearFactory> stages;
    private final int[] bounds;   // stages.size() + 1 layer boundaries, bounds[0] = 0

    public StagedLinearFactory(List<LinearFactory> stages, int[] bounds) {
        if (bounds.length != stages.size() + 1 || bounds[0] != 0) throw new IllegalArgumentException("need one layer boundary per stage, starting at 0");
        for (int i = 1; i < bounds.length; i++)
            if (bounds[i] <= bounds[i - 1]) throw new IllegalArgumentException("every stage needs at least one layer");
        this.stages = List.copyOf(stages);
        this.bounds = bounds.clone();
    }

    /** Splits numLayers into n contiguous stages whose sizes differ by at most one. */
    public static int[] evenBounds(int numLayers, int n) {
        if (n < 1 || n > numLayers) throw new IllegalArgumentException("cannot split " + numLayers + " layers into " + n + " stages");
        int[] b = new int[n + 1];
        for (int i = 1; i <= n; i++) b[i] = (int) ((long) numLayers * i / n);
        return b;
    }

    @Override
    public Linear create(String name, Tensor weight, float[] bias) {
        return stageOf(name).create(name, weight, bias);
    }

    @Override
    public java.util.Optional<Linear> fromStore(String name, int out, int in, float[] bias) {
        return stageOf(name).fromStore(name, out, in, bias);
    }

    private LinearFactory stageOf(String name) {
        String prefix = "model.layers.";
        if (!name.startsWith(prefix)) return stages.getLast();   // lm_head and anything after the layers
        int end = name.indexOf('.', prefix.length());
        int layer = Integer.parseInt(name.substring(prefix.length(), end));
        for (int i = 0; i < stages.size(); i++)
            if (layer < bounds[i + 1]) return stages.get(i);
        throw new IllegalArgumentException(name + ": layer " + layer + " is past the last stage (" + bounds[bounds.length - 1] + " layers)");
    }
}
