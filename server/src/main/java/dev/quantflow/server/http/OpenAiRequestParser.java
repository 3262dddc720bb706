package dev.quantflow.server.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.structured.OutputConstraint;
import dev.quantflow.engine.structured.ToolCalling;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.ChatMessages;
import dev.quantflow.server.api.GenerationParams;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * Turns a request body into an {@link OpenAiRequest}, with OpenAI's parameter names, defaults and
 * limits. Everything a client can get wrong is a 400 naming the field; options this server does not
 * implement (suffix, beam search, ...) are refused rather than silently ignored.
 */
final class OpenAiRequestParser {
    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    static {
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).build());
    }

    /** Completions' default when max_tokens is absent, as OpenAI's. */
    static final int COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

    private final int vocabSize;
    private final int contextLength;

    OpenAiRequestParser(int vocabSize, int contextLength) {
        this.vocabSize = vocabSize;
        this.contextLength = contextLength;
    }

    static ObjectNode parseObject(byte[] body) {
        JsonNode root;
        try {
            root = JSON.readTree(strictUtf8(body));
        } catch (JsonProcessingException e) {
            throw ApiError.of(ApiError.Kind.INVALID_REQUEST, "the request body is not valid JSON: " + e.getOriginalMessage()).exception();
        } catch (IOException e) {
            throw ApiError.of(ApiError.Kind.INVALID_REQUEST, "the request body could not be read: " + e.getMessage()).exception();
        }
        if (root == null || root.isMissingNode()) throw ApiError.of(ApiError.Kind.INVALID_REQUEST, "the request body is empty; send a JSON object").exception();
        if (!(root instanceof ObjectNode o)) throw ApiError.of(ApiError.Kind.INVALID_REQUEST, "the request body must be a JSON object").exception();
        return o;
    }

    /**
     * The body as text, refusing what is not UTF-8. Jackson's own decoder lets overlong forms
     * (C0 AF), encoded surrogates (ED A0 80) and code points above U+10FFFF through; the JDK's
     * decoder with REPORT does not. A leading byte order mark is dropped, as Jackson would.
     */
    private static String strictUtf8(byte[] body) {
        int start = body.length >= 3 && (body[0] & 0xFF) == 0xEF && (body[1] & 0xFF) == 0xBB && (body[2] & 0xFF) == 0xBF ? 3 : 0;
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body, start, body.length - start))
                    .toString();
        } catch (CharacterCodingException e) {
            throw ApiError.of(ApiError.Kind.INVALID_REQUEST, "the request body is not valid UTF-8").exception();
        }
    }

    OpenAiRequest completion(ObjectNode body) {
        JsonFields f = new JsonFields(body);
        Prompt prompt = completionPrompt(f);
        refuseUnsupported(f, false);
        int topLogprobs = f.integer("logprobs").orElse(-1);
        if (f.has("logprobs") && topLogprobs < 0) throw ApiError.invalid("logprobs", "logprobs must be between 0 and " + GenerationParams.MAX_TOP_LOGPROBS).exception();
        OptionalLong maxTokens = f.longInteger("max_tokens");
        GenerationParams params = params(f, "max_tokens", maxTokens.isPresent() ? maxTokens : OptionalLong.of(COMPLETIONS_DEFAULT_MAX_TOKENS), "logprobs", topLogprobs, false);
        boolean echo = f.bool("echo").orElse(false);   // with logprobs, the prompt's tokens get theirs too
        return finish(f, false, prompt, params, echo);
    }

    OpenAiRequest chat(ObjectNode body) {
        JsonFields f = new JsonFields(body);
        Prompt prompt = chatPrompt(f);
        refuseUnsupported(f, true);
        boolean logprobs = f.bool("logprobs").orElse(false);
        OptionalInt top = f.integer("top_logprobs");
        if (top.isPresent() && !logprobs) throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs set to true").exception();
        int topLogprobs = logprobs ? top.orElse(0) : -1;
        if (logprobs && topLogprobs < 0) throw ApiError.invalid("top_logprobs", "top_logprobs must be between 0 and " + GenerationParams.MAX_TOP_LOGPROBS).exception();
        OptionalLong maxTokens = f.longInteger("max_completion_tokens");
        String maxParam = "max_completion_tokens";
        if (maxTokens.isEmpty()) {
            maxTokens = f.longInteger("max_tokens");
            maxParam = "max_tokens";
        }
        return finish(f, true, prompt, params(f, maxParam, maxTokens, "top_logprobs", topLogprobs, true), false);
    }

    private OpenAiRequest finish(JsonFields f, boolean chat, Prompt prompt, GenerationParams params, boolean echo) {
        boolean stream = f.bool("stream").orElse(false);
        if (stream && params.bestOf() > params.n())
            throw ApiError.invalid("best_of", "best_of greater than n cannot be streamed (the best are known only at the end); set stream false or best_of = n").exception();
        boolean includeUsage = false;
        if (f.has("stream_options")) {
            JsonNode so = f.get("stream_options").get();
            if (!so.isObject()) throw JsonFields.wrongType("stream_options", "an object", so);
            if (!stream) throw ApiError.invalid("stream_options", "stream_options is only allowed when stream is true").exception();
            JsonFields sf = new JsonFields((ObjectNode) so);
            includeUsage = sf.bool("include_usage").orElse(false);
            // vLLM's usage in every chunk; include_obfuscation (OpenAI's padding) is harmless to ignore
            if (sf.bool("continuous_usage_stats").orElse(false))
                throw ApiError.invalid("stream_options", "stream_options.continuous_usage_stats is not supported (only false)").exception();
        }
        Optional<OutputConstraint> constraint = StructuredOutputFields.constraint(f);
        Optional<ToolFields.Tools> tools = chat ? ToolFields.of(f) : Optional.empty();
        if (tools.isPresent()) {
            Optional<OutputConstraint> forced;
            try {
                forced = ToolCalling.constraint(tools.get().functions(), tools.get().choice(), tools.get().parallel());
            } catch (ParameterException e) {
                throw GenerationParams.invalid(e);
            }
            if (forced.isPresent() && constraint.isPresent())
                throw ApiError.invalid("tool_choice", "tool_choice \"required\" or a named function cannot be combined with response_format or guided_*").exception();
            if (forced.isPresent()) constraint = forced;
            Prompt.Chat c = (Prompt.Chat) prompt;
            prompt = new Prompt.Chat(c.messages(), c.addGenerationPrompt(), tools.get().json(), c.continueFinalMessage());
        }
        // tool calls are parsed from one choice's text; several choices of them are not supported
        if (tools.isPresent() && tools.get().choice().mode() != ToolCalling.Mode.NONE && params.n() > 1)
            throw ApiError.invalid("n", "n > 1 together with tools is not supported; send one request per choice").exception();
        return new OpenAiRequest(chat, f.string("model"), prompt, params, stream, includeUsage, constraint, tools, echo, promptLogprobs(f, stream));
    }

    /** vLLM's prompt_logprobs: 0..20 alternatives per prompt token (its -1, the whole vocabulary, is refused); not with stream, as in vLLM. */
    private static int promptLogprobs(JsonFields f, boolean stream) {
        OptionalInt k = f.integer("prompt_logprobs");
        if (k.isEmpty()) return -1;
        if (k.getAsInt() < 0 || k.getAsInt() > GenerationParams.MAX_TOP_LOGPROBS)
            throw ApiError.invalid("prompt_logprobs", "prompt_logprobs must be between 0 and " + GenerationParams.MAX_TOP_LOGPROBS + ", got " + k.getAsInt()).exception();
        if (stream) throw ApiError.invalid("prompt_logprobs", "prompt_logprobs are not available when stream is true (as in vLLM)").exception();
        return k.getAsInt();
    }

    private GenerationParams params(JsonFields f, String maxParam, OptionalLong maxTokens, String logprobsParam, int topLogprobs, boolean chat) {
        int n = f.integer("n").orElse(1);
        GenerationParams.Extensions x = new GenerationParams.Extensions(
                f.number("presence_penalty").orElse(0),
                f.number("frequency_penalty").orElse(0),
                f.number("repetition_penalty").orElse(1),
                logitBias(f),
                n,
                chat ? n : f.integer("best_of").orElse(n),
                f.integer("min_tokens").orElse(0),
                tokenIds(f, "stop_token_ids"),
                f.bool("skip_special_tokens").orElse(true),
                f.bool("include_stop_str_in_output").orElse(false));
        return GenerationParams.validated(maxParam, maxTokens,
                f.number("temperature").orElse(1.0),
                f.number("top_p").orElse(1.0),
                f.longInteger("top_k").orElse(0),
                f.number("min_p").orElse(0.0),
                f.longInteger("seed"),
                f.stringOrList("stop"),
                f.bool("ignore_eos").orElse(false),
                logprobsParam, topLogprobs, x, vocabSize);
    }

    /** OpenAI's logit_bias: {"token id": bias}; JSON keys are strings, each must be an integer token id. */
    private static Map<Integer, Double> logitBias(JsonFields f) {
        Optional<JsonNode> n = f.get("logit_bias");
        if (n.isEmpty()) return Map.of();
        if (!n.get().isObject()) throw JsonFields.wrongType("logit_bias", "an object of token id -> bias", n.get());
        Map<Integer, Double> out = new TreeMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = n.get().fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            int id;
            try {
                id = Integer.parseInt(e.getKey().trim());
            } catch (NumberFormatException bad) {
                throw ApiError.invalid("logit_bias", "logit_bias keys must be token ids (integers as strings), got \"" + e.getKey() + "\"").exception();
            }
            if (!e.getValue().isNumber()) throw JsonFields.wrongType("logit_bias", "an object whose values are numbers", e.getValue());
            double v = e.getValue().doubleValue();
            if (!Double.isFinite(v)) throw ApiError.invalid("logit_bias", "logit_bias values must be finite numbers").exception();
            out.put(id, v);
        }
        return out;
    }

    private static List<Integer> tokenIds(JsonFields f, String name) {
        Optional<JsonNode> n = f.get(name);
        if (n.isEmpty()) return List.of();
        if (!n.get().isArray()) throw JsonFields.wrongType(name, "a list of token ids", n.get());
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : n.get()) {
            long id = JsonFields.asLong(name, e);
            if (id < 0 || id > Integer.MAX_VALUE) throw ApiError.invalid(name, name + " must be token ids, got " + id).exception();
            out.add((int) id);
        }
        return out;
    }

    /** Options that would change the output if honoured are refused unless neutral; user is ignored but must be a string. */
    private static void refuseUnsupported(JsonFields f, boolean chat) {
        UnsupportedParameters.check(f, chat);
        f.string("user");
    }

    private Prompt completionPrompt(JsonFields f) {
        JsonNode p = f.get("prompt").orElseThrow(() -> ApiError.invalid("prompt", "prompt is required").exception());
        if (p.isTextual()) return new Prompt.Text(p.textValue());
        if (!p.isArray()) throw JsonFields.wrongType("prompt", "a string or a list of token ids", p);
        if (p.isEmpty()) throw ApiError.invalid("prompt", "prompt must not be an empty list").exception();
        JsonNode first = p.get(0);
        if (first.isTextual() || first.isArray()) {
            if (p.size() > 1) throw ApiError.invalid("prompt", "batched prompts are not supported; send one prompt per request").exception();
            if (first.isTextual()) return new Prompt.Text(first.textValue());
            return tokens(first);
        }
        return tokens(p);
    }

    private Prompt tokens(JsonNode list) {
        if (list.isEmpty()) throw ApiError.invalid("prompt", "prompt must not be an empty list").exception();
        if (list.size() >= contextLength)
            throw ApiError.invalid("prompt", "the prompt has " + list.size() + " tokens; this model's context is " + contextLength + " tokens").withCode("context_length_exceeded").exception();
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode e = list.get(i);
            if (!e.isNumber()) throw JsonFields.wrongType("prompt", "a string or a list of token ids", list);
            long id = JsonFields.asLong("prompt", e);
            if (id < 0 || id >= vocabSize) throw ApiError.invalid("prompt", "token id " + id + " is outside the vocabulary [0, " + vocabSize + ")").exception();
            ids[i] = (int) id;
        }
        return new Prompt.Tokens(ids);
    }

    /**
     * messages, add_generation_prompt (default true) and vLLM's continue_final_message (the prompt
     * ends inside the last message; then add_generation_prompt defaults to false, and both true is a
     * 400), as chat completions and /tokenize read them; the tools are added by the caller.
     */
    static Prompt.Chat chatPrompt(JsonFields f) {
        List<Prompt.ChatMessage> messages = messages(f);
        boolean continueFinal = f.bool("continue_final_message").orElse(false);
        boolean generationPrompt = f.bool("add_generation_prompt").orElse(!continueFinal);
        if (continueFinal && generationPrompt)
            throw ApiError.invalid("continue_final_message", "continue_final_message and add_generation_prompt cannot both be true").exception();
        return new Prompt.Chat(messages, generationPrompt, "", continueFinal);
    }

    private static List<Prompt.ChatMessage> messages(JsonFields f) {
        JsonNode ms = f.get("messages").orElseThrow(() -> ApiError.invalid("messages", "messages is required").exception());
        if (!ms.isArray()) throw JsonFields.wrongType("messages", "a list of messages", ms);
        if (ms.isEmpty()) throw ApiError.invalid("messages", "messages must not be empty").exception();
        List<Prompt.ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < ms.size(); i++) {
            JsonNode m = ms.get(i);
            if (!m.isObject()) throw JsonFields.wrongType("messages", "a list of message objects", m);
            JsonFields mf = new JsonFields((ObjectNode) m);
            String at = "messages[" + i + "]";
            String role = mf.string("role").orElseThrow(() -> ApiError.invalid(at + ".role", "every message needs a role").exception());
            List<Prompt.ToolCall> calls = toolCalls(mf, at);
            boolean contentMayBeNull = role.equals("assistant");
            if (!contentMayBeNull && mf.get("content").isEmpty())
                throw ApiError.invalid(at + ".content", at + ".content is required for a " + role + " message").exception();
            out.add(ChatMessages.checked("messages", i, role, content(mf), calls, mf.string("tool_call_id").orElse(""), mf.string("name").orElse("")));
        }
        return out;
    }

    /** An assistant turn's tool_calls: [{id?, type: "function", function: {name, arguments}}], arguments JSON text as OpenAI sends it. */
    private static List<Prompt.ToolCall> toolCalls(JsonFields mf, String at) {
        JsonNode tc = mf.get("tool_calls").orElse(null);
        if (tc == null) return List.of();
        if (!tc.isArray()) throw JsonFields.wrongType(at + ".tool_calls", "a list of tool calls", tc);
        List<Prompt.ToolCall> calls = new ArrayList<>();
        for (int j = 0; j < tc.size(); j++) {
            String call = at + ".tool_calls[" + j + "]";
            if (!tc.get(j).isObject()) throw JsonFields.wrongType(call, "a tool call object", tc.get(j));
            JsonFields cf = new JsonFields((ObjectNode) tc.get(j));
            String type = cf.string("type").orElse("function");
            if (!type.equals("function")) throw ApiError.invalid(call + ".type", call + ".type must be \"function\", not '" + type + "'").exception();
            JsonNode fn = cf.get("function").orElseThrow(() -> ApiError.invalid(call + ".function", call + ".function is required").exception());
            if (!fn.isObject()) throw JsonFields.wrongType(call + ".function", "an object with name and arguments", fn);
            JsonFields ff = new JsonFields((ObjectNode) fn);
            JsonNode args = ff.get("arguments").orElse(null);
            // OpenAI sends JSON text; an object (as some clients send) is taken as that text
            String arguments = args == null ? "" : args.isTextual() ? args.textValue() : args.isObject() ? args.toString() : null;
            if (arguments == null) throw JsonFields.wrongType(call + ".function.arguments", "a string of JSON", args);
            calls.add(new Prompt.ToolCall(cf.string("id").orElse(""), ff.string("name").orElse(""), arguments));
        }
        return calls;
    }

    /** A string, or a list of {"type": "text", "text": ...} parts joined as one text; null (an assistant's tool-call turn): "". */
    private static String content(JsonFields mf) {
        JsonNode c = mf.get("content").orElse(null);
        if (c == null) return "";
        if (c.isTextual()) return c.textValue();
        if (!c.isArray()) throw JsonFields.wrongType("messages", "messages whose content is a string or a list of text parts", c);
        StringBuilder sb = new StringBuilder();
        for (JsonNode part : c) {
            JsonNode type = part.get("type");
            JsonNode text = part.get("text");
            if (type == null || !"text".equals(type.asText()) || text == null || !text.isTextual())
                throw ApiError.invalid("messages", "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported").exception();
            sb.append(text.textValue());
        }
        return sb.toString();
    }
}
