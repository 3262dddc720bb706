package dev.quantflow.server.grpc;

import com.google.protobuf.CodedOutputStream;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.structured.OutputConstraint;
import dev.quantflow.proto.v1.AbortRequest;
import dev.quantflow.proto.v1.AbortResponse;
import dev.quantflow.proto.v1.ChatMessage;
import dev.quantflow.proto.v1.Delta;
import dev.quantflow.proto.v1.FinishReason;
import dev.quantflow.proto.v1.Finished;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.GenerationServicePowerApi;
import dev.quantflow.proto.v1.ListModelsRequest;
import dev.quantflow.proto.v1.ListModelsResponse;
import dev.quantflow.proto.v1.Model;
import dev.quantflow.proto.v1.TokenLogprob;
import dev.quantflow.proto.v1.TokenizeRequest;
import dev.quantflow.proto.v1.TokenizeResponse;
import dev.quantflow.proto.v1.TopLogprob;
import dev.quantflow.proto.v1.Usage;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.ChatMessages;
import dev.quantflow.server.api.GenerationParams;
import dev.quantflow.server.api.Generations;
import dev.quantflow.server.api.ServedModel;
import dev.quantflow.server.api.ServingState;
import dev.quantflow.server.auth.ApiKeys;
import dev.quantflow.server.metrics.ServerMetrics;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.grpc.GrpcServiceException;
import org.apache.pekko.grpc.javadsl.Metadata;
import org.apache.pekko.japi.pf.PFBuilder;
import org.apache.pekko.stream.javadsl.Source;

/**
 * quantflow.v1.GenerationService over the engine: the same validation as the HTTP API, errors
 * as gRPC status codes, `authorization: Bearer KEY` metadata when keys are configured. A client
 * that cancels the Generate call cancels its sequence.
 */
public final class GenerationGrpcService implements GenerationServicePowerApi {
    private static final int MAX_REQUEST_ID_LENGTH = 128;

    private final ServedModel model;
    private final Generations generations;
    private final InferenceEngine engine;
    private final ApiKeys keys;
    private final ServerMetrics metrics;
    private final ServingState state;
    private final long maxMessageBytes;

    public GenerationGrpcService(ServedModel model, Generations generations, InferenceEngine engine, ApiKeys keys, ServerMetrics metrics,
                                 ServingState state, long maxMessageBytes) {
        this.maxMessageBytes = maxMessageBytes;
        this.model = model;
        this.generations = generations;
        this.engine = engine;
        this.keys = keys;
        this.metrics = metrics;
        this.state = state;
    }

    @Override
    public Source<GenerateResponse, NotUsed> generate(GenerateRequest in, Metadata metadata) {
        Source<GenerateResponse, NotUsed> responses;
        // a call that ends without its Finished message and without an error was cancelled by the client
        AtomicBoolean finished = new AtomicBoolean();
        try {
            authenticate(metadata);
            Optional<GrpcTools.Request> tools = GrpcTools.of(in);
            dev.quantflow.actors.api.GenerateRequest request = toEngineRequest(in, tools);
            String id = request.requestId();
            // with tools, the text is read as calls while it streams (one reader per call)
            Optional<GrpcTools.Reader> reader = tools.filter(GrpcTools.Request::readsCalls).map(t -> new GrpcTools.Reader(id, t));
            responses = Source.completionStageSource(generations.start(request, promptParam(in))
                    .thenApply(started -> started.events().via(state.untilDrainDeadline()).mapConcat(ev -> {
                        if (ev instanceof TokenEvent.Finished) finished.set(true);
                        return reader.isPresent() ? reader.get().on(ev) : toResponses(id, ev);
                    })))
                    .mapMaterializedValue(x -> NotUsed.getInstance());
        } catch (RuntimeException e) {
            responses = Source.failed(e);
        }
        return state.tracked(responses)
                .mapError(new PFBuilder<Throwable, Throwable>().match(Throwable.class, GrpcErrors::map).build())
                .watchTermination((nu, done) -> {
                    done.whenComplete((d, err) -> metrics.grpcRequest("Generate",
                            err == null && !finished.get() ? Status.Code.CANCELLED.name() : GrpcErrors.code(err)));
                    return nu;
                });
    }

    @Override
    public CompletionStage<AbortResponse> abort(AbortRequest in, Metadata metadata) {
        return unary("Abort", metadata, () -> {
            if (in.getRequestId().isEmpty()) throw ApiError.invalid("request_id", "request_id is required").exception();
            return generations.cancel(in.getRequestId()).thenApply(ok -> AbortResponse.newBuilder().setAborted(ok).build());
        });
    }

