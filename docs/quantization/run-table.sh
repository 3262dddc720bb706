#!/usr/bin/env bash
# Evaluates every scheme on stories260K, sotu6M and their outlier-injected variants; one JSON line
# per (model, scheme) into docs/quantization/results.jsonl. Run from the project root.
set -euo pipefail
OUT=${OUT:-docs/quantization/results.jsonl}
QF=${QF:-bin/quantflow}
TMP=${TMP:-/tmp/quantflow-quant}
mkdir -p "$TMP"
: > "$OUT"
for base in stories260K sotu6M; do
  [ -d "$TMP/$base-outliers" ] || $QF inject-outliers --model ../shared/models/$base --out "$TMP/$base-outliers" --channels 2 --scale 40 --seed 1
  G=$([ $base = stories260K ] && echo 32 || echo 128)
  for model in ../shared/models/$base "$TMP/$base-outliers"; do
    for q in fp32 bf16 w8a8-tensor w8a16 w8a8-dynamic w8a8-dynamic:group=$G llm-int8 llm-int8:fp=dequant llm-int8:fp=copy \
             smoothquant smoothquant:weights=tensor w4a16-rtn:group=$G w4a16-gptq:group=$G w4a16-awq:group=$G "fp32 --kv int8"; do
      # shellcheck disable=SC2086
      $QF eval --model "$model" --quant $q --calib ../shared/data/$base-calib.txt --text ../shared/data/$base-eval.txt \
        --max-tokens 2048 --calib-tokens 4096 --speed-tokens 32 --json | tee -a "$OUT"
    done
  done
done
