#!/usr/bin/env bash
# Record shapes (issue 29): how long `advocacy ingest` takes over the
# shapes that need more than a path per field: lookups in each record's own
# name/value pairs (Salesforce), lookups by `where` (Typeform) and an
# unpivoted wide file (the ECB's history). Prints each file's seconds per
# run (the sources load concurrently, so the whole run is also shown),
# then the medians. The peer, in the same runs: the Salesforce file mapped
# by position (`columns.2.value`), the workaround the lookup replaces,
# which reads the same values as long as the view's columns never move.
#   bash bench/record_shapes.sh          # 100,000 contacts and responses, 5 runs
#   N=20000 RUNS=3 bash bench/record_shapes.sh
set -euo pipefail
cd "$(dirname "$0")/.."

n="${N:-100000}"
runs="${RUNS:-5}"
data=bench/data/record-shapes-$n
if [ ! -f "$data/landing/ecb/eurofxref-hist.csv" ]; then
    python3 bench/gen_record_shapes.py "$data/landing" "$n"
fi
mkdir -p "$data/no-queries"
cp bench/record_shapes.yaml "$data/config.yaml"
# Salesforce alone, by name: the figure the peer is compared with (in the
# whole run it shares the 2 cores with the other sources).
python3 - "$data" <<'PY'
import sys
text = open("bench/record_shapes.yaml").read()
head, rest = text.split("sources:\n", 1)
salesforce = rest.split("  - name: typeform")[0]
open(f"{sys.argv[1]}/by-name.yaml", "w").write(
    head.replace("warehouse: warehouse", "warehouse: warehouse-by-name") + "sources:\n" + salesforce)
PY
cat > "$data/positional.yaml" <<'YAML'
landing: landing
warehouse: warehouse-positional
queries: no-queries
run: { pii: hash, pii_salt: bench, pii_salt_public: true }
sources:
  - name: salesforce
    entity: customers
    format: json
    path: sf/contacts.json
    records: /records
    columns: { customer_id: columns.2.value, name: columns.0.value, email: columns.1.value,
               signup_date: columns.3.value, country: columns.4.value }
YAML
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${ADVOCACY_CACHE:-$HOME/.cache/advocacy}/target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/advocacy"

for i in $(seq "$runs"); do
    rm -rf "$data/warehouse"
    rm -rf "$data/warehouse-positional" "$data/warehouse-by-name"
    /usr/bin/time -o "$data/time.txt" -f "%e %M" "$bin" ingest --config "$data/config.yaml" -q --date 2026-11-01
    "$bin" ingest --config "$data/by-name.yaml" -q --date 2026-11-01
    "$bin" ingest --config "$data/positional.yaml" -q --date 2026-11-01
    python3 - "$data" <<'PY'
import json, sys
data = sys.argv[1]
positional = json.load(open(f"{data}/warehouse-positional/_runs/latest.json"))
by_name = json.load(open(f"{data}/warehouse-by-name/_runs/latest.json"))
record = json.load(open(f"{data}/warehouse/_runs/latest.json"))
wall, kb = open(f"{data}/time.txt").read().split()
cells = [f"whole {float(wall):.2f} s {int(kb) / 1024:.0f} MiB"]
for source in record["ingest"]["sources"]:
    for f in source["files"]:
        cells.append(f"{source['source']} {f['seconds']:.2f} s ({f['rows_read']} read)")
for label, alone in (("by-name", by_name), ("by-position", positional)):
    for f in alone["ingest"]["sources"][0]["files"]:
        cells.append(f"{label} {f['seconds']:.2f} s ({f['rows_read']} read)")
print("  ".join(cells))
PY
done | tee "$data/results.txt"

python3 - "$data/results.txt" <<'PY'
import statistics, sys
runs = [line.split("  ") for line in open(sys.argv[1]) if line.strip()]
for column in range(len(runs[0])):
    label = runs[0][column].split(" ")[0]
    seconds = [float(run[column].split(" ")[1]) for run in runs]
    print(f"median {label:<12} {statistics.median(seconds):.2f} s")
ratios = [float(run[-2].split(" ")[1]) / float(run[-1].split(" ")[1]) for run in runs]
print(f"salesforce alone, by name / by position, run by run, median: {statistics.median(ratios):.2f}")
PY
