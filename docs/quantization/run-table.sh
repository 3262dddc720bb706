#!/usr/bin/env bash
# Evaluates every scheme on stories260K, sotu6M and their outlier-injected variants; one JSON line
# per (model, scheme) into docs/quantization/results.jsonl. Run from the project root. SCHEMES (G
# is substituted, and K: the LKD steps per layer) and OUT select a subset, e.g. the FP8 section's (GGUF rows then only with GGUF=...):
#   SCHEMES='fp8 fp8:format=e4m3,scale=tensor fp8:format=e5m2 fp8:format=e5m2,scale=tensor fp8-w8a8 fp8-w8a8:act=tensor fp8-w8a8:act=static w8a8-dynamic' \
#   OUT=docs/quantization/results-fp8.jsonl docs/quantization/run-table.sh
# After sotu6M's rows come llama.cpp's GGUF files of sotu6M (GGUF, file names in $GGUF_DIR), run as
# stored and scored by the same eval against the same fp32 reference (--reference the HF sotu6M):
# same text, same token positions, same reference logits as our schemes' rows.
# MODELS (default all four: stories260K stories260K-outliers sotu6M sotu6M-outliers) picks models,
# APPEND=1 appends to OUT instead of starting it afresh.
set -euo pipefail
OUT=${OUT:-docs/quantization/results.jsonl}
QF=${QF:-bin/quantflow}
TMP=${TMP:-/tmp/quantflow-quant}
GGUF_DIR=${GGUF_DIR:-../shared/models/sotu6M-gguf}
GGUF=${GGUF-$([ -n "${SCHEMES:-}" ] || echo "sotu6M-F32.gguf sotu6M-F16.gguf sotu6M-Q8_0.gguf sotu6M-Q6_K.gguf sotu6M-Q4_K_M.gguf sotu6M-Q4_0.gguf")}
mkdir -p "$TMP"
MODELS=${MODELS:-stories260K stories260K-outliers sotu6M sotu6M-outliers}
[ "${APPEND:-}" = 1 ] || : > "$OUT"
for base in stories260K sotu6M; do
  [ -d "$TMP/$base-outliers" ] || $QF inject-outliers --model ../shared/models/$base --out "$TMP/$base-outliers" --channels 2 --scale 40 --seed 1
  G=$([ $base = stories260K ] && echo 32 || echo 128)
  K=$([ $base = stories260K ] && echo 200 || echo 100)   # LKD steps per layer (sotu6M: 100, to fit the shared machine)
  for model in ../shared/models/$base "$TMP/$base-outliers"; do
    [[ " $MODELS " == *" $(basename "$model") "* ]] || continue
    ALL="fp32 bf16 w8a8-tensor w8a16 w8a8-dynamic w8a8-dynamic:group=G llm-int8 llm-int8:fp=dequant llm-int8:fp=copy
         smoothquant smoothquant:weights=tensor
         w4a16-rtn:group=32 w4a16-gptq:group=32 w4a16-awq:group=32 w4a16-rtn:group=64 w4a16-gptq:group=64 w4a16-awq:group=64
         w4a16-rtn:group=128 w4a16-gptq:group=128 w4a16-awq:group=128 nf4 fp8 fp8-w8a8
         w4a8-lkd:lkd=false w4a8-lkd:lkd-steps=K"
    for q in ${SCHEMES:-$ALL} "fp32 --kv int8"; do
      [ -z "${SCHEMES:-}" ] || [ "$q" != "fp32 --kv int8" ] || continue
      q=${q//group=G/group=$G}
      q=${q//lkd-steps=K/lkd-steps=$K}
      # shellcheck disable=SC2086
      $QF eval --model "$model" --quant $q --calib ../shared/data/$base-calib.txt --text ../shared/data/$base-eval.txt \
        --max-tokens 2048 --calib-tokens 4096 --speed-tokens 32 --json | tee -a "$OUT"
    done
    if [ "$model" = ../shared/models/sotu6M ]; then
      for f in $GGUF; do
        $QF eval --model "$GGUF_DIR/$f" --reference "$model" --text ../shared/data/$base-eval.txt \
          --max-tokens 2048 --speed-tokens 32 --json | tee -a "$OUT"
      done
    fi
  done
done
