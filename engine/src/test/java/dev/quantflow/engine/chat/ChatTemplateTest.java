package dev.quantflow.engine.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real chat templates, written as the public models ship them, render what Hugging Face's apply_chat_template renders. */
class ChatTemplateTest {
    static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
            + "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
            + "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + "
            + "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
            + "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    static final String CHATML_QWEN2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            + "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
            + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    static final String ZEPHYR = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
            + "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
            + "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    static final String MISTRAL = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
            + "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
            + "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    static final List<Message> CONVERSATION = List.of(new Message("system", "You are helpful."), new Message("user", "Hi"),
            new Message("assistant", "Hello! "), new Message("user", "How are you?"));

    @Test
    void llama2() {
        ChatTemplate t = ChatTemplate.of(LLAMA2, "<s>", "</s>");
        assertThat(t.render(CONVERSATION, true))
                .isEqualTo("<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] How are you? [/INST]");
        assertThat(t.render(List.of(new Message("user", " Hi ")), true)).isEqualTo("<s>[INST] Hi [/INST]");
    }

    @Test
    void llama2RefusesNonAlternatingRoles() {
        ChatTemplate t = ChatTemplate.of(LLAMA2, "<s>", "</s>");
        assertThatThrownBy(() -> t.render(List.of(new Message("user", "a"), new Message("user", "b")), true))
                .isInstanceOf(ChatTemplateException.class).hasMessage("Conversation roles must alternate user/assistant/user/assistant/...");
    }

    @Test
    void llama3() {
        ChatTemplate t = ChatTemplate.of(LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
        assertThat(t.render(List.of(new Message("system", "You are helpful."), new Message("user", "  Hi\n")), true))
                .isEqualTo("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
                        + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        assertThat(t.render(List.of(new Message("user", "Hi")), false)).isEqualTo("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
    }

    /** continue_final_message: the prompt ends with the last message's content, open (no end-of-turn token), as apply_chat_template cuts it. */
    @Test
    void continueFinalMessageLeavesTheLastMessageOpen() {
        ChatTemplate t = ChatTemplate.of(LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
        List<Message> prefilled = List.of(new Message("user", "Hi"), new Message("assistant", "Hello, I am "));
        assertThat(t.render(prefilled, false, "", true)).isEqualTo("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello, I am");
        assertThat(ChatTemplate.plain().render(prefilled, false, "", true)).isEqualTo("user: Hi\nassistant: Hello, I am");
        assertThatThrownBy(() -> t.render(prefilled, true, "", true)).isInstanceOf(ChatTemplateException.class).hasMessageContaining("add_generation_prompt");
        assertThatThrownBy(() -> t.render(List.of(new Message("user", "Hi"), new Message("assistant", " ")), false, "", true))
                .isInstanceOf(ChatTemplateException.class).hasMessageContaining("does not appear");
    }

    @Test
    void llama3FromTheSharedTokenizerConfigEncodesToSpecialTokens() {
        Path dir = SharedData.path("tokenizers/llama3");
        ChatTemplate t = ChatTemplate.fromModelDir(dir);
        assertThat(t.isPlain()).isFalse();
        String prompt = t.render(List.of(new Message("user", "Hello")), true);
        assertThat(prompt).isEqualTo("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        int[] ids = Tokenizer.fromModelDir(dir).encode(prompt, false);
        assertThat(ids[0]).isEqualTo(128000);
        assertThat(ids).contains(128006, 128007, 128009);
    }

    @Test
    void chatmlQwen2AddsTheDefaultSystemPrompt() {
        ChatTemplate t = ChatTemplate.of(CHATML_QWEN2, "", "<|im_end|>");
        assertThat(t.render(List.of(new Message("user", "Hi")), true))
                .isEqualTo("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assertThat(t.render(List.of(new Message("system", "Be terse."), new Message("user", "Hi")), false))
                .isEqualTo("<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    }

    @Test
    void zephyrWithTrimAndLstripBlocks() {
        ChatTemplate t = ChatTemplate.of(ZEPHYR, "<s>", "</s>");
        assertThat(t.render(List.of(new Message("system", "You are a friendly chatbot."), new Message("user", "Hi")), true))
                .isEqualTo("<|system|>\nYou are a friendly chatbot.</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
        assertThat(t.render(List.of(new Message("user", "Hi"), new Message("assistant", "Hello")), false))
                .isEqualTo("<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n");
    }

    @Test
    void mistralRefusesASystemRole() {
        ChatTemplate t = ChatTemplate.of(MISTRAL, "<s>", "</s>");
        assertThat(t.render(List.of(new Message("user", "Hi"), new Message("assistant", "Hello"), new Message("user", "Bye")), true))
                .isEqualTo("<s>[INST] Hi [/INST]Hello</s>[INST] Bye [/INST]");
        assertThatThrownBy(() -> t.render(List.of(new Message("system", "x")), true)).isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("alternate");
    }

    @Test
    void plainFallbackWhenTheModelHasNoTemplate() {
        ChatTemplate t = ChatTemplate.fromModelDir(SharedData.path("models/stories260K"));
        assertThat(t.isPlain()).isTrue();
        assertThat(t.render(List.of(new Message("system", "Be kind."), new Message("user", "Tell a story.")), true))
                .isEqualTo("system: Be kind.\nuser: Tell a story.\nassistant:");
        assertThat(t.render(List.of(new Message("user", "x")), false)).isEqualTo("user: x\n");
    }

    @Test
    void templateFilesAndNamedTemplates(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": {"content": "<s>"}, "eos_token": "</s>",
                 "chat_template": [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"}]}
                """);
        assertThat(ChatTemplate.fromModelDir(dir).render(List.of(new Message("user", "x")), true)).isEqualTo("<s>x</s>");
        Files.writeString(dir.resolve("chat_template.jinja"), "{% for m in messages %}[{{ m.role | upper }}]{% endfor %}");
        assertThat(ChatTemplate.fromModelDir(dir).render(List.of(new Message("user", "x"), new Message("assistant", "y")), true)).isEqualTo("[USER][ASSISTANT]");
    }

    @Test
    void brokenTemplatesFailWhenUsedWithTheLine() {
        ChatTemplate t = ChatTemplate.of("line one\n{% for m in messages %}{{ m.content ", "", "");
        assertThatThrownBy(() -> t.render(List.of(new Message("user", "x")), true)).isInstanceOf(ChatTemplateException.class).hasMessageContaining("line 2");
        ChatTemplate macro = ChatTemplate.of("{% macro f(x) %}{{ x }}{% endmacro %}", "", "");
        assertThatThrownBy(() -> macro.render(List.of(), true)).isInstanceOf(ChatTemplateException.class).hasMessageContaining("unsupported statement");
        ChatTemplate unclosed = ChatTemplate.of("{% if add_generation_prompt %}x", "", "");
        assertThatThrownBy(() -> unclosed.render(List.of(), true)).isInstanceOf(ChatTemplateException.class).hasMessageContaining("endif");
        ChatTemplate undefined = ChatTemplate.of("{{ nothing.here }}", "", "");
        assertThatThrownBy(() -> undefined.render(List.of(), true)).isInstanceOf(ChatTemplateException.class).hasMessageContaining("undefined");
    }

    static final String WEATHER_TOOL = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather in a city\","
            + "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]";

    /** An agent loop's second turn: the assistant's call (arguments as OpenAI's JSON text, content empty) and the tool's answer. */
    static final List<Message> TOOL_TURN = List.of(new Message("system", "You are helpful."), new Message("user", "Weather in Paris?"),
            new Message("assistant", null, List.of(new Message.ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}")), "", ""),
            new Message("tool", "{\"temperature\": 21}", List.of(), "call_1", "get_weather"));

    // The expected texts are what transformers' renderer (jinja2's sandbox with trim_blocks, lstrip_blocks and
    // its tojson) gives for these templates, with the calls' arguments parsed into mappings as vLLM passes them
    // (src/test/python/chat_template_reference.py prints them).
    @Test
    void qwen25RendersAToolConversationAsHuggingFaceDoes() throws Exception {
        ChatTemplate t = ChatTemplate.of(Files.readString(Path.of("src/test/resources/chat/qwen25-tools.jinja")), "", "<|im_end|>");
        assertThat(t.render(TOOL_TURN, true, WEATHER_TOOL)).isEqualTo("<|im_start|>system\nYou are helpful.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temperature\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n");
        // two calls in one turn, consecutive tool answers in one user turn, then a plain answer and a new question
        List<Message> twoCalls = List.of(TOOL_TURN.get(0), TOOL_TURN.get(1),
                new Message("assistant", "Checking both.", List.of(new Message.ToolCall("call_1", "get_weather", "{\"city\":\"Paris\"}"),
                        new Message.ToolCall("call_2", "get_weather", "{\"city\":\"Oslo\"}")), "", ""),
                new Message("tool", "21", List.of(), "call_1", ""), new Message("tool", "7", List.of(), "call_2", ""),
                new Message("assistant", "Paris 21, Oslo 7."), new Message("user", "Thanks"));
        assertThat(t.render(twoCalls, true, WEATHER_TOOL)).isEqualTo("<|im_start|>system\nYou are helpful.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\nChecking both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n21\n</tool_response>\n<tool_response>\n7\n</tool_response><|im_end|>\n<|im_start|>assistant\nParis 21, Oslo 7.<|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n");
    }

    @Test
    void llama31RendersAToolConversationAsHuggingFaceDoes() throws Exception {
        ChatTemplate t = ChatTemplate.of(Files.readString(Path.of("src/test/resources/chat/llama31-tools.jinja")), "<|begin_of_text|>", "<|eot_id|>");
        // the tool's string content goes through tojson: a string "is iterable" in Jinja, as the real template renders it
        assertThat(t.render(TOOL_TURN, true, WEATHER_TOOL)).isEqualTo("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are helpful.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"description\": \"Weather in a city\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n        }\n    }\n}\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"temperature\\\": 21}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        List<Message> twoCalls = List.of(new Message("user", "Weather?"), new Message("assistant", "", List.of(new Message.ToolCall("a", "get_weather", "{}"),
                new Message.ToolCall("b", "get_weather", "{}")), "", ""));
        assertThatThrownBy(() -> t.render(twoCalls, false, WEATHER_TOOL)).isInstanceOf(ChatTemplateException.class)
                .hasMessage("This model only supports single tool-calls at once!");
    }

    @Test
    void toolCallArgumentsMustBeJson() {
        ChatTemplate t = ChatTemplate.of("{{ messages[1].tool_calls[0].function.arguments | tojson }}", "", "");
        List<Message> bad = List.of(new Message("user", "x"), new Message("assistant", "", List.of(new Message.ToolCall("c", "f", "{\"a\": ")), "", ""));
        assertThatThrownBy(() -> t.render(bad, false)).isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("messages[1].tool_calls[0].function.arguments is not valid JSON");
        List<Message> none = List.of(new Message("user", "x"), new Message("assistant", "", List.of(new Message.ToolCall("c", "f", "")), "", ""));
        assertThat(t.render(none, false)).isEqualTo("{}");
        assertThat(ChatTemplate.plain().render(TOOL_TURN, true)).isEqualTo("system: You are helpful.\nuser: Weather in Paris?\nassistant: \n"
                + "tool call call_1: get_weather {\"city\": \"Paris\"}\ntool (call_1): {\"temperature\": 21}\nassistant:");
    }
}
