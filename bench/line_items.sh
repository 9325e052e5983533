#!/usr/bin/env bash
# Line-item ingest (issue 10): a UCI "Online Retail"-shaped export loaded
# with a filter, an amount computed by SQL and `line_items: { amount: sum }`,
# against the same file loaded one row per order with neither (the peer:
# what the transform costs). farm-bench runs them in turn; quote medians.
#   bash bench/line_items.sh                 # 1M lines, 5 runs each
#   LINES=200000 RUNS=3 bash bench/line_items.sh
set -euo pipefail
cd "$(dirname "$0")/.."

lines="${LINES:-1000000}"
runs="${RUNS:-5}"
data="$PWD/bench/data/line-items-$lines"
mkdir -p "$data/landing" "$data/queries"
if [ ! -f "$data/landing/retail.csv" ]; then
    python3 bench/gen_line_items.py "$data/landing/retail.csv" "$lines"
fi
common='landing: landing
run: { pii: hash, pii_salt: bench, pii_salt_public: true }
sources:
  - name: retail
    entity: orders
    format: csv
    path: retail.csv'
cat > "$data/line-items.yaml" <<YAML
warehouse: warehouse-line-items
$common
    filter: "\"InvoiceNo\" NOT LIKE 'C%'"
    line_items: { amount: sum }
    columns:
      order_id: InvoiceNo
      customer_id: CustomerID
      ordered_at: { from: InvoiceDate, format: "%m/%d/%y %H:%M" }
      amount: { sql: "CAST(\"Quantity\" AS DOUBLE) * CAST(\"UnitPrice\" AS DOUBLE)" }
YAML
cat > "$data/plain.yaml" <<YAML
warehouse: warehouse-plain
$common
    columns:
      order_id: InvoiceNo
      customer_id: CustomerID
      ordered_at: { from: InvoiceDate, format: "%m/%d/%y %H:%M" }
      amount: UnitPrice
YAML
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${ADVOCACY_CACHE:-$HOME/.cache/advocacy}/target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/advocacy"
# A fresh warehouse each run: the manifest would skip a file already loaded.
ingest() { echo "rm -rf $data/warehouse-$1 && exec $bin ingest -q --config $data/$1.yaml --date 2026-11-01"; }
farm-bench -n "$runs" --timeout 1200 --vs "sh -c '$(ingest plain)'" -- sh -c "$(ingest line-items)"
# One more load, for the counts (read = loaded + quarantined + skipped).
rm -rf "$data/warehouse-line-items"
"$bin" ingest --config "$data/line-items.yaml" --date 2026-11-01 | head -2
