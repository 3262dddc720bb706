package dev.quantflow.engine.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * The Hub's HTTP endpoints that a download needs, as huggingface_hub calls them:
 * GET /api/models/REPO/revision/REV (the commit sha and the file list), HEAD /REPO/resolve/COMMIT/FILE
 * without following the redirect (the 302 of an LFS file carries X-Linked-Etag and X-Linked-Size,
 * the sha256 and size of the real file; a small file answers 200 with its git sha1 as ETag), then
 * GET of the Location with Range to resume. Redirects are followed here, never by the client, so
 * the token goes to the endpoint's host only (not to the CDN).
 */
final class HubHttp {
    record RepoInfo(String commit, List<String> files) {}

    /** A file at a commit: its etag (quotes removed), size, and where its bytes are. */
    record FileMeta(String file, String etag, long size, URI location) {
        boolean isLfs() {
            return etag.matches("[0-9a-f]{64}");
        }
    }

    private static final int MAX_REDIRECTS = 5, ATTEMPTS = 5;
    private static final String USER_AGENT = "quantflow/0.1.0; java/" + Runtime.version().feature();
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "hub-download-watchdog");
        t.setDaemon(true);
        return t;
    });

    private final HubSettings settings;
    private final HttpClient client;

    HubHttp(HubSettings settings) {
        this.settings = settings;
        this.client = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).connectTimeout(settings.requestTimeout()).build();
    }

    RepoInfo modelInfo(HubModelId id) {
        URI uri = endpoint("api/models/" + id.repo() + "/revision/" + encode(id.revision()));
        HttpResponse<byte[]> r = send(request(uri).GET(), HttpResponse.BodyHandlers.ofByteArray(), id + ": model info");
        if (r.statusCode() != 200) throw failure(r.statusCode(), r.headers(), id, null, new String(r.body(), StandardCharsets.UTF_8));
        JsonNode info;
        try {
            info = new ObjectMapper().readTree(r.body());
        } catch (IOException e) {
            throw new HubException(id + ": " + uri + " answered something that is not JSON: " + e.getMessage());
        }
        String sha = info.path("sha").asText("");
        if (!HubModelId.isCommit(sha)) throw new HubException(id + ": " + uri + " gave no commit sha");
        List<String> files = new ArrayList<>();
        for (JsonNode s : info.path("siblings")) files.add(s.path("rfilename").asText());
        return new RepoInfo(sha, List.copyOf(files));
    }

    FileMeta head(HubModelId id, String commit, String file) {
        URI uri = endpoint(id.repo() + "/resolve/" + commit + "/" + encodePath(file));
        for (int hop = 0; ; hop++) {
            HttpResponse<Void> r = send(request(uri).method("HEAD", HttpRequest.BodyPublishers.noBody()).header("Accept-Encoding", "identity"),
                    HttpResponse.BodyHandlers.discarding(), id + ": " + file);
            int code = r.statusCode();
            Optional<String> location = r.headers().firstValue("Location");
            // a relative redirect is the Hub's own (a renamed repository): follow it; an absolute one is the CDN: keep its headers
            if (code >= 300 && code < 400 && location.isPresent() && URI.create(location.get()).getHost() == null && hop < MAX_REDIRECTS) {
                uri = uri.resolve(location.get());
                continue;
            }
            if (code >= 400) throw failure(code, r.headers(), id, file, "");
            HttpHeaders h = r.headers();
            String etag = h.firstValue("X-Linked-Etag").or(() -> h.firstValue("ETag")).map(HubHttp::normalizeEtag)
                    .orElseThrow(() -> new HubException(id + ": " + file + ": the Hub sent no ETag (a proxy in between?), so the download could not be verified"));
            long size = h.firstValue("X-Linked-Size").or(() -> h.firstValue("Content-Length")).map(Long::parseLong)
                    .orElseThrow(() -> new HubException(id + ": " + file + ": the Hub sent no size"));
            Optional<String> answered = h.firstValue("X-Repo-Commit");
            if (answered.isPresent() && !answered.get().equals(commit))
                throw new HubException(id + ": " + file + ": asked for commit " + commit + ", the Hub answered for " + answered.get());
            URI from = code >= 300 && location.isPresent() ? uri.resolve(location.get()) : uri;
            return new FileMeta(file, etag, size, from);
        }
    }

    /**
     * Brings the file's bytes into incomplete: appends to what an earlier attempt left (HTTP Range),
     * retries a broken or stalled transfer from where it stopped, and reports bytes so far.
     */
    void download(HubModelId id, FileMeta meta, Path incomplete, LongConsumer bytesSoFar) {
        IOException last = null;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            long have = size(incomplete);
            if (have > meta.size()) have = truncate(incomplete);
            if (have == meta.size()) return;
            try {
                if (fetchFrom(id, meta, incomplete, have, bytesSoFar)) return;
                last = new IOException("the transfer ended at " + size(incomplete) + " of " + meta.size() + " bytes");
            } catch (HubException e) {
                throw e;
            } catch (IOException e) {
                last = e;
            }
            if (attempt < ATTEMPTS) sleep(250L << attempt);
        }
        throw new HubException(id + ": " + meta.file() + ": download failed after " + ATTEMPTS + " attempts (" + size(incomplete) + " of "
                + meta.size() + " bytes kept in " + incomplete + ", resumed next time): " + describe(last), last);
    }

    /** One GET from have onwards; true when the file is complete. */
    private boolean fetchFrom(HubModelId id, FileMeta meta, Path incomplete, long have, LongConsumer bytesSoFar) throws IOException {
        URI uri = meta.location();
        HttpResponse<InputStream> r;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder b = request(uri).GET();
            if (have > 0) b.header("Range", "bytes=" + have + "-");
            r = sendIo(b, HttpResponse.BodyHandlers.ofInputStream());
            Optional<String> location = r.headers().firstValue("Location");
            if (r.statusCode() < 300 || r.statusCode() >= 400 || location.isEmpty() || hop == MAX_REDIRECTS) break;
            r.body().close();
            uri = uri.resolve(location.get());
        }
        int code = r.statusCode();
        if (code >= 300 && code < 400) {
            r.body().close();
            throw new HubException(id + ": " + meta.file() + ": " + code + " from " + uri + " without a usable Location (or more than " + MAX_REDIRECTS + " redirects)");
        }
        if (code == 416) {   // nothing left to send from there: start over
            r.body().close();
            truncate(incomplete);
            return false;
        }
        if (code >= 400) {
            String body;
            try (InputStream in = r.body()) {
                body = new String(in.readNBytes(2000), StandardCharsets.UTF_8);
            }
            throw failure(code, r.headers(), id, meta.file(), body);
        }
        if (code == 200 && have > 0) have = truncate(incomplete);   // the server ignored Range: the whole file comes
        else if (code == 206 && !r.headers().firstValue("Content-Range").orElse("").startsWith("bytes " + have + "-")) {
            r.body().close();
            throw new IOException("asked for bytes from " + have + ", got " + r.headers().firstValue("Content-Range").orElse("no Content-Range"));
        }
        long done = have;
        AtomicLong lastProgress = new AtomicLong(System.nanoTime());
        InputStream in = r.body();
        long stallNanos = settings.stallTimeout().toNanos();
        ScheduledFuture<?> watch = WATCHDOG.scheduleAtFixedRate(() -> {
            if (System.nanoTime() - lastProgress.get() > stallNanos) closeQuietly(in);   // a stalled transfer: the read fails, the next attempt resumes
        }, stallNanos / 4, stallNanos / 4, TimeUnit.NANOSECONDS);
        try (in; OutputStream out = Files.newOutputStream(incomplete, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) >= 0; ) {
                out.write(buf, 0, n);
                done += n;
                lastProgress.set(System.nanoTime());
                bytesSoFar.accept(Math.min(done, meta.size()));
                if (done > meta.size()) break;
            }
        } finally {
            watch.cancel(false);
        }
        return size(incomplete) >= meta.size();
    }

    private HttpRequest.Builder request(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(settings.requestTimeout()).header("User-Agent", USER_AGENT);
        // the token only to the Hub itself: a CDN behind a redirect is another host
        if (settings.token().isPresent() && sameOrigin(uri, settings.endpoint())) b.header("Authorization", "Bearer " + settings.token().get());
        return b;
    }

    private <T> HttpResponse<T> send(HttpRequest.Builder b, HttpResponse.BodyHandler<T> handler, String what) {
        try {
            return sendIo(b, handler);
        } catch (IOException e) {
            throw unreachable(what, e);
        }
    }

    private <T> HttpResponse<T> sendIo(HttpRequest.Builder b, HttpResponse.BodyHandler<T> handler) throws IOException {
        try {
            return client.send(b.build(), handler);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException("interrupted", e);
        } catch (UnresolvedAddressException e) {
            throw new ConnectException("cannot resolve the host name");
        }
    }

    private HubException unreachable(String what, IOException e) {
        return new HubException.Unreachable("cannot reach " + settings.endpoint() + " for " + what + " (" + describe(e) + ")", e);
    }

    /** One line for an HTTP error of the Hub, naming what was not found or not allowed and what to do. */
    private HubException failure(int code, HttpHeaders h, HubModelId id, String file, String body) {
        String errorCode = h.firstValue("X-Error-Code").orElse("");
        String page = settings.endpoint() + "/" + id.repo();
        String at = file == null ? id.toString() : id.repo() + "@" + id.revision() + ": " + file;
        return switch (code) {
            case 401 -> new HubException(at + ": 401 Unauthorized: the repository is gated or private (or does not exist); "
                    + (settings.token().isPresent() ? "the token in HF_TOKEN was not accepted: check it, and accept the license at " + page
                    : "set HF_TOKEN to a token of an account that has accepted its license at " + page));
            case 403 -> new HubException(at + ": 403 Forbidden: " + (errorCode.equals("GatedRepo") || body.contains("gated")
                    ? "the repository is gated and the account of HF_TOKEN has no access yet: accept its license at " + page
                    : "the account of HF_TOKEN may not read it (" + firstLine(h.firstValue("X-Error-Message").orElse(body)) + ")"));
            case 404 -> new HubException(switch (errorCode) {
                case "RevisionNotFound" -> id.repo() + ": revision '" + id.revision() + "' not found (no such branch, tag or commit) on " + settings.endpoint();
                case "EntryNotFound" -> at + ": file not found in the repository at that revision";
                case "RepoNotFound" -> id.repo() + ": repository not found on " + settings.endpoint() + " (nor a local path of that name)";
                default -> file == null ? id.repo() + ": repository or revision '" + id.revision() + "' not found on " + settings.endpoint() + " (nor a local path of that name)"
                        : at + ": not found (404)";
            });
            case 429 -> new HubException(at + ": 429 Too Many Requests from " + settings.endpoint() + ": wait a little, or set HF_TOKEN (logged-in users get more)");
            default -> new HubException(at + ": " + settings.endpoint() + " answered " + code
                    + h.firstValue("X-Error-Message").map(m -> " (" + firstLine(m) + ")").orElse(body.isBlank() ? "" : " (" + firstLine(body) + ")"));
        };
    }

    private URI endpoint(String path) {
        return URI.create(settings.endpoint().toString().replaceAll("/+$", "") + "/" + path);
    }

    /** A revision as one path segment ("refs/pr/1" -> refs%2Fpr%2F1), as huggingface_hub quotes it. */
    static String encode(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** A file name in a URL path: each folder segment encoded, the slashes kept. */
    static String encodePath(String file) {
        return String.join("/", Arrays.stream(file.split("/")).map(HubHttp::encode).toList());
    }

    /** W/"abc" and "abc" -> abc (file_download.py's _normalize_etag). */
    static String normalizeEtag(String etag) {
        String e = etag.strip();
        if (e.startsWith("W/")) e = e.substring(2);
        return e.replace("\"", "");
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost().equalsIgnoreCase(b.getHost()) && port(a) == port(b);
    }

    private static int port(URI u) {
        return u.getPort() >= 0 ? u.getPort() : u.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    private static long size(Path p) {
        try {
            return Files.exists(p) ? Files.size(p) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static long truncate(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new HubException(p + ": cannot delete: " + e.getMessage(), e);
        }
        return 0;
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // closing is how the stall is broken; its own failure changes nothing
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException("interrupted", e);
        }
    }

    static String describe(Throwable e) {
        if (e == null) return "unknown error";
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + firstLine(m));
    }

    private static String firstLine(String s) {
        String t = s.strip();
        int nl = t.indexOf('\n');
        t = nl < 0 ? t : t.substring(0, nl);
        return t.length() > 200 ? t.substring(0, 200) + "..." : t;
    }
}
