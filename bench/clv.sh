#!/usr/bin/env bash
# CLV benchmark (issue 5): fit BG/NBD + Gamma-Gamma and score 1 million
# customers, advocacy (through SQL, examples/clv_bench.rs) against the
# Python lifetimes package on the same RFM summary CSV, alternating runs.
#   bash bench/clv.sh            # 1M customers, 3 runs each (GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${RUNS:-3}"
cache="${ADVOCACY_CACHE:-$HOME/.cache/advocacy}"
venv="$cache/bench-venv"
csv="$cache/bench/clv_rfm_1m.csv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import lifetimes' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'lifetimes==0.11.3' 'duckdb>=1.1,<2'
fi
# The first lifetimes run writes the deterministic summary (bench/clv_lifetimes.py).
[ -f "$csv" ] || "$venv/bin/python" bench/clv_lifetimes.py --csv "$csv" >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
cargo build --release --quiet --example clv_bench
bin="$CARGO_TARGET_DIR/release/examples/clv_bench"
mkdir -p bench/data

measure() { # label command...
    local label=$1; shift
    if ! /usr/bin/time -o bench/data/time.txt -f "%e %M" "$@" >"bench/data/$label.out" 2>&1; then
        echo "$label failed:" >&2
        cat "bench/data/$label.out" >&2
        exit 1
    fi
    local out secs kb
    out=$(tail -1 bench/data/time.txt)
    secs=${out% *} kb=${out#* }
    awk -v l="$label" -v s="$secs" -v k="$kb" \
        'BEGIN { printf "%-9s wall %7.2f s  peak RSS %6.0f MiB\n", l, s, k / 1024 }'
}

for i in $(seq "$runs"); do
    measure advocacy "$bin" "$csv" 52 0.10
    measure lifetimes "$venv/bin/python" bench/clv_lifetimes.py --csv "$csv"
done | tee bench/data/clv-results.txt
cat bench/data/advocacy.out
awk '
    { wall[$1] = wall[$1] " " $3; rss[$1] = rss[$1] " " $7 }
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        for (k in wall) printf "median %-9s wall %.2f s, peak RSS %.0f MiB\n", k, median(wall[k]), median(rss[k])
        printf "lifetimes / advocacy wall-time ratio: %.1f\n", median(wall["lifetimes"]) / median(wall["advocacy"])
    }' bench/data/clv-results.txt
