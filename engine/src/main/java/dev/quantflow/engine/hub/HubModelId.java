package dev.quantflow.engine.hub;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A model on the Hugging Face Hub as --model names it: {@code org/name[@revision][:QUANT]}. The
 * revision is a branch, a tag or a commit sha (default main); QUANT picks one GGUF file of a GGUF
 * repository by its quantization (Q4_K_M, q8_0, ...), as llama.cpp's -hf does.
 */
public record HubModelId(String repo, String revision, Optional<String> quant) {
    public static final String DEFAULT_REVISION = "main";

    // the Hub's own name rule (letters, digits, - _ .), without "--" and "..": "--" separates the parts of a cache folder name
    private static final String PART = "[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?";
    private static final Pattern ID = Pattern.compile("(" + PART + "/" + PART + ")(?:@([^:\\s]+))?(?::([A-Za-z0-9_.-]+))?");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    public HubModelId {
        if (repo.contains("--") || repo.contains("..")) throw new IllegalArgumentException("not a Hub repository id: " + repo);
    }

    /** The id that text names, or empty when it is not one (a local path, say). */
    public static Optional<HubModelId> parse(String text) {
        Matcher m = ID.matcher(text.strip());
        if (!m.matches() || m.group(1).contains("--") || m.group(1).contains("..")) return Optional.empty();
        return Optional.of(new HubModelId(m.group(1), m.group(2) == null ? DEFAULT_REVISION : m.group(2), Optional.ofNullable(m.group(3))));
    }

    /** Whether the revision is a full commit sha (then the cache alone can answer, with no ref to look up). */
    public boolean revisionIsCommit() {
        return COMMIT.matcher(revision).matches();
    }

    static boolean isCommit(String s) {
        return COMMIT.matcher(s).matches();
    }

    @Override
    public String toString() {
        return repo + (revision.equals(DEFAULT_REVISION) ? "" : "@" + revision) + quant.map(q -> ":" + q).orElse("");
    }
}
