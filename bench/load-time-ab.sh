#!/usr/bin/env bash
# Load time of two builds, alternated (A B A B ...) in one run: `generate --max-tokens 1` per case,
# its "load N s" line, the process's CPU seconds (user + sys: on a shared machine wall time is
# mostly waiting for a core; "load cpu": the process's CPU during the load alone) and peak RSS. A build
# is a directory with quantflow-server.jar and lib/ (a copy of server/target's, e.g. with another
# quantflow-engine jar); each runs through the launcher (bin/quantflow's JVM flags and heap) from a home
# of its own.
#
#   bench/load-time-ab.sh ROUNDS BUILD_A BUILD_B 'NAME|ARGS_A|ARGS_B' ...
#   e.g. bench/load-time-ab.sh 3 /tmp/before server/target \
#          'stored w8a16|--model /tmp/old-w8a16|--model /tmp/new-w8a16' \
#          'at-load w8a16|--model HF --quant w8a16|--model HF --quant w8a16'
# Prints one TSV row per run: case, build, round, load_s, load_cpu_s, cpu_s, wall_s, peak_rss_mb, and the RSS
# right after the load (generate's "rss after load": all, anon, file; empty for a build that does not print it).
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,10p "$0"; exit 2; }
ROUNDS="$1" BUILD_A="$(readlink -f "$2")" BUILD_B="$(readlink -f "$3")"; shift 3
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
for b in A B; do
  mkdir -p "$WORK/$b/server/target"
  cp -r "$REPO/bin" "$WORK/$b/bin"
  build="BUILD_$b"; ln -s "${!build}/lib" "$WORK/$b/server/target/lib"
  cp "${!build}/quantflow-server.jar" "$WORK/$b/server/target/quantflow-server.jar"
done
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'case\tbuild\tround\tload_s\tload_cpu_s\tcpu_s\twall_s\tpeak_rss_mb\tload_rss_mb\tload_anon_mb\tload_file_mb\n'
for r in $(seq 1 "$ROUNDS"); do
  for c in "$@"; do
    IFS='|' read -r name args_a args_b <<<"$c"
    for b in A B; do
      args="args_$(tr A-B a-b <<<"$b")"
      # shellcheck disable=SC2086
      QUANTFLOW_NO_BUILD=1 /usr/bin/time -f 'TIME %U %S %e %M' "$WORK/$b/bin/quantflow" generate ${!args} --prompt Hello --max-tokens 1 \
        >/dev/null 2>"$WORK/err" || { echo "# $name $b failed: $(tail -3 "$WORK/err")"; continue; }
      load="$(grep -o '^load [0-9.]* s' "$WORK/err" | cut -d' ' -f2)" load_cpu="$(grep -o 'load cpu [0-9.]* s' "$WORK/err" | cut -d' ' -f3)"
      read -r u s e m < <(grep '^TIME' "$WORK/err" | cut -d' ' -f2-)
      read -r lr la lf < <(grep -o 'rss after load [0-9]* MB (anon [0-9]*, file [0-9]*)' "$WORK/err" | tr -dc '0-9 ' | xargs; echo)
      printf '%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%.0f\t%s\t%s\t%s\n' "$name" "$b" "$r" "$load" "$load_cpu" "$(echo "$u + $s" | bc)" "$e" "$(echo "$m / 1024" | bc)" "${lr:-}" "${la:-}" "${lf:-}"
    done
  done
done
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
