package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueType;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.Help;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine;

/** Every command's --help: each option and parameter says what it is, and what it defaults to. */
class HelpTextTest {
    private static List<CommandLine> allCommands() {
        List<CommandLine> all = new ArrayList<>();
        collect(QuantflowCommand.commandLine(), all);
        return all;
    }

    private static void collect(CommandLine cl, List<CommandLine> into) {
        into.add(cl);
        cl.getSubcommands().values().forEach(sub -> collect(sub, into));
    }

    /** The option's help row(s) as --help prints them (description with ${DEFAULT-VALUE} filled in). */
    private static String rendered(CommandLine cl, OptionSpec option) {
        Help help = new Help(cl.getCommandSpec(), Help.defaultColorScheme(Help.Ansi.OFF));
        Help.Ansi.Text[][] rows = help.createDefaultOptionRenderer().render(option, help.createDefaultParamLabelRenderer(), help.colorScheme());
        return Stream.of(rows).flatMap(Stream::of).map(Help.Ansi.Text::toString).map(String::strip).collect(Collectors.joining(" "));
    }

    private static String where(CommandLine cl, ArgSpec arg) {
        return cl.getCommandSpec().qualifiedName() + " " + (arg instanceof OptionSpec o ? o.longestName() : arg.paramLabel());
    }

    @Test
    void everyOptionAndParameterHasADescription() {
        List<String> undescribed = new ArrayList<>();
        for (CommandLine cl : allCommands()) {
            for (ArgSpec arg : cl.getCommandSpec().args()) {
                if (String.join("", arg.description()).isBlank()) undescribed.add(where(cl, arg));
            }
        }
        assertThat(undescribed).isEmpty();
    }

    @Test
    void everyDefaultIsShownInTheHelp() {
        List<String> hidden = new ArrayList<>();
        for (CommandLine cl : allCommands()) {
            for (OptionSpec option : cl.getCommandSpec().options()) {
                String value = option.defaultValue();
                if (value == null || option.usageHelp() || option.versionHelp() || option.typeInfo().isBoolean()) continue;
                String row = rendered(cl, option);
                if (!row.toLowerCase(Locale.ROOT).contains("default: " + value.toLowerCase(Locale.ROOT)))
                    hidden.add(where(cl, option) + " (default " + value + "): " + row);
            }
        }
        assertThat(hidden).isEmpty();
    }

    /** generate said "default dense", serve "default: fp32": one text names the schemes everywhere. */
    @Test
    void everyQuantOptionSharesOneDescriptionOfTheSchemes() {
        Map<String, String> quant = new TreeMap<>();
        for (CommandLine cl : allCommands()) {
            OptionSpec option = cl.getCommandSpec().findOption("--quant");
            if (option != null) quant.put(cl.getCommandSpec().qualifiedName(), rendered(cl, option));
        }
        assertThat(quant).containsKeys("quantflow generate", "quantflow serve", "quantflow eval", "quantflow quantize");
        assertThat(quant.values()).allSatisfy(row -> assertThat(row).contains(CliHelp.QUANT_SCHEMES).containsPattern("default: \\S+"));
    }

    private static String configured(Config c, String key) {
        return c.getValue(key).valueType() == ConfigValueType.LIST ? String.join(",", c.getStringList(key)) : String.valueOf(c.getValue(key).unwrapped());
    }

    /**
     * Every flag named like a quantflow.engine key, in every command, names the key and its
     * environment variable and shows the default configured there (not a literal of its own).
     */
    @Test
    void engineFlagsNameTheirKeyAndShowTheConfiguredDefault() {
        Config engine = ConfigFactory.load().getConfig("quantflow.engine");
        List<String> wrong = new ArrayList<>();
        Map<String, Integer> perCommand = new TreeMap<>();
        for (CommandLine cl : allCommands()) {
            for (OptionSpec option : cl.getCommandSpec().options()) {
                String key = option.longestName().replaceFirst("^--", "");
                if (!engine.hasPath(key)) continue;
                perCommand.merge(cl.getCommandSpec().qualifiedName(), 1, Integer::sum);
                String row = rendered(cl, option), value = configured(engine, key);
                String env = "QUANTFLOW_" + key.toUpperCase(Locale.ROOT).replace('-', '_');
                if (!row.contains("[quantflow.engine." + key + ", " + env + "]") || !value.isEmpty() && !row.contains("(default: " + value + ")"))
                    wrong.add(where(cl, option) + " (configured " + value + "): " + row);
            }
        }
        assertThat(wrong).isEmpty();
        assertThat(perCommand).containsEntry("quantflow serve", engine.root().size()).containsEntry("quantflow bench engine", 12)
                .containsEntry("quantflow generate", 4).containsEntry("quantflow eval", 2).containsEntry("quantflow quantize", 2);
    }

    /** serve's server flags show application.conf's quantflow.server values the same way. */
    @Test
    void serveFlagsShowTheConfiguredServerDefaults() {
        Config server = ConfigFactory.load().getConfig("quantflow.server");
        CommandLine serve = QuantflowCommand.commandLine().getSubcommands().get("serve");
        for (String key : List.of("host", "port", "grpc-port", "admin-port", "max-connections", "keep-alive-timeout", "access-log", "drain-timeout"))
            assertThat(rendered(serve, serve.getCommandSpec().findOption("--" + key))).as(key)
                    .contains("[quantflow.server." + key + ", QUANTFLOW_" + key.toUpperCase(Locale.ROOT).replace('-', '_') + "]")
                    .contains("(default: " + configured(server, key) + ")");
    }

    /** One --quant: one text, one key, one default (quantflow.engine.quant) in every command. */
    @Test
    void everyQuantOptionDefaultsToTheConfiguredScheme() {
        String scheme = ConfigFactory.load().getString("quantflow.engine.quant");
        for (CommandLine cl : allCommands()) {
            OptionSpec option = cl.getCommandSpec().findOption("--quant");
            if (option != null) assertThat(rendered(cl, option)).as(cl.getCommandSpec().qualifiedName())
                    .contains("[quantflow.engine.quant, QUANTFLOW_QUANT] (default: " + scheme + ")");
        }
    }
}
