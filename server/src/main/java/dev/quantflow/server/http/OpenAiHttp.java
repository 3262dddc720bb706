package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.structured.ToolCalling;
import dev.quantflow.server.api.ServerVersion;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.Generations;
import dev.quantflow.server.api.ServedModel;
import dev.quantflow.server.api.ServingState;
import dev.quantflow.server.auth.ApiKeys;
import dev.quantflow.server.metrics.ServerMetrics;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpMethods;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.Connection;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.japi.pf.PFBuilder;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * The HTTP API: OpenAI-compatible completions and chat completions (whole or as server-sent
 * events), models, tokenize/detokenize, health and Prometheus metrics. Every failure is answered
 * in OpenAI's error shape with its status; nothing here blocks a thread.
 */
public final class OpenAiHttp implements Function<HttpRequest, CompletionStage<HttpResponse>> {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final ContentType PROMETHEUS_TEXT = ContentTypes.parse("text/plain; version=0.0.4; charset=utf-8");
    private static final ContentType EVENT_STREAM = MediaTypes.TEXT_EVENT_STREAM.toContentType();
    private static final ByteString DONE = ByteString.fromString("data: [DONE]\n\n");
    private static final ByteString KEEP_ALIVE = ByteString.fromString(": keep-alive\n\n");

    private final ServedModel model;
    private final Generations generations;
    private final InferenceEngine engine;
    private final ApiKeys keys;
    private final ServerMetrics metrics;
    private final ServingState state;
    private final HttpSettings settings;
    private final Materializer mat;
    private final OpenAiRequestParser parser;
    private final ClientConnections connections;

    public OpenAiHttp(ServedModel model, Generations generations, InferenceEngine engine, ApiKeys keys, ServerMetrics metrics,
                      ServingState state, HttpSettings settings, Materializer mat) {
        this.model = model;
        this.generations = generations;
        this.engine = engine;
        this.keys = keys;
        this.metrics = metrics;
        this.state = state;
        this.settings = settings;
        this.mat = mat;
        this.parser = new OpenAiRequestParser(engine.tokenizer().vocabSize(), model.contextLength());
        this.connections = ClientConnections.get(mat.system());
    }

    @Override
    public CompletionStage<HttpResponse> apply(HttpRequest request) {
        String path = request.getUri().path();
        String endpoint = Endpoint.label(path);
        CompletionStage<HttpResponse> response;
        try {
            response = route(request, path);
        } catch (RuntimeException e) {
            response = CompletableFuture.failedFuture(e);
        }
        return response.handle((r, err) -> {
            if (err != null && unwrap(err) instanceof ClientGone) {
                // nobody reads this answer; counted as nginx's 499 "client closed request"
                metrics.httpRequest(endpoint, 499);
                return error(ApiError.of(ApiError.Kind.INTERNAL, "the client closed the connection"));
            }
            if (err != null) r = error(Generations.toApiException(err).error());
            metrics.httpRequest(endpoint, r.status().intValue());
            return r;
        });
    }

    private CompletionStage<HttpResponse> route(HttpRequest request, String path) {
        boolean get = request.method().equals(HttpMethods.GET);
        boolean post = request.method().equals(HttpMethods.POST);
        switch (path) {
            case "/health", "/health/live" -> {
                return only(get, "GET", request, () -> CompletableFuture.completedFuture(json(200, F.objectNode().put("status", "live"))));
            }
            case "/health/ready" -> {
                return only(get, "GET", request, this::readiness);
            }
            case "/metrics" -> {
                return only(get, "GET", request, this::prometheus);
            }
            case "/v1/models" -> {
                return only(get, "GET", request, authorized(request, () -> CompletableFuture.completedFuture(json(200, models()))));
            }
            case "/v1/completions" -> {
                return only(post, "POST", request, authorized(request, () -> generate(request, false)));
            }
            case "/v1/chat/completions" -> {
                return only(post, "POST", request, authorized(request, () -> generate(request, true)));
            }
            case "/version" -> {
                return only(get, "GET", request, () -> CompletableFuture.completedFuture(json(200, F.objectNode().put("version", ServerVersion.VERSION))));
            }
            case "/tokenize" -> {
                return only(post, "POST", request, authorized(request, () -> readJson(request).thenApply(this::tokenize)));
            }
            case "/detokenize" -> {
                return only(post, "POST", request, authorized(request, () -> readJson(request).thenApply(this::detokenize)));
            }
            default -> {
                if (path.startsWith("/v1/models/")) {
                    String id = path.substring("/v1/models/".length());
                    return only(get, "GET", request, authorized(request, () -> {
                        model.check(Optional.of(id));
                        return CompletableFuture.completedFuture(json(200, modelEntry()));
                    }));
                }
                return HttpErrors.afterBody(request, mat, error(new ApiError(ApiError.Kind.NOT_FOUND, "no such endpoint: " + request.method().value() + " " + path,
                        Optional.empty(), Optional.of("unknown_url"))));
            }
        }
    }

