package dev.quantflow.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A closed-loop load generator for a running server's OpenAI API: `concurrency` clients each send
 * a streaming /v1/completions request (greedy, EOS ignored, exactly maxTokens tokens), read its
 * server-sent events to [DONE], and send the next, until `requests` ran or the duration passed.
 * Per request: time to the first token, mean time per output token after it, end-to-end time.
 * With references, every stream's text must equal its prompt's single-request text: a lost,
 * duplicated or reordered token shows up as a mismatch. With a system prompt, each request is a
 * /v1/chat/completions of that system message and the prompt as the user's (a chat workload whose
 * requests share a prefix, as prefix caching serves).
 */
public final class ServeLoadGenerator {
    private static final ObjectMapper JSON = new ObjectMapper();

    public record Settings(URI base, Optional<String> apiKey, Optional<String> model, int maxTokens, List<String> prompts, Duration requestTimeout,
                           Optional<String> systemPrompt) {
        public Settings {
            prompts = List.copyOf(prompts);
            if (prompts.isEmpty()) throw new IllegalArgumentException("at least one prompt is needed");
            if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be >= 1");
        }

        /** Completions of the prompts (no system prompt). */
        public Settings(URI base, Optional<String> apiKey, Optional<String> model, int maxTokens, List<String> prompts, Duration requestTimeout) {
            this(base, apiKey, model, maxTokens, prompts, requestTimeout, Optional.empty());
        }
    }

    /** One request: ok, or the error; its timings (nanos since the level began) and what came back. */
    public record RequestResult(int prompt, boolean ok, String error, long sent, long firstToken, long done, int completionTokens, String text) {
        double ttftSeconds() {
            return (firstToken - sent) / 1e9;
        }

        double e2eSeconds() {
            return (done - sent) / 1e9;
        }

        /** Mean time per output token after the first; NaN for single-token outputs. */
        double tpotSeconds() {
            return completionTokens > 1 ? (done - firstToken) / 1e9 / (completionTokens - 1) : Double.NaN;
        }
    }

    public record Percentiles(double p50, double p90, double p99) {
        static Percentiles of(double[] values) {
            LatencyStats s = new LatencyStats(values);
            return new Percentiles(s.percentile(50), s.percentile(90), s.percentile(99));
        }
    }

    public record LevelResult(int concurrency, int requests, int errors, int mismatches, long generatedTokens, double seconds,
                              double tokensPerSecond, double requestsPerSecond, Percentiles ttft, Percentiles tpot, Percentiles e2e,
                              Map<String, Integer> errorKinds) {
        /** The fields `bench engine --json` prints, plus p90s, end-to-end latency and mismatches. */
        public ObjectNode json() {
            ObjectNode o = JSON.createObjectNode();
            o.put("concurrency", concurrency);
            o.put("requests", requests);
            number(o, "tokens_per_second", tokensPerSecond);
            number(o, "ttft_p50_ms", ttft.p50 * 1e3);
            number(o, "ttft_p99_ms", ttft.p99 * 1e3);
            number(o, "tpot_p50_ms", tpot.p50 * 1e3);
            number(o, "tpot_p99_ms", tpot.p99 * 1e3);
            o.put("errors", errors);
            number(o, "ttft_p90_ms", ttft.p90 * 1e3);
            number(o, "tpot_p90_ms", tpot.p90 * 1e3);
            number(o, "e2e_p50_ms", e2e.p50 * 1e3);
            number(o, "e2e_p90_ms", e2e.p90 * 1e3);
            number(o, "e2e_p99_ms", e2e.p99 * 1e3);
            number(o, "requests_per_second", requestsPerSecond);
            o.put("generated_tokens", generatedTokens);
            number(o, "duration_s", seconds);
            o.put("mismatches", mismatches);
            ObjectNode kinds = o.putObject("error_kinds");
            errorKinds.forEach(kinds::put);
            return o;
        }

        /** Two decimals; null where nothing was measured (as bench engine prints it). */
        private static void number(ObjectNode o, String key, double v) {
            if (Double.isNaN(v) || Double.isInfinite(v)) o.putNull(key);
            else o.put(key, Math.round(v * 100) / 100.0);
        }
    }

    /** Progress while a level runs: requests done, errors, tokens so far. */
    public record Progress(int done, int total, int errors, long tokens, double seconds) {}

    private final Settings settings;
    private final HttpClient client;

