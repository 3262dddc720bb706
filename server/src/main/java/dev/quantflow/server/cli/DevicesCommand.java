package dev.quantflow.server.cli;

import dev.quantflow.engine.backend.ComputeBackend;
import dev.quantflow.engine.backend.ComputeDevice;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Lists every compute backend and its devices, or why a backend cannot be used here. */
@Command(name = "devices", mixinStandardHelpOptions = true, description = "List compute devices (CPU, CUDA cards) or why none is usable.")
public final class DevicesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        for (ComputeBackend b : ComputeBackend.installed()) {
            var reason = b.unavailableReason();
            if (reason.isPresent()) {
                out.printf(Locale.ROOT, "%s: unavailable: %s%n", b.name(), reason.get());
                continue;
            }
            for (ComputeDevice d : b.devices())
                out.printf(Locale.ROOT, "%-8s %s  %.1f GiB  %s%n", d.id(), d.name(), d.memoryBytes() / (1024.0 * 1024 * 1024), d.detail());
        }
        out.flush();
        return 0;
    }
}
