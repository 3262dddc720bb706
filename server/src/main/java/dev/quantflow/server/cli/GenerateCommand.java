package dev.quantflow.server.cli;

import com.sun.management.OperatingSystemMXBean;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.generate.Generator;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.sample.SamplingParams;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Generates a completion: only the generated text (or ids) on stdout, timings on stderr. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt.")
public final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Mixin
    PlacementOptions placement;

    @Option(names = "--prompt", defaultValue = "", description = "Prompt text (default: empty, i.e. BOS only)")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "256", description = "Maximum number of generated tokens (default: ${DEFAULT-VALUE})")
    int maxTokens;

    // doubles, as the server reads JSON numbers: the engine checks them the same way for both
    @Option(names = "--temperature", defaultValue = "0", description = "Sampling temperature in [0, 2]; 0 = greedy (default: ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling in (0, 1]: the smallest set of tokens with this much probability (default: ${DEFAULT-VALUE})")
    double topP;

    @Option(names = "--top-k", defaultValue = "0", description = "Sample from the k most likely tokens; 0 or -1 = off (default: ${DEFAULT-VALUE})")
    long topK;

    @Option(names = "--min-p", defaultValue = "0", description = "[0, 1]; drop tokens less likely than this share of the best; 0 = off (default: ${DEFAULT-VALUE})")
    double minP;

    @Option(names = "--seed", description = "Sampling seed (default: random)")
    Long seed;

    @Option(names = "--stop", description = "Stop string (repeatable)")
    List<String> stop = List.of();

    @Option(names = "--ignore-eos", description = "Keep generating past the end-of-sequence token")
    boolean ignoreEos;

    @Option(names = "--ids", description = "Print the generated token ids instead of text")
    boolean ids;

    @Mixin
    QuantExtras quant;

    @Override
    public Integer call() {
        GenerateOptions opts = options();   // refused before the model loads, with the server's rule and message
        return Progress.during(ProgressRenderer.forCli(spec.commandLine().getErr()), () -> generate(opts));
    }

    private Integer generate(GenerateOptions opts) {
        long t0 = System.nanoTime(), loadCpu0 = processCpuNanos();
        List<StageCompute> stages = List.of();
        try (LlamaModel m = LlamaModel.open(model.dir())) {
            placement.validate(m.config().numLayers());
            int[] promptIds = m.tokenizer().encode(prompt);
            Generator generator;
            if (placement.cpuOnly()) {
                // every --quant scheme of engine.quant (and stored quantized checkpoints), one LlamaStage
                LlamaStage stage = quant.stage(m, quant.plan(placement.scheme));
                generator = new Generator(stage, m.tokenizer(), quant.kvFormat().caches(m.config(), KvCache.BLOCK_SIZE));
            } else {
                // stages resident on their cards (the backend's schemes), their KV caches sized for this generation
                int kvBlocks = Generator.blocksNeeded(m.config(), promptIds.length, maxTokens);
                stages = placement.stages(m, quant.kvFormat(), kvBlocks, Math.clamp(promptIds.length, 1, Generator.PREFILL_CHUNK));
                generator = Generator.overStages(m.config(), stages, kvBlocks, m.tokenizer());
            }
            long loadNanos = System.nanoTime() - t0, loadCpuNanos = processCpuNanos() - loadCpu0;
            String rss = residentAfterLoad();
            PrintWriter out = spec.commandLine().getOut();
            StringBuilder idLine = new StringBuilder();
            long cpu0 = processCpuNanos();
            GenerateResult r = generator.generate(promptIds, opts, (id, delta) -> {
                if (ids) {
                    if (id >= 0) idLine.append(idLine.isEmpty() ? "" : " ").append(id);
                } else if (!delta.isEmpty()) {
                    out.print(delta);
                    out.flush();
                }
            });
            out.println(ids ? idLine : "");
            out.flush();
            // CPU time next to wall time: on a shared machine the gap is time spent waiting for a core
            spec.commandLine().getErr().printf(Locale.ROOT, "load %.2f s | prompt %d tokens, %.1f tokens/s | generated %d tokens, %.2f tokens/s | finish %s | cpu %.2f s in %.2f s | load cpu %.2f s%s%n",
                    loadNanos / 1e9, r.promptTokens(), r.prefillTokensPerSecond(), r.tokens().length, r.decodeTokensPerSecond(), r.finishReason(),
                    (processCpuNanos() - cpu0) / 1e9, (r.prefillNanos() + r.decodeNanos()) / 1e9, loadCpuNanos / 1e9, rss);
        } finally {
            stages.forEach(StageCompute::close);
        }
        return 0;
    }

    /** The server's validation (engine ParameterException), its messages prefixed with the flag. */
    private GenerateOptions options() {
        try {
            GenerateOptions.requestedMaxTokens("max_tokens", maxTokens);
            SamplingParams sampling = SamplingParams.of(temperature, topK, topP, minP, seed != null ? seed : System.nanoTime());
            return new GenerateOptions(maxTokens, sampling, ignoreEos, stop);
        } catch (ParameterException e) {
            throw new QuantflowCommand.UserError("--" + e.param().replace('_', '-') + ": " + e.getMessage());
        }
    }

    /**
     * " | rss after load N MB (anon A, file F)" from /proc/self/status (MB = MiB, as /usr/bin/time's
     * maximum resident set size is read): what a model keeps once loaded, next to the peak that
     * time reports; anon holds the packed weights and the heap, file the mapped pages still resident.
     * Empty where there is no /proc.
     */
    private static String residentAfterLoad() {
        long rss = -1, anon = -1, file = -1;
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                String[] f = line.split("\\s+");
                if (f.length < 2) continue;
                switch (f[0]) {
                    case "VmRSS:" -> rss = Long.parseLong(f[1]);
                    case "RssAnon:" -> anon = Long.parseLong(f[1]);
                    case "RssFile:" -> file = Long.parseLong(f[1]);
                    default -> { }
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            return "";
        }
        return rss < 0 ? "" : String.format(Locale.ROOT, " | rss after load %d MB (anon %d, file %d)", rss / 1024, anon / 1024, file / 1024);
    }

    private static long processCpuNanos() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof OperatingSystemMXBean os
                ? os.getProcessCpuTime() : 0;
    }
}
