package dev.quantflow.server.metrics;

import dev.quantflow.actors.api.TokenEvent;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * Follows one request's events and records its latencies: arrival -> accepted (queue time) ->
 * first token (TTFT, prefill time) -> each further token (inter-token latency) -> finished (e2e,
 * decode time). A request of n choices is n sequences, each counted as vLLM v1 counts the n child
 * requests of one: every choice has its own first token, token gaps, end, token counts and finish
 * reason; the queue time and the prompt tokens counter are the request's, once. Fed from a single
 * stream stage, so it needs no locking.
 */
public final class RequestMetrics {
    private final ServerMetrics m;
    private final long arrival;
    private long accepted = -1;
    private final long[] firstToken;
    private final long[] lastToken;
    private final boolean[] done;
    private int open;

    RequestMetrics(ServerMetrics m, long arrivalNanos, int choices) {
        this.m = m;
        this.arrival = arrivalNanos;
        this.firstToken = new long[choices];
        this.lastToken = new long[choices];
        this.done = new boolean[choices];
        this.open = choices;
        Arrays.fill(firstToken, -1);
    }

    public void on(TokenEvent event) {
        long now = System.nanoTime();
        switch (event) {
            case TokenEvent.PromptLogprobs p -> {}
            case TokenEvent.Accepted a -> {
                accepted = now;
                m.queueTime.record(now - arrival, TimeUnit.NANOSECONDS);
                m.promptTokens.increment(a.promptTokens());
            }
            case TokenEvent.Delta d -> {
                int n = d.tokenIds().length;
                int c = d.index();
                if (n == 0 || c >= done.length) return;
                m.generationTokens.increment(n);
                if (firstToken[c] < 0) {
                    firstToken[c] = now;
                    m.timeToFirstToken.record(now - arrival, TimeUnit.NANOSECONDS);
                    if (accepted >= 0) m.prefillTime.record(now - accepted, TimeUnit.NANOSECONDS);
                    n--;
                } else {
                    // tokens of one choice that arrive together share the gap since its previous delta
                    long each = (now - lastToken[c]) / n;
                    for (int i = 0; i < n; i++) m.interTokenLatency.record(each, TimeUnit.NANOSECONDS);
                }
                lastToken[c] = now;
            }
            case TokenEvent.Finished f -> {
                int c = f.index();
                if (c >= done.length || done[c]) return;
                done[c] = true;
                open--;
                m.e2eLatency.record(now - arrival, TimeUnit.NANOSECONDS);
                if (firstToken[c] >= 0) m.decodeTime.record(now - firstToken[c], TimeUnit.NANOSECONDS);
                m.promptTokensPerRequest.record(f.promptTokens());
                m.generationTokensPerRequest.record(f.completionTokens());
                m.finished(f.finishReason().equals("cancelled") ? "abort" : f.finishReason());
            }
        }
    }

    /** The stream ended: each choice without a Finished event was cut, by the client going away (abort) or an engine failure (error). */
    public void ended(boolean failed) {
        if (accepted < 0) return;
        for (int c = 0; c < done.length && open > 0; c++) {
            if (done[c]) continue;
            done[c] = true;
            open--;
            m.finished(failed ? "error" : "abort");
        }
    }
}
