package dev.quantflow.engine.compute;

/**
 * A linear whose weight rows can be decoded one at a time, in their input-column order. A tied
 * model's quantized lm_head is also its embedding table: each looked-up token decodes its one row
 * from the head's packed codes, so no fp32 (or bf16) copy of the table stays resident, and the
 * embedding sees exactly the weights the logits do (as llama.cpp's quantized token_embd).
 */
public interface RowDecodable extends Linear {
    /** dst[off .. off + inFeatures()) = row of W (0 <= row < outFeatures()), dequantized. */
    void decodeRow(int row, float[] dst, int off);
}
