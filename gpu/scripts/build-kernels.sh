#!/usr/bin/env bash
# Compiles every CUDA source into PTX (compute_80) and a fatbin (sm_80 + sm_90 SASS, compute_90
# PTX), and keeps ptxas -v resource usage (registers, spills, shared memory) per file.
# Usage: build-kernels.sh SRC_DIR OUT_DIR REPORT_DIR. Skips files whose outputs are up to date.
set -euo pipefail
src=$1 out=$2 reports=$3
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
mkdir -p "$out" "$reports"
flags=(-std=c++17 -O3 -lineinfo -I"$src" --expt-relaxed-constexpr)

compile() {
  local cu=$1 name
  name=$(basename "$cu" .cu)
  local ptx="$out/$name.ptx" fatbin="$out/$name.fatbin" report="$reports/ptxas-$name.txt"
  if [ "$ptx" -nt "$cu" ] && [ "$fatbin" -nt "$cu" ] && [ -z "$(find "$src" -name '*.cuh' -newer "$fatbin" -print -quit)" ]; then
    return 0
  fi
  "$NVCC" "${flags[@]}" -arch=compute_80 -ptx "$cu" -o "$ptx"
  "$NVCC" "${flags[@]}" --fatbin -Xptxas -v \
    -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90 \
    "$cu" -o "$fatbin" 2> "$report.tmp" || { cat "$report.tmp" >&2; return 1; }
  mv "$report.tmp" "$report"
  echo "nvcc: $name.ptx, $name.fatbin"
}
# Two files at a time (the CI machines have two cores); any failure fails the build.
export -f compile
export NVCC src out reports
export FLAGS="${flags[*]}"
ls "$src"/*.cu | xargs -P "${NVCC_JOBS:-2}" -I{} bash -c 'flags=($FLAGS); compile "$1"' _ {}
