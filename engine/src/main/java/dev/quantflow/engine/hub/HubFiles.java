package dev.quantflow.engine.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Which files of a repository the engine needs, chosen from its file list (the Hub's siblings, or
 * what a cached snapshot holds): config, generation config, tokenizer files and the safetensors
 * weights (model.safetensors, or the index and exactly the shards it names), never .bin, .pth,
 * .msgpack, .h5 or onnx; or, for a GGUF repository, the one .gguf file of the asked quantization
 * (all parts of a split one). A tag matches a name part case-insensitively: Q4_K_M matches
 * Llama-3.2-1B-Instruct-Q4_K_M.gguf and tinyllama.q4_k_m.gguf, not ...-Q4_K_S.gguf; a tag ending
 * in .gguf names the file itself. Without a tag a GGUF-only repository gives Q4_K_M, else the
 * first Q4 file, else the first file (llama.cpp's -hf default).
 */
final class HubFiles {
    static final String INDEX = "model.safetensors.index.json", SINGLE = "model.safetensors";

    /** What the engine reads beside the weights (tokenizer.model for tokenizers without tokenizer.json). */
    static final List<String> SIDE_FILES = List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "tokenizer.model", "chat_template.jinja");

    private static final Pattern SPLIT = Pattern.compile("(?i)-\\d{5}-of-\\d{5}\\.gguf$");
    private static final Pattern QUANT_NAME = Pattern.compile("(?i)(I?Q\\d[A-Z0-9_]*|F16|F32|BF16)");
    private static final String DEFAULT_QUANT = "Q4_K_M";

    /**
     * files to fetch first; shardsFromIndex: then the shards the index among them names; gguf: the
     * file that is the model (else the snapshot directory is); notice: a choice made for the user.
     */
    record Plan(List<String> files, boolean shardsFromIndex, Optional<String> gguf, Optional<String> notice) {}

    private HubFiles() {}

    static Plan plan(HubModelId id, List<String> files) {
        List<String> ggufs = files.stream().filter(f -> f.toLowerCase(Locale.ROOT).endsWith(".gguf"))
                .filter(f -> !f.toLowerCase(Locale.ROOT).contains("mmproj")).sorted().toList();
        List<String> safetensors = files.stream().filter(f -> !f.contains("/") && f.endsWith(".safetensors")).sorted().toList();
        if (id.quant().isPresent()) {
            if (ggufs.isEmpty()) throw new HubException(id + ": the repository has no GGUF files" + (safetensors.isEmpty() ? "" : "; drop :"
                    + id.quant().get() + " to use its safetensors"));
            return gguf(chooseGguf(id, ggufs, id.quant().get()), Optional.empty());
        }
        if (files.contains("config.json") && !safetensors.isEmpty()) {
            List<String> first = new ArrayList<>(SIDE_FILES.stream().filter(files::contains).toList());
            if (safetensors.contains(SINGLE)) first.add(SINGLE);
            else if (files.contains(INDEX)) first.add(INDEX);
            else first.addAll(safetensors);
            return new Plan(List.copyOf(first), !safetensors.contains(SINGLE) && files.contains(INDEX), Optional.empty(), Optional.empty());
        }
        if (!ggufs.isEmpty()) {
            Map<String, List<String>> groups = groups(ggufs);
            String tag = groups.keySet().stream().anyMatch(s -> hasPart(s, DEFAULT_QUANT)) ? DEFAULT_QUANT : null;
            List<String> chosen = tag != null ? chooseGguf(id, ggufs, tag) : groups.entrySet().stream()
                    .filter(e -> parts(e.getKey()).stream().anyMatch(p -> p.toUpperCase(Locale.ROOT).startsWith("Q4"))).map(Map.Entry::getValue)
                    .findFirst().orElse(groups.values().iterator().next());
            String notice = id + ": using " + chosen.getFirst() + " (of " + quantsIn(groups.keySet()) + "; pick another with " + id.repo() + ":QUANT)";
            return gguf(chosen, Optional.of(notice));
        }
        List<String> shown = files.stream().limit(8).toList();
        throw new HubException(id + ": no weights Quantflow reads (config.json with *.safetensors, or a *.gguf file); the repository has "
                + (files.isEmpty() ? "no files" : String.join(", ", shown) + (files.size() > shown.size() ? ", ..." : "")));
    }

    private static Plan gguf(List<String> chosen, Optional<String> notice) {
        return new Plan(chosen, false, Optional.of(chosen.getFirst()), notice);
    }

    /** The file (or the parts of the split file) of that quantization; a clear error when none or several are. */
    private static List<String> chooseGguf(HubModelId id, List<String> ggufs, String tag) {
        Map<String, List<String>> groups = groups(ggufs);
        List<List<String>> matching = groups.entrySet().stream()
                .filter(e -> tag.toLowerCase(Locale.ROOT).endsWith(".gguf") ? e.getValue().contains(tag) : hasPart(e.getKey(), tag))
                .map(Map.Entry::getValue).toList();
        if (matching.size() == 1) return matching.getFirst();
        if (matching.isEmpty())
            throw new HubException(id + ": no GGUF file of quantization " + tag + "; the repository has " + quantsIn(groups.keySet())
                    + " (" + String.join(", ", ggufs.stream().limit(8).toList()) + (ggufs.size() > 8 ? ", ..." : "") + ")");
        throw new HubException(id + ": several GGUF files match " + tag + ": " + String.join(", ", matching.stream().map(List::getFirst).toList())
                + "; name one as " + id.repo() + ":FILE.gguf");
    }

    /** One entry per model: the parts of a split file (NAME-00001-of-00003.gguf, ...) together, in order. */
    private static Map<String, List<String>> groups(List<String> ggufs) {
        Map<String, List<String>> groups = new TreeMap<>();
        for (String f : ggufs) groups.computeIfAbsent(SPLIT.matcher(f).replaceFirst(""), k -> new ArrayList<>()).add(f);
        return groups;
    }

    private static boolean hasPart(String name, String tag) {
        return parts(name).stream().anyMatch(p -> p.equalsIgnoreCase(tag));
    }

    /** A file name's parts between / . - (the quantization is one of them: "Q4_K_M", "q8_0", "IQ4_XS"). */
    private static List<String> parts(String name) {
        return Arrays.asList(name.replaceFirst("(?i)\\.gguf$", "").split("[/.\\-]"));
    }

    private static String quantsIn(Set<String> stems) {
        Set<String> quants = new LinkedHashSet<>();
        for (String s : stems) for (String p : parts(s)) if (QUANT_NAME.matcher(p).matches()) quants.add(p);
        return quants.isEmpty() ? "no recognisable quantization names" : String.join(", ", quants);
    }

    /** The shard files an index names, each once, in order. */
    static List<String> shardsOf(Path index) {
        JsonNode map;
        try {
            map = new ObjectMapper().readTree(index.toFile()).path("weight_map");
        } catch (IOException e) {
            throw new HubException(index + ": not valid JSON: " + HubHttp.describe(e));
        }
        if (!map.isObject() || map.isEmpty()) throw new HubException(index + ": has no weight_map");
        Set<String> shards = new LinkedHashSet<>();
        map.properties().forEach(e -> shards.add(e.getValue().asText()));
        return List.copyOf(shards);
    }
}
