package dev.quantflow.gpu.stage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.quantflow.gpu.Kernel;
import dev.quantflow.gpu.KernelResources;
import dev.quantflow.gpu.linear.CudaW4A16Linear;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.classfile.instruction.InvokeDynamicInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.constant.DirectMethodHandleDesc;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every kernel a CudaStage can launch is defined in the PTX the jar carries, found without a card:
 * from CudaStage's bytecode, follow every call into our gpu classes (into each implementation of
 * an abstract one such as CudaLinear.run, and through static initializers, where DenseType binds
 * its kernels) and collect the Kernel constants reached.
 */
class CudaStageKernelsTest {
    private static final String ROOT = "dev/quantflow/gpu/";
    private static final String KERNEL = ROOT + "Kernel";
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(");

    @Test
    void theStageReachesEveryStepOfADecoderLayer() {
        Set<Kernel> reached = stageKernels();
        assertThat(reached).contains(Kernel.EMBED_F32, Kernel.EMBED_BF16, Kernel.EMBED_F16, Kernel.RMSNORM, Kernel.ROPE, Kernel.KV_STORE,
                Kernel.ATTENTION, Kernel.SILU_GATE, Kernel.RESIDUAL_ADD);
        // the linears of every scheme, through CudaLinear.run
        assertThat(reached).contains(Kernel.GEMV_F32, Kernel.GEMM_BF16, Kernel.INT8_GEMM, Kernel.INT8_GEMV, Kernel.OUTLIER_FLAGS,
                Kernel.QUANTIZE_MASKED, Kernel.QUANTIZE_ROWS, Kernel.W8A8_GEMM, Kernel.QUANTIZE_GROUPS, Kernel.W4A16_GEMV);
    }

    @Test
    void everyKernelTheStageReachesIsAnEntryOfItsModulesPtx() {
        assumeTrue("built".equals(System.getProperty("quantflow.kernels")), "nvcc not installed: this build has no kernels");
        for (Kernel k : stageKernels()) {
            String ptx = KernelResources.ptx(k.module).orElseThrow(() -> new AssertionError("cuda/" + k.module + ".ptx missing"));
            Set<String> entries = new HashSet<>();
            Matcher m = ENTRY.matcher(ptx);
            while (m.find()) entries.add(m.group(1));
            assertThat(entries).as(k + " in " + k.module + ".ptx").contains(k.entry);
        }
    }

    @Test
    void theAnalysisSeesOnlyWhatIsCalled() {
        assertThat(kernelsReachableFrom(StepIndex.class)).as("host-side bookkeeping").isEmpty();
        assertThat(kernelsReachableFrom(CudaW4A16Linear.class)).containsExactlyInAnyOrder(Kernel.W4A16_GEMV, Kernel.W4A16_GEMM);
    }

    /** The stage's own launches and those of the ops DecoderForward drives on the card (every DecoderOps method). */
    private static Set<Kernel> stageKernels() {
        Set<Kernel> k = kernelsReachableFrom(CudaStage.class);
        k.addAll(kernelsReachableFrom(CudaDecoderOps.class));
        return k;
    }

    record Method(String owner, String name, String type) {}

    static Set<Kernel> kernelsReachableFrom(Class<?> root) {
        Set<Kernel> kernels = EnumSet.noneOf(Kernel.class);
        Set<Method> seen = new HashSet<>();
        Deque<Method> work = new ArrayDeque<>();
        String rootName = root.getName().replace('.', '/');
        for (MethodModel mm : parse(rootName).methods()) work.add(new Method(rootName, mm.methodName().stringValue(), mm.methodType().stringValue()));
        work.add(new Method(rootName, "<clinit>", "()V"));
        while (!work.isEmpty()) {
            Method m = work.poll();
            if (!seen.add(m) || m.owner().equals(KERNEL)) continue;
            ClassModel cls = parse(m.owner());
            boolean found = false;
            for (MethodModel mm : cls.methods()) {
                if (!mm.methodName().stringValue().equals(m.name()) || !mm.methodType().stringValue().equals(m.type())) continue;
                found = true;
                mm.code().ifPresent(code -> code.forEach(e -> {
                    switch (e) {
                        case FieldInstruction f when f.owner().asInternalName().equals(KERNEL) -> {
                            if (f.opcode() == Opcode.GETSTATIC) kernels.add(Kernel.valueOf(f.name().stringValue()));   // a constant, not k.entry
                        }
                        case FieldInstruction f when ours(f.owner().asInternalName()) -> work.add(new Method(f.owner().asInternalName(), "<clinit>", "()V"));
                        case InvokeInstruction i when ours(i.owner().asInternalName()) -> {
                            work.add(new Method(i.owner().asInternalName(), i.name().stringValue(), i.type().stringValue()));
                            work.add(new Method(i.owner().asInternalName(), "<clinit>", "()V"));
                            for (String sub : subclasses(i.owner().asInternalName()))
                                work.add(new Method(sub, i.name().stringValue(), i.type().stringValue()));
                        }
                        case InvokeDynamicInstruction d -> d.bootstrapArgs().forEach(a -> {
                            if (a instanceof DirectMethodHandleDesc h && ours(internal(h.owner().descriptorString())))
                                work.add(new Method(internal(h.owner().descriptorString()), h.methodName(), h.lookupDescriptor()));
                        });
                        default -> {}
                    }
                }));
            }
            // inherited: look the method up in the superclass when this class does not declare it
            if (!found && cls.superclass().isPresent() && ours(cls.superclass().get().asInternalName()))
                work.add(new Method(cls.superclass().get().asInternalName(), m.name(), m.type()));
        }
        return kernels;
    }

    private static boolean ours(String internalName) {
        return internalName.startsWith(ROOT);
    }

    private static String internal(String descriptor) {
        return descriptor.substring(1, descriptor.length() - 1);   // "Lpkg/Cls;" -> "pkg/Cls"
    }

    /** The permitted subclasses of a sealed class (CudaLinear), recursively; virtual calls may land in any. */
    private static Set<String> subclasses(String internalName) {
        Set<String> out = new HashSet<>();
        try {
            Class<?> c = Class.forName(internalName.replace('/', '.'), false, CudaStageKernelsTest.class.getClassLoader());
            if (c.isSealed())
                for (Class<?> s : c.getPermittedSubclasses()) {
                    String name = s.getName().replace('.', '/');
                    out.add(name);
                    out.addAll(subclasses(name));
                }
        } catch (ClassNotFoundException e) {
            throw new AssertionError(e);
        }
        return out;
    }

    private static ClassModel parse(String internalName) {
        try (InputStream in = CudaStageKernelsTest.class.getClassLoader().getResourceAsStream(internalName + ".class")) {
            if (in == null) throw new AssertionError("class file of " + internalName + " not found");
            return ClassFile.of().parse(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
