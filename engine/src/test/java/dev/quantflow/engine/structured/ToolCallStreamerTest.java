package dev.quantflow.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The streamed reading of tool calls: fed in random pieces, the content, the calls' names and their
 * arguments are those of the whole output's reading; content streams before the output ends, a
 * call starts once its name is read, and its arguments come in pieces.
 */
class ToolCallStreamerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<ToolCalling.Function> TOOLS = List.of(new ToolCalling.Function("get_weather", "{\"type\":\"object\"}"),
            new ToolCalling.Function("add", "{\"type\":\"object\"}"));
    private static final ToolCalling.Choice AUTO = new ToolCalling.Choice(ToolCalling.Mode.AUTO, "");
    private static final ToolCalling.Choice REQUIRED = new ToolCalling.Choice(ToolCalling.Mode.REQUIRED, "");

    /** What a stream of events adds up to. */
    private record Read(String content, List<String> names, List<String> arguments, int argumentPieces) {}

    private static Read read(String text, ToolCalling.Choice choice, boolean parallel, Random random) {
        ToolCallStreamer s = new ToolCallStreamer(TOOLS, choice, parallel);
        List<ToolCallStreamer.Event> events = new ArrayList<>();
        for (int i = 0; i < text.length(); ) {
            int n = 1 + random.nextInt(3);
            events.addAll(s.push(text.substring(i, Math.min(text.length(), i + n))));
            i += n;
        }
        events.addAll(s.finish());
        StringBuilder content = new StringBuilder();
        List<String> names = new ArrayList<>();
        List<StringBuilder> args = new ArrayList<>();
        int pieces = 0;
        for (ToolCallStreamer.Event e : events) {
            switch (e) {
                case ToolCallStreamer.Content c -> content.append(c.text());
                case ToolCallStreamer.CallStart c -> {
                    assertThat(c.index()).isEqualTo(names.size());
                    names.add(c.name());
                    args.add(new StringBuilder());
                }
                case ToolCallStreamer.Arguments a -> {
                    args.get(a.index()).append(a.piece());
                    pieces++;
                }
            }
        }
        return new Read(content.toString(), names, args.stream().map(b -> compact(b.toString())).toList(), pieces);
    }

    private static String compact(String json) {
        try {
            return JSON.readTree(json).toString();
        } catch (Exception e) {
            return "not JSON: " + json;
        }
    }

    private static void sameAsWhole(String text, ToolCalling.Choice choice, boolean parallel, String content, List<String> names) {
        ToolCalling.Answer whole = ToolCalling.read(text, TOOLS, choice, parallel);
        for (int seed = 0; seed < 20; seed++) {
            Read r = read(text, choice, parallel, new Random(seed));
            assertThat(r.content()).as("content of %s", text).isEqualTo(content);
            assertThat(r.names()).as("calls in %s", text).isEqualTo(names);
            assertThat(whole.calls().stream().map(ToolCalling.Call::name).toList()).isEqualTo(names);
            assertThat(r.arguments()).isEqualTo(whole.calls().stream().map(ToolCalling.Call::argumentsJson).toList());
        }
    }

    @Test
    void streamedReadingEqualsTheWholeOne() {
        String hermes = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"celsius\"}}\n</tool_call>\n"
                + "<tool_call>{\"name\":\"add\",\"arguments\":{\"a\":1,\"b\":[2, {\"c\": \"}\"}]}}</tool_call>";
        sameAsWhole(hermes, AUTO, true, "Let me check.\n", List.of("get_weather", "add"));
        sameAsWhole(hermes, AUTO, false, "Let me check.\n", List.of("get_weather"));
        sameAsWhole("<|python_tag|>{\"name\": \"add\", \"parameters\": {\"a\": 5, \"b\": 6}}", AUTO, true, "", List.of("add"));
        sameAsWhole("  {\"name\": \"add\", \"parameters\": {\"a\": 5}}", AUTO, true, "", List.of("add"));
        // not calls: JSON of another shape, an unknown tool, a lone tag, a tag's start at the end
        sameAsWhole("{\"answer\": 42}", AUTO, true, "{\"answer\": 42}", List.of());
        sameAsWhole("<tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call> ok", AUTO, true,
                "<tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call> ok", List.of());
        sameAsWhole("a < b and x <tool", AUTO, true, "a < b and x <tool", List.of());
        sameAsWhole("Plain text, no call.", AUTO, true, "Plain text, no call.", List.of());
        // arguments as a JSON string (some Hermes models write them so)
        sameAsWhole("<tool_call>{\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>", AUTO, true, "", List.of("add"));
        sameAsWhole("[{\"name\": \"add\", \"parameters\": {\"a\": 1}}, {\"name\":\"get_weather\",\"parameters\":{\"city\":\"Rome\"}}]", REQUIRED, true, "",
                List.of("add", "get_weather"));
        sameAsWhole("<tool_call>{\"name\":\"add\",\"arguments\":{\"a\":1}}</tool_call>", new ToolCalling.Choice(ToolCalling.Mode.NONE, ""), true,
                "<tool_call>{\"name\":\"add\",\"arguments\":{\"a\":1}}</tool_call>", List.of());
    }

    @Test
    void contentAndCallsStreamBeforeTheOutputEnds() {
        ToolCallStreamer s = new ToolCallStreamer(TOOLS, AUTO, true);
        assertThat(s.push("The weather ")).containsExactly(new ToolCallStreamer.Content("The weather "));
        assertThat(s.push("now: <tool")).containsExactly(new ToolCallStreamer.Content("now: "));   // "<tool" may open a call
        assertThat(s.push("_call>{\"name\": \"get_")).isEmpty();
        assertThat(s.push("weather\", \"arguments\": {\"ci")).containsExactly(new ToolCallStreamer.CallStart(0, "get_weather"),
                new ToolCallStreamer.Arguments(0, "{\"ci"));
        assertThat(s.push("ty\": \"Oslo\"}")).containsExactly(new ToolCallStreamer.Arguments(0, "ty\": \"Oslo\"}"));
        assertThat(s.push("}</tool_call>")).isEmpty();
        assertThat(s.push(" Done.")).containsExactly(new ToolCallStreamer.Content(" Done."));
        assertThat(s.finish()).isEmpty();
        assertThat(s.calls()).isEqualTo(1);

        // Llama 3.1: an output opening with '{' is held until it is known to be a call, or not
        ToolCallStreamer llama = new ToolCallStreamer(TOOLS, AUTO, true);
        assertThat(llama.push("{\"na")).isEmpty();
        assertThat(llama.push("me\": \"add\", \"parameters\": {\"a\"")).containsExactly(new ToolCallStreamer.CallStart(0, "add"),
                new ToolCallStreamer.Arguments(0, "{\"a\""));
        ToolCallStreamer json = new ToolCallStreamer(TOOLS, AUTO, true);
        assertThat(json.push("{\"ans")).isEmpty();
        assertThat(json.push("wer\": 1}")).containsExactly(new ToolCallStreamer.Content("{"), new ToolCallStreamer.Content("\"answer\": 1}"));

        // one character at a time, the arguments come in many pieces
        String required = "[{\"name\": \"add\", \"parameters\": {\"a\": 12345, \"b\": 67890}}]";
        ToolCallStreamer r = new ToolCallStreamer(TOOLS, REQUIRED, true);
        int pieces = 0;
        for (char c : required.toCharArray())
            for (ToolCallStreamer.Event e : r.push(String.valueOf(c))) if (e instanceof ToolCallStreamer.Arguments) pieces++;
        assertThat(pieces).isGreaterThan(20);
    }
}
