package dev.quantflow.engine.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A loopback Hugging Face Hub for tests, answering the endpoints a download uses with the Hub's
 * headers: GET /api/models/ORG/NAME/revision/REV (sha, siblings, gated), HEAD and GET
 * /ORG/NAME/resolve/REV/FILE (a small file: 200 with its git sha1 as quoted ETag and X-Repo-Commit;
 * an LFS file (.safetensors, .gguf, .bin, ...): 302 to an absolute CDN URL on a second server, with
 * X-Linked-Etag (its sha256), X-Linked-Size and X-Repo-Commit), X-Error-Code on 401/403/404
 * (GatedRepo, RepoNotFound, RevisionNotFound, EntryNotFound), and a CDN that honours Range.
 * Faults to test with: a transfer cut after some bytes, bytes altered in flight.
 */
public final class StubHub implements AutoCloseable {
    private static final Set<String> LFS = Set.of("safetensors", "gguf", "bin", "pth", "msgpack", "h5", "onnx", "model");

    private record Repo(Map<String, Map<String, byte[]>> commits, Map<String, String> refs, Optional<String> acceptedToken) {}

    private final Map<String, Repo> repos = new ConcurrentHashMap<>();
    private final Map<String, byte[]> cdnBlobs = new ConcurrentHashMap<>();
    private final Map<String, Long> cutAfter = new ConcurrentHashMap<>();   // sha256 -> bytes sent before the connection drops (once)
    private final Map<String, Long> stallAfter = new ConcurrentHashMap<>(); // sha256 -> bytes sent before the transfer stalls (once)
    private final Set<String> corrupt = ConcurrentHashMap.newKeySet();       // sha256 whose bytes are altered in flight
    private final List<String> requests = Collections.synchronizedList(new ArrayList<>());
    private final HttpServer hub, cdn;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    public StubHub() throws IOException {
        hub = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        cdn = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        hub.createContext("/", this::hub);
        cdn.createContext("/", this::cdn);
        hub.setExecutor(threads);
        cdn.setExecutor(threads);
        hub.start();
        cdn.start();
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + hub.getAddress().getPort());
    }

    /** Adds a commit of repo holding files, and points each given ref (branch or tag) at it; returns its sha. */
    public String commit(String repo, Map<String, byte[]> files, String... refs) {
        Repo r = repos.computeIfAbsent(repo, k -> new Repo(new ConcurrentHashMap<>(), new ConcurrentHashMap<>(), Optional.empty()));
        String sha = sha1Hex((repo + "#" + r.commits().size() + "#" + files.keySet()).getBytes(StandardCharsets.UTF_8));
        r.commits().put(sha, new LinkedHashMap<>(files));
        for (String ref : refs) r.refs().put(ref, sha);
        for (Map.Entry<String, byte[]> f : files.entrySet()) if (isLfs(f.getKey())) cdnBlobs.put(sha256Hex(f.getValue()), f.getValue());
        return sha;
    }

    /** A commit of every file of a local model directory, on main. */
    public String commitDirectory(String repo, Path dir) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).sorted().toList()) files.put(dir.relativize(p).toString(), Files.readAllBytes(p));
        }
        return commit(repo, files, "main");
    }

    /** Makes repo gated: its files need this token (401 without one, 403 with another). */
    public void gate(String repo, String token) {
        Repo r = repos.get(repo);
        repos.put(repo, new Repo(r.commits(), r.refs(), Optional.of(token)));
    }

    /** The next CDN transfer of these bytes stops after n bytes (the connection drops). */
    public void cutAfter(byte[] content, long n) {
        cutAfter.put(sha256Hex(content), n);
    }

    /** The next CDN transfer of these bytes sends n bytes, then nothing (the connection stays open) for a minute. */
    public void stallAfter(byte[] content, long n) {
        stallAfter.put(sha256Hex(content), n);
    }

    /** Every CDN transfer of these bytes arrives with one byte altered (until healed). */
    public void corrupt(byte[] content, boolean on) {
        if (on) corrupt.add(sha256Hex(content));
        else corrupt.remove(sha256Hex(content));
    }

    /** "HUB|CDN METHOD PATH [Range: ...] [auth]" of every request so far. */
    public List<String> requests() {
        synchronized (requests) {
            return List.copyOf(requests);
        }
    }

    public void clearRequests() {
        requests.clear();
    }

    public static boolean isLfs(String file) {
        int dot = file.lastIndexOf('.');
        return dot >= 0 && LFS.contains(file.substring(dot + 1));
    }

    private static final Pattern INFO = Pattern.compile("/api/models/([^/]+/[^/]+)/revision/([^/]+)");
    private static final Pattern RESOLVE = Pattern.compile("/([^/]+/[^/]+)/resolve/([^/]+)/(.+)");

    private void hub(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getRawPath();
            log("HUB", ex);
            Matcher m = INFO.matcher(path);
            if (m.matches() && ex.getRequestMethod().equals("GET")) {
                info(ex, m.group(1), decode(m.group(2)));
                return;
            }
            m = RESOLVE.matcher(path);
            if (m.matches()) {
                resolve(ex, m.group(1), decode(m.group(2)), decode(m.group(3)));
                return;
            }
            send(ex, 404, Map.of(), "{\"error\":\"not found\"}");
        }
    }

    private void info(HttpExchange ex, String repoId, String revision) throws IOException {
        Repo repo = repos.get(repoId);
        if (repo == null) {
            send(ex, 404, Map.of("X-Error-Code", "RepoNotFound"), "{\"error\":\"Repository not found\"}");
            return;
        }
        String sha = commitOf(repo, revision);
        if (sha == null) {
            send(ex, 404, Map.of("X-Error-Code", "RevisionNotFound"), "{\"error\":\"Invalid rev id: " + revision + "\"}");
            return;
        }
        StringBuilder siblings = new StringBuilder();
        for (String f : repo.commits().get(sha).keySet()) siblings.append(siblings.isEmpty() ? "" : ",").append("{\"rfilename\":\"").append(f).append("\"}");
        send(ex, 200, Map.of("Content-Type", "application/json"), "{\"_id\":\"x\",\"id\":\"" + repoId + "\",\"sha\":\"" + sha + "\",\"private\":false,\"gated\":"
                + (repo.acceptedToken().isPresent() ? "\"manual\"" : "false") + ",\"siblings\":[" + siblings + "]}");
    }

    private void resolve(HttpExchange ex, String repoId, String revision, String file) throws IOException {
        Repo repo = repos.get(repoId);
        if (repo == null) {
            send(ex, 404, Map.of("X-Error-Code", "RepoNotFound"), "Repository not found");
            return;
        }
        if (repo.acceptedToken().isPresent()) {
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            if (auth == null) {
                send(ex, 401, Map.of("X-Error-Code", "GatedRepo"), "Access to model " + repoId + " is restricted. You must be authenticated to access it.");
                return;
            }
            if (!auth.equals("Bearer " + repo.acceptedToken().get())) {
                send(ex, 403, Map.of("X-Error-Code", "GatedRepo"), "Access to model " + repoId + " is restricted and you are not in the authorized list.");
                return;
            }
        }
        String sha = commitOf(repo, revision);
        if (sha == null) {
            send(ex, 404, Map.of("X-Error-Code", "RevisionNotFound"), "Invalid rev id: " + revision);
            return;
        }
        byte[] content = repo.commits().get(sha).get(file);
        if (content == null) {
            send(ex, 404, Map.of("X-Error-Code", "EntryNotFound"), "Entry not found");
            return;
        }
        Map<String, String> h = new LinkedHashMap<>();
        h.put("X-Repo-Commit", sha);
        if (isLfs(file)) {
            String sha256 = sha256Hex(content);
            h.put("ETag", "\"" + gitBlobSha1(pointer(content)) + "\"");
            h.put("X-Linked-Etag", "\"" + sha256 + "\"");
            h.put("X-Linked-Size", String.valueOf(content.length));
            h.put("Location", "http://127.0.0.1:" + cdn.getAddress().getPort() + "/repos/aa/bb/" + sha256 + "?response-content-disposition=attachment&Expires=1");
            send(ex, 302, h, "Found. Redirecting to " + h.get("Location"));
        } else {
            h.put("ETag", "\"" + gitBlobSha1(content) + "\"");
            h.put("Accept-Ranges", "bytes");
            sendBytes(ex, h, content, null);
        }
    }

    private void cdn(HttpExchange ex) throws IOException {
        try (ex) {
            log("CDN", ex);
            String path = ex.getRequestURI().getPath();
            byte[] content = cdnBlobs.get(path.substring(path.lastIndexOf('/') + 1));
            if (content == null) {
                send(ex, 404, Map.of(), "NoSuchKey");
                return;
            }
            String sha256 = sha256Hex(content);
            Map<String, String> h = new LinkedHashMap<>();
            h.put("ETag", "\"" + sha256 + "\"");
            h.put("Accept-Ranges", "bytes");
            if (corrupt.contains(sha256)) {
                content = content.clone();
                content[content.length / 2] ^= 0x5a;
            }
            sendBytes(ex, h, content, sha256);
        }
    }

    /** 200 with the whole body, or 206 from the Range's first byte; HEAD sends only the headers. */
    private void sendBytes(HttpExchange ex, Map<String, String> h, byte[] content, String cutKey) throws IOException {
        String range = ex.getRequestHeaders().getFirst("Range");
        int from = 0, code = 200;
        if (range != null) {
            Matcher r = Pattern.compile("bytes=(\\d+)-").matcher(range);
            if (!r.matches()) {
                send(ex, 400, Map.of(), "unsupported range");
                return;
            }
            from = Integer.parseInt(r.group(1));
            if (from >= content.length) {
                h.put("Content-Range", "bytes */" + content.length);
                send(ex, 416, h, "");
                return;
            }
            code = 206;
            h.put("Content-Range", "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
        }
        h.forEach((k, v) -> ex.getResponseHeaders().add(k, v));
        int length = content.length - from;
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().add("Content-Length", String.valueOf(length));
            ex.sendResponseHeaders(code, -1);
            return;
        }
        ex.sendResponseHeaders(code, length);
        Long cut = cutKey == null ? null : cutAfter.remove(cutKey), stall = cutKey == null ? null : stallAfter.remove(cutKey);
        OutputStream out = ex.getResponseBody();
        if (stall != null) {
            out.write(content, from, (int) Math.min(stall, length));
            out.flush();
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException stopped) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("stalled on purpose");
        }
        if (cut != null) {
            out.write(content, from, (int) Math.min(cut, length));
            out.flush();
            throw new IOException("cut on purpose");   // the exchange closes with bytes missing: the client sees the transfer break
        }
        out.write(content, from, length);
    }

    private static void send(HttpExchange ex, int code, Map<String, String> headers, String body) throws IOException {
        headers.forEach((k, v) -> ex.getResponseHeaders().add(k, v));
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(code, -1);
            return;
        }
        ex.sendResponseHeaders(code, b.length == 0 ? -1 : b.length);
        if (b.length > 0) ex.getResponseBody().write(b);
    }

    private void log(String server, HttpExchange ex) {
        String range = ex.getRequestHeaders().getFirst("Range");
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        requests.add(server + " " + ex.getRequestMethod() + " " + ex.getRequestURI().getRawPath() + (range == null ? "" : " Range: " + range)
                + (auth == null ? "" : " auth"));
    }

    private static String commitOf(Repo repo, String revision) {
        if (repo.commits().containsKey(revision)) return revision;
        return repo.refs().get(revision);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    /** The git-lfs pointer file a repository stores in git for an LFS file. */
    private static byte[] pointer(byte[] content) {
        return ("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256Hex(content) + "\nsize " + content.length + "\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    public static String sha256Hex(byte[] b) {
        return HexFormat.of().formatHex(digest("SHA-256", b));
    }

    public static String gitBlobSha1(byte[] b) {
        byte[] header = ("blob " + b.length + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[header.length + b.length];
        System.arraycopy(header, 0, all, 0, header.length);
        System.arraycopy(b, 0, all, header.length, b.length);
        return sha1Hex(all);
    }

    private static String sha1Hex(byte[] b) {
        return HexFormat.of().formatHex(digest("SHA-1", b));
    }

    private static byte[] digest(String algorithm, byte[] b) {
        try {
            return MessageDigest.getInstance(algorithm).digest(b);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        hub.stop(0);
        cdn.stop(0);
        threads.shutdownNow();
    }
}
