#!/usr/bin/env bash
# Kernel micro-benchmarks (JMH): fp32/bf16 matrix-vector (Vector API, 1 and all threads, vs a
# scalar loop) and memory read bandwidth; prints a ratio table after JMH's own.
# Usage: bench/run-jmh.sh [JMH args]   e.g.  bench/run-jmh.sh MatVec -p shape=4096x4096 -wi 2 -i 3
#        bench/run-jmh.sh -h            (JMH's options)
set -euo pipefail
HOME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$HOME_DIR/bin/find-jdk")" || exit 1
export JAVA_HOME
(cd "$HOME_DIR" && ./mvnw -q -pl bench -am -DskipTests package >&2)
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -cp "$HOME_DIR/bench/target/quantflow-bench.jar:$HOME_DIR/bench/target/lib/*" dev.quantflow.bench.jmh.KernelReport "$@"
