package dev.quantflow.engine.structured;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads tool calls out of a chat output as it is generated, for streaming them as OpenAI does:
 * content as soon as it cannot be the start of a call, a call's name as soon as it is known, then
 * its arguments piece by piece. Whole answers run the same reader over the whole text (see
 * {@link ToolCalling#parse}), so streamed and whole answers agree.
 *
 * <p>The formats are {@link ToolCalling}'s: NAMED, the output is the arguments; REQUIRED, a JSON
 * list of {"name", "parameters"} objects; AUTO, free text in which Hermes/Qwen2.5
 * {@code <tool_call>{"name", "arguments"}</tool_call>} blocks are calls, or (Llama 3.1) a text that
 * starts, after optional whitespace and {@code <|python_tag|>}, with a {"name", "parameters"}
 * object naming a given tool. A call is committed (streamed) once its name is read and is a given
 * tool's; a block that turns out not to be a call is content. With parallel false, calls after the
 * first are dropped. One instance per output; not thread-safe.
 */
public final class ToolCallStreamer {
    private static final String OPEN = "<tool_call>";
    private static final String CLOSE = "</tool_call>";
    private static final String PYTHON_TAG = "<|python_tag|>";

    /** What the reader emits: content text, the start of a call (its index and name), or a piece of a call's arguments. */
    public sealed interface Event {}

    public record Content(String text) implements Event {}

    public record CallStart(int index, String name) implements Event {}

    public record Arguments(int index, String piece) implements Event {}

    private enum State { START, CONTENT, HERMES, LLAMA, LIST, DONE }

    private final List<ToolCalling.Function> tools;
    private final ToolCalling.Choice choice;
    private final boolean parallel;
    private final StringBuilder text = new StringBuilder();
    private final StringBuilder space = new StringBuilder();
    private State state;
    private int pos;            // text before pos is consumed
    private int calls;
    private CallScan call;      // the call being read, or null
    private int blockStart;     // AUTO: where the Hermes block or Llama object being read began (for content, when it is no call)

    public ToolCallStreamer(List<ToolCalling.Function> tools, ToolCalling.Choice choice, boolean parallel) {
        this.tools = tools;
        this.choice = choice;
        this.parallel = parallel;
        this.state = switch (choice.mode()) {
            case NONE -> State.CONTENT;
            case AUTO -> State.START;
            case REQUIRED -> State.LIST;
            case NAMED -> State.DONE;
        };
    }

    /** The number of calls started so far. */
    public int calls() {
        return calls;
    }

    /** The events that the text generated so far makes final. */
    public List<Event> push(String piece) {
        List<Event> out = new ArrayList<>();
        if (choice.mode() == ToolCalling.Mode.NAMED) {
            if (calls == 0) {
                calls = 1;
                out.add(new CallStart(0, choice.name()));
            }
            if (!piece.isEmpty()) out.add(new Arguments(0, piece));
            return out;
        }
        text.append(piece);
        scan(out, false);
        return out;
    }

    /** The output ended: what was held back (a possible start of a call that never came) is content. */
    public List<Event> finish() {
        List<Event> out = new ArrayList<>();
        if (choice.mode() == ToolCalling.Mode.NAMED) {
            if (calls == 0) {
                calls = 1;
                out.add(new CallStart(0, choice.name()));
            }
            return out;
        }
        scan(out, true);
        if ((state == State.HERMES || state == State.LLAMA) && (call == null || !call.started)) content(out, blockStart, text.length());
        else if (state == State.START || state == State.CONTENT) content(out, pos, text.length());
        pos = text.length();
        state = State.DONE;
        return out;
    }

    private void scan(List<Event> out, boolean ended) {
        while (true) {
            switch (state) {
                case START -> {
                    int p = skipSpace(pos);
                    if (p == text.length()) return;   // only whitespace so far
                    String rest = text.substring(p);
                    if (rest.startsWith(PYTHON_TAG) || rest.charAt(0) == '{') {
                        blockStart = pos;
                        pos = rest.startsWith(PYTHON_TAG) ? p + PYTHON_TAG.length() : p;
                        call = null;
                        state = State.LLAMA;
                    } else if (PYTHON_TAG.startsWith(rest) && !ended) {
                        return;   // maybe the tag
                    } else {
                        state = State.CONTENT;
                    }
                }
                case CONTENT -> {
                    if (choice.mode() == ToolCalling.Mode.NONE) {
                        content(out, pos, text.length());
                        pos = text.length();
                        return;
                    }
                    int at = text.indexOf(OPEN, pos);
                    if (at < 0) {
                        int keep = ended ? 0 : heldBack();
                        content(out, pos, text.length() - keep);
                        pos = text.length() - keep;
                        return;
                    }
                    content(out, pos, at);
                    blockStart = at;
                    pos = at + OPEN.length();
                    call = null;
                    state = State.HERMES;
                }
                case HERMES, LLAMA -> {
                    boolean hermes = state == State.HERMES;
                    if (call == null) {
                        int p = skipSpace(pos);
                        if (p == text.length()) return;
                        if (text.charAt(p) != '{') {
                            notACall(out, hermes);
                            continue;
                        }
                        call = new CallScan(p, hermes ? "arguments" : "parameters");
                    }
                    Progress r = call.advance(out);
                    if (r == Progress.MORE) return;
                    if (r == Progress.FAILED) {
                        notACall(out, hermes);
                        continue;
                    }
                    // the object is complete: a Hermes block ends with its closing tag, a Llama call ends the output
                    int p = skipSpace(call.end);
                    if (hermes) {
                        if (text.length() - p < CLOSE.length() && CLOSE.startsWith(text.substring(p)) && !ended) return;
                        if (text.indexOf(CLOSE, p) == p) p += CLOSE.length();
                    }
                    pos = hermes ? p : text.length();
                    call = null;
                    state = hermes ? State.CONTENT : State.DONE;
                }
                case LIST -> {
                    if (call == null) {
                        int p = skipSpace(pos);
                        if (p == text.length()) return;
                        char c = text.charAt(p);
                        if (c == '[' || c == ',') {
                            pos = p + 1;
                            continue;
                        }
                        if (c != '{') {
                            state = State.DONE;   // the list's end (the constraint allows nothing else)
                            continue;
                        }
                        call = new CallScan(p, "parameters");
                    }
                    Progress r = call.advance(out);
                    if (r == Progress.MORE) return;
                    pos = call.end;
                    call = null;
                    if (r == Progress.FAILED) state = State.DONE;
                }
                case DONE -> {
                    pos = text.length();
                    return;
                }
            }
        }
    }

    /** An AUTO block that is not a call: its text is content, and reading goes on after its start. */
    private void notACall(List<Event> out, boolean hermes) {
        if (call != null && call.started) {   // committed already: the rest of the block is dropped
            pos = text.length();
            state = State.DONE;
            return;
        }
        int from = blockStart;
        int resume = hermes ? blockStart + OPEN.length() : skipSpace(blockStart) + 1;
        content(out, from, resume);
        pos = resume;
        call = null;
        state = State.CONTENT;
    }

    /** Content; after a call, whitespace (between calls, before the end) is held until other text follows it, and dropped at the end. */
    private void content(List<Event> out, int from, int to) {
        if (to <= from) return;
        if (calls == 0) {
            out.add(new Content(text.substring(from, to)));
            return;
        }
        space.append(text, from, to);
        if (!space.toString().isBlank()) {
            out.add(new Content(space.toString()));
            space.setLength(0);
        }
    }

    /** The length of the longest end of the text that could begin a {@code <tool_call>} tag. */
    private int heldBack() {
        for (int k = Math.min(OPEN.length() - 1, text.length() - pos); k > 0; k--)
            if (OPEN.startsWith(text.substring(text.length() - k))) return k;
        return 0;
    }

    private int skipSpace(int p) {
        while (p < text.length() && Character.isWhitespace(text.charAt(p))) p++;
        return p;
    }

    private enum Progress { MORE, DONE, FAILED }

    /**
     * One {"name": "...", ARGS_KEY: VALUE} object read incrementally from start: the call starts
     * once the name is read (and is a given tool's, and parallel allows another call), the value's
     * text streams as arguments while it is generated. A string value (arguments as JSON text) is
     * sent once complete, decoded. Another key order or shape fails (before the call starts).
     */
    private final class CallScan {
        private final String argsKey;
        private int p;              // next unread character
        private int step;           // 0 '{', 1 "name", 2 ':', 3 name value, 4 ',', 5 args key, 6 ':', 7 value, 8 '}'
        private String name;
        boolean started;
        private int index;
        private int valueStart = -1, sent;
        private final JsonValueScanner value = new JsonValueScanner();
        int end;

        CallScan(int start, String argsKey) {
            this.p = start;
            this.argsKey = argsKey;
        }

        Progress advance(List<Event> out) {
            if (step == 9) return Progress.DONE;   // complete (its caller may be waiting for what follows)
            while (true) {
                if (step != 3 && step != 7) p = skipSpace(p);
                if (p >= text.length()) return Progress.MORE;
                switch (step) {
                    case 0, 2, 4, 6, 8 -> {
                        char want = switch (step) { case 0 -> '{'; case 2, 6 -> ':'; case 4 -> ','; default -> '}'; };
                        if (text.charAt(p) != want) return Progress.FAILED;
                        p++;
                        step++;
                        if (step == 9) {
                            end = p;
                            return Progress.DONE;
                        }
                    }
                    case 1, 5 -> {
                        String key = step == 1 ? "name" : argsKey;
                        String alt = step == 5 && argsKey.equals("parameters") ? "arguments" : step == 5 ? "parameters" : key;
                        String got = readString();
                        if (got == null) return Progress.MORE;
                        if (!got.equals(key) && !got.equals(alt)) return Progress.FAILED;
                        step++;
                    }
                    case 3 -> {
                        p = skipSpace(p);
                        if (p >= text.length()) return Progress.MORE;
                        String got = readString();
                        if (got == null) return Progress.MORE;
                        if (tools.stream().noneMatch(f -> f.name().equals(got))) return Progress.FAILED;
                        name = got;
                        step++;
                    }
                    case 7 -> {
                        if (valueStart < 0) {
                            p = skipSpace(p);
                            if (p >= text.length()) return Progress.MORE;
                            char c = text.charAt(p);
                            if (c != '{' && c != '"') return Progress.FAILED;
                            if (!parallel && calls > 0) {   // one call at most: later ones are read past, not sent
                                index = -1;
                            } else {
                                index = calls++;
                                started = true;
                                out.add(new CallStart(index, name));
                            }
                            valueStart = p;
                            sent = p;
                        }
                        int valueEnd = value.feed(text, p);
                        p = valueEnd < 0 ? text.length() : valueEnd;
                        boolean isString = text.charAt(valueStart) == '"';
                        if (index >= 0 && !isString && p > sent) {
                            out.add(new Arguments(index, text.substring(sent, p)));
                            sent = p;
                        }
                        if (valueEnd < 0) return Progress.MORE;
                        if (index >= 0 && isString) out.add(new Arguments(index, ToolCalling.decodeJsonString(text.substring(valueStart, p))));
                        step++;
                    }
                    default -> throw new IllegalStateException("step " + step);
                }
            }
        }

        /** A complete JSON string at p (then past it), decoded; null while it is incomplete. Fails on a non-string by returning "". */
        private String readString() {
            if (text.charAt(p) != '"') return "\u0000";   // matches no key nor tool name
            int q = p + 1;
            while (q < text.length()) {
                char c = text.charAt(q);
                if (c == '\\') q += 2;
                else if (c == '"') {
                    String s = ToolCalling.decodeJsonString(text.substring(p, q + 1));
                    p = q + 1;
                    return s;
                } else q++;
            }
            return null;
        }
    }

    /** Finds where a JSON value (object, array or string) that starts at a given position ends, fed as the text grows. */
    private static final class JsonValueScanner {
        private int at = -1, depth;
        private boolean inString, escaped;

        /** The index after the value's end, or -1 while it is incomplete; from is where to go on (the value's start at first). */
        int feed(CharSequence s, int from) {
            if (at < 0) at = from;
            for (; at < s.length(); at++) {
                char c = s.charAt(at);
                if (inString) {
                    if (escaped) escaped = false;
                    else if (c == '\\') escaped = true;
                    else if (c == '"') {
                        inString = false;
                        if (depth == 0) return ++at;
                    }
                } else if (c == '"') {
                    inString = true;
                } else if (c == '{' || c == '[') {
                    depth++;
                } else if (c == '}' || c == ']') {
                    if (--depth == 0) return ++at;
                }
            }
            return -1;
        }
    }
}
