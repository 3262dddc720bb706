package dev.quantflow.engine.chat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.chat.jinja.Template;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The Jinja subset, construct by construct, against what Jinja2 renders for the same input. */
class JinjaSubsetTest {
    private static String render(String template, Object... kv) {
        Map<String, Object> vars = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) vars.put((String) kv[i], kv[i + 1]);
        return Template.compile(template).render(vars);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiterString = " => ", quoteCharacter = '`', value = {
            "{{ 1 + 2 * 3 }} => 7", "{{ (1 + 2) * 3 }} => 9", "{{ 7 // 2 }} => 3", "{{ -7 // 2 }} => -4", "{{ 7 % 3 }} => 1", "{{ -1 % 3 }} => 2", "{{ 7 / 2 }} => 3.5",
            "{{ 2 ** 10 }} => 1024", "{{ 1.5 + 1 }} => 2.5", "{{ 4 / 2 }} => 2.0", "{{ 'a' ~ 1 ~ none }} => a1None", "{{ 'ab' * 3 }} => ababab",
            "{{ 1 == 1.0 }} => True", "{{ 'a' != 'b' }} => True", "{{ 2 < 3 and 3 <= 3 }} => True", "{{ not 0 }} => True", "{{ 0 or 'x' }} => x",
            "{{ '' and 'x' }} => ``", "{{ 'b' in 'abc' }} => True", "{{ 2 not in [1, 2] }} => False", "{{ 'k' in {'k': 1} }} => True",
            "{{ 'yes' if 1 > 2 else 'no' }} => no", "{{ [1, 2, 3][-1] }} => 3", "{{ [1, 2, 3, 4][1:3] }} => [2, 3]", "{{ 'hello'[::-1] }} => olleh",
            "{{ 'hello'[1:] }} => ello", "{{ '  x  ' | trim }} => x", "{{ 'hello world' | title }} => Hello World", "{{ 'Hi' | upper }}{{ 'Hi' | lower }} => HIhi",
            "{{ [1, 2, 3] | length }} => 3", "{{ [1, 2] | join(', ') }} => 1, 2", "{{ undefined_var | default('d') }} => d", "{{ '' | default('d', true) }} => d",
            "{{ [3, 1] | first }}{{ [3, 1] | last }} => 31", "{{ 'a-b' | replace('-', '+') }} => a+b", "{{ ' x '.strip() }} => x", "{{ 'xxhixx'.strip('x') }} => hi",
            "{{ 'a,b'.split(',') }} => ['a', 'b']", "{{ 'abc'.startswith('ab') }} => True", "{{ 'Hello'.endswith('lo') }} => True",
            "{{ {'a': 1, 'b': [true, none]} | tojson }} => `{\"a\": 1, \"b\": [true, null]}`", "{{ 'x\\ny' }} => `x\ny`",
            "{{ undefined_var is defined }} => False", "{{ none is none }} => True", "{{ 4 is divisibleby 2 }} => True", "{{ 3 is odd }} => True",
            "{{ 'x' is string }} => True", "{{ 1 is not string }} => True", "{{ 'a' \"b\" }} => ab", "{{ range(3) | list }} => [0, 1, 2]",
            "{{ true }}{{ false }}{{ none }} => TrueFalseNone", "{{ undefined_var }} => ``", "{{ {'a': 1}.get('b', 2) }} => 2"})
    void expressions(String template, String expected) {
        assertThat(render(template)).isEqualTo(expected);
    }

    @Test
    void loopVariablesAndElse() {
        assertThat(render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}", "xs", List.of("a", "b")))
                .isEqualTo("10TrueFalse22;21FalseTrue21;");
        assertThat(render("{% for x in xs %}{{ x }}{% else %}empty{% endfor %}", "xs", List.of())).isEqualTo("empty");
        assertThat(render("{% for x in xs if x > 1 %}{{ x }}{% endfor %}", "xs", List.of(1, 2, 3))).isEqualTo("23");
        assertThat(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "d", Map.of("a", 1))).isEqualTo("a=1;");
        assertThat(render("{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
                "xs", List.of(1, 2, 3, 4, 5))).isEqualTo("13");
    }

    @Test
    void setScopesAndNamespaces() {
        assertThat(render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = 5 %}{% endfor %}{{ x }}")).isEqualTo("1");
        assertThat(render("{% set ns = namespace(found=false) %}{% for i in [1, 2] %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}"))
                .isEqualTo("True");
        assertThat(render("{% set block %}a{{ 1 + 1 }}b{% endset %}[{{ block }}]")).isEqualTo("[a2b]");
    }

    @Test
    void ifElifElse() {
        String t = "{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}";
        assertThat(render(t, "n", 1)).isEqualTo("one");
        assertThat(render(t, "n", 2)).isEqualTo("two");
        assertThat(render(t, "n", 3)).isEqualTo("many");
    }

    @Test
    void whitespaceControl() {
        assertThat(render("a  {{- 'b' -}}  c")).isEqualTo("abc");
        assertThat(render("a\n  {%- if true -%}\n  b\n{%- endif %}")).isEqualTo("ab");
        assertThat(render("{% if true %}\nx\n{% endif %}\ny")).isEqualTo("x\ny");
        assertThat(render("  {% if true %}x{% endif %}")).isEqualTo("x");
        assertThat(render("a  {% if true %}x{% endif %}")).isEqualTo("a  x");
        assertThat(render("{# a comment #}\nz")).isEqualTo("z");
        assertThat(render("{{ 'x' }}\ny")).isEqualTo("x\ny");
    }

    @Test
    void llama31StyleConstructs() {
        String t = "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}"
                + "{%- else %}{%- set system_message = \"\" %}{%- endif %}{%- if not date_string is defined %}{%- set date_string = \"26 Jul 2024\" %}{%- endif %}"
                + "{{- \"Today Date: \" + date_string + \"\\n\" }}{{- system_message }}{%- for message in messages %}{{- '|' + message['role'] + ':' + message['content'] | trim }}{%- endfor %}";
        Map<String, Object> sys = Map.of("role", "system", "content", " S ");
        Map<String, Object> user = Map.of("role", "user", "content", " U ");
        assertThat(render(t, "messages", List.of(sys, user))).isEqualTo("Today Date: 26 Jul 2024\nS|user:U");
    }
}
