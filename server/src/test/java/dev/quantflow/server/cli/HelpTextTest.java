package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

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
                if (!row.toLowerCase(java.util.Locale.ROOT).contains("default: " + value.toLowerCase(java.util.Locale.ROOT)))
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
}