    @Override
    public CompletionStage<TokenizeResponse> tokenize(TokenizeRequest in, Metadata metadata) {
        return unary("Tokenize", metadata, () -> {
            var tokenizer = engine.tokenizer();
            int[] ids = tokenizer.encode(in.getText(), !in.hasAddSpecialTokens() || in.getAddSpecialTokens());
            TokenizeResponse.Builder b = TokenizeResponse.newBuilder();
            long size = 0;
            for (int id : ids) {
                String token = tokenizer.tokenText(id);
                // stop building before the reply outgrows the message limit (a token's strings take more bytes than its text)
                size += CodedOutputStream.computeInt32SizeNoTag(id) + CodedOutputStream.computeStringSize(2, token);
                if (size > maxMessageBytes)
                    throw new GrpcServiceException(Status.RESOURCE_EXHAUSTED.withDescription("the response would be larger than the message limit of "
                            + maxMessageBytes + " bytes (" + ids.length + " tokens); tokenize a shorter text"));
                b.addTokenIds(id).addTokens(token);
            }
            return CompletableFuture.completedFuture(b.build());
        });
    }

    @Override
    public CompletionStage<ListModelsResponse> listModels(ListModelsRequest in, Metadata metadata) {
        return unary("ListModels", metadata, () -> CompletableFuture.completedFuture(ListModelsResponse.newBuilder()
                .addModels(Model.newBuilder().setId(model.id()).setContextLength(model.contextLength()).setOwnedBy("quantflow"))
                .build()));
    }

    private <T> CompletionStage<T> unary(String method, Metadata metadata, Supplier<CompletionStage<T>> body) {
        CompletionStage<T> result;
        try {
            authenticate(metadata);
            result = body.get();
        } catch (RuntimeException e) {
            result = CompletableFuture.failedFuture(e);
        }
        return result.handle((r, err) -> {
            metrics.grpcRequest(method, GrpcErrors.code(err));
            if (err != null) throw new CompletionException(GrpcErrors.map(err));
            return r;
        });
    }

    private void authenticate(Metadata metadata) {
        if (!keys.allows(metadata.getText("authorization")))
            throw GrpcErrors.of(ApiError.of(ApiError.Kind.UNAUTHENTICATED, "missing or invalid API key; send metadata 'authorization: Bearer KEY'"));
    }

    private dev.quantflow.actors.api.GenerateRequest toEngineRequest(GenerateRequest in, Optional<GrpcTools.Request> tools) {
        model.check(in.getModel().isEmpty() ? Optional.empty() : Optional.of(in.getModel()));
        String id = in.getRequestId();
        if (id.isEmpty()) id = "grpc-" + UUID.randomUUID().toString().replace("-", "");
        else if (id.length() > MAX_REQUEST_ID_LENGTH || !id.chars().allMatch(c -> c > 32 && c < 127))
            throw ApiError.invalid("request_id", "request_id must be 1 to " + MAX_REQUEST_ID_LENGTH + " printable ASCII characters").exception();
        if (in.hasPromptLogprobs() && (in.getPromptLogprobs() < 0 || in.getPromptLogprobs() > GenerationParams.MAX_TOP_LOGPROBS))
            throw ApiError.invalid("prompt_logprobs", "prompt_logprobs must be between 0 and " + GenerationParams.MAX_TOP_LOGPROBS + ", got " + in.getPromptLogprobs()).exception();
        if (in.hasTopLogprobs() && in.getTopLogprobs() < 0)
            throw ApiError.invalid("top_logprobs", "top_logprobs must be between 0 and " + GenerationParams.MAX_TOP_LOGPROBS + ", got " + in.getTopLogprobs()).exception();
        GenerationParams params = GenerationParams.validated("max_tokens",
                in.hasMaxTokens() ? OptionalLong.of(in.getMaxTokens()) : OptionalLong.empty(),
                in.hasTemperature() ? in.getTemperature() : 1.0,
                in.hasTopP() ? in.getTopP() : 1.0,
                in.hasTopK() ? in.getTopK() : 0,
                in.hasMinP() ? in.getMinP() : 0,
                in.hasSeed() ? OptionalLong.of(in.getSeed()) : OptionalLong.empty(),
                in.getStopList(), in.getIgnoreEos(),
                "top_logprobs", in.hasTopLogprobs() ? in.getTopLogprobs() : -1,
                new GenerationParams.Extensions(
                        in.hasPresencePenalty() ? in.getPresencePenalty() : 0,
                        in.hasFrequencyPenalty() ? in.getFrequencyPenalty() : 0,
                        in.hasRepetitionPenalty() ? in.getRepetitionPenalty() : 1,
                        logitBias(in),
                        in.hasN() ? in.getN() : 1,
                        in.hasBestOf() ? in.getBestOf() : (in.hasN() ? in.getN() : 1),
                        in.hasMinTokens() ? in.getMinTokens() : 0,
                        in.getStopTokenIdsList(),
                        !in.hasSkipSpecialTokens() || in.getSkipSpecialTokens(),
                        in.getIncludeStopStrInOutput()),
                engine.tokenizer().vocabSize());
        GenerateOptions options = params.options(model.contextLength());
        Optional<OutputConstraint> constraint = constraint(in);
        Prompt prompt = prompt(in);
        if (tools.isPresent()) {
            Optional<OutputConstraint> forced = tools.get().forced();
            if (forced.isPresent() && constraint.isPresent())
                throw ApiError.invalid("tool_choice", "a REQUIRED or named tool_choice cannot be combined with a constraint (json_schema, json_object, regex, choice)").exception();
            if (forced.isPresent()) constraint = forced;
            if (tools.get().readsCalls() && params.n() > 1)
                throw ApiError.invalid("n", "n > 1 together with tools is not supported; send one request per choice").exception();
            Prompt.Chat c = (Prompt.Chat) prompt;
            prompt = new Prompt.Chat(c.messages(), c.addGenerationPrompt(), tools.get().templateJson(), c.continueFinalMessage());
        }
        if (constraint.isPresent()) options = options.constrained(constraint.get());
        return new dev.quantflow.actors.api.GenerateRequest(id, prompt, options, params.topLogprobs(), params.n(), params.bestOf(),
                in.hasPromptLogprobs() ? in.getPromptLogprobs() : -1);
    }

