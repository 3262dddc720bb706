package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.engine.SharedData;
import dev.quantflow.proto.v1.Chat;
import dev.quantflow.proto.v1.ChatMessage;
import dev.quantflow.proto.v1.ChatToolCall;
import dev.quantflow.proto.v1.Tool;
import dev.quantflow.proto.v1.ToolChoice;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.TokenIds;
import dev.quantflow.proto.v1.TokenizeRequest;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Seeded, bounded fuzzing of the real server on every scheme `serve` builds at load: malformed and
 * mutated HTTP requests (field values at their edges, wrong types, byte-level damage to the JSON,
 * invalid UTF-8, deep nesting, wrong methods, paths and content types) and gRPC messages (field
 * edges and byte-damaged protobuf). No answer may be a 5xx / INTERNAL / UNKNOWN, every stream must
 * end, and afterwards the server is still ready and answers a greedy request as before.
 */
class ServerFuzzTest {
    private static final Path MODEL = SharedData.path("models/stories260K");
    // per scheme, HTTP and gRPC together; -Dquantflow.fuzz.requests and -Dquantflow.fuzz.schemes (comma list) make a short run
    private static final int REQUESTS = Integer.getInteger("quantflow.fuzz.requests", 2_000);
    private static final String SCHEMES = System.getProperty("quantflow.fuzz.schemes", "");
    private static final int CLIENTS = 8;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final Set<Status.Code> GRPC_ALLOWED = Set.of(Status.Code.OK, Status.Code.INVALID_ARGUMENT, Status.Code.NOT_FOUND,
            Status.Code.OUT_OF_RANGE, Status.Code.RESOURCE_EXHAUSTED, Status.Code.FAILED_PRECONDITION, Status.Code.UNIMPLEMENTED);

