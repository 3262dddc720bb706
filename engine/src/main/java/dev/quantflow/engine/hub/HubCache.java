package dev.quantflow.engine.hub;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * huggingface_hub's cache layout (file_download.py), so a file downloaded here is one Python
 * already has and the other way round:
 * <pre>
 * CACHE/models--ORG--NAME/blobs/ETAG              the file's bytes; ETAG the LFS sha256, or the git sha1 of a small file
 *                        blobs/ETAG.incomplete   a download in progress (resumed with Range)
 *                        snapshots/COMMIT/FILE   a relative symlink to ../../blobs/ETAG (one more ../ per folder in FILE)
 *                        refs/REVISION           the commit a branch or tag was at (none for a commit sha)
 * CACHE/.locks/models--ORG--NAME/ETAG.lock       held while ETAG downloads
 * </pre>
 */
final class HubCache {
    private final Path root;

    HubCache(Path root) {
        this.root = root;
    }

    Path root() {
        return root;
    }

    Path repoDir(String repo) {
        return root.resolve("models--" + repo.replace("/", "--"));
    }

    Path blob(String repo, String etag) {
        return repoDir(repo).resolve("blobs").resolve(etag);
    }

    Path incomplete(String repo, String etag) {
        return repoDir(repo).resolve("blobs").resolve(etag + ".incomplete");
    }

    Path lockFile(String repo, String etag) {
        return root.resolve(".locks").resolve(repoDir(repo).getFileName()).resolve(etag + ".lock");
    }

    Path snapshot(String repo, String commit) {
        return repoDir(repo).resolve("snapshots").resolve(commit);
    }

    /** The file as the snapshot of that commit holds it, when its link leads to a blob. */
    Optional<Path> cached(String repo, String commit, String file) {
        Path p = snapshot(repo, commit).resolve(file);
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    /** The commit a revision names: itself for a commit sha, else what refs/REVISION says. */
    Optional<String> commitOf(String repo, String revision) {
        if (HubModelId.isCommit(revision)) return Optional.of(revision);
        Path ref = repoDir(repo).resolve("refs").resolve(revision);
        try {
            return Files.isRegularFile(ref) ? Optional.of(Files.readString(ref, StandardCharsets.UTF_8).strip()).filter(s -> !s.isEmpty())
                    : Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(ref + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** Records where a branch or tag points; untouched when it already says so (the cache may be read-only). */
    void writeRef(String repo, String revision, String commit) {
        if (revision.equals(commit)) return;
        Path ref = repoDir(repo).resolve("refs").resolve(revision);
        try {
            if (Files.isRegularFile(ref) && Files.readString(ref, StandardCharsets.UTF_8).equals(commit)) return;
            Files.createDirectories(ref.getParent());
            Path tmp = Files.createTempFile(ref.getParent(), ".ref", ".tmp");
            Files.writeString(tmp, commit, StandardCharsets.UTF_8);   // no newline, as huggingface_hub writes it
            Files.move(tmp, ref, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(ref + ": cannot write: " + e.getMessage(), e);
        }
    }

    /** Points snapshots/COMMIT/FILE at the blob by a relative link (a copy where links are not supported). */
    Path link(String repo, String commit, String file, String etag) {
        Path pointer = snapshot(repo, commit).resolve(file);
        Path blob = blob(repo, etag);
        try {
            Files.createDirectories(pointer.getParent());
            Files.deleteIfExists(pointer);
            try {
                Files.createSymbolicLink(pointer, pointer.getParent().relativize(blob));
            } catch (FileAlreadyExistsException raced) {
                // another process linked it between delete and create: fine if it leads to the same blob
                if (!Files.isSameFile(pointer, blob)) throw raced;
            } catch (UnsupportedOperationException | FileSystemException noLinks) {
                Files.copy(blob, pointer, StandardCopyOption.REPLACE_EXISTING);   // as huggingface_hub does without symlinks
            }
        } catch (IOException e) {
            throw new UncheckedIOException(pointer + ": cannot link to " + blob + ": " + e.getMessage(), e);
        }
        return pointer;
    }

    /** The files a snapshot holds, as relative names with '/' ("config.json", "sub/x.gguf"). */
    List<String> files(String repo, String commit) {
        Path dir = snapshot(repo, commit);
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString().replace('\\', '/')).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot list: " + e.getMessage(), e);
        }
    }

    /** What the cache holds of a repository, for error messages: its refs and snapshots. */
    String describe(String repo) {
        Path dir = repoDir(repo);
        if (!Files.isDirectory(dir)) return "nothing of " + repo + " is cached in " + root;
        List<String> parts = new ArrayList<>();
        Path refs = dir.resolve("refs");
        if (Files.isDirectory(refs)) {
            try (Stream<Path> s = Files.walk(refs)) {
                s.filter(Files::isRegularFile).sorted().forEach(r -> parts.add(refs.relativize(r).toString().replace('\\', '/') + " -> "
                        + commitOf(repo, refs.relativize(r).toString().replace('\\', '/')).map(HubCache::shortSha).orElse("?")));
            } catch (IOException e) {
                parts.add("refs unreadable");
            }
        }
        Path snapshots = dir.resolve("snapshots");
        if (Files.isDirectory(snapshots)) {
            try (Stream<Path> s = Files.list(snapshots)) {
                s.filter(Files::isDirectory).sorted().forEach(c -> {
                    List<String> files = files(repo, c.getFileName().toString());
                    parts.add("snapshot " + shortSha(c.getFileName().toString()) + " (" + (files.size() <= 6 ? String.join(", ", files)
                            : files.size() + " files") + ")");
                });
            } catch (IOException e) {
                parts.add("snapshots unreadable");
            }
        }
        return parts.isEmpty() ? "nothing of " + repo + " is cached in " + root : "cached in " + dir + ": " + String.join("; ", parts);
    }

    static String shortSha(String commit) {
        return commit.length() > 12 ? commit.substring(0, 12) : commit;
    }
}
