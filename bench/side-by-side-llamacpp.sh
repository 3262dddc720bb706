#!/usr/bin/env bash
# Quantflow and llama.cpp side by side on this machine, alternated in one run (issue 14). Run by
# hand, not by CI: it builds llama.cpp from source (CPU only, -DGGML_NATIVE=ON), writes one
# random-weight model of a real shape for both (our HF checkpoint; its GGUF F32 by
# `quantflow quantize --format gguf`, which is byte-identical to llama.cpp's converter; F16, Q8_0,
# Q4_0 from it by llama.cpp's own llama-quantize), then prints one table of medians and ratios.
#
# Usage: bench/side-by-side-llamacpp.sh --llama-src DIR [--work DIR] [--rounds N] [--threads T]
#          [--shape tinyllama|sotu6M] [--pairs LIST] [--serve SCHEME] [--serve-gguf TYPE] [--no-serve] [--no-prefill]
#   --llama-src  a llama.cpp checkout (the `fetch` tool brings github:ggerganov/llama.cpp)
#   --shape      tinyllama: TinyLlama-1.1B (hidden 2048, 22 layers, 32/4 heads, 5632, vocab 32000);
#                sotu6M: the shape of ../shared/models/sotu6M (minutes, not an hour)
#   --pairs      comma list of quantflow-scheme=gguf-type (default below); gguf:TYPE runs our
#                engine on llama.cpp's own file of that type; stored:SCHEME on our `quantize --quant
#                SCHEME` output directory (loaded as stored, not quantized at load)
#   --serve      what `quantflow serve` runs against llama-server (default w8a16; gguf:Q8_0 = the same file)
#   --serve-gguf the GGUF type llama-server serves (default Q8_0; Q4_0 for a 4-bit --serve)
set -euo pipefail
HOME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$HOME_DIR/../shared"
LLAMA_SRC="" WORK=/tmp/side-by-side ROUNDS=3 THREADS=2 SHAPE=tinyllama SERVE=1 SERVE_Q=w8a16 SERVE_T=Q8_0 PREFILL=1 SHORT=128 LONG=512
PAIRS="fp32=F32,bf16=F16,w8a16=Q8_0,w8a8-dynamic=Q8_0,llm-int8=Q8_0,w4a16-rtn=Q4_0,gguf:Q8_0=Q8_0,gguf:Q4_0=Q4_0,stored:w8a16=Q8_0,stored:w4a16-rtn=Q4_0"
while [ $# -gt 0 ]; do
  case "$1" in
    --llama-src) LLAMA_SRC="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --shape) SHAPE="$2"; shift 2 ;;
    --pairs) PAIRS="$2"; shift 2 ;;
    --no-serve) SERVE=0; shift ;;
    --serve) SERVE_Q="$2"; shift 2 ;;
    --serve-gguf) SERVE_T="$2"; shift 2 ;;
    --no-prefill) PREFILL=0; shift ;;
    -h|--help) sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$LLAMA_SRC" ] && [ -f "$LLAMA_SRC/CMakeLists.txt" ] || { echo "--llama-src DIR: a llama.cpp source checkout is needed" >&2; exit 2; }
mkdir -p "$WORK"
LOG="$WORK/log.txt"; : > "$LOG"
QF="$HOME_DIR/bin/quantflow"
LB="$LLAMA_SRC/build/bin"
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

# ---- build both ---------------------------------------------------------------------------
if [ ! -x "$LB/llama-bench" ] || [ ! -x "$LB/llama-quantize" ] || [ ! -x "$LB/llama-server" ]; then
  say "building llama.cpp in $LLAMA_SRC/build (CPU, GGML_NATIVE)"
  cmake -S "$LLAMA_SRC" -B "$LLAMA_SRC/build" -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1
  cmake --build "$LLAMA_SRC/build" -j"$(nproc)" --target llama-bench llama-quantize llama-server >>"$LOG" 2>&1
fi
(cd "$HOME_DIR" && ./mvnw -q -o -DskipTests package >>"$LOG" 2>&1 || ./mvnw -q -DskipTests package >>"$LOG" 2>&1)