    private interface Handler {
        CompletionStage<HttpResponse> run();
    }

    private CompletionStage<HttpResponse> only(boolean methodMatches, String allowed, HttpRequest request, Handler h) {
        if (!methodMatches) {
            HttpResponse refused = error(ApiError.of(ApiError.Kind.METHOD_NOT_ALLOWED,
                    request.method().value() + " is not allowed on " + request.getUri().path() + "; use " + allowed))
                    .addHeader(RawHeader.create("Allow", allowed));
            return HttpErrors.afterBody(request, mat, refused);
        }
        if (allowed.equals("GET")) return request.discardEntityBytes(mat).completionStage().thenCompose(done -> h.run());   // a GET may carry a body
        return h.run();
    }

    private Handler authorized(HttpRequest request, Handler h) {
        return () -> {
            if (!keys.allows(request.getHeader("Authorization").map(HttpHeader::value))) {
                return HttpErrors.afterBody(request, mat, error(new ApiError(ApiError.Kind.UNAUTHENTICATED,
                        "missing or invalid API key; send it as 'Authorization: Bearer KEY'", Optional.empty(), Optional.of("invalid_api_key"))));
            }
            return h.run();
        };
    }

    // ---------------------------------------------------------------- generation

    private CompletionStage<HttpResponse> generate(HttpRequest request, boolean chat) {
        long created = System.currentTimeMillis() / 1000;
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        ClientConnections.Watch client = connections.watch(request);
        return readJson(request).thenCompose(body -> {
            OpenAiRequest r = chat ? parser.chat(body) : parser.completion(body);
            model.check(r.model());
            GenerateOptions options = r.params().options(model.contextLength());
            if (r.constraint().isPresent()) options = options.constrained(r.constraint().get());
            GenerateRequest gr = new GenerateRequest(id, r.prompt(), options, r.params().topLogprobs(), r.params().n(), r.params().bestOf(),
                    r.promptTopLogprobs());
            return generations.start(gr, chat ? "messages" : "prompt").thenApply(s -> AccessLog.follow(request, s)).thenCompose(started -> {
                int promptTokens = started.accepted().promptTokens();
                if (promptTokens >= model.contextLength()) {
                    started.events().runWith(Sink.cancelled(), mat);
                    throw ApiError.invalid(chat ? "messages" : "prompt", "the prompt has " + promptTokens + " tokens; this model's context is "
                            + model.contextLength() + " tokens").withCode("context_length_exceeded").exception();
                }
                OpenAiShape shape = new OpenAiShape(chat, id, created, model.id(), r.includeUsage(), r.params().topLogprobs());
                String echo = r.echo() ? promptText(r) : "";
                if (!r.logprobs()) shape.echoed(echo);   // with logprobs the prompt's own tokens come first in text_offset
                HttpResponse resp = r.stream() ? stream(started, shape, r, client, echo) : null;
                return resp != null ? CompletableFuture.completedFuture(resp) : whole(started, shape, r, client, echo);
            });
        }).whenComplete((resp, err) -> {
            if (err != null) client.close();
        }).thenApply(resp -> resp.addHeader(RawHeader.create("X-Request-Id", id)));
    }

