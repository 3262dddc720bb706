#!/usr/bin/env bash
# Kernel micro-benchmarks (JMH): fp32/bf16 matrix-vector (Vector API, 1 and all threads, vs a
# scalar loop) and memory read bandwidth; prints a ratio table after JMH's own.
# Usage: bench/run-jmh.sh [JMH args]   e.g.  bench/run-jmh.sh MatVec -p shape=4096x4096 -wi 2 -i 3
#        bench/run-jmh.sh -h            (this text and JMH's options; runs nothing)
#        bench/run-jmh.sh -l            (the benchmarks; runs nothing)
set -euo pipefail
HOME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
  -h|--help) sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; echo; set -- -h ;;
esac
JAVA_HOME="$("$HOME_DIR/bin/find-jdk")" || exit 1
export JAVA_HOME
(cd "$HOME_DIR" && ./mvnw -q -pl jmh -am -DskipTests package >&2)
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -cp "$HOME_DIR/jmh/target/quantflow-jmh.jar:$HOME_DIR/jmh/target/lib/*" dev.quantflow.bench.jmh.KernelReport "$@"
