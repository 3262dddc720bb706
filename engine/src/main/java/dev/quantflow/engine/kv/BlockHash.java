package dev.quantflow.engine.kv;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The identity of a full KV block's content for prefix caching (vLLM's block hash): SHA-256 over
 * the previous block's hash and this block's tokens, so a block's hash covers every token from
 * position 0 to its end. The chain starts at a root that names what else decides the KV values
 * (model, weight scheme, KV format, block size). 128 bits of the digest are kept: a collision
 * would serve another prompt's KV, so the hash is cryptographic, not Java's.
 */
public record BlockHash(long hi, long lo) {
    /** The hash before the first block: everything besides the tokens that changes the KV content. */
    public static BlockHash root(String namespace) {
        return of(sha256().digest(namespace.getBytes(StandardCharsets.UTF_8)));
    }

    /** The hash of the block holding tokens[from, to), which follows the block hashed parent. */
    public BlockHash next(int[] tokens, int from, int to) {
        ByteBuffer b = ByteBuffer.allocate(16 + 4 * (to - from));
        b.putLong(hi).putLong(lo);
        for (int i = from; i < to; i++) b.putInt(tokens[i]);
        return of(sha256().digest(b.array()));
    }

    private static BlockHash of(byte[] digest) {
        ByteBuffer b = ByteBuffer.wrap(digest);
        return new BlockHash(b.getLong(), b.getLong());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
