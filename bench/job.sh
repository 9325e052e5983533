#!/usr/bin/env bash
# Whole-job benchmark (issue 8): `advocacy run` of the bundled config on
# generated companies against DuckDB doing the same work (bench/duckdb/job.py:
# every export to Parquet, then the same models over the same raw zone),
# alternating runs. Prints per run: wall time per phase, rows/s and peak RSS
# (GNU time); then medians and advocacy/DuckDB ratios.
#   bash bench/job.sh                          # 100k and 1M customers, 3 runs each
#   SIZES=100000 RUNS=5 bash bench/job.sh
#   PROFILES="standard heavy" bash bench/job.sh  # also ~20 orders per customer
#   MODES="full nochange" bash bench/job.sh    # also a night with no new export
#   MODES="full nightly" bash bench/job.sh     # also a night with one new day
# Modes (issue 32): `full` is the first night, from an empty warehouse.
# `nochange` runs advocacy again after it with nothing new landed: every
# model and data test is reused (`--full-refresh` would recompute them).
# `nightly` runs advocacy on the exports without their last day
# (bench/split_day.py moves it into files of its own), dated that day, and
# then lands the day's files and times the next night, against DuckDB's
# full run of the same exports.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes="${SIZES:-100000 1000000}"
profiles="${PROFILES:-standard}"
runs="${RUNS:-3}"
modes="${MODES:-full}"
# The day after the generated exports end (2026-10-31): a later date finds
# the orders stale (the bundled freshness bounds) and exits 3.
date="${RUN_DATE:-2026-11-01}"
threads="$(nproc)"
data=bench/data
cache="${ADVOCACY_CACHE:-$HOME/.cache/advocacy}"
# DuckDB 2.0.0, pinned: 1.5 plans int_nps_responses' conditional join as a
# nested loop (16 s at 100k customers), which says nothing about our work.
venv="$cache/bench-job-venv"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'duckdb==2.0.0'
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/advocacy"
results="$data/job-results.jsonl"

# One line of $results for an advocacy run: TOOL, the run's warehouse (its
# _runs/latest.json) and $data/time.txt; $key is the company.
record() {
    "$venv/bin/python" - "$1" "$key" "$2/_runs/latest.json" "$data/time.txt" >> "$results" <<'EOF'
import json, sys
tool, n, record, timing = sys.argv[1:5]
r = json.load(open(record))
wall, kb = open(timing).read().split()[-2:]
phases = {p["phase"]: p for p in r["phases"]}
clv = sum(m["seconds"] for m in r["models"] if m["model"] in ("stg_social_activity", "clv_model", "customer_clv", "int_clv_holdout_model", "clv_validation", "clv_tracking"))
reused = sum(1 for m in r["models"] if m.get("reused"))
print(json.dumps({"tool": tool, "customers": n, "wall": float(wall), "rss_mib": int(kb) / 1024,
                  "ingest": phases["ingest"]["seconds"], "ingest_rows": phases["ingest"]["rows"],
                  "models": phases["models"]["seconds"], "clv_models": clv,
                  "tests": phases["tests"]["seconds"], "publish": phases["publish"]["seconds"],
                  "reused": reused, "of": len(r["models"]), "exit": r["exit_code"]}))
EOF
}
mkdir -p "$data"
: > "$results"

