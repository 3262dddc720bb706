package dev.quantflow.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.server.api.GenerationParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The .proto and docs/API.md are what clients read: they state the limits and values the server has. */
class ProtoDocsTest {
    private static String commentAbove(String proto, String field) {
        Matcher m = Pattern.compile("((?:\\s*//[^\\n]*\\n)+)\\s*" + Pattern.quote(field)).matcher(proto);
        assertThat(m.find()).as("a comment above %s", field).isTrue();
        return m.group(1);
    }

    @Test
    void generateRequestCommentsStateTheServersLimits() throws Exception {
        String proto = Files.readString(Path.of("../proto/src/main/proto/quantflow/v1/generation.proto"));
        assertThat(commentAbove(proto, "repeated string stop = 11;")).contains("Up to " + GenerationParams.MAX_STOP_STRINGS + " ");
        assertThat(commentAbove(proto, "optional int32 max_tokens = 6;")).contains("at least 1").contains("0 and negative");
        assertThat(commentAbove(proto, "optional int32 top_logprobs = 13;")).contains("0.." + GenerationParams.MAX_TOP_LOGPROBS);
    }

    @Test
    void apiDocsListWhatTheHttpServerSends() throws Exception {
        String api = Files.readString(Path.of("../docs/API.md"));
        assertThat(api).contains("\"finish_reason\": \"stop\" | \"length\" | \"abort\"")   // OpenAiShape.finishReason
                .contains("`code: unknown_url`")   // OpenAiHttp's 404 for a path
                .contains("up to " + GenerationParams.MAX_STOP_STRINGS + " strings")
                .contains("one `role: content` line per message, then `assistant:`");   // ChatTemplate.plain()
    }
}
