#!/usr/bin/env bash
# The long run of the hostile-export properties (README, "Reliability"):
# the three properties of tests/ingest/hostile_exports.rs with CASES cases each
# (20,000 unless set, so 60,000 inputs), in a release build. The suite
# itself runs 256 each. A failure prints the shrunk input that broke the
# property; proptest also saves it under tests/ (proptest-regressions/) so
# that it is tried first from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${CASES:-20000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${ADVOCACY_CACHE:-$HOME/.cache/advocacy}/target}"
start=$(date +%s)
PROPTEST_CASES="$cases" cargo test --release --locked --test integration -- \
    ingest::hostile_exports::every_csv_record_is_counted_once \
    ingest::hostile_exports::arbitrary_csv_bytes_never_lose_a_row \
    ingest::hostile_exports::every_json_line_is_counted_once
echo "hostile exports: 3 properties x $cases cases = $((3 * cases)) inputs passed in $(( $(date +%s) - start )) s"
