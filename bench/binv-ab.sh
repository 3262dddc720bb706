#!/usr/bin/env bash
# Before/after A/B of quantized kernels between two builds of the jmh module (QuantKernelAB, one
# thread, GB/s and GFLOP/s per call), alternated A B A B per shape, row count and vector species.
# Usage: bench/binv-ab.sh DIR_A DIR_B "KERNELS" [PAIRS] [SHAPES] [ROWS]
#   DIR_*: a copy of jmh/target's quantflow-jmh.jar and lib/ (cp -r jmh/target/{quantflow-jmh.jar,lib} DIR)
#   e.g. bench/binv-ab.sh /tmp/before /tmp/after "w8a16" 2 "2048x2048 5632x2048 2048x5632" "1 16 128"
set -euo pipefail
A="$1"; B="$2"; KERNELS="$3"; PAIRS="${4:-2}"; SHAPES="${5:-2048x2048 5632x2048 2048x5632}"; ROWS="${6:-1 16 128}"
HOME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA="$("$HOME_DIR/bin/find-jdk")/bin/java"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')  load: $(cat /proc/loadavg)"
for species in 512 256; do
  flags=(); [ "$species" = 256 ] && flags=(-XX:MaxVectorSize=32)
  for shape in $SHAPES; do for rows in $ROWS; do
    for p in $(seq "$PAIRS"); do for side in A B; do
      dir="$A"; [ "$side" = B ] && dir="$B"
      line=$("$JAVA" "${flags[@]}" -Xmx1g --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
        -cp "$dir/quantflow-jmh.jar:$dir/lib/*" dev.quantflow.bench.jmh.QuantKernelAB "$shape" "$rows" 1 5 $KERNELS 2>/dev/null | tail -n +3)
      while read -r k wall best cpu gflops rest; do
        printf '%s-bit %-10s rows=%-4s %s %-12s GB/s %6s  GB/CPU-s %6s  GFLOP/s %7s\n' "$species" "$shape" "$rows" "$side" "$k" "$wall" "$cpu" "$gflops"
      done <<< "$line"
    done; done
  done; done
done
