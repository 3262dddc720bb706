package dev.quantflow.gpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.Int4GroupLinear;
import dev.quantflow.engine.quant.Int4Packing;
import dev.quantflow.engine.quant.LinearNames;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedCheckpoint;
import dev.quantflow.engine.quant.QuantizedMatrix;
import dev.quantflow.engine.quant.QuantizedModels;
import dev.quantflow.gpu.linear.CudaFormat;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A `quantize` output goes to a card as stored: every layer's codes are the ones the CPU loader reads, none re-quantized. */
class QuantizedCheckpointOnCardTest {
    @Test
    void everyLayerOfAnInt4CheckpointUploadsItsStoredCodes(@TempDir Path out) throws Exception {
        Path model = SharedData.path("models/sotu6M");
        Path q = out.resolve("q4");
        LlamaConfig c = LlamaConfig.load(model);
        try (WeightStore w = WeightStore.open(model)) {
            var built = QuantizedModels.build(c, w, QuantPlan.parse("w4a16-rtn:group=32", List.of()), Optional.empty(), QuantizedModels.Options.DEFAULT);
            QuantizedCheckpoint.save(built, model, q, QuantizedCheckpoint.Format.QUANTFLOW);
        }
        assertThat(Files.exists(q.resolve("config.json"))).isTrue();
        LlamaConfig qc = LlamaConfig.load(q);
        try (WeightStore store = WeightStore.open(q)) {
            LinearFactory loader = QuantizedCheckpoint.loader(qc, store);
            int layers = 0;
            for (String name : LinearNames.all(qc)) {
                if (name.equals("lm_head")) continue;   // stored dense: the card takes the tensor as it is
                int outF = name.contains("mlp.down") ? qc.hiddenSize() : name.contains("mlp.") ? qc.intermediateSize()
                        : name.contains("k_proj") || name.contains("v_proj") ? qc.kvDim() : qc.hiddenSize();
                int inF = name.contains("mlp.down") ? qc.intermediateSize() : name.contains("o_proj") ? qc.qDim() : qc.hiddenSize();
                Linear cpu = loader.fromStore(name, outF, inF, null).orElseThrow();
                CudaFormat.W4A16 card = (CudaFormat.W4A16) CudaFormat.fromStore(name, outF, inF, null, loader).orElseThrow();
                QuantizedMatrix m = Int4Packing.toUnsigned(((Int4GroupLinear) cpu).weights());
                assertThat(card.weights().packed()).as(name).isEqualTo(Int4Packing.pack(m.q(), m.rows(), m.cols()));
                assertThat(card.weights().scales()).as(name).isEqualTo(m.scales());
                layers++;
            }
            assertThat(layers).isEqualTo(7 * qc.numLayers());
        }
    }
}
