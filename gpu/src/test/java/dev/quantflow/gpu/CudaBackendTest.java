package dev.quantflow.gpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.backend.ComputeBackend;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.gpu.backend.CudaBackend;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Without a usable CUDA setup the backend says why, once, and nothing crashes. */
class CudaBackendTest {
    @Test
    void theCpuBackendOffersNoStageOfItsOwn() {
        assertThat(ComputeBackend.forDevice("cpu").stage("cpu", QuantPlan.parse("fp32", List.of()), LinearFactory.DENSE, null, null, new StageLayout(0, 1, KvFormat.F32, 1, 16, 1))).isEmpty();
    }

    @Test
    void registeredThroughServiceLoaderBesideTheCpu() {
        assertThat(ComputeBackend.installed()).extracting(ComputeBackend::name).contains("cpu", "cuda");
        assertThat(ComputeBackend.forDevice("cuda:0")).isInstanceOf(CudaBackend.class);
        assertThatThrownBy(() -> ComputeBackend.forDevice("tpu:0")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown device");
    }

    @Test
    void withoutDriverOrDeviceItReportsUnavailableWithAReason() {
        assumeTrue(CudaRuntime.probe() instanceof CudaRuntime.Unavailable, "this machine has a working CUDA driver and device");
        String reason = ((CudaRuntime.Unavailable) CudaRuntime.probe()).reason();
        assertThat(reason).isNotBlank().doesNotContain("\n").containsAnyOf("driver", "device", "disabled", "JCuda");
        CudaBackend b = new CudaBackend();
        assertThat(b.unavailableReason()).contains(reason);
        assertThat(b.devices()).isEmpty();
        assertThat(b.memoryUsage()).isEmpty();
        assertThatThrownBy(() -> CudaContext.open(0)).isInstanceOf(IllegalStateException.class).hasMessageContaining(reason);
        Path model = SharedData.path("models/stories260K");
        try (WeightStore weights = WeightStore.open(model)) {
            StageLayout layout = new StageLayout(0, 5, KvFormat.F32, 4, 16, 8);
            assertThatThrownBy(() -> b.stage("cuda:0", QuantPlan.parse("llm-int8", List.of()), LinearFactory.DENSE, LlamaConfig.load(model), weights, layout))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining(reason).message().doesNotContain("\n");
        }
        // asked again: the cached answer, no second attempt to load the binding (which would throw NoClassDefFoundError)
        assertThat(((CudaRuntime.Unavailable) CudaRuntime.probe()).reason()).isEqualTo(reason);
    }

    @Test
    void explainsEachFailureInOneLine() {
        assertThat(CudaRuntime.explain(new UnsatisfiedLinkError("/tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: cannot open shared object file: No such file or directory\nmore")))
                .startsWith("no CUDA driver (libcuda.so.1 not found)").doesNotContain("\n");
        assertThat(CudaRuntime.explain(new jcuda.CudaException("CUDA_ERROR_NO_DEVICE"))).startsWith("no CUDA device");
        assertThat(CudaRuntime.explain(new NoClassDefFoundError("Could not initialize class jcuda.driver.JCudaDriver")))
                .contains("failed to initialize earlier");
        assertThat(CudaRuntime.explain(new jcuda.CudaException("CUDA_ERROR_UNKNOWN"))).contains("failed to initialize").contains("CUDA_ERROR_UNKNOWN");
    }

    @Test
    void devicesAreNamedCudaN() {
        assertThat(CudaBackend.ordinal("cuda:1")).isEqualTo(1);
        assertThatThrownBy(() -> CudaBackend.ordinal("cuda")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cuda:N");
        assertThatThrownBy(() -> CudaBackend.ordinal("cuda:-1")).isInstanceOf(IllegalArgumentException.class);
    }
}
