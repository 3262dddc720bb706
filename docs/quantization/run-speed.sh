#!/usr/bin/env bash
# Decode speed of the schemes on a synthetic 1.1B (TinyLlama-shaped) model, where weight bytes decide
# speed: 32 greedy tokens after a short prompt, each scheme REPEAT times. Run from the project root.
set -euo pipefail
QF=${QF:-bin/quantflow}
F32=${F32:-/tmp/quantflow-tinyllama-f32}
BF16=${BF16:-/tmp/tinyllama-bf16}
REPEAT=${REPEAT:-2}
SHAPE=(--hidden 2048 --layers 22 --heads 32 --kv-heads 4 --intermediate 5632 --vocab 32000 --tokenizer ../shared/tokenizers/llama2 --seed 1)
[ -f "$F32/model.safetensors" ] || $QF synth-model "${SHAPE[@]}" --dtype f32 --out "$F32"
[ -f "$BF16/model.safetensors" ] || $QF synth-model "${SHAPE[@]}" --dtype bf16 --out "$BF16"
run() {  # label, model, args...
  local label=$1 model=$2; shift 2
  for i in $(seq "$REPEAT"); do
    line=$($QF generate --model "$model" --prompt "Once upon a time" --max-tokens 32 --ignore-eos "$@" 2>&1 >/dev/null | grep '^load' || true)
    echo "$label | $line"
  done
}
run fp32 "$F32"
run bf16 "$BF16"
for q in w8a16 llm-int8 w8a8-dynamic w4a16-rtn:group=128; do run "$q" "$F32" --quant "$q"; done
run "fp32 --kv int8" "$F32" --kv int8
