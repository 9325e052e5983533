#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this).
# It installs what the tests need and nothing else: moto, an S3-compatible
# server the storage tests start themselves on a free 127.0.0.1 port, in a
# virtualenv under ~/.cache/advocacy (reused across runs).
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${ADVOCACY_CACHE:-$HOME/.cache/advocacy}"
venv="$cache/venv"
if [ ! -x "$venv/bin/moto_server" ]; then
    echo "installing moto (S3 test server) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
fi
export ADVOCACY_MOTO_SERVER="$venv/bin/moto_server"

# One shared build directory outside the clone, so CI reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
cargo test --all-targets --locked
