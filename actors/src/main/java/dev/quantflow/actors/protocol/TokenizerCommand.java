package dev.quantflow.actors.protocol;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.Prompt;
import org.apache.pekko.actor.typed.ActorRef;

/** The tokenizer pool's protocol: plain data both ways. */
public final class TokenizerCommand {
    private TokenizerCommand() {}

    /** Encode request; the answer goes to replyTo. */
    public record Encode(long sequence, Prompt prompt, ActorRef<EncodeResult> replyTo) implements CborSerializable {}

    public sealed interface EncodeResult extends CborSerializable {
        long sequence();
    }

    public record Encoded(long sequence, int[] ids) implements EncodeResult {}

    public record EncodeRejected(long sequence, EngineException.Kind kind, String message) implements EncodeResult {
        public EncodeRejected(long sequence, EngineException error) {
            this(sequence, error.kind(), error.getMessage());
        }

        public EngineException error() {
            return new EngineException(kind, message);
        }
    }
}