    private static Map<Integer, Double> logitBias(GenerateRequest in) {
        Map<Integer, Double> out = new TreeMap<>();
        in.getLogitBiasMap().forEach((id, bias) -> {
            if (!Float.isFinite(bias)) throw ApiError.invalid("logit_bias", "logit_bias values must be finite numbers").exception();
            out.put(id, (double) bias);
        });
        return out;
    }

    /** The structured output asked for, checked and compiled by the engine (a refusal is INVALID_ARGUMENT naming the field). */
    private static Optional<OutputConstraint> constraint(GenerateRequest in) {
        try {
            return switch (in.getConstraintCase()) {
                case JSON_SCHEMA -> Optional.of(OutputConstraint.jsonSchema("json_schema", in.getJsonSchema()));
                case JSON_OBJECT -> in.getJsonObject() ? Optional.of(OutputConstraint.jsonObject("json_object")) : Optional.empty();
                case REGEX -> Optional.of(OutputConstraint.regex("regex", in.getRegex()));
                case CHOICE -> Optional.of(OutputConstraint.choice("choice", in.getChoice().getChoicesList()));
                case CONSTRAINT_NOT_SET -> Optional.empty();
            };
        } catch (ParameterException e) {
            throw GenerationParams.invalid(e);
        }
    }

    private static String promptParam(GenerateRequest in) {
        return switch (in.getPromptCase()) {
            case TEXT -> "text";
            case TOKEN_IDS -> "token_ids";
            case CHAT -> "chat";
            case PROMPT_NOT_SET -> "prompt";
        };
    }

    private Prompt prompt(GenerateRequest in) {
        return switch (in.getPromptCase()) {
            case TEXT -> new Prompt.Text(in.getText());
            case TOKEN_IDS -> {
                List<Integer> ids = in.getTokenIds().getIdsList();
                if (ids.isEmpty()) throw ApiError.invalid("token_ids", "token_ids must not be empty").exception();
                if (ids.size() >= model.contextLength())
                    throw ApiError.invalid("token_ids", "the prompt has " + ids.size() + " tokens; this model's context is " + model.contextLength() + " tokens")
                            .withCode("context_length_exceeded").exception();
                int vocab = engine.tokenizer().vocabSize();
                for (int id : ids)
                    if (id < 0 || id >= vocab) throw ApiError.invalid("token_ids", "token id " + id + " is outside the vocabulary [0, " + vocab + ")").exception();
                yield new Prompt.Tokens(ids.stream().mapToInt(Integer::intValue).toArray());
            }
            case CHAT -> {
                if (in.getChat().getMessagesCount() == 0) throw ApiError.invalid("chat", "chat.messages must not be empty").exception();
                List<Prompt.ChatMessage> ms = new ArrayList<>();
                for (int i = 0; i < in.getChat().getMessagesCount(); i++) {
                    ChatMessage m = in.getChat().getMessages(i);
                    if (m.getRole().isEmpty()) throw ApiError.invalid("chat", "every chat message needs a role").exception();
                    List<Prompt.ToolCall> calls = m.getToolCallsList().stream().map(c -> new Prompt.ToolCall(c.getId(), c.getName(), c.getArguments())).toList();
                    ms.add(ChatMessages.checked("chat.messages", i, m.getRole(), m.getContent(), calls, m.getToolCallId(), m.getName()));
                }
                boolean continueFinal = in.getChat().getContinueFinalMessage();
                boolean generationPrompt = in.getChat().hasAddGenerationPrompt() ? in.getChat().getAddGenerationPrompt() : !continueFinal;
                if (continueFinal && generationPrompt)
                    throw ApiError.invalid("chat", "chat.continue_final_message and chat.add_generation_prompt cannot both be true").exception();
                yield new Prompt.Chat(ms, generationPrompt, "", continueFinal);
            }
            case PROMPT_NOT_SET -> throw ApiError.invalid("prompt", "one of text, token_ids or chat is required").exception();
        };
    }

