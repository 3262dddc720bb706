package dev.quantflow.engine.structured;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * What a generation's output must be (structured output): any JSON object, JSON valid for a
 * schema, text matching a regular expression, or one of fixed strings. Plain data (kind, source
 * text, the request field to name in errors); creating one checks and compiles it (compiled
 * automata are cached by constraint, token automata by tokenizer and constraint), so an
 * unsupported schema keyword or a bad regex is refused before the request starts.
 */
public record OutputConstraint(Kind kind, String source, String param) {
    public enum Kind { JSON_OBJECT, JSON_SCHEMA, REGEX, CHOICE }

    private static final int CACHED = 64;
    private static final Map<Spec, ByteDfa> AUTOMATA = lru();
    private static final Map<Key, TokenAutomaton> TOKEN_AUTOMATA = lru();
    private static final Map<Tokenizer, TokenTrie> TRIES = new WeakHashMap<>();

    public OutputConstraint {
        automaton(new Spec(kind, source, param));   // compiles (or finds) it: a bad constraint fails here
    }

    /** {"type": "json_object"}: any JSON object (nesting bounded, see {@link JsonSchemaRx#FREE_DEPTH}). */
    public static OutputConstraint jsonObject(String param) {
        return new OutputConstraint(Kind.JSON_OBJECT, "", param);
    }

    public static OutputConstraint jsonSchema(String param, String schemaJson) {
        return new OutputConstraint(Kind.JSON_SCHEMA, schemaJson, param);
    }

    public static OutputConstraint regex(String param, String regex) {
        return new OutputConstraint(Kind.REGEX, regex, param);
    }

    public static OutputConstraint choice(String param, List<String> choices) {
        if (choices.isEmpty()) throw new ParameterException(param, param + " must list at least one choice");
        try {
            return new OutputConstraint(Kind.CHOICE, new ObjectMapper().writeValueAsString(choices), param);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The byte automaton of the texts allowed. */
    public ByteDfa automaton() {
        return automaton(new Spec(kind, source, param));
    }

    private record Spec(Kind kind, String source, String param) {}

    private static ByteDfa automaton(Spec spec) {
        synchronized (AUTOMATA) {
            ByteDfa d = AUTOMATA.get(spec);
            if (d != null) return d;
        }
        ByteDfa d = ByteDfa.compile(spec.param, expression(spec));
        synchronized (AUTOMATA) {
            AUTOMATA.put(spec, d);
        }
        return d;
    }

    /** The automaton over the tokenizer's vocabulary (its masks are filled lazily and shared by every sequence that uses this constraint). */
    public TokenAutomaton over(Tokenizer tokenizer) {
        Key key = new Key(tokenizer, this);
        synchronized (TOKEN_AUTOMATA) {
            TokenAutomaton a = TOKEN_AUTOMATA.get(key);
            if (a != null) return a;
        }
        TokenTrie trie;
        synchronized (TRIES) {
            trie = TRIES.computeIfAbsent(tokenizer, TokenTrie::of);
        }
        TokenAutomaton a = new TokenAutomaton(automaton(), trie);
        synchronized (TOKEN_AUTOMATA) {
            TOKEN_AUTOMATA.putIfAbsent(key, a);
            return TOKEN_AUTOMATA.get(key);
        }
    }

    private static Rx expression(Spec spec) {
        String param = spec.param, source = spec.source;
        return switch (spec.kind) {
            case JSON_OBJECT -> JsonSchemaRx.anyObject();
            case JSON_SCHEMA -> JsonSchemaRx.of(param, JsonSchemaRx.parseSchema(param, source));
            case REGEX -> RegexParser.parse(param, source);
            case CHOICE -> {
                List<Rx> options = new ArrayList<>();
                try {
                    for (String c : new ObjectMapper().readValue(source, String[].class)) options.add(Rx.literal(c));
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new ParameterException(param, param + " must be a list of strings");
                }
                if (options.isEmpty()) throw new ParameterException(param, param + " must list at least one choice");
                yield Rx.alt(options);
            }
        };
    }

    private record Key(Tokenizer tokenizer, OutputConstraint constraint) {}

    private static <K, V> Map<K, V> lru() {
        return new LinkedHashMap<>(16, 0.75f, true) {
            @Override protected boolean removeEldestEntry(Map.Entry<K, V> e) {
                return size() > CACHED;
            }
        };
    }
}