    public ServeLoadGenerator(Settings settings) {
        this.settings = settings;
        this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10))
                .executor(Executors.newVirtualThreadPerTaskExecutor()).build();
    }

    /** Each prompt's text from one request at a time: what every concurrent stream must reproduce. */
    public List<String> references() {
        List<String> refs = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < settings.prompts().size(); i++) {
            RequestResult r = request(i, t0);
            if (!r.ok()) throw new IllegalStateException("reference request for prompt " + i + " failed: " + r.error());
            refs.add(r.text());
        }
        return refs;
    }

    /**
     * Runs one level: until `requests` requests finished (requests > 0) or the duration passed
     * (requests = 0). references may be empty (no check).
     */
    public LevelResult run(int concurrency, int requests, Duration duration, List<String> references, Consumer<Progress> progress) throws InterruptedException {
        long t0 = System.nanoTime();
        long deadline = requests > 0 ? Long.MAX_VALUE : t0 + duration.toNanos();
        AtomicInteger next = new AtomicInteger();
        AtomicInteger errors = new AtomicInteger();
        AtomicLong tokens = new AtomicLong();
        ConcurrentLinkedQueue<RequestResult> results = new ConcurrentLinkedQueue<>();
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < concurrency; c++) {
            clients.add(Thread.ofVirtual().start(() -> {
                while (System.nanoTime() < deadline) {
                    int i = next.getAndIncrement();
                    if (requests > 0 && i >= requests) return;
                    RequestResult r = request(i % settings.prompts().size(), t0);
                    if (!r.ok()) errors.incrementAndGet();
                    tokens.addAndGet(r.completionTokens());
                    results.add(r);
                }
            }));
        }
        int total = requests > 0 ? requests : -1;
        for (Thread t : clients) {
            while (t.isAlive()) {
                t.join(Duration.ofMillis(250));
                progress.accept(new Progress(results.size(), total, errors.get(), tokens.get(), (System.nanoTime() - t0) / 1e9));
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        return summarize(concurrency, new ArrayList<>(results), references, seconds);
    }

    static LevelResult summarize(int concurrency, List<RequestResult> results, List<String> references, double seconds) {
        List<RequestResult> ok = results.stream().filter(RequestResult::ok).toList();
        Map<String, Integer> kinds = new TreeMap<>();
        results.stream().filter(r -> !r.ok()).forEach(r -> kinds.merge(r.error().length() > 80 ? r.error().substring(0, 80) : r.error(), 1, Integer::sum));
        int mismatches = 0;
        if (!references.isEmpty())
            for (RequestResult r : ok) if (!r.text().equals(references.get(r.prompt()))) mismatches++;
        long tokens = ok.stream().mapToLong(RequestResult::completionTokens).sum();
        return new LevelResult(concurrency, results.size(), results.size() - ok.size(), mismatches, tokens, seconds, tokens / seconds,
                ok.size() / seconds,
                Percentiles.of(ok.stream().mapToDouble(RequestResult::ttftSeconds).toArray()),
                Percentiles.of(ok.stream().mapToDouble(RequestResult::tpotSeconds).filter(d -> !Double.isNaN(d)).toArray()),
                Percentiles.of(ok.stream().mapToDouble(RequestResult::e2eSeconds).toArray()), kinds);
    }

    /** One streaming request, read to [DONE]; any failure is a result with ok = false, never an exception. */
    RequestResult request(int prompt, long t0) {
        long sent = System.nanoTime() - t0;
        try {
            ObjectNode body = JSON.createObjectNode();
            settings.model().ifPresent(m -> body.put("model", m));
            if (settings.systemPrompt().isPresent()) {
                var messages = body.putArray("messages");
                messages.addObject().put("role", "system").put("content", settings.systemPrompt().get());
                messages.addObject().put("role", "user").put("content", settings.prompts().get(prompt));
            } else {
                body.put("prompt", settings.prompts().get(prompt));
            }
            body.put("max_tokens", settings.maxTokens()).put("temperature", 0).put("ignore_eos", true).put("stream", true);
            body.putObject("stream_options").put("include_usage", true);
            String path = settings.systemPrompt().isPresent() ? "/v1/chat/completions" : "/v1/completions";
            HttpRequest.Builder b = HttpRequest.newBuilder(settings.base().resolve(path)).timeout(settings.requestTimeout())
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString()));
            settings.apiKey().ifPresent(k -> b.header("Authorization", "Bearer " + k));
            HttpResponse<Stream<String>> resp = client.send(b.build(), HttpResponse.BodyHandlers.ofLines());
            try (Stream<String> lines = resp.body()) {
                if (resp.statusCode() != 200) {
                    String msg = lines.reduce("", String::concat);
                    return failed(prompt, sent, t0, "HTTP " + resp.statusCode() + errorMessage(msg));
                }
                CompletionStream stream = new CompletionStream();
                for (Iterator<String> it = lines.iterator(); it.hasNext() && !stream.ended(); ) {
                    stream.line(it.next(), System.nanoTime() - t0);
                }
                long end = System.nanoTime() - t0;
                String error = stream.endOfStream();
                if (error != null) return failed(prompt, sent, t0, error);
                return new RequestResult(prompt, true, "", sent, stream.firstToken < 0 ? end : stream.firstToken, end,
                        stream.usageTokens, stream.text.toString());
            }
        } catch (IOException e) {
            return failed(prompt, sent, t0, e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return failed(prompt, sent, t0, "interrupted");
        } catch (RuntimeException e) {
            return failed(prompt, sent, t0, e.toString());
        }
    }

    /**
     * One /v1/completions (choices[].text) or /v1/chat/completions (choices[].delta.content) event stream, line by line (the HTTP client splits at LF, CR or CRLF), as
     * the SSE spec reads it: "data:" with or without its space, comments (": keep-alive") and other
     * fields skipped, an event dispatched at its blank line. What the servers differ in is accepted:
     * usage in a chunk of its own with no choices (OpenAI, vLLM), in the final chunk next to the
     * finish_reason (llama-server) or in every chunk (vLLM's continuous usage: the last counts);
     * choices with no text; a stream that ends after finish_reason and usage without [DONE].
     */
    static final class CompletionStream {
        final StringBuilder text = new StringBuilder();
        long firstToken = -1;
        int usageTokens = -1;
        private final StringBuilder data = new StringBuilder();
        private boolean hasData;
        private String eventType = "";
        private boolean done;
        private boolean finished;
        private String error;

        /** Whether nothing more is to be read: [DONE] or an error came. */
        boolean ended() {
            return done || error != null;
        }

        void line(String line, long now) throws IOException {
            if (line.endsWith("\r")) line = line.substring(0, line.length() - 1); // a CRLF split at LF only
            if (line.isEmpty()) {
                dispatch(now);
                return;
            }
            if (line.startsWith(":")) return; // a comment: keep-alive
            int colon = line.indexOf(':');
            String field = colon < 0 ? line : line.substring(0, colon);
            String value = colon < 0 ? "" : line.substring(colon + 1);
            if (value.startsWith(" ")) value = value.substring(1);
            switch (field) {
                case "data" -> {
                    if (hasData) data.append('\n');
                    data.append(value);
                    hasData = true;
                }
                case "event" -> eventType = value;
                // llama-server reports a failure mid-stream as an "error:" line
                case "error" -> error = "stream error: " + message(value);
                default -> { } // id, retry, or unknown: ignored, as the SSE spec says
            }
        }

        /** At the end of the body: null when the stream was complete, else what was wrong. */
        String endOfStream() throws IOException {
            if (!ended()) dispatch(-1); // a last event without its blank line
            if (error != null) return error;
            if (!finished) return "stream ended without a finish_reason";
            if (usageTokens < 0) return done ? "no usage chunk" : "stream ended without [DONE]";
            return null;
        }

        private void dispatch(long now) throws IOException {
            if (!hasData) {
                eventType = "";
                return;
            }
            String payload = data.toString();
            String type = eventType;
            data.setLength(0);
            hasData = false;
            eventType = "";
            if (payload.equals("[DONE]")) {
                done = true;
                return;
            }
            JsonNode chunk = JSON.readTree(payload);
            if (type.equals("error") || chunk.has("error")) {
                error = "stream error: " + (chunk.has("error") ? chunk.get("error").path("message").asText(payload) : payload);
                return;
            }
            JsonNode usage = chunk.path("usage");
            if (usage.isObject() && usage.has("completion_tokens")) usageTokens = usage.get("completion_tokens").asInt();
            for (JsonNode choice : chunk.path("choices")) {
                if (choice.path("index").asInt(0) != 0) continue;
                JsonNode t = choice.has("delta") ? choice.path("delta").path("content") : choice.path("text");
                if (t.isTextual() && !t.asText().isEmpty()) {
                    if (firstToken < 0) firstToken = now;
                    text.append(t.asText());
                }
                JsonNode reason = choice.path("finish_reason");
                if (reason.isTextual() && !reason.asText().isEmpty()) finished = true;
            }
        }

        private static String message(String value) {
            try {
                JsonNode n = JSON.readTree(value);
                return n.path("message").asText(n.path("error").path("message").asText(value));
            } catch (IOException notJson) {
                return value;
            }
        }
    }

    private static String errorMessage(String body) {
        try {
            return ": " + JSON.readTree(body).path("error").path("message").asText(body);
        } catch (IOException e) {
            return body.isEmpty() ? "" : ": " + body;
        }
    }

    private static RequestResult failed(int prompt, long sent, long t0, String error) {
        long now = System.nanoTime() - t0;
        return new RequestResult(prompt, false, error, sent, now, now, 0, "");
    }
}
