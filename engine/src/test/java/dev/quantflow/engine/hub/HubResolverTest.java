package dev.quantflow.engine.hub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The resolver against a loopback Hub (StubHub): the cache layout, resumption, verification, offline mode and the errors. */
class HubResolverTest {
    static final String REPO = "acme/tiny-llama";

    @TempDir
    Path tmp;

    StubHub hub;
    Path cache;
    final List<String> notices = new ArrayList<>();

    @BeforeEach
    void start() throws IOException {
        hub = new StubHub();
        cache = tmp.resolve("hub");
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    HubResolver resolver() {
        return new HubResolver(HubSettings.of(hub.endpoint(), cache), notices::add);
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] text(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** A safetensors repository with the files a Hub repo has beside them, which must not be fetched. */
    static Map<String, byte[]> llamaRepo(byte[] weights) {
        Map<String, byte[]> f = new LinkedHashMap<>();
        f.put(".gitattributes", text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"));
        f.put("README.md", text("# tiny\n"));
        f.put("config.json", text("{\"model_type\":\"llama\"}"));
        f.put("generation_config.json", text("{\"bos_token_id\":1}"));
        f.put("tokenizer.json", text("{\"model\":{}}"));
        f.put("tokenizer_config.json", text("{}"));
        f.put("model.safetensors", weights);
        f.put("pytorch_model.bin", random(3000, 9));
        f.put("flax_model.msgpack", random(3000, 10));
        f.put("tf_model.h5", random(3000, 11));
        f.put("onnx/model.onnx", random(3000, 12));
        return f;
    }

    Path repoDir() {
        return cache.resolve("models--acme--tiny-llama");
    }

    @Test
    void aDownloadMakesHuggingFaceHubsCacheLayout() throws IOException {
        byte[] weights = random(300_000, 1);
        String commit = hub.commit(REPO, llamaRepo(weights), "main");
        Path snapshot = resolver().resolve(REPO);

        assertThat(snapshot).isEqualTo(repoDir().resolve("snapshots").resolve(commit));
        assertThat(Files.readString(repoDir().resolve("refs/main"))).isEqualTo(commit);   // no newline, as huggingface_hub writes it
        String sha256 = StubHub.sha256Hex(weights), configSha1 = StubHub.gitBlobSha1(text("{\"model_type\":\"llama\"}"));
        try (Stream<Path> blobs = Files.list(repoDir().resolve("blobs"))) {
            assertThat(blobs.map(p -> p.getFileName().toString())).hasSize(5).contains(sha256, configSha1).noneMatch(n -> n.endsWith(".incomplete"));
        }
        assertThat(Files.readSymbolicLink(snapshot.resolve("model.safetensors"))).isEqualTo(Path.of("../../blobs/" + sha256));
        assertThat(Files.readSymbolicLink(snapshot.resolve("config.json"))).isEqualTo(Path.of("../../blobs/" + configSha1));
        assertThat(Files.readAllBytes(snapshot.resolve("model.safetensors"))).isEqualTo(weights);
        try (Stream<Path> s = Files.list(snapshot)) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder(
                    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors");
        }
        assertThat(Files.isDirectory(cache.resolve(".locks/models--acme--tiny-llama"))).isTrue();
        // only what the engine reads was asked for: never .bin, .msgpack, .h5, onnx, README
        assertThat(hub.requests()).noneMatch(r -> r.matches(".*(\\.bin|\\.msgpack|\\.h5|onnx|README|gitattributes).*"));
        assertThat(hub.requests()).contains("HUB HEAD /acme/tiny-llama/resolve/" + commit + "/model.safetensors", "CDN GET /repos/aa/bb/" + sha256);
        assertThat(notices).anyMatch(n -> n.contains("fetching 5 files"));
    }

    @Test
    void shardedWeightsFetchExactlyTheShardsTheIndexNames() throws IOException {
        Map<String, byte[]> f = new LinkedHashMap<>(llamaRepo(new byte[0]));
        f.remove("model.safetensors");
        f.put("model-00001-of-00002.safetensors", random(5000, 2));
        f.put("model-00002-of-00002.safetensors", random(4000, 3));
        f.put("consolidated.safetensors", random(9000, 4));   // Mistral's repos carry the weights twice
        f.put("model.safetensors.index.json", text("{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                + "\"b\":\"model-00002-of-00002.safetensors\",\"c\":\"model-00001-of-00002.safetensors\"}}"));
        hub.commit(REPO, f, "main");
        Path snapshot = resolver().resolve(REPO);
        assertThat(snapshot.resolve("model-00002-of-00002.safetensors")).hasBinaryContent(f.get("model-00002-of-00002.safetensors"));
        assertThat(snapshot.resolve("consolidated.safetensors")).doesNotExist();
        assertThat(hub.requests()).noneMatch(r -> r.contains("consolidated"));
    }

    @Test
    void aSecondResolveIsServedFromTheCache() throws IOException {
        String commit = hub.commit(REPO, llamaRepo(random(100_000, 1)), "main");
        Path first = resolver().resolve(REPO);
        hub.clearRequests();
        assertThat(resolver().resolve(REPO)).isEqualTo(first);
        // the branch is looked up (it may have moved), no file is asked for again
        assertThat(hub.requests()).containsExactly("HUB GET /api/models/acme/tiny-llama/revision/main");
        hub.clearRequests();
        assertThat(resolver().resolve(REPO + "@" + commit)).isEqualTo(first);
        assertThat(hub.requests()).as("a cached commit needs no network").isEmpty();
        hub.close();   // the network is gone: the cached snapshot of the branch serves, with a notice
        notices.clear();
        assertThat(resolver().resolve(REPO)).isEqualTo(first);
        assertThat(notices).singleElement().asString().contains("cannot reach").contains("using the cached snapshot");
    }

    @Test
    void anInterruptedDownloadResumesWithRange() throws IOException {
        byte[] weights = random(200_000, 5);
        hub.commit(REPO, llamaRepo(weights), "main");
        String sha256 = StubHub.sha256Hex(weights);
        // what an earlier process left behind
        Files.createDirectories(repoDir().resolve("blobs"));
        Files.write(repoDir().resolve("blobs/" + sha256 + ".incomplete"), java.util.Arrays.copyOf(weights, 70_000));
        // and this transfer breaks once on the way
        hub.cutAfter(weights, 50_000);
        Path snapshot = resolver().resolve(REPO);
        assertThat(snapshot.resolve("model.safetensors")).hasBinaryContent(weights);
        assertThat(hub.requests().stream().filter(r -> r.startsWith("CDN GET"))).containsExactly(
                "CDN GET /repos/aa/bb/" + sha256 + " Range: bytes=70000-",
                "CDN GET /repos/aa/bb/" + sha256 + " Range: bytes=120000-");
        assertThat(repoDir().resolve("blobs/" + sha256 + ".incomplete")).doesNotExist();
    }

    @Test
    void aCorruptedBlobIsRefused() throws IOException {
        byte[] weights = random(100_000, 6);
        String commit = hub.commit(REPO, llamaRepo(weights), "main");
        hub.corrupt(weights, true);
        String sha256 = StubHub.sha256Hex(weights);
        assertThatThrownBy(() -> resolver().resolve(REPO)).isInstanceOf(HubException.class)
                .hasMessageContaining("model.safetensors: corrupt download refused (sha256 ").hasMessageContaining("is not the Hub's etag " + sha256);
        assertThat(repoDir().resolve("blobs/" + sha256)).doesNotExist();
        assertThat(repoDir().resolve("blobs/" + sha256 + ".incomplete")).doesNotExist();
        assertThat(repoDir().resolve("snapshots/" + commit + "/model.safetensors")).doesNotExist();
        assertThat(repoDir().resolve("refs/main")).doesNotExist();
        hub.corrupt(weights, false);
        assertThat(resolver().resolve(REPO).resolve("model.safetensors")).hasBinaryContent(weights);
    }

    @Test
    void offlineModeAnswersFromTheCacheAlone() throws IOException {
        String commit = hub.commit(REPO, llamaRepo(random(10_000, 7)), "main");
        HubResolver offline = new HubResolver(HubSettings.of(hub.endpoint(), cache).withOffline(true), notices::add);
        assertThatThrownBy(() -> offline.resolve(REPO)).isInstanceOf(HubException.class)
                .hasMessage("HF_HUB_OFFLINE is set and acme/tiny-llama is not in the cache; nothing of acme/tiny-llama is cached in " + cache
                        + "; unset HF_HUB_OFFLINE to download it");
        Path online = resolver().resolve(REPO);
        hub.clearRequests();
        assertThat(offline.resolve(REPO)).isEqualTo(online);
        assertThat(offline.resolve(REPO + "@" + commit)).isEqualTo(online);
        assertThat(hub.requests()).isEmpty();
        assertThatThrownBy(() -> offline.resolve(REPO + "@v2")).isInstanceOf(HubException.class)
                .hasMessageContaining("acme/tiny-llama@v2 is not in the cache; cached in " + repoDir() + ": main -> " + commit.substring(0, 12)
                        + "; snapshot " + commit.substring(0, 12) + " (config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json)");
    }

    @Test
    void noNetworkSaysHfHubOfflineAndWhatIsCached() throws IOException {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        HubResolver r = new HubResolver(HubSettings.of(URI.create("http://127.0.0.1:" + closedPort), cache), notices::add);
        assertThatThrownBy(() -> r.resolve(REPO)).isInstanceOf(HubException.class)
                .hasMessageStartingWith("acme/tiny-llama: cannot reach http://127.0.0.1:" + closedPort)
                .hasMessageContaining("to use the cache without the network set HF_HUB_OFFLINE=1 (nothing of acme/tiny-llama is cached in " + cache + ")");
    }

    @Test
    void aGatedRepositoryNeedsHfToken() throws IOException {
        byte[] weights = random(20_000, 8);
        hub.commit(REPO, llamaRepo(weights), "main");
        hub.gate(REPO, "hf_granted");
        assertThatThrownBy(() -> resolver().resolve(REPO)).isInstanceOf(HubException.class)
                .hasMessageContaining("401 Unauthorized: the repository is gated or private")
                .hasMessageContaining("set HF_TOKEN to a token of an account that has accepted its license at " + hub.endpoint() + "/" + REPO);
        HubSettings s = HubSettings.of(hub.endpoint(), cache);
        assertThatThrownBy(() -> new HubResolver(s.withToken("hf_other"), notices::add).resolve(REPO)).isInstanceOf(HubException.class)
                .hasMessageContaining("403 Forbidden: the repository is gated and the account of HF_TOKEN has no access yet: accept its license at");
        hub.clearRequests();
        Path snapshot = new HubResolver(s.withToken("hf_granted"), notices::add).resolve(REPO);
        assertThat(snapshot.resolve("model.safetensors")).hasBinaryContent(weights);
        assertThat(hub.requests()).filteredOn(r -> r.startsWith("HUB")).allMatch(r -> r.endsWith(" auth"));
        assertThat(hub.requests()).filteredOn(r -> r.startsWith("CDN")).as("the token never goes to the CDN").noneMatch(r -> r.endsWith(" auth"));
    }

    @Test
    void notFoundNamesTheRepositoryTheRevisionOrTheFile() throws IOException {
        hub.commit(REPO, llamaRepo(random(1000, 1)), "main");
        assertThatThrownBy(() -> resolver().resolve("acme/no-such-model")).isInstanceOf(HubException.class)
                .hasMessage("acme/no-such-model: repository not found on " + hub.endpoint() + " (nor a local path of that name)");
        assertThatThrownBy(() -> resolver().resolve(REPO + "@no-branch")).isInstanceOf(HubException.class)
                .hasMessage("acme/tiny-llama: revision 'no-branch' not found (no such branch, tag or commit) on " + hub.endpoint());
        Map<String, byte[]> f = new LinkedHashMap<>(llamaRepo(new byte[0]));
        f.remove("model.safetensors");
        f.put("model-00001-of-00002.safetensors", random(100, 1));
        f.put("model.safetensors.index.json", text("{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}"));
        hub.commit("acme/broken", f, "main");
        assertThatThrownBy(() -> resolver().resolve("acme/broken")).isInstanceOf(HubException.class)
                .hasMessage("acme/broken: model.safetensors.index.json names the shard model-00002-of-00002.safetensors, which the repository does not have");
        hub.commit("acme/pickles", Map.of("config.json", text("{}"), "pytorch_model.bin", random(10, 1)), "main");
        assertThatThrownBy(() -> resolver().resolve("acme/pickles")).isInstanceOf(HubException.class)
                .hasMessageContaining("no weights Quantflow reads");
    }

    @Test
    void aQuantTagPicksThatGgufFile() throws IOException {
        Map<String, byte[]> f = new LinkedHashMap<>();
        f.put("README.md", text("# GGUF"));
        f.put("Tiny-Llama-Q4_K_S.gguf", random(1000, 1));
        f.put("Tiny-Llama-Q4_K_M.gguf", random(1100, 2));
        f.put("Tiny-Llama-Q8_0.gguf", random(1200, 3));
        f.put("Tiny-Llama-f16.gguf", random(1300, 4));
        f.put("mmproj-Tiny-Llama-Q4_K_M.gguf", random(100, 5));
        f.put("Q6_K/Tiny-Llama-Q6_K-00001-of-00002.gguf", random(700, 6));
        f.put("Q6_K/Tiny-Llama-Q6_K-00002-of-00002.gguf", random(600, 7));
        String commit = hub.commit("acme/tiny-gguf", f, "main");
        Path snapshot = repoDir("acme/tiny-gguf").resolve("snapshots").resolve(commit);

        assertThat(resolver().resolve("acme/tiny-gguf:q4_k_m")).isEqualTo(snapshot.resolve("Tiny-Llama-Q4_K_M.gguf"))
                .hasBinaryContent(f.get("Tiny-Llama-Q4_K_M.gguf"));
        assertThat(hub.requests()).filteredOn(r -> r.startsWith("HUB HEAD")).containsExactly(
                "HUB HEAD /acme/tiny-gguf/resolve/" + commit + "/Tiny-Llama-Q4_K_M.gguf");

        // a split file: all its parts, the first one is the model; a file in a folder links one level further up
        assertThat(resolver().resolve("acme/tiny-gguf:Q6_K")).isEqualTo(snapshot.resolve("Q6_K/Tiny-Llama-Q6_K-00001-of-00002.gguf"));
        assertThat(snapshot.resolve("Q6_K/Tiny-Llama-Q6_K-00002-of-00002.gguf")).hasBinaryContent(f.get("Q6_K/Tiny-Llama-Q6_K-00002-of-00002.gguf"));
        assertThat(Files.readSymbolicLink(snapshot.resolve("Q6_K/Tiny-Llama-Q6_K-00002-of-00002.gguf")))
                .isEqualTo(Path.of("../../../blobs/" + StubHub.sha256Hex(f.get("Q6_K/Tiny-Llama-Q6_K-00002-of-00002.gguf"))));

        assertThat(resolver().resolve("acme/tiny-gguf:F16")).isEqualTo(snapshot.resolve("Tiny-Llama-f16.gguf"));
        assertThat(resolver().resolve("acme/tiny-gguf:Tiny-Llama-Q8_0.gguf")).isEqualTo(snapshot.resolve("Tiny-Llama-Q8_0.gguf"));
        assertThatThrownBy(() -> resolver().resolve("acme/tiny-gguf:Q5_K_M")).isInstanceOf(HubException.class)
                .hasMessageStartingWith("acme/tiny-gguf:Q5_K_M: no GGUF file of quantization Q5_K_M; the repository has Q6_K, Q4_K_M, Q4_K_S, Q8_0, f16");
        // no tag: Q4_K_M, as llama.cpp's -hf picks, said in a notice
        notices.clear();
        assertThat(resolver().resolve("acme/tiny-gguf")).isEqualTo(snapshot.resolve("Tiny-Llama-Q4_K_M.gguf"));
        assertThat(notices).anyMatch(n -> n.startsWith("acme/tiny-gguf: using Tiny-Llama-Q4_K_M.gguf"));
        // offline, the same choice from what the snapshot holds
        HubResolver offline = new HubResolver(HubSettings.of(hub.endpoint(), cache).withOffline(true), notices::add);
        assertThat(offline.resolve("acme/tiny-gguf:Q8_0")).isEqualTo(snapshot.resolve("Tiny-Llama-Q8_0.gguf"));
        assertThatThrownBy(() -> resolver().resolve(REPO + ":Q4_K_M")).isInstanceOf(HubException.class);
    }

    Path repoDir(String repo) {
        return cache.resolve("models--" + repo.replace("/", "--"));
    }

    @Test
    void aRevisionIsABranchATagOrACommit() throws IOException {
        Map<String, byte[]> old = llamaRepo(random(5000, 1));
        old.put("config.json", text("{\"model_type\":\"llama\",\"v\":1}"));
        String first = hub.commit(REPO, old, "v1.0", "refs/pr/1");
        String latest = hub.commit(REPO, llamaRepo(random(5000, 2)), "main");

        Path atCommit = resolver().resolve(REPO + "@" + first);
        assertThat(atCommit).isEqualTo(repoDir().resolve("snapshots").resolve(first));
        assertThat(atCommit.resolve("config.json")).hasContent("{\"model_type\":\"llama\",\"v\":1}");
        assertThat(repoDir().resolve("refs")).as("a commit sha writes no ref").doesNotExist();

        assertThat(resolver().resolve(REPO + "@v1.0")).isEqualTo(atCommit);
        assertThat(Files.readString(repoDir().resolve("refs/v1.0"))).isEqualTo(first);
        assertThat(resolver().resolve(REPO + "@refs/pr/1")).isEqualTo(atCommit);
        assertThat(Files.readString(repoDir().resolve("refs/refs/pr/1"))).isEqualTo(first);
        assertThat(hub.requests()).contains("HUB GET /api/models/acme/tiny-llama/revision/refs%2Fpr%2F1");

        Path main = resolver().resolve(REPO);
        assertThat(main).isEqualTo(repoDir().resolve("snapshots").resolve(latest));
        assertThat(Files.readString(repoDir().resolve("refs/main"))).isEqualTo(latest);
        // files equal across the commits share one blob
        assertThat(Files.readSymbolicLink(main.resolve("tokenizer.json"))).isEqualTo(Files.readSymbolicLink(atCommit.resolve("tokenizer.json")));
    }

    @Test
    void aLocalPathThatExistsWinsOverAHubId() throws IOException {
        Path local = Path.of("target", "hub-local-" + System.nanoTime());
        Files.createDirectories(local);
        try {
            assertThat(HubModelId.parse(local.toString())).isPresent();
            assertThat(resolver().resolve(local.toString())).isEqualTo(local);
            assertThat(HubResolver.isHubId(local.toString())).isFalse();
            assertThat(hub.requests()).isEmpty();
        } finally {
            Files.delete(local);
        }
        assertThatThrownBy(() -> resolver().resolve(tmp.resolve("missing").toString())).isInstanceOf(HubException.class)
                .hasMessageContaining("missing: does not exist");
    }

    @Test
    void aStalledTransferIsResumedNotWaitedOnForever() {
        byte[] weights = random(100_000, 3);
        hub.commit(REPO, llamaRepo(weights), "main");
        hub.stallAfter(weights, 30_000);
        HubSettings s = HubSettings.of(hub.endpoint(), cache).withStallTimeout(Duration.ofSeconds(1));
        long t0 = System.nanoTime();
        assertThat(new HubResolver(s, notices::add).resolve(REPO).resolve("model.safetensors")).hasBinaryContent(weights);
        assertThat((System.nanoTime() - t0) / 1e9).isLessThan(20);
        assertThat(hub.requests().stream().filter(r -> r.startsWith("CDN GET"))).containsExactly(
                "CDN GET /repos/aa/bb/" + StubHub.sha256Hex(weights), "CDN GET /repos/aa/bb/" + StubHub.sha256Hex(weights) + " Range: bytes=30000-");
    }
}