for profile in $profiles; do
for n in $sizes; do
    key="$n"
    [ "$profile" = standard ] || key="$n-$profile"
    dir="$data/job-$key"
    if [ ! -f "$dir/landing/README.md" ]; then
        rm -rf "$dir/landing"
        "$bin" generate --out "$dir/landing" --customers "$n" --seed 11 --profile "$profile" >/dev/null
    fi
    # The bundled config with only the landing and warehouse changed.
    sed -e "s|^landing: .*|landing: ../$dir/landing|" -e "s|^warehouse: .*|warehouse: ../$dir/warehouse|" \
        config/advocacy.yaml > "config/.bench-$n.yaml"
    echo "$n customers ($profile profile): $(du -sh "$dir/landing" | cut -f1) of exports, $threads threads, $runs runs each"
    for i in $(seq "$runs"); do
        rm -rf "$dir/warehouse" "$dir/duckdb"
        /usr/bin/time -o "$data/time.txt" -f "%e %M" \
            "$bin" run --config "config/.bench-$n.yaml" --date "$date" -q >/dev/null
        record advocacy "$dir/warehouse"
        if [[ " $modes " == *" nightly "* ]]; then
            nightly="$dir/nightly"
            if [ ! -d "$nightly/day" ]; then
                rm -rf "$nightly" && mkdir -p "$nightly"
                cp -r "$dir/landing" "$nightly/base"
                python3 bench/split_day.py "$nightly/base" 2026-10-31 "$nightly/day" >&2
            fi
            rm -rf "$nightly/landing" "$nightly/warehouse"
            cp -al "$nightly/base" "$nightly/landing"
            sed -e "s|^landing: .*|landing: ../$nightly/landing|" -e "s|^warehouse: .*|warehouse: ../$nightly/warehouse|" \
                config/advocacy.yaml > "config/.bench-nightly-$n.yaml"
            "$bin" run --config "config/.bench-nightly-$n.yaml" --date 2026-10-31 -q >/dev/null || true
            cp -r "$nightly/day/." "$nightly/landing/"
            /usr/bin/time -o "$data/time.txt" -f "%e %M" \
                "$bin" run --config "config/.bench-nightly-$n.yaml" --date "$date" -q >/dev/null || true
            record advocacy-nightly "$nightly/warehouse"
            rm -f "config/.bench-nightly-$n.yaml"
        fi
        if [[ " $modes " == *" nochange "* ]]; then
            /usr/bin/time -o "$data/time.txt" -f "%e %M" \
                "$bin" run --config "config/.bench-$n.yaml" --date "$date" -q >/dev/null
            record advocacy-nochange "$dir/warehouse"
        fi
        /usr/bin/time -o "$data/time.txt" -f "%e %M" \
            "$venv/bin/python" bench/duckdb/job.py "$dir/landing" "$dir/warehouse" queries \
            "$dir/duckdb" "$threads" "$date" > "$data/duckdb.json"
        "$venv/bin/python" - "$key" "$data/duckdb.json" "$data/time.txt" >> "$results" <<'EOF'
import json, sys
n, out, timing = sys.argv[1:4]
d = json.load(open(out))
wall, kb = open(timing).read().split()[-2:]
print(json.dumps({"tool": "duckdb", "customers": n, "wall": float(wall), "rss_mib": int(kb) / 1024,
                  "ingest": d["ingest"]["seconds"], "ingest_rows": d["ingest"]["rows"],
                  "models": d["models"]["seconds"], "tests": d["tests"]["seconds"]}))
EOF
        tail -2 "$results"
    done
    rm -f "config/.bench-$n.yaml"
done
done

"$venv/bin/python" - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(tool, n, key):
    values = [r[key] for r in rows if r["tool"] == tool and r["customers"] == n and key in r]
    return statistics.median(values) if values else float("nan")
for n in sorted({r["customers"] for r in rows}):
    print(f"\n{n} customers (medians)")
    print(f"{'':10} {'advocacy':>10} {'duckdb':>10} {'ratio':>7}")
    for key in ["ingest", "models", "tests", "wall", "rss_mib"]:
        a, d = med("advocacy", n, key), med("duckdb", n, key)
        print(f"{key:10} {a:10.2f} {d:10.2f} {a / d:7.2f}")
    print(f"advocacy: publish {med('advocacy', n, 'publish'):.2f} s, "
          f"models DuckDB cannot run (CLV, sentiment) {med('advocacy', n, 'clv_models'):.2f} s of model time; "
          f"ingest {med('advocacy', n, 'ingest_rows') / med('advocacy', n, 'ingest'):,.0f} rows/s")
    nightly = med("advocacy-nightly", n, "wall")
    if nightly == nightly:
        print(f"one new day: advocacy {nightly:.2f} s ({med('advocacy-nightly', n, 'ingest_rows'):,.0f} rows loaded), "
              f"{100 * nightly / med('advocacy', n, 'wall'):.1f}% of its full run, "
              f"{100 * nightly / med('duckdb', n, 'wall'):.1f}% of DuckDB's full run; "
              f"models {med('advocacy-nightly', n, 'models'):.2f} s, reused {med('advocacy-nightly', n, 'reused'):.0f} of {med('advocacy-nightly', n, 'of'):.0f}")
    nochange = med("advocacy-nochange", n, "wall")
    if nochange == nochange:
        full = med("advocacy", n, "wall")
        print(f"no new export: advocacy {nochange:.2f} s, {100 * nochange / full:.1f}% of its full run, "
              f"{100 * nochange / med('duckdb', n, 'wall'):.1f}% of DuckDB's; "
              f"models reused {med('advocacy-nochange', n, 'reused'):.0f} of {med('advocacy-nochange', n, 'of'):.0f}")
EOF
