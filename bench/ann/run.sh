#!/usr/bin/env bash
# Build then query one engine, each phase its own process, under `nice -n 10`.
# Usage: ./run.sh ENGINE N [clustered|uniform] [more ann-bench flags, e.g. --m 32 --ef 64,128,256]
# Appends one JSON line per phase to results/runs.jsonl (load averages included).
set -euo pipefail
cd "$(dirname "$0")"
engine=$1 n=$2 data=${3:-clustered}
shift $(( $# < 3 ? $# : 3 ))
bin=target/release/ann-bench
nice -n 10 "$bin" build --engine "$engine" --n "$n" --data "$data" "$@"
nice -n 10 "$bin" query --engine "$engine" --n "$n" --data "$data" "$@"
