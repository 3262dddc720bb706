#!/usr/bin/env bash
# GPU verification of the CUDA backend, for a machine with a card, nvcc and a JDK 25. Run from the
# repository root: gpu/scripts/verify.sh [model-dir]. Writes logs to $OUT (or target/gpu-verify).
#   1. build everything (the cuda profile compiles the kernels; ptxas reports in gpu/target)
#   2. KernelCheck: every kernel vs the float64 reference on random inputs, several shapes incl.
#      non-tile multiples, poisoned outputs, a synchronize after every launch
#   3. the same (quick shapes) under compute-sanitizer memcheck, racecheck and synccheck
#   4. generate on cuda:0 (dense and llm-int8) vs the CPU, greedy token ids side by side
#   5. KernelBench and the torch baseline (torch._int_mm, fp16 matmul), M in {1,16,256,4096}, K=N=4096
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-target/gpu-verify}
mkdir -p "$OUT"
MODEL=${1:-../shared/models/sotu6M}
status=0
step() { echo; echo "== $*"; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1 | tee "$OUT/device.txt"
nvcc --version | tail -2

step "build"
./mvnw -q -DskipTests package > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; echo "build failed"; exit 1; }
cp gpu/target/ptxas-*.txt "$OUT/" 2>/dev/null
JAVA_HOME=$(bin/find-jdk)
CP="gpu/target/quantflow-gpu-0.1.0-SNAPSHOT.jar:server/target/lib/*"
JAVA=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$CP")

step "kernels vs float64 reference"
"${JAVA[@]}" -Dquantflow.cuda.sync=true dev.quantflow.gpu.verify.KernelCheck --ops cuda 2>&1 | grep -v '^WARNING' | tee "$OUT/kernelcheck.txt"
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

step "generate: CPU vs cuda:0"
PROMPT="The state of the union is"
gen() { QUANTFLOW_NO_BUILD=1 bin/quantflow generate --model "$MODEL" --prompt "$PROMPT" --max-tokens 40 --temperature 0 --ignore-eos --ids "$@"; }
cpu=$(gen --devices cpu 2> "$OUT/gen-cpu.err"); echo "cpu dense      : $cpu"
dense=$(gen --devices cuda:0 --quant dense 2> "$OUT/gen-cuda-dense.err"); echo "cuda:0 dense   : $dense"
int8=$(gen --devices cuda:0 --quant llm-int8 2> "$OUT/gen-cuda-int8.err"); echo "cuda:0 llm-int8: $int8"
tail -1 "$OUT"/gen-*.err
[ -n "$dense" ] && [ "$cpu" = "$dense" ] && echo "dense on cuda:0 matches the CPU exactly" || { echo "dense on cuda:0 differs from the CPU"; status=1; }
python3 - "$cpu" "$int8" <<'PY'
import sys
a, b = sys.argv[1].split(), sys.argv[2].split()
same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
print(f"llm-int8 on cuda:0 agrees with the CPU for the first {same} of {len(a)} greedy tokens")
PY
if [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -ge 2 ]; then
  two=$(gen --devices cuda:0,cuda:1 --stages 2 --quant dense 2> "$OUT/gen-two-cards.err"); echo "cuda:0+cuda:1  : $two"
  [ "$cpu" = "$two" ] || { echo "two-card pipeline differs from the CPU"; status=1; }
fi

step "benchmarks (K = N = 4096)"
"${JAVA[@]}" dev.quantflow.gpu.verify.KernelBench 2>&1 | grep -v '^WARNING' | tee "$OUT/bench-quantflow.csv"
python3 gpu/scripts/bench_torch.py 2>&1 | tee "$OUT/bench-torch.csv"

echo
[ $status -eq 0 ] && echo "verify: all checks passed" || echo "verify: FAILURES (see above and $OUT)"
exit $status
