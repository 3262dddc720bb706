package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.structured.ToolCalling;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.GenerationParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The JSON of one request's responses, shaped exactly as OpenAI's: text_completion (legacy
 * completions) or chat.completion, whole or as stream chunks. Holds the running text offset of
 * completions logprobs (one per choice), so one instance serves one request. Every choice
 * carries its index; a request with n choices has n of them (streamed as separate chunks).
 */
final class OpenAiShape {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    /** JSON has no -Infinity; like vLLM, an impossible token's logprob is reported as -9999. */
    private static final float LOGPROB_FLOOR = -9999f;

    private final boolean chat;
    private final String id;
    private final long created;
    private final String model;
    private final boolean includeUsageField;
    private final int echoTopLogprobs;
    private final int[] textOffset = new int[GenerationParams.MAX_N];

    /** One finished choice of a whole response. */
    record Choice(int index, String text, TokenEvent.PromptLogprobs promptLogprobs, List<TokenEvent.TokenLogprob> logprobs, String finishReason) {}

    OpenAiShape(boolean chat, String id, long created, String model, boolean includeUsageField) {
        this(chat, id, created, model, includeUsageField, GenerationParams.MAX_TOP_LOGPROBS);
    }

    /** echoTopLogprobs: the alternatives echo's prompt tokens show (the engine may compute more, for prompt_logprobs). */
    OpenAiShape(boolean chat, String id, long created, String model, boolean includeUsageField, int echoTopLogprobs) {
        this.echoTopLogprobs = echoTopLogprobs;
        this.chat = chat;
        this.id = id;
        this.created = created;
        this.model = model;
        this.includeUsageField = includeUsageField;
    }

    /** echo: each choice's text starts with the prompt's, so completions' text_offset counts from its end. */
    void echoed(String promptText) {
        Arrays.fill(textOffset, promptText.codePointCount(0, promptText.length()));
    }

    static String finishReason(String engineReason) {
        return engineReason.equals("cancelled") ? "abort" : engineReason;
    }

    /** The chat stream opens with the assistant role and empty content, as OpenAI's does. */
    ObjectNode roleChunk(int index) {
        ObjectNode delta = F.objectNode().put("role", "assistant").put("content", "");
        return chunk(choice(index, delta, null, null, "delta"));
    }

    /** A stream chunk with new text (and its tokens' logprobs), or the last one with a finish reason and no text. */
    ObjectNode deltaChunk(int index, String text, List<TokenEvent.TokenLogprob> logprobs, boolean withLogprobs, String finishReason) {
        ObjectNode lp = withLogprobs ? logprobs(index, logprobs) : null;
        if (chat) {
            ObjectNode delta = F.objectNode();
            if (finishReason == null || !text.isEmpty()) delta.put("content", text);
            return chunk(choice(index, delta, lp, finishReason, "delta"));
        }
        return chunk(textChoice(index, text, lp, finishReason));
    }

    /** completions' echo with logprobs: the prompt's text and its tokens' logprobs (the first token's null), before the choice's own. */
    ObjectNode echoChunk(int index, String text, TokenEvent.PromptLogprobs prompt) {
        return chunk(textChoice(index, text, completionLogprobs(index, prompt, List.of()), null));
    }

    /** The include_usage chunk: no choices, only usage. */
    ObjectNode usageChunk(int promptTokens, int completionTokens) {
        ObjectNode c = head(chat ? "chat.completion.chunk" : "text_completion");
        c.putArray("choices");
        c.set("usage", usage(promptTokens, completionTokens));
        return c;
    }

    /** A whole (non-streamed) response. */
    ObjectNode response(List<Choice> choices, boolean withLogprobs, int promptTokens, int completionTokens) {
        ObjectNode r = head(chat ? "chat.completion" : "text_completion");
        ArrayNode out = r.putArray("choices");
        for (Choice c : choices) {
            ObjectNode lp = withLogprobs ? (chat ? chatLogprobs(c.logprobs()) : completionLogprobs(c.index(), c.promptLogprobs(), c.logprobs())) : null;
            out.add(chat ? choice(c.index(), F.objectNode().put("role", "assistant").put("content", c.text()), lp, c.finishReason(), "message")
                    : textChoice(c.index(), c.text(), lp, c.finishReason()));
        }
        r.set("usage", usage(promptTokens, completionTokens));
        return r;
    }

