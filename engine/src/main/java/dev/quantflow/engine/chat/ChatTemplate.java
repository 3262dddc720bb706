package dev.quantflow.engine.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.chat.jinja.Template;
import dev.quantflow.engine.chat.jinja.TemplateError;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufFormatException;
import dev.quantflow.engine.model.ModelLoadException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Turns chat messages into the prompt text a model was trained on, with the Jinja chat template
 * from its tokenizer_config.json (or chat_template.jinja), as Hugging Face's apply_chat_template
 * renders it: variables messages (with an assistant's tool_calls and a tool message's tool_call_id
 * and name when present), add_generation_prompt, bos_token, eos_token, tools. A model without a
 * template gets a plain "role: content" rendering. A template that does not parse fails when used,
 * not when loaded, so completions keep working.
 */
public final class ChatTemplate {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Optional<String> source;
    private final Template compiled;
    private final String compileError;
    private final String bosToken;
    private final String eosToken;

    private ChatTemplate(Optional<String> source, String bosToken, String eosToken) {
        this.source = source;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        Template t = null;
        String err = null;
        if (source.isPresent()) {
            try {
                t = Template.compile(source.get());
            } catch (TemplateError e) {
                err = e.getMessage();
            }
        }
        this.compiled = t;
        this.compileError = err;
    }

    /** A Jinja chat template with the special tokens it may refer to. */
    public static ChatTemplate of(String template, String bosToken, String eosToken) {
        return new ChatTemplate(Optional.of(template), bosToken, eosToken);
    }

    /** The fallback for models without a template: "role: content" lines, then "assistant:". */
    public static ChatTemplate plain() {
        return new ChatTemplate(Optional.empty(), "", "");
    }

