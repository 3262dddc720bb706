package dev.quantflow.server.cli;

import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Prints the token ids of a text, as the model's tokenizer encodes it by default. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Print the token ids of a text.")
public final class TokenizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(names = "--text", required = true, description = "The text to tokenize")
    String text;

    @Option(names = "--no-special", description = "Do not add BOS/EOS")
    boolean noSpecial;

    @Override
    public Integer call() {
        Tokenizer t = Tokenizer.fromModelDir(model.dir());
        int[] ids = t.encode(text, !noSpecial);
        spec.commandLine().getOut().println(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        return 0;
    }
}