    /** Server-sent events: data: {chunk} lines, then data: [DONE]; a failure after the 200 becomes an error event. */
    private HttpResponse stream(Generations.Started started, OpenAiShape shape, OpenAiRequest r, ClientConnections.Watch client, String echo) {
        boolean[] finished = {false};
        int choices = r.params().n();
        int[] ended = {0, 0};   // choices finished, their completion tokens
        // the events are run once: by the response entity, or, when the client left before Pekko sent the
        // headers (the entity is then never run), cancelled here at once instead of after the substream timeout
        AtomicBoolean taken = new AtomicBoolean();
        SharedKillSwitch gone = KillSwitches.shared("client-gone");
        client.onGone(() -> {
            if (taken.compareAndSet(false, true)) started.events().runWith(Sink.cancelled(), mat);
            else gone.shutdown();  // streaming already: Pekko cancels the entity too, this only makes sure
        });
        Source<TokenEvent, NotUsed> events = Source.<TokenEvent, NotUsed>fromMaterializer((m, a) ->
                        taken.compareAndSet(false, true) ? started.events() : Source.<TokenEvent>empty())
                .mapMaterializedValue(f -> NotUsed.getInstance())
                .via(gone.flow())
                .via(state.untilDrainDeadline());
        ToolCallStream toolCalls = r.toolCalls() ? new ToolCallStream(shape, r.tools().get()) : null;
        Source<ObjectNode, NotUsed> chunks = events.mapConcat(ev -> toolCalls != null ? withFinished(ev, finished, toolCalls.on(ev, r.includeUsage())) : switch (ev) {
            case TokenEvent.Delta d -> d.text().isEmpty() && !(r.logprobs() && !d.logprobs().isEmpty())
                    ? List.<ObjectNode>of() : List.of(shape.deltaChunk(d.index(), d.text(), d.logprobs(), r.logprobs(), null));
            case TokenEvent.Finished f -> {
                List<ObjectNode> last = new ArrayList<>();
                last.add(shape.deltaChunk(f.index(), "", List.of(), false, OpenAiShape.finishReason(f.finishReason())));
                ended[1] += f.completionTokens();
                if (++ended[0] == choices) {
                    finished[0] = true;
                    // OpenAI's usage: the prompt once, the completion tokens of every choice
                    if (r.includeUsage()) last.add(shape.usageChunk(f.promptTokens(), ended[1]));
                }
                yield last;
            }
            case TokenEvent.PromptLogprobs p -> r.echo() && r.logprobs() ? List.of(shape.echoChunk(p.index(), echo, p)) : List.<ObjectNode>of();
            case TokenEvent.Accepted a -> List.<ObjectNode>of();
        });
        List<ObjectNode> opening = new ArrayList<>();
        for (int i = 0; i < choices; i++) {
            if (r.chat()) opening.add(shape.roleChunk(i));
            if (!echo.isEmpty() && !r.logprobs()) opening.add(shape.deltaChunk(i, echo, List.of(), false, null));   // with logprobs: at PromptLogprobs
        }
        chunks = Source.from(opening).concat(chunks);
        // a stream ends with exactly one of: the Finished chunks, the failure's error event, or (neither came) an error event of its own
        Source<ByteString, NotUsed> bytes = chunks.map(OpenAiHttp::event)
                .recover(new PFBuilder<Throwable, ByteString>()
                        .match(Throwable.class, t -> {
                            finished[0] = true;
                            return event(OpenAiShape.streamError(Generations.toApiException(t).error()));
                        })
                        .build())
                .concatLazy(Source.lazySingle(() -> finished[0] ? ByteString.emptyByteString()
                        : event(OpenAiShape.streamError(ApiError.of(ApiError.Kind.INTERNAL, "the generation ended without finishing")))))
                .concatLazy(Source.single(DONE))
                .filter(b -> !b.isEmpty())
                .keepAlive(settings.sseKeepAlive(), () -> KEEP_ALIVE)
                .watchTermination((nu, done) -> {
                    done.whenComplete((d, err) -> client.close());
                    return nu;
                });
        return HttpResponse.create()
                .withEntity(HttpEntities.createChunked(EVENT_STREAM, state.tracked(bytes)))
                .addHeader(RawHeader.create("Cache-Control", "no-cache"));
    }

