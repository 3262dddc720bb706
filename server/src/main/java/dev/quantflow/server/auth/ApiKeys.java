package dev.quantflow.server.auth;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The API keys a client must present as `Authorization: Bearer KEY`. Only SHA-256 digests are
 * kept, and every check compares against every digest in constant time, so neither timing nor a
 * heap dump gives a key away. No keys configured means authentication is off.
 */
public final class ApiKeys {
    private final List<byte[]> digests;

    private ApiKeys(List<byte[]> digests) {
        this.digests = List.copyOf(digests);
    }

    public static ApiKeys none() {
        return new ApiKeys(List.of());
    }

    /** Keys from the configuration (comma-separated lists allowed) and from a file, one key per line ('#' comments). */
    public static ApiKeys of(List<String> keys, Optional<Path> keyFile) {
        List<byte[]> ds = new ArrayList<>();
        for (String entry : keys)
            for (String k : entry.split(",")) add(ds, k);
        if (keyFile.isPresent()) {
            Path f = keyFile.get();
            try {
                for (String line : Files.readAllLines(f, StandardCharsets.UTF_8))
                    if (!line.strip().startsWith("#")) add(ds, line);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the API key file " + f + ": " + e.getMessage(), e);
            }
            if (ds.isEmpty()) throw new IllegalArgumentException("the API key file " + f + " holds no keys");
        }
        return new ApiKeys(ds);
    }

    private static void add(List<byte[]> ds, String key) {
        String k = key.strip();
        if (!k.isEmpty()) ds.add(sha256(k));
    }

    public boolean enabled() {
        return !digests.isEmpty();
    }

    public int count() {
        return digests.size();
    }

    /** True if auth is off, or the Authorization header value is "Bearer " and a configured key. */
    public boolean allows(Optional<String> authorizationHeader) {
        if (!enabled()) return true;
        if (authorizationHeader.isEmpty()) return false;
        String h = authorizationHeader.get().strip();
        if (h.length() < 7 || !h.regionMatches(true, 0, "Bearer ", 0, 7)) return false;
        byte[] presented = sha256(h.substring(7).strip());
        boolean match = false;
        for (byte[] d : digests) match |= MessageDigest.isEqual(d, presented);
        return match;
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
