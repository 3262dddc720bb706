package dev.quantflow.engine.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;

/**
 * The HF tokenizers pipeline, which also covers llama.cpp's: added tokens are cut out of the raw
 * text, the rest is normalized, cut again at added tokens that are matched in normalized form,
 * pre-tokenized into pieces, and each piece goes through the model; the post-processor's special
 * tokens go around the result.
 */
final class PipelineTokenizer implements Tokenizer {
    private final String source;
    private final String[] tokens;
    private final AddedTokenSplitter rawAddedTokens;
    private final Normalizer normalizer;
    private final AddedTokenSplitter normalizedAddedTokens;
    private final PreTokenizer preTokenizer;
    private final TokenModel model;
    private final int[] prefix;
    private final int[] suffix;
    private final TokenRenderer renderer;
    private final TokenRenderer shownRenderer;
    private final OptionalInt bos;
    private final Set<Integer> eos;

    /** {@code source} says where the tokenizer came from, for messages. */
    record Parts(String source, String[] tokens, List<AddedToken> addedTokens, Normalizer normalizer,
                 PreTokenizer preTokenizer, TokenModel model, int[] prefix, int[] suffix, TokenRenderer renderer,
                 OptionalInt bos, Set<Integer> eos) {}

    PipelineTokenizer(Parts p) {
        this.source = p.source();
        this.tokens = p.tokens();
        this.normalizer = Objects.requireNonNullElse(p.normalizer(), Normalizer.IDENTITY);
        List<AddedToken> raw = new ArrayList<>(), normalized = new ArrayList<>();
        List<String> rawPatterns = new ArrayList<>(), normalizedPatterns = new ArrayList<>();
        for (AddedToken t : p.addedTokens()) {
            if (t.normalized() && p.normalizer() != null) {
                normalized.add(t);
                normalizedPatterns.add(normalizer.normalize(t.content())); // HF matches the normalized content
            } else {
                raw.add(t);
                rawPatterns.add(t.content());
            }
        }
        this.rawAddedTokens = new AddedTokenSplitter(raw, rawPatterns);
        this.normalizedAddedTokens = new AddedTokenSplitter(normalized, normalizedPatterns);
        this.preTokenizer = Objects.requireNonNullElse(p.preTokenizer(), PreTokenizer.NONE);
        this.model = p.model();
        this.prefix = p.prefix().clone();
        this.suffix = p.suffix().clone();
        this.renderer = p.renderer();
        this.shownRenderer = renderer.showingHidden();
        this.bos = p.bos();
        this.eos = Set.copyOf(p.eos());
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        Objects.requireNonNull(text, "text");
        TokenIds out = new TokenIds();
        if (addSpecialTokens) out.addAll(prefix);
        List<String> pieces = new ArrayList<>();
        for (AddedTokenSplitter.Segment raw : rawAddedTokens.split(text)) {
            if (raw.isToken()) {
                out.add(raw.id());
                continue;
            }
            for (AddedTokenSplitter.Segment part : normalizedAddedTokens.split(normalizer.normalize(raw.text()))) {
                if (part.isToken()) {
                    out.add(part.id());
                    continue;
                }
                pieces.clear();
                preTokenizer.split(part.text(), raw.start() == 0 && part.start() == 0, pieces);
                for (String piece : pieces) model.encode(piece, out);
            }
        }
        if (addSpecialTokens) out.addAll(suffix);
        return out.toArray();
    }

    @Override
    public String decode(int... ids) {
        IncrementalDetokenizer d = newDetokenizer();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(d.push(id));
        return sb.append(d.flush()).toString();
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public OptionalInt bosTokenId() {
        return bos;
    }

    @Override
    public Set<Integer> eosTokenIds() {
        return eos;
    }

    @Override
    public String tokenText(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) throw new IllegalArgumentException("no token with id " + id + " (vocabulary size " + tokens.length + ")");
        return tokens[id];
    }

    @Override
    public IncrementalDetokenizer newDetokenizer() {
        return new IncrementalDetokenizer(renderer);
    }

    @Override
    public IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens) {
        return skipSpecialTokens ? newDetokenizer() : new IncrementalDetokenizer(shownRenderer);
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", " + tokens.length + " tokens]";
    }
}
