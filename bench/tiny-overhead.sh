#!/usr/bin/env bash
# Per-token overhead on stories260K (issue 14): llama.cpp's llama-bench (tg256, -t 1 and -t 2) against Quantflow's
# `generate --max-tokens 256 --ignore-eos` cold (a fresh JVM; without and with the AOT cache of `quantflow aot-cache`)
# and warm (`bench engine`, one stream, after warm-up requests), alternated round by round; ms per generated token.
# Usage: bench/tiny-overhead.sh [ROUNDS]   (env: LLAMA_BIN=dir of llama-bench, MODEL=HF dir, GGUF=its F32 GGUF file)
set -euo pipefail
HOME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-3}"
LLAMA_BIN="${LLAMA_BIN:-/work/llamacpp/src/build/bin}"
MODEL="${MODEL:-$HOME_DIR/../shared/models/stories260K}"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
GGUF="${GGUF:-$WORK/stories260K-F32.gguf}"
QF="$HOME_DIR/bin/quantflow"
"$QF" --version >/dev/null   # builds once if needed
export QUANTFLOW_NO_BUILD=1 QUANTFLOW_AOT_DIR="$WORK/aot"
[ -f "$GGUF" ] || "$QF" quantize --model "$MODEL" --quant fp32 --format gguf --out "$GGUF" >/dev/null 2>&1
"$QF" aot-cache --model "$MODEL" 2>/dev/null
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, flags: $(grep -o -w -e avx512f -e avx2 /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-26s %9s %9s %s\n' round variant ms/token cpu-ms/t 'note (cpu-ms/t: process CPU of prefill + decode per generated token)'

cold() {   # $1 = variant name, QUANTFLOW_AOT set by the caller
  local err="$WORK/gen.err" t0 t1
  t0=$(date +%s%N)
  "$QF" generate --model "$MODEL" --max-tokens 256 --ignore-eos --seed 1 --prompt "Once upon a time" >/dev/null 2>"$err"
  t1=$(date +%s%N)
  # "load L s | prompt P tokens, X tokens/s | generated N tokens, R tokens/s | finish F | cpu C s in W s"
  awk -v r="$2" -v v="$1" -v wall="$(( (t1 - t0) / 1000000 ))" '/^load / {
      n = $12; tps = $14; cpu = $(NF-4);
      printf "%-5s %-26s %9.3f %9.3f load %s s, process wall %d ms (JVM start, load, prefill, 256 tokens)\n", r, v, 1000 / tps, 1000 * cpu / n, $2, wall }' "$err"
}

for r in $(seq "$ROUNDS"); do
  for t in 1 2; do
    "$LLAMA_BIN/llama-bench" -m "$GGUF" -p 0 -n 256 -t "$t" -o csv 2>/dev/null | awk -F, -v r="$r" -v t="$t" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "avg_ts") c = i } NR == 2 { gsub(/"/, "", $c); printf "%-5s %-26s %9.3f %9s tg256\n", r, "llama.cpp -t " t, 1000 / $c, "-" }'
  done
  QUANTFLOW_AOT=off cold "quantflow cold" "$r"
  QUANTFLOW_AOT=on cold "quantflow cold + AOT cache" "$r"
  "$QF" bench engine --model "$MODEL" --concurrency 1 --requests 4 --max-tokens 256 --prompt-tokens 8 --warmup-requests 4 --json 2>/dev/null \
    | sed -n 's/.*"tpot_p50_ms":\([0-9.]*\),"tpot_p99_ms":\([0-9.]*\).*/\1 \2/p' \
    | awk -v r="$r" '{ printf "%-5s %-26s %9.3f %9s TPOT p50 (p99 %s ms), bench engine, 4 warm-up requests\n", r, "quantflow warm", $1, "-", $2 }'
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
