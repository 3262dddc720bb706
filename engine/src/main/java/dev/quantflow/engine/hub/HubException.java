package dev.quantflow.engine.hub;

/** A Hub model that cannot be resolved; the message is one line saying what and what to do. */
public class HubException extends RuntimeException {
    public HubException(String message) {
        super(message);
    }

    public HubException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The Hub could not be reached at all (no network, DNS, refused, timed out): the cache may still serve. */
    static final class Unreachable extends HubException {
        Unreachable(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