# ---- the models ---------------------------------------------------------------------------
HF="$WORK/$SHAPE-hf"
if [ ! -f "$HF/config.json" ]; then
  say "writing the random-weight $SHAPE checkpoint to $HF"
  case "$SHAPE" in
    tinyllama) "$QF" synth-model --hidden 2048 --layers 22 --heads 32 --kv-heads 4 --intermediate 5632 --vocab 32000 --dtype bf16 \
                 --tokenizer "$SHARED/tokenizers/llama2" --seed 1 --out "$HF" >>"$LOG" 2>&1 ;;
    sotu6M) "$QF" synth-model --like "$SHARED/models/sotu6M" --dtype bf16 --tokenizer "$SHARED/models/sotu6M" --seed 1 --out "$HF" >>"$LOG" 2>&1 ;;
    *) echo "--shape tinyllama|sotu6M" >&2; exit 2 ;;
  esac
fi
[ "$SHAPE" = sotu6M ] && SHORT=128 LONG=384
gguf() { echo "$WORK/$SHAPE-$1.gguf"; }
if [ ! -f "$(gguf F32)" ]; then
  say "GGUF F32 by quantflow quantize --format gguf"
  "$QF" quantize --model "$HF" --quant fp32 --format gguf --out "$(gguf F32)" >>"$LOG" 2>&1
fi
for t in F16 Q8_0 Q4_0; do
  [ -f "$(gguf $t)" ] || { say "llama-quantize $t"; "$LB/llama-quantize" "$(gguf F32)" "$(gguf $t)" "$t" "$THREADS" >>"$LOG" 2>&1; }
done

stored() { echo "$WORK/$SHAPE-$1-quantized"; }
for p in ${PAIRS//,/ }; do
  case "$p" in stored:*)
    q="${p%%=*}"; q="${q#stored:}"
    [ -f "$(stored "$q")/config.json" ] || { say "quantflow quantize --quant $q"; "$QF" quantize --model "$HF" --quant "$q" --out "$(stored "$q")" >>"$LOG" 2>&1; } ;;
  esac
done

# ---- the machine --------------------------------------------------------------------------
JAVA_HOME="$("$HOME_DIR/bin/find-jdk")"
ISA="$(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || { grep -qw avx2 /proc/cpuinfo && echo AVX2 || echo 'no AVX2'; })"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) vCPUs, $ISA)"
cat > "$WORK/Species.java" <<'EOF'
public class Species { public static void main(String[] a) { System.out.println(jdk.incubator.vector.FloatVector.SPECIES_PREFERRED); } }
EOF
SPECIES="$("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector "$WORK/Species.java" 2>/dev/null)"
say "CPU: $CPU; Vector API species: $SPECIES; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
BW="$("$HOME_DIR/bench/run-jmh.sh" MemoryBandwidth -wi 1 -i 3 -p threads="$THREADS" 2>>"$LOG" | tee -a "$LOG" | grep -Eo '[0-9.]+ GB/s' | tail -1 || true)"
say "memory read bandwidth ($THREADS threads, JMH MemoryBandwidthBenchmark): ${BW:-not measured}"

