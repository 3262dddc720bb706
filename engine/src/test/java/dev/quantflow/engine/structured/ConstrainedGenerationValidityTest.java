package dev.quantflow.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.SpecificationVersion;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.generate.Generator;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.sample.SamplingParams;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * 200 sampled generations (temperature 1, a new seed each) per model, through the one decode rule
 * (SequenceDecoder, as the server runs it), against four schemas: every output is valid JSON for
 * its schema by an independent JSON Schema validator (networknt, formats asserted). Then the
 * extensions (regex, choice) and json_object, and max_tokens cutting an output short.
 */
class ConstrainedGenerationValidityTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SchemaRegistry SCHEMAS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12,
            b -> b.schemaRegistryConfig(SchemaRegistryConfig.builder().formatAssertionsEnabled(true).build()));

    static final List<String> SCHEMAS_UNDER_TEST = List.of(
            """
            {"type":"object","properties":{"name":{"type":"string","minLength":1,"maxLength":12},"age":{"type":"integer"},
             "email":{"type":"string","format":"email"},"tags":{"type":"array","items":{"enum":["red","green","blue"]},"minItems":1,"maxItems":3}},
             "required":["name","age"],"additionalProperties":false}""",
            """
            {"$defs":{"point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"]}},
             "type":"object","properties":{"id":{"type":"string","format":"uuid"},"at":{"$ref":"#/$defs/point"},
             "kind":{"anyOf":[{"const":"fixed"},{"type":"null"},{"type":"boolean"}]},"when":{"type":"string","format":"date-time"},
             "day":{"type":"string","format":"date"}},"required":["id","at","kind","when"]}""",
            """
            {"type":"array","items":{"type":"object","properties":{"k":{"type":"string","pattern":"^[a-z]{1,8}$"},"v":{"type":["integer","null"]},
             "ip":{"type":"string","format":"ipv4"}},"required":["k","v"]},"minItems":1,"maxItems":4}""",
            """
            {"type":"object","properties":{"answer":{"enum":["yes","no",3,null]},"confidence":{"type":"number"},
             "note":{"type":"string","maxLength":20},"flags":{"type":"array","items":{"type":"boolean"},"maxItems":5},
             "meta":{"type":"object","properties":{"lang":{"const":"en"},"n":{"type":"integer"}},"required":["lang"]}},"required":["answer","meta"]}""");

    private static final int PER_SCHEMA = 50;

    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K", "models/sotu6M"})
    void everySampledOutputIsValidForItsSchema(String model) throws Exception {
        try (LlamaModel m = LlamaModel.open(SharedData.path(model))) {
            Generator g = new Generator(m.full(LinearFactory.DENSE), m.tokenizer());
            int[] prompt = m.tokenizer().encode("Once upon a time, the answer was");
            int n = 0;
            for (String schemaText : SCHEMAS_UNDER_TEST) {
                Schema schema = SCHEMAS.getSchema(schemaText);
                OutputConstraint c = OutputConstraint.jsonSchema("response_format", schemaText);
                for (int i = 0; i < PER_SCHEMA; i++, n++) {
                    GenerateOptions opt = new GenerateOptions(400, new SamplingParams(1f, 0, 1f, 1000L + n), false, List.of()).constrained(c);
                    GenerateResult r = g.generate(prompt, opt, (id, d) -> {});
                    assertThat(r.finishReason()).as("%s #%d: %s", model, n, r.text()).isEqualTo("stop");
                    JsonNode out = JSON.readTree(r.text());
                    List<Error> errors = schema.validate(out);
                    assertThat(errors).as("%s #%d: %s", model, n, r.text()).isEmpty();
                }
            }
            assertThat(n).isEqualTo(200);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K", "models/sotu6M"})
    void regexChoiceAndJsonObject(String model) throws Exception {
        try (LlamaModel m = LlamaModel.open(SharedData.path(model))) {
            Generator g = new Generator(m.full(LinearFactory.DENSE), m.tokenizer());
            int[] prompt = m.tokenizer().encode("The number is");
            String regex = "(\\+1 )?\\(?[0-9]{3}\\)?-[0-9]{3}-[0-9]{4}|[A-Z][a-z]{2,6} (Street|Road)";
            OutputConstraint rx = OutputConstraint.regex("guided_regex", regex);
            OutputConstraint choice = OutputConstraint.choice("guided_choice", List.of("positive", "negative", "neutral ünïcode"));
            OutputConstraint object = OutputConstraint.jsonObject("response_format");
            for (int i = 0; i < 20; i++) {
                SamplingParams s = new SamplingParams(1f, 0, 1f, 77L + i);
                GenerateResult r = g.generate(prompt, new GenerateOptions(100, s, false, List.of()).constrained(rx), (id, d) -> {});
                assertThat(Pattern.matches(regex, r.text())).as(r.text()).isTrue();
                assertThat(r.finishReason()).isEqualTo("stop");
                r = g.generate(prompt, new GenerateOptions(100, s, false, List.of()).constrained(choice), (id, d) -> {});
                assertThat(r.text()).isIn("positive", "negative", "neutral ünïcode");
                // free-form strings may outrun max_tokens (these small models tell stories inside the first key): then
                // the output is cut (length) and is a prefix of a JSON object; otherwise it is a JSON object
                r = g.generate(prompt, new GenerateOptions(120, s, false, List.of()).constrained(object), (id, d) -> {});
                assertThat(r.text()).startsWith("{");
                if (r.finishReason().equals("stop")) {
                    assertThat(JSON.readTree(r.text()).isObject()).as(r.text()).isTrue();
                } else {
                    assertThat(r.tokens()).hasSize(120);
                    assertThat(object.automaton().walk(0, r.text().getBytes(java.nio.charset.StandardCharsets.UTF_8))).as(r.text()).isNotNegative();
                }
            }
        }
    }

    /** A prompt of BOS alone: the first token's leading space is stripped, so tokens are checked by the bytes they really add. */
    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K", "models/sotu6M"})
    void aPromptOfOnlyBosStillGivesValidOutput(String model) throws Exception {
        try (LlamaModel m = LlamaModel.open(SharedData.path(model))) {
            Generator g = new Generator(m.full(LinearFactory.DENSE), m.tokenizer());
            int[] prompt = {m.tokenizer().bosTokenId().orElseThrow()};
            Schema schema = SCHEMAS.getSchema(SCHEMAS_UNDER_TEST.get(0));
            OutputConstraint c = OutputConstraint.jsonSchema("response_format", SCHEMAS_UNDER_TEST.get(0));
            for (int i = 0; i < 10; i++) {
                GenerateResult r = g.generate(prompt, new GenerateOptions(400, new SamplingParams(1f, 0, 1f, 500L + i), false, List.of()).constrained(c), (id, d) -> {});
                assertThat(r.finishReason()).as(r.text()).isEqualTo("stop");
                assertThat(schema.validate(JSON.readTree(r.text()))).as(r.text()).isEmpty();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K"})
    void maxTokensCutsAnOutputShortWithFinishReasonLength(String model) {
        try (LlamaModel m = LlamaModel.open(SharedData.path(model))) {
            Generator g = new Generator(m.full(LinearFactory.DENSE), m.tokenizer());
            OutputConstraint c = OutputConstraint.jsonSchema("response_format", SCHEMAS_UNDER_TEST.get(1));
            GenerateResult r = g.generate(m.tokenizer().encode("Hi"), new GenerateOptions(6, new SamplingParams(1f, 0, 1f, 5L), false, List.of()).constrained(c),
                    (id, d) -> {});
            assertThat(r.finishReason()).isEqualTo("length");
            assertThat(r.tokens()).hasSize(6);
            assertThat(r.text()).startsWith("{\"id\":");
            assertThat(c.automaton().walk(0, r.text().getBytes(java.nio.charset.StandardCharsets.UTF_8))).as("an incomplete but valid prefix").isNotNegative();
        }
    }
}
