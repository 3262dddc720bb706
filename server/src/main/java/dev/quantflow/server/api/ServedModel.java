package dev.quantflow.server.api;

import java.util.Optional;

/**
 * The one model this server serves: the name clients must use, its context length, when it was
 * loaded, and root: the model it was loaded from (its directory name or configured name; vLLM's
 * root, the --model it was given).
 */
public record ServedModel(String id, int contextLength, long createdEpochSeconds, String root) {
    public ServedModel(String id, int contextLength, long createdEpochSeconds) {
        this(id, contextLength, createdEpochSeconds, id);
    }

    /** A request may omit the model; when it names one, it must be this one. */
    public void check(Optional<String> requested) {
        if (requested.isPresent() && !requested.get().equals(id))
            throw new ApiError(ApiError.Kind.NOT_FOUND, "The model `" + requested.get() + "` does not exist; this server serves `" + id + "`.",
                    Optional.of("model"), Optional.of("model_not_found")).exception();
    }
}
