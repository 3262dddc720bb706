package dev.quantflow.actors.api;

import org.apache.pekko.stream.BoundedSourceQueue;

/** Ending a request's stream; a stream the client already cancelled counts as ended, not as an error. */
public final class EventStreams {
    private EventStreams() {}

    public static void complete(BoundedSourceQueue<TokenEvent> events) {
        try {
            events.complete();
        } catch (IllegalStateException alreadyEnded) {
            // the client cancelled first
        }
    }

    public static void fail(BoundedSourceQueue<TokenEvent> events, Throwable error) {
        try {
            events.fail(error);
        } catch (IllegalStateException alreadyEnded) {
            // the client cancelled first
        }
    }
}
