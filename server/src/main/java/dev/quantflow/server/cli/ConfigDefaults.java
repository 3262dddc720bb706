package dev.quantflow.server.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.ResourceBundle;
import java.util.stream.Collectors;

/**
 * The defaults the flags show and start from, read from the configuration (reference.conf's
 * quantflow.engine, application.conf's quantflow.server, the environment's overrides), so that no
 * default is written twice. The engine flags of generate, bench engine, eval and quantize start
 * from {@link #engineInt}/{@link #engineString} (their ${DEFAULT-VALUE}); serve's flags stay unset
 * unless given (so that --config FILE and the environment hold) and show the configured value as
 * {@code ${bundle:quantflow.engine.max-seqs}}: this class is serve's resource bundle, whose keys
 * are the configuration's paths.
 */
public final class ConfigDefaults extends ResourceBundle {
    private static final Config CONFIG = ConfigFactory.load();

    /** The configured quantflow.engine block (reference.conf under application.conf, the environment and -D), for the settings without a flag. */
    static Config engine() {
        return CONFIG.getConfig("quantflow.engine");
    }

    /** quantflow.engine.key as a flag's default. */
    static int engineInt(String key) {
        return CONFIG.getInt("quantflow.engine." + key);
    }

    /** quantflow.engine.key as a flag's default string (a list joined by commas). */
    static String engineString(String key) {
        return text(CONFIG.getValue("quantflow.engine." + key));
    }

    private static String text(ConfigValue v) {
        if (v.valueType() == ConfigValueType.LIST) return ((List<?>) v.unwrapped()).stream().map(String::valueOf).collect(Collectors.joining(","));
        return String.valueOf(v.unwrapped());
    }

    @Override
    protected Object handleGetObject(String key) {
        if (!key.startsWith("quantflow.") || !CONFIG.hasPath(key)) return null;
        ConfigValue v = CONFIG.getValue(key);
        if (v.valueType() == ConfigValueType.OBJECT) return null;
        String s = text(v);
        return s.isEmpty() ? "none" : s;
    }

    @Override
    public Enumeration<String> getKeys() {
        return Collections.enumeration(CONFIG.getConfig("quantflow").entrySet().stream().map(Map.Entry::getKey).map(k -> "quantflow." + k).toList());
    }
}
