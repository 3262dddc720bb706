package dev.quantflow.engine.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The pre-tokenizer that a GGUF "gpt2" vocabulary's tokenizer.ggml.pre names: a list of regexes
 * applied one after another (each cuts the pieces of the previous one, keeping matches and gaps),
 * then the byte-level mapping. The regexes restate what each model's original tokenizer.json does.
 */
public final class LlamaCppPreTokenizers {
    private static final String GPT2 = PreTokenizer.GPT2_REGEX;
    private static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
    // DeepSeek LLM's letter class: Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee and related
    // cased-letter blocks, spelled out in its tokenizer.json instead of \p{L}.
    private static final String DEEPSEEK_LETTERS = "A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af"
            + "\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
            + "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a"
            + "\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc"
            + "\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113"
            + "\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184"
            + "\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e"
            + "\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\\x{10400}-\\x{1044f}\\x{104b0}-\\x{104d3}"
            + "\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}";

    private LlamaCppPreTokenizers() {}

    /** The regex list for a tokenizer.ggml.pre name and whether merges are skipped for whole-vocab pieces. */
    public record Spec(List<String> regexes, boolean ignoreMerges) {
        /** Whether this is GPT-2's own regex alone (what a tokenizer.json ByteLevel pre-tokenizer with use_regex applies). */
        public boolean isGpt2() {
            return regexes.equals(List.of(GPT2));
        }

        PreTokenizer toPreTokenizer() {
            List<PreTokenizer> steps = new ArrayList<>();
            for (String r : regexes) steps.add(new PreTokenizer.Split(TokenizerRegex.compile(r), SplitBehavior.ISOLATED, false));
            steps.add(new PreTokenizer.ByteLevel(false, false));
            return new PreTokenizer.Sequence(steps);
        }
    }

    public static Optional<Spec> forName(String pre) {
        return Optional.ofNullable(switch (pre) {
            case "default", "gpt-2", "gpt2", "mpt", "olmo", "jais", "gpt-neox", "phi-2", "trillion" -> new Spec(List.of(GPT2), false);
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "pixtral" -> new Spec(List.of(LLAMA3), true);
            case "qwen2", "stablelm2", "hunyuan", "megrez", "deepseek-r1-qwen" -> new Spec(List.of(QWEN2), false);
            case "deepseek-llm" -> new Spec(List.of("[\\r\\n]", "\\s?[" + DEEPSEEK_LETTERS + "]+",
                    "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", "\\s+$", CJK, "\\p{N}+"), false);
            case "deepseek-coder" -> new Spec(List.of("[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK, "\\p{N}"), false);
            case "falcon" -> new Spec(List.of("[\\p{P}\\$\\+<=>\\^~\\|`]+",
                    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "[0-9][0-9][0-9]"), false);
            case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b" -> new Spec(List.of("\\p{N}", GPT2), false);
            case "poro-chat", "bloom", "gpt3-finnish" -> new Spec(List.of(" ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"), false);
            case "viking" -> new Spec(List.of(" ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+", "\\p{N}"), false);
            default -> null;
        });
    }

    public static List<String> supportedNames() {
        return List.of("default", "gpt-2", "mpt", "olmo", "jais", "gpt-neox", "llama3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe",
                "qwen2", "stablelm2", "deepseek-llm", "deepseek-coder", "falcon", "starcoder", "refact", "command-r", "smollm",
                "codeshell", "exaone", "poro-chat", "bloom", "gpt3-finnish", "viking");
    }
}
