#!/usr/bin/env bash
# Serving throughput of two engine builds alternated in one run (A B, then B A, ...): `quantflow
# serve` on one model with each engine jar swapped into server/target/lib in turn, measured by
# `quantflow bench serve` (the side-by-side script's load generator and levels). Run by hand.
# Usage: bench/serve-jar-ab.sh --model-args "--model DIR --quant SCHEME" --a ENGINE.jar --b ENGINE.jar
#          [--rounds N] [--concurrency 4,16] [--max-tokens 64]
set -euo pipefail
HOME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_ARGS="" A="" B="" ROUNDS=2 LEVELS=4,16 TOKENS=64
while [ $# -gt 0 ]; do
  case "$1" in
    --model-args) MODEL_ARGS="$2"; shift 2 ;; --a) A="$2"; shift 2 ;; --b) B="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;; --concurrency) LEVELS="$2"; shift 2 ;; --max-tokens) TOKENS="$2"; shift 2 ;;
    -h|--help) sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$MODEL_ARGS" ] && [ -f "$A" ] && [ -f "$B" ] || { echo "--model-args, --a and --b engine jars are needed" >&2; exit 2; }
(cd "$HOME_DIR" && [ -f server/target/quantflow-server.jar ] || ./mvnw -q -o -DskipTests package >&2)
LIB="$HOME_DIR/server/target/lib/quantflow-engine-0.1.0-SNAPSHOT.jar" QF="$HOME_DIR/bin/quantflow"
ORIG="$(mktemp)"; cp "$LIB" "$ORIG"
trap 'kill ${QPID:-} 2>/dev/null || true; cp "$ORIG" "$LIB"; rm -f "$ORIG"' EXIT   # no server left behind, the jar restored
export QUANTFLOW_NO_BUILD=1
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) vCPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  order="A B"; [ $((r % 2)) = 0 ] && order="B A"
  for side in $order; do
    jar="$A"; [ "$side" = B ] && jar="$B"
    cp "$jar" "$LIB"
    # shellcheck disable=SC2086
    "$QF" serve $MODEL_ARGS --port "$PORT" --grpc-port -1 --max-seqs 16 >/dev/null 2>&1 & QPID=$!
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 1; done
    "$QF" bench serve --url "http://127.0.0.1:$PORT" --concurrency "$LEVELS" --max-tokens "$TOKENS" --no-verify --no-progress --json 2>/dev/null \
      | python3 -c 'import json,sys
for l in sys.stdin:
  d=json.loads(l); print("round %s %s c=%s: %.2f tok/s, TTFT p50 %.0f ms (load %s)" % (sys.argv[1], sys.argv[2], d["concurrency"], d["tokens_per_second"], d["ttft_p50_ms"], open("/proc/loadavg").read().split()[0]))' "$r" "$side"
    kill "$QPID"; wait "$QPID" 2>/dev/null || true; QPID=""
  done
done
