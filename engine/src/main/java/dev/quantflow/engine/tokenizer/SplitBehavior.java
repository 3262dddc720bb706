package dev.quantflow.engine.tokenizer;

/** What a Split pre-tokenizer does with each regex match relative to the text around it. */
enum SplitBehavior {
    /** Matches and the gaps between them become separate pieces. */
    ISOLATED,
    /** Matches are dropped; gaps are kept. */
    REMOVED,
    /** Each match is glued to the end of the piece before it. */
    MERGED_WITH_PREVIOUS,
    /** Each match is glued to the start of the piece after it. */
    MERGED_WITH_NEXT,
    /** Runs of adjacent matches become one piece. */
    CONTIGUOUS;

    static SplitBehavior fromJson(String name) {
        return switch (name) {
            case "Isolated" -> ISOLATED;
            case "Removed" -> REMOVED;
            case "MergedWithPrevious" -> MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> MERGED_WITH_NEXT;
            case "Contiguous" -> CONTIGUOUS;
            default -> null;
        };
    }
}