    static List<GenerateResponse> toResponses(String id, TokenEvent ev) {
        return switch (ev) {
            case TokenEvent.Delta d -> {
                if (d.text().isEmpty() && d.tokenIds().length == 0) yield List.of();
                yield List.of(GenerateResponse.newBuilder().setRequestId(id).setDelta(delta(d, d.text())).build());
            }
            case TokenEvent.Finished f -> List.of(finished(id, f, false));
            case TokenEvent.Accepted a -> List.of();
            case TokenEvent.PromptLogprobs p -> List.of(promptLogprobs(id, p));
        };
    }

    /** The prompt's logprobs (GenerateRequest.prompt_logprobs), with their ranks. */
    static GenerateResponse promptLogprobs(String id, TokenEvent.PromptLogprobs p) {
        dev.quantflow.proto.v1.PromptLogprobs.Builder b = dev.quantflow.proto.v1.PromptLogprobs.newBuilder().setFirstToken(p.firstToken()).setIndex(p.index());
        for (TokenEvent.TokenLogprob lp : p.logprobs()) {
            TokenLogprob.Builder l = TokenLogprob.newBuilder().setTokenId(lp.tokenId()).setToken(lp.token()).setLogprob(lp.logprob()).setRank(lp.rank());
            for (TokenEvent.TopLogprob t : lp.top()) l.addTop(TopLogprob.newBuilder().setTokenId(t.tokenId()).setToken(t.token()).setLogprob(t.logprob()));
            b.addLogprobs(l);
        }
        return GenerateResponse.newBuilder().setRequestId(id).setPromptLogprobs(b).build();
    }

    /** A Delta message of d's tokens and logprobs with this text (with tools: its content only). */
    static Delta.Builder delta(TokenEvent.Delta d, String text) {
        Delta.Builder b = Delta.newBuilder().setText(text).setIndex(d.index());
        for (int t : d.tokenIds()) b.addTokenIds(t);
        for (TokenEvent.TokenLogprob lp : d.logprobs()) {
            TokenLogprob.Builder l = TokenLogprob.newBuilder().setTokenId(lp.tokenId()).setToken(lp.token()).setLogprob(lp.logprob());
            for (TokenEvent.TopLogprob t : lp.top())
                l.addTop(TopLogprob.newBuilder().setTokenId(t.tokenId()).setToken(t.token()).setLogprob(t.logprob()));
            b.addLogprobs(l);
        }
        return b;
    }

    /** The Finished message; toolCalls: the output ended with calls (an output cut by max_tokens stays LENGTH). */
    static GenerateResponse finished(String id, TokenEvent.Finished f, boolean toolCalls) {
        return GenerateResponse.newBuilder().setRequestId(id).setFinished(Finished.newBuilder().setIndex(f.index())
                .setFinishReason(switch (f.finishReason()) {
                    case "stop" -> toolCalls ? FinishReason.FINISH_REASON_TOOL_CALLS : FinishReason.FINISH_REASON_STOP;
                    case "length" -> FinishReason.FINISH_REASON_LENGTH;
                    case "cancelled" -> FinishReason.FINISH_REASON_ABORT;
                    default -> FinishReason.FINISH_REASON_UNSPECIFIED;
                })
                .setUsage(Usage.newBuilder().setPromptTokens(f.promptTokens()).setCompletionTokens(f.completionTokens())
                        .setTotalTokens(f.promptTokens() + f.completionTokens()))).build();
    }
}