    private static List<ObjectNode> withFinished(TokenEvent ev, boolean[] finished, List<ObjectNode> chunks) {
        if (ev instanceof TokenEvent.Finished) finished[0] = true;
        return chunks;
    }

    private static ByteString event(JsonNode json) {
        return ByteString.fromString("data: " + json + "\n\n");
    }

    /** Collects the whole generation into one response; runs at most the request timeout, then is cancelled. */
    private CompletionStage<HttpResponse> whole(Generations.Started started, OpenAiShape shape, OpenAiRequest r, ClientConnections.Watch client, String echo) {
        int choices = r.params().n();
        Pair<UniqueKillSwitch, CompletionStage<Collected>> run = started.events()
                .via(state.untilDrainDeadline())
                .completionTimeout(settings.requestTimeout())
                .viaMat(KillSwitches.single(), Keep.right())
                .toMat(Sink.fold(new Collected(choices, echo), Collected::add), Keep.both())
                .run(mat);
        // a client that closed its connection gets no answer: stop generating it now (an abort, as for a stream)
        AtomicBoolean gone = new AtomicBoolean();
        client.onGone(() -> {
            gone.set(true);
            run.first().shutdown();
        });
        return run.second()
                .whenComplete((c, err) -> client.close())
                .thenApply(c -> {
                    if (gone.get()) throw new ClientGone();
                    TokenEvent.Finished first = c.finished[0];
                    if (first != null && r.toolCalls() && first.finishReason().equals("stop")) {   // tool calls come with n = 1 only
                        ToolFields.Tools tools = r.tools().get();
                        ToolCalling.Answer read = ToolCalling.read(c.text[0].toString(), tools.functions(), tools.choice(), tools.parallel());
                        if (!read.calls().isEmpty()) {
                            ObjectNode answer = shape.toolCallResponse(read.content(), read.calls(), read.calls().stream().map(x -> OpenAiShape.toolCallId()).toList(),
                                    first.promptTokens(), first.completionTokens());
                            if (r.promptLogprobs() >= 0) shape.addPromptLogprobs(answer, c.prompt, r.promptLogprobs());
                            return json(200, answer);
                        }
                    }
                    List<OpenAiShape.Choice> out = new ArrayList<>();
                    int promptTokens = 0, completionTokens = 0;
                    for (int i = 0; i < choices; i++) {
                        TokenEvent.Finished f = c.finished[i];
                        if (f == null) throw ApiError.of(ApiError.Kind.INTERNAL, "the generation ended without finishing").exception();
                        out.add(new OpenAiShape.Choice(i, c.text[i].toString(), r.echo() ? c.prompt[i] : null, c.logprobs.get(i),
                                OpenAiShape.finishReason(f.finishReason())));
                        promptTokens = f.promptTokens();
                        completionTokens += f.completionTokens();   // OpenAI's usage: the prompt once, every choice's completion
                    }
                    ObjectNode answer = shape.response(out, r.logprobs(), promptTokens, completionTokens);
                    if (r.promptLogprobs() >= 0) shape.addPromptLogprobs(answer, c.prompt, r.promptLogprobs());
                    return json(200, answer);
                });
    }

    /** The choices of a whole response as their events arrive (each event names its choice). */
    private static final class Collected {
        final StringBuilder[] text;
        final List<List<TokenEvent.TokenLogprob>> logprobs = new ArrayList<>();
        final TokenEvent.Finished[] finished;
        final TokenEvent.PromptLogprobs[] prompt;

