#!/usr/bin/env bash
# Ingest benchmark (issue 3): `advocacy ingest` of a >= 1 GB orders CSV vs
# DuckDB's read_csv + COPY to Parquet of the same file, alternating runs.
# Prints wall seconds, MB/s and peak RSS per run (GNU time), then medians.
#   bash bench/ingest.sh            # 1.1 GB, 3 runs each
#   BYTES=200000000 RUNS=5 bash bench/ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bytes="${BYTES:-1100000000}"
runs="${RUNS:-3}"
threads="$(nproc)"
data=bench/data
csv="$data/landing-$bytes/crm/orders.csv"
venv="${ADVOCACY_CACHE:-$HOME/.cache/advocacy}/bench-venv"

mkdir -p "$data/landing-$bytes/crm" "$data/no-queries"
if [ ! -f "$csv" ]; then
    python3 bench/gen_orders.py "$csv" --bytes "$bytes"
fi
# bench/orders.yaml maps the export; only the landing folder differs by size.
sed -e "s|^landing: .*|landing: landing-$bytes|" -e "s|^warehouse: .*|warehouse: warehouse-$bytes|" \
    -e "s|^queries: .*|queries: no-queries|" bench/orders.yaml > "$data/orders-$bytes.yaml"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'duckdb>=1.1,<2'
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${ADVOCACY_CACHE:-$HOME/.cache/advocacy}/target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/advocacy"
size_mb=$(awk -v b="$(stat -c %s "$csv")" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "file: $csv ($size_mb MB), $threads threads, $runs runs each"

measure() { # label command...
    local label=$1; shift
    if ! /usr/bin/time -o "$data/time.txt" -f "%e %M" "$@" >/dev/null 2>"$data/$label.log"; then
        echo "$label failed:" >&2
        cat "$data/$label.log" >&2
        exit 1
    fi
    local out secs kb
    out=$(tail -1 "$data/time.txt")
    secs=${out% *} kb=${out#* }
    awk -v l="$label" -v s="$secs" -v k="$kb" -v mb="$size_mb" \
        'BEGIN { printf "%-9s wall %7.2f s  %7.1f MB/s  peak RSS %6.0f MiB\n", l, s, mb / s, k / 1024 }'
}

for i in $(seq "$runs"); do
    rm -rf "$data/warehouse-$bytes" "$data/duckdb.parquet"
    measure advocacy "$bin" ingest --config "$data/orders-$bytes.yaml" -q --date 2026-11-01
    measure duckdb "$venv/bin/python" bench/duckdb_ingest.py "$csv" "$data/duckdb.parquet" "$threads"
done | tee "$data/results.txt"

awk '
    { wall[$1] = wall[$1] " " $3; rss[$1] = rss[$1] " " $9 }
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        for (k in wall) printf "median %-9s wall %.2f s, peak RSS %.0f MiB\n", k, median(wall[k]), median(rss[k])
        printf "advocacy / duckdb wall-time ratio: %.2f\n", median(wall["advocacy"]) / median(wall["duckdb"])
    }' "$data/results.txt"
