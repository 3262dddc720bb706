package dev.quantflow.server.metrics;

import dev.quantflow.actors.api.TokenEvent;
import java.util.concurrent.TimeUnit;

/**
 * Follows one request's events and records its latencies: arrival -> accepted (queue time) ->
 * first token (TTFT, prefill time) -> each further token (inter-token latency) -> finished (e2e,
 * decode time). Fed from a single stream stage, so it needs no locking.
 */
public final class RequestMetrics {
    private final ServerMetrics m;
    private final long arrival;
    private long accepted = -1;
    private long firstToken = -1;
    private long lastToken = -1;
    private boolean done;

    RequestMetrics(ServerMetrics m, long arrivalNanos) {
        this.m = m;
        this.arrival = arrivalNanos;
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
                if (n == 0) return;
                m.generationTokens.increment(n);
                if (firstToken < 0) {
                    firstToken = now;
                    m.timeToFirstToken.record(now - arrival, TimeUnit.NANOSECONDS);
                    if (accepted >= 0) m.prefillTime.record(now - accepted, TimeUnit.NANOSECONDS);
                    n--;
                } else {
                    // tokens that arrive together share the gap since the previous delta
                    long each = (now - lastToken) / n;
                    for (int i = 0; i < n; i++) m.interTokenLatency.record(each, TimeUnit.NANOSECONDS);
                }
                lastToken = now;
            }
            case TokenEvent.Finished f -> {
                if (done) return;
                done = true;
                m.e2eLatency.record(now - arrival, TimeUnit.NANOSECONDS);
                if (firstToken >= 0) m.decodeTime.record(now - firstToken, TimeUnit.NANOSECONDS);
                m.promptTokensPerRequest.record(f.promptTokens());
                m.generationTokensPerRequest.record(f.completionTokens());
                m.finished(f.finishReason().equals("cancelled") ? "abort" : f.finishReason());
            }
        }
    }

    /** The stream ended without a Finished event: the client went away (abort) or the engine failed (error). */
    public void ended(boolean failed) {
        if (done || accepted < 0) return;
        done = true;
        m.finished(failed ? "error" : "abort");
    }
}