        Collected(int choices, String echo) {
            text = new StringBuilder[choices];
            finished = new TokenEvent.Finished[choices];
            prompt = new TokenEvent.PromptLogprobs[choices];
            for (int i = 0; i < choices; i++) {
                text[i] = new StringBuilder(echo);
                logprobs.add(new ArrayList<>());
            }
        }

        Collected add(TokenEvent ev) {
            switch (ev) {
                case TokenEvent.Delta d -> {
                    text[d.index()].append(d.text());
                    logprobs.get(d.index()).addAll(d.logprobs());
                }
                case TokenEvent.Finished f -> finished[f.index()] = f;
                case TokenEvent.PromptLogprobs p -> prompt[p.index()] = p;
                case TokenEvent.Accepted a -> {}
            }
            return this;
        }
    }

    /** The prompt as text, for echo: the text sent, or the decoded token ids. */
    private String promptText(OpenAiRequest r) {
        return switch (r.prompt()) {
            case Prompt.Text t -> t.text();
            case Prompt.Tokens t -> engine.tokenizer().decode(t.ids());
            case Prompt.Chat c -> "";
        };
    }

    /** The client closed its connection before its answer was ready. */
    private static final class ClientGone extends RuntimeException {
        ClientGone() {
            super("the client closed the connection", null, false, false);
        }
    }

    private static Throwable unwrap(Throwable t) {
        while (t instanceof CompletionException && t.getCause() != null) t = t.getCause();
        return t;
    }

    // ---------------------------------------------------------------- other endpoints

    private CompletionStage<HttpResponse> readiness() {
        InferenceEngine.Health h = engine.health();
        boolean ready = state.ready();
        ObjectNode body = F.objectNode().put("status", ready ? "ready" : "not_ready")
                .put("warmed_up", state.warmedUp()).put("draining", state.draining() || h.draining()).put("degraded", h.degraded());
        return CompletableFuture.completedFuture(json(ready ? 200 : 503, body));
    }

    private CompletionStage<HttpResponse> prometheus() {
        return engine.snapshot().toCompletableFuture().orTimeout(2, TimeUnit.SECONDS)
                .handle((s, err) -> {
                    if (s != null) metrics.update(s);
                    return HttpResponse.create().withEntity(HttpEntities.create(PROMETHEUS_TEXT, ByteString.fromString(metrics.scrape())));
                });
    }

    private ObjectNode models() {
        ObjectNode list = F.objectNode().put("object", "list");
        list.putArray("data").add(modelEntry());
        return list;
    }

    private ObjectNode modelEntry() {
        // vLLM's model card: root is the model loaded, parent the base model of an adapter (none here)
        ObjectNode m = F.objectNode().put("id", model.id()).put("object", "model").put("created", model.createdEpochSeconds())
                .put("owned_by", "quantflow").put("root", model.root()).putNull("parent").put("max_model_len", model.contextLength());
        m.putArray("permission");
        return m;
    }

    /** vLLM's /tokenize: a prompt (TokenizeCompletionRequest) or chat messages (TokenizeChatRequest), one response shape. */
    private HttpResponse tokenize(ObjectNode body) {
        JsonFields f = new JsonFields(body);
        model.check(f.string("model"));
        int[] ids;
        if (f.has("messages")) {
            if (f.has("prompt")) throw ApiError.invalid("prompt", "send either prompt or messages, not both").exception();
            UnsupportedParameters.checkTokenizeChat(f);
            Prompt.Chat chat = OpenAiRequestParser.chatPrompt(f);
            Optional<ToolFields.Tools> tools = ToolFields.of(f);
            if (tools.isPresent()) chat = new Prompt.Chat(chat.messages(), chat.addGenerationPrompt(), tools.get().json(), chat.continueFinalMessage());
            // as a chat completion's prompt: the template writes the special tokens; true adds the tokenizer's on top, as vLLM's
            boolean special = f.bool("add_special_tokens").orElse(false);
            try {
                ids = engine.encodeChat(chat, special);
            } catch (RuntimeException e) {
                throw Generations.toApiException(e, "messages");
            }
        } else {
            String text = f.string("prompt").orElseThrow(() -> ApiError.invalid("prompt", "prompt (a string) or messages (a list) is required").exception());
            ids = engine.tokenizer().encode(text, f.bool("add_special_tokens").orElse(true));
        }
        // vLLM's TokenizeResponse: count, max_model_len, tokens, and token_strs when return_token_strs
        ObjectNode out = F.objectNode().put("count", ids.length).put("max_model_len", model.contextLength());
        ArrayNode tokens = out.putArray("tokens");
        for (int id : ids) tokens.add(id);
        if (f.bool("return_token_strs").orElse(false)) {
            ArrayNode strs = out.putArray("token_strs");
            for (int id : ids) strs.add(engine.tokenizer().tokenText(id));
        } else {
            out.putNull("token_strs");
        }
        return json(200, out);
    }

