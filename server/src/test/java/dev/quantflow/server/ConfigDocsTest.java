package dev.quantflow.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigResolveOptions;
import com.typesafe.config.ConfigValueType;
import dev.quantflow.actors.engine.EngineConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * docs/API.md's configuration table and the configuration cannot drift apart: every key of
 * quantflow.engine (reference.conf) and quantflow.server (application.conf) has its row, every row
 * names a key that exists, with the default the configuration gives it (and, for the engine, its variable).
 */
class ConfigDocsTest {
    private static final Pattern KEY = Pattern.compile("`quantflow\\.(engine|server)\\.([a-z-]+)`");

    /** The table's rows by key: the cells flag, key, environment, default. */
    private static Map<String, List<String>> documented() throws Exception {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("docs/API.md"))) dir = dir.getParent();
        assertThat(dir).as("docs/API.md above the working directory").isNotNull();
        Map<String, List<String>> rows = new TreeMap<>();
        for (String line : Files.readAllLines(dir.resolve("docs/API.md"))) {
            if (!line.startsWith("|")) continue;
            List<String> cells = List.of(line.substring(1).split("(?<!\\\\)\\|")).stream().map(String::strip).toList();
            if (cells.size() < 4) continue;
            Matcher m = KEY.matcher(cells.get(1));
            if (!m.matches()) continue;
            assertThat(rows.put("quantflow." + m.group(1) + "." + m.group(2), cells)).as("one row per key: " + line).isNull();
        }
        return rows;
    }

    private static String value(Config c, String key) {
        return c.getValue(key).valueType() == ConfigValueType.LIST ? String.join(",", c.getStringList(key)) : String.valueOf(c.getValue(key).unwrapped());
    }

    @Test
    void everyKeyIsDocumentedWithItsDefaultAndEveryDocumentedKeyExists() throws Exception {
        Map<String, List<String>> docs = documented();
        Config defaults = ConfigFactory.defaultApplication()
                .withFallback(EngineConfig.defaults().atPath("quantflow.engine")).resolve(ConfigResolveOptions.noSystem());
        List<String> keys = new ArrayList<>();
        for (String block : List.of("engine", "server"))
            defaults.getConfig("quantflow." + block).root().keySet().forEach(k -> keys.add("quantflow." + block + "." + k));
        assertThat(docs.keySet()).containsExactlyInAnyOrderElementsOf(keys);
        assertThat(keys).contains("quantflow.engine.kv-memory", "quantflow.engine.stage-threads", "quantflow.engine.tokenizer-workers");
        for (String key : keys) {
            List<String> row = docs.get(key);
            String def = value(defaults, key);
            if (!def.isEmpty()) assertThat(row.get(3).replace("`", "")).as(key + "'s default").startsWith(def);
            if (key.startsWith("quantflow.engine.")) {
                String env = "QUANTFLOW_" + key.substring("quantflow.engine.".length()).toUpperCase(Locale.ROOT).replace('-', '_');
                assertThat(row.get(2)).as(key + "'s variable").isEqualTo("`" + env + "`");
            }
        }
    }
}