    /**
     * vLLM's prompt_logprobs of a whole response: per choice (completions) or once for the response
     * (chat, whose choices share the prompt), a list with null for the first prompt token, then per
     * token {"token id": {"logprob", "rank", "decoded_token"}}: the prompt token first, then the k
     * most likely (rank 1 + the number of more likely tokens).
     */
    void addPromptLogprobs(ObjectNode response, TokenEvent.PromptLogprobs[] perChoice, int k) {
        if (chat) {
            response.set("prompt_logprobs", perChoice[0] == null ? F.nullNode() : promptLogprobs(perChoice[0], k));
            return;
        }
        for (com.fasterxml.jackson.databind.JsonNode c : response.get("choices")) {
            TokenEvent.PromptLogprobs p = perChoice[c.get("index").asInt()];
            ((ObjectNode) c).set("prompt_logprobs", p == null ? F.nullNode() : promptLogprobs(p, k));
        }
    }

    private static ArrayNode promptLogprobs(TokenEvent.PromptLogprobs p, int k) {
        ArrayNode list = F.arrayNode();
        list.addNull();
        for (TokenEvent.TokenLogprob lp : p.logprobs()) {
            ObjectNode position = list.addObject();
            position.set(Integer.toString(lp.tokenId()), F.objectNode().put("logprob", Math.max(lp.logprob(), LOGPROB_FLOOR))
                    .put("rank", lp.rank()).put("decoded_token", lp.token()));
            List<TokenEvent.TopLogprob> top = lp.top().subList(0, Math.min(k, lp.top().size()));
            int rank = 0;
            for (int i = 0; i < top.size(); i++) {
                TokenEvent.TopLogprob t = top.get(i);
                if (i == 0 || t.logprob() < top.get(i - 1).logprob()) rank = i + 1;   // ties share a rank
                if (t.tokenId() == lp.tokenId()) continue;
                position.set(Integer.toString(t.tokenId()), F.objectNode().put("logprob", Math.max(t.logprob(), LOGPROB_FLOOR))
                        .put("rank", rank).put("decoded_token", t.token()));
            }
        }
        return list;
    }

    /** A whole chat response whose message is tool calls (content: the text besides them, or null), finish_reason "tool_calls". */
    ObjectNode toolCallResponse(String content, List<ToolCalling.Call> calls, List<String> ids, int promptTokens, int completionTokens) {
        ObjectNode r = head("chat.completion");
        ObjectNode message = F.objectNode().put("role", "assistant").put("content", content);
        ArrayNode tc = message.putArray("tool_calls");
        for (int i = 0; i < calls.size(); i++)
            tc.add(F.objectNode().put("id", ids.get(i)).put("type", "function").set("function",
                    F.objectNode().put("name", calls.get(i).name()).put("arguments", calls.get(i).argumentsJson())));
        r.putArray("choices").add(choice(0, message, null, "tool_calls", "message"));
        r.set("usage", usage(promptTokens, completionTokens));
        return r;
    }

    /**
     * A stream chunk of one tool call, as OpenAI streams them: the first for a call carries index,
     * id, type and name (id non-null); later ones only index and a piece of the arguments.
     */
    ObjectNode toolCallChunk(int index, String id, String name, String arguments) {
        ObjectNode call = F.objectNode().put("index", index);
        ObjectNode fn = F.objectNode();
        if (id != null) {
            call.put("id", id).put("type", "function");
            fn.put("name", name);
        }
        fn.put("arguments", arguments);
        call.set("function", fn);
        ObjectNode delta = F.objectNode();
        delta.putArray("tool_calls").add(call);
        return chunk(choice(0, delta, null, null, "delta"));
    }

    static String toolCallId() {
        return "call_" + java.util.UUID.randomUUID().toString().replace("-", "").substring(0, 24);
    }

    /** An error inside an already started stream (the status is committed), as vLLM and OpenAI send it. */
    static ObjectNode streamError(ApiError e) {
        return HttpErrors.body(e);
    }

    private ObjectNode chunk(ObjectNode choice) {
        ObjectNode c = head(chat ? "chat.completion.chunk" : "text_completion");
        c.putArray("choices").add(choice);
        if (includeUsageField) c.putNull("usage");
        return c;
    }

