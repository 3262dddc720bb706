package dev.quantflow.engine.hub;

import dev.quantflow.engine.progress.Progress;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The one way a --model reaches a local path: a path that exists is used as it is; otherwise a
 * Hub id ({@link HubModelId}) resolves to a snapshot directory (or the chosen .gguf file in it)
 * of the shared Hugging Face cache ({@link HubCache}), downloading what is missing first: the
 * files the engine needs ({@link HubFiles}), several at once, each resumed where an earlier
 * attempt stopped and verified against the Hub's etag (sha256 of an LFS file, git sha1 of a
 * small one) before it becomes a blob. HF_HUB_OFFLINE answers from the cache alone; so does a
 * commit sha that is cached, and an unreachable Hub when this revision is cached (with a notice),
 * as huggingface_hub does. Progress goes to {@link Progress#current()} per file ("download FILE",
 * bytes); one-line notices (what is fetched, fallbacks) to the given consumer.
 */
public final class HubResolver {
    private static final ConcurrentHashMap<Path, ReentrantLock> LOCKS = new ConcurrentHashMap<>();

    private final HubSettings settings;
    private final HubCache cache;
    private final HubHttp http;
    private final Consumer<String> notices;

    public HubResolver(HubSettings settings, Consumer<String> notices) {
        this.settings = settings;
        this.cache = new HubCache(settings.cacheDir());
        this.http = new HubHttp(settings);
        this.notices = notices;
    }

    /** model as --model gives it, with the Hub settings of the environment (HF_*). */
    public static Path resolve(String model, Consumer<String> notices) {
        Optional<Path> local = existing(model);
        if (local.isPresent()) return local.get();   // no environment read: a bad HF_ENDPOINT never breaks a local model
        return new HubResolver(HubSettings.fromEnvironment(), notices).resolve(model);
    }

    /** Whether model names a Hub id rather than an existing local path (serve names the model after it then). */
    public static boolean isHubId(String model) {
        return existing(model).isEmpty() && HubModelId.parse(model).isPresent();
    }

    public Path resolve(String model) {
        Optional<Path> local = existing(model);
        if (local.isPresent()) return local.get();
        HubModelId id = HubModelId.parse(model).orElseThrow(() -> new HubException(model
                + ": does not exist (neither a local model directory or file, nor a Hugging Face Hub id org/name[@revision][:QUANT])"));
        return resolve(id);
    }

    public Path resolve(HubModelId id) {
        if (settings.offline())
            return fromCache(id).orElseThrow(() -> new HubException("HF_HUB_OFFLINE is set and " + id + " is not in the cache; "
                    + cache.describe(id.repo()) + "; unset HF_HUB_OFFLINE to download it"));
        if (id.revisionIsCommit()) {
            Optional<Path> cached = fromCache(id);   // a commit never changes: nothing to ask the Hub
            if (cached.isPresent()) return cached.get();
        }
        HubHttp.RepoInfo info;
        try {
            info = http.modelInfo(id);
        } catch (HubException.Unreachable e) {
            Optional<Path> cached = fromCache(id);
            if (cached.isEmpty())
                throw new HubException(id + ": " + e.getMessage() + "; to use the cache without the network set HF_HUB_OFFLINE=1 ("
                        + cache.describe(id.repo()) + ")", e);
            notices.accept(id + ": " + e.getMessage() + ": using the cached snapshot " + cached.get());
            return cached.get();
        }
        return download(id, info);
    }

    /** The model as the cache holds it for this revision, when every file it needs is there. */
    private Optional<Path> fromCache(HubModelId id) {
        Optional<String> commit = cache.commitOf(id.repo(), id.revision());
        if (commit.isEmpty()) return Optional.empty();
        List<String> files = cache.files(id.repo(), commit.get());
        HubFiles.Plan plan;
        try {
            plan = HubFiles.plan(id, files);
        } catch (HubException incomplete) {
            return Optional.empty();
        }
        Path snapshot = cache.snapshot(id.repo(), commit.get());
        if (plan.shardsFromIndex() && !files.containsAll(HubFiles.shardsOf(snapshot.resolve(HubFiles.INDEX)))) return Optional.empty();
        return Optional.of(plan.gguf().map(snapshot::resolve).orElse(snapshot));
    }

    private Path download(HubModelId id, HubHttp.RepoInfo info) {
        String commit = info.commit();
        info.files().forEach(f -> checkName(id, f));
        HubFiles.Plan plan = HubFiles.plan(id, info.files());
        plan.notice().ifPresent(notices);
        fetchAll(id, commit, plan.files());
        Path snapshot = cache.snapshot(id.repo(), commit);
        if (plan.shardsFromIndex()) {
            List<String> shards = HubFiles.shardsOf(snapshot.resolve(HubFiles.INDEX));
            for (String s : shards) {
                checkName(id, s);
                if (!info.files().contains(s))
                    throw new HubException(id + ": " + HubFiles.INDEX + " names the shard " + s + ", which the repository does not have");
            }
            fetchAll(id, commit, shards);
        }
        cache.writeRef(id.repo(), id.revision(), commit);
        return plan.gguf().map(snapshot::resolve).orElse(snapshot);
    }