    private static final List<String> KEYS = List.of("model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
            "top_k", "min_p", "n", "best_of", "stream", "stream_options", "stop", "logprobs", "top_logprobs", "seed", "echo", "suffix",
            "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "user", "ignore_eos", "response_format", "tools",
            "tool_choice", "add_generation_prompt");

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "bf16", "w8a16", "w8a8-dynamic", "llm-int8", "w4a16-rtn"})
    void malformedAndMutatedRequestsNeverGet5xxAndEveryStreamEnds(String scheme) throws Exception {
        Assumptions.assumeTrue(SCHEMES.isEmpty() || List.of(SCHEMES.split(",")).contains(scheme), "quantflow.fuzz.schemes leaves " + scheme + " out");
        PipelineEngine engine = PipelineEngine.start(EngineConfig.builder(MODEL).maxSequences(16).quant(scheme).build());
        try (QuantflowServer server = TestServers.start(engine, Map.of())) {
            Http http = new Http(server.httpPort());
            String before = greedy(http);
            // HTTP/1.1 as the OpenAI SDKs speak it (h2c upgrade, deprecated by RFC 9113, is left to ConnectionLimitsTest)
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT).build();
            ManagedChannel channel = Grpc.newChannelBuilderForAddress("127.0.0.1", server.grpcPort(), InsecureChannelCredentials.create()).build();
            byte[] valid = GenerateRequest.newBuilder().setText("Once upon a time").setMaxTokens(4).build().toByteArray();
            assertThat(call(channel, GENERATE, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS), valid).getCode())
                    .as("a valid raw Generate call").isEqualTo(Status.Code.OK);
            ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
            AtomicInteger streams = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int c = 0; c < CLIENTS; c++) {
                    Random rnd = new Random(scheme.hashCode() * 31L + c);
                    done.add(pool.submit(() -> {
                        for (int i = 0; i < REQUESTS / CLIENTS; i++) {
                            String failure = rnd.nextInt(4) == 0 ? grpcCase(channel, rnd) : httpCase(client, server.httpPort(), rnd, streams);
                            if (failure != null) failures.add(failure);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) f.get(20, TimeUnit.MINUTES);
            } finally {
                pool.shutdownNow();
                channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
            }
            assertThat(failures).as("%s: %d failures, the first ones", scheme, failures.size()).isEmpty();
            assertThat(streams.get()).as("streamed responses that were read to their end").isPositive();
            assertThat(http.get("/health/ready").status()).isEqualTo(200);
            assertThat(greedy(http)).as("a greedy request after the fuzzing").isEqualTo(before);
        }
    }

    private static String greedy(Http http) {
        Http.Reply r = http.post("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 24, "temperature", 0));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json().get("choices").get(0).get("text").asText();
    }

    // ---------------------------------------------------------------- HTTP

    private static String httpCase(HttpClient client, int port, Random rnd, AtomicInteger streams) {
        String path = switch (rnd.nextInt(20)) {
            case 0 -> "/v1/models";
            case 1 -> "/v1/" + randomAscii(rnd, 1 + rnd.nextInt(12));
            case 2 -> "/v1/completions?" + randomAscii(rnd, rnd.nextInt(30));
            default -> rnd.nextBoolean() ? "/v1/completions" : "/v1/chat/completions";
        };
        byte[] body = body(rnd, path.startsWith("/v1/chat"));
        String method = rnd.nextInt(25) == 0 ? List.of("GET", "PUT", "DELETE", "PATCH").get(rnd.nextInt(4)) : "POST";
        String contentType = switch (rnd.nextInt(30)) {
            case 0 -> "text/plain";
            case 1 -> "application/x-www-form-urlencoded";
            case 2 -> "application/json; charset=latin1";
            case 3 -> "application/grpc";
            default -> "application/json";
        };
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path.replace(" ", "%20"))).timeout(TIMEOUT)
                .header("Content-Type", contentType).method(method, HttpRequest.BodyPublishers.ofByteArray(body));
        if (rnd.nextInt(20) == 0) b.header("Authorization", "Bearer " + randomAscii(rnd, 10));
        String what = method + " " + path + " (" + contentType + ") " + new String(body, 0, Math.min(body.length, 300), StandardCharsets.UTF_8);
        try {
            HttpResponse<InputStream> r = client.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            boolean sse = r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream");
            if (r.statusCode() >= 500) return r.statusCode() + " " + new String(r.body().readAllBytes(), StandardCharsets.UTF_8) + " for " + what;
            if (!sse) {
                byte[] answer = r.body().readAllBytes();
                if (r.statusCode() >= 400 && !new String(answer, StandardCharsets.UTF_8).contains("\"error\""))
                    return r.statusCode() + " without an OpenAI error body: " + new String(answer, StandardCharsets.UTF_8) + " for " + what;
                return null;
            }
            String failure = streamEnds(r.body());
            streams.incrementAndGet();
            return failure == null ? null : failure + " for " + what;
        } catch (IOException e) {
            return "I/O failure " + e + " for " + what;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    /** Null when the SSE stream ends with [DONE], or with one error event; else what went wrong. */
    private static String streamEnds(InputStream in) throws IOException {
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        String last = null;
        int errors = 0;
        for (String line; (line = reader.readLine()) != null; ) {
            if (!line.startsWith("data: ")) continue;
            last = line.substring(6);
            if (last.contains("\"error\"") && last.startsWith("{\"error\"")) errors++;
        }
        if (errors > 1) return "a stream with " + errors + " error events";
        if (last == null) return "a stream without events";
        if (!last.equals("[DONE]") && errors == 0) return "a stream that ends without [DONE]: " + last;
        return null;
    }

    private static byte[] body(Random rnd, boolean chat) {
        return switch (rnd.nextInt(12)) {
            case 0 -> damaged(validJson(rnd, chat), rnd);
            case 1 -> randomBytes(rnd, rnd.nextInt(200));
            case 2 -> ("[".repeat(1 + rnd.nextInt(5000))).getBytes(StandardCharsets.US_ASCII);
            case 3 -> invalidUtf8Prompt(rnd);
            case 4 -> new byte[0];
            default -> mutated(rnd, chat);
        };
    }

    private static byte[] validJson(Random rnd, boolean chat) {
        return write(base(rnd, chat));
    }

    private static Map<String, Object> base(Random rnd, boolean chat) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (rnd.nextBoolean()) m.put("model", "stories260K");
        if (chat) m.put("messages", rnd.nextInt(4) == 0 ? toolHistory(rnd) : List.of(Map.of("role", "user", "content", "Tell me a story")));
        else m.put("prompt", "Once upon a time");
        m.put("max_tokens", 1 + rnd.nextInt(8));
        if (rnd.nextBoolean()) m.put("stream", true);
        return m;
    }

    /** An agent loop's history: an assistant tool call (arguments JSON, or broken) and the tool's answer (its id sometimes missing). */
    private static List<Object> toolHistory(Random rnd) {
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", rnd.nextInt(8) == 0 ? randomUnicode(rnd, 3) : "get_weather");
        function.put("arguments", rnd.nextBoolean() ? "{\"city\": \"Paris\"}" : randomUnicode(rnd, rnd.nextInt(12)));
        Map<String, Object> assistant = new LinkedHashMap<>();
        assistant.put("role", "assistant");
        assistant.put("content", rnd.nextBoolean() ? null : randomUnicode(rnd, 5));
        assistant.put("tool_calls", List.of(Map.of("id", "call_1", "type", rnd.nextInt(8) == 0 ? "x" : "function", "function", function)));
        Map<String, Object> tool = new LinkedHashMap<>();
        tool.put("role", "tool");
        tool.put("content", randomUnicode(rnd, 8));
        if (rnd.nextInt(6) != 0) tool.put("tool_call_id", "call_1");
        return List.of(Map.of("role", "user", "content", "Weather?"), assistant, tool);
    }

    /** A valid request with one to three fields replaced by edge values, or removed. */
    private static byte[] mutated(Random rnd, boolean chat) {
        Map<String, Object> m = base(rnd, chat);
        for (int k = 1 + rnd.nextInt(3); k > 0; k--) {
            String key = KEYS.get(rnd.nextInt(KEYS.size()));
            if (rnd.nextInt(8) == 0) m.remove(key);
            else m.put(key, edge(rnd, key));
        }
        // a huge max_tokens is valid (capped by the context) but long: keep most requests short
        if (m.get("max_tokens") instanceof Number n && n.doubleValue() > 64 && rnd.nextInt(4) != 0) m.put("max_tokens", 8);
        return write(m);
    }

    private static Object edge(Random rnd, String key) {
        return switch (rnd.nextInt(30)) {
            case 0 -> 0;
            case 1 -> -1;
            case 2 -> 1;
            case 3 -> 2;
            case 4 -> 1e-300;
            case 5 -> 4.9e-324;
            case 6 -> 1e-46;
            case 7 -> 1e308;
            case 8 -> -1e308;
            case 9 -> Long.MAX_VALUE;
            case 10 -> 2147483648L;
            case 11 -> -2147483649L;
            case 12 -> 0.5;
            case 13 -> 1.5;
            case 14 -> true;
            case 15 -> Collections.singletonMap("x", null).get("x");   // JSON null
            case 16 -> "";
            case 17 -> "NaN";
            case 18 -> randomUnicode(rnd, 1 + rnd.nextInt(40));
            case 19 -> List.of();
            case 20 -> Map.of();
            case 21 -> List.of(1, -1, 259, 999_999_999);
            case 22 -> List.of(List.of(1, 2), List.of());
            case 23 -> Map.of("role", randomUnicode(rnd, 5), "content", List.of(Map.of("type", "text", "text", "hi")));
            case 24 -> List.of(Map.of("role", "user", "content", randomUnicode(rnd, 30)), Map.of("role", "tool"));
            case 25 -> "x".repeat(rnd.nextInt(20_000));
            case 26 -> Map.of("include_usage", rnd.nextBoolean(), "type", "json_object");
            case 27 -> Map.of("1", 100, "-5", -100, "abc", 1e9);
            case 28 -> List.of("\n", "", "the", randomUnicode(rnd, 3), "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m");
            default -> rnd.nextGaussian() * Math.pow(10, rnd.nextInt(12) - 4);
        };
    }

    private static byte[] invalidUtf8Prompt(Random rnd) {
        byte[][] bad = {{(byte) 0xc0, (byte) 0xaf}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80}, {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80},
                {(byte) 0xff}, {(byte) 0xe2, (byte) 0x82}, {(byte) 0x80}};
        byte[] head = "{\"prompt\": \"Once ".getBytes(StandardCharsets.US_ASCII);
        byte[] mid = bad[rnd.nextInt(bad.length)];
        byte[] tail = "\", \"max_tokens\": 4}".getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[head.length + mid.length + tail.length];
        System.arraycopy(head, 0, out, 0, head.length);
        System.arraycopy(mid, 0, out, head.length, mid.length);
        System.arraycopy(tail, 0, out, head.length + mid.length, tail.length);
        return out;
    }

    // ---------------------------------------------------------------- gRPC

    private static final MethodDescriptor<byte[], byte[]> GENERATE = raw("Generate", MethodDescriptor.MethodType.SERVER_STREAMING);
    private static final MethodDescriptor<byte[], byte[]> TOKENIZE = raw("Tokenize", MethodDescriptor.MethodType.UNARY);

    private static MethodDescriptor<byte[], byte[]> raw(String method, MethodDescriptor.MethodType type) {
        MethodDescriptor.Marshaller<byte[]> bytes = new MethodDescriptor.Marshaller<>() {
            @Override
            public InputStream stream(byte[] value) {
                return new ByteArrayInputStream(value);
            }

            @Override
            public byte[] parse(InputStream stream) {
                try {
                    return stream.readAllBytes();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }
        };
        return MethodDescriptor.<byte[], byte[]>newBuilder().setType(type).setFullMethodName("quantflow.v1.GenerationService/" + method)
                .setRequestMarshaller(bytes).setResponseMarshaller(bytes).build();
    }

    private static String grpcCase(ManagedChannel channel, Random rnd) {
        boolean tokenize = rnd.nextInt(6) == 0;
        byte[] msg = tokenize ? tokenizeRequest(rnd) : generateRequest(rnd);
        if (rnd.nextInt(3) == 0) msg = damaged(msg, rnd);
        CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        String what = (tokenize ? "Tokenize " : "Generate ") + ByteString.copyFrom(msg, 0, Math.min(msg.length, 200));
        Status status = call(channel, tokenize ? TOKENIZE : GENERATE, options, msg);
        return status == null ? "gRPC call without an end (deadline) for " + what
                : GRPC_ALLOWED.contains(status.getCode()) ? null : "gRPC " + status + " for " + what;
    }

    /** Runs one call to its end and returns its status (null if it did not end in time). */
    private static Status call(ManagedChannel channel, MethodDescriptor<byte[], byte[]> method, CallOptions options, byte[] msg) {
        CompletableFuture<Status> end = new CompletableFuture<>();
        ClientCall<byte[], byte[]> call = channel.newCall(method, options);
        call.start(new ClientCall.Listener<>() {
            @Override
            public void onMessage(byte[] message) {
                call.request(1);
            }

            @Override
            public void onClose(Status status, Metadata trailers) {
                end.complete(status);
            }
        }, new Metadata());
        call.request(1);
        call.sendMessage(msg);
        call.halfClose();
        try {
            Status s = end.get(TIMEOUT.toSeconds() + 10, TimeUnit.SECONDS);
            return s.getCode() == Status.Code.DEADLINE_EXCEEDED ? null : s;
        } catch (Exception e) {
            call.cancel("no end", e);
            return null;
        }
    }

    private static byte[] generateRequest(Random rnd) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setMaxTokens(1 + rnd.nextInt(8));
        switch (rnd.nextInt(4)) {
            case 0 -> b.setTokenIds(TokenIds.newBuilder().addAllIds(List.of(1, rnd.nextInt(600) - 50, rnd.nextInt(10))));
            case 1 -> {
                Chat.Builder chat = Chat.newBuilder().addMessages(ChatMessage.newBuilder().setRole(rnd.nextBoolean() ? "user" : randomAscii(rnd, 4))
                        .setContent(randomUnicode(rnd, 20)));
                if (rnd.nextBoolean())
                    chat.addMessages(ChatMessage.newBuilder().setRole(rnd.nextInt(6) == 0 ? "user" : "assistant").addToolCalls(ChatToolCall.newBuilder().setId("call_1")
                                    .setName(rnd.nextInt(6) == 0 ? "" : "add").setArguments(rnd.nextBoolean() ? "{\"a\": 1, \"b\": 2}" : randomUnicode(rnd, 6))))
                            .addMessages(ChatMessage.newBuilder().setRole("tool").setToolCallId(rnd.nextInt(6) == 0 ? "" : "call_1").setName("add").setContent("3"));
                b.setChat(chat);
            }
            default -> b.setText(rnd.nextInt(5) == 0 ? randomUnicode(rnd, rnd.nextInt(3000)) : "Once upon a time");
        }
        for (int k = rnd.nextInt(4); k > 0; k--) {
            switch (rnd.nextInt(14)) {
                case 0 -> b.setMaxTokens(List.of(0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 600).get(rnd.nextInt(5)));
                case 1 -> b.setTemperature(List.of(0f, -1f, Float.NaN, Float.POSITIVE_INFINITY, Float.MIN_VALUE, 3f, 1f).get(rnd.nextInt(7)));
                case 2 -> b.setTopP(List.of(0f, -0.5f, Float.NaN, Float.MIN_VALUE, 1e-30f, 1f, 2f).get(rnd.nextInt(7)));
                case 3 -> b.setTopK(List.of(0, -1, Integer.MAX_VALUE, 1, 40).get(rnd.nextInt(5)));
                case 4 -> b.setSeed(rnd.nextLong());
                case 5 -> b.addAllStop(Collections.nCopies(rnd.nextInt(20), rnd.nextBoolean() ? "" : randomUnicode(rnd, 3)));
                case 6 -> b.setIgnoreEos(rnd.nextBoolean());
                case 7 -> b.setTopLogprobs(List.of(0, -1, 1, 5, 20, 21, Integer.MAX_VALUE).get(rnd.nextInt(7)));
                case 8 -> b.setModel(rnd.nextBoolean() ? "stories260K" : randomUnicode(rnd, 8));
                case 9 -> b.setPromptLogprobs(List.of(0, -1, 1, 5, 20, 21, Integer.MAX_VALUE).get(rnd.nextInt(7)));
                case 10 -> b.addTools(Tool.newBuilder().setName(rnd.nextBoolean() ? "add" : randomUnicode(rnd, 4))
                        .setParameters(rnd.nextBoolean() ? "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}}" : randomUnicode(rnd, 10)));
                case 11 -> b.setToolChoice(rnd.nextBoolean() ? ToolChoice.newBuilder().setFunction(rnd.nextBoolean() ? "add" : randomUnicode(rnd, 3)).build()
                        : ToolChoice.newBuilder().setModeValue(rnd.nextInt(6) - 1).build());   // the modes, and numbers no mode has
                case 12 -> b.setParallelToolCalls(rnd.nextBoolean());
                default -> b.setRequestId(randomUnicode(rnd, rnd.nextInt(50)));
            }
        }
        return b.build().toByteArray();
    }

    private static byte[] tokenizeRequest(Random rnd) {
        return TokenizeRequest.newBuilder().setText(randomUnicode(rnd, rnd.nextInt(2000))).setAddSpecialTokens(rnd.nextBoolean()).build().toByteArray();
    }

    // ---------------------------------------------------------------- bytes

    /** Flips, inserts, deletes or truncates bytes; often yields invalid UTF-8 or a broken structure. */
    private static byte[] damaged(byte[] in, Random rnd) {
        List<Byte> b = new ArrayList<>(in.length + 8);
        for (byte x : in) b.add(x);
        for (int k = 1 + rnd.nextInt(4); k > 0 && !b.isEmpty(); k--) {
            int at = rnd.nextInt(b.size());
            switch (rnd.nextInt(4)) {
                case 0 -> b.set(at, (byte) (b.get(at) ^ (1 << rnd.nextInt(8))));
                case 1 -> b.add(at, (byte) rnd.nextInt(256));
                case 2 -> b.remove(at);
                default -> b.subList(at, b.size()).clear();
            }
        }
        byte[] out = new byte[b.size()];
        for (int i = 0; i < out.length; i++) out[i] = b.get(i);
        return out;
    }

    private static byte[] randomBytes(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    private static String randomAscii(Random rnd, int n) {
        StringBuilder s = new StringBuilder(n);
        for (int i = 0; i < n; i++) s.append((char) ('a' + rnd.nextInt(26)));
        return s.toString();
    }

    /** Letters, spaces, control characters, emoji, combining marks and lone surrogates. */
    private static String randomUnicode(Random rnd, int n) {
        StringBuilder s = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            switch (rnd.nextInt(8)) {
                case 0 -> s.append((char) rnd.nextInt(32));
                case 1 -> s.appendCodePoint(0x1F600 + rnd.nextInt(80));
                case 2 -> s.append((char) (0x0300 + rnd.nextInt(0x70)));
                case 3 -> s.append((char) (0xD800 + rnd.nextInt(0x800)));
                case 4 -> s.append(' ');
                default -> s.append((char) ('a' + rnd.nextInt(26)));
            }
        }
        return s.toString();
    }

    private static byte[] write(Object o) {
        try {
            return JSON.writeValueAsBytes(o);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
