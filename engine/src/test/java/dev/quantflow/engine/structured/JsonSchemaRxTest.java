package dev.quantflow.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.sample.ParameterException;
import org.junit.jupiter.api.Test;

/** Schemas to automata: what each accepts and refuses, and the keywords refused by name. */
class JsonSchemaRxTest {
    private static ByteDfa schema(String json) {
        return OutputConstraint.jsonSchema("response_format", json).automaton();
    }

    @Test
    void objectsWithRequiredAndOptionalProperties() {
        ByteDfa d = schema("""
                {"type":"object","properties":{"name":{"type":"string","maxLength":5},"age":{"type":"integer"},
                 "tags":{"type":"array","items":{"enum":["a","b"]},"minItems":1,"maxItems":2}},"required":["age"]}""");
        assertThat(d.matches("{\"age\":3}")).isTrue();
        assertThat(d.matches("{\"name\":\"bob\",\"age\":-12,\"tags\":[\"a\", \"b\"]}")).isTrue();
        assertThat(d.matches("{\"name\": \"bob\", \"age\": 0}")).isTrue();
        assertThat(d.matches("{\"name\":\"bob\"}")).as("age is required").isFalse();
        assertThat(d.matches("{\"name\":\"toolong\",\"age\":1}")).isFalse();
        assertThat(d.matches("{\"age\":1,\"tags\":[]}")).as("minItems").isFalse();
        assertThat(d.matches("{\"age\":1,\"tags\":[\"a\",\"a\",\"a\"]}")).as("maxItems").isFalse();
        assertThat(d.matches("{\"age\":01}")).isFalse();
    }

    @Test
    void noRequiredPropertyMeansAnySubsetInOrder() {
        ByteDfa d = schema("{\"properties\":{\"a\":{\"type\":\"boolean\"},\"b\":{\"type\":\"null\"},\"c\":{\"const\":7}}}");
        for (String ok : new String[] {"{}", "{\"a\":true}", "{\"b\":null}", "{\"a\":false,\"c\":7}", "{\"b\":null,\"c\":7}", "{\"a\":true,\"b\":null,\"c\":7}"})
            assertThat(d.matches(ok)).as(ok).isTrue();
        for (String bad : new String[] {"{,}", "{\"c\":7,}", "{\"c\":8}", "{\"a\":true\"b\":null}"}) assertThat(d.matches(bad)).as(bad).isFalse();
    }

    @Test
    void anyOfRefsFormatsAndPatterns() {
        ByteDfa d = schema("""
                {"$defs":{"id":{"type":"string","format":"uuid"}},"type":"object",
                 "properties":{"id":{"$ref":"#/$defs/id"},"v":{"anyOf":[{"type":"number"},{"type":"string","pattern":"^[A-Z]{2}[0-9]$"}]},
                 "when":{"type":"string","format":"date-time"}},"required":["id","v","when"]}""");
        assertThat(d.matches("{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"v\":1.5e3,\"when\":\"2024-01-31T10:00:00Z\"}")).isTrue();
        assertThat(d.matches("{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"v\":\"AB1\",\"when\":\"2024-01-31T10:00:00+02:00\"}")).isTrue();
        assertThat(d.matches("{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"v\":\"ab1\",\"when\":\"2024-01-31T10:00:00Z\"}")).isFalse();
        assertThat(d.matches("{\"id\":\"x\",\"v\":1,\"when\":\"2024-01-31T10:00:00Z\"}")).isFalse();
    }

    @Test
    void jsonObjectIsAnyObjectToABoundedDepth() {
        ByteDfa d = OutputConstraint.jsonObject("response_format").automaton();
        assertThat(d.matches("{}")).isTrue();
        assertThat(d.matches("{\"a\":[1,{\"b\":\"c\\n\"}],\"d\":null}")).isTrue();
        assertThat(d.matches("[1]")).as("an object, not an array").isFalse();
        assertThat(d.matches("{\"a\":1,}")).isFalse();
        String deep = "{\"a\":".repeat(JsonSchemaRx.FREE_DEPTH + 1) + "1" + "}".repeat(JsonSchemaRx.FREE_DEPTH + 1);
        assertThat(d.matches(deep)).as("deeper than the bound").isFalse();
    }

    @Test
    void unsupportedKeywordsAreRefusedByName() {
        assertThatThrownBy(() -> schema("{\"type\":\"integer\",\"minimum\":3}")).isInstanceOf(ParameterException.class)
                .hasMessageContaining("'minimum'").extracting(e -> ((ParameterException) e).param()).isEqualTo("response_format");
        assertThatThrownBy(() -> schema("{\"oneOf\":[{\"type\":\"string\"}]}")).hasMessageContaining("'oneOf'");
        assertThatThrownBy(() -> schema("{\"type\":\"string\",\"format\":\"hostname\"}")).hasMessageContaining("'hostname'");
        assertThatThrownBy(() -> schema("{\"$defs\":{\"n\":{\"properties\":{\"next\":{\"$ref\":\"#/$defs/n\"}}}},\"$ref\":\"#/$defs/n\"}")).hasMessageContaining("recursive");
        assertThatThrownBy(() -> schema("{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}")).hasMessageContaining("backreferences");
        assertThatThrownBy(() -> schema("[1]")).hasMessageContaining("JSON object");
    }

    @Test
    void choicesAndRegexes() {
        ByteDfa c = OutputConstraint.choice("guided_choice", java.util.List.of("yes", "no", "maybe so")).automaton();
        assertThat(c.matches("maybe so")).isTrue();
        assertThat(c.matches("ye")).isFalse();
        ByteDfa r = OutputConstraint.regex("guided_regex", "[0-9]{3}-[a-z]+").automaton();
        assertThat(r.matches("123-abc")).isTrue();
    }
}
