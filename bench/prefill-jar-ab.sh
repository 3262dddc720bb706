#!/usr/bin/env bash
# Prefill tokens/s of two engine builds alternated in one run (A B, then B A, ...), with the
# command side-by-side-llamacpp.sh uses for Quantflow's prefill (one request at a time, an
# n-token prompt, TTFT -> tokens/s), and llama-bench's prefill of the GGUF type once per round.
# Usage: bench/prefill-jar-ab.sh --work DIR --llama-bin DIR --a ENGINE.jar --b ENGINE.jar
#          [--rounds N] [--tokens 128,512] [--pairs w8a16=Q8_0,...] [--threads T]
#   --work: the side-by-side script's work dir (tinyllama-hf, tinyllama-TYPE.gguf)
set -euo pipefail
HOME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="" LB="" A="" B="" ROUNDS=2 TOKENS=128,512 THREADS=2 SHAPE=tinyllama
PAIRS="w8a16=Q8_0,w4a16-rtn=Q4_0,gguf:Q8_0=Q8_0"
while [ $# -gt 0 ]; do
  case "$1" in
    --work) WORK="$2"; shift 2 ;; --llama-bin) LB="$2"; shift 2 ;; --a) A="$2"; shift 2 ;; --b) B="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;; --tokens) TOKENS="$2"; shift 2 ;; --pairs) PAIRS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    -h|--help) sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -d "$WORK/$SHAPE-hf" ] && [ -f "$A" ] && [ -f "$B" ] || { echo "--work DIR with $SHAPE-hf, --a and --b engine jars are needed" >&2; exit 2; }
(cd "$HOME_DIR" && [ -f server/target/quantflow-server.jar ] || ./mvnw -q -o -DskipTests package >&2)
LIB="$HOME_DIR/server/target/lib/quantflow-engine-0.1.0-SNAPSHOT.jar"
ORIG="$(mktemp)"; cp "$LIB" "$ORIG"; trap 'cp "$ORIG" "$LIB"; rm -f "$ORIG"' EXIT
export QUANTFLOW_NO_BUILD=1   # the engine uses every core (2 here); --threads is llama-bench's -t
args() { case "$1" in gguf:*) echo "--model $WORK/$SHAPE-${1#gguf:}.gguf" ;; *) echo "--model $WORK/$SHAPE-hf --quant $1" ;; esac; }
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) vCPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=',' read -r -a PL <<< "$PAIRS"
for r in $(seq 1 "$ROUNDS"); do
  order="A B"; [ $((r % 2)) = 0 ] && order="B A"
  for p in "${PL[@]}"; do
    q="${p%%=*}" t="${p##*=}"
    if [ -n "$LB" ]; then
      echo "round $r llama.cpp $t prefill $TOKENS tok/s: $("$LB/llama-bench" -m "$WORK/$SHAPE-$t.gguf" -t "$THREADS" -p "$TOKENS" -n 0 -r 3 -o json 2>/dev/null \
        | python3 -c 'import json,sys; print(" ".join("%.1f" % r["avg_ts"] for r in json.load(sys.stdin)))')"
    fi
    for side in $order; do
      jar="$A"; [ "$side" = B ] && jar="$B"
      cp "$jar" "$LIB"
      for n in ${TOKENS//,/ }; do
        # shellcheck disable=SC2046
        out="$("$HOME_DIR/bin/quantflow" bench engine $(args "$q") --concurrency 1 --requests 2 --warmup-requests 1 --prompt-tokens "$n" --max-tokens 1 --json 2>/dev/null | tail -1)"
        echo "round $r $side $q prefill $n tok/s: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(int(sys.argv[2])*1000/d["ttft_p50_ms"],2))' "$out" "$n") (load $(cut -d' ' -f1 /proc/loadavg))"
      done
    done
  done
done
