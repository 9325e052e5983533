#!/usr/bin/env bash
# The nightly job locally and on a Ballista cluster on this one machine
# (issue 13): `advocacy run` of the bundled config on a generated company,
# with `engine: local` and with `engine: ballista` through a scheduler and
# 1, 2 and 4 executors (`advocacy scheduler`, `advocacy executor`, each
# executor with --concurrent-tasks 2 and --memory-pool-size 2GiB, the local
# run's memory_limit). The cluster is started before and stopped after each
# timed run, so the figures are the run alone. Modes alternate within each
# repetition. Prints per run: wall time, phases and peak RSS of the client
# (GNU time); then medians and ratios against the local run.
#   bash bench/cluster.sh                          # 1M customers, 3 runs of each mode
#   CUSTOMERS=100000 RUNS=5 bash bench/cluster.sh
#   MODES="local 2" bash bench/cluster.sh          # local and two executors only
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${CUSTOMERS:-1000000}"
runs="${RUNS:-3}"
modes="${MODES:-local 1 2 4}"
# The day after the generated exports end (2026-10-31): a later date finds
# the orders stale (the bundled freshness bounds) and exits 3.
date="${RUN_DATE:-2026-11-01}"
cache="${ADVOCACY_CACHE:-$HOME/.cache/advocacy}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
cargo build --release --quiet --features ballista
bin="$CARGO_TARGET_DIR/release/advocacy"
data=bench/data
dir="$data/job-$customers"
results="$data/cluster-results.jsonl"
mkdir -p "$data"
: > "$results"

if [ ! -f "$dir/landing/README.md" ]; then
    rm -rf "$dir/landing"
    "$bin" generate --out "$dir/landing" --customers "$customers" --seed 11 >/dev/null
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() { # URL of a /readyz
    for _ in $(seq 300); do
        if python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "not ready: $1" >&2
    return 1
}

pids=()
stop_cluster() {
    if [ "${#pids[@]}" -gt 0 ]; then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    pids=()
}
trap stop_cluster EXIT

# Starts a scheduler and $1 executors; sets $port to the scheduler's.
start_cluster() {
    local executors="$1"
    port="$(free_port)"
    "$bin" scheduler --bind "127.0.0.1:$port" -q >>"$data/cluster.log" 2>&1 &
    pids+=($!)
    for i in $(seq "$executors"); do
        local health work="$data/cluster-work/executor-$i"
        health="$(free_port)"
        mkdir -p "$work"
        "$bin" executor --scheduler "127.0.0.1:$port" --bind "127.0.0.1:$(free_port)" \
            --health-port "$health" --work-dir "$work" --concurrent-tasks 2 \
            --memory-pool-size 2GiB -q >>"$data/cluster.log" 2>&1 &
        pids+=($!)
        wait_ready "http://127.0.0.1:$health/readyz"
    done
    wait_ready "http://127.0.0.1:$port/readyz"
}

echo "$customers customers: $(du -sh "$dir/landing" | cut -f1) of exports, $(nproc) cores, $runs runs of: $modes"
for i in $(seq "$runs"); do
    for mode in $modes; do
        sed -e "s|^landing: .*|landing: ../$dir/landing|" -e "s|^warehouse: .*|warehouse: ../$dir/warehouse|" \
            config/advocacy.yaml > "config/.bench-cluster.yaml"
        if [ "$mode" != local ]; then
            start_cluster "$mode"
            printf 'engine: { kind: ballista, scheduler: "df://127.0.0.1:%s" }\n' "$port" >> "config/.bench-cluster.yaml"
        fi
        rm -rf "$dir/warehouse"
        /usr/bin/time -o "$data/time.txt" -f "%e %M" \
            "$bin" run --config config/.bench-cluster.yaml --date "$date" -q >/dev/null
        stop_cluster
        rm -rf "$data/cluster-work"
        python3 - "$mode" "$dir/warehouse/_runs/latest.json" "$data/time.txt" >> "$results" <<'EOF'
import json, sys
mode, record, timing = sys.argv[1:4]
r = json.load(open(record))
wall, kb = open(timing).read().split()[-2:]
phases = {p["phase"]: p["seconds"] for p in r["phases"]}
print(json.dumps({"mode": mode, "wall": float(wall), "client_rss_mib": int(kb) / 1024,
                  "status": r["status"], **phases}))
EOF
        tail -1 "$results"
    done
done
rm -f config/.bench-cluster.yaml

python3 - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
modes = list(dict.fromkeys(r["mode"] for r in rows))
def med(mode, key):
    return statistics.median(r[key] for r in rows if r["mode"] == mode)
name = {m: "local" if m == "local" else f"{m} executor{'s' if m != '1' else ''}" for m in modes}
print(f"\nmedians; ratio = time / local time")
print(f"{'':14}" + "".join(f"{name[m]:>14}" for m in modes))
for key in ["ingest", "models", "tests", "publish", "wall", "client_rss_mib"]:
    print(f"{key:14}" + "".join(f"{med(m, key):14.2f}" for m in modes))
print(f"{'wall ratio':14}" + "".join(f"{med(m, 'wall') / med('local', 'wall'):14.2f}" for m in modes))
EOF