# ---- one measurement each ---------------------------------------------------------------
RES="$WORK/results.tsv"; : > "$RES"   # round, metric, program, pair, value
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RES"; }
lb_json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(str(r["avg_ts"]) for r in d))'; }
maxrss_mb() { awk -F: '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }

qf_args() {   # scheme or gguf:TYPE -> --model/--quant arguments
  case "$1" in gguf:*) echo "--model $(gguf "${1#gguf:}")" ;; stored:*) echo "--model $(stored "${1#stored:}")" ;; *) echo "--model $HF --quant $1" ;; esac
}

decode_pair() {   # round pair-quantflow pair-gguf
  local r="$1" q="$2" t="$3" out
  out="$("$LB/llama-bench" -m "$(gguf "$t")" -t "$THREADS" -p 0 -n 64 -r 3 -o json 2>>"$LOG" | lb_json)"
  rec "$r" decode llama.cpp "$t" "$out"
  /usr/bin/time -v "$LB/llama-bench" -m "$(gguf "$t")" -t "$THREADS" -p 0 -n 16 -r 1 -o json >/dev/null 2>"$WORK/time.txt" || true
  rec "$r" rss_mb llama.cpp "$t" "$(maxrss_mb "$WORK/time.txt")"
  # shellcheck disable=SC2046
  /usr/bin/time -v "$QF" generate $(qf_args "$q") --prompt "Hello" --max-tokens 64 --ignore-eos >"$WORK/qf.txt" 2>"$WORK/time.txt" || true
  grep -h 'tokens/s' "$WORK/qf.txt" "$WORK/time.txt" >> "$LOG" || true
  rec "$r" decode quantflow "$q" "$(grep -ho 'generated [0-9]* tokens, [0-9.]* tokens/s' "$WORK/qf.txt" "$WORK/time.txt" | grep -o '[0-9.]* tokens/s' | cut -d' ' -f1)"
  rec "$r" load_s quantflow "$q" "$(grep -ho 'load [0-9.]* s' "$WORK/qf.txt" "$WORK/time.txt" | cut -d' ' -f2)"
  rec "$r" rss_mb quantflow "$q" "$(maxrss_mb "$WORK/time.txt")"
  # warm, as llama-bench times (it runs a warm-up first): one 64-token request compiles the kernels,
  # then the time per output token of two more in the same JVM
  # shellcheck disable=SC2046
  out="$("$QF" bench engine $(qf_args "$q") --concurrency 1 --requests 2 --warmup-requests 1 --prompt-tokens 8 --max-tokens 64 --json 2>>"$LOG" | tail -1)"
  rec "$r" decode_warm quantflow "$q" "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(1000/d["tpot_p50_ms"],2))' "$out" 2>/dev/null || true)"
}

prefill_pair() {
  local r="$1" q="$2" t="$3" n out
  out="$("$LB/llama-bench" -m "$(gguf "$t")" -t "$THREADS" -p "$SHORT,$LONG" -n 0 -r 3 -o json 2>>"$LOG" | lb_json)"
  rec "$r" prefill_short llama.cpp "$t" "${out%% *}"; rec "$r" prefill_long llama.cpp "$t" "${out##* }"
  for n in "$SHORT" "$LONG"; do
    # one request at a time: TTFT of an n-token prompt is its prefill plus one sampled token
    # shellcheck disable=SC2046
    out="$("$QF" bench engine $(qf_args "$q") --concurrency 1 --requests 2 --warmup-requests 1 --prompt-tokens "$n" --max-tokens 1 --json 2>>"$LOG" | tail -1)"
    rec "$r" "$([ "$n" = "$SHORT" ] && echo prefill_short || echo prefill_long)" quantflow "$q" "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(int(sys.argv[2])*1000/d["ttft_p50_ms"],2))' "$out" "$n")"
  done
}

IFS=',' read -r -a PAIR_LIST <<< "$PAIRS"
for r in $(seq 1 "$ROUNDS"); do
  for p in "${PAIR_LIST[@]}"; do
    q="${p%%=*}" t="${p##*=}"
    say "round $r: decode $q vs $t"
    decode_pair "$r" "$q" "$t"
    if [ "$PREFILL" = 1 ]; then say "round $r: prefill $q vs $t"; prefill_pair "$r" "$q" "$t"; fi
  done
done

if [ "$SERVE" = 1 ]; then
  # free ports, and no gRPC listener: other runs of this script on the machine (fixed ports 18431/18432 and
  # gRPC's 50051 before) answered each other's load generator, or refused to start
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  PORT_L="$(free_port)" PORT_Q="$(free_port)"
  trap 'for p in ${LPID:-} ${QPID:-}; do kill "$p" 2>/dev/null || true; done' EXIT   # an aborted run leaves no server behind
  for r in $(seq 1 "$ROUNDS"); do
    say "round $r: serving, llama-server -np 16 ($SERVE_T) vs quantflow serve $SERVE_Q"
    "$LB/llama-server" -m "$(gguf "$SERVE_T")" -t "$THREADS" -np 16 -c $((16 * 256)) --port "$PORT_L" >>"$LOG" 2>&1 & LPID=$!
    for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT_L/health" >/dev/null && break; sleep 1; done
    "$QF" bench serve --url "http://127.0.0.1:$PORT_L" --concurrency 1,4,16 --max-tokens 64 --no-verify --no-progress --json 2>>"$LOG" \
      | python3 -c 'import json,sys
for l in sys.stdin:
  d=json.loads(l); print("%s\t%s\t%s" % (d["concurrency"], d["tokens_per_second"], d["ttft_p50_ms"]))' \
      | while IFS=$'\t' read -r c tps ttft; do rec "$r" "serve_tps_c$c" llama.cpp "$SERVE_T" "$tps"; rec "$r" "serve_ttft_ms_c$c" llama.cpp "$SERVE_T" "$ttft"; done \
      || say "llama-server: the load generator reported failed requests (its levels above are recorded; see $LOG)"
    kill "$LPID"; wait "$LPID" 2>/dev/null || true
    # shellcheck disable=SC2046
    "$QF" serve $(qf_args "$SERVE_Q") --port "$PORT_Q" --grpc-port -1 --max-seqs 16 >>"$LOG" 2>&1 & QPID=$!
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT_Q/health/ready" >/dev/null && break; sleep 1; done
    "$QF" bench serve --url "http://127.0.0.1:$PORT_Q" --concurrency 1,4,16 --max-tokens 64 --no-verify --no-progress --json 2>>"$LOG" \
      | python3 -c 'import json,sys
for l in sys.stdin:
  d=json.loads(l); print("%s\t%s\t%s" % (d["concurrency"], d["tokens_per_second"], d["ttft_p50_ms"]))' \
      | while IFS=$'\t' read -r c tps ttft; do rec "$r" "serve_tps_c$c" quantflow "$SERVE_Q" "$tps"; rec "$r" "serve_ttft_ms_c$c" quantflow "$SERVE_Q" "$ttft"; done \
      || say "quantflow serve: the load generator reported failed requests (see $LOG)"
    kill "$QPID"; wait "$QPID" 2>/dev/null || true
  done
fi
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the table ----------------------------------------------------------------------------
python3 - "$RES" "$PAIRS" "$CPU" "$SPECIES" "${BW:-n/a}" "$SHAPE" "$THREADS" "$ROUNDS" "$SHORT" "$LONG" "$SERVE_Q" "$SERVE_T" <<'EOF'
import sys, statistics, collections
res, pairs, cpu, species, bw, shape, threads, rounds, short, long_, serve_q, serve_t = sys.argv[1:]
v = collections.defaultdict(list)
for line in open(res):
    r, metric, prog, pair, value = line.rstrip("\n").split("\t")
    try: v[(metric, prog, pair)].append(float(value))
    except ValueError: pass
med = lambda k: statistics.median(v[k]) if v.get(k) else None
fmt = lambda x: "-" if x is None else ("%.2f" % x)
ratio = lambda a, b: "-" if a is None or b is None or b == 0 else "%.2fx" % (a / b)
print(f"\nshape {shape}, {threads} threads, {rounds} alternated rounds (medians); CPU {cpu}; species {species}; read bandwidth {bw}\n")
print(f"| quantflow | llama.cpp | decode tok/s, cold JVM (qf / llama.cpp / ratio) | decode tok/s, warm (qf / llama.cpp / ratio) | prefill {short} tok/s | prefill {long_} tok/s | peak RSS MB (qf / llama.cpp) | qf load s |")
print("|---|---|---|---|---|---|---|---|")
for p in pairs.split(","):
    q, t = p.split("=")
    row = [q, t]
    for m in ("decode", "decode_warm", "prefill_short", "prefill_long"):
        a, b = med((m, "quantflow", q)), med(("decode" if m == "decode_warm" else m, "llama.cpp", t))
        row.append(f"{fmt(a)} / {fmt(b)} / {ratio(a, b)}")
    row.append(f"{fmt(med(('rss_mb', 'quantflow', q)))} / {fmt(med(('rss_mb', 'llama.cpp', t)))}")
    row.append(fmt(med(("load_s", "quantflow", q))))
    print("| " + " | ".join(row) + " |")
serve = sorted({k[0] for k in v if k[0].startswith("serve_")})
if serve:
    print(f"\n| serving ({serve_q} vs {serve_t}, 64 tokens) | quantflow | llama-server -np 16 | ratio |")
    print("|---|---|---|---|")
    for m in serve:
        a, b = med((m, "quantflow", serve_q)), med((m, "llama.cpp", serve_t))
        print(f"| {m} | {fmt(a)} | {fmt(b)} | {ratio(a, b)} |")
EOF