    /**
     * The template of a Hugging Face model directory: chat_template.jinja if present, else
     * tokenizer_config.json's chat_template (a string, or a list of named templates: "default").
     */
    public static ChatTemplate fromModelDir(Path dir) {
        if (GgufFile.isGguf(dir)) return fromGguf(dir);
        Path config = dir.resolve("tokenizer_config.json");
        JsonNode root = JSON.createObjectNode();
        if (Files.isRegularFile(config)) {
            try {
                root = JSON.readTree(Files.readString(config, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new ModelLoadException(config, "cannot read the tokenizer config: " + e.getMessage(), e);
            }
        }
        String bos = tokenText(root.get("bos_token"));
        String eos = tokenText(root.get("eos_token"));
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return of(Files.readString(jinja, StandardCharsets.UTF_8), bos, eos);
            } catch (IOException e) {
                throw new ModelLoadException(jinja, "cannot read the chat template: " + e.getMessage(), e);
            }
        }
        JsonNode t = root.get("chat_template");
        if (t != null && t.isTextual()) return of(t.textValue(), bos, eos);
        if (t != null && t.isArray()) {
            for (JsonNode named : t)
                if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) return of(named.get("template").textValue(), bos, eos);
            if (!t.isEmpty() && t.get(0).path("template").isTextual()) return of(t.get(0).get("template").textValue(), bos, eos);
        }
        return plain();
    }

    private static JsonNode readTools(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new ChatTemplateException("tools are not valid JSON: " + e.getMessage());
        }
    }

    /**
     * A message as apply_chat_template's templates read it: role, content, and only when present
     * tool_calls (a list of {id, type: "function", function: {name, arguments}}), tool_call_id and
     * name (templates test {@code 'tool_calls' in message}). arguments is parsed from OpenAI's JSON
     * text into a mapping, as vLLM does before apply_chat_template: templates write
     * {@code arguments | tojson} or iterate {@code arguments | items}.
     */
    private static Map<String, Object> templateMessage(Message m, int index) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("role", m.role());
        o.put("content", m.content());
        if (!m.toolCalls().isEmpty()) {
            List<Object> calls = new ArrayList<>();
            for (int j = 0; j < m.toolCalls().size(); j++) {
                Message.ToolCall c = m.toolCalls().get(j);
                Map<String, Object> function = new LinkedHashMap<>();
                function.put("name", c.name());
                function.put("arguments", toolArguments(c.arguments(), "messages[" + index + "].tool_calls[" + j + "].function.arguments"));
                Map<String, Object> call = new LinkedHashMap<>();
                if (!c.id().isEmpty()) call.put("id", c.id());
                call.put("type", "function");
                call.put("function", function);
                calls.add(call);
            }
            o.put("tool_calls", calls);
        }
        if (!m.toolCallId().isEmpty()) o.put("tool_call_id", m.toolCallId());
        if (!m.name().isEmpty()) o.put("name", m.name());
        return o;
    }

    /** A call's arguments (JSON text; empty: no arguments) as template values. */
    private static Object toolArguments(String json, String field) {
        if (json.isBlank()) return new LinkedHashMap<String, Object>();
        try {
            return jinjaValue(JSON.readerFor(JsonNode.class).with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readValue(json));
        } catch (JsonProcessingException e) {
            throw new ChatTemplateException(field + " is not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** JSON as the template engine's values: maps, lists, strings, longs, doubles, booleans, null. */
    private static Object jinjaValue(JsonNode n) {
        if (n.isObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            n.fields().forEachRemaining(e -> m.put(e.getKey(), jinjaValue(e.getValue())));
            return m;
        }
        if (n.isArray()) {
            List<Object> l = new ArrayList<>();
            n.forEach(e -> l.add(jinjaValue(e)));
            return l;
        }
        if (n.isTextual()) return n.textValue();
        if (n.isIntegralNumber()) return n.longValue();
        if (n.isNumber()) return n.doubleValue();
        if (n.isBoolean()) return n.booleanValue();
        return null;
    }

    /**
     * The template of a GGUF model file: tokenizer.chat_template, with the texts of its BOS and EOS
     * tokens from the vocabulary; the plain fallback when the file has no template.
     */
    public static ChatTemplate fromGguf(Path file) {
        try (GgufFile g = GgufFile.open(file)) {
            Optional<String> template = g.findString("tokenizer.chat_template");
            if (template.isEmpty()) return plain();
            return of(template.get(), tokenText(g, "tokenizer.ggml.bos_token_id"), tokenText(g, "tokenizer.ggml.eos_token_id"));
        } catch (GgufFormatException e) {
            throw new ModelLoadException(file, e.getMessage(), e);
        }
    }

    private static String tokenText(GgufFile g, String idKey) {
        if (!g.has(idKey) || !g.has("tokenizer.ggml.tokens")) return "";
        List<String> tokens = g.getStringArray("tokenizer.ggml.tokens");
        long id = g.getLong(idKey);
        return id >= 0 && id < tokens.size() ? tokens.get((int) id) : "";
    }

    /** bos_token / eos_token are a string or an AddedToken object {"content": ...}. */
    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) return "";
        if (n.isTextual()) return n.textValue();
        return n.path("content").asText("");
    }

    /** True for the plain fallback; the rendered text then needs the tokenizer's BOS (a real template writes its own special tokens). */
    public boolean isPlain() {
        return source.isEmpty();
    }

    public Optional<String> source() {
        return source;
    }

    /** The prompt text; throws {@link ChatTemplateException} when the template is broken or refuses the messages. */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, "");
    }

    /**
     * With tools (OpenAI's tools list as JSON text; empty: none): the template gets them as its
     * {@code tools} variable, as apply_chat_template(tools=...) passes them (Llama 3.1+ and
     * Qwen2.5/Hermes templates render them). The plain fallback lists them after a "tools:" line.
     */
    public String render(List<Message> messages, boolean addGenerationPrompt, String toolsJson) {
        return render(messages, addGenerationPrompt, toolsJson, false);
    }

    /**
     * continueFinalMessage (vLLM's and Hugging Face's continue_final_message): the text ends with
     * the last message's content, left open for the model to continue (a prefilled assistant
     * answer): rendered without the generation prompt, then cut after the last occurrence of that
     * content, as apply_chat_template does. It excludes addGenerationPrompt.
     */
    public String render(List<Message> messages, boolean addGenerationPrompt, String toolsJson, boolean continueFinalMessage) {
        if (!continueFinalMessage) return renderWhole(messages, addGenerationPrompt, toolsJson);
        if (addGenerationPrompt) throw new ChatTemplateException("continue_final_message and add_generation_prompt cannot both be true");
        if (messages.isEmpty()) throw new ChatTemplateException("continue_final_message needs a final message");
        String rendered = renderWhole(messages, false, toolsJson);
        String last = messages.getLast().content().strip();
        int at = rendered.lastIndexOf(last);
        if (last.isEmpty() || at < 0)
            throw new ChatTemplateException("continue_final_message is set, but the final message's content does not appear in the rendered chat");
        return rendered.substring(0, at + last.length());
    }

    private String renderWhole(List<Message> messages, boolean addGenerationPrompt, String toolsJson) {
        Object tools = toolsJson.isEmpty() ? null : jinjaValue(readTools(toolsJson));
        if (source.isEmpty()) {
            StringBuilder s = new StringBuilder();
            if (tools != null) s.append("tools: ").append(toolsJson).append('\n');
            for (Message m : messages) {
                s.append(m.role());
                if (!m.toolCallId().isEmpty()) s.append(" (").append(m.toolCallId()).append(')');
                s.append(": ").append(m.content()).append('\n');
                for (Message.ToolCall c : m.toolCalls()) s.append("tool call ").append(c.id()).append(": ").append(c.name()).append(' ').append(c.arguments()).append('\n');
            }
            if (addGenerationPrompt) s.append("assistant:");
            return s.toString();
        }
        if (compiled == null) throw new ChatTemplateException("the model's chat template cannot be used: " + compileError);
        List<Object> ms = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) ms.add(templateMessage(messages.get(i), i));
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("messages", ms);
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("bos_token", bosToken);
        vars.put("eos_token", eosToken);
        if (tools != null) vars.put("tools", tools);
        try {
            return compiled.render(vars);
        } catch (TemplateError e) {
            throw new ChatTemplateException(e.raisedByTemplate() ? e.getMessage() : "the model's chat template failed: " + e.getMessage());
        }
    }
}
