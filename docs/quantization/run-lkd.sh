#!/usr/bin/env bash
# ZeroQuant layer-wise distillation (LKD) table of docs/QUANTIZATION.md: W4 group 64 and the
# paper's mixed W4/W8 (attention int8, MLP int4) before and after LKD, and GPTQ W4 at the same
# group, on stories260K and sotu6M. One JSON line per run into OUT. Run from the project root.
set -euo pipefail
OUT=${OUT:-docs/quantization/results-lkd.jsonl}
QF=${QF:-bin/quantflow}
: > "$OUT"
for base in stories260K sotu6M; do
  S=$([ $base = sotu6M ] && echo ",lkd-steps=100" || echo "")   # sotu6M: 100 steps per layer to fit the shared machine
  LR=$([ $base = sotu6M ] && echo "w4a16-gptq:group=64,lkd=true$S,lkd-lr=5e-6" || echo "")   # the GPTQ start at a smaller step
  while read -r q; do
    [ -n "$q" ] || continue
    # shellcheck disable=SC2086
    $QF eval --model ../shared/models/$base --quant $q --calib ../shared/data/$base-calib.txt --text ../shared/data/$base-eval.txt \
      --max-tokens 2048 --calib-tokens 4096 --speed-tokens 0 --json | tee -a "$OUT"
  done <<SCHEMES
w4a16-rtn:group=64
w4a16-gptq:group=64
w4a16-rtn:group=64,lkd=true$S
w4a16-gptq:group=64,lkd=true$S
$LR
w4a16-rtn:group=64 --quant-layer self_attn=w8a16
w4a16-rtn:group=64,lkd=true$S --quant-layer self_attn=w8a16:lkd=true$S
SCHEMES
done
