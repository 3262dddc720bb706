package dev.quantflow.actors.cluster;

import dev.quantflow.actors.protocol.StageHostCommand;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/** The Receptionist key a stage node registers under: one per layer range, so any node started for those layers can serve them. */
public final class StageKeys {
    private StageKeys() {}

    /** Layers [first, last), named inclusively as on the command line (quantflow stage --layers 0-3). */
    public static ServiceKey<StageHostCommand> forLayers(int first, int last) {
        if (first < 0 || last <= first) throw new IllegalArgumentException("an empty layer range [" + first + ", " + last + ")");
        return ServiceKey.create(StageHostCommand.class, "quantflow-stage-layers-" + first + "-" + (last - 1));
    }

    /** "a-b" (inclusive) as [a, b+1). */
    public static int[] parseLayers(String text) {
        String[] parts = text.strip().split("-");
        try {
            if (parts.length == 2) {
                int a = Integer.parseInt(parts[0].strip()), b = Integer.parseInt(parts[1].strip());
                if (a >= 0 && b >= a) return new int[] {a, b + 1};
            }
        } catch (NumberFormatException ignored) {
            // the message below says what is expected
        }
        throw new IllegalArgumentException("--layers " + text + ": expected FIRST-LAST, the inclusive layer numbers, e.g. 0-3");
    }
}
