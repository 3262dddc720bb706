package dev.quantflow.server.http;

import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.server.api.Generations;
import java.util.Locale;
import java.util.Optional;
import org.apache.pekko.http.javadsl.model.AttributeKey;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line per request on the logger quantflow.access, written when its response has been sent:
 * request id, method, path, status, prompt and completion tokens, time to first token, duration and
 * the client's address. The generation endpoints fill in the token counts through {@link #follow}.
 */
public final class AccessLog {
    private static final Logger log = LoggerFactory.getLogger("quantflow.access");
    static final AttributeKey<Entry> ENTRY = AttributeKey.create("quantflow-access-log", Entry.class);

    private AccessLog() {}

    /** What one request did; written from the request's stream stages, read once at the end. */
    static final class Entry {
        final long startNanos = System.nanoTime();
        volatile int promptTokens = -1;
        volatile int completionTokens = -1;
        volatile long firstTokenNanos = -1;

        void on(TokenEvent ev) {
            switch (ev) {
                case TokenEvent.Accepted a -> promptTokens = a.promptTokens();
                case TokenEvent.PromptLogprobs p -> {}
                case TokenEvent.Delta d -> {
                    if (firstTokenNanos < 0 && d.tokenIds().length > 0) firstTokenNanos = System.nanoTime();
                }
                case TokenEvent.Finished f -> {
                    promptTokens = f.promptTokens();
                    completionTokens = Math.max(completionTokens, 0) + f.completionTokens();   // n choices: all of them
                }
            }
        }
    }

    /** The generation as it was, its events also counted into this request's access-log line. */
    public static Generations.Started follow(HttpRequest request, Generations.Started started) {
        Optional<Entry> e = request.getAttribute(ENTRY);
        if (e.isEmpty()) return started;
        Entry entry = e.get();
        entry.on(started.accepted());
        return new Generations.Started(started.accepted(), started.events().map(ev -> {
            entry.on(ev);
            return ev;
        }));
    }

    static void write(Entry e, String requestId, String method, String path, int status, String client) {
        long end = System.nanoTime();
        log.info("request_id={} method={} path={} status={} prompt_tokens={} completion_tokens={} ttft_ms={} duration_ms={} client={}",
                requestId, method, path, status, count(e.promptTokens), count(e.completionTokens),
                e.firstTokenNanos < 0 ? "-" : millis(e.firstTokenNanos - e.startNanos), millis(end - e.startNanos), client);
    }

    private static String count(int n) {
        return n < 0 ? "-" : Integer.toString(n);
    }

    private static String millis(long nanos) {
        return String.format(Locale.ROOT, "%.1f", nanos / 1e6);
    }
}