    private HttpResponse detokenize(ObjectNode body) {
        JsonFields f = new JsonFields(body);
        model.check(f.string("model"));
        JsonNode list = f.get("tokens").orElseThrow(() -> ApiError.invalid("tokens", "tokens (a list of token ids) is required").exception());
        if (!list.isArray()) throw JsonFields.wrongType("tokens", "a list of token ids", list);
        int vocab = engine.tokenizer().vocabSize();
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            long id = JsonFields.asLong("tokens", list.get(i));
            if (id < 0 || id >= vocab) throw ApiError.invalid("tokens", "token id " + id + " is outside the vocabulary [0, " + vocab + ")").exception();
            ids[i] = (int) id;
        }
        return json(200, F.objectNode().put("prompt", engine.tokenizer().decode(ids)));
    }

    // ---------------------------------------------------------------- plumbing

    /** The body as a JSON object, read within the size and time limits (413 / 408 otherwise). */
    private CompletionStage<ObjectNode> readJson(HttpRequest request) {
        OptionalLong declared = request.entity().getContentLengthOption();
        if (declared.isPresent() && declared.getAsLong() > settings.maxBodyBytes()) {
            // refused by its declared length: drop the body first, so that a client still sending reads the 413 instead of a reset
            ApiError tooLarge = ApiError.of(ApiError.Kind.TOO_LARGE, "the request body is larger than the limit of " + settings.maxBodyBytes() + " bytes");
            return request.discardEntityBytes(mat).completionStage().handle((done, err) -> { throw tooLarge.exception(); });
        }
        return request.entity().withSizeLimit(settings.maxBodyBytes())
                .toStrict(settings.bodyReadTimeout().toMillis(), mat)
                .handle((strict, err) -> {
                    if (err == null) return OpenAiRequestParser.parseObject(strict.getData().toArray());
                    Throwable t = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
                    while (t.getCause() != null && !(t instanceof EntityStreamSizeException)) t = t.getCause();
                    if (t instanceof EntityStreamSizeException)
                        throw ApiError.of(ApiError.Kind.TOO_LARGE, "the request body is larger than the limit of " + settings.maxBodyBytes() + " bytes").exception();
                    if (t instanceof TimeoutException)
                        throw ApiError.of(ApiError.Kind.REQUEST_TIMEOUT, "the request body did not arrive within " + settings.bodyReadTimeout().toSeconds() + " s").exception();
                    throw ApiError.of(ApiError.Kind.INVALID_REQUEST, "the request body could not be read: " + t.getMessage()).exception();
                });
    }

    private HttpResponse error(ApiError e) {
        HttpResponse r = HttpErrors.response(e, settings.retryAfterSeconds());
        // a client refused before its body was read may still be sending it: do not keep the connection
        if (e.kind() == ApiError.Kind.TOO_LARGE || e.kind() == ApiError.Kind.UNAUTHENTICATED || e.kind() == ApiError.Kind.REQUEST_TIMEOUT)
            r = r.addHeader(Connection.create("close"));
        return r;
    }

    private static HttpResponse json(int status, JsonNode body) {
        return HttpResponse.create().withStatus(StatusCodes.get(status)).withEntity(ContentTypes.APPLICATION_JSON, body.toString());
    }

}
