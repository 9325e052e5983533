#!/usr/bin/env bash
# `advocacy generate` at scale (issue 8): wall time, MB/s written and peak
# RSS (GNU time) for 100k and 1M customers and the heavy profile, medians of
# RUNS runs. Memory must not grow with the customers.
#   bash bench/generate.sh
#   CASES="100000:standard" RUNS=1 bash bench/generate.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${CASES:-100000:standard 1000000:standard 1000000:heavy}"
runs="${RUNS:-3}"
cache="${ADVOCACY_CACHE:-$HOME/.cache/advocacy}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/advocacy"
out=bench/data/generate
mkdir -p bench/data

printf "%-22s %9s %9s %9s %9s\n" case seconds MB "MB/s" "RSS MiB"
for c in $cases; do
    n="${c%%:*}"
    profile="${c##*:}"
    results=()
    for _ in $(seq "$runs"); do
        rm -rf "$out"
        /usr/bin/time -o bench/data/time.txt -f "%e %M" \
            "$bin" generate --out "$out" --customers "$n" --seed 11 --profile "$profile" >/dev/null
        read -r wall kb < <(tail -1 bench/data/time.txt)
        mb=$(du -sb --exclude=README.md "$out" | awk '{printf "%.1f", $1 / 1e6}')
        results+=("$wall $mb $kb")
    done
    printf "%s\n" "${results[@]}" | sort -n | awk -v c="$c" -v runs="$runs" '
        NR == int((runs + 1) / 2) { printf "%-22s %9.2f %9.1f %9.1f %9.0f\n", c, $1, $2, $2 / $1, $3 / 1024 }'
done
rm -rf "$out"