    private ObjectNode head(String object) {
        return F.objectNode().put("id", id).put("object", object).put("created", created).put("model", model);
    }

    private ObjectNode choice(int index, ObjectNode message, ObjectNode logprobs, String finishReason, String field) {
        ObjectNode c = F.objectNode().put("index", index);
        c.set(field, message);
        c.set("logprobs", logprobs == null ? F.nullNode() : logprobs);
        c.put("finish_reason", finishReason);
        return c;
    }

    private ObjectNode textChoice(int index, String text, ObjectNode logprobs, String finishReason) {
        ObjectNode c = F.objectNode().put("text", text).put("index", index);
        c.set("logprobs", logprobs == null ? F.nullNode() : logprobs);
        c.put("finish_reason", finishReason);
        return c;
    }

    private static ObjectNode usage(int prompt, int completion) {
        return F.objectNode().put("prompt_tokens", prompt).put("completion_tokens", completion).put("total_tokens", prompt + completion);
    }

    private ObjectNode logprobs(int index, List<TokenEvent.TokenLogprob> lps) {
        return chat ? chatLogprobs(lps) : completionLogprobs(index, null, lps);
    }

    /** chat: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]} */
    private static ObjectNode chatLogprobs(List<TokenEvent.TokenLogprob> lps) {
        ObjectNode o = F.objectNode();
        ArrayNode content = o.putArray("content");
        for (TokenEvent.TokenLogprob lp : lps) {
            ObjectNode e = tokenEntry(lp.token(), lp.bytes(), lp.logprob());
            ArrayNode top = e.putArray("top_logprobs");
            for (TokenEvent.TopLogprob t : lp.top()) top.add(tokenEntry(t.token(), t.bytes(), t.logprob()));
            content.add(e);
        }
        return o;
    }

    /** bytes are the token's own (part of a character for a token that splits one), not its text's. */
    private static ObjectNode tokenEntry(String token, byte[] tokenBytes, float logprob) {
        ObjectNode e = F.objectNode().put("token", token).put("logprob", Math.max(logprob, LOGPROB_FLOOR));
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : tokenBytes) bytes.add(b & 0xff);
        return e;
    }

    /** completions: {"tokens": [...], "token_logprobs": [...], "top_logprobs": [{token: logprob}], "text_offset": [...]} */
    private ObjectNode completionLogprobs(int index, TokenEvent.PromptLogprobs prompt, List<TokenEvent.TokenLogprob> lps) {
        ObjectNode o = F.objectNode();
        ArrayNode tokens = o.putArray("tokens");
        ArrayNode tokenLogprobs = o.putArray("token_logprobs");
        ArrayNode top = o.putArray("top_logprobs");
        ArrayNode offsets = o.putArray("text_offset");
        List<TokenEvent.TokenLogprob> all = lps;
        if (prompt != null) {
            // the prompt's first token has no logprob: null entries, as OpenAI's and vLLM's echo
            tokens.add(prompt.firstToken());
            tokenLogprobs.addNull();
            top.addNull();
            offsets.add(textOffset[index]);
            textOffset[index] += prompt.firstToken().codePointCount(0, prompt.firstToken().length());
            all = new ArrayList<>();
            for (TokenEvent.TokenLogprob lp : prompt.logprobs())   // the engine may have computed more alternatives, for prompt_logprobs
                all.add(lp.top().size() <= echoTopLogprobs ? lp
                        : new TokenEvent.TokenLogprob(lp.tokenId(), lp.token(), lp.bytes(), lp.logprob(), lp.top().subList(0, echoTopLogprobs), lp.rank()));
            all.addAll(lps);
        }
        for (TokenEvent.TokenLogprob lp : all) {
            tokens.add(lp.token());
            tokenLogprobs.add(Math.max(lp.logprob(), LOGPROB_FLOOR));
            ObjectNode alternatives = top.addObject();
            for (TokenEvent.TopLogprob t : lp.top()) alternatives.put(t.token(), Math.max(t.logprob(), LOGPROB_FLOOR));
            if (!alternatives.has(lp.token())) alternatives.put(lp.token(), Math.max(lp.logprob(), LOGPROB_FLOOR));
            offsets.add(textOffset[index]);
            textOffset[index] += lp.token().codePointCount(0, lp.token().length());   // characters, as OpenAI and vLLM count
        }
        return o;
    }
}
