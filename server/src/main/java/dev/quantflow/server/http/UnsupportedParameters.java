package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.server.api.ApiError;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The OpenAI completions / chat parameters, and the common extensions vLLM takes, that this server
 * does not implement. Each is refused with a 400 naming it unless absent, null or its neutral
 * value (the one that changes nothing), so that no client gets an output it did not ask for.
 * docs/API.md lists them with the implemented and the harmlessly ignored ones.
 */
final class UnsupportedParameters {
    private UnsupportedParameters() {}

    private enum On { COMPLETIONS, CHAT, BOTH }

    /** neutral: the values that ask for nothing; allowed says which in the 400's message. */
    private record Rule(String name, On on, Predicate<JsonNode> neutral, String allowed) {}

    private static Predicate<JsonNode> number(double v) {
        return n -> n.isNumber() && n.doubleValue() == v;
    }

    private static Predicate<JsonNode> bool(boolean v) {
        return n -> n.isBoolean() && n.booleanValue() == v;
    }

    private static Predicate<JsonNode> text(String... vs) {
        return n -> n.isTextual() && Set.of(vs).contains(n.textValue());
    }

    private static final Predicate<JsonNode> EMPTY = n -> (n.isArray() || n.isObject()) && n.isEmpty();
    private static final Predicate<JsonNode> EMPTY_STRING = n -> n.isTextual() && n.textValue().isEmpty();
    private static final Predicate<JsonNode> NEVER = n -> false;

    private static final List<Rule> RULES = List.of(
            // OpenAI
            new Rule("echo", On.CHAT, bool(false), "echo is not supported for chat (only false); completions take it"),
            new Rule("suffix", On.COMPLETIONS, EMPTY_STRING, "suffix (fill-in-the-middle insertion) is not supported: this server only continues the prompt; send \"\" or leave it out"),
            new Rule("functions", On.CHAT, EMPTY, "functions (the deprecated function calling) is not supported; use tools"),
            new Rule("function_call", On.CHAT, text("none", "auto"), "function_call (deprecated) other than \"none\" or \"auto\" is not supported; use tool_choice"),
            new Rule("modalities", On.CHAT, n -> n.isArray() && n.size() == 1 && text("text").test(n.get(0)), "only modalities [\"text\"] is supported"),
            new Rule("audio", On.CHAT, NEVER, "audio (audio output) is not supported"),
            new Rule("web_search_options", On.CHAT, NEVER, "web_search_options (web search) is not supported"),
            new Rule("verbosity", On.CHAT, text("medium"), "verbosity is not supported (only \"medium\")"),
            // vLLM's extensions
            new Rule("length_penalty", On.BOTH, number(1), "length_penalty is not supported (only 1)"),
            new Rule("use_beam_search", On.BOTH, bool(false), "use_beam_search (beam search) is not supported (only false)"),
            new Rule("truncate_prompt_tokens", On.BOTH, NEVER, "truncate_prompt_tokens is not supported; a prompt longer than the context is refused"),
            new Rule("allowed_token_ids", On.BOTH, EMPTY, "allowed_token_ids is not supported"),
            new Rule("bad_words", On.BOTH, EMPTY, "bad_words is not supported"),
            new Rule("logits_processors", On.BOTH, EMPTY, "logits_processors is not supported"),
            new Rule("return_tokens_as_token_ids", On.BOTH, bool(false), "return_tokens_as_token_ids is not supported (only false)"),
            new Rule("return_token_ids", On.BOTH, bool(false), "return_token_ids is not supported (only false)"),
            new Rule("guided_grammar", On.BOTH, NEVER, "guided_grammar (context-free grammars) is not supported; use guided_regex, guided_choice, guided_json or response_format"),
            new Rule("structured_outputs", On.BOTH, NEVER, "structured_outputs is not supported"),
            new Rule("priority", On.BOTH, number(0), "priority (priority scheduling) is not supported (only 0)"),
            new Rule("add_special_tokens", On.COMPLETIONS, bool(true), "add_special_tokens false is not supported (the tokenizer's special tokens, such as BOS, are always added)"),
            new Rule("add_special_tokens", On.CHAT, bool(false), "add_special_tokens true is not supported (the chat template writes the special tokens)"),
            new Rule("chat_template", On.CHAT, NEVER, "chat_template is not supported; the model's own template is used"),
            new Rule("chat_template_kwargs", On.CHAT, EMPTY, "chat_template_kwargs is not supported"),
            new Rule("documents", On.CHAT, EMPTY, "documents (for RAG chat templates) are not supported"),
            new Rule("mm_processor_kwargs", On.BOTH, EMPTY, "mm_processor_kwargs is not supported (text only)"),
            new Rule("vllm_xargs", On.BOTH, EMPTY, "vllm_xargs is not supported"));

    /** /tokenize's chat form takes the template fields of a chat request: the same ones are refused (the model's template is the one used). */
    static void checkTokenizeChat(JsonFields f) {
        for (Rule r : RULES) {
            if (!List.of("chat_template", "chat_template_kwargs", "documents", "mm_processor_kwargs").contains(r.name)) continue;
            f.get(r.name).ifPresent(v -> {
                if (!r.neutral.test(v)) throw ApiError.invalid(r.name, r.allowed + "; got " + JsonFields.describe(v)).exception();
            });
        }
    }

    /** The first rule the body breaks, as a 400 naming the parameter. */
    static void check(JsonFields f, boolean chat) {
        for (Rule r : RULES) {
            if (r.on == (chat ? On.COMPLETIONS : On.CHAT)) continue;
            f.get(r.name).ifPresent(v -> {
                if (!r.neutral.test(v)) throw ApiError.invalid(r.name, r.allowed + "; got " + JsonFields.describe(v)).exception();
            });
        }
    }
}
