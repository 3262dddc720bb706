#!/usr/bin/env bash
# GPU verification of the CUDA backend, for a machine with a card, nvcc and a JDK 25. Run from the
# repository root: gpu/scripts/verify.sh [model-dir...]. Writes logs to $OUT (or target/gpu-verify).
#   1. build everything (the cuda profile compiles the kernels; ptxas reports in gpu/target)
#   2. KernelCheck: every kernel vs the float64 reference on random inputs, several shapes incl.
#      non-tile multiples, poisoned outputs, a synchronize after every launch
#   2b. the card against the engine (the CPU ops are the reference): every scheme's CUDA linear on the same
#       codes (EngineLinearsOnCardTest), the whole decoder on the real models (CudaStageAgainstEngineTest)
#   3. the same (quick shapes) under compute-sanitizer memcheck, racecheck and synccheck
#   4. generate with device-resident stages (weights, KV cache and activations on the card) vs the
#      CPU, greedy token ids side by side, for stories260K and sotu6M (or the model given):
#      cuda:0 dense and llm-int8, two stages on one card (cuda:0,cuda:0), two cards if present
#   5. the actor pipeline (serve) on cuda:0 vs the CPU: one greedy completion over HTTP
#   6. KernelBench and the torch baseline (torch._int_mm, fp16 matmul), M in {1,16,256,4096}, K=N=4096
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-target/gpu-verify}
mkdir -p "$OUT"
if [ $# -gt 0 ]; then MODELS=("$@"); else MODELS=(../shared/models/stories260K ../shared/models/sotu6M); fi
status=0
step() { echo; echo "== $*"; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1 | tee "$OUT/device.txt"
nvcc --version | tail -2

step "build"
./mvnw -q -DskipTests package > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; echo "build failed"; exit 1; }
cp gpu/target/ptxas-*.txt "$OUT/" 2>/dev/null
JAVA_HOME=$(bin/find-jdk)
CP="gpu/target/quantflow-gpu-0.1.0-SNAPSHOT.jar:gpu/target/test-classes:server/target/lib/*"   # the harness is test code, not in the jar
JAVA=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$CP")

step "kernels vs float64 reference"
"${JAVA[@]}" -Dquantflow.cuda.sync=true dev.quantflow.gpu.verify.KernelCheck --ops cuda 2>&1 | grep -v '^WARNING' | tee "$OUT/kernelcheck.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "the card vs the engine: every scheme's CUDA linear on the same codes, and the whole decoder on the real models"
./mvnw -q -pl gpu -am test -Dtest=EngineLinearsOnCardTest,CudaStageAgainstEngineTest -Dsurefire.failIfNoSpecifiedTests=false 2>&1 | tee "$OUT/engine-linears.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

if command -v compute-sanitizer > /dev/null; then
  for tool in memcheck racecheck synccheck; do
    step "compute-sanitizer --tool $tool (quick shapes)"
    compute-sanitizer --tool "$tool" --error-exitcode 9 --target-processes all "${JAVA[@]}" dev.quantflow.gpu.verify.KernelCheck --ops cuda --quick \
      > "$OUT/sanitizer-$tool.txt" 2>&1
    rc=$?
    tail -3 "$OUT/sanitizer-$tool.txt"
    [ $rc -eq 0 ] || { echo "compute-sanitizer $tool: exit $rc"; status=1; }
  done
else
  echo "compute-sanitizer not found: skipped (it ships with the CUDA toolkit)"
fi

PROMPT="The state of the union is"
gen() { QUANTFLOW_NO_BUILD=1 bin/quantflow generate --model "$model" --prompt "$PROMPT" --max-tokens 40 --temperature 0 --ignore-eos --ids "$@"; }
agree() {   # agree NAME CPU_IDS OTHER_IDS: how many leading greedy tokens match
  python3 - "$@" <<'PY'
import sys
name, a, b = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
print(f"{name} agrees with the CPU for the first {same} of {len(a)} greedy tokens")
PY
}
cards=$(nvidia-smi -L 2>/dev/null | wc -l)
for model in "${MODELS[@]}"; do
  name=$(basename "$model")
  step "generate on device-resident stages vs the CPU: $name"
  cpu=$(gen --devices cpu 2> "$OUT/gen-$name-cpu.err"); echo "cpu dense            : $cpu"
  dense=$(gen --devices cuda:0 --quant dense 2> "$OUT/gen-$name-cuda-dense.err"); echo "cuda:0 dense         : $dense"
  int8=$(gen --devices cuda:0 --quant llm-int8 2> "$OUT/gen-$name-cuda-int8.err"); echo "cuda:0 llm-int8      : $int8"
  two=$(gen --devices cuda:0,cuda:0 --stages 2 --quant dense 2> "$OUT/gen-$name-one-card-two-stages.err"); echo "cuda:0 x 2 stages    : $two"
  tail -n 1 "$OUT"/gen-"$name"-*.err
  [ -n "$dense" ] && [ "$cpu" = "$dense" ] && echo "dense on cuda:0 matches the CPU exactly" || { echo "dense on cuda:0 differs from the CPU"; agree "dense on cuda:0" "$cpu" "$dense"; status=1; }
  [ -n "$two" ] && [ "$cpu" = "$two" ] && echo "two stages on cuda:0 match the CPU exactly" || { echo "two stages on cuda:0 differ from the CPU"; agree "two stages on cuda:0" "$cpu" "$two"; status=1; }
  [ -n "$int8" ] || { echo "llm-int8 on cuda:0 produced nothing"; status=1; }
  agree "llm-int8 on cuda:0" "$cpu" "$int8"
  if [ "$cards" -ge 2 ]; then
    cards2=$(gen --devices cuda:0,cuda:1 --stages 2 --quant dense 2> "$OUT/gen-$name-two-cards.err"); echo "cuda:0+cuda:1        : $cards2"
    [ "$cpu" = "$cards2" ] || { echo "two-card pipeline differs from the CPU"; status=1; }
  fi
done

step "serve (actor pipeline, stage workers on cuda:0) vs the CPU: $(basename "${MODELS[0]}")"
complete() {   # complete DEVICES PORT: one greedy completion from a fresh server
  QUANTFLOW_NO_BUILD=1 bin/quantflow serve --model "${MODELS[0]}" --devices "$1" --port "$2" --grpc-port -1 > "$OUT/serve-$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$2/health/ready" > /dev/null && break; sleep 0.5; done
  curl -s "http://127.0.0.1:$2/v1/completions" -H 'content-type: application/json' \
    -d "{\"prompt\": \"$PROMPT\", \"max_tokens\": 40, \"temperature\": 0, \"ignore_eos\": true}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["choices"][0]["text"])' 2>> "$OUT/serve-$1.log"
  kill "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
}
served_cpu=$(complete cpu 18181); echo "cpu    : $served_cpu"
served_gpu=$(complete cuda:0 18182); echo "cuda:0 : $served_gpu"
[ -n "$served_gpu" ] && [ "$served_cpu" = "$served_gpu" ] && echo "serve on cuda:0 matches the CPU" || { echo "serve on cuda:0 differs from the CPU (see $OUT/serve-*.log)"; status=1; }

step "benchmarks (K = N = 4096)"
"${JAVA[@]}" dev.quantflow.gpu.verify.KernelBench 2>&1 | grep -v '^WARNING' | tee "$OUT/bench-quantflow.csv"
python3 gpu/scripts/bench_torch.py 2>&1 | tee "$OUT/bench-torch.csv"

echo
[ $status -eq 0 ] && echo "verify: all checks passed" || echo "verify: FAILURES (see above and $OUT)"
exit $status