    /** Fetches the files the snapshot lacks, several at once; the first failure cancels the others and is thrown. */
    private void fetchAll(HubModelId id, String commit, List<String> files) {
        List<String> missing = files.stream().filter(f -> cache.cached(id.repo(), commit, f).isEmpty()).toList();
        if (missing.isEmpty()) return;
        notices.accept(id + ": fetching " + missing.size() + " file" + (missing.size() == 1 ? "" : "s") + " of commit "
                + HubCache.shortSha(commit) + " into " + cache.repoDir(id.repo()));
        Progress progress = Progress.current();   // the caller's listener: the download threads do not inherit the scoped value
        Semaphore slots = new Semaphore(settings.parallelFiles());
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> running = new ArrayList<>();
            for (String f : missing) running.add(pool.submit(() -> {
                slots.acquire();
                try {
                    fetch(id, commit, f, progress);
                } finally {
                    slots.release();
                }
                return null;
            }));
            for (Future<?> r : running) {
                try {
                    r.get();
                } catch (ExecutionException e) {
                    running.forEach(x -> x.cancel(true));
                    if (e.getCause() instanceof RuntimeException re) throw re;
                    throw new HubException(id + ": " + HubHttp.describe(e.getCause()), e.getCause());
                } catch (InterruptedException e) {
                    running.forEach(x -> x.cancel(true));
                    Thread.currentThread().interrupt();
                    throw new HubException(id + ": interrupted while downloading", e);
                }
            }
        }
    }

    /** One file: its blob downloaded and verified unless the cache has it (from any revision), then linked into the snapshot. */
    private void fetch(HubModelId id, String commit, String file, Progress progress) {
        HubHttp.FileMeta meta = http.head(id, commit, file);
        Path blob = cache.blob(id.repo(), meta.etag());
        if (!Files.isRegularFile(blob)) {
            Path lockFile = cache.lockFile(id.repo(), meta.etag());
            ReentrantLock inProcess = LOCKS.computeIfAbsent(lockFile, k -> new ReentrantLock());
            inProcess.lock();   // two files with the same bytes share one blob: one download
            try {
                Files.createDirectories(lockFile.getParent());
                Files.createDirectories(blob.getParent());
                try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE); FileLock held = ch.lock()) {
                    if (!Files.isRegularFile(blob)) downloadBlob(id, meta, blob, progress);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(blob + ": " + e.getMessage(), e);
            } finally {
                inProcess.unlock();
            }
        }
        cache.link(id.repo(), commit, file, meta.etag());
    }

    private void downloadBlob(HubModelId id, HubHttp.FileMeta meta, Path blob, Progress progress) throws IOException {
        Path incomplete = cache.incomplete(id.repo(), meta.etag());
        String task = "download " + meta.file();
        http.download(id, meta, incomplete, done -> {
            if (meta.size() > 0 && done < meta.size()) progress.update(task, done, meta.size(), "bytes");
        });
        verify(id, meta, incomplete);
        if (meta.size() > 0) progress.update(task, meta.size(), meta.size(), "bytes");
        Files.move(incomplete, blob, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Size, then the hash the etag is: a mismatch deletes the download, so the next run starts clean. */
    static void verify(HubModelId id, HubHttp.FileMeta meta, Path file) throws IOException {
        long size = Files.size(file);
        String problem = null;
        if (size != meta.size()) problem = size + " bytes arrived, the Hub said " + meta.size();
        else if (meta.isLfs() || HubModelId.isCommit(meta.etag())) {
            String actual = hash(file, meta.isLfs(), size);
            if (!actual.equals(meta.etag()))
                problem = (meta.isLfs() ? "sha256 " : "git sha1 ") + actual + " of the downloaded bytes is not the Hub's etag " + meta.etag();
        }
        if (problem == null) return;
        Files.deleteIfExists(file);
        throw new HubException(id + ": " + meta.file() + ": corrupt download refused (" + problem + "); it was deleted, run again to fetch it anew");
    }

    /** sha256 of the bytes (an LFS file's etag), or git's blob sha1: sha1("blob SIZE\0" + bytes). */
    private static String hash(Path file, boolean sha256, long size) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance(sha256 ? "SHA-256" : "SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        if (!sha256) md.update(("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) >= 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** A name from the Hub becomes a path in the cache: it must stay inside the snapshot. */
    private static void checkName(HubModelId id, String file) {
        if (file.isEmpty() || file.startsWith("/") || file.contains("\\") || file.contains("\0")
                || Arrays.asList(file.split("/")).contains(".."))
            throw new HubException(id + ": the Hub listed a file name that is not a safe relative path: " + file);
    }

    private static Optional<Path> existing(String model) {
        try {
            Path p = Path.of(model);
            return Files.exists(p) ? Optional.of(p) : Optional.empty();
        } catch (InvalidPathException e) {
            return Optional.empty();
        }
    }
}
