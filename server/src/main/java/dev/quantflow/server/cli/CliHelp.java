package dev.quantflow.server.cli;

/** Help texts that several commands share, so that their --help cannot drift apart. */
final class CliHelp {
    private CliHelp() {}

    /** What --quant takes; each command adds its default and the schemes it builds. */
    static final String QUANT_SCHEMES = "Quantization of the linear layers, SCHEME[:key=value,...] of docs/QUANTIZATION.md: fp32, bf16, "
            + "w8a16, w8a8-tensor, w8a8-dynamic[:group=G], llm-int8[:threshold=6.0], smoothquant[:alpha=0.5], "
            + "w4a16-rtn|w4a16-gptq|w4a16-awq[:group=128]";
}
