package dev.quantflow.engine.chat.jinja;

import java.util.List;

/** The `loop` variable inside a for loop. */
record LoopInfo(int index0, int length, List<Object> items) {
    Object attribute(String name) {
        return switch (name) {
            case "index0" -> (long) index0;
            case "index" -> (long) index0 + 1;
            case "revindex" -> (long) (length - index0);
            case "revindex0" -> (long) (length - index0 - 1);
            case "first" -> index0 == 0;
            case "last" -> index0 == length - 1;
            case "length" -> (long) length;
            case "previtem" -> index0 > 0 ? items.get(index0 - 1) : Undefined.INSTANCE;
            case "nextitem" -> index0 < length - 1 ? items.get(index0 + 1) : Undefined.INSTANCE;
            default -> Undefined.INSTANCE;
        };
    }
}
