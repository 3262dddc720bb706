package dev.quantflow.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.chat.ChatTemplate;
import dev.quantflow.engine.chat.Message;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.generate.Generator;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.sample.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Tools reach the chat template; outputs become calls; a forced tool_choice gives valid calls from a real model. */
class ToolCallingTest {
    static final String WEATHER = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},"
            + "\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"city\",\"unit\"]}";
    static final String TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather in a city\",\"parameters\":" + WEATHER + "}},"
            + "{\"type\":\"function\",\"function\":{\"name\":\"add\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"}},\"required\":[\"a\",\"b\"]}}}]";
    private static final List<ToolCalling.Function> FUNCTIONS = List.of(new ToolCalling.Function("get_weather", WEATHER),
            new ToolCalling.Function("add", "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"}},\"required\":[\"a\",\"b\"]}"));

    @Test
    void aQwen25TemplateRendersTheTools() throws Exception {
        ChatTemplate t = ChatTemplate.of(Files.readString(Path.of("src/test/resources/chat/qwen25-tools.jinja")), "", "<|im_end|>");
        String withTools = t.render(List.of(new Message("user", "Weather in Paris?")), true, TOOLS);
        assertThat(withTools).contains("# Tools").contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"")
                .contains("<tool_call>").endsWith("<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n");
        assertThat(t.render(List.of(new Message("user", "Hi")), true)).doesNotContain("# Tools");
        assertThat(ChatTemplate.plain().render(List.of(new Message("user", "Hi")), true, TOOLS)).startsWith("tools: [");
    }

    @Test
    void outputsBecomeCalls() {
        ToolCalling.Choice auto = new ToolCalling.Choice(ToolCalling.Mode.AUTO, "");
        assertThat(ToolCalling.parse("Sure.\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}\n</tool_call>\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"unit\":\"celsius\"}}</tool_call>",
                FUNCTIONS, auto)).containsExactly(new ToolCalling.Call("add", "{\"a\":1,\"b\":2}"),
                new ToolCalling.Call("get_weather", "{\"city\":\"Oslo\",\"unit\":\"celsius\"}"));
        assertThat(ToolCalling.parse("<|python_tag|>{\"name\": \"add\", \"parameters\": {\"a\": 5, \"b\": 6}}", FUNCTIONS, auto))
                .containsExactly(new ToolCalling.Call("add", "{\"a\":5,\"b\":6}"));
        assertThat(ToolCalling.parse("{\"name\": \"unknown\", \"parameters\": {}}", FUNCTIONS, auto)).isEmpty();
        assertThat(ToolCalling.parse("Just text.", FUNCTIONS, auto)).isEmpty();
        assertThat(ToolCalling.parse("<tool_call>{\"name\":\"add\",\"arguments\":{\"a\":1,\"b\":2}}</tool_call>", FUNCTIONS,
                new ToolCalling.Choice(ToolCalling.Mode.NONE, ""))).isEmpty();
        assertThat(ToolCalling.parse("[{\"name\":\"add\",\"parameters\":{\"a\":1,\"b\":2}}]", FUNCTIONS, new ToolCalling.Choice(ToolCalling.Mode.REQUIRED, "")))
                .containsExactly(new ToolCalling.Call("add", "{\"a\":1,\"b\":2}"));
        assertThatThrownBy(() -> ToolCalling.constraint(FUNCTIONS, new ToolCalling.Choice(ToolCalling.Mode.NAMED, "nope")))
                .isInstanceOf(ParameterException.class).hasMessageContaining("'nope'");
    }

    @Test
    void aForcedToolChoiceGivesValidCallsFromARealModel() throws Exception {
        var validator = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(WEATHER);
        ObjectMapper json = new ObjectMapper();
        try (LlamaModel m = LlamaModel.open(SharedData.path("models/stories260K"))) {
            Generator g = new Generator(m.full(LinearFactory.DENSE), m.tokenizer());
            int[] prompt = m.tokenizer().encode("What is the weather in Paris?");
            for (int i = 0; i < 10; i++) {
                GenerateOptions o = new GenerateOptions(450, new SamplingParams(1f, 0, 1f, i), false, List.of());
                ToolCalling.Choice named = new ToolCalling.Choice(ToolCalling.Mode.NAMED, "get_weather");
                GenerateResult r = g.generate(prompt, o.constrained(ToolCalling.constraint(FUNCTIONS, named).orElseThrow()), (id, d) -> {});
                List<ToolCalling.Call> calls = ToolCalling.parse(r.text(), FUNCTIONS, named);
                assertThat(calls).as(r.text()).hasSize(1);
                assertThat(validator.validate(json.readTree(calls.getFirst().argumentsJson()))).as(r.text()).isEmpty();

                ToolCalling.Choice required = new ToolCalling.Choice(ToolCalling.Mode.REQUIRED, "");
                r = g.generate(prompt, o.constrained(ToolCalling.constraint(FUNCTIONS, required).orElseThrow()), (id, d) -> {});
                assertThat(r.finishReason()).as(r.text()).isEqualTo("stop");
                calls = ToolCalling.parse(r.text(), FUNCTIONS, required);
                assertThat(calls).as(r.text()).isNotEmpty();
                for (ToolCalling.Call c : calls) {
                    assertThat(c.name()).isIn("get_weather", "add");
                    if (c.name().equals("get_weather")) assertThat(validator.validate(json.readTree(c.argumentsJson()))).isEmpty();
                    else assertThat(json.readTree(c.argumentsJson()).get("a").isIntegralNumber()).isTrue();
                }
            }
        }
    }
}
