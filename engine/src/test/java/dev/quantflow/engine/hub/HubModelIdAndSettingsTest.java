package dev.quantflow.engine.hub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class HubModelIdAndSettingsTest {
    @Test
    void idsParseAsOrgNameRevisionAndQuant() {
        assertThat(HubModelId.parse("meta-llama/Llama-3.2-1B")).contains(new HubModelId("meta-llama/Llama-3.2-1B", "main", Optional.empty()));
        assertThat(HubModelId.parse("Qwen/Qwen2.5-0.5B-Instruct@v1.0")).contains(new HubModelId("Qwen/Qwen2.5-0.5B-Instruct", "v1.0", Optional.empty()));
        assertThat(HubModelId.parse("bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"))
                .contains(new HubModelId("bartowski/Llama-3.2-1B-Instruct-GGUF", "main", Optional.of("Q4_K_M")));
        assertThat(HubModelId.parse("org/name@refs/pr/3:q8_0")).contains(new HubModelId("org/name", "refs/pr/3", Optional.of("q8_0")));
        assertThat(HubModelId.parse("org/name@0123456789abcdef0123456789abcdef01234567").orElseThrow().revisionIsCommit()).isTrue();
        for (String notAnId : new String[] {"/abs/path", "./rel/dir", "a/b/c", "stories260K", "org--x/name", "org/na..me", "../shared/models/x", "org/name:", "-x/y"})
            assertThat(HubModelId.parse(notAnId)).as(notAnId).isEmpty();
    }

    @Test
    void settingsReadTheEnvironmentAsHuggingfaceHubDoes() {
        HubSettings d = HubSettings.fromEnvironment(Map.of(), "/home/u");
        assertThat(d.endpoint().toString()).isEqualTo("https://huggingface.co");
        assertThat(d.cacheDir()).isEqualTo(Path.of("/home/u/.cache/huggingface/hub"));
        assertThat(d.offline()).isFalse();
        assertThat(d.token()).isEmpty();
        assertThat(HubSettings.fromEnvironment(Map.of("XDG_CACHE_HOME", "/xdg"), "/home/u").cacheDir()).isEqualTo(Path.of("/xdg/huggingface/hub"));
        assertThat(HubSettings.fromEnvironment(Map.of("HF_HOME", "~/hf"), "/home/u").cacheDir()).isEqualTo(Path.of("/home/u/hf/hub"));
        assertThat(HubSettings.fromEnvironment(Map.of("HF_HOME", "/h", "HF_HUB_CACHE", "/c"), "/home/u").cacheDir()).isEqualTo(Path.of("/c"));
        assertThat(HubSettings.fromEnvironment(Map.of("HF_HOME", "/h", "HUGGINGFACE_HUB_CACHE", "/legacy"), "/home/u").cacheDir()).isEqualTo(Path.of("/legacy"));
        assertThat(HubSettings.fromEnvironment(Map.of("HF_ENDPOINT", "http://mirror:8080/"), "/home/u").endpoint().toString()).isEqualTo("http://mirror:8080");
        assertThat(HubSettings.fromEnvironment(Map.of("HF_TOKEN", "hf_abc"), "/home/u").token()).contains("hf_abc");
        for (String on : new String[] {"1", "true", "ON", "yes"})
            assertThat(HubSettings.fromEnvironment(Map.of("HF_HUB_OFFLINE", on), "/home/u").offline()).as(on).isTrue();
        assertThat(HubSettings.fromEnvironment(Map.of("HF_HUB_OFFLINE", "0"), "/home/u").offline()).isFalse();
        assertThatThrownBy(() -> HubSettings.fromEnvironment(Map.of("HF_ENDPOINT", "ftp://x"), "/home/u")).isInstanceOf(HubException.class)
                .hasMessageContaining("HF_ENDPOINT must be an http(s) URL");
    }
}
