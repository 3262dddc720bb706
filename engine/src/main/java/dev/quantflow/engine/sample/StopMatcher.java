package dev.quantflow.engine.sample;

import java.util.List;

/**
 * Streams generated text while watching for stop strings: text that could still be the start of
 * a stop string is held back, and once one appears the text before it is released and the
 * sequence stops (the stop string itself is not returned, as OpenAI does, unless includeStop:
 * vLLM's include_stop_str_in_output). While not armed (min_tokens not reached) no stop is matched.
 */
public final class StopMatcher {
    private final List<String> stops;
    private final int maxLen;
    private final boolean includeStop;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    public StopMatcher(List<String> stops) {
        this(stops, false);
    }

    public StopMatcher(List<String> stops, boolean includeStop) {
        this.includeStop = includeStop;
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
        this.maxLen = this.stops.stream().mapToInt(String::length).max().orElse(0);
    }

    public boolean stopped() {
        return stopped;
    }

    /** Adds newly decoded text; returns the text that is now safe to emit. */
    public String push(String delta) {
        return push(delta, true);
    }

    /** The same; unarmed, the text is released as it is and no stop string ends the sequence. */
    public String push(String delta, boolean armed) {
        if (stopped) return "";
        pending.append(delta);
        if (maxLen == 0 || !armed) return drain(pending.length());
        int first = -1, end = -1;
        for (String s : stops) {
            int i = pending.indexOf(s);
            if (i >= 0 && (first < 0 || i < first)) { first = i; end = i + s.length(); }
        }
        if (first >= 0) {
            stopped = true;
            String out = pending.substring(0, includeStop ? end : first);
            pending.setLength(0);
            return out;
        }
        // hold back the longest suffix that is a proper prefix of some stop string
        int hold = 0;
        for (String s : stops)
            for (int k = Math.min(s.length() - 1, pending.length()); k > hold; k--)
                if (pending.toString().regionMatches(pending.length() - k, s, 0, k)) { hold = k; break; }
        int n = pending.length() - hold;
        if (n > 0 && Character.isHighSurrogate(pending.charAt(n - 1))) n--;
        return drain(n);
    }

    /** At the end of the sequence: whatever was held back. */
    public String flush() {
        return stopped ? "" : drain(pending.length());
    }

    private String drain(int n) {
        String out = pending.substring(0, n);
        pending.delete(0, n);
        return out;
    }
}
