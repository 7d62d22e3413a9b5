#!/usr/bin/env bash
# Clean release build time of each candidate alone, one after another, under `nice -n 10`.
# Usage: ./buildcost.sh [feature...]   (default: all); appends to results/buildcost.tsv
set -euo pipefail
cd "$(dirname "$0")/buildcost"
mkdir -p ../results
features=("$@")
[ ${#features[@]} -gt 0 ] || features=(usearch-default usearch-nodefault hnsw_rs hannoy arroy qdrant-edge)
cargo fetch --quiet
for f in "${features[@]}"; do
  cargo clean --quiet
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  start=$(date +%s.%N)
  if nice -n 10 cargo build --release --quiet --features "$f" 2> "../results/buildcost-$f.log"; then status=ok; else status=FAILED; fi
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc)
  crates=$(cargo tree --features "$f" -e normal --prefix none 2>/dev/null | sort -u | wc -l)
  printf '%s\t%s\t%.1f\t%s\t%s\t%s\n' "$f" "$status" "$secs" "$crates" "$load" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a ../results/buildcost.tsv
done
