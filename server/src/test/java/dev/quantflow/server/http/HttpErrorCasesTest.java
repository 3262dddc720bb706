package dev.quantflow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every error case of the HTTP API: status, OpenAI error body, headers; and that the server stays healthy after abuse. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpErrorCasesTest {
    private ScriptedEngine engine;
    private QuantflowServer server;
    private Http http;

    @BeforeAll
    void start() {
        engine = new ScriptedEngine();
        server = engine.startServer(Map.of("max-body-size", "64 KiB", "body-read-timeout", "1s"));
        http = new Http(server.httpPort());
    }

    @AfterAll
    void stop() {
        server.close();
    }

    private static JsonNode error(Http.Reply r, int status) {
        assertThat(r.status()).as(r.body()).isEqualTo(status);
        assertThat(r.header("content-type")).hasValueSatisfying(ct -> assertThat(ct).startsWith("application/json"));
        JsonNode e = r.json().get("error");
        assertThat(e).as(r.body()).isNotNull();
        assertThat(e.get("message").asText()).isNotBlank();
        assertThat(e.has("type") && e.has("param") && e.has("code")).isTrue();
        return e;
    }

    private static Map<String, Object> completion(Object... kv) {
        Map<String, Object> m = new HashMap<>(Map.of("prompt", "Once upon a time"));
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    @ParameterizedTest(name = "{0} = {1} -> 400")
    @CsvSource(delimiter = '|', value = {
            "max_tokens|-1", "max_tokens|0", "max_tokens|\"10\"", "max_tokens|10.5", "temperature|2.5", "temperature|-0.1", "temperature|\"hot\"",
            "top_p|0", "top_p|1.5", "top_k|-2", "n|17", "stop|[1,2]", "stop|\"\"", "stream|\"yes\"", "logprobs|21", "seed|\"abc\"",
            "presence_penalty|2.5", "suffix|\"x\"", "prompt|{}", "prompt|[]", "prompt|[1,100000]", "prompt|[\"a\",\"b\"]", "prompt|[-1]",
            "stream_options|{\"include_usage\":true}", "best_of|17", "logit_bias|{\"a\":5}"})
    void invalidParameterIs400NamingIt(String field, String json) {
        String body = "{\"prompt\": \"Hello\", \"" + field + "\": " + json + "}";
        if (field.equals("prompt")) body = "{\"prompt\": " + json + "}";
        JsonNode e = error(http.post("/v1/completions", body), 400);
        assertThat(e.get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(e.get("param").asText()).isEqualTo(field.equals("stream_options") ? "stream_options" : field);
    }

    @Test
    void chatSpecificValidation() {
        error(http.post("/v1/chat/completions", Map.of("messages", List.of())), 400);
        error(http.post("/v1/chat/completions", "{\"messages\": \"hi\"}"), 400);
        error(http.post("/v1/chat/completions", "{\"messages\": [{\"content\": \"no role\"}]}"), 400);
        error(http.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}"), 400);
        error(http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "x")), "top_logprobs", 2)), 400);
        error(http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "x")), "tools", List.of(Map.of("type", "function")))), 400);
        error(http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "x")), "max_completion_tokens", -5)), 400);
        error(http.post("/v1/chat/completions", "{}"), 400);
    }

    @Test
    void missingPromptIs400() {
        assertThat(error(http.post("/v1/completions", "{\"max_tokens\": 3}"), 400).get("param").asText()).isEqualTo("prompt");
    }

    @Test
    void unknownFieldsAndNullsAreTolerated() {
        Http.Reply r = http.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 2, \"user\": \"me\", \"frobnicate\": [1, {\"a\": null}], \"stop\": null, \"temperature\": null}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
    }

    @Test
    void malformedJsonIs400() {
        for (String body : List.of("{", "{\"prompt\": \"x\",}", "not json", "[1, 2]", "\"just a string\"", "{\"prompt\": \"x\"} trailing", ""))
            assertThat(error(http.post("/v1/completions", body), 400).get("type").asText()).isEqualTo("invalid_request_error");
    }

    @Test
    void invalidUtf8Is400() {
        byte[] prefix = "{\"prompt\": \"".getBytes(StandardCharsets.UTF_8);
        byte[] bad = {(byte) 0xC3, (byte) 0x28, (byte) 0xFF};
        byte[] suffix = "\"}".getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[prefix.length + bad.length + suffix.length];
        System.arraycopy(prefix, 0, body, 0, prefix.length);
        System.arraycopy(bad, 0, body, prefix.length, bad.length);
        System.arraycopy(suffix, 0, body, prefix.length + bad.length, suffix.length);
        error(http.postBytes("/v1/completions", body), 400);
    }

    @Test
    void loneSurrogatesDoNotCrash() {
        Http.Reply r = http.post("/v1/completions", "{\"prompt\": \"a\\ud800b\", \"max_tokens\": 1}");
        assertThat(r.status()).isIn(200, 400);
    }

    @Test
    void deeplyNestedJsonIs400() {
        String deep = "[".repeat(10_000) + "]".repeat(10_000);
        error(http.post("/v1/completions", "{\"prompt\": \"x\", \"junk\": " + deep + "}"), 400);
    }

    @Test
    void bodyTooLargeIs413() {
        String big = "x".repeat(100 * 1024);
        JsonNode e = error(http.post("/v1/completions", "{\"prompt\": \"" + big + "\"}"), 413);
        assertThat(e.get("message").asText()).contains("65536");
        assertThat(http.get("/health/live").status()).isEqualTo(200);
    }

    @Test
    void chunkedBodyTooLargeIs413() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.httpPort())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            byte[] chunk = "x".repeat(16 * 1024).getBytes(StandardCharsets.US_ASCII);
            String status = null;
            for (int i = 0; i < 16 && status == null; i++) {
                try {
                    out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                } catch (IOException closed) {
                    break;
                }
            }
            status = readStatusLine(s.getInputStream());
            assertThat(status).contains(" 413 ");
        }
    }

    @Test
    void slowBodyIs408AndFreesTheConnection() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.httpPort())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pro").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            assertThat(readStatusLine(s.getInputStream())).contains(" 408 ");
        }
        assertThat(http.get("/health/live").status()).isEqualTo(200);
    }

    @Test
    void unknownModelIs404() {
        JsonNode e = error(http.post("/v1/completions", completion("model", "gpt-4")), 404);
        assertThat(e.get("code").asText()).isEqualTo("model_not_found");
        assertThat(e.get("param").asText()).isEqualTo("model");
        error(http.post("/v1/chat/completions", Map.of("model", "llama", "messages", List.of(Map.of("role", "user", "content", "x")))), 404);
    }

    @Test
    void unknownPathIs404AndWrongMethodIs405() {
        error(http.get("/v1/nothing"), 404);
        error(http.post("/v2/completions", "{}"), 404);
        Http.Reply r = http.get("/v1/completions");
        error(r, 405);
        assertThat(r.header("allow")).contains("POST");
        error(http.post("/v1/models", "{}"), 405);
    }

    @Test
    void promptLongerThanTheContextIs400() {
        int[] ids = IntStream.range(0, ScriptedEngine.CONTEXT).map(i -> 5).toArray();
        JsonNode e = error(http.post("/v1/completions", Map.of("prompt", ids)), 400);
        assertThat(e.get("code").asText()).isEqualTo("context_length_exceeded");
        // a text prompt is only measured by the engine's tokenizer: the engine rejects it
        JsonNode t = error(http.post("/v1/completions", Map.of("prompt", "Once upon a time ".repeat(300))), 400);
        assertThat(t.get("message").asText()).contains("context");
        error(http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Once upon a time ".repeat(300))), "stream", true)), 400);
    }

    @Test
    void overloadedIs429WithRetryAfter() {
        engine.overloaded = true;
        try {
            Http.Reply r = http.post("/v1/completions", completion());
            JsonNode e = error(r, 429);
            assertThat(e.get("type").asText()).isEqualTo("rate_limit_error");
            assertThat(r.header("retry-after")).contains("1");
            Http.Reply s = http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "x")), "stream", true));
            error(s, 429);
        } finally {
            engine.overloaded = false;
        }
    }

    @Test
    void degradedIs503() {
        engine.degraded = true;
        try {
            Http.Reply r = http.post("/v1/completions", completion());
            assertThat(error(r, 503).get("code").asText()).isEqualTo("degraded");
            assertThat(r.header("retry-after")).isPresent();
            assertThat(http.get("/health/ready").status()).isEqualTo(503);
            assertThat(http.get("/health/live").status()).isEqualTo(200);
        } finally {
            engine.degraded = false;
        }
        assertThat(http.get("/health/ready").status()).isEqualTo(200);
    }

    @Test
    void failureAfterTheStreamStartedIsAnErrorEvent() {
        engine.failMidStream = true;
        try (Http.SseStream s = http.stream("/v1/completions", completion("max_tokens", 10, "stream", true))) {
            assertThat(s.status()).isEqualTo(200);
            List<String> data = s.rest();
            assertThat(data.getLast()).isEqualTo("[DONE]");
            JsonNode err = Http.json(data.get(data.size() - 2));
            assertThat(err.get("error").get("type").asText()).isEqualTo("server_error");
        } finally {
            engine.failMidStream = false;
        }
        engine.failMidStream = true;
        try {
            error(http.post("/v1/completions", completion("max_tokens", 10)), 500);
        } finally {
            engine.failMidStream = false;
        }
    }

    @Test
    void errorsAreCountedByEndpointAndStatus() {
        http.post("/v1/completions", completion("model", "nope"));
        String metrics = http.get("/metrics").body();
        assertThat(metrics).contains("quantflow_http_requests_total{endpoint=\"/v1/completions\",model_name=\"stories260K\",status=\"404\"}");
    }

    @Test
    void bodyAboveEightMebibytesIs413NotPekkosStrictLimit() throws Exception {
        // Pekko's max-to-strict-bytes (8 MiB) used to answer first with a 400 naming its own limit
        byte[] big = new byte[9 << 20];
        Arrays.fill(big, (byte) 'x');
        JsonNode e = error(http.postBytes("/v1/completions", big), 413);
        assertThat(e.get("message").asText()).contains("65536").doesNotContain("8388608");
        assertThat(http.get("/health/live").status()).isEqualTo(200);
    }

    @Test
    void maxBodySizeAboveEightMebibytesWorks() {
        try (QuantflowServer big = new ScriptedEngine().startServer(Map.of("max-body-size", "12 MiB"))) {
            Http h = new Http(big.httpPort());
            String pad = "x".repeat(9 << 20);
            Http.Reply ok = h.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 1, \"padding\": \"" + pad + "\"}");
            assertThat(ok.status()).as(ok.body().length() > 300 ? ok.body().substring(0, 300) : ok.body()).isEqualTo(200);
            JsonNode e = error(h.post("/v1/completions", "{\"prompt\": \"Hi\", \"padding\": \"" + pad + pad + "\"}"), 413);
            assertThat(e.get("message").asText()).contains(Long.toString(12L << 20));
        }
    }

    /** A raw HTTP/1.1 exchange: the status line, then the body of the answer (the server closes after these errors). */
    private Raw raw(String request) throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.httpPort())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            String all = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int split = all.indexOf("\r\n\r\n");
            return new Raw(all.substring(0, all.indexOf("\r\n")), all.substring(0, split), all.substring(split + 4));
        }
    }

    private record Raw(String statusLine, String head, String body) {}

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {"uri over 2048|414", "header over 8192|431", "over 64 headers|400", "bad content-length|400",
            "unknown method|501", "HTTP/3.0|505"})
    void pekkosOwnRejectionsAreOpenAiErrors(String what, int status) throws Exception {
        String req = switch (what) {
            case "uri over 2048" -> "GET /v1/models?" + "a".repeat(3000) + " HTTP/1.1\r\nHost: x\r\n\r\n";
            case "header over 8192" -> "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "b".repeat(9000) + "\r\n\r\n";
            case "over 64 headers" -> "GET /health HTTP/1.1\r\nHost: x\r\n" + IntStream.range(0, 70).mapToObj(i -> "X-H" + i + ": v\r\n").reduce("", String::concat) + "\r\n";
            case "bad content-length" -> "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}";
            case "unknown method" -> "FROB /health HTTP/1.1\r\nHost: x\r\n\r\n";
            default -> "GET /health HTTP/3.0\r\nHost: x\r\n\r\n";
        };
        Raw r = raw(req);
        assertThat(r.statusLine()).startsWith("HTTP/1.1 " + status);
        assertThat(r.head().toLowerCase(Locale.ROOT)).contains("content-type: application/json");
        JsonNode e = Http.json(r.body()).get("error");
        assertThat(e.get("message").asText()).isNotBlank();
        assertThat(e.get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(e.has("param") && e.has("code")).isTrue();
        assertThat(http.get("/health/live").status()).isEqualTo(200);
    }

    @Test
    void grpcContentTypeOnTheHttpApiIsAnOpenAiError() throws Exception {
        // routed to gRPC by content type alone, this was a 404 with an empty body
        Raw r = raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        assertThat(r.statusLine()).startsWith("HTTP/1.1 415");
        assertThat(Http.json(r.body()).get("error").get("code").asText()).isEqualTo("unsupported_media_type");
        Raw models = raw("GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nConnection: close\r\n\r\n");
        assertThat(models.statusLine()).startsWith("HTTP/1.1 200");
    }

    @ParameterizedTest(name = "Content-Type {0} -> 415")
    @CsvSource({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"})
    void nonJsonContentTypeIs415(String contentType) throws Exception {
        String body = "{\"prompt\": \"Hi\", \"max_tokens\": 1}";
        Raw r = raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: " + contentType + "\r\nContent-Length: " + body.length()
                + "\r\nConnection: close\r\n\r\n" + body);
        assertThat(r.statusLine()).startsWith("HTTP/1.1 415");
        JsonNode e = Http.json(r.body()).get("error");
        assertThat(e.get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(e.get("message").asText()).contains("application/json");
        assertThat(http.get("/metrics").body()).contains("quantflow_http_requests_total{endpoint=\"/v1/completions\",model_name=\"stories260K\",status=\"415\"}");
    }

    @Test
    void missingContentTypeIsReadAsJson() throws Exception {
        String body = "{\"prompt\": \"Hi\", \"max_tokens\": 1}";
        Raw r = raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\n\r\n" + body);
        assertThat(r.statusLine()).startsWith("HTTP/1.1 200");
        Raw json = raw("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " + body.length()
                + "\r\nConnection: close\r\n\r\n" + body);
        assertThat(json.statusLine()).startsWith("HTTP/1.1 200");
    }

    @Test
    void headOnProbesWorks() throws Exception {
        for (String path : List.of("/health", "/health/live", "/health/ready", "/metrics")) {
            Raw r = raw("HEAD " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assertThat(r.statusLine()).as(path).startsWith("HTTP/1.1 200");
            assertThat(r.body()).as(path).isEmpty();
        }
    }

    private static String readStatusLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n') sb.append((char) c);
        return sb.toString();
    }
}
