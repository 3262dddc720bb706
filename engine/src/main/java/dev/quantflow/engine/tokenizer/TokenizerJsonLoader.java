package dev.quantflow.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads a Hugging Face tokenizer.json (BPE model; the normalizers, pre-tokenizers, post-processors
 * and decoders decoder-only models use) plus the config files that say which ids are BOS/EOS.
 * Anything it does not implement is reported, never silently ignored.
 */
final class TokenizerJsonLoader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;

    private TokenizerJsonLoader(Path file) {
        this.file = file;
    }

    static Tokenizer load(Path dir) {
        Path tokenizerJson = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokenizerJson)) throw new TokenizerException(tokenizerJson + ": not found (a Hugging Face model directory needs tokenizer.json)");
        return new TokenizerJsonLoader(tokenizerJson).build(dir);
    }

    private TokenizerException problem(String what) {
        return new TokenizerException(file + ": " + what);
    }

    private static JsonNode read(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new TokenizerException(file + ": cannot parse JSON: " + e.getMessage(), e);
        }
    }

    private static JsonNode readOptional(Path file) {
        return Files.isRegularFile(file) ? read(file) : JSON.missingNode();
    }

    private Tokenizer build(Path dir) {
        JsonNode root = read(file);
        JsonNode tokenizerConfig = readOptional(dir.resolve("tokenizer_config.json"));
        JsonNode generationConfig = readOptional(dir.resolve("generation_config.json"));
        JsonNode modelConfig = readOptional(dir.resolve("config.json"));

        JsonNode model = root.path("model");
        String type = model.path("type").asText(model.has("merges") ? "BPE" : "");
        if (!type.equals("BPE")) throw problem("unsupported tokenizer model type '" + type + "' (supported: BPE)");
        for (String affix : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
            if (!model.path(affix).asText("").isEmpty()) throw problem("BPE " + affix + " is not supported");
        }

        Map<String, Integer> vocab = new HashMap<>();
        model.path("vocab").properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        if (vocab.isEmpty()) throw problem("model.vocab is missing or empty");
        List<AddedToken> added = new ArrayList<>();
        for (JsonNode t : root.path("added_tokens")) {
            added.add(new AddedToken(t.path("id").asInt(), t.path("content").asText(), t.path("single_word").asBoolean(false),
                    t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false), t.path("normalized").asBoolean(true),
                    t.path("special").asBoolean(false)));
        }
        Map<String, Integer> idsByText = new HashMap<>(vocab);
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (AddedToken t : added) {
            idsByText.put(t.content(), t.id());
            size = Math.max(size, t.id() + 1);
        }
        String[] tokens = new String[size];
        vocab.forEach((text, id) -> tokens[id] = text);
        for (AddedToken t : added) tokens[t.id()] = t.content();

        List<String[]> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) {
            if (m.isArray() && m.size() == 2) {
                merges.add(new String[] {m.get(0).asText(), m.get(1).asText()});
            } else {
                String s = m.asText();
                int space = s.indexOf(' ', 1);
                if (space < 0) throw problem("merge '" + s + "' is not two tokens separated by a space");
                merges.add(new String[] {s.substring(0, space), s.substring(space + 1)});
            }
        }
        String unk = model.path("unk_token").asText(null);
        int unkId = unk != null && idsByText.containsKey(unk) ? idsByText.get(unk) : -1;
        TokenModel bpe = new BpeModel(vocab, merges, model.path("byte_fallback").asBoolean(false), unkId,
                model.path("fuse_unk").asBoolean(false), model.path("ignore_merges").asBoolean(false));

        Normalizer normalizer = root.path("normalizer").isObject() ? normalizer(root.path("normalizer")) : null;
        PreTokenizer preTokenizer = root.path("pre_tokenizer").isObject() ? preTokenizer(root.path("pre_tokenizer")) : PreTokenizer.NONE;

        OptionalInt bos = specialTokenId(tokenizerConfig.path("bos_token"), idsByText);
        if (bos.isEmpty()) bos = intId(generationConfig.path("bos_token_id"));
        if (bos.isEmpty()) bos = intId(modelConfig.path("bos_token_id"));
        Set<Integer> eos = eosIds(generationConfig, tokenizerConfig, modelConfig, idsByText);

        List<Integer> prefix = new ArrayList<>(), suffix = new ArrayList<>();
        postProcessor(root.path("post_processor"), idsByText, prefix, suffix);
        applyAddTokenFlags(tokenizerConfig, bos, eos, prefix, suffix);

        Set<Integer> hidden = new LinkedHashSet<>(eos);
        bos.ifPresent(hidden::add);
        TokenRenderer renderer = root.path("decoder").isObject() ? renderer(root.path("decoder"), tokens, hidden)
                : TokenRenderer.text(tokens, hidden, List.of(), false, 0);

        return new PipelineTokenizer(new PipelineTokenizer.Parts(file.toString(), tokens, added, normalizer, preTokenizer, bpe,
                toArray(prefix), toArray(suffix), renderer, bos, eos));
    }

    private static int[] toArray(List<Integer> list) {
        return list.stream().mapToInt(Integer::intValue).toArray();
    }

    private static OptionalInt intId(JsonNode node) {
        return node.isIntegralNumber() ? OptionalInt.of(node.asInt()) : OptionalInt.empty();
    }

    /** tokenizer_config writes special tokens as a string or as {"content": ...}. */
    private static OptionalInt specialTokenId(JsonNode node, Map<String, Integer> idsByText) {
        String content = node.isTextual() ? node.asText() : node.path("content").asText(null);
        Integer id = content == null ? null : idsByText.get(content);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    private static Set<Integer> eosIds(JsonNode generationConfig, JsonNode tokenizerConfig, JsonNode modelConfig, Map<String, Integer> idsByText) {
        Set<Integer> eos = new LinkedHashSet<>();
        JsonNode fromGeneration = generationConfig.path("eos_token_id");
        if (fromGeneration.isIntegralNumber()) eos.add(fromGeneration.asInt());
        for (JsonNode id : fromGeneration.isArray() ? fromGeneration : JSON.createArrayNode()) eos.add(id.asInt());
        if (eos.isEmpty()) specialTokenId(tokenizerConfig.path("eos_token"), idsByText).ifPresent(eos::add);
        if (eos.isEmpty()) {
            JsonNode fromModel = modelConfig.path("eos_token_id");
            if (fromModel.isIntegralNumber()) eos.add(fromModel.asInt());
            for (JsonNode id : fromModel.isArray() ? fromModel : JSON.createArrayNode()) eos.add(id.asInt());
        }
        return eos;
    }

    /** Special tokens the post-processor puts before and after a single sequence. */
    private void postProcessor(JsonNode node, Map<String, Integer> idsByText, List<Integer> prefix, List<Integer> suffix) {
        if (!node.isObject()) return;
        String type = node.path("type").asText();
        switch (type) {
            case "Sequence" -> {
                for (JsonNode p : node.path("processors")) postProcessor(p, idsByText, prefix, suffix);
            }
            case "ByteLevel" -> { } // only adjusts offsets
            case "TemplateProcessing" -> {
                boolean afterSequence = false;
                for (JsonNode piece : node.path("single")) {
                    if (piece.has("Sequence")) {
                        afterSequence = true;
                    } else if (piece.has("SpecialToken")) {
                        String name = piece.path("SpecialToken").path("id").asText();
                        JsonNode ids = node.path("special_tokens").path(name).path("ids");
                        List<Integer> target = afterSequence ? suffix : prefix;
                        if (ids.isArray() && !ids.isEmpty()) for (JsonNode id : ids) target.add(id.asInt());
                        else if (idsByText.containsKey(name)) target.add(idsByText.get(name));
                        else throw problem("post_processor names special token '" + name + "' with no id");
                    }
                }
            }
            case "BertProcessing", "RobertaProcessing" -> {
                prefix.add(node.path("cls").path(1).asInt());
                suffix.add(node.path("sep").path(1).asInt());
            }
            default -> throw problem("unsupported post_processor type '" + type + "'");
        }
    }

    /** tokenizer_config's add_bos_token / add_eos_token, where given, decide (as LlamaTokenizerFast does). */
    private static void applyAddTokenFlags(JsonNode tokenizerConfig, OptionalInt bos, Set<Integer> eos, List<Integer> prefix, List<Integer> suffix) {
        JsonNode addBos = tokenizerConfig.path("add_bos_token");
        if (addBos.isBoolean() && bos.isPresent()) {
            int id = bos.getAsInt();
            if (addBos.asBoolean() && !prefix.contains(id)) prefix.addFirst(id);
            if (!addBos.asBoolean()) prefix.remove(Integer.valueOf(id));
        }
        JsonNode addEos = tokenizerConfig.path("add_eos_token");
        int eosId = eos.isEmpty() ? -1 : eos.iterator().next();
        if (addEos.isBoolean() && eosId >= 0) {
            if (addEos.asBoolean() && !suffix.contains(eosId)) suffix.add(eosId);
            if (!addEos.asBoolean()) suffix.remove(Integer.valueOf(eosId));
        }
    }

    private Normalizer normalizer(JsonNode node) {
        String type = node.path("type").asText();
        return switch (type) {
            case "Sequence" -> {
                List<Normalizer> steps = new ArrayList<>();
                for (JsonNode n : node.path("normalizers")) steps.add(normalizer(n));
                yield new Normalizer.Sequence(steps);
            }
            case "Prepend" -> new Normalizer.Prepend(node.path("prepend").asText());
            case "Replace" -> {
                JsonNode pattern = node.path("pattern");
                String content = node.path("content").asText();
                if (pattern.has("String")) yield new Normalizer.ReplaceLiteral(pattern.path("String").asText(), content);
                if (pattern.has("Regex")) yield new Normalizer.ReplaceRegex(TokenizerRegex.compile(pattern.path("Regex").asText()), content);
                throw problem("Replace normalizer without a String or Regex pattern");
            }
            case "NFC" -> new Normalizer.Unicode(java.text.Normalizer.Form.NFC);
            case "NFD" -> new Normalizer.Unicode(java.text.Normalizer.Form.NFD);
            case "NFKC" -> new Normalizer.Unicode(java.text.Normalizer.Form.NFKC);
            case "NFKD" -> new Normalizer.Unicode(java.text.Normalizer.Form.NFKD);
            case "Lowercase" -> new Normalizer.Lowercase();
            case "Strip" -> new Normalizer.Strip(node.path("strip_left").asBoolean(true), node.path("strip_right").asBoolean(true));
            default -> throw problem("unsupported normalizer type '" + type + "'");
        };
    }

    private PreTokenizer preTokenizer(JsonNode node) {
        String type = node.path("type").asText();
        return switch (type) {
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                for (JsonNode p : node.path("pretokenizers")) steps.add(preTokenizer(p));
                yield new PreTokenizer.Sequence(steps);
            }
            case "Split" -> {
                JsonNode pattern = node.path("pattern");
                Pattern regex;
                if (pattern.has("Regex")) regex = TokenizerRegex.compile(pattern.path("Regex").asText());
                else if (pattern.has("String")) regex = Pattern.compile(Pattern.quote(pattern.path("String").asText()));
                else throw problem("Split pre-tokenizer without a String or Regex pattern");
                SplitBehavior behavior = SplitBehavior.fromJson(node.path("behavior").asText());
                if (behavior == null) throw problem("unsupported Split behavior '" + node.path("behavior").asText() + "'");
                yield new PreTokenizer.Split(regex, behavior, node.path("invert").asBoolean(false));
            }
            case "ByteLevel" -> new PreTokenizer.ByteLevel(node.path("add_prefix_space").asBoolean(true), node.path("use_regex").asBoolean(true));
            case "Metaspace" -> {
                String scheme = node.path("prepend_scheme").asText(node.path("add_prefix_space").asBoolean(true) ? "always" : "never");
                PreTokenizer.Metaspace.PrependScheme prepend = switch (scheme) {
                    case "always" -> PreTokenizer.Metaspace.PrependScheme.ALWAYS;
                    case "first" -> PreTokenizer.Metaspace.PrependScheme.FIRST;
                    case "never" -> PreTokenizer.Metaspace.PrependScheme.NEVER;
                    default -> throw problem("unsupported Metaspace prepend_scheme '" + scheme + "'");
                };
                yield new PreTokenizer.Metaspace(node.path("replacement").asText("\u2581"), prepend, node.path("split").asBoolean(true));
            }
            case "Digits" -> new PreTokenizer.Split(Pattern.compile("[0-9]"),
                    node.path("individual_digits").asBoolean(false) ? SplitBehavior.ISOLATED : SplitBehavior.CONTIGUOUS, false);
            case "Punctuation" -> {
                SplitBehavior behavior = SplitBehavior.fromJson(node.path("behavior").asText("Isolated"));
                if (behavior == null) throw problem("unsupported Punctuation behavior '" + node.path("behavior").asText() + "'");
                yield new PreTokenizer.Split(Pattern.compile("[!-/:-@\\[-`{-~\\p{P}]"), behavior, false);
            }
            default -> throw problem("unsupported pre_tokenizer type '" + type + "'");
        };
    }

    private TokenRenderer renderer(JsonNode decoder, String[] tokens, Set<Integer> hidden) {
        List<JsonNode> steps = new ArrayList<>();
        if (decoder.path("type").asText().equals("Sequence")) decoder.path("decoders").forEach(steps::add);
        else steps.add(decoder);
        boolean byteLevel = false, byteFallback = false;
        int strip = 0;
        List<Map.Entry<String, String>> replacements = new ArrayList<>();
        for (JsonNode step : steps) {
            String type = step.path("type").asText();
            switch (type) {
                case "ByteLevel" -> byteLevel = true;
                case "ByteFallback" -> byteFallback = true;
                case "Fuse" -> { } // we always produce one string
                case "Replace" -> {
                    if (!step.path("pattern").has("String")) throw problem("Replace decoder with a regex pattern is not supported");
                    replacements.add(new AbstractMap.SimpleEntry<>(step.path("pattern").path("String").asText(), step.path("content").asText()));
                }
                case "Strip" -> {
                    if (!step.path("content").asText(" ").equals(" ") || step.path("stop").asInt(0) != 0) throw problem("Strip decoder other than leading spaces is not supported");
                    strip = step.path("start").asInt(0);
                }
                case "Metaspace" -> {
                    replacements.add(new AbstractMap.SimpleEntry<>(step.path("replacement").asText("\u2581"), " "));
                    String scheme = step.path("prepend_scheme").asText(step.path("add_prefix_space").asBoolean(true) ? "always" : "never");
                    if (!scheme.equals("never")) strip = 1;
                }
                default -> throw problem("unsupported decoder type '" + type + "'");
            }
        }
        if (byteLevel) return TokenRenderer.byteLevel(tokens, hidden);
        return TokenRenderer.text(tokens, hidden, replacements, byteFallback, strip);
    }
}
