package dev.quantflow.actors.arch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.actors.engine.PipelineEngine;
import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.constantpool.ClassEntry;
import java.lang.classfile.constantpool.PoolEntry;
import java.lang.classfile.constantpool.Utf8Entry;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The packages of the actors module form no cycle: read from the compiled classes (every class
 * named in a constant pool, descriptors and generic signatures included), so a fully qualified
 * name or a signature-only use counts as much as an import.
 */
class PackageCycleTest {
    private static final String ROOT = "dev/quantflow/actors/";
    private static final Pattern NAMED = Pattern.compile("L(dev/quantflow/actors/[A-Za-z0-9_$/]+)[;<]");

    @Test
    void actorPackagesAreAcyclic() throws Exception {
        Map<String, Set<String>> deps = dependencies(classesDir());
        assertThat(deps).as("the module's packages were read").containsKeys("engine", "protocol", "scheduler", "stage", "sampler", "tokenize");
        List<Set<String>> cycles = cycles(deps);
        assertThat(cycles).as("package cycles in dev.quantflow.actors (dependencies: %s)", deps).isEmpty();
    }

    @Test
    void behaviorsDependOnTheProtocolNotOnEachOther() throws Exception {
        Map<String, Set<String>> deps = dependencies(classesDir());
        for (String actor : List.of("scheduler", "stage", "sampler", "tokenize"))
            for (String other : List.of("scheduler", "stage", "sampler", "tokenize", "engine"))
                if (!actor.equals(other)) assertThat(deps.getOrDefault(actor, Set.of())).as(actor + " -> " + other).doesNotContain(other);
    }

    @Test
    void aCycleIsFound() {
        Map<String, Set<String>> deps = Map.of("a", Set.of("b"), "b", Set.of("c"), "c", Set.of("a"), "d", Set.of("a"));
        assertThat(cycles(deps)).containsExactly(Set.of("a", "b", "c"));
        assertThat(cycles(Map.of("a", Set.of("b"), "b", Set.of()))).isEmpty();
    }

    static Path classesDir() throws URISyntaxException {
        return Path.of(PipelineEngine.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /** Package (below dev.quantflow.actors) -> the module's packages its classes name. */
    static Map<String, Set<String>> dependencies(Path classes) throws IOException {
        Map<String, Set<String>> deps = new TreeMap<>();
        try (Stream<Path> files = Files.walk(classes.resolve(ROOT))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                ClassModel model = ClassFile.of().parse(f);
                String from = packageOf(model.thisClass().asInternalName());
                Set<String> to = deps.computeIfAbsent(from, k -> new TreeSet<>());
                for (PoolEntry e : model.constantPool()) {
                    if (e instanceof ClassEntry c) add(to, c.asInternalName());
                    else if (e instanceof Utf8Entry u) {
                        Matcher m = NAMED.matcher(u.stringValue());
                        while (m.find()) add(to, m.group(1));
                    }
                }
                to.remove(from);
            }
        }
        return deps;
    }

    private static void add(Set<String> to, String internalName) {
        String name = internalName.startsWith("[") ? internalName.replaceFirst("^\\[+L?", "").replace(";", "") : internalName;
        if (name.startsWith(ROOT)) to.add(packageOf(name));
    }

    private static String packageOf(String internalName) {
        String rest = internalName.substring(ROOT.length());
        int slash = rest.lastIndexOf('/');
        return slash < 0 ? "" : rest.substring(0, slash).replace('/', '.');
    }

    /** The strongly connected components with more than one package (Tarjan). */
    static List<Set<String>> cycles(Map<String, Set<String>> deps) {
        Map<String, Integer> index = new HashMap<>(), low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new TreeSet<>();
        List<Set<String>> out = new ArrayList<>();
        int[] counter = {0};
        for (String v : deps.keySet()) if (!index.containsKey(v)) connect(v, deps, index, low, stack, onStack, out, counter);
        return out;
    }

    private static void connect(String v, Map<String, Set<String>> deps, Map<String, Integer> index, Map<String, Integer> low, Deque<String> stack,
                                Set<String> onStack, List<Set<String>> out, int[] counter) {
        index.put(v, counter[0]);
        low.put(v, counter[0]++);
        stack.push(v);
        onStack.add(v);
        for (String w : deps.getOrDefault(v, Set.of())) {
            if (!index.containsKey(w)) {
                connect(w, deps, index, low, stack, onStack, out, counter);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> component = new TreeSet<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                component.add(w);
            } while (!w.equals(v));
            if (component.size() > 1) out.add(component);
        }
    }
}
