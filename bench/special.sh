#!/usr/bin/env bash
# Log-gamma and digamma: ours (src/functions/clv/special.rs) against
# statrs 0.18, accuracy and speed (release build, a crate of its own).
#   bash bench/special.sh
set -euo pipefail
cd "$(dirname "$0")/special"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${ADVOCACY_CACHE:-$HOME/.cache/advocacy}/bench-special-target}"
cargo run --release --quiet
