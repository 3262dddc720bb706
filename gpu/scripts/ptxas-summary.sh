#!/usr/bin/env bash
# One table row per kernel and architecture from the ptxas -v reports the build leaves in
# gpu/target/ptxas-*.txt: registers, stack frame, spill stores/loads, static shared memory.
set -euo pipefail
dir=${1:-$(dirname "$0")/../target}
printf '| kernel | arch | registers | stack | spill st/ld | smem |\n|---|---|---|---|---|---|\n'
for f in "$dir"/ptxas-*.txt; do
  awk '
    /Compiling entry function/ { match($0, /\x27[^\x27]+\x27 for \x27sm_[0-9a]+\x27/); s = substr($0, RSTART, RLENGTH); gsub(/\x27/, "", s); split(s, p, " for "); k = p[1]; arch = p[2] }
    /bytes stack frame/ { stack = $1; st = $5; ld = $9 }
    /Used [0-9]+ registers/ { match($0, /Used [0-9]+ registers/); r = substr($0, RSTART + 5, RLENGTH - 15); sm = "0";
      if (match($0, /[0-9]+ bytes smem/)) sm = substr($0, RSTART, RLENGTH - 11);
      printf "| %s | %s | %s | %s | %s/%s | %s |\n", k, arch, r, stack, st, ld, sm }
  ' "$f"
done | sort
