package dev.quantflow.server.cli;

import java.util.Arrays;
import java.util.List;

/** Help texts that several commands share, so that their --help cannot drift apart. */
final class CliHelp {
    private CliHelp() {}

    /** What --quant takes: one text for every command (serve, generate, bench engine, eval, quantize). */
    static final String QUANT_SCHEMES = "Quantization of the linear layers, SCHEME[:key=value,...] of docs/QUANTIZATION.md: fp32 (the weights as stored), bf16, "
            + "w8a16, w8a8-tensor, w8a8-dynamic[:group=G], llm-int8[:threshold=6.0], smoothquant[:alpha=0.5|search|search-model], "
            + "w4a16-rtn|w4a16-gptq|w4a16-awq[:group=128], fp8[:format=e4m3|e5m2,scale=channel|tensor], fp8-w8a8[:act=token|tensor|static,scale=channel|tensor,weights=rtn|mse|gptq|gptq-mse,act-order=true,smooth=ALPHA|search|search-model,lkd=true], w4a8[:group=128,weights=rtn|gptq,lkd=true], nf4|fp4[:block=64,double-quant=false], q6_k (GGUF Q6_K blocks, rows of a multiple of 256); "
            + "built at load (serve, bench engine): fp32, bf16, w8a16, llm-int8, w8a8-dynamic, w4a16-rtn, fp8, fp8-w8a8 (not act=static, weights=gptq|gptq-mse, smooth or lkd), nf4, fp4, q6_k, the others calibrate (quantize them with `quantflow quantize`); on a CUDA card fp32, bf16, llm-int8, w8a8-dynamic "
            + "and w4a16-* run the engine's codes (FP8, NF4 and FP4 are CPU-only for now)";

    /** The key, variable and default of --quant in the commands whose field starts from the configured scheme. */
    static final String QUANT_KEY = " [quantflow.engine.quant, QUANTFLOW_QUANT] (default: ${DEFAULT-VALUE})";

    /** --devices DEV,DEV as a list. */
    static List<String> devices(String flag) {
        return Arrays.stream(flag.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
    }
}
