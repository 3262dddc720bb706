package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The BF16 kernels compiled hot by C2, on the machine's largest species, in a forked JVM
 * (-Xbatch, no tiers: C2 compiles each method as soon as it is hot, so the run is deterministic):
 * C2 once died compiling VectorMath::bf16 on AVX-512 ("vectorSupport.cpp: LSHIFT: float", issue 11
 * item 27). The child first runs byte-to-float conversions as the w8a16 kernels do (the profile the
 * crash was seen with), then checks every compiled result bit for bit against scalar widening.
 * The crash did not reproduce on this project's AVX-512 machine (same JDK build), so the second
 * test checks the construct itself in the engine's bytecode.
 */
class Bf16HotCompileTest {
    private static final int N = 4096 + 13;   // a scalar tail too
    private static final int ITERATIONS = 30_000;

    @Test
    void bf16KernelsSurviveC2AndStayBitIdentical(@TempDir Path dir) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xbatch", "-XX:-TieredCompilation", "-XX:+PrintCompilation", "-Xmx256m",
                "-XX:ErrorFile=" + dir.resolve("hs_err_pid%p.log"), "-XX:ReplayDataFile=" + dir.resolve("replay_pid%p.log"),
                "-cp", System.getProperty("java.class.path"), Child.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).directory(dir.toFile()).start();
        String out;
        try {
            assertThat(p.waitFor(240, TimeUnit.SECONDS)).as("child finished").isTrue();
        } finally {
            out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.destroyForcibly();
        }
        List<String> crashFiles;
        try (var files = Files.list(dir)) {
            crashFiles = files.map(f -> f.getFileName().toString()).toList();
        }
        assertThat(crashFiles).as("JVM crash files; output:\n%s", tail(out)).isEmpty();
        assertThat(p.exitValue()).as(tail(out)).isZero();
        assertThat(out).contains("species " + FloatVector.SPECIES_MAX.vectorBitSize() + " bits", "bit-identical");
        // C2 (the only compiler without tiers) compiled the kernel itself, not only its callers
        assertThat(out).containsPattern("dev\\.quantflow\\.engine\\.compute\\.VectorMath::(bf16|dotBF16|decodeBF16) ");
    }

    /**
     * The construct C2 crashed on: a lanewise op called on the abstract Vector (the type
     * convertShape returns), which C2 may resolve to another lane type's method. Every engine
     * kernel casts to its typed vector (IntVector, FloatVector, ...) first.
     */
    @Test
    void noKernelCallsLanewiseOnTheAbstractVector() throws Exception {
        Path classes = Path.of(VectorMath.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> found = new ArrayList<>();
        int scanned = 0;
        try (var files = Files.walk(classes)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                ClassModel cm = ClassFile.of().parse(f);
                scanned++;
                for (MethodModel m : cm.methods()) {
                    m.code().ifPresent(code -> code.forEach(e -> {
                        if (e instanceof InvokeInstruction i
                                && i.owner().asInternalName().equals("jdk/incubator/vector/Vector") && i.name().stringValue().equals("lanewise"))
                            found.add(cm.thisClass().asInternalName() + "." + m.methodName().stringValue());
                    }));
                }
            }
        }
        assertThat(scanned).as("engine classes scanned").isGreaterThan(100);
        assertThat(found).as("Vector.lanewise call sites").isEmpty();
    }

    private static String tail(String s) {
        return s.length() <= 4000 ? s : s.substring(s.length() - 4000);
    }

    /** The forked JVM: runs the kernels until C2 has compiled them, then compares against scalar widening. */
    public static final class Child {
        public static void main(String[] args) throws IOException {
            VectorSpecies<Float> f = VectorMath.F;
            System.out.println("species " + f.vectorBitSize() + " bits");
            if (f.vectorBitSize() != FloatVector.SPECIES_MAX.vectorBitSize()) System.exit(2);
            SplittableRandom rnd = new SplittableRandom(27);
            byte[] int8 = new byte[N];
            rnd.nextBytes(int8);
            float sink = 0;
            for (int i = 0; i < 5_000; i++) sink += byteToFloat(int8);

            try (Arena arena = Arena.ofConfined()) {
                MemorySegment w = arena.allocate(2L * N, 64);      // every bit pattern (NaN, Inf, subnormals, -0): decoded
                MemorySegment wDot = arena.allocate(2L * N, 64);   // Gaussian weights: the dot
                float[] x = new float[N];
                float[] want = new float[N];
                float[] wantDot = new float[N];
                for (int i = 0; i < N; i++) {
                    short b = (short) rnd.nextInt();
                    w.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, b);
                    want[i] = Float.intBitsToFloat((b & 0xFFFF) << 16);
                    short g = (short) (Float.floatToRawIntBits((float) rnd.nextGaussian()) >>> 16);
                    wDot.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, g);
                    wantDot[i] = Float.intBitsToFloat((g & 0xFFFF) << 16);
                    x[i] = (float) rnd.nextGaussian();
                }
                float[] dst = new float[N];
                MemorySegment dstSeg = arena.allocate(4L * N, 64);
                float dot = 0;
                for (int it = 0; it < ITERATIONS; it++) {
                    dot = VectorMath.dotBF16(wDot, 0, x, 0, N);
                    VectorMath.decodeBF16(w, 0, dst, N);
                    VectorMath.decodeBF16(w, 0, dstSeg, 0, N);
                    if (it % 64 == 0) sink += byteToFloat(int8);
                }
                for (int i = 0; i < N; i++) {
                    if (Float.floatToRawIntBits(dst[i]) != Float.floatToRawIntBits(want[i])
                            || Float.floatToRawIntBits(dstSeg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i)) != Float.floatToRawIntBits(want[i])) {
                        System.out.println("lane " + i + " differs: " + dst[i] + " vs " + want[i]);
                        System.exit(3);
                    }
                }
                double ref = 0;
                for (int i = 0; i < N; i++) ref += (double) wantDot[i] * x[i];
                if (!(Math.abs(dot - ref) <= 1e-3 * (1 + Math.abs(ref)))) {
                    System.out.println("dot " + dot + " vs float64 " + ref);
                    System.exit(4);
                }
            }
            System.out.println("bit-identical " + sink);
        }

        private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(VectorMath.F.length() * 8));

        /** What the w8a16 kernels do: bytes widened to float lanes by a conversion. */
        private static float byteToFloat(byte[] v) {
            FloatVector s = FloatVector.zero(VectorMath.F);
            for (int i = 0; i + B.length() <= v.length; i += B.length())
                s = s.add((FloatVector) ByteVector.fromArray(B, v, i).convertShape(VectorOperators.B2F, VectorMath.F, 0));
            return VectorMath.sumLanes(s);
        }
    }
}
